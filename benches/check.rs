//! `pre_execution_check` on the embedded default blueprint: criterion timings plus a latency
//! histogram (median and p99 per call, which criterion does not report).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, Criterion};
use guard_benches::Latency;
use guard_core::{Guard, MemoryOwnership, Session, ToolCall};
use serde_json::json;

fn setup() -> (Guard, Vec<(&'static str, ToolCall)>) {
    let mut owners = MemoryOwnership::new();
    for i in 0..10_000 {
        owners.insert("order", format!("A-{i}"), format!("C-{}", i % 1000));
    }
    let guard = Guard::builder().ownership(owners).build().unwrap();
    let s = Session::authenticated("C-7", "s-1").identifier("c7@example.com");
    let call = |tool: &str, p: serde_json::Value| {
        ToolCall::new("support-bot-prod", tool, s.clone())
            .with_id("call-1")
            .with_params(p)
    };
    let calls = vec![
        (
            "lookup_order (ok)",
            call(
                "lookup_order",
                json!({"customer_id": "C-7", "order_id": "A-1007"}),
            ),
        ),
        (
            "process_refund (ok)",
            call(
                "process_refund",
                json!({"customer_id": "C-7", "order_id": "A-1007", "amount": "49.99"}),
            ),
        ),
        (
            "process_refund (escalate)",
            call(
                "process_refund",
                json!({"customer_id": "C-7", "order_id": "A-1007", "amount": 620}),
            ),
        ),
        (
            "apply_discount (nudge)",
            call(
                "apply_discount",
                json!({"customer_id": "C-7", "percent": 18}),
            ),
        ),
        (
            "lookup_order (cross-customer block)",
            call(
                "lookup_order",
                json!({"customer_id": "C-8", "order_id": "A-1008"}),
            ),
        ),
        (
            "nested params (ok)",
            call(
                "track_shipment",
                json!({"q": {"filters": [{"account": {"customer_id": "C-7"}}, {"note": "leave at the door, c7@example.com"}]}}),
            ),
        ),
    ];
    (guard, calls)
}

fn bench(c: &mut Criterion) {
    let (guard, calls) = setup();
    let mut group = c.benchmark_group("pre_execution_check");
    for (name, call) in &calls {
        group.bench_function(*name, |b| {
            b.iter(|| guard.pre_execution_check(std::hint::black_box(call)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let (guard, calls) = setup();
    println!(
        "\nlatency histogram, one timed call per sample ({} cores):",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for (name, call) in &calls {
        let lat = Latency::measure(200_000, || guard.pre_execution_check(call));
        println!("{}", lat.line(name));
    }
}
