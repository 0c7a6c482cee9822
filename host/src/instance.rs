//! A plugin's code ready to instantiate ([`Backend`]: a pre-instantiated component or a
//! legacy core module), and one instance of it with its exports looked up ([`Ready`]).
//! The warm queue holds `Ready` instances; a call runs exactly one.

use wasmtime::Store;
use wasmtime::component::InstancePre;

use crate::api;
use crate::legacy::{LegacyExports, LegacyModule};
use crate::store::CallState;

/// What a loaded plugin instantiates from.
pub(crate) enum Backend {
    /// A component, pre-instantiated against the linker, with its export indices.
    Component { pre: InstancePre<CallState>, exports: api::Exports },
    /// A legacy `alloc/dealloc/handle` core module.
    Legacy(LegacyModule),
}

/// One never-called instance with its exports looked up, ready to call.
pub(crate) enum Ready {
    Component(api::Bound),
    Legacy(LegacyExports),
}

impl Backend {
    /// Instantiates into `store` (already armed: instantiation runs guest code) and binds
    /// the exports.
    pub(crate) fn instantiate(&self, store: &mut Store<CallState>) -> wasmtime::Result<Ready> {
        match self {
            Backend::Component { pre, exports } => {
                let instance = pre.instantiate(&mut *store)?;
                exports.bind(store, &instance).map(Ready::Component)
            }
            Backend::Legacy(module) => module.instantiate(store).map(Ready::Legacy),
        }
    }
}

impl Ready {
    /// The component's exports, or an error for a legacy module (which the plugin layer
    /// never asks for anything but its one node).
    pub(crate) fn component(&self) -> wasmtime::Result<&api::Bound> {
        match self {
            Ready::Component(b) => Ok(b),
            Ready::Legacy(_) => Err(wasmtime::format_err!("legacy modules provide nodes only (host bug)")),
        }
    }

    /// The legacy module's exports, or an error for a component.
    pub(crate) fn legacy(&self) -> wasmtime::Result<&LegacyExports> {
        match self {
            Ready::Legacy(b) => Ok(b),
            Ready::Component(_) => Err(wasmtime::format_err!("not a legacy module (host bug)")),
        }
    }
}
