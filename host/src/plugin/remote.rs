//! A remote plugin as a [`Plugin`](super::Plugin): one node, named after the plugin, whose
//! calls are POSTed to its endpoint with Orch8's envelope (see [`crate::remote`]). Same
//! registry, handler references, limits and error type as a wasm plugin, so an engine has
//! one dispatch path for both.

use std::sync::Arc;

use crate::error::InvokeError;
use crate::limits::Limits;
use crate::remote::{AllowRemote, Endpoint, Remotes, Target};
use crate::types::{CallContext, Json, Logs, Outcome};

pub(crate) struct Remote {
    /// Its endpoint and what it may reach beyond public addresses (the runtime's allowance
    /// and its own).
    target: Arc<Target>,
    remotes: Arc<Remotes>,
}

impl Remote {
    pub(crate) fn new(endpoint: Endpoint, allow: AllowRemote, remotes: Arc<Remotes>) -> Remote {
        Remote { target: Arc::new(Target::new(endpoint, allow)), remotes }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.target.endpoint
    }

    /// Whether the endpoint accepts connections (see [`Remotes::probe`]).
    pub(crate) fn probe(&self, timeout: std::time::Duration) -> Result<(), InvokeError> {
        self.remotes.probe(&self.target, timeout)
    }

    /// One call: Orch8's envelope out (the same one legacy modules get, spliced from the
    /// checked JSON texts), the answer back (no fuel: nothing ran here).
    pub(crate) fn call(&self, ctx: &CallContext, params: &str, limits: &Limits) -> Result<Outcome<Json>, InvokeError> {
        let envelope = crate::legacy::envelope(ctx, params);
        let answer = self.remotes.call(&self.target, envelope, limits)?;
        Ok(Outcome { output: answer.output, fuel_used: 0, wall: answer.wall, logs: Logs::default(), prewarmed: false })
    }
}
