//! Runs the report's "server path against its peers" section alone and prints its table:
//! `cargo run --release -p plinth-benches --bin server-peers [-- --quick]` (after
//! `cargo xtask build-guests` and `pip install -r benches/peers/requirements.txt`).

use plinth::Runtime;
use plinth_benches::serve::ServeFixture;
use plinth_benches::*;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let args = args_of_size(100);
    let runtime = Runtime::new().expect("runtime");
    let warm = load(&runtime, "text_classifier", 2);
    let want: serde_json::Value = serde_json::from_str(&classify_native(&args)).expect("json");
    let served = ServeFixture::start();
    let rows = peers::measure(quick, &served, &warm, &args, &want);
    print!("{}", peers::section(&rows));
    for (what, measured, ok) in peers::targets(&rows) {
        println!("- {what}: {measured} ({})", ok.map_or("not measured", |ok| if ok { "met" } else { "missed" }));
    }
}
