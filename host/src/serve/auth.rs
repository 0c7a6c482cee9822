//! Who is calling: bearer tokens from a tokens file, stored as sha256 hashes and compared
//! in constant time. An admin token may change the registry for any tenant; a tenant token
//! may invoke and read its own tenant's plugins and the global ones, nothing else.
//!
//! ```toml
//! # tokens.toml (written by `plinth serve token`)
//! [[token]]
//! sha256 = "9f86d081…"
//! role = "admin"
//!
//! [[token]]
//! sha256 = "60303ae2…"
//! role = "tenant"
//! tenant = "acme"
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::registry::check_name;
use crate::registry::state::atomic_write;

/// What a request may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Registry writes for any tenant, reads and invokes of everything.
    Admin,
    /// Invoke and read the tenant's own plugins and the global ones.
    Tenant(String),
}

/// Why a tokens file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("cannot read or write the tokens file {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the tokens file {} is not valid", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("token {index} in {}: {reason}", path.display())]
    Entry { path: PathBuf, index: usize, reason: String },
    #[error("cannot generate a token: no randomness from the OS ({0})")]
    Random(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    sha256: String,
    role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    token: Vec<Entry>,
}

/// The accepted tokens (as hashes) and their roles.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<([u8; 32], Role)>,
}

impl Tokens {
    /// Reads a tokens file; a missing file is no tokens.
    pub fn load(path: &Path) -> Result<Tokens, TokenError> {
        let file = read(path)?;
        let mut entries = Vec::new();
        for (index, e) in file.token.iter().enumerate() {
            let bad = |reason: String| TokenError::Entry { path: path.to_path_buf(), index, reason };
            let hash: [u8; 32] =
                hex::decode(&e.sha256).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| bad("`sha256` must be 64 hex digits".into()))?;
            let role = match (e.role.as_str(), &e.tenant) {
                ("admin", None) => Role::Admin,
                ("tenant", Some(t)) => {
                    check_name("tenant", t).map_err(bad)?;
                    Role::Tenant(t.clone())
                }
                ("admin", Some(_)) => return Err(bad("an admin token has no `tenant`".into())),
                ("tenant", None) => return Err(bad("a tenant token needs `tenant`".into())),
                (other, _) => return Err(bad(format!("role `{other}` is not `admin` or `tenant`"))),
            };
            entries.push((hash, role));
        }
        Ok(Tokens { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The role of `token`, if it is one of ours. Every stored hash is compared, each in
    /// constant time, so the time taken says nothing about which hash came close.
    pub fn check(&self, token: &str) -> Option<Role> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (stored, role) in &self.entries {
            if bool::from(stored.ct_eq(&hash)) && found.is_none() {
                found = Some(role.clone());
            }
        }
        found
    }

    /// Generates a token for `role`, appends its hash to the tokens file at `path`
    /// (created if missing, written atomically) and returns the token: the only time it
    /// is shown.
    pub fn generate(path: &Path, role: &Role) -> Result<String, TokenError> {
        let mut file = read(path)?;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
        let token = format!("plinth_{}", hex::encode(bytes));
        let (role, tenant) = match role {
            Role::Admin => ("admin".to_string(), None),
            Role::Tenant(t) => ("tenant".to_string(), Some(t.clone())),
        };
        file.token.push(Entry { sha256: hex::encode(Sha256::digest(token.as_bytes())), role, tenant });
        let text = toml::to_string_pretty(&file).expect("the tokens file serializes");
        atomic_write(path, text.as_bytes()).map_err(|e| TokenError::Io { path: path.to_path_buf(), source: std::io::Error::other(e) })?;
        Ok(token)
    }
}

fn read(path: &Path) -> Result<File, TokenError> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|source| TokenError::Parse { path: path.to_path_buf(), source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
        Err(source) => Err(TokenError::Io { path: path.to_path_buf(), source }),
    }
}
