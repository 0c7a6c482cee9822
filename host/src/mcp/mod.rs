//! Tools over MCP (feature `mcp`): plugins' tools served to any MCP client with the
//! official Rust SDK (`rmcp`), a fresh instance per `tools/call` with the plugin's limits,
//! grants and config. `plinth mcp` serves a [`ToolServer`] on stdio ([`serve_stdio`]);
//! `plinth serve` mounts one at `/mcp` (streamable HTTP) behind its auth.
//!
//! - `tools/list` comes from the plugins' specs, read at each request: a plugin installed,
//!   updated or removed shows at once. A tool name two plugins export is prefixed with its
//!   plugin (`PLUGIN.TOOL`, the title says so); an output schema is offered only when it
//!   describes an object, as MCP requires of `structuredContent`.
//! - `tools/call`: the output JSON as `structuredContent` (when it is an object) and as a
//!   text block; a plugin error, a limit or a trap is a result with `isError: true` saying
//!   what happened (a protocol error is only for a tool that does not exist, `-32602`).
//!   Input breaking the tool's schema is refused before any instance is made (contract
//!   checks, on by default) and reported the same way, so a model can correct itself.
//! - A client's cancellation ends the call at the runtime's next epoch tick
//!   ([`crate::Plugin::with_cancel`]).
//! - Protocol revisions: every one `rmcp` knows, negotiated by it as the spec says.

mod stdio;

use std::collections::BTreeMap;
use std::sync::Arc;

use rmcp::model::SubscriptionFilter;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Map, Value};

use crate::error::{InvokeError, chain};
use crate::plugin::Plugin;
use crate::registry::Registry;
use crate::types::{CallContext, Cancel, Json, Kind};

pub use stdio::{Watch, serve_stdio};

/// The tenant an HTTP request acts for, put in the request's extensions by the server's
/// auth before the MCP service sees it (`None`: global scope).
#[derive(Debug, Clone)]
pub struct Scope(pub Option<String>);

/// Where a [`ToolServer`]'s tools come from.
#[derive(Clone)]
pub enum Tools {
    /// The plugins of a registry in `tenant`'s scope (its own, then the global ones). An
    /// HTTP request's [`Scope`] replaces `tenant`. With `only`, just those plugins.
    Registry { registry: Arc<Registry>, tenant: Option<String>, only: Option<Vec<String>> },
    /// Plugins given as they are (files on the command line), each with its config.
    Plugins(Arc<Vec<(Plugin, Json)>>),
}

/// An MCP server of tools. Cheap to clone: the server of every session shares it.
#[derive(Clone)]
pub struct ToolServer {
    tools: Tools,
    /// Call slots shared with the rest of a server (`plinth serve`'s), if any.
    slots: Option<Arc<tokio::sync::Semaphore>>,
    /// Bumped by [`ToolServer::announce`]; each `subscriptions/listen` watches it.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
}

/// One tool as a client sees it, and what runs it.
pub(crate) struct Entry {
    pub(crate) tool: Tool,
    pub(crate) plugin: Plugin,
    pub(crate) export: String,
    pub(crate) config: Json,
    /// The plugin's generation, for telling a changed list from an unchanged one.
    pub(crate) generation: u64,
}

impl ToolServer {
    pub fn new(tools: Tools) -> ToolServer {
        ToolServer { tools, slots: None, changes: Arc::new(tokio::sync::watch::channel(0).0) }
    }

    /// This server taking one of `slots` for each call (none free: an `isError` "busy"
    /// result), so its calls count with the other calls of the server it is part of.
    pub fn with_slots(mut self, slots: Arc<tokio::sync::Semaphore>) -> ToolServer {
        self.slots = Some(slots);
        self
    }

    /// Tells the clients subscribed with `subscriptions/listen` (the 2026-07-28 revision)
    /// that the tool list may have changed. Sessions of earlier revisions are told through
    /// their peer (see [`serve_stdio`]).
    pub fn announce(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The tools in `tenant`'s scope (for [`Tools::Registry`]), in plugin order.
    pub(crate) fn catalog(&self, tenant: Option<&str>) -> Vec<Entry> {
        let plugins: Vec<(String, Plugin, Json, u64)> = match &self.tools {
            Tools::Registry { registry, only, .. } => registry
                .in_scope(tenant)
                .into_iter()
                .filter(|i| only.as_ref().is_none_or(|names| names.contains(&i.key.name)))
                .map(|i| (i.key.name.clone(), i.plugin.clone(), i.config.clone(), i.generation))
                .collect(),
            Tools::Plugins(list) => list.iter().map(|(p, c)| (p.name().to_string(), p.clone(), c.clone(), 0)).collect(),
        };
        let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, p, _, _) in &plugins {
            for s in p.specs().of(Kind::Tool) {
                *uses.entry(s.name.as_str()).or_default() += 1;
            }
        }
        let mut out = Vec::new();
        for (plugin_name, p, config, generation) in &plugins {
            for s in p.specs().of(Kind::Tool) {
                let shared = uses.get(s.name.as_str()).copied().unwrap_or(0) > 1;
                let name = if shared { format!("{plugin_name}.{}", s.name) } else { s.name.clone() };
                let mut tool = Tool::new(name, s.description.clone(), Arc::new(object_schema(s.input_schema.as_ref())));
                if shared {
                    tool = tool.with_title(format!("{} from plugin {plugin_name} (prefixed: several plugins export `{}`)", s.name, s.name));
                }
                if let Some(Value::Object(schema)) = &s.output_schema
                    && schema.get("type").and_then(Value::as_str) == Some("object")
                {
                    tool = tool.with_raw_output_schema(Arc::new(schema.clone()));
                }
                out.push(Entry { tool, plugin: p.clone(), export: s.name.clone(), config: config.clone(), generation: *generation });
            }
        }
        // A name that is still not unique (a plugin's tool literally named `other.tool`, a
        // name listed twice, two files with the same stem) or that MCP does not allow is
        // served by nobody: a call must never reach a plugin its caller did not mean.
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for e in &out {
            *seen.entry(e.tool.name.to_string()).or_default() += 1;
        }
        out.retain(|e| {
            let keep = seen[e.tool.name.as_ref()] == 1 && valid_tool_name(&e.tool.name);
            if !keep {
                tracing::debug!(tool = %e.tool.name, "not served over MCP: the name is ambiguous or not allowed");
            }
            keep
        });
        out
    }

    /// The tenant a request acts for: its HTTP scope, else the server's own.
    fn tenant(&self, ctx: &RequestContext<RoleServer>) -> Option<String> {
        let scoped = ctx.extensions.get::<http::request::Parts>().and_then(|p| p.extensions.get::<Scope>()).map(|s| s.0.clone());
        match (&self.tools, scoped) {
            (_, Some(t)) => t,
            (Tools::Registry { tenant, .. }, None) => tenant.clone(),
            (Tools::Plugins(_), None) => None,
        }
    }

    /// What identifies the current list: tool names and plugin generations.
    pub(crate) fn fingerprint(&self, tenant: Option<&str>) -> Vec<(String, u64)> {
        self.catalog(tenant).into_iter().map(|e| (e.tool.name.to_string(), e.generation)).collect()
    }
}

/// MCP's rule for tool names: 1 to 128 ASCII letters, digits, `_`, `-` and `.`.
fn valid_tool_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A tool's input schema as MCP wants it: an object schema with `"type": "object"` (MCP's
/// arguments are always an object). A schema that names no type gets that one; one without
/// a schema, a boolean schema or one of another type is offered as any object (the
/// plugin's own contract check still applies to the call).
fn object_schema(schema: Option<&Value>) -> Map<String, Value> {
    let any = || Map::from_iter([("type".to_string(), Value::from("object"))]);
    match schema {
        Some(Value::Object(m)) => match m.get("type") {
            None => {
                let mut m = m.clone();
                m.insert("type".into(), Value::from("object"));
                m
            }
            Some(t) if t == "object" => m.clone(),
            Some(_) => any(),
        },
        _ => any(),
    }
}

/// A call's result as MCP has it: the output, or `isError` with what happened.
fn result_of(out: Result<crate::types::Outcome<Json>, InvokeError>) -> CallToolResult {
    match out {
        Ok(o) => match serde_json::from_str::<Value>(o.output.as_str()) {
            Ok(v @ Value::Object(_)) => CallToolResult::structured(v),
            _ => CallToolResult::success(vec![ContentBlock::text(o.output.as_str().to_string())]),
        },
        Err(e) => {
            let retry = if e.retryable() { " (retryable)" } else { "" };
            CallToolResult::error(vec![ContentBlock::text(format!("{}{retry}", chain(&e)))])
        }
    }
}

impl ServerHandler for ToolServer {
    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        requested.tools_list_changed.unwrap_or(false).then(|| SubscriptionFilter::builder().tools_list_changed().build())
    }

    /// A 2026-07-28 subscription: one `notifications/tools/list_changed` per announced
    /// change, until the client cancels it or the session ends.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let mut changes = self.changes.subscribe();
        changes.mark_unchanged();
        loop {
            tokio::select! {
                _ = context.cancelled() => return Ok(()),
                changed = changes.changed() => {
                    if changed.is_err() || context.sink().notify_tool_list_changed().await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build())
            .with_server_info(Implementation::new("plinth", env!("CARGO_PKG_VERSION")))
            .with_instructions("WebAssembly plugin tools: every call runs in a fresh, capped sandbox.")
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tenant = self.tenant(&ctx);
        Ok(ListToolsResult::with_all_items(self.catalog(tenant.as_deref()).into_iter().map(|e| e.tool).collect()))
    }

    async fn call_tool(&self, request: CallToolRequestParams, ctx: RequestContext<RoleServer>) -> Result<CallToolResponse, McpError> {
        let tenant = self.tenant(&ctx);
        let Some(entry) = self.catalog(tenant.as_deref()).into_iter().find(|e| e.tool.name == request.name) else {
            return Err(McpError::invalid_params(format!("no tool named `{}` (tools/list names them)", request.name), None));
        };
        let arguments = Value::Object(request.arguments.unwrap_or_default()).to_string();
        let _slot = match &self.slots {
            None => None,
            Some(slots) => match slots.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    let busy = "busy: the server is running as many calls as it allows; retry shortly (retryable)";
                    return Ok(CallToolResult::error(vec![ContentBlock::text(busy)]).into());
                }
            },
        };
        let cancel = Cancel::new();
        let watcher = {
            let (ct, cancel) = (ctx.ct.clone(), cancel.clone());
            tokio::spawn(async move {
                ct.cancelled().await;
                cancel.cancel();
            })
        };
        let plugin = entry.plugin.with_cancel(&cancel);
        let call = CallContext { tenant, config: entry.config, step_id: entry.export.clone(), ..CallContext::default() };
        // The wasm never runs on the reactor: on a multi-thread runtime this worker becomes
        // a blocking thread for the call (its other tasks move to another worker), which
        // saves `spawn_blocking`'s two thread wake-ups; on a current-thread runtime, the
        // blocking pool. The runtime's `max_instances` bounds how many run at once (beyond
        // it: `Busy`, an isError result).
        let run = move || plugin.call_tool(&entry.export, &call, &arguments);
        let out = if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            tokio::task::block_in_place(run)
        } else {
            tokio::task::spawn_blocking(run).await.map_err(|e| McpError::internal_error(format!("the call's task failed: {e}"), None))?
        };
        watcher.abort();
        if let Err(e) = &out {
            tracing::info!(tool = %request.name, error = %chain(e), "tools/call failed");
        }
        Ok(result_of(out).into())
    }
}
