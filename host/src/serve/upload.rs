//! `PUT /plugins/{name}/package`: a plugin for a server whose disk the operator is not on.
//! The body is the `.wasm` (`application/wasm`) or a `.tar.gz` of a plugin directory
//! (`application/gzip`); it is unpacked under `$PLINTH_HOME/uploads/` and installed (or,
//! when the plugin is installed already, updated) from there.
//!
//! An archive is hostile until unpacked: only plain files and directories are accepted,
//! each path must stay inside the directory (no absolute paths, no `..`), links and devices
//! are refused, and both the number of entries and the expanded size are capped, so a
//! small archive cannot fill the disk.

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::App;
use super::api::{Caller, blocking, installing, installing_json, not_stored, read_body, record_json, records};
use super::error::ApiError;
use crate::registry::{Key, Meta, check_name};

/// Entries an archive may hold.
const MAX_ENTRIES: usize = 1_000;

/// What was uploaded, unpacked.
pub(crate) struct Unpacked {
    /// The directory to install from (or the `.wasm` in it).
    pub source: PathBuf,
    /// Whether this upload made the directory (rather than finding the same bytes there).
    pub created: bool,
}

/// The hex sha256 of `bytes`, checked against `expected` when given.
pub(crate) fn check_sha256(bytes: &[u8], expected: Option<&str>) -> Result<String, ApiError> {
    let actual = hex::encode(Sha256::digest(bytes));
    match expected {
        Some(e) if !e.eq_ignore_ascii_case(&actual) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "checksum_mismatch",
            format!("the upload's sha256 is {actual}, not the {e} its x-plinth-sha256 header says"),
        )),
        _ => Ok(actual),
    }
}

/// Unpacks `bytes` into `dir` (which must not exist yet; written via a temporary sibling,
/// renamed into place when complete, so a crash never leaves half an upload at `dir`).
pub(crate) fn unpack(bytes: &[u8], name: &str, gzip: bool, dir: &Path, max_expanded: u64) -> Result<Unpacked, ApiError> {
    let io = |e: std::io::Error| ApiError::internal(format!("cannot write the upload under {}: {e}", dir.display()));
    let parent = dir.parent().expect("upload dirs have a parent");
    std::fs::create_dir_all(parent).map_err(io)?;
    if dir.exists() {
        // The same bytes were uploaded before: content-addressed, so reuse them.
        return Ok(Unpacked { source: source_in(dir, name, gzip), created: false });
    }
    let tmp = tempfile::Builder::new().prefix(".upload-").tempdir_in(parent).map_err(io)?;
    if gzip {
        unpack_tar(bytes, tmp.path(), max_expanded)?;
    } else {
        if !bytes.starts_with(b"\0asm") {
            return Err(ApiError::bad_request(
                "the body is not WebAssembly (no `\\0asm` header); send a .tar.gz with content-type application/gzip",
            ));
        }
        std::fs::write(tmp.path().join(format!("{name}.wasm")), bytes).map_err(io)?;
    }
    crate::registry::fault_point("upload-unpacked")?;
    // Into place in one rename. Another upload of the same bytes may have got there first:
    // its copy is the same, so use it (and let `tmp` be removed on drop).
    let created = match std::fs::rename(tmp.path(), dir) {
        Ok(()) => {
            let _ = tmp.keep();
            true
        }
        Err(_) if dir.exists() => false,
        Err(e) => return Err(io(e)),
    };
    Ok(Unpacked { source: source_in(dir, name, gzip), created })
}

/// Removes what uploads cut off by a crash left: `.upload-*` directories that were never
/// renamed into place. Called at start, before any upload can be in progress.
pub(crate) fn sweep(uploads: &Path) {
    let Ok(scopes) = std::fs::read_dir(uploads) else { return };
    for scope in scopes.flatten() {
        let Ok(names) = std::fs::read_dir(scope.path()) else { continue };
        for name in names.flatten() {
            let Ok(entries) = std::fs::read_dir(name.path()) else { continue };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(".upload-") {
                    match std::fs::remove_dir_all(entry.path()) {
                        Ok(()) => tracing::info!(path = %entry.path().display(), "removed an upload cut off by a crash"),
                        Err(e) => tracing::warn!(path = %entry.path().display(), error = %e, "cannot remove a cut-off upload"),
                    }
                }
            }
        }
    }
}

fn source_in(dir: &Path, name: &str, gzip: bool) -> PathBuf {
    if gzip { dir.to_path_buf() } else { dir.join(format!("{name}.wasm")) }
}

fn unpack_tar(bytes: &[u8], into: &Path, max_expanded: u64) -> Result<(), ApiError> {
    // Everything tar reads comes through this cap, including the long-name and PAX headers
    // it reads whole before handing out an entry: a small archive cannot expand into
    // memory or disk past it.
    let limited = flate2::read::GzDecoder::new(bytes).take(max_expanded.saturating_add(1 << 20));
    let mut archive = tar::Archive::new(limited);
    let too_large =
        || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("the archive expands to more than {max_expanded} bytes"));
    let result = unpack_entries(&mut archive, into, max_expanded);
    if archive.into_inner().limit() == 0 {
        return Err(too_large());
    }
    result?;
    hoist_single_dir(into)
}

fn unpack_entries<R: Read>(archive: &mut tar::Archive<R>, into: &Path, max_expanded: u64) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_archive", m);
    let entries = archive.entries().map_err(|e| bad(format!("not a .tar.gz: {e}")))?;
    let (mut total, mut count) = (0u64, 0usize);
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("not a .tar.gz: {e}")))?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(bad(format!("the archive has more than {MAX_ENTRIES} entries")));
        }
        let path = entry.path().map_err(|e| bad(format!("an entry's path is not valid: {e}")))?.into_owned();
        let kind = entry.header().entry_type();
        let shown = path.display().to_string();
        let rel = match inside(&path) {
            Some(rel) => rel,
            // `./`, as `tar czf x.tgz -C dir .` writes first.
            None if path.components().all(|c| c == Component::CurDir) => continue,
            None => return Err(bad(format!("entry `{shown}` would land outside the plugin directory"))),
        };
        if kind.is_dir() {
            std::fs::create_dir_all(into.join(&rel)).map_err(|e| ApiError::internal(e.to_string()))?;
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!("entry `{shown}` is a {kind:?}, not a plain file: links and devices are refused")));
        }
        // The header's size can lie; count what is actually read, and stop at the cap.
        let budget = max_expanded.saturating_sub(total);
        let mut data = Vec::new();
        (&mut entry).take(budget + 1).read_to_end(&mut data).map_err(|e| bad(format!("entry `{shown}` cannot be read: {e}")))?;
        total += data.len() as u64;
        if total > max_expanded {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the archive expands to more than {max_expanded} bytes"),
            ));
        }
        let dest = into.join(&rel);
        if let Some(p) = dest.parent() {
            std::fs::create_dir_all(p).map_err(|e| ApiError::internal(e.to_string()))?;
        }
        std::fs::write(&dest, &data).map_err(|e| ApiError::internal(e.to_string()))?;
    }
    Ok(())
}

fn hoist_single_dir(into: &Path) -> Result<(), ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_archive", m);
    // A plugin directory, or a single directory holding one (`tar czf x.tgz myplugin/`).
    if !into.join("plinth.toml").exists() {
        let dirs: Vec<PathBuf> =
            std::fs::read_dir(into).map_err(|e| ApiError::internal(e.to_string()))?.flatten().map(|e| e.path()).collect();
        match dirs.as_slice() {
            [one] if one.is_dir() && one.join("plinth.toml").exists() => {
                for e in std::fs::read_dir(one).map_err(|e| ApiError::internal(e.to_string()))?.flatten() {
                    std::fs::rename(e.path(), into.join(e.file_name())).map_err(|e| ApiError::internal(e.to_string()))?;
                }
                std::fs::remove_dir(one).map_err(|e| ApiError::internal(e.to_string()))?;
            }
            _ => return Err(bad("the archive holds no plinth.toml (at its top or in its one directory)".into())),
        }
    }
    Ok(())
}

/// `path` as a relative path of normal components only, or `None` if it is absolute or
/// climbs out (`..`).
fn inside(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// `PUT /plugins/{name}/package`: installs (201) or updates (200) `name` from the body.
pub(crate) async fn handler(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = Caller::of(&app, &headers)?;
    caller.require_admin()?;
    let Some(uploads) = app.config.upload_dir.clone() else {
        return Err(ApiError::not_found("uploads are off on this server"));
    };
    check_name("name", &name).map_err(ApiError::bad_request)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let gzip = match content_type.split(';').next().unwrap_or("").trim() {
        "application/wasm" => false,
        "application/gzip" | "application/x-gzip" | "application/tar+gzip" => true,
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("content-type `{other}`: send application/wasm (a .wasm) or application/gzip (a .tar.gz of a plugin directory)"),
            ));
        }
    };
    let expected = headers.get("x-plinth-sha256").map(|v| v.to_str().unwrap_or("?").to_string());
    let bytes = read_body(body, app.config.max_upload).await?;
    let sha = check_sha256(&bytes, expected.as_deref())?;
    let key = Key { tenant: caller.tenant.clone(), name: name.clone() };
    // Content-addressed, and by kind: the same bytes sent as both cannot mix.
    let dir =
        uploads.join(key.tenant.as_deref().unwrap_or("_global")).join(&name).join(format!("{sha}.{}", if gzip { "tgz" } else { "wasm" }));
    let max_expanded = app.config.max_expanded;
    let unpack_dir = dir.clone();
    let unpacked = tokio::task::spawn_blocking(move || unpack(&bytes, &name, gzip, &unpack_dir, max_expanded))
        .await
        .map_err(|e| ApiError::internal(format!("task failed: {e}")))??;
    let current = records(&app).await?.into_iter().find(|r| r.key == key);
    if current.is_none() {
        not_stored(&app, &key).await?;
    }
    let (state, record) = match &current {
        Some(r) => ("restarting", record_json(&app, r)),
        None => (
            "installing",
            installing_json(&key, crate::registry::state::PluginType::Wasm, &unpacked.source.display().to_string(), None, None),
        ),
    };
    let task_app = app.clone();
    installing(&app, key.clone(), state, record, async move {
        let app = task_app;
        let _write = app.writes.lock().await;
        let exists = records(&app).await?.iter().any(|r| r.key == key);
        let (store, runtime, k, source, created) = (app.store.clone(), app.runtime.clone(), key.clone(), unpacked.source, unpacked.created);
        let installed =
            blocking(
                move || if exists { store.update(&runtime, &k, &source) } else { store.install(&runtime, &k, &source, Meta::default()) },
            )
            .await;
        if let Err(e) = installed {
            // Nothing refers to a package this upload unpacked and could not install.
            if created {
                let _ = std::fs::remove_dir_all(&dir);
            }
            return Err(e);
        }
        app.reconcile().await?;
        Ok(if exists { StatusCode::OK } else { StatusCode::CREATED })
    })
    .await
}
