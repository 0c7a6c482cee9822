//! What a call may touch. The base is deny-all: a WASI context with nothing granted and
//! stdout/stderr captured into the call's bounded log. The plugin asks, the operator grants
//! ([`grants`]); the WASI context ([`wasi`]) and outbound HTTP ([`http`]) then add only the
//! intersection.

pub(crate) mod blocking;
pub mod grants;
pub(crate) mod http;
pub(crate) mod logs;
pub(crate) mod wasi;
