//! Rust projects: a crate of its own (`[workspace]`) that depends on `plinth-guest` and
//! builds with `cargo build --release --target wasm32-wasip2`.

use std::path::PathBuf;

use plinth::Kind;

use super::Project;

const RUST_NODE: &str = r#"//! __NAME__: a Plinth node. `greet` answers `{"message": "Hello, NAME!"}` for params `{"name"}`.
//!
//! The params are parsed straight into `Params` and the answer is serialized from `Greeting`
//! (the SDK's typed entry point, `run_typed`). `run`, with a `serde_json::Value` in and out,
//! works too, at the cost of building that `Value` on every call.

use std::borrow::Cow;

use plinth_guest::{Context, Error, Input, Node, Output, Spec, json};
use serde::{Deserialize, Serialize};

struct Plugin;

#[derive(Deserialize)]
struct Params<'a> {
    // Borrowed from the host's JSON unless it holds escapes.
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Serialize)]
struct Greeting {
    message: String,
}

impl Node for Plugin {
    fn nodes() -> Vec<Spec> {
        vec![
            Spec::new("greet", "Greet someone by name.")
                .input(json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}))
                .output(json!({"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]})),
        ]
    }

    fn run_typed(name: &str, _ctx: &Context, params: Input<'_>) -> Result<Output, Error> {
        match name {
            "greet" => {
                let params: Params = params.parse()?;
                Output::json(&Greeting { message: format!("Hello, {}!", params.name) })
            }
            other => Err(Error::not_found(other)),
        }
    }
}

plinth_guest::export_node!(Plugin);
"#;

const RUST_TOOL: &str = r#"//! __NAME__: a Plinth tool. `word-count` answers `{"words": N}` for arguments `{"text"}`.
//!
//! The arguments are parsed straight into `Args` and the answer is serialized from `Count`
//! (the SDK's typed entry point, `call_typed`). `call`, with a `serde_json::Value` in and
//! out, works too, at the cost of building that `Value` on every call.

use std::borrow::Cow;

use plinth_guest::{Context, Error, Input, Output, Tool, ToolSpec, json};
use serde::{Deserialize, Serialize};

struct Plugin;

#[derive(Deserialize)]
struct Args<'a> {
    // Borrowed from the host's JSON unless it holds escapes.
    #[serde(borrow)]
    text: Cow<'a, str>,
}

#[derive(Serialize)]
struct Count {
    words: usize,
}

impl Tool for Plugin {
    fn tools() -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                "word-count",
                "Count the words of a text (separated by ASCII whitespace).",
                json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
            )
            .output(json!({"type": "object", "properties": {"words": {"type": "integer"}}, "required": ["words"]})),
        ]
    }

    fn call_typed(name: &str, _ctx: &Context, args: Input<'_>) -> Result<Output, Error> {
        match name {
            "word-count" => {
                let args: Args = args.parse()?;
                Output::json(&Count { words: args.text.split_ascii_whitespace().count() })
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
        // A count is 1 to 19 digits: it fits a u64, +1 too.
        let last: u64 = match cursor.as_deref() {
            None => 0,
            Some(c) if (1..=19).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()) => c.parse().unwrap_or_default(),
            Some(c) => return Err(Error::invalid_input(format!("cursor `{c}` is not a count"))),
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
    super::checkout().map(|c| c.join("guest-sdk")).filter(|p| p.is_dir())
}

/// Names Cargo refuses for a package (Rust keywords and its own reserved names).
pub(super) const NOT_A_PACKAGE: &[&str] = &[
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

fn source(kind: Kind) -> &'static str {
    match kind {
        Kind::Node => RUST_NODE,
        Kind::Tool => RUST_TOOL,
        Kind::Trigger => RUST_TRIGGER,
        Kind::Listener => RUST_LISTENER,
    }
}

pub(super) fn project(name: &str, kind: Kind) -> Project {
    let krate = name.replace('-', "_");
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
    // The node and tool templates parse their input into serde types (the typed entry).
    let serde = match kind {
        Kind::Node | Kind::Tool => "serde = { version = \"1\", features = [\"derive\"] }\n",
        Kind::Trigger | Kind::Listener => "",
    };
    let cargo = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\n{how}\n{dep}\n{serde}\n\
         # A project of its own, even inside another workspace.\n[workspace]\n\n\
         # Fast wasm, as the plinth samples build: opt-level 3 made the sample classifier's\n\
         # calls 10-13 % faster than \"s\" for a 24 % larger component.\n\
         [profile.release]\nopt-level = 3\nlto = true\ncodegen-units = 1\nstrip = true\ndebug = false\n"
    );
    Project {
        files: vec![
            ("Cargo.toml".into(), cargo),
            ("src/lib.rs".into(), source(kind).replace("__NAME__", name)),
            (".gitignore".into(), "/target\n/Cargo.lock\n".into()),
        ],
        entry: format!("target/wasm32-wasip2/release/{krate}.wasm"),
        language: "Rust",
        setup: vec![("rustup target add wasm32-wasip2".into(), "once".into())],
        build: vec!["cargo build --release --target wasm32-wasip2".into()],
        notes: "`wit/v0.1.0` is the `plinth:plugin` API this project was generated against, for reference;\n\
                the Rust SDK (`plinth-guest`) carries its own copy.\n"
            .into(),
        limits: super::COMPILED_LIMITS,
    }
}
