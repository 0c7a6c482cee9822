//! Loading a plugin, once: tell the format from the header, compile (or read the code
//! cache), detect the API version and kinds, check imports against capabilities,
//! pre-instantiate, and ask the plugin what it provides. Everything per-load happens here.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::Module;
use wasmtime::component::{Component, Linker};

use super::contracts::Checks;
use super::{Code, Format, LEGACY_API, LoadOptions, Loaded, Plugin, REMOTE_API};
use crate::api::{self, Exports};
use crate::cache::{CacheStatus, CodeCache};
use crate::call::{self, Runner, Target};
use crate::caps::grants::Capabilities;
use crate::error::LoadError;
use crate::instance::Backend;
use crate::legacy::LegacyModule;
use crate::store::CallState;
use crate::types::{Kind, Spec, Specs};
use crate::warm::{Refill, WarmQueue};

/// What loading needs from the runtime: the part calls share, the linkers and the cache.
pub(crate) struct Loader<'a> {
    pub(crate) runner: &'a Arc<Runner>,
    pub(crate) linker: &'a Linker<CallState>,
    /// `linker` plus `wasi:http`, for plugins granted outbound HTTP.
    pub(crate) linker_http: &'a Linker<CallState>,
    pub(crate) cache: Option<&'a CodeCache>,
}

/// What a load found out before the plugin is put together.
struct Parts {
    backend: Backend,
    imports: Vec<String>,
    api_version: &'static str,
    kinds: Vec<Kind>,
    specs: Specs,
    cache: CacheStatus,
}

impl Loader<'_> {
    /// Loads `bytes` (a component or a legacy core module) as plugin `name`.
    pub(crate) fn load(&self, name: &str, bytes: &[u8], options: &LoadOptions) -> Result<Plugin, LoadError> {
        let config = &self.runner.config;
        let limits = options.limits.unwrap_or(config.default_limits);
        limits.validate(config.max_memory)?;
        let sha256: [u8; 32] = Sha256::digest(bytes).into();
        let capabilities = Arc::new(options.capabilities.clone());
        let name: Arc<str> = name.into();
        let parts = match check_header(bytes)? {
            Format::Component => self.component(&name, bytes, &sha256, &capabilities)?,
            Format::LegacyModule => self.legacy(&name, bytes, &sha256, &capabilities)?,
            // Bytes are never a remote plugin (`check_header` says component or module).
            Format::Remote => return Err(LoadError::InvalidComponent { reason: "a remote plugin has no wasm bytes".into() }),
        };
        let checks = Arc::new(Checks::compile(&parts.specs, options.contracts)?);
        let target = options.warm_instances.unwrap_or(config.warm_instances);
        let budget = self.runner.budget.clone();
        let inner = Arc::new_cyclic(|me: &std::sync::Weak<Loaded>| {
            let owner: std::sync::Weak<dyn Refill> = me.clone();
            Loaded {
                runner: self.runner.clone(),
                name,
                capabilities,
                imports: parts.imports,
                code: Code::Wasm(parts.backend),
                api_version: parts.api_version,
                kinds: parts.kinds,
                specs: parts.specs,
                sha256,
                cache: parts.cache,
                warm: WarmQueue::new(target, limits, budget, owner),
                checks,
            }
        });
        tracing::info!(plugin = %inner.name, api = inner.api_version, kinds = ?inner.kinds, cache = ?inner.cache, "plugin loaded");
        self.runner.warmer.request(&inner.warm);
        Ok(Plugin { inner, limits, cancel: None })
    }

    fn component(&self, name: &Arc<str>, bytes: &[u8], sha256: &[u8; 32], capabilities: &Arc<Capabilities>) -> Result<Parts, LoadError> {
        let engine = &self.runner.engine;
        let (component, cache) = match self.cache.and_then(|c| c.component(engine, sha256)) {
            Some(hit) => (hit, CacheStatus::Hit),
            None => {
                let component = Component::new(engine, bytes).map_err(|e| LoadError::InvalidComponent { reason: format!("{e:#}") })?;
                if let Some(cache) = self.cache {
                    cache.put(sha256, component.serialize());
                }
                (component, CacheStatus::Compiled)
            }
        };
        let (kinds, api_version) = api::detect(&component, engine)?;
        let imports: Vec<String> = component.component_type().imports(engine).map(|(n, _)| n.to_string()).collect();
        // Link-time enforcement: HTTP is linked only for plugins granted it.
        if let Some(http) = imports.iter().find(|i| i.starts_with("wasi:http/"))
            && !capabilities.has_http()
        {
            return Err(LoadError::CapabilityNotGranted { interface: http.clone(), capability: "http" });
        }
        let linker = if capabilities.has_http() { self.linker_http } else { self.linker };
        let pre = linker.instantiate_pre(&component).map_err(|e| LoadError::UnsatisfiedImport { reason: format!("{e:#}") })?;
        let exports = Exports::new(api_version, &pre, &kinds)?;
        let backend = Backend::Component { pre, exports };
        let specs = self.list(name, capabilities, &backend, &kinds)?;
        Ok(Parts { backend, imports, api_version, kinds, specs, cache })
    }

    /// Asks the plugin what it provides, once per kind, in fresh instances under the
    /// runtime's default limits.
    fn list(&self, name: &Arc<str>, capabilities: &Arc<Capabilities>, backend: &Backend, kinds: &[Kind]) -> Result<Specs, LoadError> {
        let target = Target { name, capabilities, backend, warm: None };
        let limits = self.runner.config.default_limits;
        let mut specs = Specs::default();
        for &kind in kinds {
            let listed = call::run(self.runner, &target, &limits, None, |store, ready| ready.component()?.list(kind, store).map(Ok))
                .map_err(|e| LoadError::Listing { kind, source: Box::new(e) })?
                .output;
            match kind {
                Kind::Node => specs.nodes = listed,
                Kind::Tool => specs.tools = listed,
                Kind::Trigger => specs.triggers = listed,
                Kind::Listener => specs.listeners = listed,
            }
        }
        Ok(specs)
    }

    fn legacy(&self, name: &Arc<str>, bytes: &[u8], sha256: &[u8; 32], capabilities: &Capabilities) -> Result<Parts, LoadError> {
        let engine = &self.runner.engine;
        let (module, cache) = match self.cache.and_then(|c| c.module(engine, sha256)) {
            Some(hit) => (hit, CacheStatus::Hit),
            None => {
                let module = Module::new(engine, bytes)
                    .map_err(|e| LoadError::InvalidComponent { reason: format!("invalid core module: {e:#}") })?;
                if let Some(cache) = self.cache {
                    cache.put(sha256, module.serialize());
                }
                (module, CacheStatus::Compiled)
            }
        };
        let legacy = LegacyModule::new(&module)?;
        let node = Spec {
            name: name.to_string(),
            description: "Legacy core module (alloc/dealloc/handle JSON ABI).".into(),
            input_schema: None,
            output_schema: None,
            platform: None,
        };
        if *capabilities != Capabilities::none() {
            tracing::warn!(plugin = %name, "capabilities given to a legacy module are ignored: it has no imports");
        }
        Ok(Parts {
            backend: Backend::Legacy(legacy),
            imports: Vec::new(),
            api_version: LEGACY_API,
            kinds: vec![Kind::Node],
            specs: Specs { nodes: vec![node], ..Specs::default() },
            cache,
        })
    }
}

/// Makes a remote plugin (see [`super::remote`]): one node named `name`, no wasm, no warm
/// queue; nothing is contacted here (`plinth plugin doctor` checks that it answers).
pub(crate) fn remote(
    runner: &Arc<Runner>,
    name: &str,
    remote: super::remote::Remote,
    limits: Option<crate::limits::Limits>,
) -> Result<Plugin, LoadError> {
    let limits = limits.unwrap_or(runner.config.default_limits);
    limits.validate(runner.config.max_memory)?;
    let handler = remote.endpoint().handler();
    let node = Spec {
        name: name.to_string(),
        description: format!("Remote plugin at {handler} (JSON over HTTP/2)."),
        input_schema: None,
        output_schema: None,
        platform: None,
    };
    let budget = runner.budget.clone();
    let inner = Arc::new_cyclic(|me: &std::sync::Weak<Loaded>| {
        let owner: std::sync::Weak<dyn Refill> = me.clone();
        Loaded {
            runner: runner.clone(),
            name: name.into(),
            capabilities: Arc::new(Capabilities::none()),
            imports: Vec::new(),
            code: Code::Remote(remote),
            api_version: REMOTE_API,
            kinds: vec![Kind::Node],
            specs: Specs { nodes: vec![node], ..Specs::default() },
            sha256: Sha256::digest(handler.as_bytes()).into(),
            cache: CacheStatus::Hit,
            warm: WarmQueue::new(0, limits, budget, owner),
            checks: Arc::new(Checks::none()),
        }
    });
    tracing::info!(plugin = %inner.name, endpoint = %handler, "remote plugin registered");
    Ok(Plugin { inner, limits, cancel: None })
}

/// Tells a component from a core module (or from random bytes) before compiling.
fn check_header(bytes: &[u8]) -> Result<Format, LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::InvalidComponent { reason: "the bytes do not start with the wasm magic number".into() });
    }
    // Bytes 6..8 are the layer: 0 for core modules, 1 for components.
    Ok(if bytes[6..8] == [0, 0] { Format::LegacyModule } else { Format::Component })
}
