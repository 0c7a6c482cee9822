//! `cargo xtask <command>`: the repository's automation.
//!
//! - `build-guests [--require-all]` — builds every Rust guest in `guests/` for wasm32
//!   (release) and writes each to `target/guests/<name>.wasm`, printing sizes; assembles
//!   `guests/legacy/wat/NAME.wat` to `target/guests/legacy_NAME.wasm`; builds the Python,
//!   JavaScript and C guests whose toolchains are present (see [`foreign`]), and says which
//!   it skipped and why. `--require-all` makes a missing toolchain an error. Installs the
//!   Rust wasm targets if missing.
//! - `build-c --world WORLD -o OUT.wasm FILE.c…` — builds a C plugin (bindings, clang,
//!   componentize) without the wit-bindgen and wasm-tools CLIs.
//! - `demo` — builds the guests, then runs each sample through the host (release build),
//!   printing input, output, fuel and latency.
//! - `test [--require-all] [cargo test args]` — `build-guests`, then `cargo test --workspace`.
//! - `fuzz [--seconds N] [TARGET…]` — builds `tests/fuzz` with nightly and libFuzzer's
//!   coverage instrumentation, then runs each target (default: all) for N seconds (60),
//!   seeded from the repository's manifests and guests; prints executions per target. A
//!   crash leaves its input under `target/fuzz/artifacts/TARGET/`. Not run in CI.
//! - `bench [--quick] [--extism]` — `build-guests`, `pip install` of the peer services
//!   (benches/peers/requirements.txt), the `plinth` binary (part 4 serves 1,000 plugins with
//!   it), then the benchmark report (release build): writes `bench/REPORT.md` and
//!   `bench/chart.svg`. `--quick` takes a few minutes (plus about 2 minutes the first time,
//!   to install the 1,000 plugins under `target/bench-fleet/`);
//!   `--extism` adds row 7 (Extism, built from crates.io: 10+ more minutes the first time).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

mod foreign;
mod fuzz;

const USAGE: &str = "usage: cargo xtask <build-guests [--require-all] | build-c --world WORLD -o OUT.wasm FILE.c… | demo | test [--require-all] [cargo test args] | fuzz [--seconds N] [TARGET…] | bench [--quick] [--extism]>";

/// The wasm targets guests are built for.
const TARGETS: &[&str] = &["wasm32-wasip2", "wasm32-unknown-unknown"];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let cmd = args.next();
    let mut rest: Vec<String> = args.collect();
    let require_all = rest.iter().any(|a| a == "--require-all");
    rest.retain(|a| a != "--require-all");
    match cmd.as_deref() {
        Some("build-guests") => build_guests(require_all, false).map(|_| ()),
        Some("build-c") => foreign::build_c_cli(&rest),
        Some("demo") => demo(),
        Some("test") => test(require_all, &rest),
        Some("fuzz") => fuzz::run(&rest),
        Some("bench") => bench(rest.iter().any(|a| a == "--quick"), rest.iter().any(|a| a == "--extism")),
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n{USAGE}"),
    }
}

/// Cargo's target directory for the workspace (`CARGO_TARGET_DIR`, else `target/`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| root().join("target"), |d| if d.is_absolute() { d } else { root().join(d) })
}

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ is inside the repository").to_path_buf()
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn ensure_targets() -> anyhow::Result<()> {
    let out = Command::new("rustup").args(["target", "list", "--installed"]).output();
    let installed = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        // No rustup: assume the toolchain was provisioned some other way.
        _ => return Ok(()),
    };
    let missing: Vec<&str> = TARGETS.iter().copied().filter(|t| !installed.lines().any(|l| l.trim() == *t)).collect();
    if !missing.is_empty() {
        println!("installing rust targets: {}", missing.join(", "));
        run(Command::new("rustup").args(["target", "add"]).args(&missing))?;
    }
    Ok(())
}

/// Guest crates that build to a `.wasm`, with the target each is built for. Crates marked
/// `[package.metadata.plinth] only = "extism"` are included only when `extism` is set.
fn guest_crates(guests: &Path, extism: bool) -> anyhow::Result<Vec<(String, &'static str)>> {
    let out = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1", "--manifest-path"])
        .arg(guests.join("Cargo.toml"))
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut crates = Vec::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        let is_cdylib = pkg["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["crate_types"].as_array().into_iter().flatten().any(|k| k == "cdylib"));
        if !is_cdylib {
            continue;
        }
        if pkg["metadata"]["plinth"]["only"].as_str() == Some("extism") && !extism {
            continue;
        }
        let name = pkg["name"].as_str().unwrap_or_default().to_string();
        // Legacy core-module guests declare their target in package metadata.
        let target = match pkg["metadata"]["plinth"]["target"].as_str() {
            Some("wasm32-unknown-unknown") => "wasm32-unknown-unknown",
            _ => "wasm32-wasip2",
        };
        crates.push((name, target));
    }
    crates.sort();
    Ok(crates)
}

/// Builds every guest (and the Extism peer when `extism`); returns the paths written under
/// `target/guests/`.
/// The foreign guests `build_guests` skipped, with the reason.
struct Built {
    skipped: Vec<(&'static foreign::Guest, String)>,
}

fn build_guests(require_all: bool, extism: bool) -> anyhow::Result<Built> {
    ensure_targets()?;
    let root = root();
    let guests = root.join("guests");
    let crates = guest_crates(&guests, extism)?;
    let out_dir = root.join("target/guests");
    std::fs::create_dir_all(&out_dir)?;
    let mut written = Vec::new();
    for target in TARGETS {
        let names: Vec<&str> = crates.iter().filter(|(_, t)| t == target).map(|(n, _)| n.as_str()).collect();
        if names.is_empty() {
            continue;
        }
        let mut cmd = cargo();
        // The guests' own target dir, even when CARGO_TARGET_DIR points elsewhere: the
        // copies below read from it.
        cmd.current_dir(&guests).args(["build", "--release", "--target", target, "--target-dir"]).arg(guests.join("target"));
        for n in &names {
            cmd.args(["-p", n]);
        }
        run(&mut cmd)?;
        for n in names {
            let file = format!("{}.wasm", n.replace('-', "_"));
            let src = guests.join("target").join(target).join("release").join(&file);
            let dst = out_dir.join(&file);
            std::fs::copy(&src, &dst).with_context(|| format!("cannot copy {}", src.display()))?;
            written.push(dst);
        }
    }
    // The echo fixture built for the wrong target: a core module named after the plinth
    // interfaces, for the test of the "build with --target wasm32-wasip2" hint.
    run(cargo()
        .current_dir(&guests)
        .args(["build", "--release", "--target", "wasm32-unknown-unknown", "-p", "echo", "--target-dir"])
        .arg(guests.join("target")))?;
    let src = guests.join("target/wasm32-unknown-unknown/release/echo.wasm");
    let dst = out_dir.join("core_echo.wasm");
    std::fs::copy(&src, &dst).with_context(|| format!("cannot copy {}", src.display()))?;
    written.push(dst);
    // Hand-written legacy core modules: guests/legacy/wat/NAME.wat -> legacy_NAME.wasm.
    let wat_dir = guests.join("legacy/wat");
    let mut wats: Vec<PathBuf> = std::fs::read_dir(&wat_dir)
        .with_context(|| format!("cannot list {}", wat_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wat"))
        .collect();
    wats.sort();
    for src in wats {
        let bytes = wat::parse_file(&src).with_context(|| format!("cannot assemble {}", src.display()))?;
        let stem = src.file_stem().unwrap().to_string_lossy();
        let dst = out_dir.join(format!("legacy_{stem}.wasm"));
        std::fs::write(&dst, bytes)?;
        written.push(dst);
    }
    let mut skipped = Vec::new();
    for outcome in foreign::build_all(&out_dir, require_all)? {
        match outcome {
            foreign::Outcome::Built(p) | foreign::Outcome::UpToDate(p) => written.push(p),
            foreign::Outcome::Skipped { guest, reason } => skipped.push((guest, reason)),
        }
    }
    println!("guests in {}:", out_dir.display());
    for p in &written {
        let size = std::fs::metadata(p)?.len();
        println!("  {:>9} bytes  {}", size, p.file_name().unwrap().to_string_lossy());
    }
    for (guest, reason) in &skipped {
        println!("  skipped        {}.wasm: {reason}", guest.out);
    }
    Ok(Built { skipped })
}

fn demo() -> anyhow::Result<()> {
    build_guests(false, false)?;
    run(cargo().current_dir(root()).args(["run", "--quiet", "--release", "-p", "plinth", "--example", "demo"]))
}

fn bench(quick: bool, extism: bool) -> anyhow::Result<()> {
    // The guest languages table needs the Python and JavaScript toolchains, as the tests do.
    foreign::setup();
    build_guests(false, extism)?;
    // The peer services of part 3 of the report (FastAPI under uvicorn; Node's http2 needs
    // nothing). Without them the report says why those rows are skipped.
    let requirements = root().join("benches/peers/requirements.txt");
    let pip = Command::new("python3").args(["-m", "pip", "install", "-q", "-r"]).arg(&requirements).status();
    if !matches!(pip, Ok(s) if s.success()) {
        println!("warning: could not install {} ({pip:?}); the report skips the FastAPI row", requirements.display());
    }
    // Part 4 of the report runs the real `plinth serve` on 1,000 plugins: the binary, built
    // in the bench profile with the benches' features, so it shares their build.
    run(cargo().current_dir(root()).args(["build", "--profile", "bench", "-p", "plinth", "--features", "bench", "--bin", "plinth"]))?;
    let mut cmd = cargo();
    cmd.current_dir(root()).args(["bench", "-p", "plinth-benches", "--bench", "report"]);
    cmd.env("PLINTH_BIN", target_dir().join("release").join(format!("plinth{}", std::env::consts::EXE_SUFFIX)));
    if extism {
        // Row 7: a second wasmtime and 10+ minutes of cold build, so opt-in.
        cmd.args(["--features", "extism"]);
    }
    cmd.arg("--");
    if quick {
        cmd.arg("--quick");
    }
    run(&mut cmd)
}

fn test(require_all: bool, extra: &[String]) -> anyhow::Result<()> {
    foreign::setup();
    let built = build_guests(require_all, false)?;
    // The logic the sample guests share is a host-testable crate of the guest workspace.
    run(cargo().current_dir(root().join("guests")).args(["test", "-p", "classify"]))?;
    // `fault-injection` turns on the crash points the kill -9 tests use; it is never in a
    // default build.
    // A guest that could not be built has its tests skipped by name, and the summary says
    // so: a test that did nothing never reports `ok`.
    let mut cmd = cargo();
    cmd.current_dir(root()).args(["test", "--workspace", "--features", "plinth/fault-injection,plinth-tests/fault-injection"]).args(extra);
    if !built.skipped.is_empty() && !extra.iter().any(|a| a == "--") {
        cmd.arg("--");
    }
    for (guest, _) in &built.skipped {
        cmd.args(["--skip", guest.tests]);
    }
    let result = run(&mut cmd);
    for (guest, reason) in &built.skipped {
        println!("SKIPPED tests {}* ({} guest {}): {reason}", guest.tests, guest.lang.name(), guest.dir);
    }
    result
}
