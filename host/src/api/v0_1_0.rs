//! Bindings for `plinth:plugin@0.1.0` (`wit/v0.1.0`), and their conversion into Plinth's
//! version-independent types.

use wasmtime::Store;
use wasmtime::component::{HasSelf, Instance, InstancePre, Linker};

use super::{Call, RawHandle, RawPoll};
use crate::error::PluginError;
use crate::store::CallState;
use crate::types::{self as t, Kind, Level};

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "plinth:plugin/plugin",
});

use self::plinth::plugin::types as wit;
use exports::plinth::plugin::{listener, node, tool, trigger};

/// The version string of this module's package.
pub(crate) const VERSION: &str = "0.1.0";

pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    self::plinth::plugin::host::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)
}

impl self::plinth::plugin::types::Host for CallState {}

impl self::plinth::plugin::host::Host for CallState {
    fn log(&mut self, level: wit::Level, message: String) {
        let level = match level {
            wit::Level::Trace => Level::Trace,
            wit::Level::Debug => Level::Debug,
            wit::Level::Info => Level::Info,
            wit::Level::Warn => Level::Warn,
            wit::Level::Error => Level::Error,
        };
        self.logs.host(level, message);
    }
}

/// Export indices of one plugin, looked up once at load.
pub(crate) struct ExportIndices {
    node: Option<node::GuestIndices>,
    tool: Option<tool::GuestIndices>,
    trigger: Option<trigger::GuestIndices>,
    listener: Option<listener::GuestIndices>,
}

fn missing(kind: Kind) -> wasmtime::Error {
    wasmtime::format_err!("plugin does not export {kind} (checked at load; this is a host bug)")
}

impl ExportIndices {
    /// Looks up the exports of `kinds` (which the caller detected from the component type).
    pub(crate) fn new(pre: &InstancePre<CallState>, kinds: &[Kind]) -> wasmtime::Result<ExportIndices> {
        let has = |k| kinds.contains(&k);
        Ok(ExportIndices {
            node: has(Kind::Node).then(|| node::GuestIndices::new(pre)).transpose()?,
            tool: has(Kind::Tool).then(|| tool::GuestIndices::new(pre)).transpose()?,
            trigger: has(Kind::Trigger).then(|| trigger::GuestIndices::new(pre)).transpose()?,
            listener: has(Kind::Listener).then(|| listener::GuestIndices::new(pre)).transpose()?,
        })
    }

    /// Looks up and type-checks every exported function in a fresh instance (once per
    /// instance; a pre-warmed instance has this done before its call arrives).
    pub(crate) fn bind(&self, store: &mut Store<CallState>, inst: &Instance) -> wasmtime::Result<BoundExports> {
        Ok(BoundExports {
            node: self.node.as_ref().map(|i| i.load(&mut *store, inst)).transpose()?,
            tool: self.tool.as_ref().map(|i| i.load(&mut *store, inst)).transpose()?,
            trigger: self.trigger.as_ref().map(|i| i.load(&mut *store, inst)).transpose()?,
            listener: self.listener.as_ref().map(|i| i.load(&mut *store, inst)).transpose()?,
        })
    }
}

/// The exports of one instance, ready to call.
pub(crate) struct BoundExports {
    node: Option<node::Guest>,
    tool: Option<tool::Guest>,
    trigger: Option<trigger::Guest>,
    listener: Option<listener::Guest>,
}

impl BoundExports {
    /// Calls the `list-*` function of `kind`.
    pub(crate) fn list(&self, kind: Kind, store: &mut Store<CallState>) -> wasmtime::Result<Vec<t::Spec>> {
        Ok(match kind {
            Kind::Node => self.node.as_ref().ok_or_else(|| missing(kind))?.call_list_nodes(store)?.into_iter().map(spec).collect(),
            Kind::Tool => self
                .tool
                .as_ref()
                .ok_or_else(|| missing(kind))?
                .call_list_tools(store)?
                .into_iter()
                .map(|s| t::Spec {
                    name: s.name,
                    description: s.description,
                    input_schema: Some(schema(Some(s.input_schema)).unwrap_or(serde_json::Value::Null)),
                    output_schema: schema(s.output_schema),
                    platform: None,
                })
                .collect(),
            Kind::Trigger => self.trigger.as_ref().ok_or_else(|| missing(kind))?.call_list_triggers(store)?.into_iter().map(spec).collect(),
            Kind::Listener => self
                .listener
                .as_ref()
                .ok_or_else(|| missing(kind))?
                .call_list_listeners(store)?
                .into_iter()
                .map(|s| t::Spec {
                    name: s.name,
                    description: s.description,
                    input_schema: schema(s.config_schema),
                    output_schema: None,
                    platform: Some(s.platform),
                })
                .collect(),
        })
    }

    pub(crate) fn run_node(&self, store: &mut Store<CallState>, name: &str, ctx: &t::CallContext, params: &str) -> Call<String> {
        let g = self.node.as_ref().ok_or_else(|| missing(Kind::Node))?;
        // `json` is a WIT alias of `string`, which bindgen passes as `&String`.
        Ok(g.call_run(store, name, &context(ctx), &params.to_owned())?.map_err(plugin_error))
    }

    pub(crate) fn call_tool(&self, store: &mut Store<CallState>, name: &str, ctx: &t::CallContext, args: &str) -> Call<String> {
        let g = self.tool.as_ref().ok_or_else(|| missing(Kind::Tool))?;
        Ok(g.call_call(store, name, &context(ctx), &args.to_owned())?.map_err(plugin_error))
    }

    pub(crate) fn poll_trigger(
        &self,
        store: &mut Store<CallState>,
        name: &str,
        ctx: &t::CallContext,
        cursor: Option<&str>,
    ) -> Call<RawPoll> {
        let g = self.trigger.as_ref().ok_or_else(|| missing(Kind::Trigger))?;
        Ok(g.call_poll(store, name, &context(ctx), cursor)?
            .map(|r| RawPoll { events: r.events, cursor: r.cursor, next_poll_ms: r.next_poll_ms })
            .map_err(plugin_error))
    }

    pub(crate) fn handle_message(
        &self,
        store: &mut Store<CallState>,
        name: &str,
        ctx: &t::CallContext,
        msg: &t::InboundMessage,
    ) -> Call<RawHandle> {
        let g = self.listener.as_ref().ok_or_else(|| missing(Kind::Listener))?;
        let msg = listener::InboundMessage {
            method: msg.method.clone(),
            path: msg.path.clone(),
            headers: msg.headers.clone(),
            body: msg.body.clone(),
        };
        Ok(g.call_handle(store, name, &context(ctx), &msg)?
            .map(|r| RawHandle {
                dispatches: r.dispatches.into_iter().map(|d| (d.event, d.payload)).collect(),
                reply: r.reply.map(|r| t::Reply { status: r.status, headers: r.headers, body: r.body }),
            })
            .map_err(plugin_error))
    }
}

fn context(ctx: &t::CallContext) -> wit::CallContext {
    wit::CallContext {
        instance_id: ctx.instance_id.clone(),
        step_id: ctx.step_id.clone(),
        attempt: ctx.attempt,
        tenant: ctx.tenant.clone(),
        config: ctx.config.as_str().to_owned(),
        data: ctx.data.as_str().to_owned(),
    }
}

/// A schema the plugin sent as JSON text; text that does not parse is kept as a string so
/// `inspect` shows what the plugin said rather than hiding it.
fn schema(text: Option<String>) -> Option<serde_json::Value> {
    text.map(|s| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
}

fn spec(s: wit::Spec) -> t::Spec {
    t::Spec {
        name: s.name,
        description: s.description,
        input_schema: schema(s.input_schema),
        output_schema: schema(s.output_schema),
        platform: None,
    }
}

fn plugin_error(e: wit::PluginError) -> PluginError {
    match e {
        wit::PluginError::InvalidInput(m) => PluginError::InvalidInput(m),
        wit::PluginError::NotFound(m) => PluginError::NotFound(m),
        wit::PluginError::Failed(f) => PluginError::Failed {
            message: f.message,
            retryable: f.retryable,
            details: f.details.map(|d| serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d))),
        },
    }
}
