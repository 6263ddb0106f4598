//! The Redis store beside the in-memory store, in one run: checks per second and p50/p99 of
//! `check_and_reserve` (one script, one round trip) on loopback, over one connection and over a
//! pool used by several threads. Starts its own `redis-server` on a free port (skipped with a
//! message when it is not installed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use guard_benches::Latency;
use guard_core::store::redis::RedisStore;
use guard_core::store::{Admit, MemoryStore, ReserveRequest, SessionUpdate, Store, Timestamp};
use guard_core::{Blueprint, Currency, Money, ToolKind};

const CUSTOMERS: u64 = 10_000;
const N: usize = 20_000;
const THREADS: usize = 4;

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

/// Every tripwire of a refund active (daily, weekly, frequency, agent-wide, takeover, trust).
fn check(store: &dyn Store, bp: &Blueprint, tag: &str, i: u64, now: Timestamp) {
    let id = format!("{tag}-{i}");
    let customer = format!("C-{}", i % CUSTOMERS);
    let usd = Currency::from_code("USD").unwrap();
    let req = ReserveRequest::from_blueprint(bp, &id, &customer, "bot", ToolKind::Refund)
        .amount(Money::from_minor(100, usd))
        .admit(Admit::IfClear);
    let facts = store.check_and_reserve(&req, now).unwrap();
    std::hint::black_box(facts);
}

fn single(name: &str, store: &dyn Store, bp: &Blueprint, now: Timestamp) {
    let mut i = 0u64;
    let start = Instant::now();
    let lat = Latency::measure(N, || {
        i += 1;
        check(store, bp, name, i, now);
    });
    let secs = start.elapsed().as_secs_f64();
    let total = N + N / 10;
    println!("{}", lat.line(name));
    println!("{name:<40} {:>10.0} checks/s", total as f64 / secs);
}

fn pooled(name: &str, store: Arc<dyn Store>, bp: &Blueprint, now: Timestamp) {
    let per = N / THREADS;
    let start = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            let bp = bp.clone();
            let tag = format!("{name}-{t}");
            std::thread::spawn(move || {
                let mut i = 0u64;
                Latency::measure(per, || {
                    i += 1;
                    check(&*store, &bp, &tag, i, now);
                })
            })
        })
        .collect();
    let lats: Vec<Latency> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let secs = start.elapsed().as_secs_f64();
    let total = THREADS * (per + per / 10);
    for (t, lat) in lats.iter().enumerate() {
        println!("{}", lat.line(&format!("{name} thread {t}")));
    }
    println!(
        "{:<40} {:>10.0} checks/s ({THREADS} threads)",
        name,
        total as f64 / secs
    );
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let bp = blueprint();
    let now = Timestamp::from_millis(1_700_000_000_000);
    let Some(server) = redis_server::RedisServer::start("bench redis") else {
        return;
    };
    let memory = MemoryStore::new();
    single("memory, 1 thread", &memory, &bp, now);
    let redis = RedisStore::builder(&server.url())
        .max_idle_connections(1)
        .response_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    single("redis, 1 connection", &redis, &bp, now);
    // Cluster layout on the same server: call index + customer + agent = three round trips.
    let cluster = RedisStore::builder(&server.url())
        .max_idle_connections(1)
        .response_timeout(Duration::from_secs(1))
        .key_prefix("cl")
        .cluster(true)
        .build()
        .unwrap();
    single("redis cluster mode, 1 connection", &cluster, &bp, now);
    // What a money-action check reads of the conversation (one pipelined round trip).
    let sessions = redis.session_store().unwrap();
    let mut i = 0u64;
    let lat = Latency::measure(N, || {
        i += 1;
        let id = format!("s-{}", i % CUSTOMERS);
        if i % 4 == 0 {
            let u =
                SessionUpdate::message("Where is my parcel? It was due on Monday.").sentiment(-0.2);
            sessions.record(&id, &u, now).unwrap();
        }
        std::hint::black_box(sessions.snapshot(&id, now).unwrap());
    });
    println!("{}", lat.line("redis session snapshot (+record 1 in 4)"));
    pooled("memory, pooled", Arc::new(MemoryStore::new()), &bp, now);
    let pool = RedisStore::builder(&server.url())
        .response_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    pooled("redis, pool", Arc::new(pool), &bp, now);
}
