//! Handler references: how a workflow step names the plugin it runs.

use super::{RegistryError, check_name};

/// A parsed handler reference: `wasm://name`, `wasm://name@1.2.0`, `name@^1.2`, `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Handler {
    pub name: String,
    pub version: Option<semver::VersionReq>,
}

impl Handler {
    pub fn parse(text: &str) -> Result<Handler, RegistryError> {
        let bad = |reason: &str| RegistryError::BadHandler { handler: text.to_string(), reason: reason.to_string() };
        let rest = text.strip_prefix("wasm://").unwrap_or(text);
        let (name, version) = match rest.split_once('@') {
            Some((n, v)) => {
                // A bare version means exactly that version.
                let req = match semver::Version::parse(v) {
                    Ok(exact) => semver::VersionReq::parse(&format!("={exact}")),
                    Err(_) => semver::VersionReq::parse(v),
                };
                (n, Some(req.map_err(|_| bad("the version is not semver"))?))
            }
            None => (rest, None),
        };
        check_name("plugin name", name).map_err(|e| bad(&e))?;
        Ok(Handler { name: name.to_string(), version })
    }
}
