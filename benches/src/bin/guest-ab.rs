//! A/B of guest builds: `cargo run --release -p plinth-benches --bin guest-ab -- A.wasm
//! B.wasm [ROUNDS]` times the classifier's `classify` tool in two components against each
//! other, interleaved (a block of each in turn, `ROUNDS` times) so this VM's drift hits
//! both alike: a reused instance and a pre-warmed one per component, plus the native
//! function as the floor. For comparing build flags or SDK entry points, where two runs of
//! `profile-row` differ by more than the change being measured.

use plinth::Runtime;
use plinth_benches::measure::{Row, Stat, measure_interleaved};
use plinth_benches::*;

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (a, b) = match argv.as_slice() {
        [a, b, ..] => (a.clone(), b.clone()),
        _ => {
            eprintln!("usage: guest-ab A.wasm B.wasm [ROUNDS]");
            std::process::exit(2);
        }
    };
    let rounds: usize = argv.get(2).map(|r| r.parse().expect("ROUNDS is a number")).unwrap_or(20);
    let args = args_of_size(100);
    let runtime = Runtime::new().expect("runtime");
    let options = plinth::LoadOptions { warm_instances: Some(2), ..plinth::LoadOptions::default() };
    let pa = runtime.load_file_with(&a, &options).expect("load A");
    let pb = runtime.load_file_with(&b, &options).expect("load B");
    // Both must compute the same thing, or the comparison says nothing.
    let answer = |p: &plinth::Plugin| serde_json::from_str::<serde_json::Value>(&plinth_call(p, &args)).expect("JSON answer");
    assert_eq!(answer(&pa), answer(&pb), "A and B answer differently");
    let (mut ra, mut rb) = (reused(&pa), reused(&pb));
    let n = rounds * 500;
    let (qa, qb) = (pa.clone(), pb.clone());
    let mut rows = vec![
        ("native", Row::new(n, || {}, || drop(std::hint::black_box(classify_native(&args))))),
        ("A reused", Row::new(n, || {}, || drop(ra.call_tool("classify", &Default::default(), &args).expect("A")))),
        ("B reused", Row::new(n, || {}, || drop(rb.call_tool("classify", &Default::default(), &args).expect("B")))),
        ("A warm", Row::new(n / 5, || wait_full(&qa, 2), || drop(plinth_call(&pa, &args)))),
        ("B warm", Row::new(n / 5, || wait_full(&qb, 2), || drop(plinth_call(&pb, &args)))),
    ];
    let stats = measure_interleaved(&mut rows, rounds, || {
        wait_full(&qa, 2);
        wait_full(&qb, 2);
    });
    let native = stats[0].median.as_secs_f64();
    let show = |name: &str, s: &Stat| {
        let m = s.median.as_secs_f64();
        println!("{name:10} median {:8.2} µs  p99 {:8.2} µs  {:5.2}× native", m * 1e6, s.p99.as_secs_f64() * 1e6, m / native);
    };
    for ((name, _), s) in rows.iter().zip(&stats) {
        show(name, s);
    }
}
