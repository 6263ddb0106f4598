//! The full pre-execution check with every tripwire active (daily, weekly, frequency,
//! agent-wide, takeover, trust) on a store already holding 100 000 customers with history:
//! criterion timings plus a latency histogram for median and p99.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{criterion_group, Criterion};
use guard_benches::Latency;
use guard_core::store::{ManualClock, Timestamp};
use guard_core::{Blueprint, Guard, MemoryOwnership, Session, ToolCall};
use serde_json::json;

const CUSTOMERS: u32 = 100_000;

/// The default blueprint with the frequency threshold raised so the measured calls take the
/// common path (frequency is still counted and checked on every call).
fn blueprint() -> Blueprint {
    let yaml = guard_core::DEFAULT_BLUEPRINT_YAML
        .replace(
            "refund_frequency_threshold: 3",
            "refund_frequency_threshold: 50",
        )
        .replace(
            "agent_hourly_refund_limit: 20000",
            "agent_hourly_refund_limit: 100000000",
        );
    Blueprint::from_yaml_str(&yaml, "bench.yaml").unwrap()
}

struct World {
    guard: Guard,
    clock: ManualClock,
}

fn world() -> World {
    let mut owners = MemoryOwnership::new();
    for c in 0..CUSTOMERS {
        owners.insert("order", format!("O-{c}"), format!("C-{c}"));
    }
    let clock = ManualClock::new(Timestamp::from_millis(1_790_000_000_000));
    let guard = Guard::builder()
        .blueprint(blueprint())
        .ownership(owners)
        .clock(clock.clone())
        .build()
        .unwrap();
    // History: two committed refunds per customer over the past days.
    for round in 0..2 {
        for c in 0..CUSTOMERS {
            let id = format!("seed-{round}-{c}");
            let d = guard.pre_execution_check(&refund(c, &id));
            assert!(d.allowed(), "{:?}", d.reasons());
            guard.commit(&id).unwrap();
        }
        clock.advance(Duration::from_secs(86_400));
    }
    World { guard, clock }
}

fn refund(c: u32, id: &str) -> ToolCall {
    ToolCall::new(
        "support-bot-prod",
        "process_refund",
        Session::authenticated(format!("C-{c}"), format!("s-{c}")),
    )
    .with_id(id)
    .with_params(
        json!({"customer_id": format!("C-{c}"), "order_id": format!("O-{c}"), "amount": "12.50"}),
    )
}

fn bench(c: &mut Criterion) {
    let w = world();
    let mut n = 0u32;
    let mut g = c.benchmark_group("stateful check, 100k customers");
    g.bench_function("refund check + commit", |b| {
        b.iter(|| {
            n = n.wrapping_add(7919);
            let cust = n % CUSTOMERS;
            let id = format!("b-{n}");
            let d = w.guard.pre_execution_check(&refund(cust, &id));
            w.guard.commit(&id).unwrap();
            d
        })
    });
    g.finish();
    let _ = &w.clock;
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    let w = world();
    println!(
        "\nlatency histogram, 100 000 customers with history ({} cores):",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // Calls prepared outside the timed region: the figure is the check (and the commit).
    let calls: Vec<(String, ToolCall)> = (0..220_000u32)
        .map(|i| {
            let id = format!("h-{i}");
            let call = refund(i.wrapping_mul(7919) % CUSTOMERS, &id);
            (id, call)
        })
        .collect();
    let mut it = calls.iter();
    let check = Latency::measure(180_000, || {
        let (_, call) = it.next().unwrap();
        w.guard.pre_execution_check(call)
    });
    println!("{}", check.line("refund pre_execution_check"));
    let reads: Vec<ToolCall> = (0..220_000u32)
        .map(|i| {
            let c = i.wrapping_mul(104_729) % CUSTOMERS;
            ToolCall::new(
                "support-bot-prod",
                "lookup_order",
                Session::authenticated(format!("C-{c}"), "s"),
            )
            .with_params(json!({"customer_id": format!("C-{c}"), "order_id": format!("O-{c}")}))
        })
        .collect();
    let mut it = reads.iter();
    let read = Latency::measure(180_000, || w.guard.pre_execution_check(it.next().unwrap()));
    println!("{}", read.line("lookup_order pre_execution_check"));
}
