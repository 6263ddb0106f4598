//! Contention on the store: concurrent refunds never pass a limit only some of them fit.
//! Each test builds requests with only the limit it exercises, so frequency and trust cannot
//! fire first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::thread;

use guard_core::store::{
    Admit, MemoryStore, Reservation, ReserveRequest, Settlement, Store, Timestamp,
};
use guard_core::{Currency, Money, ToolKind};

const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn usd(cents: i64) -> Money {
    Money::from_minor(cents, Currency::from_code("USD").unwrap())
}

fn daily_total(store: &MemoryStore, customer: &str, limit: Money) -> i64 {
    let probe = ReserveRequest::new("probe", customer, "bot", ToolKind::Refund)
        .amount(usd(0))
        .daily_limit(limit)
        .admit(Admit::Never);
    store
        .check_and_reserve(&probe, NOW)
        .unwrap()
        .daily()
        .unwrap()
        .total()
        .minor_units()
}

#[test]
fn eight_threads_one_customer_daily_limit() {
    let store = Arc::new(MemoryStore::new());
    let limit = usd(75_000);
    let allowed = Arc::new(AtomicI64::new(0));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let (store, allowed) = (Arc::clone(&store), Arc::clone(&allowed));
            thread::spawn(move || {
                for i in 0..1000usize {
                    let cents = [2_500, 100, 700, 100][(i + t) % 4];
                    let id = format!("t{t}-{i}");
                    let req = ReserveRequest::new(&id, "C-1", "bot", ToolKind::Refund)
                        .amount(usd(cents))
                        .daily_limit(limit);
                    let facts = store.check_and_reserve(&req, NOW).unwrap();
                    if facts.reservation() == Reservation::Reserved {
                        // Some calls fail and are released: capacity comes back.
                        if i % 10 == 0 {
                            assert_eq!(store.release(&id, NOW).unwrap(), Settlement::Released);
                        } else {
                            assert_eq!(store.commit(&id, NOW).unwrap(), Settlement::Committed);
                            allowed.fetch_add(cents, Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let total = daily_total(&store, "C-1", limit);
    assert!(total <= limit.minor_units(), "{total}");
    assert_eq!(
        total,
        allowed.load(Ordering::SeqCst),
        "committed total equals the sum of allowed calls"
    );
    assert_eq!(total, limit.minor_units(), "the limit is actually reached");
}

#[test]
fn many_customers_in_parallel_each_within_their_limit() {
    let store = Arc::new(MemoryStore::new());
    let limit = usd(10_000);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                for i in 0..4000usize {
                    let customer = format!("C-{}", i % 50);
                    let id = format!("t{t}-{i}");
                    let req = ReserveRequest::new(&id, &customer, "bot", ToolKind::Refund)
                        .amount(usd(300))
                        .daily_limit(limit);
                    if store.check_and_reserve(&req, NOW).unwrap().reserved() {
                        store.commit(&id, NOW).unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for c in 0..50 {
        // 33 × 300 = 9 900 is the most that fits under 10 000.
        assert_eq!(
            daily_total(&store, &format!("C-{c}"), limit),
            9_900,
            "C-{c}"
        );
    }
}

#[test]
fn agent_hourly_limit_holds_across_customers_and_threads() {
    let store = Arc::new(MemoryStore::new());
    let agent_limit = usd(1_000_000);
    let allowed = Arc::new(AtomicI64::new(0));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let (store, allowed) = (Arc::clone(&store), Arc::clone(&allowed));
            thread::spawn(move || {
                for i in 0..1000usize {
                    let customer = format!("C-{t}-{i}");
                    let id = format!("a{t}-{i}");
                    let req = ReserveRequest::new(&id, &customer, "bot", ToolKind::Refund)
                        .amount(usd(1_300))
                        .agent_hourly_limit(agent_limit);
                    if store.check_and_reserve(&req, NOW).unwrap().reserved() {
                        allowed.fetch_add(1_300, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // 769 × 1 300 = 999 700 fits; one more would not.
    assert_eq!(allowed.load(Ordering::SeqCst), 999_700);
}
