//! Property tests of the store against a model: totals never pass their limits, release
//! restores capacity, settlement is idempotent, trust stays in `[0, 1]`.

use std::time::Duration;

use proptest::prelude::*;

use crate::money::{Currency, Money};
use crate::policy::ToolKind;

use super::facts::{Admit, Reservation, ReserveRequest, DAY, WEEK};
use super::trust::Penalty;
use super::window::Settlement;
use super::{MemoryStore, Store, Timestamp};

const TTL: Duration = Duration::from_secs(15 * 60);
const DAILY: i64 = 75_000;
const WEEKLY: i64 = 150_000;

#[derive(Debug, Clone)]
enum Op {
    Reserve(i64),
    Retry(usize),
    Commit(usize),
    Release(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1i64..40_000).prop_map(Op::Reserve),
        1 => (0usize..64).prop_map(Op::Retry),
        2 => (0usize..64).prop_map(Op::Commit),
        2 => (0usize..64).prop_map(Op::Release),
        2 => prop_oneof![0u64..2_000_000, 0u64..(2 * 86_400_000)].prop_map(Op::Advance),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum St {
    Pending,
    Committed,
    Released,
}

struct Model {
    calls: Vec<(String, i64, Timestamp, St)>,
}

impl Model {
    fn total(&self, now: Timestamp, window: Duration) -> i64 {
        self.calls
            .iter()
            .filter(|(_, _, at, st)| *st != St::Released && now.since(*at) < window)
            .map(|(_, a, _, _)| a)
            .sum()
    }
}

fn usd(minor: i64) -> Money {
    Money::from_minor(
        minor,
        Currency::from_code("USD").unwrap_or_else(|_| unreachable!()),
    )
}

fn request(id: &str, amount: i64) -> ReserveRequest<'_> {
    ReserveRequest::new(id, "C", "bot", ToolKind::Refund)
        .amount(usd(amount))
        .daily_limit(usd(DAILY))
        .weekly_limit(usd(WEEKLY))
        .reservation_ttl(TTL)
}

fn probe(store: &MemoryStore, now: Timestamp) -> (i64, i64) {
    let f = store
        .check_and_reserve(&request("probe", 1).admit(Admit::Never), now)
        .unwrap();
    (
        f.daily().unwrap().total().minor_units(),
        f.weekly().unwrap().total().minor_units(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_the_model_and_never_passes_a_limit(ops in proptest::collection::vec(op(), 1..80)) {
        let store = MemoryStore::new();
        let mut model = Model { calls: Vec::new() };
        let mut now = Timestamp::from_millis(1_700_000_000_000);
        for op in ops {
            match op {
                Op::Reserve(amount) => {
                    let id = format!("c{}", model.calls.len());
                    let (day, week) = (model.total(now, DAY), model.total(now, WEEK));
                    let fits = day + amount <= DAILY && week + amount <= WEEKLY;
                    let f = store.check_and_reserve(&request(&id, amount), now).unwrap();
                    prop_assert_eq!(f.reservation() == Reservation::Reserved, fits);
                    if fits {
                        model.calls.push((id, amount, now, St::Pending));
                    }
                }
                Op::Retry(i) => {
                    if let Some((id, amount, at, st)) = model.calls.get(i % model.calls.len().max(1)).cloned() {
                        let f = store.check_and_reserve(&request(&id, amount), now).unwrap();
                        let forgotten = now.since(at) >= WEEK;
                        if st == St::Released || forgotten {
                            // Checked afresh: the model follows whatever the store decided.
                            if f.reservation() == Reservation::Reserved {
                                if let Some(c) = model.calls.iter_mut().find(|c| c.0 == id) {
                                    c.2 = now;
                                    c.3 = St::Pending;
                                }
                            }
                        } else {
                            prop_assert!(matches!(f.reservation(), Reservation::Existing(_)));
                        }
                    }
                }
                Op::Commit(i) | Op::Release(i) => {
                    let commit = matches!(op, Op::Commit(_));
                    let n = model.calls.len().max(1);
                    if let Some(c) = model.calls.get_mut(i % n) {
                        if now.since(c.2) >= WEEK {
                            // Older than the longest window: forgotten, ids included.
                            let s = if commit { store.commit(&c.0, now) } else { store.release(&c.0, now) }.unwrap();
                            prop_assert_eq!(s, Settlement::Unknown);
                            continue;
                        }
                        let before = probe(&store, now);
                        let first = if commit { store.commit(&c.0, now) } else { store.release(&c.0, now) }.unwrap();
                        let mid = probe(&store, now);
                        let second = if commit { store.commit(&c.0, now) } else { store.release(&c.0, now) }.unwrap();
                        // Idempotent: the second application changes nothing.
                        prop_assert_eq!(probe(&store, now), mid);
                        prop_assert!(matches!(second, Settlement::AlreadyCommitted | Settlement::AlreadyReleased));
                        let expired = now.since(c.2) >= TTL;
                        match (c.3, commit) {
                            (St::Pending, true) => { c.3 = St::Committed; prop_assert_eq!(first, Settlement::Committed); }
                            (St::Pending, false) if expired => { c.3 = St::Committed; prop_assert_eq!(first, Settlement::Expired); }
                            (St::Pending, false) => {
                                // Release restores capacity in every window the call was in.
                                let in_day = now.since(c.2) < DAY;
                                c.3 = St::Released;
                                prop_assert_eq!(first, Settlement::Released);
                                prop_assert_eq!(mid.1, before.1 - c.1);
                                prop_assert_eq!(mid.0, before.0 - if in_day { c.1 } else { 0 });
                            }
                            (St::Committed, _) => prop_assert_eq!(first, Settlement::AlreadyCommitted),
                            (St::Released, _) => prop_assert_eq!(first, Settlement::AlreadyReleased),
                        }
                    }
                }
                Op::Advance(ms) => now = Timestamp::from_millis(now.as_millis() + ms),
            }
            let (day, week) = probe(&store, now);
            prop_assert!(day <= DAILY && week <= WEEKLY, "day {} week {}", day, week);
            prop_assert_eq!((day, week), (model.total(now, DAY), model.total(now, WEEK)));
        }
    }

    #[test]
    fn trust_stays_in_unit_range(
        steps in proptest::collection::vec((any::<f64>(), 0u64..(30 * 86_400_000), any::<bool>()), 1..60),
        half_life_ms in 0u64..(30 * 86_400_000),
    ) {
        let store = MemoryStore::new();
        let hl = Duration::from_millis(half_life_ms);
        let mut now = Timestamp::from_millis(0);
        let mut receipts = Vec::new();
        for (amount, dt, refund) in steps {
            now = Timestamp::from_millis(now.as_millis() + dt);
            if refund {
                if let Some(r) = receipts.pop() {
                    let t = store.refund_penalty(&r, hl, now).unwrap();
                    prop_assert!((0.0..=1.0).contains(&t), "{}", t);
                }
            } else if let Some(r) = store.penalize("C", Penalty { code: "x", amount }, hl, now).unwrap() {
                receipts.push(r);
            }
            let t = store.trust("C", hl, now).unwrap();
            prop_assert!((0.0..=1.0).contains(&t), "{}", t);
            let past = store.trust("C", hl, Timestamp::EPOCH).unwrap();
            prop_assert!((0.0..=1.0).contains(&past), "{}", past);
        }
    }
}

fn limit_fact() -> impl Strategy<Value = Option<super::facts::LimitFact>> {
    proptest::option::of((0i64..2000, 0i64..2000, 1i64..2000, 0u16..=10_000)).prop_map(|o| {
        o.and_then(|(total, amount, limit, bp)| {
            super::facts::LimitFact::new(
                super::facts::Window::Day,
                usd(total),
                usd(amount),
                usd(limit),
                crate::money::Ratio::from_basis_points(bp)?,
            )
            .ok()
        })
    })
}

proptest! {
    /// The store reserves by `holds()`; the guard reports `findings()`: they must agree.
    #[test]
    fn holds_agrees_with_findings(
        daily in limit_fact(),
        weekly in limit_fact(),
        agent in limit_fact(),
        count in 0u32..6,
        threshold in proptest::option::of(1u32..5),
        change in proptest::option::of(0u64..200_000),
        window in proptest::option::of(0u64..100_000),
        trust in 0.0f64..=1.0,
        floors in proptest::option::of((0.0f64..1.0, 0.0f64..1.0)),
    ) {
        let facts = super::facts::Facts {
            kind: ToolKind::Refund,
            now: Timestamp::from_millis(100_000),
            daily,
            weekly,
            agent_hourly: agent,
            count,
            frequency_threshold: threshold.and_then(std::num::NonZeroU32::new),
            last_account_change: change.map(Timestamp::from_millis),
            takeover_window: window.map(Duration::from_millis),
            trust,
            trust_escalate_below: floors.map(|f| f.0),
            trust_block_below: floors.map(|f| f.1),
            reservation: Reservation::NotReserved,
        };
        let held = facts.findings().iter().any(|f| f.intervention() >= crate::check::Intervention::Escalate);
        prop_assert_eq!(facts.holds(), held);
    }
}
