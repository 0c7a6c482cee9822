//! A remote plugin as a [`Plugin`](super::Plugin): one node, named after the plugin, whose
//! calls are POSTed to its endpoint with Orch8's envelope (see [`crate::remote`]). Same
//! registry, handler references, limits and error type as a wasm plugin, so an engine has
//! one dispatch path for both.

use std::sync::Arc;

use crate::error::InvokeError;
use crate::limits::Limits;
use crate::remote::{AllowRemote, Endpoint, Remotes};
use crate::types::{CallContext, Json, Logs, Outcome};

pub(crate) struct Remote {
    endpoint: Endpoint,
    /// What this plugin may reach beyond public addresses (the runtime's and its own).
    allow: AllowRemote,
    remotes: Arc<Remotes>,
}

impl Remote {
    pub(crate) fn new(endpoint: Endpoint, allow: AllowRemote, remotes: Arc<Remotes>) -> Remote {
        Remote { endpoint, allow, remotes }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Whether the endpoint accepts connections (see [`Remotes::probe`]).
    pub(crate) fn probe(&self, timeout: std::time::Duration) -> Result<(), InvokeError> {
        self.remotes.probe(&self.endpoint, &self.allow, timeout)
    }

    /// One call: the envelope out, the answer back (no fuel: nothing ran here).
    pub(crate) fn call(&self, ctx: &CallContext, params: &str, limits: &Limits) -> Result<Outcome<Json>, InvokeError> {
        let envelope = envelope(ctx, params);
        let answer = self.remotes.call(&self.endpoint, envelope, limits, &self.allow)?;
        Ok(Outcome { output: answer.output, fuel_used: 0, wall: answer.wall, logs: Logs::default(), prewarmed: false })
    }
}

/// Orch8's step envelope `{instance_id, block_id, params, context: {data, config}, attempt}`,
/// written around the caller's JSON texts (checked JSON, so spliced, not re-serialized).
fn envelope(ctx: &CallContext, params: &str) -> String {
    let text = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    format!(
        r#"{{"instance_id":{},"block_id":{},"params":{params},"context":{{"data":{},"config":{}}},"attempt":{}}}"#,
        text(&ctx.instance_id),
        text(&ctx.step_id),
        ctx.data.as_str(),
        ctx.config.as_str(),
        ctx.attempt
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_is_orch8s() {
        let ctx = CallContext {
            instance_id: "run-\"1\"".into(),
            step_id: "score".into(),
            attempt: 2,
            config: Json::parse(r#"{"k":1}"#).unwrap(),
            data: Json::parse("[1,2]").unwrap(),
            ..CallContext::default()
        };
        let v: serde_json::Value = serde_json::from_str(&envelope(&ctx, r#"{"text":"hi"}"#)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"instance_id": "run-\"1\"", "block_id": "score", "params": {"text": "hi"},
                               "context": {"data": [1, 2], "config": {"k": 1}}, "attempt": 2})
        );
    }
}
