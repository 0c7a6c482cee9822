//! `cargo xtask fuzz`: the fuzz targets of `tests/fuzz`, built and run without the
//! cargo-fuzz CLI. It does what `cargo fuzz run` does for these targets: a nightly build
//! with libFuzzer's coverage instrumentation (`sancov`) and `--cfg fuzzing`, debug
//! assertions and overflow checks on, then each binary with a time budget and a corpus.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::root;

const TARGETS: &[&str] = &["manifest", "lock", "plugins_toml", "handler", "host_pattern", "size", "load"];

/// Instrumentation flags, as cargo-fuzz passes them for its default (no sanitizer) build.
const RUSTFLAGS: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing -Cdebug-assertions -Coverflow-checks";

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let usage = "usage: cargo xtask fuzz [--seconds N] [TARGET…]";
    let mut seconds = 60u64;
    let mut chosen = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => seconds = it.next().context(usage)?.parse().context("--seconds takes a whole number")?,
            t if TARGETS.contains(&t) => chosen.push(t),
            other => bail!("unknown fuzz target or option `{other}` (targets: {})\n{usage}", TARGETS.join(", ")),
        }
    }
    if chosen.is_empty() {
        chosen = TARGETS.to_vec();
    }
    let root = root();
    let work = root.join("target/fuzz");
    let triple = host_triple()?;
    println!("building the fuzz targets (nightly, instrumented; the first build compiles wasmtime: minutes)");
    crate::run(
        Command::new("cargo")
            .args(["+nightly", "build", "--release", "--bins", "--manifest-path"])
            .arg(root.join("tests/fuzz/Cargo.toml"))
            .arg("--target-dir")
            .arg(work.join("build"))
            .args(["--target", &triple])
            .env("RUSTFLAGS", RUSTFLAGS)
            .env_remove("CARGO"),
    )?;
    let mut report = Vec::new();
    for target in chosen {
        let corpus = work.join("corpus").join(target);
        let artifacts = work.join("artifacts").join(target);
        std::fs::create_dir_all(&corpus)?;
        std::fs::create_dir_all(&artifacts)?;
        seed(&root, target, &corpus)?;
        let bin = work.join("build").join(&triple).join("release").join(target);
        println!("fuzzing {target} for {seconds} s");
        let out = Command::new(&bin)
            .arg(&corpus)
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .args(["-print_final_stats=1", "-rss_limit_mb=4096", "-timeout=20"])
            .output()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let runs = log.lines().find_map(|l| l.strip_prefix("stat::number_of_executed_units:")).map(str::trim).unwrap_or("?");
        let verdict = if out.status.success() {
            "no crash".to_string()
        } else {
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            format!("FAILED ({}), input in {}", out.status, artifacts.display())
        };
        report.push(format!("{target:>13}: {runs} executions, {verdict}"));
    }
    println!("fuzz results ({seconds} s each):");
    for line in &report {
        println!("  {line}");
    }
    if report.iter().any(|l| l.contains("FAILED")) {
        bail!("a fuzz target failed");
    }
    Ok(())
}

fn host_triple() -> anyhow::Result<String> {
    let out =
        Command::new("rustc").args(["+nightly", "-vV"]).output().context("cannot run rustc +nightly (install nightly with rustup)")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("rustc -vV printed no host triple")
}

/// Seeds an empty corpus with the repository's own inputs of that format.
fn seed(root: &Path, target: &str, corpus: &Path) -> anyhow::Result<()> {
    if std::fs::read_dir(corpus)?.next().is_some() {
        return Ok(());
    }
    let mut seeds: Vec<PathBuf> = Vec::new();
    match target {
        "manifest" => seeds.extend(find(&root.join("guests"), "plinth.toml")),
        "load" => seeds.extend(find(&root.join("target/guests"), ".wasm").into_iter().filter(|p| small(p))),
        _ => {}
    }
    let texts: &[&str] = match target {
        "lock" => &[
            "version = 2\n[[plugin]]\nname = \"a\"\nversion = \"0.1.0\"\nwasm_sha256 = \"00\"\napi = \"0.1.0\"\nkinds = [\"tool\"]\nexports = [{ kind = \"tool\", name = \"x\" }]\nsource = \"/x\"\n",
        ],
        "plugins_toml" => &["[[plugin]]\nname = \"a\"\nsource = \"/x\"\nenabled = true\n[plugin.grants]\nhttp = [\"api.example.com\"]\n"],
        "handler" => &["wasm://text-classifier@^0.1", "echo@1.0.0", "x"],
        "host_pattern" => &["*.example.com", "127.0.0.1:8080", "[::1]:*"],
        "size" => &["64M", "1048576", "1G"],
        _ => &[],
    };
    for (i, text) in texts.iter().enumerate() {
        std::fs::write(corpus.join(format!("seed-{i}")), text)?;
    }
    if target == "load" {
        // Small components, so the component path is reached without compiling a guest.
        for (i, wat) in
            ["(component)", "(component (core module (func (export \"f\"))) (core instance (instantiate 0)))"].iter().enumerate()
        {
            std::fs::write(corpus.join(format!("component-{i}")), wat::parse_str(wat)?)?;
        }
    }
    for (i, p) in seeds.iter().enumerate() {
        std::fs::copy(p, corpus.join(format!("file-{i}")))?;
    }
    Ok(())
}

/// Small enough to be a useful fuzz input. Every input is compiled by an instrumented
/// Cranelift: the 100 KB Rust guests took ~1 s each (31 executions in 30 s), the legacy
/// modules and the smallest components a few milliseconds.
fn small(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.len() < 8 << 10)
}

fn find(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for e in entries.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == "target" || n == "node_modules") {
            continue;
        }
        if p.is_dir() {
            found.extend(find(&p, suffix));
        } else if p.to_string_lossy().ends_with(suffix) {
            found.push(p);
        }
    }
    found
}
