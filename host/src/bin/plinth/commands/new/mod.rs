//! `plinth new NAME --kind K --lang L`: a plugin project that builds and passes
//! `plinth test` as written: one working export of the kind, its plinth.toml, fixture cases,
//! a README with the build command, and the WIT it was generated against (`wit/v0.1.0`).

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
    ("types.wit", include_str!("../../../../../wit/v0.1.0/types.wit")),
    ("node.wit", include_str!("../../../../../wit/v0.1.0/node.wit")),
    ("tool.wit", include_str!("../../../../../wit/v0.1.0/tool.wit")),
    ("trigger.wit", include_str!("../../../../../wit/v0.1.0/trigger.wit")),
    ("listener.wit", include_str!("../../../../../wit/v0.1.0/listener.wit")),
    ("worlds.wit", include_str!("../../../../../wit/v0.1.0/worlds.wit")),
];

/// One export per kind: its name, what it does, its source, and fixture cases.
struct Template {
    export: &'static str,
    about: &'static str,
    rust: &'static str,
    cases: &'static [(&'static str, &'static str)],
}

fn template(kind: Kind) -> Template {
    match kind {
        Kind::Node => Template {
            export: "greet",
            about: "greets `params.name`",
            rust: RUST_NODE,
            cases: &[
                ("greets", r#"{"export": "greet", "input": {"name": "Ada"}, "expect": {"output": {"message": "Hello, Ada!"}}}"#),
                ("needs-a-name", r#"{"export": "greet", "input": {}, "expect": {"error": "invalid_input"}}"#),
            ],
        },
        Kind::Tool => Template {
            export: "word-count",
            about: "counts the words of `text`",
            rust: RUST_TOOL,
            cases: &[
                ("counts", r#"{"export": "word-count", "input": {"text": "one two  three"}, "expect": {"output": {"words": 3}}}"#),
                ("needs-text", r#"{"export": "word-count", "input": {"txt": 1}, "expect": {"error": "invalid_input"}}"#),
            ],
        },
        Kind::Trigger => Template {
            export: "tick",
            about: "emits one numbered event per poll, the cursor counting them",
            rust: RUST_TRIGGER,
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
            rust: RUST_LISTENER,
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

const RUST_NODE: &str = r#"//! __NAME__: a Plinth node. `greet` answers `{"message": "Hello, NAME!"}` for params `{"name"}`.

use plinth_guest::{Context, Error, Node, Spec, Value, json};

struct Plugin;

impl Node for Plugin {
    fn nodes() -> Vec<Spec> {
        vec![
            Spec::new("greet", "Greet someone by name.")
                .input(json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}))
                .output(json!({"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]})),
        ]
    }

    fn run(name: &str, _ctx: &Context, params: Value) -> Result<Value, Error> {
        match name {
            "greet" => {
                let who = params["name"].as_str().ok_or_else(|| Error::invalid_input("`name` (a string) is required"))?;
                Ok(json!({"message": format!("Hello, {who}!")}))
            }
            other => Err(Error::not_found(other)),
        }
    }
}

plinth_guest::export_node!(Plugin);
"#;

const RUST_TOOL: &str = r#"//! __NAME__: a Plinth tool. `word-count` answers `{"words": N}` for arguments `{"text"}`.

use plinth_guest::{Context, Error, Tool, ToolSpec, Value, json};

struct Plugin;

impl Tool for Plugin {
    fn tools() -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                "word-count",
                "Count the words of a text.",
                json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
            )
            .output(json!({"type": "object", "properties": {"words": {"type": "integer"}}, "required": ["words"]})),
        ]
    }

    fn call(name: &str, _ctx: &Context, args: Value) -> Result<Value, Error> {
        match name {
            "word-count" => {
                let text = args["text"].as_str().ok_or_else(|| Error::invalid_input("`text` (a string) is required"))?;
                Ok(json!({"words": text.split_whitespace().count()}))
            }
            other => Err(Error::not_found(other)),
        }
    }
}

plinth_guest::export_tool!(Plugin);
"#;

const RUST_TRIGGER: &str = r#"//! __NAME__: a Plinth trigger. `tick` emits one event `{"n": N}` per poll; the cursor is
//! the last N, kept by the host between polls.

use plinth_guest::{Context, Error, Poll, Spec, Trigger, json};

struct Plugin;

impl Trigger for Plugin {
    fn triggers() -> Vec<Spec> {
        vec![Spec::new("tick", "Emit one numbered event per poll.")]
    }

    fn poll(name: &str, _ctx: &Context, cursor: Option<String>) -> Result<Poll, Error> {
        if name != "tick" {
            return Err(Error::not_found(name));
        }
        let last: u64 = match cursor.as_deref() {
            None => 0,
            Some(c) => c.parse().map_err(|_| Error::invalid_input(format!("cursor `{c}` is not a count")))?,
        };
        let n = last + 1;
        Ok(Poll { events: vec![json!({"n": n})], cursor: Some(n.to_string()), next_poll_ms: Some(1000) })
    }
}

plinth_guest::export_trigger!(Plugin);
"#;

const RUST_LISTENER: &str = r#"//! __NAME__: a Plinth listener. `webhook` turns each JSON body it receives into one
//! `webhook.received` event.

use plinth_guest::{Context, Dispatch, Error, Listener, ListenerSpec, Message, Response};

struct Plugin;

impl Listener for Plugin {
    fn listeners() -> Vec<ListenerSpec> {
        vec![ListenerSpec::new("webhook", "generic", "Dispatch each JSON webhook as an event.")]
    }

    fn handle(name: &str, _ctx: &Context, message: Message) -> Result<Response, Error> {
        if name != "webhook" {
            return Err(Error::not_found(name));
        }
        let payload = message.json()?;
        Ok(Response { dispatches: vec![Dispatch { event: "webhook.received".into(), payload }], reply: None })
    }
}

plinth_guest::export_listener!(Plugin);
"#;

/// Where the guest SDK of this plinth's checkout is, if it is still there.
fn sdk_path() -> Option<PathBuf> {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-sdk")).canonicalize().ok()
}

/// Names Cargo refuses for a package (Rust keywords and its own reserved names).
const NOT_A_PACKAGE: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "try",
    "gen",
    "test",
    "core",
    "std",
    "alloc",
    "proc_macro",
    "proc-macro",
];

/// The registry's naming rule (the project installs under this name), and a name Cargo
/// takes for a package.
fn check_name(name: &str) -> Result<(), Failure> {
    plinth::registry::check_name("name", name).map_err(|reason| Failure { code: 2, error: anyhow!("{reason}") })?;
    if NOT_A_PACKAGE.contains(&name) || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(Failure { code: 2, error: anyhow!("`{name}` is not a name Cargo takes for a package: pick another") });
    }
    Ok(())
}

fn files(args: &NewArgs) -> Result<Vec<(String, String)>, Failure> {
    let t = template(args.kind);
    let name = &args.name;
    let krate = name.replace('-', "_");
    let kind = args.kind;
    let mut out: Vec<(String, String)> = Vec::new();
    match args.lang {
        Lang::Rust => {
            let (dep, how) = match sdk_path() {
                Some(p) => (
                    format!("plinth-guest = {{ path = {:?} }}", p.display().to_string()),
                    "# The Plinth guest SDK of the checkout this project was made from. To build elsewhere,\n\
                     # point it at a plinth checkout (path = \"…/plinth/guest-sdk\") or its git repository\n\
                     # (git = \"…\"); once plinth-guest is on crates.io, `plinth-guest = \"0.1\"`.",
                ),
                None => (
                    "plinth-guest = \"0.1\"".to_string(),
                    "# The Plinth guest SDK: point this at a plinth checkout (path = \"…/plinth/guest-sdk\")\n\
                     # until plinth-guest is on crates.io.",
                ),
            };
            out.push((
                "Cargo.toml".into(),
                format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
                     [lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\n{how}\n{dep}\n\n\
                     # A project of its own, even inside another workspace.\n[workspace]\n\n\
                     # Small, fast wasm (what the plinth samples use).\n\
                     [profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\nstrip = true\ndebug = false\n"
                ),
            ));
            out.push(("src/lib.rs".into(), t.rust.replace("__NAME__", name)));
            out.push((".gitignore".into(), "/target\n/Cargo.lock\n".into()));
        }
        other => {
            let lang = match other {
                Lang::Python => "python",
                Lang::Js => "js",
                _ => "c",
            };
            return Err(Failure {
                code: 2,
                error: anyhow!(
                    "`--lang {lang}` projects are not generated by this plinth yet: start from the README's \
                     \"Writing a plugin in Python, JavaScript or C\" (the same WIT, tests and `plinth test` apply), or use --lang rust"
                ),
            });
        }
    }
    let entry = format!("target/wasm32-wasip2/release/{krate}.wasm");
    out.push((
        "plinth.toml".into(),
        format!(
            "name = \"{name}\"\nversion = \"0.1.0\"\ndescription = \"A Plinth {kind}: {about}.\"\n\
             entry = \"{entry}\"\napi = \"0.1.0\"\n\n[provides]\n{kind} = [\"{export}\"]\n\n\
             [limits]\nfuel = 100000000\ntimeout_ms = 1000\n",
            about = t.about,
            export = t.export,
        ),
    ));
    for (case, body) in t.cases {
        out.push((format!("tests/{case}.json"), format!("{body}\n")));
    }
    for (file, text) in WIT {
        out.push((format!("wit/v0.1.0/{file}"), text.to_string()));
    }
    out.push((
        "README.md".into(),
        format!(
            "# {name}\n\nA Plinth {kind} plugin: `{export}` {about}.\n\n\
             ```sh\nrustup target add wasm32-wasip2            # once\n\
             cargo build --release --target wasm32-wasip2\n\
             plinth test                                 # the cases in tests/*.json, through the real host\n\
             plinth plugin install . --yes\n```\n\n\
             Each `tests/*.json` is a case (or a list of them): `export`, `input`, and `expect` as\n\
             `{{\"output\": …}}`, `{{\"includes\": …}}` or `{{\"error\": \"invalid_input\"}}`; optional `kind`, `config`,\n\
             `data`, `tenant` and `limits` (`fuel`, `timeout_ms`, `memory`).\n\n\
             `wit/v0.1.0` is the `plinth:plugin` API this project was generated against, for\n\
             reference and for other-language bindings; the Rust SDK carries its own copy.\n",
            about = t.about,
            export = t.export,
        ),
    ));
    Ok(out)
}

pub fn run(args: NewArgs) -> Result<(), Failure> {
    check_name(&args.name)?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(Failure { code: 1, error: anyhow!("{} exists and is not empty: pick another --dir", dir.display()) });
    }
    let files = files(&args)?;
    for (rel, text) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| anyhow!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
    }
    eprintln!("wrote {} ({} files): a {} `{}` in Rust", dir.display(), files.len(), args.kind, template(args.kind).export);
    eprintln!("next: cd {} && cargo build --release --target wasm32-wasip2 && plinth test", dir.display());
    Ok(())
}
