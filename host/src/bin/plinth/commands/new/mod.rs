//! `plinth new NAME --kind K --lang L`: a plugin project that builds and passes
//! `plinth test` as written: one working export of the kind, its plinth.toml, fixture cases,
//! a README with the build command, and the WIT it was generated against (`wit/v0.1.0`).
//! The export and its cases are the same in every language (host/tests/new.rs adds edge
//! cases that every language's template must pass alike).

mod foreign;
mod rust;

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, ValueEnum};
use plinth::Kind;

use crate::exit::Failure;

/// Languages a project can be written in.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
    C,
}

/// Write a new plugin project.
#[derive(Args)]
pub struct NewArgs {
    /// The plugin's name (lowercase letters, digits and `-`).
    name: String,
    /// node, tool, trigger or listener.
    #[arg(long)]
    kind: Kind,
    /// The language of its source.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// Where to write it (default: ./NAME). Must not exist, or be empty.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// The WIT of the API version projects are generated against, as the host has it.
const WIT: &[(&str, &str)] = &[
    ("types.wit", include_str!("../../../../../../wit/v0.1.0/types.wit")),
    ("node.wit", include_str!("../../../../../../wit/v0.1.0/node.wit")),
    ("tool.wit", include_str!("../../../../../../wit/v0.1.0/tool.wit")),
    ("trigger.wit", include_str!("../../../../../../wit/v0.1.0/trigger.wit")),
    ("listener.wit", include_str!("../../../../../../wit/v0.1.0/listener.wit")),
    ("worlds.wit", include_str!("../../../../../../wit/v0.1.0/worlds.wit")),
];

/// One export per kind: its name, what it does, its source, and fixture cases.
struct Template {
    export: &'static str,
    about: &'static str,
    cases: &'static [(&'static str, &'static str)],
}

fn template(kind: Kind) -> Template {
    match kind {
        Kind::Node => Template {
            export: "greet",
            about: "greets `params.name`",
            cases: &[
                ("greets", r#"{"export": "greet", "input": {"name": "Ada"}, "expect": {"output": {"message": "Hello, Ada!"}}}"#),
                ("needs-a-name", r#"{"export": "greet", "input": {}, "expect": {"error": "invalid_input"}}"#),
            ],
        },
        Kind::Tool => Template {
            export: "word-count",
            about: "counts the words of `text`",
            cases: &[
                ("counts", r#"{"export": "word-count", "input": {"text": "one two  three"}, "expect": {"output": {"words": 3}}}"#),
                ("needs-text", r#"{"export": "word-count", "input": {"txt": 1}, "expect": {"error": "invalid_input"}}"#),
            ],
        },
        Kind::Trigger => Template {
            export: "tick",
            about: "emits one numbered event per poll, the cursor counting them",
            cases: &[
                (
                    "first-poll",
                    r#"{"export": "tick", "input": {}, "expect": {"output": {"events": [{"n": 1}], "cursor": "1", "next_poll_ms": 1000}}}"#,
                ),
                (
                    "next-poll",
                    r#"{"export": "tick", "input": {"cursor": "41"}, "expect": {"includes": {"events": [{"n": 42}], "cursor": "42"}}}"#,
                ),
                ("bad-cursor", r#"{"export": "tick", "input": {"cursor": "x"}, "expect": {"error": "invalid_input"}}"#),
            ],
        },
        Kind::Listener => Template {
            export: "webhook",
            about: "turns each JSON webhook into a `webhook.received` event",
            cases: &[
                (
                    "dispatches",
                    r#"{"export": "webhook", "input": {"method": "POST", "path": "/", "headers": {}, "body": "{\"order\": 7}"}, "expect": {"output": {"dispatches": [{"event": "webhook.received", "payload": {"order": 7}}], "reply": null}}}"#,
                ),
                (
                    "refuses-non-json",
                    r#"{"export": "webhook", "input": {"method": "POST", "body": "not json"}, "expect": {"error": "invalid_input"}}"#,
                ),
            ],
        },
    }
}

/// What a language adds to a project: its files, where its component is built, and the
/// commands that build it (for the README and the last line `plinth new` prints).
struct Project {
    files: Vec<(String, String)>,
    entry: String,
    language: &'static str,
    /// One-time commands, each with what it is for.
    setup: Vec<(String, String)>,
    build: Vec<String>,
    notes: String,
    /// The `[limits]` lines of its plinth.toml.
    limits: &'static str,
}

/// Limits for compiled code: a call of the templates takes well under 1 M fuel.
const COMPILED_LIMITS: &str = "fuel = 100000000\ntimeout_ms = 1000\n";

/// Limits for an interpreter in the component (measured on the listener with a 270 KB JSON
/// body: Python 0.54 G fuel and 190 ms, JavaScript 0.72 G and 240 ms; C 15 M and 8 ms).
const INTERPRETER_LIMITS: &str = "# An interpreter runs in the component: a 270 KB JSON body takes ~0.5 G fuel in Python\n\
                                  # and ~0.7 G in JavaScript (15 M in C).\nfuel = 2000000000\ntimeout_ms = 2000\n";

/// The plinth checkout this binary was built from, if it is still there (its guest SDK,
/// for Rust projects; its C toolchain, for C ones).
fn checkout() -> Option<PathBuf> {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).canonicalize().ok().filter(|p| p.join("wit/v0.1.0").is_dir())
}

/// The registry's naming rule (the project installs under this name), and a name Cargo
/// takes for a package.
fn check_name(name: &str) -> Result<(), Failure> {
    plinth::registry::check_name("name", name).map_err(|reason| Failure { code: 2, error: anyhow!("{reason}") })?;
    if rust::NOT_A_PACKAGE.contains(&name) || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(Failure { code: 2, error: anyhow!("`{name}` is not a name Cargo takes for a package: pick another") });
    }
    Ok(())
}

/// Every file of the project: the language's own, then plinth.toml, the cases, the WIT and
/// the README, which are the same for every language but for what `project` says.
fn files(args: &NewArgs, project: &Project) -> Vec<(String, String)> {
    let t = template(args.kind);
    let (name, kind) = (args.name.as_str(), args.kind);
    let mut out = project.files.clone();
    out.push((
        "plinth.toml".into(),
        format!(
            "name = \"{name}\"\nversion = \"0.1.0\"\ndescription = \"A Plinth {kind}: {about}.\"\n\
             entry = \"{entry}\"\napi = \"0.1.0\"\n\n[provides]\n{kind} = [\"{export}\"]\n\n\
             [limits]\n{limits}",
            about = t.about,
            export = t.export,
            entry = project.entry,
            limits = project.limits,
        ),
    ));
    for (case, body) in t.cases {
        out.push((format!("tests/{case}.json"), format!("{body}\n")));
    }
    for (file, text) in WIT {
        out.push((format!("wit/v0.1.0/{file}"), text.to_string()));
    }
    let width = project.setup.iter().map(|(c, _)| c.len()).max().unwrap_or(0).max(24);
    let mut commands = String::new();
    for (command, why) in &project.setup {
        commands.push_str(&format!("{command:width$}  # {why}\n"));
    }
    for command in &project.build {
        commands.push_str(&format!("{command}\n"));
    }
    commands.push_str(&format!("{:width$}  # the cases in tests/*.json, through the real host\n", "plinth test"));
    commands.push_str("plinth plugin install . --yes\n");
    out.push((
        "README.md".into(),
        format!(
            "# {name}\n\nA Plinth {kind} plugin in {language}: `{export}` {about}.\n\n```sh\n{commands}```\n\n\
             Each `tests/*.json` is a case (or a list of them): `export`, `input`, and `expect` as\n\
             `{{\"output\": …}}`, `{{\"includes\": …}}` or `{{\"error\": \"invalid_input\"}}`; optional `kind`, `config`,\n\
             `data`, `tenant` and `limits` (`fuel`, `timeout_ms`, `memory`).\n\n{notes}",
            language = project.language,
            about = t.about,
            export = t.export,
            notes = project.notes,
        ),
    ));
    out
}

fn project(args: &NewArgs) -> Project {
    match args.lang {
        Lang::Rust => rust::project(&args.name, args.kind),
        Lang::Python => foreign::python(&args.name, args.kind),
        Lang::Js => foreign::js(&args.name, args.kind),
        Lang::C => foreign::c(&args.name, args.kind),
    }
}

pub fn run(args: NewArgs) -> Result<(), Failure> {
    check_name(&args.name)?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(Failure { code: 1, error: anyhow!("{} exists and is not empty: pick another --dir", dir.display()) });
    }
    let project = project(&args);
    let files = files(&args, &project);
    for (rel, text) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| anyhow!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
        #[cfg(unix)]
        if rel.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| anyhow!("cannot make {} executable: {e}", path.display()))?;
        }
    }
    eprintln!("wrote {} ({} files): a {} `{}` in {}", dir.display(), files.len(), args.kind, template(args.kind).export, project.language);
    let mut next = project.build;
    next.push("plinth test".into());
    eprintln!("next: cd {} && {}  (one-time setup: see its README)", dir.display(), next.join(" && "));
    Ok(())
}
