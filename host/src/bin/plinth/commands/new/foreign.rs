//! Python, JavaScript and C projects: the same export and fixture cases as the Rust ones,
//! built with the toolchains (and pinned versions) this repository builds its own
//! foreign-language guests with: Python and JavaScript against the project's own
//! `wit/v0.1.0`, C with the checkout's `cargo xtask build-c`.

use plinth::Kind;

use super::{Lang, Project};

/// The toolchain pins of this checkout's guests, so a project builds with what CI tests.
const PYTHON_PINS: &str = include_str!("../../../../../../guests/python/requirements.txt");
const JS_PINS: &str = include_str!("../../../../../../guests/js/package.json");

const JSON_H: &str = include_str!("templates/json.h");

fn source(kind: Kind, lang: Lang) -> &'static str {
    match (lang, kind) {
        (Lang::Python, Kind::Node) => include_str!("templates/node.py"),
        (Lang::Python, Kind::Tool) => include_str!("templates/tool.py"),
        (Lang::Python, Kind::Trigger) => include_str!("templates/trigger.py"),
        (Lang::Python, Kind::Listener) => include_str!("templates/listener.py"),
        (Lang::Js, Kind::Node) => include_str!("templates/node.js"),
        (Lang::Js, Kind::Tool) => include_str!("templates/tool.js"),
        (Lang::Js, Kind::Trigger) => include_str!("templates/trigger.js"),
        (Lang::Js, Kind::Listener) => include_str!("templates/listener.js"),
        (_, Kind::Node) => include_str!("templates/node.c"),
        (_, Kind::Tool) => include_str!("templates/tool.c"),
        (_, Kind::Trigger) => include_str!("templates/trigger.c"),
        (_, Kind::Listener) => include_str!("templates/listener.c"),
    }
}

/// The interface a world exports, as the Python class and JS object are named.
fn class(kind: Kind) -> &'static str {
    match kind {
        Kind::Node => "Node",
        Kind::Tool => "Tool",
        Kind::Trigger => "Trigger",
        Kind::Listener => "Listener",
    }
}

pub(super) fn python(name: &str, kind: Kind) -> Project {
    let pins: String = PYTHON_PINS.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    let world = format!("{kind}-plugin");
    Project {
        files: vec![
            ("app.py".into(), source(kind, Lang::Python).replace("__NAME__", name)),
            ("requirements.txt".into(), pins),
            (".gitignore".into(), "/*.wasm\n__pycache__/\n/wit_world/\n/componentize_py_*\n".into()),
        ],
        entry: format!("{name}.wasm"),
        language: "Python",
        setup: vec![("pip install -r requirements.txt".into(), "componentize-py, once".into())],
        build: vec![format!("componentize-py -d wit/v0.1.0 -w {world} componentize app -o {name}.wasm")],
        notes: format!(
            "The class is named after the exported interface (`{class}`). `componentize-py -d wit/v0.1.0 -w {world}\n\
             bindings .` writes the `wit_world` package for your editor. Errors: `raise\n\
             Err(types.PluginError_InvalidInput(...))`, `PluginError_NotFound`, `PluginError_Failed(types.Failure(message,\n\
             retryable, details))`; an uncaught exception traps the call. The component is ~18 MB (CPython):\n\
             the first load compiles it for a few seconds, later ones read the code cache.\n",
            class = class(kind),
        ),
        limits: super::INTERPRETER_LIMITS,
    }
}

/// The pinned jco and componentize-js versions from this checkout's `guests/js/package.json`.
fn js_pins() -> String {
    let pins: serde_json::Value = serde_json::from_str(JS_PINS).unwrap_or_default();
    let deps = pins.get("devDependencies").cloned().unwrap_or_else(|| serde_json::json!({}));
    serde_json::to_string_pretty(&deps).unwrap_or_default().replace('\n', "\n  ")
}

pub(super) fn js(name: &str, kind: Kind) -> Project {
    let world = format!("{kind}-plugin");
    let build = format!(
        "jco componentize app.js --wit wit/v0.1.0 --world-name {world} --backend quickjs --backend-qjs-disable-async -o {name}.wasm"
    );
    let package = format!(
        "{{\n  \"name\": \"{name}\",\n  \"version\": \"0.1.0\",\n  \"private\": true,\n  \"type\": \"module\",\n  \
         \"scripts\": {{\n    \"build\": {build:?}\n  }},\n  \"devDependencies\": {}\n}}\n",
        js_pins()
    );
    Project {
        files: vec![
            ("app.js".into(), source(kind, Lang::Js).replace("__NAME__", name)),
            ("package.json".into(), package),
            (".gitignore".into(), "/*.wasm\n/node_modules/\n".into()),
        ],
        entry: format!("{name}.wasm"),
        language: "JavaScript",
        setup: vec![("npm install".into(), "jco and componentize-js, once".into())],
        build: vec!["npm run build".into()],
        notes: format!(
            "`npm run build` runs `{build}`.\n\n\
             `app.js` exports `{export}`, named after the interface. Records use camelCase fields, variants\n\
             are `{{ tag, val }}`, a `u64` is a number, `none` is `null`, and a thrown object with a `payload` becomes the\n\
             WIT error. The QuickJS backend gives a ~1.6 MB component; do not add `--backend-qjs-stub-wasi`\n\
             (a stub traps before an uncaught exception is reported) or `--aot` (it downloads a binary).\n",
            export = class(kind).to_lowercase(),
        ),
        limits: super::INTERPRETER_LIMITS,
    }
}

pub(super) fn c(name: &str, kind: Kind) -> Project {
    let world = format!("{kind}-plugin");
    let checkout = match super::checkout() {
        Some(dir) => format!("${{PLINTH_CHECKOUT:-{}}}", shell_quote(&dir.display().to_string())),
        None => "${PLINTH_CHECKOUT:?set PLINTH_CHECKOUT to a plinth checkout}".into(),
    };
    let script = format!(
        "#!/bin/sh\n\
         # Builds {name}.wasm with a plinth checkout's C toolchain (`cargo xtask build-c`: bindings\n\
         # from the wit-bindgen-c crate, clang with wasi-libc, the component from wit-component).\n\
         # PLINTH_CHECKOUT picks another checkout than the one this project was made from.\n\
         set -eu\n\
         here=$(cd \"$(dirname \"$0\")\" && pwd)\n\
         cd \"{checkout}\"\n\
         exec cargo xtask build-c --world {world} -o \"$here/{name}.wasm\" \"$here/app.c\"\n"
    );
    Project {
        files: vec![
            ("app.c".into(), source(kind, Lang::C).replace("__NAME__", name)),
            ("json.h".into(), JSON_H.into()),
            ("build.sh".into(), script),
            (".gitignore".into(), "/*.wasm\n".into()),
        ],
        entry: format!("{name}.wasm"),
        language: "C",
        setup: vec![(
            "sudo apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32".into(),
            "Debian 12, once; build.sh also needs a plinth checkout and Rust".into(),
        )],
        build: vec!["./build.sh".into()],
        notes: format!(
            "`build.sh` runs `cargo xtask build-c --world {world}` in the plinth checkout; it says where the\n\
             generated `{header}.h` is (for your editor). `json.h` has the JSON reading and writing the\n\
             export needs. Ownership follows wit-bindgen's C rules: an export frees its arguments, and\n\
             returns heap memory. Any toolchain that makes a component for the `{world}` world of\n\
             `wit/v0.1.0` works too (wit-bindgen's C generator with wasi-sdk, for one).\n",
            header = world.replace('-', "_"),
        ),
        limits: super::COMPILED_LIMITS,
    }
}

/// `s` as it may stand between double quotes in a shell script.
fn shell_quote(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
        out
    })
}
