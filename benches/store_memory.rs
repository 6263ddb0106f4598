//! Resident bytes per customer of rolling state in the in-memory store, for 1 000 000
//! customers each holding two committed refunds (plus the call index entries and the agent's
//! hourly window those create), filled through the public `Store` API.
//!
//! `cargo bench -p guard-benches --bench store_memory` (prints one figure; no criterion).
//! Reads VmRSS from /proc/self/status, so Linux only. `STORE_MEMORY_CUSTOMERS=n` changes the
//! count.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use guard_core::store::{
    Admit, Clock, ManualClock, MemoryStore, Reservation, ReserveRequest, Settlement, Store,
    Timestamp,
};
use guard_core::{Blueprint, Currency, Money, ToolKind};

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        // `cargo test --benches` lists bench targets; there is nothing to list here.
        return;
    }
    let customers: u64 = std::env::var("STORE_MEMORY_CUSTOMERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    // One agent serving a million customers needs more than the default agent-wide hour.
    let yaml = guard_core::DEFAULT_BLUEPRINT_YAML.replace(
        "agent_hourly_refund_limit: 20000",
        "agent_hourly_refund_limit: 100000000",
    );
    let bp = Blueprint::from_yaml_str(&yaml, "store_memory.yaml").unwrap();
    let usd = Currency::from_code("USD").unwrap();
    let amounts = [
        Money::parse("42.50", usd).unwrap(),
        Money::parse("19.99", usd).unwrap(),
    ];
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let store = MemoryStore::new();
    // Customers arrive over about six days (0.5 s apart), so every customer's events are
    // still inside the weekly window at the end, and the agent's hourly window holds only the
    // last hour, as in production.
    let step = Duration::from_millis(500);
    let before = rss_bytes().expect("VmRSS in /proc/self/status");
    let started = Instant::now();
    let mut ids = String::new();
    for i in 0..customers {
        let customer = format!("C-{i:07}");
        for (k, amount) in amounts.iter().enumerate() {
            ids.clear();
            ids.push_str(&format!("call-{i}-{k}"));
            let req = ReserveRequest::from_blueprint(
                &bp,
                &ids,
                &customer,
                "support-bot-prod",
                ToolKind::Refund,
            )
            .amount(*amount)
            .admit(Admit::IfClear);
            let now = clock.now();
            let facts = store.check_and_reserve(&req, now).unwrap();
            assert_eq!(facts.reservation(), Reservation::Reserved, "customer {i}");
            assert_eq!(store.commit(&ids, now).unwrap(), Settlement::Committed);
        }
        clock.advance(step);
    }
    let filled = started.elapsed();
    let after = rss_bytes().expect("VmRSS");
    assert_eq!(store.customer_count() as u64, customers);
    let per = (after.saturating_sub(before)) as f64 / customers as f64;
    let approx = store
        .approx_customer_bytes("C-0000000")
        .unwrap()
        .unwrap_or(0);
    println!(
        "store_memory: {customers} customers x 2 committed refunds: RSS {:.1} MiB -> {:.1} MiB, \
         {per:.0} resident bytes per customer (store's own estimate of one customer's window: \
         {approx} B); filled in {:.1} s",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        filled.as_secs_f64()
    );
    drop(store);
}
