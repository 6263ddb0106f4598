//! Rolling windows: one customer's reservations and one agent's hourly total, and the
//! check-and-reserve algorithm over them. Storage-agnostic: the memory store runs it under a
//! shard lock; a network store runs the same steps in one server-side script.

use std::collections::VecDeque;
use std::time::Duration;

use crate::money::{Currency, Money, MoneyError};
use crate::policy::ToolKind;

use super::clock::Timestamp;
use super::facts::{
    Admit, Facts, LimitFact, Reservation, ReservationState, ReserveRequest, Window, DAY, HOUR, WEEK,
};
use super::trust::TrustState;
use super::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    Pending,
    Committed,
    Released,
}

/// One reservation of an allowed call.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) call_id: Box<str>,
    kind: ToolKind,
    amount: Option<Money>,
    at: Timestamp,
    settle_by: Timestamp,
    settled: Settled,
}

impl Event {
    fn state(&self, now: Timestamp) -> ReservationState {
        match self.settled {
            Settled::Committed => ReservationState::Committed,
            Settled::Released => ReservationState::Released,
            Settled::Pending if now >= self.settle_by => ReservationState::Expired,
            Settled::Pending => ReservationState::Pending,
        }
    }

    /// Released calls do not count; pending, expired and committed ones do.
    fn counts(&self) -> bool {
        self.settled != Settled::Released
    }

    fn in_window(&self, now: Timestamp, window: Duration) -> bool {
        // A reservation stamped after `now` (another thread's clock ran ahead) counts: erring
        // toward counting keeps limits safe.
        self.at >= now || now.since(self.at) < window
    }
}

/// What a settlement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Settlement {
    /// Now committed.
    Committed,
    /// Now released: no longer counts.
    Released,
    /// Was already committed: nothing changed.
    AlreadyCommitted,
    /// Was already released: nothing changed.
    AlreadyReleased,
    /// A release came after the reservation TTL: it stays counted as committed.
    Expired,
    /// No reservation with this id (never reserved, or older than 7 days and forgotten).
    Unknown,
}

/// Everything the store keeps about one customer.
#[derive(Debug, Clone, Default)]
pub(crate) struct CustomerWindow {
    events: VecDeque<Event>,
    pub(crate) last_account_change: Option<Timestamp>,
    pub(crate) trust: TrustState,
}

/// Subtraction for running sums; amounts are never negative, so `checked_neg` only fails on
/// corrupt state.
fn minus(a: Money, b: Money) -> Result<Money, MoneyError> {
    let neg = b.minor_units().checked_neg().ok_or(MoneyError::Overflow)?;
    a.checked_add(Money::from_minor(neg, b.currency()))
}

impl CustomerWindow {
    /// Forgets reservations older than the longest window. Their call ids go to `removed` so
    /// the caller can drop them from its call index.
    pub(crate) fn prune(&mut self, now: Timestamp, removed: &mut Vec<Box<str>>) {
        if self
            .last_account_change
            .is_some_and(|t| t < now && now.since(t) >= WEEK)
        {
            self.last_account_change = None;
        }
        // The common case, nothing stale, costs one scan and no allocation.
        if self.events.iter().all(|e| e.in_window(now, WEEK)) {
            return;
        }
        let mut kept = VecDeque::with_capacity(self.events.len());
        for e in self.events.drain(..) {
            if e.in_window(now, WEEK) {
                kept.push_back(e);
            } else {
                removed.push(e.call_id);
            }
        }
        self.events = kept;
        if self.events.capacity() > 4 * self.events.len().max(4) {
            self.events.shrink_to_fit();
        }
    }

    /// Whether nothing here matters any more.
    pub(crate) fn is_idle(&self, now: Timestamp) -> bool {
        self.events.is_empty() && self.last_account_change.is_none() && self.trust.faded(now)
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.events.capacity() * std::mem::size_of::<Event>()
            + self.events.iter().map(|e| e.call_id.len()).sum::<usize>()
            + self.trust.approx_bytes()
            - std::mem::size_of::<TrustState>()
    }

    fn position(&self, call_id: &str) -> Option<usize> {
        self.events.iter().position(|e| &*e.call_id == call_id)
    }

    /// The window totals of `kind` and the count of calls of `kind` inside 7 days, leaving out
    /// `exclude` (a retried call already counted).
    fn totals(
        &self,
        kind: ToolKind,
        currency: Option<Currency>,
        now: Timestamp,
        exclude: Option<usize>,
    ) -> Result<(Option<Money>, Option<Money>, u32), MoneyError> {
        let mut day = currency.map(|c| Money::from_minor(0, c));
        let mut week = day;
        let mut count: u32 = 0;
        for (i, e) in self.events.iter().enumerate() {
            if Some(i) == exclude || e.kind != kind || !e.counts() || !e.in_window(now, WEEK) {
                continue;
            }
            count = count.saturating_add(1);
            if let (Some(a), Some(w)) = (e.amount, week) {
                week = Some(w.checked_add(a)?);
                if let (true, Some(d)) = (e.in_window(now, DAY), day) {
                    day = Some(d.checked_add(a)?);
                }
            }
        }
        Ok((day, week, count))
    }

    /// The check-and-reserve algorithm (see [`super::Store::check_and_reserve`]).
    pub(crate) fn check_and_reserve(
        &mut self,
        mut agent: Option<&mut AgentWindow>,
        req: &ReserveRequest<'_>,
        now: Timestamp,
        call_key: u64,
        max_events: usize,
    ) -> Result<Facts, StoreError> {
        if let Some(a) = req.amount {
            if a.minor_units() < 0 {
                return Err(StoreError::NegativeAmount(a));
            }
        }
        let found = self.position(req.call_id);
        // A released call retried under its id is checked afresh: it counts nowhere now, and
        // if admitted its entry is revived rather than duplicated.
        let revive = found.filter(|&i| {
            self.events
                .get(i)
                .is_some_and(|e| e.settled == Settled::Released)
        });
        let existing = found.filter(|_| revive.is_none());
        let existing_state = existing
            .and_then(|i| self.events.get(i))
            .map(|e| e.state(now));

        let amount = req.amount;
        let currency = amount
            .or(req.daily_limit)
            .or(req.weekly_limit)
            .or(req.agent_hourly_limit)
            .map(|m| m.currency());
        let (day, week, prior) = self.totals(req.kind, currency, now, existing)?;
        let fact = |w: Window,
                    total: Option<Money>,
                    limit: Option<Money>|
         -> Result<Option<LimitFact>, MoneyError> {
            match (total, limit) {
                (Some(t), Some(l)) => {
                    let this = amount.unwrap_or(Money::from_minor(0, t.currency()));
                    LimitFact::new(w, t, this, l, req.nudge_ratio).map(Some)
                }
                _ => Ok(None),
            }
        };
        let daily = fact(Window::Day, day, req.daily_limit)?;
        let weekly = fact(Window::Week, week, req.weekly_limit)?;
        let agent_hourly = match (req.agent_hourly_limit, agent.as_deref_mut()) {
            (Some(limit), Some(w)) => {
                let this = amount.unwrap_or(Money::from_minor(0, limit.currency()));
                let total = w.total(now, this.currency(), existing.map(|_| call_key))?;
                Some(LimitFact::new(
                    Window::AgentHour,
                    total,
                    this,
                    limit,
                    req.nudge_ratio,
                )?)
            }
            _ => None,
        };

        let mut facts = Facts {
            kind: req.kind,
            now,
            daily,
            weekly,
            agent_hourly,
            count: prior.saturating_add(1),
            frequency_threshold: req.frequency_threshold,
            last_account_change: self.last_account_change,
            takeover_window: req.takeover_window,
            trust: self.trust.value(now, req.trust_half_life),
            trust_escalate_below: req.trust_escalate_below,
            trust_block_below: req.trust_block_below,
            reservation: Reservation::NotReserved,
        };
        if let Some(state) = existing_state {
            facts.reservation = Reservation::Existing(state);
            return Ok(facts);
        }
        let reserve = match req.admit {
            Admit::Always => true,
            Admit::Never => false,
            Admit::IfClear => !facts.holds(),
        };
        if !reserve {
            return Ok(facts);
        }
        if revive.is_none() && self.events.len() >= max_events {
            return Err(StoreError::HistoryFull { limit: max_events });
        }
        if let (Some(a), Some(w)) = (amount, agent) {
            if req.agent_hourly_limit.is_some() {
                w.push(now, a, call_key)?;
            }
        }
        let event = Event {
            call_id: req.call_id.into(),
            kind: req.kind,
            amount,
            at: now,
            settle_by: now.saturating_add(req.reservation_ttl),
            settled: Settled::Pending,
        };
        match revive.and_then(|i| self.events.get_mut(i)) {
            Some(slot) => *slot = event,
            None => self.events.push_back(event),
        }
        if req.kind == ToolKind::AccountChange {
            self.record_account_change(now);
        }
        facts.reservation = Reservation::Reserved;
        Ok(facts)
    }

    pub(crate) fn record_account_change(&mut self, now: Timestamp) {
        self.last_account_change = Some(self.last_account_change.map_or(now, |t| t.max(now)));
    }

    /// Settles a reservation. Returns what happened and, when a release must also leave the
    /// agent's window, the amount and time to remove there.
    pub(crate) fn settle(
        &mut self,
        call_id: &str,
        commit: bool,
        now: Timestamp,
    ) -> (Settlement, Option<(Money, Timestamp)>) {
        let Some(e) = self.events.iter_mut().find(|e| &*e.call_id == call_id) else {
            return (Settlement::Unknown, None);
        };
        match (e.state(now), commit) {
            (ReservationState::Committed, _) => (Settlement::AlreadyCommitted, None),
            (ReservationState::Released, _) => (Settlement::AlreadyReleased, None),
            (ReservationState::Pending | ReservationState::Expired, true) => {
                e.settled = Settled::Committed;
                (Settlement::Committed, None)
            }
            (ReservationState::Expired, false) => {
                e.settled = Settled::Committed;
                (Settlement::Expired, None)
            }
            (ReservationState::Pending, false) => {
                e.settled = Settled::Released;
                (Settlement::Released, e.amount.map(|a| (a, e.at)))
            }
        }
    }
}

#[derive(Debug, Clone)]
struct AgentEntry {
    at: Timestamp,
    amount: Money,
    call_key: u64,
    released: bool,
}

/// One agent's reservations of one kind in the last hour, with a running sum so a busy agent's
/// check stays O(1) amortised.
#[derive(Debug, Clone, Default)]
pub(crate) struct AgentWindow {
    entries: VecDeque<AgentEntry>,
    active: Option<Money>,
}

impl AgentWindow {
    fn evict(&mut self, now: Timestamp) -> Result<(), MoneyError> {
        while let Some(front) = self.entries.front() {
            if front.at >= now || now.since(front.at) < HOUR {
                break;
            }
            if !front.released {
                if let Some(active) = self.active {
                    self.active = Some(minus(active, front.amount)?);
                }
            }
            self.entries.pop_front();
        }
        if self.entries.is_empty() {
            self.active = None;
        }
        Ok(())
    }

    fn total(
        &mut self,
        now: Timestamp,
        currency: Currency,
        exclude: Option<u64>,
    ) -> Result<Money, MoneyError> {
        self.evict(now)?;
        let mut total = self.active.unwrap_or(Money::from_minor(0, currency));
        if let Some(key) = exclude {
            if let Some(e) = self
                .entries
                .iter()
                .find(|e| e.call_key == key && !e.released)
            {
                total = minus(total, e.amount)?;
            }
        }
        Ok(total)
    }

    fn push(&mut self, at: Timestamp, amount: Money, call_key: u64) -> Result<(), MoneyError> {
        self.active = Some(match self.active {
            Some(a) => a.checked_add(amount)?,
            None => amount,
        });
        let pos = self
            .entries
            .iter()
            .rposition(|e| e.at <= at)
            .map_or(0, |i| i + 1);
        self.entries.insert(
            pos,
            AgentEntry {
                at,
                amount,
                call_key,
                released: false,
            },
        );
        Ok(())
    }

    pub(crate) fn release(
        &mut self,
        call_key: u64,
        at: Timestamp,
        amount: Money,
    ) -> Result<(), MoneyError> {
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.call_key == call_key && e.at == at && !e.released)
        {
            e.released = true;
            if let Some(active) = self.active {
                self.active = Some(minus(active, amount)?);
            }
        }
        Ok(())
    }

    pub(crate) fn prune(&mut self, now: Timestamp) -> Result<(), MoneyError> {
        self.evict(now)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
