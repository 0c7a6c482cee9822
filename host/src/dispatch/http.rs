//! A dispatcher that POSTs each event to the engine as JSON (feature `serve`): a `2xx`
//! answer means taken; a connection failure, `429` or `5xx` is retried by the outbox; any
//! other status is the engine refusing the event (dead-lettered).

use std::time::Duration;

use super::{DispatchError, Dispatcher, Event};

/// POSTs events to a URL.
pub struct HttpDispatcher {
    url: String,
    client: reqwest::blocking::Client,
}

impl HttpDispatcher {
    /// A dispatcher for `url` (`http://` or `https://`). Build it outside an async runtime:
    /// the blocking client runs its own.
    pub fn new(url: &str) -> Result<HttpDispatcher, DispatchError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(DispatchError::permanent(format!("`{url}` is not an http:// or https:// URL")));
        }
        // reqwest is built with rustls and no default provider: ring, the one in the tree.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| DispatchError::permanent(format!("cannot make an HTTP client: {e}")))?;
        Ok(HttpDispatcher { url: url.to_string(), client })
    }
}

impl Dispatcher for HttpDispatcher {
    fn dispatch(&self, event: &Event) -> Result<(), DispatchError> {
        let body = serde_json::to_vec(event).map_err(|e| DispatchError::permanent(e.to_string()))?;
        let sent = self.client.post(&self.url).header("content-type", "application/json").body(body).send();
        match sent {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                let status = r.status();
                let preview: String = r.text().unwrap_or_default().chars().take(200).collect();
                let message = format!("{} answered {status}: {preview}", self.url);
                if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
                    Err(DispatchError::retryable(message))
                } else {
                    Err(DispatchError::permanent(message))
                }
            }
            Err(e) => Err(DispatchError::retryable(format!("cannot reach {}: {}", self.url, crate::error::chain(&e)))),
        }
    }
}
