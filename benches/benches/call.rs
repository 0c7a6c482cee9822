//! Criterion benches of per-call latency (100 B input). `cargo xtask bench` writes the
//! report with medians, p99s and ratios; this is for `cargo bench` comparisons.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use plinth::CallContext;
use plinth_benches::*;

fn timed<F: FnMut()>(iters: u64, mut prepare: impl FnMut(), mut f: F) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        prepare();
        let t = Instant::now();
        f();
        total += t.elapsed();
    }
    total
}

fn rows(c: &mut Criterion) {
    let Fixture { args, warm, cold, legacy, reused: mut reused_instance, engine_style, envelope: env, mut http, exe, .. } =
        Fixture::new(env!("CARGO_BIN_EXE_classify-stdin").into());

    let mut g = c.benchmark_group("classify_100B");
    g.bench_function("1_native", |b| b.iter(|| classify_native(std::hint::black_box(&args))));
    g.bench_function("2_plinth_warm", |b| b.iter_custom(|n| timed(n, || wait_full(&warm, 2), || drop(plinth_call(&warm, &args)))));
    g.bench_function("3_plinth_cold", |b| b.iter(|| plinth_call(&cold, &args)));
    g.bench_function("4_reused_instance", |b| {
        b.iter(|| reused_instance.call_tool("classify", &CallContext::default(), &args).expect("call"))
    });
    g.bench_function("5_plinth_legacy", |b| b.iter_custom(|n| timed(n, || wait_full(&legacy, 2), || drop(legacy_call(&legacy, &args)))));
    g.bench_function("6_engine_style", |b| b.iter(|| engine_style.call(&env)));
    g.bench_function("8b_http_service", |b| b.iter(|| http.call(&args)));
    g.sample_size(20);
    g.bench_function("8a_subprocess", |b| b.iter(|| subprocess_call(&exe, &args)));
    g.finish();
}

criterion_group!(benches, rows);
criterion_main!(benches);
