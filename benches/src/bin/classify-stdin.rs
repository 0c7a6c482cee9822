//! Row 8a of the benchmarks: the text classifier as a process per call (JSON on stdin,
//! JSON on stdout), the way engines without a plugin runtime isolate steps.

use std::io::{Read, Write};

fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).expect("stdin");
    let out = plinth_benches::classify_native(&input);
    std::io::stdout().write_all(out.as_bytes()).expect("stdout");
}
