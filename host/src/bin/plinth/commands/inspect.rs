//! `plinth inspect FILE`: what a component provides.

use std::path::PathBuf;

use clap::Args;
use plinth::{Format, Stdio};
use serde_json::json;

use super::load;
use crate::exit::Failure;
use crate::flags::{CacheArgs, CapArgs};

/// Show what a component provides: kinds, API version and the specs it lists.
#[derive(Args)]
pub struct InspectArgs {
    /// The component (.wasm).
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    caps: CapArgs,
    #[command(flatten)]
    cache: CacheArgs,
}

pub fn run(args: InspectArgs) -> Result<(), Failure> {
    let InspectArgs { file, json: as_json, caps, cache } = args;
    let file = &file;
    let plugin = load(file, &caps, &cache)?;
    if as_json {
        let v = json!({
            "name": plugin.name(),
            "format": plugin.format(),
            "api_version": plugin.api_version(),
            "sha256": plugin.sha256(),
            "kinds": plugin.kinds(),
            "specs": plugin.specs(),
            "imports": plugin.imports(),
            "capabilities": plugin.capabilities(),
        });
        outln!("{}", serde_json::to_string_pretty(&v).expect("serializable"));
        return Ok(());
    }
    outln!("{}", file.display());
    match plugin.format() {
        Format::Component => outln!("  api:    plinth:plugin@{}", plugin.api_version()),
        Format::LegacyModule => outln!("  api:    legacy core module (alloc/dealloc/handle JSON ABI)"),
        Format::Remote => outln!("  api:    remote plugin at {}", plugin.endpoint().map(|e| e.handler()).unwrap_or_default()),
    }
    outln!("  sha256: {}", plugin.sha256());
    outln!("  kinds:  {}", plugin.kinds().iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "));
    let imports: Vec<&str> = plugin.imports().iter().map(String::as_str).filter(|i| !i.starts_with("plinth:")).collect();
    if !imports.is_empty() {
        outln!("  imports: {}", imports.join(", "));
    }
    let c = plugin.capabilities();
    let fs: Vec<String> = c.fs.iter().map(|p| format!("{} -> {} ({:?})", p.guest, p.host.display(), p.mode)).collect();
    let env: Vec<&str> = c.env.iter().map(|(k, _)| k.as_str()).collect();
    let http: Vec<String> = c.http_granted.iter().map(|h| h.to_string()).collect();
    outln!(
        "  capabilities: fs [{}], env [{}], http [{}]{}",
        fs.join(", "),
        env.join(", "),
        http.join(", "),
        if c.stdio == Stdio::Drop { ", stdio dropped" } else { "" }
    );
    for line in &c.report.not_granted {
        outln!("  asked but not granted: {line}");
    }
    for kind in plugin.kinds() {
        for spec in plugin.specs().of(*kind) {
            let platform = spec.platform.as_ref().map(|p| format!(" [{p}]")).unwrap_or_default();
            outln!("  {kind} {}{platform} — {}", spec.name, spec.description);
            if let Some(s) = &spec.input_schema {
                outln!("      input:  {s}");
            }
            if let Some(s) = &spec.output_schema {
                outln!("      output: {s}");
            }
        }
    }
    Ok(())
}
