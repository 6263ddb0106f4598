//! The Redis-backed shared store (feature `redis`): rolling totals, reservations, settlement,
//! trust, takeover markers and approval tickets shared by a fleet of agent instances.
//!
//! - [`RedisStore`] implements [`Store`] over a small pool of sync connections;
//!   [`AsyncRedisStore`] implements [`AsyncStore`] over redis's tokio `ConnectionManager`.
//!   Both run the same Lua scripts (`redis::Script`: `EVALSHA`, loaded once per server, with
//!   automatic fallback to `SCRIPT LOAD` after a restart).
//! - [`RedisApprovalQueue`] implements [`ApprovalQueue`]: tickets and single-use tokens in
//!   Redis; consuming a token is one script, so a token presented on two instances at once is
//!   honoured once.
//! - [`from_url`] builds both from `store.url: redis://...`.
//!
//! # One round trip per check
//!
//! [`Store::check_and_reserve`] is one script: prune → totals → facts → admission → reserve,
//! exactly the steps of the in-memory store, so the same sequence of requests gives the same
//! [`Facts`] on both (`tests/redis_store.rs` runs the tripwire tables against both).
//! Settlement, account changes, penalties and penalty refunds are one idempotent script each.
//!
//! # Time
//!
//! Every script takes `now` (milliseconds) as an argument, so `guard check`'s `at`, replays
//! and fake clocks work as against memory. With [`RedisStoreBuilder::server_time`] the scripts
//! read the server's `TIME` instead, so instances with skewed clocks agree; the `now`
//! arguments are then ignored.
//!
//! # Money
//!
//! Amounts stay integer minor units end to end. Lua numbers are doubles, exact for integers up
//! to 2^53 − 1 (about 90 trillion dollars in cents): amounts and limits beyond that are refused
//! with [`StoreError::Money`] (`amount overflow`) before anything is sent, and a total that
//! would pass it is refused the same way by the script.
//!
//! # Key layout
//!
//! With the default prefix `guard` (ids are escaped: `%`, `{` and `}` become `%25`, `%7B`,
//! `%7D`, so a hash tag is always exactly one id):
//!
//! | key | type | holds | expires |
//! |---|---|---|---|
//! | `guard:{c:<customer>}:ev` | hash | call id → `kind\|amount\|currency\|at\|settle_by\|state\|agent` | 7 days after the newest reservation |
//! | `guard:{c:<customer>}:lac` | string | last account change (ms) | 7 days after it |
//! | `guard:{c:<customer>}:tr` | hash | trust accumulator `acc`, its time `upd`, `seq` | when the decayed penalty falls below 10⁻⁴ (log2(acc/10⁻⁴) half-lives, at most ~13), plus a day |
//! | `guard:{c:<customer>}:th` | list | trust history, newest last (bounded) | as `tr` |
//! | `guard:{k:<call id>}` | string | the customer's key base (settlement by id) | 7 days |
//! | `guard:{a:<agent>}:z:<kind>` / `:h:<kind>` / `:s:<kind>` | zset / hash / string | the agent's last hour: call id by time, amounts, running sum | 1 hour after the newest |
//! | `guard:{t:<ticket>}` | string | a ticket (JSON) | ticket TTL + token TTL after it closes |
//! | `guard:{x:<token>}` | string | an approval token (JSON) | token TTL |
//! | `guard:{q}:pending` / `guard:{q}:audit` | zset / list | pending ticket ids / audit events | — (bounded) |
//!
//! Keys expire only once nothing in them can matter: a reservation counts for 7 days; trust
//! decays for longer than that (several half-lives), so its keys live longer.
//!
//! # Redis Cluster
//!
//! A customer's keys share the hash tag `{c:<customer>}`; an agent's `{a:<agent>}`; a call id's
//! index `{k:<id>}`; a session's `{s:<session>}`. The single-node check script touches the first
//! three at once (one round trip). With [`RedisStoreBuilder::cluster`] every script touches one
//! slot: the customer's script, then the call index, then an atomic check-and-add of the
//! agent-wide limit on the agent's slot, compensated (the customer's reservation removed) when
//! that step refuses or fails; tickets and tokens move under the queue's tag `{q}`. See
//! `docs/redis.md`. This client does not route by slot: it needs one endpoint that owns the
//! slots (a single-shard cluster or a cluster-aware proxy).
//!
//! # Failure
//!
//! Connections have a connect timeout and a response timeout (200 ms / 100 ms by default). A
//! server that is down, refuses, or answers late gives [`StoreError::Unavailable`] within about
//! those timeouts (the guard answers BLOCK `store_unavailable`; read tools may opt out).
//! A connection that saw an error is dropped and the next call reconnects, so the store
//! recovers by itself when the server returns. Idempotent scripts (check-and-reserve by call id,
//! settlement, account changes, reads) are retried once on a fresh connection when a pooled one
//! turns out to be dead; penalties are not retried. A check whose reply is lost (a timeout after
//! the server ran it) may have reserved: the reservation counts (the safe direction) until it
//! is settled by id or expires into committed after the reservation TTL; a retry with the same
//! call id is answered `Existing` and counted once. Credentials in the URL never appear in
//! errors or `Debug` output.
//!
//! ```no_run
//! use guard_core::store::redis::RedisStore;
//! use guard_core::store::{Store, Timestamp};
//! use std::time::Duration;
//!
//! let store = RedisStore::builder("redis://127.0.0.1:6379")
//!     .connect_timeout(Duration::from_millis(200))
//!     .response_timeout(Duration::from_millis(100))
//!     .build()?;
//! store.record_account_change("C-1", Timestamp::from_millis(1_700_000_000_000))?;
//! # Ok::<(), guard_core::store::StoreError>(())
//! ```

mod approvals;
mod async_store;
mod conn;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

use redis::{Script, ScriptInvocation};

use crate::money::{Currency, Money, MoneyError};

use super::clock::{millis, Timestamp};
use super::facts::{
    Admit, Facts, LimitFact, Reservation, ReservationState, ReserveRequest, Window,
};
use super::trust::{decay, Penalty, PenaltyReceipt, TrustEntry};
use super::window::Settlement;
use super::{Store, StoreError};

pub use approvals::{AsyncRedisApprovalQueue, RedisApprovalQueue};
pub use async_store::AsyncRedisStore;
use conn::{Pool, Redactor};
pub use sessions::RedisSessionStore;

/// The largest integer a Lua number (a double) holds exactly: amounts and limits above it are
/// refused.
pub const MAX_EXACT_MINOR_UNITS: i64 = (1 << 53) - 1;

/// Builds a [`RedisStore`] (or an [`AsyncRedisStore`], or a [`RedisApprovalQueue`]).
///
/// ```
/// use guard_core::store::redis::RedisStore;
/// use std::time::Duration;
/// // Nothing connects until the first call.
/// let store = RedisStore::builder("redis://user:secret@127.0.0.1:6379")
///     .response_timeout(Duration::from_millis(50))
///     .server_time(true)
///     .key_prefix("shop-1")
///     .build()?;
/// assert!(!format!("{store:?}").contains("secret"));
/// # Ok::<(), guard_core::store::StoreError>(())
/// ```
#[derive(Clone)]
pub struct RedisStoreBuilder {
    url: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    server_time: bool,
    prefix: String,
    max_events: usize,
    trust_history: usize,
    max_idle: usize,
    ticket_ttl: Duration,
    token_ttl: Duration,
    session_ttl: Duration,
    cluster: bool,
}

impl std::fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &Redactor::new(&self.url).url)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("server_time", &self.server_time)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            connect_timeout: Duration::from_millis(200),
            response_timeout: Duration::from_millis(100),
            server_time: false,
            prefix: "guard".to_owned(),
            max_events: 4096,
            trust_history: 32,
            max_idle: 64,
            ticket_ttl: Duration::from_secs(24 * 3600),
            token_ttl: Duration::from_secs(3600),
            session_ttl: super::DEFAULT_SESSION_TTL,
            cluster: false,
        }
    }
    /// How long opening a connection may take (default 200 ms).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// How long one script may take to answer (default 100 ms).
    pub fn response_timeout(mut self, d: Duration) -> Self {
        self.response_timeout = d;
        self
    }
    /// Take `now` from the server's `TIME` instead of the caller (default `false`): instances
    /// with skewed clocks then agree. Replays and fake clocks need it off.
    pub fn server_time(mut self, on: bool) -> Self {
        self.server_time = on;
        self
    }
    /// The prefix of every key (default `guard`): several deployments can share one server.
    /// Must not contain `{` or `}`.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
    /// Reservations one customer may hold inside 7 days (default 4096, as the memory store).
    pub fn max_events_per_customer(mut self, n: usize) -> Self {
        self.max_events = n;
        self
    }
    /// Trust changes kept per customer (default 32).
    pub fn trust_history(mut self, n: usize) -> Self {
        self.trust_history = n;
        self
    }
    /// Idle sync connections kept for reuse (default 64; one per concurrent caller is opened).
    pub fn max_idle_connections(mut self, n: usize) -> Self {
        self.max_idle = n;
        self
    }
    /// Ticket and token TTLs of the approval queue (default 24 h / 1 h; the blueprint's
    /// `approvals` section in [`from_url_with`]).
    pub fn approval_ttls(mut self, ticket_ttl: Duration, token_ttl: Duration) -> Self {
        self.ticket_ttl = ticket_ttl;
        self.token_ttl = token_ttl;
        self
    }

    /// Redis Cluster layout (default `false`): every script touches the keys of one hash slot.
    /// A check becomes the customer's script, then the agent-wide hourly limit on the agent's
    /// slot, compensated (the customer's reservation removed) when the agent's slot refuses or
    /// fails; the call-id index is its own step. Two or three round trips instead of one. See
    /// the module documentation.
    pub fn cluster(mut self, on: bool) -> Self {
        self.cluster = on;
        self
    }

    /// How long a session's conversation state lives after its newest message (default 24 h).
    pub fn session_ttl(mut self, d: Duration) -> Self {
        self.session_ttl = d;
        self
    }

    fn core(&self) -> Result<(redis::Client, Arc<Core>), StoreError> {
        let redactor = Redactor::new(&self.url);
        if self.prefix.contains(['{', '}']) {
            return Err(StoreError::Unavailable(format!(
                "redis key prefix {:?} must not contain braces",
                self.prefix
            )));
        }
        let invalid = |e: redis::RedisError| {
            StoreError::Unavailable(
                redactor.clean(&format!("invalid redis url {}: {e}", redactor.url)),
            )
        };
        // TCP_NODELAY: a check is one small request and one small reply; Nagle's algorithm
        // and delayed ACKs must never hold either back (the client's default leaves it off).
        let info = redis::IntoConnectionInfo::into_connection_info(self.url.as_str())
            .map_err(invalid)?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let client = redis::Client::open(info).map_err(invalid)?;
        Ok((
            client,
            Arc::new(Core {
                scripts: Scripts::new(),
                prefix: self.prefix.clone(),
                server_time: self.server_time,
                max_events: self.max_events,
                history_cap: self.trust_history,
                session_ttl: self.session_ttl,
                cluster: self.cluster,
                redactor,
            }),
        ))
    }

    /// The sync store. Does not connect yet: the first call does (and every call after a
    /// failure), so a guard starts even while Redis is down and recovers when it returns.
    pub fn build(&self) -> Result<RedisStore, StoreError> {
        let (client, core) = self.core()?;
        Ok(RedisStore {
            pool: Arc::new(Pool::new(
                client,
                core.redactor.clone(),
                self.max_idle,
                self.connect_timeout,
                self.response_timeout,
            )),
            core,
        })
    }

    /// The async store (call inside a tokio runtime). Does not wait for a connection.
    pub fn build_async(&self) -> Result<AsyncRedisStore, StoreError> {
        if self.cluster {
            return Err(StoreError::Unavailable(
                "the async Redis store does not support cluster mode yet: use the sync store"
                    .to_owned(),
            ));
        }
        let (client, core) = self.core()?;
        AsyncRedisStore::new(client, core, self.connect_timeout, self.response_timeout)
    }

    /// The async approval queue on the same server (call inside a tokio runtime).
    pub fn build_async_approvals(&self) -> Result<AsyncRedisApprovalQueue, StoreError> {
        Ok(AsyncRedisApprovalQueue::new(
            self.build_async()?,
            self.ticket_ttl,
            self.token_ttl,
        ))
    }

    /// The approval queue on the same server (sync).
    pub fn build_approvals(&self) -> Result<RedisApprovalQueue, StoreError> {
        let store = self.build()?;
        Ok(RedisApprovalQueue::new(
            store,
            self.ticket_ttl,
            self.token_ttl,
        ))
    }
}

/// A store and an approval queue for `store.url: redis://...` (default timeouts, caller's
/// time, approval TTLs 24 h / 1 h). Neither connects yet.
///
/// ```
/// let (store, approvals) = guard_core::store::redis::from_url("redis://127.0.0.1:6379")?;
/// # let _ = (store, approvals);
/// # Ok::<(), guard_core::store::StoreError>(())
/// ```
pub fn from_url(url: &str) -> Result<(RedisStore, RedisApprovalQueue), StoreError> {
    from_url_with(RedisStore::builder(url))
}

/// [`from_url`] with a configured builder (timeouts, server time, approval TTLs).
pub fn from_url_with(
    builder: RedisStoreBuilder,
) -> Result<(RedisStore, RedisApprovalQueue), StoreError> {
    Ok((builder.build()?, builder.build_approvals()?))
}

const COMMON: &str = include_str!("lua/common.lua");

/// The scripts, hashed once per store.
pub(crate) struct Scripts {
    reserve: Script,
    settle: Script,
    account_change: Script,
    penalize: Script,
    refund: Script,
    cluster_index: Script,
    cluster_agent: Script,
    cluster_unreserve: Script,
    cluster_settle: Script,
    cluster_agent_release: Script,
    pub(crate) sessions: sessions::SessionScripts,
    pub(crate) approvals: approvals::QueueScripts,
}

impl Scripts {
    fn new() -> Self {
        let s = |body: &str| Script::new(&format!("{COMMON}\n{body}"));
        Self {
            reserve: s(include_str!("lua/reserve.lua")),
            settle: s(include_str!("lua/settle.lua")),
            account_change: s(include_str!("lua/account_change.lua")),
            penalize: s(include_str!("lua/penalize.lua")),
            refund: s(include_str!("lua/refund.lua")),
            cluster_index: s(include_str!("lua/cluster_index.lua")),
            cluster_agent: s(include_str!("lua/cluster_agent.lua")),
            cluster_unreserve: s(include_str!("lua/cluster_unreserve.lua")),
            cluster_settle: s(include_str!("lua/cluster_settle.lua")),
            cluster_agent_release: s(include_str!("lua/cluster_agent_release.lua")),
            sessions: sessions::SessionScripts::new(),
            approvals: approvals::QueueScripts::new(),
        }
    }
}

/// Everything the sync and async stores share: scripts, keys, settings.
pub(crate) struct Core {
    pub(crate) scripts: Scripts,
    prefix: String,
    server_time: bool,
    max_events: usize,
    history_cap: usize,
    session_ttl: Duration,
    cluster: bool,
    pub(crate) redactor: Redactor,
}

/// `%`, `{` and `}` escaped, so an id can never end or open a hash tag.
fn escape(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for c in id.chars() {
        match c {
            '%' => out.push_str("%25"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
    out
}

fn ms(d: Duration) -> u64 {
    millis(d).min(MAX_EXACT_MINOR_UNITS.unsigned_abs())
}

fn exact(m: Money) -> Result<Money, StoreError> {
    if m.minor_units().unsigned_abs() > MAX_EXACT_MINOR_UNITS.unsigned_abs() {
        return Err(StoreError::Money(MoneyError::Overflow));
    }
    Ok(m)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn clamp_unit(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

/// Trust from the stored accumulator, as [`super::trust`] computes it.
fn trust_value(acc: f64, updated: Timestamp, now: Timestamp, half_life: Duration) -> f64 {
    clamp_unit(1.0 - clamp_unit(acc * decay(now.since(updated), half_life)))
}

fn garbage(what: &'static str) -> StoreError {
    StoreError::Unavailable(format!("redis answered garbage to {what}"))
}

fn int(s: Option<&String>, what: &'static str) -> Result<i64, StoreError> {
    s.and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| garbage(what))
}

fn stamp(s: Option<&String>, what: &'static str) -> Result<Timestamp, StoreError> {
    s.and_then(|s| s.parse::<u64>().ok())
        .map(Timestamp::from_millis)
        .ok_or_else(|| garbage(what))
}

impl Core {
    fn now_arg(&self, now: Timestamp) -> String {
        if self.server_time {
            "T".to_owned()
        } else {
            now.as_millis().to_string()
        }
    }
    fn customer_base(&self, customer: &str) -> String {
        format!("{}:{{c:{}}}", self.prefix, escape(customer))
    }
    fn agent_base(&self, agent: &str) -> String {
        format!("{}:{{a:{}}}", self.prefix, escape(agent))
    }
    fn call_key(&self, call_id: &str) -> String {
        format!("{}:{{k:{}}}", self.prefix, escape(call_id))
    }
    pub(crate) fn ticket_key(&self, id: &str) -> String {
        if self.cluster {
            // The first `{...}` is the hash tag: every approval key shares the queue's slot
            // (approvals are few; one slot keeps each queue script on one node).
            return format!("{}:{{q}}:t:{{{}}}", self.prefix, escape(id));
        }
        format!("{}:{{t:{}}}", self.prefix, escape(id))
    }
    pub(crate) fn token_key(&self, token: &str) -> String {
        if self.cluster {
            return format!("{}:{{q}}:x:{{{}}}", self.prefix, escape(token));
        }
        format!("{}:{{x:{}}}", self.prefix, escape(token))
    }
    pub(crate) fn queue_key(&self, what: &str) -> String {
        format!("{}:{{q}}:{what}", self.prefix)
    }

    /// The check-and-reserve invocation, after the checks the memory store makes before
    /// touching state (negative amounts, currencies, the 2^53 bound).
    fn reserve<'s>(
        &'s self,
        req: &ReserveRequest<'_>,
        now: Timestamp,
    ) -> Result<(ScriptInvocation<'s>, Option<Currency>), StoreError> {
        if let Some(a) = req.amount {
            if a.minor_units() < 0 {
                return Err(StoreError::NegativeAmount(a));
            }
        }
        let currency = req
            .amount
            .or(req.daily_limit)
            .or(req.weekly_limit)
            .or(req.agent_hourly_limit)
            .map(|m| m.currency());
        for m in [
            req.amount,
            req.daily_limit,
            req.weekly_limit,
            req.agent_hourly_limit,
        ]
        .into_iter()
        .flatten()
        {
            exact(m)?;
            if let Some(c) = currency {
                if m.currency() != c {
                    return Err(MoneyError::CurrencyMismatch(c, m.currency()).into());
                }
            }
        }
        let base = self.customer_base(req.customer);
        let agent = self.agent_base(req.agent);
        let kind = req.kind.as_str();
        let minor = |m: Option<Money>| opt(m.map(|m| m.minor_units()));
        let mut inv = self.scripts.reserve.prepare_invoke();
        for k in self.reserve_keys(req) {
            inv.key(k);
        }
        inv.arg(self.now_arg(now))
            .arg(req.call_id)
            .arg(&base)
            .arg(&agent)
            .arg(kind)
            .arg(minor(req.amount))
            .arg(currency.map(|c| c.code().to_owned()).unwrap_or_default())
            .arg(minor(req.daily_limit))
            .arg(minor(req.weekly_limit))
            // In cluster mode the agent's limit is the agent script's business.
            .arg(if self.cluster {
                String::new()
            } else {
                minor(req.agent_hourly_limit)
            })
            .arg(opt(req.frequency_threshold.map(|n| n.get())))
            .arg(opt(req.takeover_window.map(ms)))
            .arg(ms(req.trust_half_life))
            .arg(opt(req.trust_escalate_below.map(|f| format!("{f:?}"))))
            .arg(opt(req.trust_block_below.map(|f| format!("{f:?}"))))
            .arg(ms(req.reservation_ttl))
            .arg(match req.admit {
                Admit::IfClear => "i",
                Admit::Never => "n",
                Admit::Always => "a",
            })
            .arg(self.max_events);
        Ok((inv, currency))
    }

    /// The keys the check script touches: one slot in cluster mode.
    pub(crate) fn reserve_keys(&self, req: &ReserveRequest<'_>) -> Vec<String> {
        let base = self.customer_base(req.customer);
        let mut keys = vec![
            format!("{base}:ev"),
            format!("{base}:lac"),
            format!("{base}:tr"),
        ];
        if !self.cluster {
            keys.push(self.call_key(req.call_id));
            keys.extend(self.agent_keys(req.agent, req.kind.as_str()));
        }
        keys
    }

    fn agent_keys(&self, agent: &str, kind: &str) -> [String; 3] {
        Self::agent_keys_of(&self.agent_base(agent), kind)
    }

    fn agent_keys_of(agent_base: &str, kind: &str) -> [String; 3] {
        [
            format!("{agent_base}:z:{kind}"),
            format!("{agent_base}:h:{kind}"),
            format!("{agent_base}:s:{kind}"),
        ]
    }

    /// The script's answer as [`Facts`].
    fn facts(
        &self,
        req: &ReserveRequest<'_>,
        currency: Option<Currency>,
        reply: &[String],
    ) -> Result<Facts, StoreError> {
        let field = |i: usize| reply.get(i);
        match field(0).map(String::as_str) {
            Some("ok") => {}
            Some("conflict") => return Err(StoreError::CallIdConflict(req.call_id.to_owned())),
            Some("full") => {
                return Err(StoreError::HistoryFull {
                    limit: self.max_events,
                })
            }
            Some("overflow") => return Err(MoneyError::Overflow.into()),
            Some("currency") => {
                let stored = field(1)
                    .and_then(|c| Currency::from_code(c).ok())
                    .ok_or_else(|| garbage("check_and_reserve"))?;
                let asked = currency.ok_or_else(|| garbage("check_and_reserve"))?;
                return Err(MoneyError::CurrencyMismatch(stored, asked).into());
            }
            _ => return Err(garbage("check_and_reserve")),
        }
        let now = stamp(field(9), "now")?;
        let this = |c: Currency| req.amount.unwrap_or(Money::from_minor(0, c));
        let limit = |w: Window,
                     total: Option<&String>,
                     limit: Option<Money>|
         -> Result<Option<LimitFact>, StoreError> {
            match (currency, limit) {
                (Some(c), Some(l)) => {
                    let t = Money::from_minor(int(total, "total")?, c);
                    Ok(Some(LimitFact::new(w, t, this(c), l, req.nudge_ratio)?))
                }
                _ => Ok(None),
            }
        };
        let daily = limit(Window::Day, field(2), req.daily_limit)?;
        let weekly = limit(Window::Week, field(3), req.weekly_limit)?;
        let agent_hourly = match req.agent_hourly_limit {
            Some(l) => {
                let amount = this(l.currency());
                let total = Money::from_minor(int(field(8), "agent total")?, amount.currency());
                Some(LimitFact::new(
                    Window::AgentHour,
                    total,
                    amount,
                    l,
                    req.nudge_ratio,
                )?)
            }
            None => None,
        };
        let count = u32::try_from(int(field(4), "count")?).unwrap_or(u32::MAX);
        let last_account_change = match field(5) {
            Some(s) if s.is_empty() => None,
            other => Some(stamp(other, "account change")?),
        };
        let acc = field(6)
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| garbage("trust"))?;
        let updated = stamp(field(7), "trust time")?;
        let reservation = match field(1).map(String::as_str) {
            Some("reserved") => Reservation::Reserved,
            Some("not") => Reservation::NotReserved,
            Some("pending") => Reservation::Existing(ReservationState::Pending),
            Some("expired") => Reservation::Existing(ReservationState::Expired),
            Some("committed") => Reservation::Existing(ReservationState::Committed),
            _ => return Err(garbage("reservation")),
        };
        Ok(Facts {
            kind: req.kind,
            now,
            daily,
            weekly,
            agent_hourly,
            count,
            frequency_threshold: req.frequency_threshold,
            last_account_change,
            takeover_window: req.takeover_window,
            trust: trust_value(acc, updated, now, req.trust_half_life),
            trust_escalate_below: req.trust_escalate_below,
            trust_block_below: req.trust_block_below,
            reservation,
        })
    }

    fn settle<'s>(&'s self, call_id: &str, commit: bool, now: Timestamp) -> ScriptInvocation<'s> {
        let mut inv = self.scripts.settle.prepare_invoke();
        inv.key(self.call_key(call_id))
            .arg(self.now_arg(now))
            .arg(call_id)
            .arg(if commit { "c" } else { "r" });
        inv
    }

    fn settlement(reply: &str) -> Result<Settlement, StoreError> {
        Ok(match reply {
            "committed" => Settlement::Committed,
            "released" => Settlement::Released,
            "already_committed" => Settlement::AlreadyCommitted,
            "already_released" => Settlement::AlreadyReleased,
            "expired" => Settlement::Expired,
            "unknown" => Settlement::Unknown,
            _ => return Err(garbage("settlement")),
        })
    }

    fn account_change<'s>(&'s self, customer: &str, now: Timestamp) -> ScriptInvocation<'s> {
        let mut inv = self.scripts.account_change.prepare_invoke();
        inv.key(format!("{}:lac", self.customer_base(customer)))
            .arg(self.now_arg(now));
        inv
    }

    fn trust_cmd(&self, customer: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(format!("{}:tr", self.customer_base(customer)))
            .arg("acc")
            .arg("upd");
        cmd
    }

    fn trust_reply(
        reply: &[Option<String>],
        half_life: Duration,
        now: Timestamp,
    ) -> Result<f64, StoreError> {
        let acc = match reply.first() {
            Some(Some(s)) => s.parse::<f64>().map_err(|_| garbage("trust"))?,
            _ => 0.0,
        };
        let updated = match reply.get(1) {
            Some(Some(s)) => s
                .parse::<u64>()
                .map(Timestamp::from_millis)
                .map_err(|_| garbage("trust"))?,
            _ => Timestamp::EPOCH,
        };
        Ok(trust_value(acc, updated, now, half_life))
    }

    fn penalize<'s>(
        &'s self,
        customer: &str,
        amount: f64,
        code: &str,
        half_life: Duration,
        now: Timestamp,
    ) -> ScriptInvocation<'s> {
        let base = self.customer_base(customer);
        let mut inv = self.scripts.penalize.prepare_invoke();
        inv.key(format!("{base}:tr"))
            .key(format!("{base}:th"))
            .arg(self.now_arg(now))
            .arg(ms(half_life))
            .arg(format!("{amount:?}"))
            .arg(code)
            .arg(self.history_cap);
        inv
    }

    fn receipt(
        customer: &str,
        amount: f64,
        code: &str,
        reply: &[String],
    ) -> Result<PenaltyReceipt, StoreError> {
        let seq = reply
            .first()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| garbage("penalize"))?;
        Ok(PenaltyReceipt {
            customer: customer.to_owned(),
            seq,
            at: stamp(reply.get(1), "penalize")?,
            amount,
            code: code.to_owned(),
        })
    }

    fn refund<'s>(
        &'s self,
        receipt: &PenaltyReceipt,
        half_life: Duration,
        now: Timestamp,
    ) -> ScriptInvocation<'s> {
        let base = self.customer_base(&receipt.customer);
        let mut inv = self.scripts.refund.prepare_invoke();
        inv.key(format!("{base}:tr"))
            .key(format!("{base}:th"))
            .arg(self.now_arg(now))
            .arg(ms(half_life))
            .arg(receipt.seq)
            .arg(receipt.at.as_millis())
            .arg(format!("{:?}", receipt.amount))
            .arg(self.history_cap);
        inv
    }

    fn history_cmd(&self, customer: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("LRANGE");
        cmd.arg(format!("{}:th", self.customer_base(customer)))
            .arg(0)
            .arg(-1);
        cmd
    }

    fn history(reply: &[String]) -> Result<Vec<TrustEntry>, StoreError> {
        reply
            .iter()
            .map(|line| {
                let mut parts = line.splitn(5, '|');
                let mut next = || parts.next().ok_or_else(|| garbage("trust history"));
                let seq = next()?
                    .parse::<u64>()
                    .map_err(|_| garbage("trust history"))?;
                let at = next()?
                    .parse::<u64>()
                    .map_err(|_| garbage("trust history"))?;
                let delta = next()?
                    .parse::<f64>()
                    .map_err(|_| garbage("trust history"))?;
                let refunded = next()? == "1";
                let code = next()?.to_owned();
                Ok(TrustEntry {
                    seq,
                    at: Timestamp::from_millis(at),
                    delta,
                    code,
                    refunded,
                })
            })
            .collect()
    }
}

fn penalty_amount(p: &Penalty<'_>) -> Option<f64> {
    if p.amount.is_nan() || p.amount <= 0.0 {
        return None;
    }
    Some(clamp_unit(p.amount))
}

/// The sync Redis [`Store`]: one script per operation over a small connection pool.
///
/// ```no_run
/// use guard_core::{Blueprint, Currency, Money, ToolKind};
/// use guard_core::store::redis::RedisStore;
/// use guard_core::store::{Admit, ReserveRequest, Store, Timestamp};
/// let bp = Blueprint::embedded_default()?;
/// let store = RedisStore::open("redis://127.0.0.1:6379")?;
/// let req = ReserveRequest::from_blueprint(&bp, "call-1", "C-1", "bot", ToolKind::Refund)
///     .amount(Money::parse("150", Currency::from_code("USD")?)?)
///     .admit(Admit::IfClear);
/// let now = Timestamp::from_millis(1_700_000_000_000);
/// let facts = store.check_and_reserve(&req, now)?;
/// assert!(facts.findings().is_empty());
/// store.commit("call-1", now)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisStore {
    pool: Arc<Pool>,
    core: Arc<Core>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("pool", &self.pool)
            .field("prefix", &self.core.prefix)
            .field("server_time", &self.core.server_time)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store with the default settings for `url` (`redis://[user:pass@]host:port[/db]`).
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).build()
    }

    /// Starts a builder.
    pub fn builder(url: &str) -> RedisStoreBuilder {
        RedisStoreBuilder::new(url)
    }

    /// Round trip to the server (`PING`): for health checks.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.pool
            .run("ping", true, |c| redis::cmd("PING").query::<String>(c))
            .map(|_| ())
    }

    /// The URL with credentials replaced by `***`.
    pub fn redacted_url(&self) -> &str {
        &self.core.redactor.url
    }

    /// Cluster mode: call index → customer's script → agent's script (→ compensation), each
    /// on one slot. The agent's script is an atomic check-and-add on the agent's slot, so the
    /// agent-wide limit holds fleet-wide; a call the agent's slot refuses loses its customer
    /// reservation again, so nothing is counted for a refused call.
    fn check_cluster(
        &self,
        req: &ReserveRequest<'_>,
        now: Timestamp,
        customer: &ScriptInvocation<'_>,
        currency: Option<Currency>,
    ) -> Result<Facts, StoreError> {
        let core = &*self.core;
        let base = core.customer_base(req.customer);
        let mut reply: Vec<String> = self
            .pool
            .run("check_and_reserve", true, |c| customer.invoke(c))?;
        if reply.first().is_none_or(|r| r != "ok") {
            return core.facts(req, currency, &reply);
        }
        let reserved = reply.get(1).is_some_and(|r| r == "reserved");
        let at = reply
            .get(9)
            .cloned()
            .ok_or_else(|| garbage("check_and_reserve"))?;
        let unreserve = || -> Result<(), StoreError> {
            let mut inv = core.scripts.cluster_unreserve.prepare_invoke();
            inv.key(format!("{base}:ev")).arg(req.call_id).arg(&at);
            self.pool
                .run("check_and_reserve (compensation)", true, |c| {
                    inv.invoke::<String>(c)
                })
                .map(|_| ())
        };
        // The call-id index is written only for a reservation, as the single-node script does.
        let mut idx = core.scripts.cluster_index.prepare_invoke();
        idx.key(core.call_key(req.call_id))
            .arg(&base)
            .arg(if reserved { "set" } else { "check" });
        let owner = self.pool.run("check_and_reserve (call index)", true, |c| {
            idx.invoke::<String>(c)
        });
        match owner.as_deref() {
            Ok("ok") => {}
            Ok(_) | Err(_) => {
                if reserved {
                    let _ = unreserve();
                }
                return Err(match owner {
                    Err(e) => e,
                    Ok(_) => StoreError::CallIdConflict(req.call_id.to_owned()),
                });
            }
        }
        let Some(limit) = req.agent_hourly_limit else {
            return core.facts(req, currency, &reply);
        };
        let mode = match (reserved, req.admit) {
            (false, _) => "p",
            (true, Admit::Always) => "a",
            (true, _) => "i",
        };
        let [z, h, s] = core.agent_keys(req.agent, req.kind.as_str());
        let mut agent = core.scripts.cluster_agent.prepare_invoke();
        agent
            .key(z)
            .key(h)
            .key(s)
            .arg(core.now_arg(now))
            .arg(req.call_id)
            .arg(opt(req.amount.map(|m| m.minor_units())))
            .arg(limit.minor_units())
            .arg(mode);
        let answer: Vec<String> = match self
            .pool
            .run("check_and_reserve (agent)", true, |c| agent.invoke(c))
        {
            Ok(a) => a,
            Err(e) => {
                if reserved {
                    // If this fails too, the reservation expires into committed: counted,
                    // never lost.
                    let _ = unreserve();
                }
                return Err(e);
            }
        };
        match answer.first().map(String::as_str) {
            Some("added" | "peek") => {}
            Some("refused") => {
                unreserve()?;
                if let Some(r) = reply.get_mut(1) {
                    *r = "not".to_owned();
                }
            }
            Some("overflow") => {
                if reserved {
                    let _ = unreserve();
                }
                return Err(MoneyError::Overflow.into());
            }
            _ => return Err(garbage("check_and_reserve (agent)")),
        }
        let total = answer
            .get(1)
            .cloned()
            .ok_or_else(|| garbage("agent total"))?;
        if let Some(t) = reply.get_mut(8) {
            *t = total;
        }
        core.facts(req, currency, &reply)
    }

    /// Cluster mode: call index → the customer's settlement → the agent's release.
    fn settle_cluster(
        &self,
        call_id: &str,
        commit: bool,
        now: Timestamp,
    ) -> Result<Settlement, StoreError> {
        let core = &*self.core;
        let mut get = redis::cmd("GET");
        get.arg(core.call_key(call_id));
        let base: Option<String> = self
            .pool
            .run("settle (call index)", true, |c| get.query(c))?;
        let Some(base) = base else {
            return Ok(Settlement::Unknown);
        };
        let mut inv = core.scripts.cluster_settle.prepare_invoke();
        inv.key(format!("{base}:ev"))
            .arg(core.now_arg(now))
            .arg(call_id)
            .arg(if commit { "c" } else { "r" });
        let reply: Vec<String> = self.pool.run("settle", true, |c| inv.invoke(c))?;
        let settled = Core::settlement(reply.first().map_or("", String::as_str))?;
        if let [_, agent, kind, amount, at] = reply.as_slice() {
            let [z, h, s] = Core::agent_keys_of(agent, kind);
            let mut back = core.scripts.cluster_agent_release.prepare_invoke();
            back.key(z).key(h).key(s).arg(call_id).arg(at).arg(amount);
            // The release is durable on the customer's slot; should the agent's slot not answer,
            // its hour over-counts this amount until it ages out (the safe direction).
            let _ = self
                .pool
                .run("settle (agent)", true, |c| back.invoke::<String>(c));
        }
        Ok(settled)
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    pub(crate) fn core_arc(&self) -> Arc<Core> {
        Arc::clone(&self.core)
    }
}

impl Store for RedisStore {
    fn check_and_reserve(
        &self,
        request: &ReserveRequest<'_>,
        now: Timestamp,
    ) -> Result<Facts, StoreError> {
        let (inv, currency) = self.core.reserve(request, now)?;
        if self.core.cluster {
            return self.check_cluster(request, now, &inv, currency);
        }
        let reply: Vec<String> = self
            .pool
            .run("check_and_reserve", true, |c| inv.invoke(c))?;
        self.core.facts(request, currency, &reply)
    }

    fn commit(&self, call_id: &str, now: Timestamp) -> Result<Settlement, StoreError> {
        if self.core.cluster {
            return self.settle_cluster(call_id, true, now);
        }
        let inv = self.core.settle(call_id, true, now);
        let reply: String = self.pool.run("commit", true, |c| inv.invoke(c))?;
        Core::settlement(&reply)
    }

    fn release(&self, call_id: &str, now: Timestamp) -> Result<Settlement, StoreError> {
        if self.core.cluster {
            return self.settle_cluster(call_id, false, now);
        }
        let inv = self.core.settle(call_id, false, now);
        let reply: String = self.pool.run("release", true, |c| inv.invoke(c))?;
        Core::settlement(&reply)
    }

    fn record_account_change(&self, customer: &str, now: Timestamp) -> Result<(), StoreError> {
        let inv = self.core.account_change(customer, now);
        self.pool
            .run("record_account_change", true, |c| inv.invoke::<String>(c))
            .map(|_| ())
    }

    fn trust(
        &self,
        customer: &str,
        half_life: Duration,
        now: Timestamp,
    ) -> Result<f64, StoreError> {
        let cmd = self.core.trust_cmd(customer);
        let reply: Vec<Option<String>> = self.pool.run("trust", true, |c| cmd.query(c))?;
        let now = if self.core.server_time {
            // The stored time is the server's: compare with the server's clock too.
            let t: Vec<String> = self
                .pool
                .run("time", true, |c| redis::cmd("TIME").query(c))?;
            server_now(&t)?
        } else {
            now
        };
        Core::trust_reply(&reply, half_life, now)
    }

    fn penalize(
        &self,
        customer: &str,
        penalty: Penalty<'_>,
        half_life: Duration,
        now: Timestamp,
    ) -> Result<Option<PenaltyReceipt>, StoreError> {
        let Some(amount) = penalty_amount(&penalty) else {
            return Ok(None);
        };
        let inv = self
            .core
            .penalize(customer, amount, penalty.code, half_life, now);
        // Not retried: a penalty applied twice would lower trust twice.
        let reply: Vec<String> = self.pool.run("penalize", false, |c| inv.invoke(c))?;
        Core::receipt(customer, amount, penalty.code, &reply).map(Some)
    }

    fn refund_penalty(
        &self,
        receipt: &PenaltyReceipt,
        half_life: Duration,
        now: Timestamp,
    ) -> Result<f64, StoreError> {
        let inv = self.core.refund(receipt, half_life, now);
        let reply: String = self.pool.run("refund_penalty", true, |c| inv.invoke(c))?;
        reply.parse::<f64>().map_err(|_| garbage("refund_penalty"))
    }

    fn trust_history(&self, customer: &str) -> Result<Vec<TrustEntry>, StoreError> {
        let cmd = self.core.history_cmd(customer);
        let reply: Vec<String> = self.pool.run("trust_history", true, |c| cmd.query(c))?;
        Core::history(&reply)
    }

    /// Redis forgets on its own: every check prunes its customer's stale reservations and
    /// agent entries, and keys expire once nothing in them matters. Returns 0.
    fn prune(&self, _now: Timestamp) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// A [`RedisSessionStore`] on the same connections: a fleet shares conversation state.
    fn session_store(&self) -> Option<Arc<dyn super::SessionStore>> {
        Some(Arc::new(RedisSessionStore {
            pool: Arc::clone(&self.pool),
            core: Arc::clone(&self.core),
        }))
    }
}

fn server_now(t: &[String]) -> Result<Timestamp, StoreError> {
    let secs = t
        .first()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| garbage("TIME"))?;
    let micros = t
        .get(1)
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| garbage("TIME"))?;
    Ok(Timestamp::from_millis(
        secs.saturating_mul(1000).saturating_add(micros / 1000),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ToolKind;

    #[test]
    fn ids_cannot_break_hash_tags() {
        assert_eq!(escape("a{b}c%"), "a%7Bb%7Dc%25");
        let b = RedisStore::builder("redis://127.0.0.1:1").build().unwrap();
        assert_eq!(b.core.customer_base("C}1"), "guard:{c:C%7D1}");
        assert_eq!(b.core.call_key("x"), "guard:{k:x}");
        assert!(RedisStore::builder("redis://h:1")
            .key_prefix("a{b")
            .build()
            .is_err());
    }

    /// CRC16/XMODEM, the checksum Redis Cluster uses for hash slots.
    fn crc16(data: &[u8]) -> u16 {
        let mut crc: u16 = 0;
        for b in data {
            crc ^= u16::from(*b) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    /// The slot of a key: of its first non-empty `{...}` if any, else of the whole key.
    fn slot(key: &str) -> u16 {
        let bytes = key.as_bytes();
        let tagged = key.find('{').and_then(|open| {
            let close = key[open + 1..].find('}')? + open + 1;
            (close > open + 1).then(|| &bytes[open + 1..close])
        });
        crc16(tagged.unwrap_or(bytes)) % 16384
    }

    fn one_slot(what: &str, keys: &[String]) -> bool {
        let slots: std::collections::BTreeSet<u16> = keys.iter().map(|k| slot(k)).collect();
        assert!(!keys.is_empty(), "{what}: no keys");
        slots.len() == 1
    }

    #[test]
    fn crc16_matches_the_cluster_specification() {
        // The reference value from the Redis Cluster specification, and a tag example.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));
        assert_eq!(slot("foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
    }

    #[test]
    fn every_script_touches_one_slot_in_cluster_mode() {
        let usd = Currency::from_code("USD").unwrap();
        let store = RedisStore::builder("redis://127.0.0.1:1")
            .cluster(true)
            .build()
            .unwrap();
        let single = RedisStore::builder("redis://127.0.0.1:1").build().unwrap();
        let core = &store.core;
        for (customer, agent, call) in [("C-1", "bot", "call-1"), ("x{y}", "a}b", "%{}")] {
            let req = ReserveRequest::new(call, customer, agent, ToolKind::Refund)
                .amount(Money::from_minor(100, usd))
                .agent_hourly_limit(Money::from_minor(1000, usd));
            // The customer's check script, then the call index and the agent's script.
            assert!(one_slot("check (customer)", &core.reserve_keys(&req)));
            assert!(one_slot("check (call index)", &[core.call_key(call)]));
            let agent_keys = core.agent_keys(agent, "refund").to_vec();
            assert!(one_slot("check (agent)", &agent_keys));
            // The agent base a settlement reads back from the customer's record.
            let from_record = Core::agent_keys_of(&core.agent_base(agent), "refund").to_vec();
            assert_eq!(from_record, agent_keys);
            let base = core.customer_base(customer);
            assert!(one_slot("settle / compensation", &[format!("{base}:ev")]));
            assert!(one_slot(
                "penalize / refund_penalty",
                &[format!("{base}:tr"), format!("{base}:th")]
            ));
            assert!(one_slot("account change", &[format!("{base}:lac")]));
            assert!(one_slot("session", &core.session_keys(customer)));
            // Approval scripts: ticket, token, pending set and audit list together.
            assert!(one_slot(
                "approvals",
                &[
                    core.ticket_key("t-1"),
                    core.ticket_key(call),
                    core.token_key("tok-1"),
                    core.queue_key("pending"),
                    core.queue_key("audit"),
                ]
            ));
            // The single-node layout really spans slots: the test can fail.
            assert!(!one_slot(
                "single-node check",
                &single.core.reserve_keys(&req)
            ));
            assert!(!one_slot(
                "single-node approvals",
                &[
                    single.core.ticket_key("t-1"),
                    single.core.queue_key("pending")
                ]
            ));
        }
    }

    #[test]
    fn oversized_amounts_are_refused_before_sending() {
        let store = RedisStore::builder("redis://127.0.0.1:1").build().unwrap();
        let usd = Currency::from_code("USD").unwrap();
        let req = ReserveRequest::new("a", "C", "bot", ToolKind::Refund)
            .amount(Money::from_minor(MAX_EXACT_MINOR_UNITS + 1, usd));
        assert_eq!(
            store.check_and_reserve(&req, Timestamp::EPOCH),
            Err(StoreError::Money(MoneyError::Overflow))
        );
        let neg = ReserveRequest::new("a", "C", "bot", ToolKind::Refund)
            .amount(Money::from_minor(-1, usd));
        assert!(matches!(
            store.check_and_reserve(&neg, Timestamp::EPOCH),
            Err(StoreError::NegativeAmount(_))
        ));
    }

    #[test]
    fn an_unreachable_server_is_an_error_not_a_hang() {
        // Port 1 on loopback refuses at once.
        let store = RedisStore::builder("redis://u:hunter22@127.0.0.1:1")
            .build()
            .unwrap();
        let err = store
            .record_account_change("C", Timestamp::EPOCH)
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Unavailable(_)), "{text}");
        assert!(!text.contains("hunter22"), "{text}");
        assert!(!format!("{store:?}").contains("hunter22"));
    }
}
