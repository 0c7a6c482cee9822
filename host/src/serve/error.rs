//! The server's error responses: `{"error", "code", "retryable", "details"}` with the status
//! codes Orch8 uses, so its client classifies them unchanged (≥ 500 retryable, 4xx
//! permanent). Each is built from the library's typed errors, never from message text.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::{InvokeError, PluginError};
use crate::registry::RegistryError;

/// Seconds a client should wait before retrying a retryable failure.
const RETRY_AFTER_SECS: u32 = 1;

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: None }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
    pub fn busy(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
    }

    fn retryable(&self) -> bool {
        self.status.is_server_error() && self.status != StatusCode::INTERNAL_SERVER_ERROR
    }

    /// `{"error", "code", "retryable", "details"?}`.
    pub fn body(&self) -> Value {
        let mut body = json!({ "error": self.message, "code": self.code, "retryable": self.retryable() });
        if let Some(d) = &self.details {
            body["details"] = d.clone();
        }
        body
    }
}

pub use crate::error::chain;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retryable = self.retryable();
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if retryable {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> ApiError {
        let message = chain(&e);
        let (status, code) = match &e {
            RegistryError::NotFound { .. } | RegistryError::NotInstalled(_) => (StatusCode::NOT_FOUND, "not_found"),
            RegistryError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            RegistryError::MissingConfig { .. } => (StatusCode::CONFLICT, "missing_config"),
            RegistryError::BadName { .. } | RegistryError::BadHandler { .. } | RegistryError::NameMismatch { .. } => {
                (StatusCode::BAD_REQUEST, "invalid_request")
            }
            RegistryError::Manifest { .. }
            | RegistryError::Incompatible { .. }
            | RegistryError::Load { .. }
            | RegistryError::Capability(_)
            | RegistryError::VersionMismatch { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_plugin"),
            RegistryError::BadLock { .. } | RegistryError::Tampered { .. } | RegistryError::BadState { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "bad_state")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, code, message)
    }
}

impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> ApiError {
        ApiError::of_invoke(&e)
    }
}

impl ApiError {
    /// The response a failed call gets (also one provider's entry in a dispatch report).
    pub fn of_invoke(e: &InvokeError) -> ApiError {
        let message = chain(e);
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        let (status, details) = match e {
            InvokeError::Guest(PluginError::InvalidInput(_)) | InvokeError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, None),
            InvokeError::Guest(PluginError::NotFound(_)) | InvokeError::ExportNotFound { .. } | InvokeError::KindNotProvided { .. } => {
                (StatusCode::NOT_FOUND, None)
            }
            InvokeError::Guest(PluginError::Failed { retryable, details, .. }) => {
                (if *retryable { unavailable } else { unprocessable }, details.clone())
            }
            InvokeError::Busy { .. } | InvokeError::DeadlineExceeded { .. } | InvokeError::Host(_) => (unavailable, None),
            // The caller gave up; nginx's "client closed request" (nobody reads it).
            InvokeError::Cancelled => (StatusCode::from_u16(499).unwrap_or(unprocessable), None),
            InvokeError::RemoteStatus { status, .. } if *status >= 500 => (unavailable, e.remote_details()),
            InvokeError::RemoteStatus { .. } => (unprocessable, e.remote_details()),
            InvokeError::RemoteUnreachable { .. } => (unavailable, e.remote_details()),
            // The caller's input breaks the plugin's contract: as the plugin's own
            // invalid-input would be; a bad output is the plugin's fault.
            InvokeError::ContractViolation { direction: "input", problems, .. } => {
                (StatusCode::BAD_REQUEST, Some(serde_json::json!({ "contract": "input", "problems": problems })))
            }
            InvokeError::ContractViolation { problems, .. } => {
                (unprocessable, Some(serde_json::json!({ "contract": "output", "problems": problems })))
            }
            InvokeError::OutOfFuel { .. }
            | InvokeError::MemoryLimit { .. }
            | InvokeError::StackOverflow { .. }
            | InvokeError::OutputTooLarge { .. }
            | InvokeError::Trap { .. }
            | InvokeError::InvalidOutput { .. }
            | InvokeError::AbiViolation { .. }
            | InvokeError::RemoteRefused { .. } => (unprocessable, None),
        };
        let code = e.code();
        ApiError { status, code, message, details }
    }
}
