//! Customer trust: `1 − Σ penalties`, each fading with the blueprint's half-life.
//!
//! The sum is kept as one decayed accumulator plus the time it was last brought up to date:
//! decaying a sum equals the sum of the decayed terms, so nothing per penalty is needed to compute
//! the value, and a network store can do the same with two numbers per customer.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::clock::{millis, Timestamp};

/// Penalty per outcome code, and the rule for combining several codes of one decision.
///
/// One decision applies at most one penalty, the largest among its reasons: a single call that
/// trips three rules is one bad call, not three. Codes not in the table cost nothing, so a new
/// rule never lowers trust by accident.
///
/// | code | penalty | why |
/// |---|---|---|
/// | `prompt_injection`, `injection` | 0.25 | one false positive leaves 0.75 (still above ACL-2's 0.7); two fall below it, three below 0.3 |
/// | `cross_customer`, `guest_session` | 0.25 | reaching for another customer's data is the attack isolation exists for |
/// | `takeover_pattern` | 0.10 | often a genuine customer who just moved house |
/// | `daily_limit_exceeded`, `weekly_limit_exceeded`, `max_refund_exceeded`, `max_discount_exceeded` | 0.05 | an honest customer hits a limit now and then: six hits inside a half-life before escalation |
/// | `refund_frequency` (and other `*_frequency`) | 0.05 | as a limit |
/// | `unknown_owner` | 0.05 | usually a typo in an order number |
/// | `trust_escalate`, `trust_block` | 0 | caused by low trust itself: penalising again would lock the customer out for good |
/// | `approval_required`, `near_*`, `review_required` | 0 | not misbehaviour |
/// | `injection_tool_output` | 0 | the customer did not write it |
/// | `tool_not_allowed`, `unknown_agent`, `malformed_param`, `missing_param`, `currency_mismatch` | 0 | the agent's mistake, not the customer's |
/// | `store_unavailable`, `ownership_unavailable`, `agent_hourly_limit_exceeded` | 0 | not the customer's doing |
///
/// ```
/// use guard_core::store::TrustPenalties;
/// let p = TrustPenalties::default();
/// assert_eq!(p.penalty("trust_block"), 0.0);
/// let (code, amount) = p.strongest(["near_daily_limit", "cross_customer", "daily_limit_exceeded"]).unwrap();
/// assert_eq!((code, amount), ("cross_customer", 0.25));
/// let custom = TrustPenalties::default().with("daily_limit_exceeded", 0.0);
/// assert_eq!(custom.penalty("daily_limit_exceeded"), 0.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TrustPenalties {
    table: BTreeMap<String, f64>,
}

impl Default for TrustPenalties {
    fn default() -> Self {
        const DEFAULTS: &[(&str, f64)] = &[
            ("prompt_injection", 0.25),
            ("injection", 0.25),
            ("cross_customer", 0.25),
            ("guest_session", 0.25),
            ("takeover_pattern", 0.10),
            ("daily_limit_exceeded", 0.05),
            ("weekly_limit_exceeded", 0.05),
            ("max_refund_exceeded", 0.05),
            ("max_discount_exceeded", 0.05),
            ("refund_frequency", 0.05),
            ("discount_frequency", 0.05),
            ("data_export_frequency", 0.05),
            ("account_change_frequency", 0.05),
            ("call_frequency", 0.05),
            ("unknown_owner", 0.05),
            ("trust_escalate", 0.0),
            ("trust_block", 0.0),
            ("injection_tool_output", 0.0),
        ];
        Self {
            table: DEFAULTS
                .iter()
                .map(|(c, p)| ((*c).to_owned(), *p))
                .collect(),
        }
    }
}

impl TrustPenalties {
    /// A table with no penalties at all.
    pub fn none() -> Self {
        Self {
            table: BTreeMap::new(),
        }
    }

    /// Sets the penalty of `code` (clamped to `[0, 1]`; NaN means 0).
    pub fn with(mut self, code: &str, penalty: f64) -> Self {
        self.table.insert(code.to_owned(), clamp_unit(penalty));
        self
    }

    /// The penalty of one code; 0 for unknown codes.
    pub fn penalty(&self, code: &str) -> f64 {
        self.table.get(code).copied().unwrap_or(0.0)
    }

    /// The largest penalty among a decision's codes, with its code; `None` when none costs
    /// anything.
    pub fn strongest<'a>(
        &self,
        codes: impl IntoIterator<Item = &'a str>,
    ) -> Option<(&'a str, f64)> {
        codes
            .into_iter()
            .map(|c| (c, self.penalty(c)))
            .filter(|(_, p)| *p > 0.0)
            .fold(None, |best: Option<(&str, f64)>, (c, p)| match best {
                Some((_, bp)) if bp >= p => best,
                _ => Some((c, p)),
            })
    }
}

fn clamp_unit(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

/// A penalty to apply: the outcome code that caused it and its size in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Penalty<'a> {
    /// The reason code.
    pub code: &'a str,
    /// The size, before decay.
    pub amount: f64,
}

/// Proof of an applied penalty, kept on an approval ticket so an approved escalation can hand
/// it back ([`crate::store::Store::refund_penalty`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PenaltyReceipt {
    pub(crate) customer: String,
    pub(crate) seq: u64,
    pub(crate) at: Timestamp,
    pub(crate) amount: f64,
    pub(crate) code: String,
}

impl PenaltyReceipt {
    /// The customer penalised.
    pub fn customer(&self) -> &str {
        &self.customer
    }
    /// When.
    pub fn at(&self) -> Timestamp {
        self.at
    }
    /// How much, before decay.
    pub fn amount(&self) -> f64 {
        self.amount
    }
    /// The reason code.
    pub fn code(&self) -> &str {
        &self.code
    }
}

/// One change of a customer's trust, for reviewers.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustEntry {
    pub(crate) seq: u64,
    pub(crate) at: Timestamp,
    pub(crate) delta: f64,
    pub(crate) code: String,
    pub(crate) refunded: bool,
}

impl TrustEntry {
    /// When.
    pub fn at(&self) -> Timestamp {
        self.at
    }
    /// The change of trust at that moment: negative for a penalty, positive for a refund.
    pub fn delta(&self) -> f64 {
        self.delta
    }
    /// The reason code (`approved` for a refunded penalty).
    pub fn code(&self) -> &str {
        &self.code
    }
    /// Whether this penalty was later handed back by an approval.
    pub fn refunded(&self) -> bool {
        self.refunded
    }
}

/// Below this the accumulated penalty is noise: the customer can be forgotten.
const NEGLIGIBLE: f64 = 1e-4;

/// `0.5^(elapsed / half_life)`. Time running backwards never increases a penalty.
pub(crate) fn decay(elapsed: Duration, half_life: Duration) -> f64 {
    let hl = millis(half_life);
    if hl == 0 {
        return if elapsed.is_zero() { 1.0 } else { 0.0 };
    }
    // u64 to f64 loses precision only beyond 2^53 ms (285 000 years).
    #[allow(clippy::cast_precision_loss)]
    let ratio = millis(elapsed) as f64 / hl as f64;
    0.5f64.powf(ratio)
}

/// One customer's trust state.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustState {
    /// Sum of penalties, decayed to `updated`.
    acc: f64,
    updated: Timestamp,
    /// The half-life last used, so pruning can tell a faded state from a live one.
    half_life: Duration,
    next_seq: u64,
    history: VecDeque<TrustEntry>,
}

impl TrustState {
    fn decayed(&self, now: Timestamp, half_life: Duration) -> f64 {
        clamp_unit(self.acc * decay(now.since(self.updated), half_life))
    }

    pub(crate) fn value(&self, now: Timestamp, half_life: Duration) -> f64 {
        clamp_unit(1.0 - self.decayed(now, half_life))
    }

    fn bring_to(&mut self, now: Timestamp, half_life: Duration) {
        self.acc = self.decayed(now, half_life);
        self.updated = self.updated.max(now);
        self.half_life = half_life;
    }

    fn record(&mut self, entry: TrustEntry, cap: usize) {
        if cap == 0 {
            return;
        }
        while self.history.len() >= cap {
            self.history.pop_front();
        }
        self.history.push_back(entry);
    }

    /// Applies a penalty; returns its receipt, or `None` when it is zero.
    pub(crate) fn penalize(
        &mut self,
        customer: &str,
        penalty: Penalty<'_>,
        half_life: Duration,
        now: Timestamp,
        history_cap: usize,
    ) -> Option<PenaltyReceipt> {
        let amount = clamp_unit(penalty.amount);
        if amount <= 0.0 {
            return None;
        }
        self.bring_to(now, half_life);
        let before = 1.0 - self.acc;
        self.acc = clamp_unit(self.acc + amount);
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let delta = (1.0 - self.acc) - before;
        self.record(
            TrustEntry {
                seq,
                at: now,
                delta,
                code: penalty.code.to_owned(),
                refunded: false,
            },
            history_cap,
        );
        Some(PenaltyReceipt {
            customer: customer.to_owned(),
            seq,
            at: now,
            amount,
            code: penalty.code.to_owned(),
        })
    }

    /// Hands back what is left of a penalty (it has decayed since). A receipt refunded once is
    /// not refunded again while its entry is in the history.
    pub(crate) fn refund(
        &mut self,
        receipt: &PenaltyReceipt,
        half_life: Duration,
        now: Timestamp,
        history_cap: usize,
    ) -> f64 {
        if let Some(entry) = self
            .history
            .iter_mut()
            .find(|e| e.seq == receipt.seq && e.at == receipt.at)
        {
            if entry.refunded {
                return self.value(now, half_life);
            }
            entry.refunded = true;
        }
        self.bring_to(now, half_life);
        let remaining = clamp_unit(receipt.amount) * decay(now.since(receipt.at), half_life);
        let before = 1.0 - self.acc;
        self.acc = clamp_unit(self.acc - remaining);
        let delta = (1.0 - self.acc) - before;
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.record(
            TrustEntry {
                seq,
                at: now,
                delta,
                code: "approved".to_owned(),
                refunded: false,
            },
            history_cap,
        );
        self.value(now, half_life)
    }

    pub(crate) fn history(&self) -> Vec<TrustEntry> {
        self.history.iter().cloned().collect()
    }

    /// Whether the state no longer matters: penalties faded and nothing worth showing.
    pub(crate) fn faded(&self, now: Timestamp) -> bool {
        self.decayed(now, self.half_life) < NEGLIGIBLE
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.history.capacity() * std::mem::size_of::<TrustEntry>()
            + self
                .history
                .iter()
                .map(|e| e.code.capacity())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);
    const HL: Duration = Duration::from_secs(7 * 86_400);

    fn at(days: f64) -> Timestamp {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Timestamp::from_millis((days * 86_400_000.0) as u64)
    }

    fn apply(s: &mut TrustState, code: &str, t: Timestamp) -> Option<PenaltyReceipt> {
        let amount = TrustPenalties::default().penalty(code);
        s.penalize("C", Penalty { code, amount }, HL, t, 32)
    }

    #[test]
    fn fresh_customer_is_fully_trusted() {
        assert_eq!(TrustState::default().value(at(3.0), HL), 1.0);
    }

    #[test]
    fn penalties_halve_every_half_life() {
        let mut s = TrustState::default();
        apply(&mut s, "cross_customer", at(0.0));
        assert!((s.value(at(0.0), HL) - 0.75).abs() < 1e-9);
        assert!((s.value(at(7.0), HL) - 0.875).abs() < 1e-9);
        assert!((s.value(at(14.0), HL) - 0.9375).abs() < 1e-9);
        // Time going backwards does not make it worse.
        assert!((s.value(Timestamp::EPOCH, HL) - 0.75).abs() < 1e-9);
    }

    /// The fairness table at ACL-2 (escalate below 0.7, block below 0.3).
    #[test]
    fn fairness_table() {
        let escalate = 0.7;
        let block = 0.3;
        let cases: &[(&[&str], &str, f64, f64)] = &[
            // (codes in order, one a minute, expectation: trust at least, at most)
            (
                &["daily_limit_exceeded"],
                "honest customer hits a limit once",
                0.95,
                1.0,
            ),
            (
                &["daily_limit_exceeded", "weekly_limit_exceeded"],
                "hits two limits",
                0.9,
                0.95,
            ),
            (
                &["prompt_injection"],
                "one blocked injection (maybe a false positive)",
                0.75,
                0.75,
            ),
            (
                &["prompt_injection", "prompt_injection"],
                "two blocked injections",
                0.5,
                0.5,
            ),
            (
                &["prompt_injection"; 3],
                "three blocked injections",
                0.25,
                0.25,
            ),
            (
                &["cross_customer", "cross_customer"],
                "two cross-customer attempts",
                0.5,
                0.5,
            ),
            (
                &["cross_customer"; 3],
                "three cross-customer attempts",
                0.25,
                0.25,
            ),
            (
                &["trust_escalate"; 20],
                "held for low trust twenty times",
                1.0,
                1.0,
            ),
            (
                &["injection_tool_output"; 5],
                "injections in tool outputs",
                1.0,
                1.0,
            ),
            (&["approval_required"; 5], "big refunds", 1.0, 1.0),
        ];
        for (codes, what, lo, hi) in cases {
            let mut s = TrustState::default();
            let mut t = at(0.0);
            for code in codes.iter() {
                apply(&mut s, code, t);
                t = t.saturating_add(Duration::from_secs(60));
            }
            let v = s.value(t, HL);
            assert!(v >= lo - 1e-3 && v <= hi + 1e-3, "{what}: {v}");
            if *lo >= 0.95 {
                assert!(v >= escalate, "{what} must not escalate");
            }
        }
        // The three-strikes cases end below both floors.
        let mut s = TrustState::default();
        for _ in 0..2 {
            apply(&mut s, "prompt_injection", at(0.0));
        }
        assert!(s.value(at(0.0), HL) < escalate);
        apply(&mut s, "cross_customer", at(0.0));
        assert!(s.value(at(0.0), HL) < block);
    }

    #[test]
    fn no_lock_out_spiral() {
        let mut s = TrustState::default();
        for _ in 0..3 {
            apply(&mut s, "prompt_injection", at(0.0));
        }
        let low = s.value(at(0.0), HL);
        for i in 0..50 {
            assert!(apply(&mut s, "trust_block", at(f64::from(i) / 10.0)).is_none());
        }
        // Only decay moved it: recovery still happens.
        assert!(s.value(at(5.0), HL) > low);
        assert!(s.value(at(21.0), HL) > 0.9);
    }

    #[test]
    fn approved_escalation_refunds_its_penalty_once() {
        let mut s = TrustState::default();
        let r = apply(&mut s, "takeover_pattern", at(0.0));
        let Some(r) = r else {
            unreachable!("takeover costs trust")
        };
        assert!((s.value(at(0.0), HL) - 0.9).abs() < 1e-9);
        let v = s.refund(&r, HL, at(1.0), 32);
        assert!((v - 1.0).abs() < 1e-9, "{v}");
        apply(&mut s, "daily_limit_exceeded", at(1.0));
        let again = s.refund(&r, HL, at(1.0), 32);
        assert!(
            (again - 0.95).abs() < 1e-9,
            "a second refund must not pay out: {again}"
        );
        let h = s.history();
        assert_eq!(h.len(), 3);
        assert!(h.first().is_some_and(TrustEntry::refunded));
        assert!(h
            .get(1)
            .is_some_and(|e| e.code() == "approved" && e.delta() > 0.0));
    }

    #[test]
    fn history_is_bounded() {
        let mut s = TrustState::default();
        for i in 0..100 {
            s.penalize(
                "C",
                Penalty {
                    code: "x",
                    amount: 0.001,
                },
                HL,
                at(f64::from(i)),
                8,
            );
        }
        assert_eq!(s.history().len(), 8);
    }

    #[test]
    fn penalties_are_clamped_and_trust_stays_in_unit_range() {
        let mut s = TrustState::default();
        for amount in [f64::NAN, -1.0, 0.0] {
            assert!(s
                .penalize("C", Penalty { code: "x", amount }, HL, at(0.0), 8)
                .is_none());
        }
        for _ in 0..10 {
            s.penalize(
                "C",
                Penalty {
                    code: "x",
                    amount: 7.0,
                },
                HL,
                at(0.0),
                8,
            );
        }
        assert_eq!(s.value(at(0.0), HL), 0.0);
        assert!(s.value(at(1.0), Duration::ZERO) >= 0.99);
        assert!(!s.faded(at(1.0)));
        assert!(s.faded(at(10_000.0)));
        assert_eq!(decay(DAY, Duration::ZERO), 0.0);
    }

    #[test]
    fn strongest_picks_one_penalty_per_decision() {
        let p = TrustPenalties::default();
        assert_eq!(p.strongest(["trust_escalate", "near_daily_limit"]), None);
        assert_eq!(
            p.strongest(["daily_limit_exceeded", "weekly_limit_exceeded"]),
            Some(("daily_limit_exceeded", 0.05))
        );
        assert_eq!(TrustPenalties::none().penalty("cross_customer"), 0.0);
        assert_eq!(TrustPenalties::none().with("x", f64::NAN).penalty("x"), 0.0);
    }
}
