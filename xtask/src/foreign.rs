//! Guests in languages other than Rust: Python (componentize-py), JavaScript (jco with the
//! QuickJS backend) and C (clang + wasi-libc, bindings and componentization through the
//! `wit-bindgen-c` and `wit-component` crates).
//!
//! Each is built only when its toolchain is present; a missing toolchain is reported with
//! the command that installs it, and recorded in `target/guests/SKIPPED` so the integration
//! tests can tell "skipped on purpose" from "never built". [`setup`] (run by `cargo xtask
//! test`) first installs what it can without asking: componentize-py into a virtualenv
//! under `target/`, jco into `guests/js`, and the Debian packages of the C toolchain when
//! running as root. `--require-all` turns a missing
//! toolchain into an error (CI uses it). A guest whose output is newer than its sources, the
//! WIT and the toolchain pins is not rebuilt (the Python runtime takes ~20 s to componentize).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::{root, run};

/// The WIT version every foreign guest targets.
const WIT: &str = "wit/v0.1.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    Js,
    C,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
            Lang::C => "C",
        }
    }
}

/// One non-Rust guest: `guests/<dir>/<entry>` built for `world` to
/// `target/guests/<out>.wasm`.
pub struct Guest {
    pub lang: Lang,
    /// The test-name prefix of this guest's tests in `tests/tests/languages.rs`, skipped
    /// (and named in the summary) when the guest could not be built.
    pub tests: &'static str,
    pub dir: &'static str,
    pub entry: &'static str,
    pub world: &'static str,
    pub out: &'static str,
}

pub const GUESTS: &[Guest] = &[
    Guest {
        lang: Lang::Python,
        tests: "lang_python::",
        dir: "guests/python/text-classifier",
        entry: "app.py",
        world: "tool-plugin",
        out: "python_text_classifier",
    },
    Guest {
        lang: Lang::Js,
        tests: "lang_js::",
        dir: "guests/js/text-classifier",
        entry: "app.js",
        world: "tool-plugin",
        out: "js_text_classifier",
    },
    Guest { lang: Lang::Js, tests: "lang_js_throws::", dir: "guests/js/throws", entry: "app.js", world: "tool-plugin", out: "js_throws" },
    Guest {
        lang: Lang::C,
        tests: "lang_c::",
        dir: "guests/c/text-classifier",
        entry: "app.c",
        world: "tool-plugin",
        out: "c_text_classifier",
    },
];

/// What happened to one guest.
pub enum Outcome {
    Built(PathBuf),
    UpToDate(PathBuf),
    Skipped { guest: &'static Guest, reason: String },
}

/// Builds every foreign guest whose toolchain is present. With `require_all`, a missing
/// toolchain is an error instead of a skip.
pub fn build_all(out_dir: &Path, require_all: bool) -> anyhow::Result<Vec<Outcome>> {
    let root = root();
    let mut outcomes = Vec::new();
    for g in GUESTS {
        let dst = out_dir.join(format!("{}.wasm", g.out));
        let toolchain = match g.lang {
            Lang::Python => Toolchain::python(&root),
            Lang::Js => Toolchain::js(&root),
            Lang::C => Toolchain::c(),
        };
        let toolchain = match toolchain {
            Ok(t) => t,
            Err(reason) if !require_all => {
                outcomes.push(Outcome::Skipped { guest: g, reason });
                continue;
            }
            Err(reason) => bail!("{} guest {}: {reason} (--require-all)", g.lang.name(), g.dir),
        };
        if is_fresh(&root, g, &toolchain, &dst)? {
            outcomes.push(Outcome::UpToDate(dst));
            continue;
        }
        println!("building {} guest {}", g.lang.name(), g.dir);
        match &toolchain {
            Toolchain::Python { exe } => build_python(&root, g, exe, &dst)?,
            Toolchain::Js { jco } => build_js(&root, g, jco, &dst)?,
            Toolchain::C { clang, sysroot } => build_c(&root, g, clang, sysroot, out_dir, &dst)?,
        }
        outcomes.push(Outcome::Built(dst));
    }
    let skipped: String = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Skipped { guest, reason } => Some(format!("{}: {reason}\n", guest.out)),
            _ => None,
        })
        .collect();
    std::fs::write(out_dir.join("SKIPPED"), skipped)?;
    Ok(outcomes)
}

/// A toolchain found on this machine.
enum Toolchain {
    Python { exe: PathBuf },
    Js { jco: PathBuf },
    C { clang: PathBuf, sysroot: PathBuf },
}

impl Toolchain {
    /// componentize-py at the version pinned in guests/python/requirements.txt: the one
    /// [`setup`] put in `target/toolchains/python`, else the one on PATH.
    fn python(root: &Path) -> Result<Toolchain, String> {
        let install = "install it with `pip install -r guests/python/requirements.txt` (or run `cargo xtask test`)";
        let pinned = pinned_python(root).map_err(|e| format!("{e:#}"))?;
        let version = |exe: &Path| {
            Command::new(exe)
                .arg("--version")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let mut found = Vec::new();
        for exe in [venv(root).join("bin/componentize-py"), "componentize-py".into()] {
            match version(&exe) {
                Some(v) if v == format!("componentize-py {pinned}") => return Ok(Toolchain::Python { exe }),
                Some(v) => found.push(v),
                None => {}
            }
        }
        match found.first() {
            Some(v) => Err(format!("found {v}, the guests pin componentize-py {pinned}; {install}")),
            None => Err(format!("componentize-py not found on PATH; {install}")),
        }
    }

    /// jco from guests/js/node_modules (installed from the lockfile), and node to run it.
    fn js(root: &Path) -> Result<Toolchain, String> {
        let install = "install it with `npm install --no-save --prefix guests/js`";
        if !Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success()) {
            return Err(format!("node not found on PATH; install Node.js (>= 18), then {install}"));
        }
        let jco = root.join("guests/js/node_modules/.bin/jco");
        if !jco.exists() {
            return Err(format!("jco is not installed in guests/js/node_modules; {install}"));
        }
        Ok(Toolchain::Js { jco })
    }

    /// A clang with the wasm32 backend, wasm-ld, and a wasi-libc sysroot. `CC_WASM` and
    /// `WASI_SYSROOT` override the defaults (Debian's `clang-19` and `/usr`).
    fn c() -> Result<Toolchain, String> {
        let install = format!("install Debian's {} (or set CC_WASM and WASI_SYSROOT)", C_PACKAGES.join(" "));
        let candidates: Vec<PathBuf> = match std::env::var_os("CC_WASM") {
            Some(cc) => vec![cc.into()],
            None => vec!["clang-19".into(), "clang".into()],
        };
        let clang = candidates
            .into_iter()
            .find(|cc| {
                Command::new(cc)
                    .arg("--print-targets")
                    .output()
                    .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("wasm32"))
            })
            .ok_or_else(|| format!("no clang with the wasm32 target found; {install}"))?;
        let sysroot: PathBuf = std::env::var_os("WASI_SYSROOT").map_or_else(|| "/usr".into(), PathBuf::from);
        let libc = ["lib/wasm32-wasi/libc.a", "lib/wasm32-wasip1/libc.a"];
        if !libc.iter().any(|l| sysroot.join(l).exists()) {
            return Err(format!("no wasi-libc under {} (looked for {}); {install}", sysroot.display(), libc.join(", ")));
        }
        Ok(Toolchain::C { clang, sysroot })
    }
}

/// Where [`setup`] installs componentize-py.
fn venv(root: &Path) -> PathBuf {
    root.join("target/toolchains/python")
}

/// The Debian packages of the C toolchain.
const C_PACKAGES: &[&str] = &["clang-19", "lld-19", "wasi-libc", "libclang-rt-19-dev-wasm32"];

/// Installs the toolchains that are missing, where that needs no one's permission: the
/// pinned componentize-py into a project-local virtualenv, jco into `guests/js` from its
/// lockfile, and the C packages with apt when running as root. What it cannot install is
/// left to [`build_all`], which skips those guests and says which command installs them.
pub fn setup() {
    let root = root();
    if Toolchain::python(&root).is_err() {
        let venv = venv(&root);
        println!("setting up componentize-py in {}", venv.display());
        let made = venv.join("bin/pip").exists() || quiet(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        if !made
            || !quiet(Command::new(venv.join("bin/pip")).args(["install", "-q", "-r"]).arg(root.join("guests/python/requirements.txt")))
        {
            println!("  could not install componentize-py (needs python3 with venv and pip); the Python guest will be skipped");
        }
    }
    let has_node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if has_node && Toolchain::js(&root).is_err() {
        println!("installing jco into guests/js/node_modules");
        if !quiet(Command::new("npm").args(["install", "--no-save", "--no-audit", "--no-fund", "--prefix"]).arg(root.join("guests/js"))) {
            println!("  npm install failed; the JavaScript guests will be skipped");
        }
    }
    let root_user = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if Toolchain::c().is_err() {
        if root_user {
            println!("installing the C toolchain: {}", C_PACKAGES.join(" "));
            let apt = |args: &[&str]| quiet(Command::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive").args(args));
            let install: Vec<&str> = ["install", "-y", "-q"].iter().chain(C_PACKAGES).copied().collect();
            // An install from a stale package index can fail: refresh it once and retry.
            let installed = apt(&install) || (apt(&["update", "-q"]) && apt(&install));
            if !installed {
                println!("  apt-get could not install them; the C guest will be skipped");
            }
        } else {
            println!("the C guest needs `sudo apt-get install {}`", C_PACKAGES.join(" "));
        }
    }
}

/// Runs `cmd`, showing its output only when it fails.
fn quiet(cmd: &mut Command) -> bool {
    match cmd.output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!("{}", String::from_utf8_lossy(&o.stderr));
            false
        }
        Err(e) => {
            eprintln!("cannot run {cmd:?}: {e}");
            false
        }
    }
}

/// The componentize-py version pinned in guests/python/requirements.txt.
fn pinned_python(root: &Path) -> anyhow::Result<String> {
    let path = root.join("guests/python/requirements.txt");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("componentize-py=="))
        .map(|v| v.trim().to_string())
        .with_context(|| format!("{} pins no `componentize-py==VERSION`", path.display()))
}

/// Whether `dst` is newer than every input: the guest's directory, the WIT, the toolchain
/// pins and this file (which holds the build commands).
fn is_fresh(root: &Path, g: &Guest, toolchain: &Toolchain, dst: &Path) -> anyhow::Result<bool> {
    let Ok(built) = std::fs::metadata(dst).and_then(|m| m.modified()) else {
        return Ok(false);
    };
    let mut inputs = vec![root.join(g.dir), root.join(WIT), PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src/foreign.rs"))];
    match toolchain {
        Toolchain::Python { .. } => inputs.push(root.join("guests/python/requirements.txt")),
        Toolchain::Js { .. } => inputs.push(root.join("guests/js/package-lock.json")),
        Toolchain::C { .. } => {}
    }
    for input in inputs {
        if newest(&input)? > built {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Newest modification time under `path` (skipping caches the toolchains write).
fn newest(path: &Path) -> anyhow::Result<std::time::SystemTime> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    let mut t = meta.modified()?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let p = entry?.path();
            if p.file_name().is_some_and(|n| n == "__pycache__" || n == "node_modules") {
                continue;
            }
            t = t.max(newest(&p)?);
        }
    }
    Ok(t)
}

/// `componentize-py -d wit/v0.1.0 -w WORLD componentize app -p DIR -o OUT`. The component
/// imports the WASI 0.2 set (CPython's runtime needs it); Plinth's capability-less WASI
/// satisfies those imports and denies every file, env var and socket.
fn build_python(root: &Path, g: &Guest, exe: &Path, dst: &Path) -> anyhow::Result<()> {
    let module = g.entry.strip_suffix(".py").context("Python entry must be a .py file")?;
    run(Command::new(exe).current_dir(root).args(["-d", WIT, "-w", g.world, "componentize", module, "-p", g.dir, "-o"]).arg(dst))
}

/// `jco componentize` with the QuickJS backend and synchronous exports: a 1.6 MB component.
/// WASI is not stubbed (`--backend-qjs-stub-wasi`): with stubs, the runtime's report of an
/// uncaught exception, written to stderr, traps before it is written, and the error says
/// only `unreachable`. Plinth's capability-less WASI answers the imports instead.
fn build_js(root: &Path, g: &Guest, jco: &Path, dst: &Path) -> anyhow::Result<()> {
    run(Command::new("node")
        .current_dir(root.join("guests/js"))
        .arg(jco)
        .arg("componentize")
        // jco resolves relative paths against the entry's directory: pass absolute ones.
        .arg(root.join(g.dir).join(g.entry))
        .arg("--wit")
        .arg(root.join(WIT))
        .args(["--world-name", g.world, "--backend", "quickjs", "--backend-qjs-disable-async"])
        .arg("-o")
        .arg(dst))
}

/// C: bindings from `wit-bindgen-c`, a wasip1 reactor core module from clang and wasi-libc
/// (Debian's wasi-libc has no wasip2 sysroot), then a component from `wit-component` with
/// the preview1 reactor adapter in case the module uses any WASI.
fn build_c(root: &Path, g: &Guest, clang: &Path, sysroot: &Path, out_dir: &Path, dst: &Path) -> anyhow::Result<()> {
    let work = out_dir.join("build").join(g.out);
    // The repository's own guests must compile without a warning.
    compile_c(root, &[root.join(g.dir).join(g.entry)], g.world, clang, sysroot, &["-Werror"], &work, dst)
}

/// `cargo xtask build-c --world WORLD -o OUT.wasm FILE.c…`: builds a C plugin outside this
/// repository the way the C sample is built, so authors need no wit-bindgen or wasm-tools
/// CLI. Prints where the generated header is, for editors.
pub fn build_c_cli(args: &[String]) -> anyhow::Result<()> {
    let usage = "usage: cargo xtask build-c --world WORLD -o OUT.wasm FILE.c [FILE.c…]";
    let (mut world, mut out, mut sources) = (None, None, Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--world" | "-w" => world = Some(it.next().context(usage)?.clone()),
            "-o" | "--out" => out = Some(PathBuf::from(it.next().context(usage)?)),
            s if s.starts_with('-') => bail!("unknown option `{s}`\n{usage}"),
            s => sources.push(std::fs::canonicalize(s).with_context(|| format!("cannot find {s}"))?),
        }
    }
    let (Some(world), Some(out)) = (world, out) else { bail!("{usage}") };
    if sources.is_empty() {
        bail!("{usage}");
    }
    let Toolchain::C { clang, sysroot } = Toolchain::c().map_err(|e| anyhow::anyhow!(e))? else { unreachable!() };
    let root = root();
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".into());
    let work = root.join("target/c-build").join(stem);
    compile_c(&root, &sources, &world, &clang, &sysroot, &[], &work, &out)?;
    println!("wrote {} ({} bytes); bindings in {}", out.display(), std::fs::metadata(&out)?.len(), work.join("gen").display());
    Ok(())
}

/// Generates the bindings for `world` into `work/gen`, compiles `sources` with them (and
/// `extra` clang flags) into a core module and turns that into the component `dst`.
#[allow(clippy::too_many_arguments)]
fn compile_c(
    root: &Path,
    sources: &[PathBuf],
    world: &str,
    clang: &Path,
    sysroot: &Path,
    extra: &[&str],
    work: &Path,
    dst: &Path,
) -> anyhow::Result<()> {
    let gen_dir = work.join("gen");
    if gen_dir.exists() {
        std::fs::remove_dir_all(&gen_dir)?;
    }
    std::fs::create_dir_all(&gen_dir)?;

    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_dir(root.join(WIT))?;
    let world = resolve.select_world(&[pkg], Some(world))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default().build().generate(&mut resolve, world, &mut files)?;
    let mut generated = Vec::new();
    for (name, bytes) in files.iter() {
        let path = gen_dir.join(name);
        std::fs::write(&path, bytes)?;
        if name.ends_with(".c") || name.ends_with(".o") {
            generated.push(path);
        }
    }

    let core = work.join("core.wasm");
    run(Command::new(clang)
        .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-Wall", "-Wextra"])
        .args(extra)
        .arg(format!("--sysroot={}", sysroot.display()))
        .arg("-I")
        .arg(&gen_dir)
        .args(sources)
        .args(&generated)
        .arg("-o")
        .arg(&core))?;

    let module = std::fs::read(&core)?;
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)?
        .adapter(
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .encode()
        .with_context(|| format!("cannot turn {} into a component", core.display()))?;
    std::fs::write(dst, component).with_context(|| format!("cannot write {}", dst.display()))?;
    Ok(())
}
