//! What a check asks of the store, and what the store answers.
//!
//! The request carries every limit as data (no closure), so a network store can evaluate it in
//! one atomic server-side script; the answer carries the facts (totals, counts, times, trust) and
//! whether the call was reserved. [`Facts::findings`] turns the facts into reason codes, and the
//! same rule decides whether the store reserves: a call reserves only when the caller's
//! stateless rules let it run and no finding of the store holds it (ESCALATE or BLOCK).

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::check::Intervention;
use crate::money::{Money, Ratio};
use crate::policy::{Blueprint, ToolKind};

use super::clock::Timestamp;

/// Rolling window of the per-customer daily total.
pub const DAY: Duration = Duration::from_secs(24 * 3600);
/// Rolling window of the per-customer weekly total and of frequency counts.
pub const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);
/// Rolling window of the agent-wide total.
pub const HOUR: Duration = Duration::from_secs(3600);

/// When the store may reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Admit {
    /// Reserve when no finding of the store holds the call: the caller's stateless rules
    /// already said it may run.
    IfClear,
    /// Compute the facts only: the stateless rules hold or block the call.
    Never,
    /// Reserve whatever the facts say: shadow mode, where every call really runs.
    Always,
}

/// One check-and-reserve: who, what, how much, and every limit that applies.
///
/// ```
/// use guard_core::{Blueprint, Currency, Money, ToolKind};
/// use guard_core::store::{Admit, ReserveRequest};
/// let bp = Blueprint::embedded_default()?;
/// let usd = Currency::from_code("USD")?;
/// let req = ReserveRequest::from_blueprint(&bp, "call-1", "C-1", "bot", ToolKind::Refund)
///     .amount(Money::parse("120", usd)?)
///     .admit(Admit::IfClear);
/// assert_eq!(req.daily_limit_value(), Some(bp.tripwires().daily_user_refund_limit()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReserveRequest<'a> {
    pub(crate) call_id: &'a str,
    pub(crate) customer: &'a str,
    pub(crate) agent: &'a str,
    pub(crate) kind: ToolKind,
    pub(crate) amount: Option<Money>,
    pub(crate) daily_limit: Option<Money>,
    pub(crate) weekly_limit: Option<Money>,
    pub(crate) agent_hourly_limit: Option<Money>,
    pub(crate) nudge_ratio: Ratio,
    pub(crate) frequency_threshold: Option<NonZeroU32>,
    pub(crate) takeover_window: Option<Duration>,
    pub(crate) trust_half_life: Duration,
    pub(crate) trust_escalate_below: Option<f64>,
    pub(crate) trust_block_below: Option<f64>,
    pub(crate) reservation_ttl: Duration,
    pub(crate) admit: Admit,
}

impl<'a> ReserveRequest<'a> {
    /// A request with no limits at all (everything fits), trust reported with a 7-day
    /// half-life, a 15-minute reservation TTL and [`Admit::IfClear`].
    pub fn new(call_id: &'a str, customer: &'a str, agent: &'a str, kind: ToolKind) -> Self {
        Self {
            call_id,
            customer,
            agent,
            kind,
            amount: None,
            daily_limit: None,
            weekly_limit: None,
            agent_hourly_limit: None,
            nudge_ratio: Ratio::from_basis_points(10_000).unwrap_or_default(),
            frequency_threshold: None,
            takeover_window: None,
            trust_half_life: WEEK,
            trust_escalate_below: None,
            trust_block_below: None,
            reservation_ttl: Duration::from_secs(15 * 60),
            admit: Admit::IfClear,
        }
    }

    /// A request with the blueprint's limits for a tool of `kind`:
    /// refunds get the daily, weekly and agent-hourly limits and the refund frequency;
    /// refunds and data exports the takeover window; money and account actions the trust
    /// floors. Set the amount with [`ReserveRequest::amount`].
    pub fn from_blueprint(
        bp: &Blueprint,
        call_id: &'a str,
        customer: &'a str,
        agent: &'a str,
        kind: ToolKind,
    ) -> Self {
        let tw = bp.tripwires();
        let trust = bp.trust();
        let mut req = Self::new(call_id, customer, agent, kind)
            .nudge_ratio(tw.nudge_ratio())
            .trust_half_life(trust.half_life())
            .reservation_ttl(bp.store().reservation_ttl());
        if kind == ToolKind::Refund {
            req = req
                .daily_limit(tw.daily_user_refund_limit())
                .weekly_limit(tw.weekly_user_refund_limit())
                .agent_hourly_limit(tw.agent_hourly_refund_limit())
                .frequency_threshold(tw.refund_frequency_threshold());
        }
        if matches!(kind, ToolKind::Refund | ToolKind::DataExport) {
            req = req.takeover_window(tw.takeover_window());
        }
        if kind.is_sensitive() {
            req = req.trust_floors(
                trust.escalate_below().as_f64(),
                trust.block_below().as_f64(),
            );
        }
        req
    }

    /// The amount of a money call: it counts toward the totals of its kind.
    pub fn amount(mut self, amount: Money) -> Self {
        self.amount = Some(amount);
        self
    }
    /// Rolling-24 h limit of this customer's totals of this kind.
    pub fn daily_limit(mut self, limit: Money) -> Self {
        self.daily_limit = Some(limit);
        self
    }
    /// Rolling-7-day limit of this customer's totals of this kind.
    pub fn weekly_limit(mut self, limit: Money) -> Self {
        self.weekly_limit = Some(limit);
        self
    }
    /// Rolling-1 h limit of this agent's totals of this kind, across customers.
    pub fn agent_hourly_limit(mut self, limit: Money) -> Self {
        self.agent_hourly_limit = Some(limit);
        self
    }
    /// Above this share of a limit, the facts say "near".
    pub fn nudge_ratio(mut self, ratio: Ratio) -> Self {
        self.nudge_ratio = ratio;
        self
    }
    /// The Nth call of this kind inside 7 days (counting this one) is held.
    pub fn frequency_threshold(mut self, n: NonZeroU32) -> Self {
        self.frequency_threshold = Some(n);
        self
    }
    /// A call this soon after an account change is held.
    pub fn takeover_window(mut self, window: Duration) -> Self {
        self.takeover_window = Some(window);
        self
    }
    /// The trust half-life, used to report trust even when no floor applies.
    pub fn trust_half_life(mut self, half_life: Duration) -> Self {
        self.trust_half_life = half_life;
        self
    }
    /// Trust below `escalate_below` holds the call, below `block_below` blocks it.
    pub fn trust_floors(mut self, escalate_below: f64, block_below: f64) -> Self {
        self.trust_escalate_below = Some(escalate_below);
        self.trust_block_below = Some(block_below);
        self
    }
    /// An unsettled reservation counts as committed (and can no longer be released) after this.
    pub fn reservation_ttl(mut self, ttl: Duration) -> Self {
        self.reservation_ttl = ttl;
        self
    }
    /// When to reserve.
    pub fn admit(mut self, admit: Admit) -> Self {
        self.admit = admit;
        self
    }
    /// Drops the rules behind the given ESCALATE codes (those an approval token waives):
    /// `refund_frequency` (or any `*_frequency`), `takeover_pattern`, `trust_escalate`. Other
    /// codes are ignored: no BLOCK rule can be waived.
    pub fn waive<'c>(mut self, codes: impl IntoIterator<Item = &'c str>) -> Self {
        for code in codes {
            if code == frequency_code(self.kind) {
                self.frequency_threshold = None;
            } else if code == TAKEOVER {
                self.takeover_window = None;
            } else if code == TRUST_ESCALATE {
                self.trust_escalate_below = None;
            }
        }
        self
    }

    /// The call id.
    pub fn call_id(&self) -> &str {
        self.call_id
    }
    /// The customer.
    pub fn customer(&self) -> &str {
        self.customer
    }
    /// The agent.
    pub fn agent(&self) -> &str {
        self.agent
    }
    /// The tool kind.
    pub fn kind(&self) -> ToolKind {
        self.kind
    }
    /// The amount, if any.
    pub fn amount_value(&self) -> Option<Money> {
        self.amount
    }
    /// The daily limit, if any.
    pub fn daily_limit_value(&self) -> Option<Money> {
        self.daily_limit
    }
    /// The admission rule.
    pub fn admit_value(&self) -> Admit {
        self.admit
    }
}

pub(crate) const DAILY_EXCEEDED: &str = "daily_limit_exceeded";
pub(crate) const WEEKLY_EXCEEDED: &str = "weekly_limit_exceeded";
pub(crate) const AGENT_EXCEEDED: &str = "agent_hourly_limit_exceeded";
pub(crate) const NEAR_DAILY: &str = "near_daily_limit";
pub(crate) const NEAR_WEEKLY: &str = "near_weekly_limit";
pub(crate) const TAKEOVER: &str = "takeover_pattern";
pub(crate) const TRUST_ESCALATE: &str = "trust_escalate";
pub(crate) const TRUST_BLOCK: &str = "trust_block";

/// The frequency code of a tool kind: `refund_frequency`, `data_export_frequency`, ...
pub fn frequency_code(kind: ToolKind) -> &'static str {
    match kind {
        ToolKind::Refund => "refund_frequency",
        ToolKind::Discount => "discount_frequency",
        ToolKind::DataExport => "data_export_frequency",
        ToolKind::AccountChange => "account_change_frequency",
        ToolKind::Read | ToolKind::Write => "call_frequency",
    }
}

/// Which rolling window a total belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// The customer's rolling 24 h.
    Day,
    /// The customer's rolling 7 days.
    Week,
    /// The agent's rolling hour, across customers.
    AgentHour,
}

/// A window's total against its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitFact {
    pub(crate) window: Window,
    pub(crate) total: Money,
    pub(crate) after: Money,
    pub(crate) limit: Money,
    pub(crate) nudge_ratio: Ratio,
}

impl LimitFact {
    pub(crate) fn new(
        window: Window,
        total: Money,
        amount: Money,
        limit: Money,
        nudge_ratio: Ratio,
    ) -> Result<Self, crate::money::MoneyError> {
        let after = total.checked_add(amount)?;
        // A limit in another currency must fail, not compare raw minor units.
        after.checked_add(Money::from_minor(0, limit.currency()))?;
        Ok(Self {
            window,
            total,
            after,
            limit,
            nudge_ratio,
        })
    }

    /// The window.
    pub fn window(&self) -> Window {
        self.window
    }
    /// The window's total before this call (pending and committed reservations).
    pub fn total(&self) -> Money {
        self.total
    }
    /// The total with this call.
    pub fn after(&self) -> Money {
        self.after
    }
    /// The limit.
    pub fn limit(&self) -> Money {
        self.limit
    }
    /// Whether the total with this call is above the limit.
    pub fn exceeded(&self) -> bool {
        self.after.minor_units() > self.limit.minor_units()
    }
    /// Whether it fits but is above the nudge share of the limit.
    pub fn near(&self) -> bool {
        !self.exceeded() && self.after.above_ratio_of(self.limit, self.nudge_ratio)
    }
}

/// How a settled or retried call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationState {
    /// Reserved, not settled yet, inside its TTL.
    Pending,
    /// Reserved and not settled within its TTL: counted as committed.
    Expired,
    /// Committed.
    Committed,
    /// Released: does not count.
    Released,
}

/// What `check_and_reserve` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reservation {
    /// This call now counts toward the totals, pending settlement.
    Reserved,
    /// Nothing was reserved.
    NotReserved,
    /// The call id was already reserved (a retry): nothing new was counted. The facts are
    /// computed without it, so they describe the call as if it were checked again.
    Existing(ReservationState),
}

/// The store's answer: every fact the stateful rules need, and whether the call reserved.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub(crate) kind: ToolKind,
    pub(crate) now: Timestamp,
    pub(crate) daily: Option<LimitFact>,
    pub(crate) weekly: Option<LimitFact>,
    pub(crate) agent_hourly: Option<LimitFact>,
    pub(crate) count: u32,
    pub(crate) frequency_threshold: Option<NonZeroU32>,
    pub(crate) last_account_change: Option<Timestamp>,
    pub(crate) takeover_window: Option<Duration>,
    pub(crate) trust: f64,
    pub(crate) trust_escalate_below: Option<f64>,
    pub(crate) trust_block_below: Option<f64>,
    pub(crate) reservation: Reservation,
}

impl Facts {
    /// The customer's rolling-24 h total of this kind, if a daily limit was asked for.
    pub fn daily(&self) -> Option<&LimitFact> {
        self.daily.as_ref()
    }
    /// The customer's rolling-7-day total, if a weekly limit was asked for.
    pub fn weekly(&self) -> Option<&LimitFact> {
        self.weekly.as_ref()
    }
    /// The agent's rolling-1 h total, if an agent limit was asked for.
    pub fn agent_hourly(&self) -> Option<&LimitFact> {
        self.agent_hourly.as_ref()
    }
    /// Calls of this kind by this customer inside 7 days, counting this one.
    pub fn count(&self) -> u32 {
        self.count
    }
    /// Whether this is the Nth (or later) call inside 7 days.
    pub fn frequency_reached(&self) -> bool {
        self.frequency_threshold
            .is_some_and(|n| self.count >= n.get())
    }
    /// The customer's last account change, if any is remembered.
    pub fn last_account_change(&self) -> Option<Timestamp> {
        self.last_account_change
    }
    /// Whether the call comes inside the takeover window after an account change.
    pub fn takeover(&self) -> bool {
        match (self.takeover_window, self.last_account_change) {
            // A change stamped after `now` (clocks of two writers) counts as just now.
            (Some(window), Some(changed)) if !window.is_zero() => {
                changed >= self.now || self.now.since(changed) < window
            }
            _ => false,
        }
    }
    /// The customer's trust in `[0, 1]` at the time of the check.
    pub fn trust(&self) -> f64 {
        self.trust
    }
    /// What the store did with the call.
    pub fn reservation(&self) -> Reservation {
        self.reservation
    }
    /// Whether this call now counts (newly reserved or already reserved by an earlier try).
    pub fn reserved(&self) -> bool {
        matches!(
            self.reservation,
            Reservation::Reserved
                | Reservation::Existing(
                    ReservationState::Pending
                        | ReservationState::Committed
                        | ReservationState::Expired
                )
        )
    }

    /// The rules the facts trip, each with its code and intervention. The caller turns them
    /// into reasons (adding customer-facing text).
    pub fn findings(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        let limit = |fact: &Option<LimitFact>,
                     exceeded: &'static str,
                     near: Option<&'static str>,
                     what: &str,
                     out: &mut Vec<Finding>| {
            let Some(f) = fact else { return };
            if f.exceeded() {
                out.push(Finding::new(
                    exceeded,
                    Intervention::Block,
                    format!(
                        "{what} would reach {} with this call (already {}); the limit is {}",
                        f.after, f.total, f.limit
                    ),
                ));
            } else if let (true, Some(code)) = (f.near(), near) {
                out.push(Finding::new(
                    code,
                    Intervention::Nudge,
                    format!(
                        "{what} reaches {} of the limit of {} with this call; verify the order and the reason",
                        f.after, f.limit
                    ),
                ));
            }
        };
        limit(
            &self.daily,
            DAILY_EXCEEDED,
            Some(NEAR_DAILY),
            "the customer's rolling 24 h total",
            &mut out,
        );
        limit(
            &self.weekly,
            WEEKLY_EXCEEDED,
            Some(NEAR_WEEKLY),
            "the customer's rolling 7-day total",
            &mut out,
        );
        limit(
            &self.agent_hourly,
            AGENT_EXCEEDED,
            None,
            "the agent's rolling 1 h total across customers",
            &mut out,
        );
        if let (true, Some(n)) = (self.frequency_reached(), self.frequency_threshold) {
            out.push(Finding::new(
                frequency_code(self.kind),
                Intervention::Escalate,
                format!(
                    "{} call number {} of this customer inside 7 days, counting this one (threshold {n})",
                    self.kind.as_str(),
                    self.count
                ),
            ));
        }
        if self.takeover() {
            let ago = self
                .last_account_change
                .map_or(Duration::ZERO, |t| self.now.since(t));
            out.push(Finding::new(
                TAKEOVER,
                Intervention::Escalate,
                format!(
                    "{} {}s after an account change",
                    self.kind.as_str(),
                    ago.as_secs()
                ),
            ));
        }
        if self
            .trust_block_below
            .is_some_and(|floor| self.trust < floor)
        {
            out.push(Finding::new(
                TRUST_BLOCK,
                Intervention::Block,
                format!("customer trust {:.2} is below the block floor", self.trust),
            ));
        } else if self
            .trust_escalate_below
            .is_some_and(|floor| self.trust < floor)
        {
            out.push(Finding::new(
                TRUST_ESCALATE,
                Intervention::Escalate,
                format!(
                    "customer trust {:.2} is below the escalation floor",
                    self.trust
                ),
            ));
        }
        out
    }

    /// Whether some finding holds the call (ESCALATE or BLOCK): such calls do not reserve.
    /// Same rule as [`Facts::findings`], without building messages (it runs under the lock).
    pub fn holds(&self) -> bool {
        let exceeded = [&self.daily, &self.weekly, &self.agent_hourly]
            .into_iter()
            .flatten()
            .any(LimitFact::exceeded);
        let low_trust = [self.trust_escalate_below, self.trust_block_below]
            .into_iter()
            .flatten()
            .any(|floor| self.trust < floor);
        exceeded || self.frequency_reached() || self.takeover() || low_trust
    }
}

/// A stateful rule that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    code: &'static str,
    intervention: Intervention,
    message: String,
}

impl Finding {
    fn new(code: &'static str, intervention: Intervention, message: String) -> Self {
        Self {
            code,
            intervention,
            message,
        }
    }
    /// Stable code: `daily_limit_exceeded`, `near_weekly_limit`, `refund_frequency`, ...
    pub fn code(&self) -> &'static str {
        self.code
    }
    /// The intervention it asks for.
    pub fn intervention(&self) -> Intervention {
        self.intervention
    }
    /// For operators (cites totals and limits: never show it to the customer).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.intervention, self.message)
    }
}
