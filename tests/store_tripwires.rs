//! Table tests of the stateful tripwires, on the store directly, with a manual clock and the
//! embedded default blueprint (ACL-2, USD: daily 750, weekly 1500, 3rd refund in 7 days
//! escalates, agent hourly 20 000, takeover window 24 h, trust floors 0.7 / 0.3, nudge 0.8).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use guard_core::store::{
    Admit, Clock, ManualClock, MemoryStore, Penalty, Reservation, ReserveRequest, Settlement,
    Store, Timestamp, TrustPenalties,
};
use guard_core::{Blueprint, Currency, Intervention, Money, ToolKind};

const MS: Duration = Duration::from_millis(1);
const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

struct World {
    bp: Blueprint,
    store: MemoryStore,
    clock: ManualClock,
    next: u32,
}

impl World {
    fn new() -> Self {
        Self {
            bp: Blueprint::embedded_default().unwrap(),
            store: MemoryStore::new(),
            clock: ManualClock::new(Timestamp::from_millis(1_700_000_000_000)),
            next: 0,
        }
    }

    fn usd(&self, text: &str) -> Money {
        Money::parse(text, Currency::from_code("USD").unwrap()).unwrap()
    }

    /// Checks (and, when clear, reserves and commits) a call; returns the finding codes.
    fn call(
        &mut self,
        customer: &str,
        kind: ToolKind,
        amount: Option<&str>,
    ) -> (Vec<&'static str>, bool) {
        self.next += 1;
        let id = format!("call-{}", self.next);
        let mut req =
            ReserveRequest::from_blueprint(&self.bp, &id, customer, "support-bot-prod", kind);
        if let Some(a) = amount {
            req = req.amount(self.usd(a));
        }
        let now = self.clock.now();
        let facts = self.store.check_and_reserve(&req, now).unwrap();
        let reserved = facts.reservation() == Reservation::Reserved;
        if reserved {
            assert_eq!(self.store.commit(&id, now).unwrap(), Settlement::Committed);
        }
        (
            facts.findings().iter().map(|f| f.code()).collect(),
            reserved,
        )
    }

    fn refund(&mut self, customer: &str, amount: &str) -> (Vec<&'static str>, bool) {
        self.call(customer, ToolKind::Refund, Some(amount))
    }
}

#[test]
fn on_the_default_blueprint_frequency_fires_before_stacking() {
    let mut w = World::new();
    // Three refunds of 150 stay far below the daily 750: the third is held by frequency, which
    // is why the stacking tables below use a blueprint with frequency out of the way.
    let rows: &[(&str, &[&str], bool)] = &[
        ("150", &[], true),
        ("150", &[], true),
        ("150", &["refund_frequency"], false),
    ];
    for (amount, codes, reserved) in rows {
        assert_eq!(
            w.refund("C-1", amount),
            (codes.to_vec(), *reserved),
            "{amount}"
        );
        w.clock.advance(MIN);
    }
}

/// A blueprint in which frequency and trust cannot fire first.
fn stacking_blueprint() -> Blueprint {
    let yaml = guard_core::DEFAULT_BLUEPRINT_YAML.replace(
        "refund_frequency_threshold: 3",
        "refund_frequency_threshold: 1000",
    );
    Blueprint::from_yaml_str(&yaml, "stacking").unwrap()
}

#[test]
fn stacking_table() {
    let mut w = World::new();
    w.bp = stacking_blueprint();
    let rows: &[(&str, &[&str], bool)] = &[
        ("150", &[], true),                   // 150
        ("150", &[], true),                   // 300
        ("150", &[], true),                   // 450
        ("150", &[], true),                   // 600: exactly 80%, not above
        ("100", &["near_daily_limit"], true), // 700
        ("50.01", &["daily_limit_exceeded"], false),
        ("50", &["near_daily_limit"], true), // 750: exactly the limit fits
        ("0.01", &["daily_limit_exceeded"], false),
    ];
    for (amount, codes, reserved) in rows {
        assert_eq!(
            w.refund("C-1", amount),
            (codes.to_vec(), *reserved),
            "{amount}"
        );
        w.clock.advance(MIN);
    }
    // 24 h after the first refund it leaves the window (the others are a minute apart).
    w.clock
        .set(Timestamp::from_millis(1_700_000_000_000).saturating_add(DAY - MS));
    assert_eq!(w.refund("C-1", "0.01").0, ["daily_limit_exceeded"]);
    w.clock.advance(MS);
    let (codes, reserved) = w.refund("C-1", "150");
    assert!(reserved, "{codes:?}");
    // 600 left in the day + 150 = 750 (near); the week holds 900 of 1500 (not near).
    assert_eq!(codes, ["near_daily_limit"]);
}

#[test]
fn weekly_limit_table() {
    let mut w = World::new();
    w.bp = stacking_blueprint();
    assert_eq!(w.refund("C-1", "700"), (vec!["near_daily_limit"], true));
    w.clock.advance(DAY);
    assert_eq!(
        w.refund("C-1", "700"),
        (vec!["near_daily_limit", "near_weekly_limit"], true)
    );
    w.clock.advance(DAY);
    assert_eq!(w.refund("C-1", "100.01").0, ["weekly_limit_exceeded"]);
    assert_eq!(w.refund("C-1", "100"), (vec!["near_weekly_limit"], true));
    // 7 days after the first refund, its 700 leaves the week.
    w.clock
        .set(Timestamp::from_millis(1_700_000_000_000).saturating_add(7 * DAY));
    assert_eq!(
        w.refund("C-1", "700"),
        (vec!["near_daily_limit", "near_weekly_limit"], true)
    );
}

#[test]
fn third_refund_in_a_week_escalates() {
    let mut w = World::new();
    assert_eq!(w.refund("C-1", "10").0, Vec::<&str>::new());
    w.clock.advance(3 * DAY);
    assert_eq!(w.refund("C-1", "10").0, Vec::<&str>::new());
    w.clock.advance(3 * DAY);
    assert_eq!(w.refund("C-1", "10"), (vec!["refund_frequency"], false));
    // 1 ms before the first refund is 7 days old: still three inside the window.
    w.clock
        .set(Timestamp::from_millis(1_700_000_000_000).saturating_add(7 * DAY - MS));
    assert_eq!(w.refund("C-1", "10").0, ["refund_frequency"]);
    // Exactly 7 days: the first refund has left, this is the 2nd inside the window.
    w.clock.advance(MS);
    assert_eq!(w.refund("C-1", "10"), (vec![], true));
    // Held calls never counted: on day 9, the refunds of day 3 and day 7 make this the 3rd.
    w.clock.advance(2 * DAY);
    assert_eq!(w.refund("C-1", "10").0, ["refund_frequency"]);
}

#[test]
fn data_export_frequency_uses_the_same_mechanism() {
    let w = World::new();
    let three = std::num::NonZeroU32::new(3).unwrap();
    let now = w.clock.now();
    for (i, expect) in [(0, false), (1, false), (2, true), (3, true)] {
        let id = format!("export-{i}");
        let req =
            ReserveRequest::new(&id, "C-1", "bot", ToolKind::DataExport).frequency_threshold(three);
        let f = w.store.check_and_reserve(&req, now).unwrap();
        assert_eq!(
            f.findings()
                .iter()
                .any(|x| x.code() == "data_export_frequency"),
            expect,
            "export {i}"
        );
    }
}

#[test]
fn account_change_then_refund_escalates() {
    let mut w = World::new();
    assert_eq!(w.call("C-1", ToolKind::AccountChange, None), (vec![], true));
    w.clock.advance(2 * HOUR);
    assert_eq!(w.refund("C-1", "40"), (vec!["takeover_pattern"], false));
    assert_eq!(
        w.call("C-1", ToolKind::DataExport, None).0,
        ["takeover_pattern"]
    );
    // Discounts are not part of the pattern; other customers neither.
    assert_eq!(
        w.call("C-1", ToolKind::Discount, None).0,
        Vec::<&str>::new()
    );
    assert_eq!(w.refund("C-2", "40").0, Vec::<&str>::new());
    // The window is 24 h from the change.
    w.clock.advance(22 * HOUR - MS);
    assert_eq!(w.refund("C-1", "40").0, ["takeover_pattern"]);
    w.clock.advance(MS);
    assert_eq!(w.refund("C-1", "40"), (vec![], true));
}

#[test]
fn agent_hourly_limit_stops_a_hijacked_agent() {
    let mut w = World::new();
    w.bp = stacking_blueprint();
    // 40 customers × 500 = 20 000, the agent's hourly limit.
    for i in 0..40 {
        let (codes, reserved) = w.refund(&format!("C-{i}"), "500");
        assert!(reserved, "{i}: {codes:?}");
    }
    let (codes, reserved) = w.refund("C-99", "0.01");
    assert_eq!(
        (codes, reserved),
        (vec!["agent_hourly_limit_exceeded"], false)
    );
    w.clock.advance(HOUR - MS);
    assert_eq!(w.refund("C-98", "1").0, ["agent_hourly_limit_exceeded"]);
    w.clock.advance(MS);
    assert_eq!(w.refund("C-98", "1"), (vec![], true));
}

#[test]
fn trust_floors_follow_penalties_and_recover() {
    let mut w = World::new();
    let penalties = TrustPenalties::default();
    let hl = w.bp.trust().half_life();
    let now = w.clock.now();
    // One limit hit: still fully able to get refunds.
    let (code, amount) = penalties.strongest(["daily_limit_exceeded"]).unwrap();
    w.store
        .penalize("C-1", Penalty { code, amount }, hl, now)
        .unwrap();
    assert_eq!(w.refund("C-1", "10"), (vec![], true));
    // Two blocked injections: escalate; a third: block.
    for _ in 0..2 {
        w.store
            .penalize(
                "C-1",
                Penalty {
                    code: "prompt_injection",
                    amount: penalties.penalty("prompt_injection"),
                },
                hl,
                now,
            )
            .unwrap();
    }
    assert_eq!(w.refund("C-1", "10").0, ["trust_escalate"]);
    w.store
        .penalize(
            "C-1",
            Penalty {
                code: "prompt_injection",
                amount: 0.25,
            },
            hl,
            now,
        )
        .unwrap();
    assert_eq!(w.refund("C-1", "10").0, ["trust_block"]);
    // Reads are not held by trust.
    assert_eq!(w.call("C-1", ToolKind::Read, None).0, Vec::<&str>::new());
    // Three half-lives later: 0.8 × 1/8 = 0.1 of penalty left.
    w.clock.advance(3 * hl);
    let t = w.store.trust("C-1", hl, w.clock.now()).unwrap();
    assert!((t - 0.9).abs() < 1e-6, "{t}");
    assert_eq!(w.refund("C-1", "10"), (vec![], true));
    assert_eq!(w.store.trust_history("C-1").unwrap().len(), 4);
}

#[test]
fn findings_carry_interventions() {
    let mut w = World::new();
    w.bp = stacking_blueprint();
    let req = ReserveRequest::from_blueprint(&w.bp, "x", "C-1", "bot", ToolKind::Refund)
        .amount(w.usd("751"))
        .admit(Admit::Never);
    let f = w.store.check_and_reserve(&req, w.clock.now()).unwrap();
    let found = f.findings();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].intervention(), Intervention::Block);
    assert!(
        found[0].message().contains("750.00 USD"),
        "{}",
        found[0].message()
    );
    assert!(f.holds());
}
