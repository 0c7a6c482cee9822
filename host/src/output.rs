//! Checks on what a guest hands back: the output limit across the parts of one result,
//! and JSON where JSON is required.

use crate::error::InvokeError;
use crate::types::Json;

/// Counts output bytes against the output limit across the parts of one result.
pub(crate) struct OutputBudget {
    used: usize,
    limit: usize,
}

impl OutputBudget {
    pub(crate) fn new(limit: usize) -> Self {
        OutputBudget { used: 0, limit }
    }

    /// Charges `len` bytes.
    pub(crate) fn charge(&mut self, len: usize) -> Result<(), InvokeError> {
        self.used = self.used.saturating_add(len);
        if self.used > self.limit {
            return Err(InvokeError::OutputTooLarge { size: self.used, limit: self.limit });
        }
        Ok(())
    }

    /// Charges `bytes` and checks they are UTF-8 JSON.
    pub(crate) fn json_bytes(&mut self, bytes: Vec<u8>) -> Result<Json, InvokeError> {
        match String::from_utf8(bytes) {
            Ok(text) => self.json(text),
            Err(e) => Err(InvokeError::InvalidOutput {
                reason: format!("not UTF-8: {}", e.utf8_error()),
                preview: preview(&String::from_utf8_lossy(e.as_bytes())),
            }),
        }
    }

    /// Charges `text` and checks it is JSON.
    pub(crate) fn json(&mut self, text: String) -> Result<Json, InvokeError> {
        self.charge(text.len())?;
        match serde_json::from_str::<serde::de::IgnoredAny>(&text) {
            Ok(_) => Ok(Json::from_checked(text)),
            Err(e) => Err(InvokeError::InvalidOutput { reason: e.to_string(), preview: preview(&text) }),
        }
    }
}

/// The first characters of `text`, for error messages.
pub(crate) fn preview(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}
