//! What a call may touch. The base is deny-all: a WASI context with nothing granted and
//! stdout/stderr captured into the call's bounded log. Grants (fs, env, http) will each get
//! their own module here that adds only what the operator granted.

pub(crate) mod clocks;
pub(crate) mod logs;
pub(crate) mod wasi;
