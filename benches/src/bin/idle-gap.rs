//! The report's "calls after an idle gap" section on its own, for a quick A/B:
//! `cargo run --release -p plinth-benches --bin idle-gap [-- --quick]`. Prints the section's
//! markdown; the numbers of record come from `cargo xtask bench`.

use plinth::Runtime;
use plinth_benches::*;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let args = args_of_size(100);
    let runtime = Runtime::new().expect("runtime");
    let warm = load(&runtime, "text_classifier", 2);
    let cold = load(&runtime, "text_classifier", 0);
    let mut reused = reused(&cold);
    let want = classify_native(&args);
    assert_eq!(plinth_call(&warm, &args), want);
    let native = || drop(std::hint::black_box(classify_native(std::hint::black_box(&args))));
    let rows = idle::measure(quick, &native, &warm, &cold, &mut reused, &args);
    print!("{}", idle::section(&rows));
}
