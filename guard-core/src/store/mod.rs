//! State behind rolling limits, trust and approvals, behind traits.
//!
//! - [`Store`] (sync) and [`AsyncStore`] (for network stores): reserve-then-settle rolling
//!   totals, frequency counts, account changes and customer trust. [`MemoryStore`] is the
//!   sharded in-memory default.
//! - [`ApprovalQueue`]: tickets for ESCALATEd calls and single-use approval tokens.
//!   [`MemoryApprovalQueue`] is the in-memory default.
//! - [`Clock`]: time is injected; only [`SystemClock`] reads the wall clock.
//!
//! Every operation takes `now` as an argument, so a network store can run each one as a single
//! atomic server-side script with the same arguments.
//!
//! # Per tool call
//!
//! 1. Run the stateless rules; build a [`ReserveRequest`] with
//!    [`ReserveRequest::from_blueprint`], the amount, the waived codes of an accepted approval
//!    token ([`ReserveRequest::waive`]) and [`Admit`]: `IfClear` when the stateless rules let the
//!    call run, `Never` when they hold or block it, `Always` in shadow mode.
//! 2. [`Store::check_and_reserve`]: the facts, and the reservation made in the same critical
//!    section when no [`Finding`] holds the call. Turn [`Facts::findings`] into reasons.
//! 3. After the tool ran: [`Store::commit`] or [`Store::release`] by call id (unsettled
//!    reservations count as committed after the TTL anyway).
//! 4. Penalise trust once per decision ([`TrustPenalties::strongest`], [`Store::penalize`]).
//!
//! # A network store
//!
//! The algorithm over one customer (`store/window.rs`) needs: the customer's reservations
//! (id, kind, amount, time, settle-by, state), their last account change, their trust
//! accumulator and its time, the agent's hourly entries and running sum, and the call-id index.
//! In Redis that is one Lua script per `check_and_reserve` taking `now`, the request's limits and
//! the admission rule as arguments, prune → totals → facts → admission → reserve, and one per
//! settlement. On Redis Cluster the customer's keys and the agent's keys live in different hash
//! slots: the Redis store's cluster mode runs the customer's script, then the agent's
//! check-and-add on its own slot, and compensates when the agent's slot refuses.
//!
//! ```
//! use guard_core::{Blueprint, Currency, Money, ToolKind};
//! use guard_core::store::{Admit, MemoryStore, Reservation, ReserveRequest, Store, Timestamp};
//!
//! let bp = Blueprint::embedded_default()?;
//! let usd = Currency::from_code("USD")?;
//! let store = MemoryStore::new();
//! let now = Timestamp::from_millis(1_700_000_000_000);
//! let req = ReserveRequest::from_blueprint(&bp, "call-1", "C-1", "bot", ToolKind::Refund)
//!     .amount(Money::parse("150", usd)?)
//!     .admit(Admit::IfClear); // the stateless rules let the call run
//! let facts = store.check_and_reserve(&req, now)?;
//! assert!(facts.findings().is_empty());
//! assert_eq!(facts.reservation(), Reservation::Reserved);
//! store.commit("call-1", now)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod approvals;
mod canonical;
mod clock;
mod facts;
mod memory;
mod sessions;
mod trust;
mod window;

#[cfg(test)]
mod props;
#[cfg(feature = "redis")]
pub mod redis;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::money::{Money, MoneyError};

#[cfg(feature = "redis")]
pub use self::redis::{
    AsyncRedisApprovalQueue, AsyncRedisStore, RedisApprovalQueue, RedisSessionStore, RedisStore,
    RedisStoreBuilder,
};
pub use approvals::{
    ApprovalQueue, AuditAction, AuditEntry, Issued, MemoryApprovalQueue, Recommendation, Ticket,
    TicketReason, TicketRequest, TicketStatus, TokenCheck, TokenRefusal, Waiver,
};
pub use canonical::{canonical_args, canonical_args_with_money};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use facts::{
    frequency_code, Admit, Facts, Finding, LimitFact, Reservation, ReservationState,
    ReserveRequest, Window, DAY, HOUR, WEEK,
};
pub use memory::{MemoryStore, MemoryStoreBuilder};
pub use sessions::{
    MemorySessionStore, SessionSnapshot, SessionStore, SessionUpdate, DEFAULT_SESSION_TTL,
    MAX_NOTE_BYTES, RECENT_MESSAGES, RECENT_MESSAGE_BYTES, RECENT_VERDICTS, SENTIMENT_SCORES,
};
pub use trust::{Penalty, PenaltyReceipt, TrustEntry, TrustPenalties};
pub use window::Settlement;

/// Why the store could not answer. The guard turns any of these into BLOCK
/// `store_unavailable` (fail closed).
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A total left the integer range or mixed currencies.
    #[error("amount arithmetic failed: {0}")]
    Money(#[from] MoneyError),
    /// Amounts are never negative: a negative one would lower the totals.
    #[error("negative amount {0}")]
    NegativeAmount(Money),
    /// One customer has too many reservations inside 7 days to keep more.
    #[error("customer history is full ({limit} reservations inside 7 days)")]
    HistoryFull {
        /// The per-customer cap.
        limit: usize,
    },
    /// The approval queue holds as many tickets as it may.
    #[error("approval queue is full ({limit} tickets)")]
    QueueFull {
        /// The cap.
        limit: usize,
    },
    /// The call id was reserved for another customer.
    #[error("call id {0:?} already belongs to another customer")]
    CallIdConflict(String),
    /// No such ticket.
    #[error("unknown ticket {0:?}")]
    UnknownTicket(String),
    /// The ticket expired before it was answered.
    #[error("ticket {0:?} has expired")]
    TicketExpired(String),
    /// The ticket was already approved or denied.
    #[error("ticket {id:?} is already {state}")]
    TicketClosed {
        /// The ticket.
        id: String,
        /// `approved`, `denied` or `expired`.
        state: &'static str,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
    /// A network store could not be reached or answered garbage.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Corrupt internal state: should never happen.
    #[error("internal store error: {0}")]
    Internal(&'static str),
}

/// The state behind rolling limits, frequency, takeover and trust (governor's `StateStore`:
/// the atomic check-and-update lives here, not in the caller).
///
/// Implementations must make [`Store::check_and_reserve`] atomic per customer and agent: two
/// concurrent calls must never both pass a limit only one fits.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a synchronous guard store",
    label = "the Guard checks calls synchronously and never blocks on an async store",
    note = "pass a store implementing guard_core::store::Store (MemoryStore, or the sync Redis store); an AsyncStore alone cannot back a Guard"
)]
pub trait Store: Send + Sync + fmt::Debug {
    /// Computes the facts for `request` at `now` and, if [`ReserveRequest::admit`] allows it
    /// (see [`Admit`]), reserves the call in the same critical section.
    ///
    /// A call id already reserved (pending, expired or committed) is not counted again: the
    /// answer is [`Reservation::Existing`]. A released call id is checked afresh.
    fn check_and_reserve(
        &self,
        request: &ReserveRequest<'_>,
        now: Timestamp,
    ) -> Result<Facts, StoreError>;

    /// The call ran: its reservation is final. Idempotent.
    fn commit(&self, call_id: &str, now: Timestamp) -> Result<Settlement, StoreError>;

    /// The call failed: its reservation stops counting, unless its TTL has passed (then it
    /// stays counted as committed). Idempotent.
    fn release(&self, call_id: &str, now: Timestamp) -> Result<Settlement, StoreError>;

    /// Remembers an account change (email, address) for the takeover rule. Reserving an
    /// `account_change` call records one too.
    fn record_account_change(&self, customer: &str, now: Timestamp) -> Result<(), StoreError>;

    /// The customer's trust in `[0, 1]` (1 for a customer never seen).
    fn trust(&self, customer: &str, half_life: Duration, now: Timestamp)
        -> Result<f64, StoreError>;

    /// Lowers the customer's trust; the receipt lets an approval hand it back. `None` when the
    /// penalty is zero.
    fn penalize(
        &self,
        customer: &str,
        penalty: Penalty<'_>,
        half_life: Duration,
        now: Timestamp,
    ) -> Result<Option<PenaltyReceipt>, StoreError>;

    /// Hands back what is left of a penalty (an escalation a human approved). Returns the new
    /// trust. A receipt is refunded at most once.
    fn refund_penalty(
        &self,
        receipt: &PenaltyReceipt,
        half_life: Duration,
        now: Timestamp,
    ) -> Result<f64, StoreError>;

    /// The customer's recent trust changes, oldest first (bounded).
    fn trust_history(&self, customer: &str) -> Result<Vec<TrustEntry>, StoreError>;

    /// Forgets everything older than the longest window. Returns how many customers and agents
    /// were dropped. Stores may also prune on their own as they go.
    fn prune(&self, now: Timestamp) -> Result<usize, StoreError>;

    /// Conversation state on the same backend, if the store has one to share: a Redis store
    /// does, so a fleet shares scan flags, sentiment and split-injection context as it shares
    /// limits. `None` (the default) leaves the guard an in-process [`MemorySessionStore`].
    fn session_store(&self) -> Option<Arc<dyn SessionStore>> {
        None
    }
}

macro_rules! forward_store {
    ($($ptr:ty),*) => {$(
        impl<S: Store + ?Sized> Store for $ptr {
            fn check_and_reserve(&self, request: &ReserveRequest<'_>, now: Timestamp) -> Result<Facts, StoreError> {
                (**self).check_and_reserve(request, now)
            }
            fn commit(&self, call_id: &str, now: Timestamp) -> Result<Settlement, StoreError> {
                (**self).commit(call_id, now)
            }
            fn release(&self, call_id: &str, now: Timestamp) -> Result<Settlement, StoreError> {
                (**self).release(call_id, now)
            }
            fn record_account_change(&self, customer: &str, now: Timestamp) -> Result<(), StoreError> {
                (**self).record_account_change(customer, now)
            }
            fn trust(&self, customer: &str, half_life: Duration, now: Timestamp) -> Result<f64, StoreError> {
                (**self).trust(customer, half_life, now)
            }
            fn penalize(
                &self,
                customer: &str,
                penalty: Penalty<'_>,
                half_life: Duration,
                now: Timestamp,
            ) -> Result<Option<PenaltyReceipt>, StoreError> {
                (**self).penalize(customer, penalty, half_life, now)
            }
            fn refund_penalty(&self, receipt: &PenaltyReceipt, half_life: Duration, now: Timestamp) -> Result<f64, StoreError> {
                (**self).refund_penalty(receipt, half_life, now)
            }
            fn trust_history(&self, customer: &str) -> Result<Vec<TrustEntry>, StoreError> {
                (**self).trust_history(customer)
            }
            fn prune(&self, now: Timestamp) -> Result<usize, StoreError> {
                (**self).prune(now)
            }
            fn session_store(&self) -> Option<Arc<dyn SessionStore>> {
                (**self).session_store()
            }
        }
    )*};
}
forward_store!(&S, Arc<S>, Box<S>);

/// The async twin of [`Store`], for network stores (tower's `Predicate` / `AsyncPredicate`
/// split: no `block_on` inside the library). Same contract, method for method.
///
/// A sync store becomes an async one with [`Immediate`].
pub trait AsyncStore: Send + Sync + fmt::Debug {
    /// See [`Store::check_and_reserve`].
    fn check_and_reserve(
        &self,
        request: &ReserveRequest<'_>,
        now: Timestamp,
    ) -> impl Future<Output = Result<Facts, StoreError>> + Send;
    /// See [`Store::commit`].
    fn commit(
        &self,
        call_id: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Settlement, StoreError>> + Send;
    /// See [`Store::release`].
    fn release(
        &self,
        call_id: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Settlement, StoreError>> + Send;
    /// See [`Store::record_account_change`].
    fn record_account_change(
        &self,
        customer: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// See [`Store::trust`].
    fn trust(
        &self,
        customer: &str,
        half_life: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<f64, StoreError>> + Send;
    /// See [`Store::penalize`].
    fn penalize(
        &self,
        customer: &str,
        penalty: Penalty<'_>,
        half_life: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<PenaltyReceipt>, StoreError>> + Send;
    /// See [`Store::refund_penalty`].
    fn refund_penalty(
        &self,
        receipt: &PenaltyReceipt,
        half_life: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<f64, StoreError>> + Send;
    /// See [`Store::trust_history`].
    fn trust_history(
        &self,
        customer: &str,
    ) -> impl Future<Output = Result<Vec<TrustEntry>, StoreError>> + Send;
    /// See [`Store::prune`].
    fn prune(&self, now: Timestamp) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// Runs a sync [`Store`] (or [`ApprovalQueue`]) behind the async traits: each future is
/// already complete when returned, since the in-memory work takes microseconds.
///
/// ```
/// use guard_core::store::{AsyncStore, Immediate, MemoryStore, Settlement, Timestamp};
/// let store = Immediate(MemoryStore::new());
/// let fut = store.commit("never-reserved", Timestamp::EPOCH);
/// # let _ = fut;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Immediate<S>(pub S);

impl<S: Store> AsyncStore for Immediate<S> {
    fn check_and_reserve(
        &self,
        request: &ReserveRequest<'_>,
        now: Timestamp,
    ) -> impl Future<Output = Result<Facts, StoreError>> + Send {
        std::future::ready(self.0.check_and_reserve(request, now))
    }
    fn commit(
        &self,
        call_id: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Settlement, StoreError>> + Send {
        std::future::ready(self.0.commit(call_id, now))
    }
    fn release(
        &self,
        call_id: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Settlement, StoreError>> + Send {
        std::future::ready(self.0.release(call_id, now))
    }
    fn record_account_change(
        &self,
        customer: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(self.0.record_account_change(customer, now))
    }
    fn trust(
        &self,
        customer: &str,
        half_life: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<f64, StoreError>> + Send {
        std::future::ready(self.0.trust(customer, half_life, now))
    }
    fn penalize(
        &self,
        customer: &str,
        penalty: Penalty<'_>,
        half_life: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<PenaltyReceipt>, StoreError>> + Send {
        std::future::ready(self.0.penalize(customer, penalty, half_life, now))
    }
    fn refund_penalty(
        &self,
        receipt: &PenaltyReceipt,
        half_life: Duration,
        now: Timestamp,
    ) -> impl Future<Output = Result<f64, StoreError>> + Send {
        std::future::ready(self.0.refund_penalty(receipt, half_life, now))
    }
    fn trust_history(
        &self,
        customer: &str,
    ) -> impl Future<Output = Result<Vec<TrustEntry>, StoreError>> + Send {
        std::future::ready(self.0.trust_history(customer))
    }
    fn prune(&self, now: Timestamp) -> impl Future<Output = Result<usize, StoreError>> + Send {
        std::future::ready(self.0.prune(now))
    }
}

/// The async twin of [`ApprovalQueue`], for queues kept in a network store.
pub trait AsyncApprovalQueue: Send + Sync + fmt::Debug {
    /// See [`ApprovalQueue::open`].
    fn open(
        &self,
        request: TicketRequest,
        now: Timestamp,
    ) -> impl Future<Output = Result<Ticket, StoreError>> + Send;
    /// See [`ApprovalQueue::ticket`].
    fn ticket(
        &self,
        id: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<Ticket>, StoreError>> + Send;
    /// See [`ApprovalQueue::pending`].
    fn pending(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<Ticket>, StoreError>> + Send;
    /// See [`ApprovalQueue::approve`].
    fn approve(
        &self,
        id: &str,
        by: &str,
        why: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Issued, StoreError>> + Send;
    /// See [`ApprovalQueue::deny`].
    fn deny(
        &self,
        id: &str,
        by: &str,
        why: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Ticket, StoreError>> + Send;
    /// See [`ApprovalQueue::consume`].
    fn consume(
        &self,
        token: &str,
        tool: &str,
        customer: &str,
        canonical_args: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<TokenCheck, StoreError>> + Send;
    /// See [`ApprovalQueue::expire`].
    fn expire(&self, now: Timestamp) -> impl Future<Output = Result<usize, StoreError>> + Send;
    /// See [`ApprovalQueue::drain_audit`].
    fn drain_audit(&self) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;
}

impl<Q: ApprovalQueue> AsyncApprovalQueue for Immediate<Q> {
    fn open(
        &self,
        request: TicketRequest,
        now: Timestamp,
    ) -> impl Future<Output = Result<Ticket, StoreError>> + Send {
        std::future::ready(self.0.open(request, now))
    }
    fn ticket(
        &self,
        id: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<Ticket>, StoreError>> + Send {
        std::future::ready(self.0.ticket(id, now))
    }
    fn pending(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<Ticket>, StoreError>> + Send {
        std::future::ready(self.0.pending(now))
    }
    fn approve(
        &self,
        id: &str,
        by: &str,
        why: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Issued, StoreError>> + Send {
        std::future::ready(self.0.approve(id, by, why, now))
    }
    fn deny(
        &self,
        id: &str,
        by: &str,
        why: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Ticket, StoreError>> + Send {
        std::future::ready(self.0.deny(id, by, why, now))
    }
    fn consume(
        &self,
        token: &str,
        tool: &str,
        customer: &str,
        canonical_args: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<TokenCheck, StoreError>> + Send {
        std::future::ready(self.0.consume(token, tool, customer, canonical_args, now))
    }
    fn expire(&self, now: Timestamp) -> impl Future<Output = Result<usize, StoreError>> + Send {
        std::future::ready(self.0.expire(now))
    }
    fn drain_audit(&self) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send {
        std::future::ready(self.0.drain_audit())
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::policy::ToolKind;

    /// Polls a future that must already be complete (no executor needed for `Immediate`).
    fn now_or_never<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("an Immediate future was pending"),
        }
    }

    #[test]
    fn sync_stores_run_behind_the_async_traits() {
        let store = Immediate(MemoryStore::new());
        let req = ReserveRequest::new("a", "C", "bot", ToolKind::DataExport);
        let facts = now_or_never(AsyncStore::check_and_reserve(
            &store,
            &req,
            Timestamp::EPOCH,
        ))
        .unwrap();
        assert_eq!(facts.reservation(), Reservation::Reserved);
        assert_eq!(
            now_or_never(AsyncStore::commit(&store, "a", Timestamp::EPOCH)),
            Ok(Settlement::Committed)
        );
        assert_eq!(
            now_or_never(AsyncStore::trust(&store, "C", WEEK, Timestamp::EPOCH)),
            Ok(1.0)
        );

        let q = Immediate(MemoryApprovalQueue::new(DAY, HOUR));
        let t = now_or_never(AsyncApprovalQueue::open(
            &q,
            TicketRequest::new("x", "C", "{}"),
            Timestamp::EPOCH,
        ))
        .unwrap();
        assert_eq!(
            now_or_never(AsyncApprovalQueue::pending(&q, Timestamp::EPOCH)).map(|p| p.len()),
            Ok(1)
        );
        assert!(now_or_never(AsyncApprovalQueue::approve(
            &q,
            t.id(),
            "ana",
            "ok",
            Timestamp::EPOCH
        ))
        .is_ok());
    }

    #[test]
    fn stores_work_as_trait_objects_and_behind_pointers() {
        let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let boxed: Box<dyn Store> = Box::new(Arc::clone(&shared));
        boxed.record_account_change("C", Timestamp::EPOCH).unwrap();
        let req = ReserveRequest::new("r", "C", "bot", ToolKind::Refund).takeover_window(DAY);
        let facts = shared.check_and_reserve(&req, Timestamp::EPOCH).unwrap();
        assert!(facts.takeover());
        let queue: Arc<dyn ApprovalQueue> = Arc::new(MemoryApprovalQueue::new(DAY, HOUR));
        assert!(queue.expire(Timestamp::EPOCH).is_ok());
    }
}
