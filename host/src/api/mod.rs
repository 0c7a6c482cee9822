//! One module per supported `plinth:plugin` API version, each generated from its frozen
//! `wit/v*` folder, and the dispatch over them. They all convert into the
//! version-independent types of [`crate::types`], so the rest of the host never sees
//! generated types nor matches on a version: it detects ([`detect`]), looks exports up
//! ([`Exports::new`]), binds them in an instance ([`Exports::bind`]) and calls them
//! ([`Bound`]) through this module.
//!
//! To add a version: freeze its WIT folder, add `v0_2_0.rs` generated from it (with its
//! `ExportIndices`, `BoundExports` and `add_to_linker`), a variant of [`Exports`] and of
//! [`Bound`] with an arm in each `match` below, its `add_to_linker` call in [`linker`], and
//! its string to [`SUPPORTED`]. Nothing outside `api/` changes.

pub(crate) mod v0_1_0;

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Instance, InstancePre, Linker};
use wasmtime::{Engine, Store};

use crate::error::{LoadError, PluginError};
use crate::store::CallState;
use crate::types::{CallContext, InboundMessage, Kind, Reply, Spec};

/// API versions this host serves, newest first.
pub const SUPPORTED: &[&str] = &[v0_1_0::VERSION];

/// The package every plugin interface belongs to.
pub(crate) const PACKAGE: &str = "plinth:plugin";

/// A guest call's result: the host's failure (a trap, a limit) or the guest's own answer.
pub(crate) type Call<T> = wasmtime::Result<Result<T, PluginError>>;

/// A trigger poll before the host has checked its JSON.
pub(crate) struct RawPoll {
    pub events: Vec<String>,
    pub cursor: Option<String>,
    pub next_poll_ms: Option<u64>,
}

/// A listener result before the host has checked its JSON.
pub(crate) struct RawHandle {
    pub dispatches: Vec<(String, String)>,
    pub reply: Option<Reply>,
}

/// The export indices of a loaded plugin, by API version (looked up once at load).
pub(crate) enum Exports {
    V0_1_0(v0_1_0::ExportIndices),
}

/// The exports of one instance, ready to call, by API version.
pub(crate) enum Bound {
    V0_1_0(v0_1_0::BoundExports),
}

impl Exports {
    /// Looks up the exports of `kinds` for API `version` (both from [`detect`]).
    pub(crate) fn new(version: &str, pre: &InstancePre<CallState>, kinds: &[Kind]) -> Result<Exports, LoadError> {
        let invalid = |e: wasmtime::Error| LoadError::InvalidComponent { reason: format!("{e:#}") };
        match version {
            v0_1_0::VERSION => Ok(Exports::V0_1_0(v0_1_0::ExportIndices::new(pre, kinds).map_err(invalid)?)),
            other => Err(LoadError::UnsupportedApiVersion {
                found: format!("{PACKAGE}@{other}"),
                version: other.to_string(),
                supported: SUPPORTED.join(", "),
            }),
        }
    }

    /// Looks up and type-checks every exported function in a fresh instance.
    pub(crate) fn bind(&self, store: &mut Store<CallState>, instance: &Instance) -> wasmtime::Result<Bound> {
        match self {
            Exports::V0_1_0(x) => x.bind(store, instance).map(Bound::V0_1_0),
        }
    }
}

impl Bound {
    /// Calls the `list-*` function of `kind`.
    pub(crate) fn list(&self, kind: Kind, store: &mut Store<CallState>) -> wasmtime::Result<Vec<Spec>> {
        match self {
            Bound::V0_1_0(b) => b.list(kind, store),
        }
    }

    pub(crate) fn run_node(&self, store: &mut Store<CallState>, name: &str, ctx: &CallContext, params: &str) -> Call<String> {
        match self {
            Bound::V0_1_0(b) => b.run_node(store, name, ctx, params),
        }
    }

    pub(crate) fn call_tool(&self, store: &mut Store<CallState>, name: &str, ctx: &CallContext, args: &str) -> Call<String> {
        match self {
            Bound::V0_1_0(b) => b.call_tool(store, name, ctx, args),
        }
    }

    pub(crate) fn poll_trigger(&self, store: &mut Store<CallState>, name: &str, ctx: &CallContext, cursor: Option<&str>) -> Call<RawPoll> {
        match self {
            Bound::V0_1_0(b) => b.poll_trigger(store, name, ctx, cursor),
        }
    }

    pub(crate) fn handle_message(
        &self,
        store: &mut Store<CallState>,
        name: &str,
        ctx: &CallContext,
        msg: &InboundMessage,
    ) -> Call<RawHandle> {
        match self {
            Bound::V0_1_0(b) => b.handle_message(store, name, ctx, msg),
        }
    }
}

/// The linker plugins are pre-instantiated against: the host interface of every supported
/// version plus WASI (whose context grants only what the plugin was granted), and
/// `wasi:http` only when `http` is set — a plugin without an HTTP grant is linked without
/// it, so a component importing it fails at load, not mid-workflow.
pub(crate) fn linker(engine: &Engine, http: bool) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    crate::caps::blocking::bound_blocking(&mut linker)?;
    if http {
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
    }
    v0_1_0::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// Finds the plugin interfaces the component exports and the API version they belong to.
pub(crate) fn detect(component: &Component, engine: &Engine) -> Result<(Vec<Kind>, &'static str), LoadError> {
    let ty = component.component_type();
    let mut names = Vec::new();
    let mut kinds = Vec::new();
    let mut version: Option<&'static str> = None;
    let mut unsupported = Vec::new();
    for (name, item) in ty.exports(engine) {
        names.push(name.to_string());
        if !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
            continue;
        }
        let Some(rest) = name.strip_prefix(PACKAGE).and_then(|r| r.strip_prefix('/')) else { continue };
        let (iface, ver) = rest.split_once('@').unwrap_or((rest, ""));
        let Ok(kind) = iface.parse::<Kind>() else { continue };
        match SUPPORTED.iter().find(|v| **v == ver) {
            Some(v) if version.is_none() || version == Some(*v) => {
                version = Some(*v);
                kinds.push(kind);
            }
            Some(v) => {
                return Err(LoadError::InvalidComponent {
                    reason: format!("it mixes plugin API versions {} and {v}", version.unwrap_or_default()),
                });
            }
            None => unsupported.push((name.to_string(), ver.to_string())),
        }
    }
    let supported = SUPPORTED.join(", ");
    if let Some(v) = version {
        kinds.sort();
        return Ok((kinds, v));
    }
    if let Some((found, ver)) = unsupported.into_iter().next() {
        return Err(LoadError::UnsupportedApiVersion {
            found,
            version: if ver.is_empty() { "(no version)".into() } else { ver },
            supported,
        });
    }
    let found = if names.is_empty() { "none".to_string() } else { names.join(", ") };
    Err(LoadError::NoPluginExports { found, supported })
}
