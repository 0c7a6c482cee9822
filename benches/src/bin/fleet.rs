//! The report's "1,000 plugins" section alone: `cargo run --release -p plinth-benches --bin
//! fleet [-- --quick] [--n N]`, with `PLINTH_BIN` naming a `plinth` binary for the server
//! rows (`cargo build --release -p plinth`). Prints the section and the targets.

use plinth_benches::*;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = std::env::args().skip_while(|a| a != "--n").nth(1).map_or(1000, |v| v.parse().expect("--n N"));
    let args = args_of_size(100);
    let want = classify_native(&args);
    let bin = std::env::var_os("PLINTH_BIN").map(std::path::PathBuf::from);
    let rows = fleet::measure(n, bin.as_deref(), quick, &args, &want);
    print!("{}", fleet::section(&rows));
    for (what, measured, ok) in fleet::targets(&rows) {
        println!("- {what}: {measured} ({})", ok.map_or("not measured", |ok| if ok { "met" } else { "missed" }));
    }
}
