//! One module per supported `plinth:plugin` API version, each generated from its frozen
//! `wit/v*` folder. They all convert into the version-independent types of
//! [`crate::types`], so the rest of the host never sees generated types.
//!
//! To add a version: freeze its WIT folder, add `v0_2_0.rs` generated from it, a variant of
//! [`Exports`], and its string to [`SUPPORTED`].

pub(crate) mod v0_1_0;

use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::call::CallState;

/// API versions this host serves, newest first.
pub const SUPPORTED: &[&str] = &[v0_1_0::VERSION];

/// The package every plugin interface belongs to.
pub(crate) const PACKAGE: &str = "plinth:plugin";

/// The exports of a loaded plugin, by API version.
pub(crate) enum Exports {
    V0_1_0(v0_1_0::Exports),
}

/// The exports of one instance, ready to call, by API version.
pub(crate) enum Bound {
    V0_1_0(v0_1_0::Bound),
}

impl Exports {
    pub(crate) fn bind(&self, store: &mut wasmtime::Store<CallState>, instance: &wasmtime::component::Instance) -> wasmtime::Result<Bound> {
        match self {
            Exports::V0_1_0(x) => x.bind(store, instance).map(Bound::V0_1_0),
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
