//! Properties of the store through the public API: totals never pass their limits whatever the
//! order of reservations and settlements, release restores capacity, settlement is idempotent,
//! trust stays in [0, 1], canonical arguments ignore key order and number spelling.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use guard_core::store::{
    canonical_args, Admit, MemoryStore, Penalty, Reservation, ReserveRequest, Settlement, Store,
    Timestamp,
};
use guard_core::{Currency, Money, ToolKind, Value};
use proptest::prelude::*;

fn usd(cents: i64) -> Money {
    Money::from_minor(cents, Currency::from_code("USD").unwrap())
}

fn req(id: &str, cents: i64) -> ReserveRequest<'_> {
    ReserveRequest::new(id, "C", "bot", ToolKind::Refund)
        .amount(usd(cents))
        .daily_limit(usd(75_000))
        .weekly_limit(usd(150_000))
        .agent_hourly_limit(usd(100_000))
}

fn totals(s: &MemoryStore, now: Timestamp) -> (i64, i64, i64) {
    let f = s
        .check_and_reserve(&req("probe", 0).admit(Admit::Never), now)
        .unwrap();
    (
        f.daily().unwrap().total().minor_units(),
        f.weekly().unwrap().total().minor_units(),
        f.agent_hourly().unwrap().total().minor_units(),
    )
}

proptest! {
    #[test]
    fn totals_never_pass_limits(steps in proptest::collection::vec((1i64..50_000, 0u8..3, 0u64..20_000_000), 1..100)) {
        let s = MemoryStore::new();
        let mut now = Timestamp::from_millis(1_700_000_000_000);
        for (i, (cents, settle, dt)) in steps.into_iter().enumerate() {
            now = Timestamp::from_millis(now.as_millis() + dt);
            let id = format!("c{i}");
            let before = totals(&s, now);
            let f = s.check_and_reserve(&req(&id, cents), now).unwrap();
            if f.reservation() == Reservation::Reserved {
                let (d, w, a) = totals(&s, now);
                prop_assert_eq!((d, w, a), (before.0 + cents, before.1 + cents, before.2 + cents));
                match settle {
                    0 => {
                        prop_assert_eq!(s.release(&id, now).unwrap(), Settlement::Released);
                        prop_assert_eq!(totals(&s, now), before, "release restores capacity");
                        prop_assert_eq!(s.release(&id, now).unwrap(), Settlement::AlreadyReleased);
                    }
                    1 => {
                        prop_assert_eq!(s.commit(&id, now).unwrap(), Settlement::Committed);
                        let after = totals(&s, now);
                        prop_assert_eq!(s.commit(&id, now).unwrap(), Settlement::AlreadyCommitted);
                        prop_assert_eq!(s.release(&id, now).unwrap(), Settlement::AlreadyCommitted);
                        prop_assert_eq!(totals(&s, now), after);
                    }
                    _ => {}
                }
            } else {
                prop_assert!(f.holds());
                prop_assert_eq!(totals(&s, now), before);
            }
            let (d, w, a) = totals(&s, now);
            prop_assert!(d <= 75_000 && w <= 150_000 && a <= 100_000, "{} {} {}", d, w, a);
        }
    }

    #[test]
    fn trust_in_unit_range(penalties in proptest::collection::vec((-2.0f64..3.0, 0u64..1_000_000_000), 0..50)) {
        let s = MemoryStore::new();
        let hl = Duration::from_secs(7 * 86_400);
        let mut now = Timestamp::EPOCH;
        for (amount, dt) in penalties {
            now = Timestamp::from_millis(now.as_millis() + dt);
            if let Some(r) = s.penalize("C", Penalty { code: "x", amount }, hl, now).unwrap() {
                if amount > 1.0 {
                    let t = s.refund_penalty(&r, hl, now).unwrap();
                    prop_assert!((0.0..=1.0).contains(&t));
                }
            }
            let t = s.trust("C", hl, now).unwrap();
            prop_assert!((0.0..=1.0).contains(&t), "{}", t);
        }
    }

    #[test]
    fn canonical_args_ignore_key_order_and_number_spelling(
        keys in proptest::collection::btree_set("[a-z_]{1,8}", 1..6),
        cents in 0u32..1_000_000,
        rotate in 0usize..6,
    ) {
        let keys: Vec<String> = keys.into_iter().collect();
        let whole = format!("{}.{:02}", cents / 100, cents % 100);
        let short = {
            let t = whole.trim_end_matches('0').trim_end_matches('.').to_owned();
            if t.is_empty() { "0".to_owned() } else { t }
        };
        let build = |order: &[String], num: &str| {
            Value::Object(order.iter().map(|k| (k.clone(), Value::Number(num.to_owned()))).collect())
        };
        let mut rotated = keys.clone();
        rotated.rotate_left(rotate % keys.len());
        prop_assert_eq!(canonical_args(&build(&keys, &whole)), canonical_args(&build(&rotated, &short)));
        let other = format!("{}.{:02}", cents / 100 + 1, cents % 100);
        prop_assert_ne!(canonical_args(&build(&keys, &whole)), canonical_args(&build(&keys, &other)));
    }
}
