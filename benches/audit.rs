//! What the audit trail adds to the check path: building one decision event (pseudonyms,
//! masking) and handing it to the JSON Lines file sink, against the same with a no-op sink and
//! with auditing disabled; and how many events per second the file sink's writer sustains.
//!
//! The decision is computed once outside the loop: what is measured is the `record_decision`
//! call the guard makes after each check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use guard_core::audit::{AuditKey, AuditSink, Auditor, JsonlFileSink, NoopSink};
use guard_core::{Guard, MemoryOwnership, Session, ToolCall, DEFAULT_BLUEPRINT_YAML};
use serde_json::json;

fn auditor(guard: &Guard, sink: Option<Arc<dyn AuditSink>>, background: bool) -> Auditor {
    let mut b = Auditor::builder()
        .key(AuditKey::from_bytes([7; 32]))
        .blueprint(guard.blueprint(), DEFAULT_BLUEPRINT_YAML);
    if background {
        b = b.background(8192);
    }
    if let Some(sink) = sink {
        b = b.sink(sink);
    }
    b.build().unwrap()
}

/// Times only `record_decision`, pausing 20 µs between calls as a stream of checks would.
fn paced<'a>(
    auditor: &'a Auditor,
    call: &'a ToolCall,
    decision: &'a guard_core::Decision,
    latency: Duration,
) -> impl FnMut(u64) -> Duration + 'a {
    move |iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            auditor.record_decision(call, decision, latency);
            total += start.elapsed();
            let pause = Instant::now();
            while pause.elapsed() < Duration::from_micros(20) {
                std::hint::spin_loop();
            }
        }
        total
    }
}

/// Individually timed calls of `f`, `gap` apart (the pause untimed): median, p90, p99 in ns.
fn paced_percentiles(n: usize, gap: Duration, mut f: impl FnMut()) -> (u64, u64, u64) {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        f();
        samples.push(start.elapsed().as_nanos() as u64);
        let pause = Instant::now();
        while pause.elapsed() < gap {
            std::hint::spin_loop();
        }
    }
    samples.sort_unstable();
    let at = |p: usize| samples[(samples.len() - 1) * p / 100];
    (at(50), at(90), at(99))
}

fn bench(c: &mut Criterion) {
    let mut owners = MemoryOwnership::new();
    owners.insert("order", "A-1007", "C-7");
    owners.insert("order", "A-1008", "C-8");
    let guard = Guard::builder().ownership(owners).build().unwrap();
    let session = Session::authenticated("C-7", "s-1").identifier("c7@example.com");
    let ok_call = ToolCall::new("support-bot-prod", "lookup_order", session.clone())
        .with_id("call-1")
        .with_params(json!({"customer_id": "C-7", "order_id": "A-1007"}));
    let block_call = ToolCall::new("support-bot-prod", "lookup_order", session)
        .with_id("call-2")
        .with_params(json!({"customer_id": "C-8", "order_id": "A-1008"}));
    let ok = guard.pre_execution_check(&ok_call);
    let block = guard.pre_execution_check(&block_call);
    let latency = Duration::from_nanos(2_000);

    let dir = std::env::temp_dir().join(format!("guard-audit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file_sink = Arc::new(
        JsonlFileSink::builder(dir.join("audit.jsonl"))
            .max_bytes(32 * 1024 * 1024)
            .keep(1)
            .open()
            .unwrap(),
    );

    let disabled = Auditor::disabled();
    let noop = auditor(&guard, Some(Arc::new(NoopSink)), false);
    let file = auditor(&guard, Some(file_sink.clone()), false);
    let file_bg = auditor(&guard, Some(file_sink.clone()), true);

    let mut g = c.benchmark_group("audit/parts");
    let privacy = noop.privacy().clone();
    g.bench_function("pseudonym", |b| b.iter(|| privacy.pseudonym("C-1001")));
    g.bench_function("redact reason message", |b| {
        b.iter(|| {
            guard_core::audit::redact("order \"A-1008\" in `order_id` belongs to another customer")
        })
    });
    g.bench_function("build event (ok)", |b| {
        b.iter(|| noop.decision_event(&ok_call, &ok))
    });
    g.bench_function("serialize event (block)", |b| {
        let e = noop.decision_event(&block_call, &block);
        b.iter(|| e.to_json_line())
    });
    g.finish();

    // The per-check cost at a realistic rate: one event every 20 µs (50k checks/s), only the
    // `record_decision` call timed. Without the pause the loop produces events ten times faster
    // than any writer drains them and measures a saturated queue instead (next group).
    let mut g = c.benchmark_group("audit/record_decision_paced_20us");
    g.bench_function("disabled", |b| {
        b.iter_custom(paced(&disabled, &ok_call, &ok, latency))
    });
    g.bench_function("noop sink, built inline (ok)", |b| {
        b.iter_custom(paced(&noop, &ok_call, &ok, latency))
    });
    g.bench_function("file sink, built inline (ok)", |b| {
        b.iter_custom(paced(&file, &ok_call, &ok, latency))
    });
    g.bench_function("file sink, built in background (ok)", |b| {
        b.iter_custom(paced(&file_bg, &ok_call, &ok, latency))
    });
    g.bench_function("file sink, built in background (block)", |b| {
        b.iter_custom(paced(&file_bg, &block_call, &block, latency))
    });
    g.finish();
    file_bg.flush();
    eprintln!(
        "audit bench: background queue after paced runs: {:?}",
        file_bg.background_stats()
    );

    // Per-call percentiles (criterion reports means, which preemption on a shared machine
    // inflates): the check alone, and the check followed by recording its decision.
    for (name, gap) in [
        ("paced 20 µs", Duration::from_micros(20)),
        ("paced 100 µs", Duration::from_micros(100)),
    ] {
        let n = 50_000;
        let check = paced_percentiles(n, gap, || {
            std::hint::black_box(guard.pre_execution_check(&ok_call));
        });
        let with_inline = paced_percentiles(n, gap, || {
            let d = guard.pre_execution_check(&ok_call);
            file.record_decision(&ok_call, &d, latency);
        });
        let with_bg = paced_percentiles(n, gap, || {
            let d = guard.pre_execution_check(&ok_call);
            file_bg.record_decision(&ok_call, &d, latency);
        });
        let record_bg = paced_percentiles(n, gap, || {
            file_bg.record_decision(&ok_call, &ok, latency);
        });
        let record_bg_block = paced_percentiles(n, gap, || {
            file_bg.record_decision(&block_call, &block, latency);
        });
        for (what, (p50, p90, p99)) in [
            ("check alone", check),
            ("check + file sink, inline build", with_inline),
            ("check + file sink, background build", with_bg),
            ("record only, background (ok)", record_bg),
            ("record only, background (block)", record_bg_block),
        ] {
            eprintln!(
                "audit latency {name:<13} {what:<38} median {p50:>6} ns  p90 {p90:>6} ns  p99 {p99:>6} ns"
            );
        }
    }
    file_bg.flush();
    eprintln!(
        "audit bench: background queue after percentile runs: {:?}",
        file_bg.background_stats()
    );

    // Back to back: the queue saturates and OK events are dropped (counted below).
    let mut g = c.benchmark_group("audit/record_decision_saturated");
    g.bench_function("disabled", |b| {
        b.iter(|| disabled.record_decision(&ok_call, &ok, latency))
    });
    g.bench_function("noop sink, built inline (ok)", |b| {
        b.iter(|| noop.record_decision(&ok_call, &ok, latency))
    });
    g.bench_function("file sink, built inline (ok)", |b| {
        b.iter(|| file.record_decision(&ok_call, &ok, latency))
    });
    g.bench_function("file sink, built in background (ok)", |b| {
        b.iter(|| file_bg.record_decision(&ok_call, &ok, latency))
    });
    g.bench_function("file sink, built in background (block)", |b| {
        b.iter(|| file_bg.record_decision(&block_call, &block, latency))
    });
    g.finish();
    file_sink.flush();
    let before = file_sink.stats();
    eprintln!("audit bench: file sink after latency runs: {before:?}");
    file_bg.flush();
    eprintln!(
        "audit bench: background queue after latency runs: {:?}",
        file_bg.background_stats()
    );

    // Sustained rate: a burst of never-droppable events, timed until the writer has flushed
    // them all to the file.
    const BURST: u64 = 20_000;
    let mut g = c.benchmark_group("audit/file_sink_throughput");
    g.throughput(Throughput::Elements(BURST));
    g.sample_size(10);
    g.bench_function("block events, write + flush", |b| {
        b.iter_batched(
            || (),
            |()| {
                for _ in 0..BURST {
                    file.record_decision(&block_call, &block, latency);
                }
                file_sink.flush();
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    let after = file_sink.stats();
    eprintln!("audit bench: file sink at the end: {after:?}");

    // A plain figure for the report, outside criterion's statistics.
    let start = Instant::now();
    for _ in 0..BURST {
        file.record_decision(&block_call, &block, latency);
    }
    file_sink.flush();
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "audit bench: {BURST} block events written and flushed in {:.1} ms = {:.0} events/s",
        secs * 1e3,
        BURST as f64 / secs
    );
    drop(file);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
