//! The in-memory store: customers spread over many locks so they do not contend.
//!
//! Three sharded maps, each shard its own `parking_lot::Mutex`:
//! customers (rolling windows, account changes, trust), agents (hourly totals), and the call
//! index (call id → customer, for settlement by id alone). Locks are only ever taken in the
//! order customer → agent → call index, and settlement reads the index before (not while)
//! locking the customer, so no two operations can wait on each other in a cycle.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

use crate::policy::ToolKind;

use super::clock::Timestamp;
use super::facts::{Facts, Reservation, ReserveRequest};
use super::trust::{Penalty, PenaltyReceipt, TrustEntry};
use super::window::{AgentWindow, CustomerWindow, Settlement};
use super::{Store, StoreError};

type Shards<T> = Box<[Mutex<HashMap<Box<str>, T>>]>;

#[derive(Debug, Clone)]
struct CallLoc {
    customer: Box<str>,
    agent: Box<str>,
    kind: ToolKind,
}

/// Per agent: one hourly window per tool kind.
#[derive(Debug, Default)]
struct AgentState {
    windows: BTreeMap<ToolKind, AgentWindow>,
}

impl AgentState {
    fn window(&mut self, kind: ToolKind) -> &mut AgentWindow {
        self.windows.entry(kind).or_default()
    }
}

/// Builds a [`MemoryStore`].
///
/// ```
/// use guard_core::store::MemoryStore;
/// use std::num::NonZeroUsize;
/// let store = MemoryStore::builder()
///     .shards(NonZeroUsize::new(128).unwrap())
///     .max_events_per_customer(1024)
///     .build();
/// # let _ = store;
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    shards: NonZeroUsize,
    max_events: usize,
    trust_history: usize,
    prune_every: u64,
}

impl Default for MemoryStoreBuilder {
    fn default() -> Self {
        Self {
            shards: NonZeroUsize::MIN.saturating_add(63),
            max_events: 4096,
            trust_history: 32,
            prune_every: 1024,
        }
    }
}

impl MemoryStoreBuilder {
    /// Number of lock shards per map (default 64).
    pub fn shards(mut self, n: NonZeroUsize) -> Self {
        self.shards = n;
        self
    }
    /// Reservations one customer may hold inside 7 days (default 4096); beyond it checks fail
    /// closed with [`StoreError::HistoryFull`].
    pub fn max_events_per_customer(mut self, n: usize) -> Self {
        self.max_events = n;
        self
    }
    /// Trust changes kept per customer for reviewers (default 32).
    pub fn trust_history(mut self, n: usize) -> Self {
        self.trust_history = n;
        self
    }
    /// Sweep one customer shard for stale state every this many checks (default 1024; 0 turns
    /// the background sweep off, leaving [`Store::prune`]).
    pub fn prune_every(mut self, n: u64) -> Self {
        self.prune_every = n;
        self
    }
    /// Builds the store.
    pub fn build(self) -> MemoryStore {
        fn shards<T>(n: usize) -> Shards<T> {
            (0..n).map(|_| Mutex::new(HashMap::new())).collect()
        }
        let n = self.shards.get();
        MemoryStore {
            customers: shards(n),
            agents: shards(n),
            calls: shards(n),
            hasher: RandomState::new(),
            max_events: self.max_events,
            history_cap: self.trust_history,
            prune_every: self.prune_every,
            ops: AtomicU64::new(0),
        }
    }
}

/// The in-memory [`Store`]: the embedded default, sharded by customer and by agent.
///
/// ```
/// use guard_core::store::{MemoryStore, Store, Timestamp, Penalty};
/// use std::time::Duration;
/// let store = MemoryStore::new();
/// let week = Duration::from_secs(7 * 86_400);
/// store.penalize("C-1", Penalty { code: "cross_customer", amount: 0.25 }, week, Timestamp::EPOCH)?;
/// assert_eq!(store.trust("C-1", week, Timestamp::EPOCH)?, 0.75);
/// # Ok::<(), guard_core::store::StoreError>(())
/// ```
pub struct MemoryStore {
    customers: Shards<CustomerWindow>,
    agents: Shards<AgentState>,
    calls: Shards<CallLoc>,
    hasher: RandomState,
    max_events: usize,
    history_cap: usize,
    prune_every: u64,
    ops: AtomicU64,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.customers.len())
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store with the default settings (64 shards).
    pub fn new() -> Self {
        MemoryStoreBuilder::default().build()
    }

    /// Starts a builder.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder::default()
    }

    fn shard<'s, T>(
        &self,
        shards: &'s Shards<T>,
        key: &str,
    ) -> Result<MutexGuard<'s, HashMap<Box<str>, T>>, StoreError> {
        let len = u64::try_from(shards.len()).map_err(|_| StoreError::Internal("shard count"))?;
        let i = usize::try_from(self.hasher.hash_one(key) % len.max(1))
            .map_err(|_| StoreError::Internal("shard index"))?;
        shards
            .get(i)
            .map(Mutex::lock)
            .ok_or(StoreError::Internal("shard index out of range"))
    }

    fn call_key(&self, call_id: &str) -> u64 {
        self.hasher.hash_one(call_id)
    }

    fn forget_calls(&self, ids: Vec<Box<str>>) -> Result<(), StoreError> {
        for id in ids {
            self.shard(&self.calls, &id)?.remove(&id);
        }
        Ok(())
    }

    /// Sweeps one customer shard: stale reservations, idle customers.
    fn prune_customer_shard(&self, i: usize, now: Timestamp) -> Result<usize, StoreError> {
        let Some(shard) = self.customers.get(i) else {
            return Ok(0);
        };
        let mut map = shard.lock();
        let mut removed = Vec::new();
        let before = map.len();
        map.retain(|_, w| {
            w.prune(now, &mut removed);
            !w.is_idle(now)
        });
        let dropped = before - map.len();
        if map.capacity() > 4 * map.len().max(16) {
            map.shrink_to_fit();
        }
        self.forget_calls(removed)?;
        Ok(dropped)
    }

    fn maybe_prune(&self, now: Timestamp) -> Result<(), StoreError> {
        if self.prune_every == 0 {
            return Ok(());
        }
        let n = self.ops.fetch_add(1, Ordering::Relaxed);
        if n % self.prune_every == self.prune_every - 1 {
            let len = u64::try_from(self.customers.len())
                .map_err(|_| StoreError::Internal("shard count"))?;
            let i = usize::try_from((n / self.prune_every) % len.max(1))
                .map_err(|_| StoreError::Internal("shard index"))?;
            self.prune_customer_shard(i, now)?;
        }
        Ok(())
    }

    /// Approximate heap and inline bytes held for one customer (for capacity planning).
    pub fn approx_customer_bytes(&self, customer: &str) -> Result<Option<usize>, StoreError> {
        let map = self.shard(&self.customers, customer)?;
        Ok(map
            .get(customer)
            .map(|w| w.approx_bytes() + customer.len() + std::mem::size_of::<Box<str>>()))
    }

    /// Customers currently held.
    pub fn customer_count(&self) -> usize {
        self.customers.iter().map(|s| s.lock().len()).sum()
    }

    fn with_customer<T>(
        &self,
        customer: &str,
        f: impl FnOnce(&mut CustomerWindow) -> T,
    ) -> Result<T, StoreError> {
        let mut map = self.shard(&self.customers, customer)?;
        if let Some(w) = map.get_mut(customer) {
            return Ok(f(w));
        }
        let w = map.entry(customer.into()).or_default();
        Ok(f(w))
    }

    fn settle(
        &self,
        call_id: &str,
        commit: bool,
        now: Timestamp,
    ) -> Result<Settlement, StoreError> {
        let loc = self.shard(&self.calls, call_id)?.get(call_id).cloned();
        let Some(loc) = loc else {
            return Ok(Settlement::Unknown);
        };
        let mut customers = self.shard(&self.customers, &loc.customer)?;
        let Some(window) = customers.get_mut(&*loc.customer) else {
            return Ok(Settlement::Unknown);
        };
        let (settlement, release) = window.settle(call_id, commit, now);
        if let Some((amount, at)) = release {
            let mut agents = self.shard(&self.agents, &loc.agent)?;
            if let Some(agent) = agents.get_mut(&*loc.agent) {
                agent
                    .window(loc.kind)
                    .release(self.call_key(call_id), at, amount)?;
            }
        }
        Ok(settlement)
    }
}

impl Store for MemoryStore {
    fn check_and_reserve(
        &self,
        req: &ReserveRequest<'_>,
        now: Timestamp,
    ) -> Result<Facts, StoreError> {
        let facts = {
            let mut customers = self.shard(&self.customers, req.customer)?;
            if !customers.contains_key(req.customer) {
                customers.insert(req.customer.into(), CustomerWindow::default());
            }
            let window = customers
                .get_mut(req.customer)
                .ok_or(StoreError::Internal("customer vanished"))?;
            let mut removed = Vec::new();
            window.prune(now, &mut removed);
            // Before any insert below, so a reused id is never dropped right after reserving.
            self.forget_calls(removed)?;
            let loc = || CallLoc {
                customer: req.customer.into(),
                agent: req.agent.into(),
                kind: req.kind,
            };
            // Claim the id before deciding, so two customers racing with one id cannot both
            // reserve it: the second sees the claim.
            let claimed = {
                let mut calls = self.shard(&self.calls, req.call_id)?;
                match calls.get(req.call_id) {
                    Some(l) if &*l.customer != req.customer => {
                        return Err(StoreError::CallIdConflict(req.call_id.to_owned()));
                    }
                    Some(_) => false,
                    None => {
                        calls.insert(req.call_id.into(), loc());
                        true
                    }
                }
            };

            let mut agents = if req.agent_hourly_limit.is_some() {
                Some(self.shard(&self.agents, req.agent)?)
            } else {
                None
            };
            let agent_window = match agents.as_mut() {
                Some(map) => {
                    if !map.contains_key(req.agent) {
                        map.insert(req.agent.into(), AgentState::default());
                    }
                    map.get_mut(req.agent).map(|a| a.window(req.kind))
                }
                None => None,
            };
            let result = window.check_and_reserve(
                agent_window,
                req,
                now,
                self.call_key(req.call_id),
                self.max_events,
            );
            let reserved = matches!(&result, Ok(f) if f.reservation() == Reservation::Reserved);
            match (reserved, claimed) {
                // Overwrite: a revived released call may come from another agent.
                (true, false) => {
                    self.shard(&self.calls, req.call_id)?
                        .insert(req.call_id.into(), loc());
                }
                (false, true) => {
                    self.shard(&self.calls, req.call_id)?.remove(req.call_id);
                }
                _ => {}
            }
            result?
        };
        self.maybe_prune(now)?;
        Ok(facts)
    }

    fn commit(&self, call_id: &str, now: Timestamp) -> Result<Settlement, StoreError> {
        self.settle(call_id, true, now)
    }

    fn release(&self, call_id: &str, now: Timestamp) -> Result<Settlement, StoreError> {
        self.settle(call_id, false, now)
    }

    fn record_account_change(&self, customer: &str, now: Timestamp) -> Result<(), StoreError> {
        self.with_customer(customer, |w| w.record_account_change(now))
    }

    fn trust(
        &self,
        customer: &str,
        half_life: Duration,
        now: Timestamp,
    ) -> Result<f64, StoreError> {
        let map = self.shard(&self.customers, customer)?;
        Ok(map
            .get(customer)
            .map_or(1.0, |w| w.trust.value(now, half_life)))
    }

    fn penalize(
        &self,
        customer: &str,
        penalty: Penalty<'_>,
        half_life: Duration,
        now: Timestamp,
    ) -> Result<Option<PenaltyReceipt>, StoreError> {
        if penalty.amount.is_nan() || penalty.amount <= 0.0 {
            return Ok(None);
        }
        let cap = self.history_cap;
        self.with_customer(customer, |w| {
            w.trust.penalize(customer, penalty, half_life, now, cap)
        })
    }

    fn refund_penalty(
        &self,
        receipt: &PenaltyReceipt,
        half_life: Duration,
        now: Timestamp,
    ) -> Result<f64, StoreError> {
        let cap = self.history_cap;
        self.with_customer(&receipt.customer, |w| {
            w.trust.refund(receipt, half_life, now, cap)
        })
    }

    fn trust_history(&self, customer: &str) -> Result<Vec<TrustEntry>, StoreError> {
        let map = self.shard(&self.customers, customer)?;
        Ok(map
            .get(customer)
            .map(|w| w.trust.history())
            .unwrap_or_default())
    }

    fn prune(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut dropped = 0;
        for i in 0..self.customers.len() {
            dropped += self.prune_customer_shard(i, now)?;
        }
        for shard in self.agents.iter() {
            let mut map = shard.lock();
            let before = map.len();
            let mut failed = None;
            map.retain(|_, a| {
                for w in a.windows.values_mut() {
                    if let Err(e) = w.prune(now) {
                        failed = Some(e);
                    }
                }
                a.windows.retain(|_, w| !w.is_empty());
                !a.windows.is_empty()
            });
            if let Some(e) = failed {
                return Err(e.into());
            }
            dropped += before - map.len();
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::sync::atomic::AtomicI64;
    use std::sync::Arc;

    use super::*;
    use crate::money::{Currency, Money, Ratio};
    use crate::store::facts::{Admit, Finding, ReservationState, DAY, HOUR, WEEK};
    use crate::store::window::Settlement;

    const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const MS: Duration = Duration::from_millis(1);

    fn usd(major: i64) -> Money {
        Money::from_minor(major * 100, Currency::from_code("USD").unwrap())
    }

    /// Daily 750, weekly 1500, agent hourly 2000, nudge at 80%; nothing else.
    fn refund<'a>(id: &'a str, customer: &'a str, amount: i64) -> ReserveRequest<'a> {
        ReserveRequest::new(id, customer, "bot", ToolKind::Refund)
            .amount(usd(amount))
            .daily_limit(usd(750))
            .weekly_limit(usd(1500))
            .agent_hourly_limit(usd(2000))
            .nudge_ratio(Ratio::from_basis_points(8000).unwrap())
    }

    fn codes(f: &Facts) -> Vec<&'static str> {
        f.findings().iter().map(|x| x.code()).collect()
    }

    fn at(d: Duration) -> Timestamp {
        T0.saturating_add(d)
    }

    #[test]
    fn stacking_nudges_then_blocks() {
        let s = MemoryStore::new();
        for (i, expect) in [
            (0, Vec::<&str>::new()),
            (1, vec![]),
            (2, vec![]),
            (3, vec![]),
        ] {
            let id = format!("c{i}");
            let f = s
                .check_and_reserve(&refund(&id, "C", 150), at(Duration::from_secs(60 * i)))
                .unwrap();
            assert_eq!(codes(&f), expect, "refund {i}");
            assert_eq!(f.reservation(), Reservation::Reserved);
        }
        // 600 is exactly 80%: "above" is strict, so no nudge yet. +150 = 750 = 750 fits exactly (near), +151 does not.
        let f = s
            .check_and_reserve(&refund("c4", "C", 151), at(Duration::from_secs(600)))
            .unwrap();
        assert_eq!(codes(&f), ["daily_limit_exceeded"]);
        assert_eq!(f.reservation(), Reservation::NotReserved);
        assert_eq!(f.daily().map(|d| d.total()), Some(usd(600)));
        let f = s
            .check_and_reserve(&refund("c5", "C", 150), at(Duration::from_secs(600)))
            .unwrap();
        assert_eq!(codes(&f), ["near_daily_limit"]);
        assert!(f.reserved());
        // Other customers are untouched.
        let f = s
            .check_and_reserve(&refund("d0", "D", 150), at(Duration::from_secs(600)))
            .unwrap();
        assert!(codes(&f).is_empty());
    }

    #[test]
    fn window_edges() {
        let s = MemoryStore::new();
        s.check_and_reserve(&refund("a", "C", 700), T0).unwrap();
        // At 24h − 1 ms the old refund still counts.
        let f = s
            .check_and_reserve(&refund("b", "C", 100).admit(Admit::Never), at(DAY - MS))
            .unwrap();
        assert_eq!(f.daily().map(|d| d.total()), Some(usd(700)));
        assert_eq!(codes(&f), ["daily_limit_exceeded"]);
        // Exactly 24 h old: out of the daily window, still in the weekly one.
        let f = s
            .check_and_reserve(&refund("b", "C", 100), at(DAY))
            .unwrap();
        assert_eq!(f.daily().map(|d| d.total()), Some(usd(0)));
        assert_eq!(f.weekly().map(|d| d.total()), Some(usd(700)));
        assert!(f.reserved());
        // Weekly edges the same way.
        let f = s
            .check_and_reserve(&refund("c", "C", 1).admit(Admit::Never), at(WEEK - MS))
            .unwrap();
        assert_eq!(f.weekly().map(|d| d.total()), Some(usd(800)));
        let f = s
            .check_and_reserve(&refund("c", "C", 1).admit(Admit::Never), at(WEEK))
            .unwrap();
        assert_eq!(f.weekly().map(|d| d.total()), Some(usd(100)));
    }

    #[test]
    fn weekly_limit_blocks_across_days() {
        let s = MemoryStore::new();
        for day in 0..2 {
            let id = format!("r{day}");
            let f = s
                .check_and_reserve(&refund(&id, "C", 700), at(DAY * day))
                .unwrap();
            assert!(f.reserved(), "{:?}", codes(&f));
        }
        let f = s
            .check_and_reserve(&refund("r2", "C", 101), at(DAY * 2))
            .unwrap();
        assert_eq!(codes(&f), ["weekly_limit_exceeded"]);
        let f = s
            .check_and_reserve(&refund("r2", "C", 100), at(DAY * 2))
            .unwrap();
        // Day 0's refund is exactly 24 h old: out of the day, in the week (1500 of 1500).
        assert_eq!(codes(&f), ["near_weekly_limit"]);
        assert!(f.reserved());
    }

    #[test]
    fn release_restores_capacity_and_settlement_is_idempotent() {
        let s = MemoryStore::new();
        s.check_and_reserve(&refund("a", "C", 700), T0).unwrap();
        assert_eq!(
            codes(
                &s.check_and_reserve(&refund("b", "C", 100).admit(Admit::Never), T0)
                    .unwrap()
            ),
            ["daily_limit_exceeded"]
        );
        assert_eq!(s.release("a", T0).unwrap(), Settlement::Released);
        assert_eq!(s.release("a", T0).unwrap(), Settlement::AlreadyReleased);
        assert_eq!(s.commit("a", T0).unwrap(), Settlement::AlreadyReleased);
        let f = s.check_and_reserve(&refund("b", "C", 100), T0).unwrap();
        assert_eq!(f.daily().map(|d| d.total()), Some(usd(0)));
        assert_eq!(s.commit("b", T0).unwrap(), Settlement::Committed);
        assert_eq!(s.commit("b", T0).unwrap(), Settlement::AlreadyCommitted);
        assert_eq!(s.release("b", T0).unwrap(), Settlement::AlreadyCommitted);
        assert_eq!(s.commit("zzz", T0).unwrap(), Settlement::Unknown);
        // The agent's hour was released too.
        let f = s
            .check_and_reserve(&refund("c", "D", 1).admit(Admit::Never), T0)
            .unwrap();
        assert_eq!(f.agent_hourly().map(|d| d.total()), Some(usd(100)));
    }

    #[test]
    fn unsettled_reservations_expire_into_committed() {
        let s = MemoryStore::new();
        let ttl = Duration::from_secs(15 * 60);
        s.check_and_reserve(&refund("a", "C", 700).reservation_ttl(ttl), T0)
            .unwrap();
        let f = s
            .check_and_reserve(&refund("a", "C", 700), at(ttl))
            .unwrap();
        assert_eq!(
            f.reservation(),
            Reservation::Existing(ReservationState::Expired)
        );
        assert_eq!(s.release("a", at(ttl)).unwrap(), Settlement::Expired);
        // Still counted.
        let f = s
            .check_and_reserve(&refund("b", "C", 100).admit(Admit::Never), at(ttl))
            .unwrap();
        assert_eq!(f.daily().map(|d| d.total()), Some(usd(700)));
        assert_eq!(
            s.release("a", at(ttl)).unwrap(),
            Settlement::AlreadyCommitted
        );
        // Released one millisecond before the TTL: no longer counts.
        s.check_and_reserve(&refund("c", "E", 700).reservation_ttl(ttl), T0)
            .unwrap();
        assert_eq!(s.release("c", at(ttl - MS)).unwrap(), Settlement::Released);
    }

    #[test]
    fn retries_are_counted_once() {
        let s = MemoryStore::new();
        let f = s.check_and_reserve(&refund("a", "C", 500), T0).unwrap();
        assert_eq!(f.reservation(), Reservation::Reserved);
        for _ in 0..3 {
            let f = s.check_and_reserve(&refund("a", "C", 500), T0).unwrap();
            assert_eq!(
                f.reservation(),
                Reservation::Existing(ReservationState::Pending)
            );
            assert!(f.reserved());
            // Computed without itself: the retry sees what the first try saw.
            assert_eq!(f.daily().map(|d| d.total()), Some(usd(0)));
            assert_eq!(f.count(), 1);
            assert_eq!(f.agent_hourly().map(|d| d.total()), Some(usd(0)));
        }
        s.commit("a", T0).unwrap();
        let f = s.check_and_reserve(&refund("a", "C", 500), T0).unwrap();
        assert_eq!(
            f.reservation(),
            Reservation::Existing(ReservationState::Committed)
        );
        let f = s
            .check_and_reserve(&refund("x", "C", 1).admit(Admit::Never), T0)
            .unwrap();
        assert_eq!(f.daily().map(|d| d.total()), Some(usd(500)));
        assert_eq!(f.count(), 2);
        // A released call retried under its id is checked afresh and counted once.
        s.check_and_reserve(&refund("b", "C", 100), T0).unwrap();
        s.release("b", T0).unwrap();
        let f = s.check_and_reserve(&refund("b", "C", 100), T0).unwrap();
        assert_eq!(f.reservation(), Reservation::Reserved);
        let f = s
            .check_and_reserve(&refund("x", "C", 1).admit(Admit::Never), T0)
            .unwrap();
        assert_eq!(f.daily().map(|d| d.total()), Some(usd(600)));
        // The id belongs to C: D cannot reuse it.
        assert_eq!(
            s.check_and_reserve(&refund("a", "D", 1), T0),
            Err(StoreError::CallIdConflict("a".into()))
        );
    }

    #[test]
    fn held_and_blocked_calls_do_not_reserve() {
        let s = MemoryStore::new();
        let f = s
            .check_and_reserve(&refund("a", "C", 100).admit(Admit::Never), T0)
            .unwrap();
        assert_eq!(f.reservation(), Reservation::NotReserved);
        let f = s
            .check_and_reserve(
                &refund("b", "C", 100).frequency_threshold(NonZeroU32::MIN),
                T0,
            )
            .unwrap();
        assert_eq!(codes(&f), ["refund_frequency"]);
        assert_eq!(f.reservation(), Reservation::NotReserved);
        let f = s
            .check_and_reserve(&refund("c", "C", 1).admit(Admit::Never), T0)
            .unwrap();
        assert_eq!(f.daily().map(|d| d.total()), Some(usd(0)));
        assert_eq!(f.count(), 1);
        // Shadow mode reserves even over the limit: the call really runs.
        let f = s
            .check_and_reserve(&refund("d", "C", 900).admit(Admit::Always), T0)
            .unwrap();
        assert_eq!(codes(&f), ["daily_limit_exceeded"]);
        assert_eq!(f.reservation(), Reservation::Reserved);
    }

    #[test]
    fn frequency_counts_per_kind_and_third_escalates() {
        let s = MemoryStore::new();
        let three = NonZeroU32::new(3).unwrap();
        let r = |id: &'static str, t| {
            s.check_and_reserve(&refund(id, "C", 10).frequency_threshold(three), t)
                .unwrap()
        };
        assert!(codes(&r("a", T0)).is_empty());
        // Exports do not count toward refunds, and have their own counter.
        for i in 0..5 {
            let id = format!("x{i}");
            let req = ReserveRequest::new(&id, "C", "bot", ToolKind::DataExport)
                .frequency_threshold(three);
            let f = s.check_and_reserve(&req, at(DAY)).unwrap();
            assert_eq!(f.count(), (i + 1).min(3), "export {i}");
            assert_eq!(codes(&f).contains(&"data_export_frequency"), i >= 2);
        }
        assert!(codes(&r("b", at(DAY))).is_empty());
        let f = r("c", at(DAY * 2));
        assert_eq!(codes(&f), ["refund_frequency"]);
        assert_eq!(f.count(), 3);
        // Waived by an approval: reserves.
        let f = s
            .check_and_reserve(
                &refund("c", "C", 10)
                    .frequency_threshold(three)
                    .waive(["refund_frequency"]),
                at(DAY * 2),
            )
            .unwrap();
        assert!(f.reserved());
        // The first refund leaves the 7-day window exactly at 7 days.
        let f = s
            .check_and_reserve(
                &refund("d", "C", 10)
                    .frequency_threshold(three)
                    .admit(Admit::Never),
                at(WEEK - MS),
            )
            .unwrap();
        assert_eq!(f.count(), 4);
        let f = s
            .check_and_reserve(
                &refund("d", "C", 10)
                    .frequency_threshold(three)
                    .admit(Admit::Never),
                at(WEEK),
            )
            .unwrap();
        assert_eq!(f.count(), 3);
    }

    #[test]
    fn takeover_after_account_change() {
        let s = MemoryStore::new();
        let window = DAY;
        let change = ReserveRequest::new("e1", "C", "bot", ToolKind::AccountChange);
        assert!(s.check_and_reserve(&change, T0).unwrap().reserved());
        let req = |id: &'static str| refund(id, "C", 10).takeover_window(window);
        let f = s.check_and_reserve(&req("a"), at(window - MS)).unwrap();
        assert_eq!(codes(&f), ["takeover_pattern"]);
        assert_eq!(f.last_account_change(), Some(T0));
        assert!(!f.reserved());
        assert!(codes(&s.check_and_reserve(&req("a"), at(window)).unwrap()).is_empty());
        // Recorded explicitly as well.
        s.record_account_change("D", T0).unwrap();
        let f = s
            .check_and_reserve(&refund("b", "D", 10).takeover_window(window), T0)
            .unwrap();
        assert_eq!(codes(&f), ["takeover_pattern"]);
        let f = s
            .check_and_reserve(
                &refund("b", "D", 10)
                    .takeover_window(window)
                    .waive(["takeover_pattern"]),
                T0,
            )
            .unwrap();
        assert!(f.reserved());
    }

    #[test]
    fn agent_hourly_limit_spans_customers() {
        let s = MemoryStore::new();
        for i in 0..4 {
            let (id, cust) = (format!("a{i}"), format!("C{i}"));
            let f = s
                .check_and_reserve(&refund(&id, &cust, 500), at(Duration::from_secs(i * 60)))
                .unwrap();
            assert!(f.reserved());
        }
        let f = s
            .check_and_reserve(&refund("a4", "C9", 1), at(Duration::from_secs(300)))
            .unwrap();
        assert_eq!(codes(&f), ["agent_hourly_limit_exceeded"]);
        // Another agent is unaffected; the first agent's oldest refund leaves after an hour.
        let other = refund("b0", "C9", 1);
        let other = ReserveRequest {
            agent: "bot-2",
            ..other
        };
        assert!(s
            .check_and_reserve(&other, at(Duration::from_secs(300)))
            .unwrap()
            .reserved());
        let f = s
            .check_and_reserve(&refund("a4", "C9", 500), at(HOUR))
            .unwrap();
        assert!(f.reserved(), "{:?}", codes(&f));
    }

    #[test]
    fn trust_floors_and_penalties() {
        let s = MemoryStore::new();
        let hl = WEEK;
        let req = |id: &'static str| {
            refund(id, "C", 10)
                .trust_floors(0.7, 0.3)
                .trust_half_life(hl)
        };
        assert!(s.check_and_reserve(&req("a"), T0).unwrap().reserved());
        let p = Penalty {
            code: "prompt_injection",
            amount: 0.25,
        };
        let r1 = s.penalize("C", p, hl, T0).unwrap();
        assert!(r1.is_some());
        assert!(s.check_and_reserve(&req("b"), T0).unwrap().reserved());
        s.penalize("C", p, hl, T0).unwrap();
        let f = s.check_and_reserve(&req("c"), T0).unwrap();
        assert_eq!(codes(&f), ["trust_escalate"]);
        assert!((f.trust() - 0.5).abs() < 1e-9);
        s.penalize("C", p, hl, T0).unwrap();
        assert_eq!(
            codes(&s.check_and_reserve(&req("c"), T0).unwrap()),
            ["trust_block"]
        );
        assert_eq!(s.trust_history("C").unwrap().len(), 3);
        // Refund the first penalty (an approved escalation): back above the block floor.
        let t = s.refund_penalty(&r1.unwrap(), hl, T0).unwrap();
        assert!((t - 0.5).abs() < 1e-9);
        assert!(s
            .penalize(
                "C",
                Penalty {
                    code: "trust_block",
                    amount: 0.0
                },
                hl,
                T0
            )
            .unwrap()
            .is_none());
        assert_eq!(s.trust("nobody", hl, T0).unwrap(), 1.0);
    }

    #[test]
    fn arithmetic_and_input_errors_fail_closed() {
        let s = MemoryStore::new();
        let huge = Money::from_minor(i64::MAX, Currency::from_code("USD").unwrap());
        let req = ReserveRequest::new("a", "C", "bot", ToolKind::Refund)
            .amount(huge)
            .daily_limit(huge);
        assert!(s.check_and_reserve(&req, T0).unwrap().reserved());
        let req = ReserveRequest::new("b", "C", "bot", ToolKind::Refund)
            .amount(usd(1))
            .daily_limit(huge);
        assert!(matches!(
            s.check_and_reserve(&req, T0),
            Err(StoreError::Money(_))
        ));
        let neg = ReserveRequest::new("c", "C", "bot", ToolKind::Refund).amount(usd(-5));
        assert!(matches!(
            s.check_and_reserve(&neg, T0),
            Err(StoreError::NegativeAmount(_))
        ));
        let eur = Money::from_minor(100, Currency::from_code("EUR").unwrap());
        let mixed = ReserveRequest::new("d", "D", "bot", ToolKind::Refund)
            .amount(eur)
            .daily_limit(usd(750));
        assert!(matches!(
            s.check_and_reserve(&mixed, T0),
            Err(StoreError::Money(_))
        ));
    }

    #[test]
    fn history_is_capped_per_customer() {
        let s = MemoryStore::builder().max_events_per_customer(3).build();
        for i in 0..3 {
            let id = format!("a{i}");
            s.check_and_reserve(
                &ReserveRequest::new(&id, "C", "bot", ToolKind::DataExport),
                T0,
            )
            .unwrap();
        }
        let r = ReserveRequest::new("a3", "C", "bot", ToolKind::DataExport);
        assert_eq!(
            s.check_and_reserve(&r, T0),
            Err(StoreError::HistoryFull { limit: 3 })
        );
        // A week later the old ones are pruned and there is room again.
        assert!(s.check_and_reserve(&r, at(WEEK)).unwrap().reserved());
    }

    #[test]
    fn pruning_bounds_memory() {
        let s = MemoryStore::builder().prune_every(0).build();
        for i in 0..1000u32 {
            let (id, cust) = (format!("call-{i}"), format!("customer-{}", i % 100));
            s.check_and_reserve(
                &refund(&id, &cust, 1),
                at(Duration::from_secs(u64::from(i))),
            )
            .unwrap();
            s.commit(&id, at(Duration::from_secs(u64::from(i))))
                .unwrap();
        }
        let bytes = s.approx_customer_bytes("customer-7").unwrap().unwrap_or(0);
        // 10 reservations each: a few hundred bytes per reservation at most.
        assert!(bytes < 10 * 200 + 1024, "{bytes}");
        eprintln!("resident bytes for a customer with 10 refunds inside 7 days: {bytes}");
        assert_eq!(s.customer_count(), 100);
        // After a week everything is gone, ids included (settling them is now `Unknown`).
        let dropped = s.prune(at(WEEK + HOUR * 2)).unwrap();
        assert!(dropped >= 100, "{dropped}");
        assert_eq!(s.customer_count(), 0);
        assert_eq!(
            s.commit("call-1", at(WEEK * 2)).unwrap(),
            Settlement::Unknown
        );
        assert!(s.calls.iter().all(|c| c.lock().is_empty()));
        // An account change is remembered for the longest window, then forgotten.
        s.record_account_change("A", T0).unwrap();
        s.prune(at(WEEK - MS)).unwrap();
        assert_eq!(s.customer_count(), 1);
        s.prune(at(WEEK)).unwrap();
        assert_eq!(s.customer_count(), 0);
        // Penalised customers stay until their penalty fades.
        s.penalize(
            "P",
            Penalty {
                code: "x",
                amount: 0.5,
            },
            DAY,
            T0,
        )
        .unwrap();
        s.prune(at(DAY)).unwrap();
        assert_eq!(s.customer_count(), 1);
        s.prune(at(DAY * 30)).unwrap();
        assert_eq!(s.customer_count(), 0);
    }

    #[test]
    fn background_sweep_runs() {
        let s = MemoryStore::builder()
            .shards(NonZeroUsize::MIN)
            .prune_every(2)
            .build();
        s.check_and_reserve(&ReserveRequest::new("a", "C", "bot", ToolKind::Refund), T0)
            .unwrap();
        s.check_and_reserve(
            &ReserveRequest::new("b", "D", "bot", ToolKind::Refund),
            at(WEEK * 2),
        )
        .unwrap();
        // D's check swept the only shard: C is gone.
        assert_eq!(s.customer_count(), 1);
    }

    #[test]
    fn one_call_id_cannot_be_reserved_by_two_customers_at_once() {
        for _ in 0..50 {
            let s = Arc::new(MemoryStore::new());
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let s = Arc::clone(&s);
                    std::thread::spawn(move || {
                        let customer = format!("C{t}");
                        let req =
                            ReserveRequest::new("dup", &customer, "bot", ToolKind::DataExport);
                        s.check_and_reserve(&req, T0)
                    })
                })
                .collect();
            let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let reserved = results
                .iter()
                .filter(|r| matches!(r, Ok(f) if f.reserved()))
                .count();
            let conflicts = results
                .iter()
                .filter(|r| matches!(r, Err(StoreError::CallIdConflict(_))))
                .count();
            assert_eq!((reserved, conflicts), (1, 7));
        }
    }

    /// 8 threads × 1000 refunds for one customer against the daily limit only.
    #[test]
    fn concurrent_refunds_never_pass_the_limit() {
        let s = Arc::new(MemoryStore::new());
        let allowed = Arc::new(AtomicI64::new(0));
        let limit = usd(750);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (s, allowed) = (Arc::clone(&s), Arc::clone(&allowed));
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        let amount = [5, 1, 2, 1][i % 4];
                        let id = format!("t{t}-{i}");
                        let req = ReserveRequest::new(&id, "C", "bot", ToolKind::Refund)
                            .amount(usd(amount))
                            .daily_limit(limit);
                        let f = s.check_and_reserve(&req, T0).unwrap();
                        if f.reservation() == Reservation::Reserved {
                            assert_eq!(s.commit(&id, T0).unwrap(), Settlement::Committed);
                            allowed.fetch_add(usd(amount).minor_units(), Ordering::SeqCst);
                        } else {
                            assert_eq!(
                                f.findings().first().map(Finding::code),
                                Some("daily_limit_exceeded")
                            );
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let probe = ReserveRequest::new("probe", "C", "bot", ToolKind::Refund)
            .amount(usd(0))
            .daily_limit(limit)
            .admit(Admit::Never);
        let total = s
            .check_and_reserve(&probe, T0)
            .unwrap()
            .daily()
            .unwrap()
            .total();
        assert!(total.minor_units() <= limit.minor_units());
        assert_eq!(total.minor_units(), allowed.load(Ordering::SeqCst));
        assert_eq!(total, limit, "the limit is actually reached");
    }
}
