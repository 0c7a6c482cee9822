//! Per-call latency of the text-classifier tool: native floor vs a Plinth call (fresh
//! instance per call). Needs `cargo xtask build-guests` first.

use criterion::{Criterion, criterion_group, criterion_main};
use plinth::{CallContext, Runtime};
use plinth_benches::{ARGS_100B, classify_native, guest};

fn call(c: &mut Criterion) {
    let mut g = c.benchmark_group("classify_100B");
    g.bench_function("native", |b| b.iter(|| classify_native(std::hint::black_box(ARGS_100B))));

    let runtime = Runtime::new().expect("runtime");
    let plugin = runtime.load_file(guest("text_classifier")).expect("run `cargo xtask build-guests` first");
    let ctx = CallContext::default();
    g.bench_function("plinth_fresh_instance", |b| {
        b.iter(|| plugin.call_tool("classify", &ctx, std::hint::black_box(ARGS_100B)).expect("call"))
    });
    g.finish();
}

criterion_group!(benches, call);
criterion_main!(benches);
