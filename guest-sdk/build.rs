//! Bakes the absolute path of the WIT contract into the export macros: `wit_bindgen::generate!`
//! resolves relative paths against the crate that *expands* the macro (the plugin), not
//! against this SDK.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let wit = manifest.join("../wit/v0.1.0").canonicalize().expect("wit/v0.1.0 next to guest-sdk/");
    println!("cargo:rerun-if-changed={}", wit.display());
    let wit = wit.to_str().expect("UTF-8 path").replace('\\', "/");
    let src = format!(
        r#"
/// Generates the bindings of one plugin world in the calling crate, with the shared types
/// and the host import taken from this SDK.
#[doc(hidden)]
#[macro_export]
macro_rules! __plinth_generate {{
    ($world:literal) => {{
        ::plinth_guest::__private::wit_bindgen::generate!({{
            path: "{wit}",
            world: $world,
            with: {{
                "plinth:plugin/types@0.1.0": ::plinth_guest::bindings::plinth::plugin::types,
                "plinth:plugin/host@0.1.0": ::plinth_guest::bindings::plinth::plugin::host,
            }},
            runtime_path: "::plinth_guest::__private::wit_bindgen::rt",
        }});
    }};
}}
"#
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("generate.rs");
    std::fs::write(out, src).unwrap();
}
