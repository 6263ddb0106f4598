//! The approval queue in Redis: tickets (a hash each: the request as JSON plus status fields),
//! the pending set, single-use tokens and the audit list. Every state change is one script, so
//! two instances answering the same ticket, or presenting the same token, are serialised by
//! the server: a token is honoured once fleet-wide.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::{Script, ScriptInvocation, Value};
use serde_json::json;

use crate::check::Intervention;
use crate::store::approvals::parts;
use crate::store::clock::Timestamp;
use crate::store::trust::{PenaltyReceipt, TrustEntry};
use crate::store::{
    ApprovalQueue, AsyncApprovalQueue, AuditAction, AuditEntry, Issued, Recommendation, StoreError,
    Ticket, TicketRequest, TicketStatus, TokenCheck, TokenRefusal,
};

use super::{garbage, ms, AsyncRedisStore, Core, RedisStore, COMMON};

const QUEUE_COMMON: &str = include_str!("lua/queue_common.lua");

pub(crate) struct QueueScripts {
    open: Script,
    get: Script,
    pending: Script,
    answer: Script,
    consume: Script,
    drain: Script,
}

impl QueueScripts {
    pub(crate) fn new() -> Self {
        let s = |body: &str| Script::new(&format!("{COMMON}\n{QUEUE_COMMON}\n{body}"));
        Self {
            open: s(include_str!("lua/q_open.lua")),
            get: s(include_str!("lua/q_get.lua")),
            pending: s(include_str!("lua/q_pending.lua")),
            answer: s(include_str!("lua/q_answer.lua")),
            consume: s(include_str!("lua/q_consume.lua")),
            drain: s(include_str!("lua/q_drain.lua")),
        }
    }
}

/// The Redis [`ApprovalQueue`]: tickets and tokens shared by every instance on the server.
///
/// ```no_run
/// use guard_core::Intervention;
/// use guard_core::store::redis::RedisStore;
/// use guard_core::store::{ApprovalQueue, TicketRequest, Timestamp, TokenCheck};
/// let q = RedisStore::builder("redis://127.0.0.1:6379").build_approvals()?;
/// let now = Timestamp::from_millis(1_700_000_000_000);
/// let t = q.open(
///     TicketRequest::new("process_refund", "C-1", "{}")
///         .reason("approval_required", Intervention::Escalate, "big"),
///     now,
/// )?;
/// let issued = q.approve(t.id(), "ana", "receipt checked", now)?;
/// let first = q.consume(issued.token(), "process_refund", "C-1", "{}", now)?;
/// assert!(matches!(first, TokenCheck::Accepted(_)));
/// # Ok::<(), guard_core::store::StoreError>(())
/// ```
pub struct RedisApprovalQueue {
    store: RedisStore,
    q: QueueCore,
}

impl std::fmt::Debug for RedisApprovalQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisApprovalQueue")
            .field("url", &self.store.redacted_url())
            .field("ticket_ttl", &self.q.ticket_ttl)
            .field("token_ttl", &self.q.token_ttl)
            .finish_non_exhaustive()
    }
}

fn intervention(s: &str) -> Result<Intervention, StoreError> {
    [
        Intervention::Ok,
        Intervention::Nudge,
        Intervention::Flag,
        Intervention::Escalate,
        Intervention::Block,
    ]
    .into_iter()
    .find(|i| i.as_str() == s)
    .ok_or_else(|| garbage("ticket"))
}

fn recommendation(s: &str) -> Result<Recommendation, StoreError> {
    [
        Recommendation::Approve,
        Recommendation::Deny,
        Recommendation::Review,
    ]
    .into_iter()
    .find(|r| r.as_str() == s)
    .ok_or_else(|| garbage("ticket"))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn array(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Array(a) => Some(a),
        _ => None,
    }
}

fn fields(v: &Value) -> Result<HashMap<String, String>, StoreError> {
    let items = array(v).ok_or_else(|| garbage("ticket"))?;
    let mut out = HashMap::new();
    for pair in items.chunks(2) {
        if let [k, v] = pair {
            out.insert(
                text(k).ok_or_else(|| garbage("ticket"))?,
                text(v).ok_or_else(|| garbage("ticket"))?,
            );
        }
    }
    Ok(out)
}

fn body(ticket: &Ticket) -> String {
    json!({
        "agent": ticket.agent(),
        "session": ticket.session_id(),
        "call_id": ticket.call_id(),
        "reasons": ticket.reasons().iter()
            .map(|r| json!([r.code(), r.intervention().as_str(), r.message()]))
            .collect::<Vec<_>>(),
        "trust": ticket.trust(),
        "history": ticket.trust_history().iter()
            .map(|e| json!([e.seq, e.at.as_millis(), e.delta, e.code, e.refunded]))
            .collect::<Vec<_>>(),
        "scans": ticket.scan_summaries(),
        "reasoning": ticket.reasoning(),
        "reasoning_score": ticket.reasoning_score(),
        "penalty": ticket.penalty().map(|p| json!({
            "customer": p.customer, "seq": p.seq, "at": p.at.as_millis(),
            "amount": p.amount, "code": p.code,
        })),
    })
    .to_string()
}

fn stamp_field(f: &HashMap<String, String>, name: &str) -> Result<Timestamp, StoreError> {
    f.get(name)
        .and_then(|s| s.parse::<u64>().ok())
        .map(Timestamp::from_millis)
        .ok_or_else(|| garbage("ticket"))
}

/// A ticket from its stored fields.
fn ticket(id: &str, f: &HashMap<String, String>) -> Result<Ticket, StoreError> {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let b: serde_json::Value = serde_json::from_str(&get("body")).map_err(|_| garbage("ticket"))?;
    let s = |k: &str| b.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let mut req = TicketRequest::new(get("tool"), get("customer"), get("args"))
        .agent(s("agent"))
        .session(s("session"));
    if let Some(c) = b.get("call_id").and_then(|v| v.as_str()) {
        req = req.call_id(c);
    }
    for r in b
        .get("reasons")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let part = |i: usize| r.get(i).and_then(|v| v.as_str()).unwrap_or("");
        req = req.reason(part(0), intervention(part(1))?, part(2));
    }
    let mut history = Vec::new();
    for e in b
        .get("history")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        history.push(TrustEntry {
            seq: e.get(0).and_then(|v| v.as_u64()).unwrap_or(0),
            at: Timestamp::from_millis(e.get(1).and_then(|v| v.as_u64()).unwrap_or(0)),
            delta: e.get(2).and_then(|v| v.as_f64()).unwrap_or(0.0),
            code: e.get(3).and_then(|v| v.as_str()).unwrap_or("").to_owned(),
            refunded: e.get(4).and_then(|v| v.as_bool()).unwrap_or(false),
        });
    }
    req = req.trust(
        b.get("trust").and_then(|v| v.as_f64()).unwrap_or(0.0),
        history,
    );
    for scan in b
        .get("scans")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        req = req.scan_summary(scan.as_str().unwrap_or(""));
    }
    if let Some(text) = b.get("reasoning").and_then(|v| v.as_str()) {
        req = req.reasoning(text, b.get("reasoning_score").and_then(|v| v.as_f64()));
    }
    if let Some(p) = b.get("penalty").filter(|p| !p.is_null()) {
        req = req.penalty(PenaltyReceipt {
            customer: p
                .get("customer")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned(),
            seq: p.get("seq").and_then(|v| v.as_u64()).unwrap_or(0),
            at: Timestamp::from_millis(p.get("at").and_then(|v| v.as_u64()).unwrap_or(0)),
            amount: p.get("amount").and_then(|v| v.as_f64()).unwrap_or(0.0),
            code: p
                .get("code")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned(),
        });
    }
    let rec = recommendation(&get("rec"))?;
    req = req.recommendation(rec);
    let status = match get("status").as_str() {
        "pending" => TicketStatus::Pending,
        "expired" => TicketStatus::Expired,
        "approved" => TicketStatus::Approved {
            by: get("by"),
            why: get("why"),
            at: stamp_field(f, "at")?,
        },
        "denied" => TicketStatus::Denied {
            by: get("by"),
            why: get("why"),
            at: stamp_field(f, "at")?,
        },
        _ => return Err(garbage("ticket")),
    };
    Ok(parts::ticket(
        id.to_owned(),
        req,
        rec,
        stamp_field(f, "created")?,
        stamp_field(f, "expires")?,
        status,
    ))
}

fn audit_entry(line: &str) -> Result<AuditEntry, StoreError> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|_| garbage("audit"))?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let at = s("at")
        .and_then(|a| a.parse::<u64>().ok())
        .map(Timestamp::from_millis)
        .ok_or_else(|| garbage("audit"))?;
    let action = match s("a").as_deref() {
        Some("opened") => AuditAction::Opened,
        Some("approved") => AuditAction::Approved,
        Some("denied") => AuditAction::Denied,
        Some("expired") => AuditAction::Expired,
        Some("consumed") => AuditAction::Consumed,
        Some("refused:unknown_token") => AuditAction::Refused(TokenRefusal::Unknown),
        Some("refused:token_used") => AuditAction::Refused(TokenRefusal::AlreadyUsed),
        Some("refused:token_expired") => AuditAction::Refused(TokenRefusal::Expired),
        Some("refused:token_mismatch") => AuditAction::Refused(TokenRefusal::Mismatch),
        _ => return Err(garbage("audit")),
    };
    Ok(parts::audit(
        at,
        s("t").unwrap_or_default(),
        action,
        s("by"),
        s("why"),
    ))
}

/// Settings and script calls shared by the sync and async queues.
#[derive(Clone)]
pub(crate) struct QueueCore {
    core: Arc<Core>,
    ticket_ttl: Duration,
    token_ttl: Duration,
    max_tickets: usize,
    audit_cap: usize,
}

impl QueueCore {
    fn ticket_prefix(&self) -> String {
        // Ticket ids are `t-<hex>`: no escaping needed after the prefix.
        let key = self.core.ticket_key("");
        key.trim_end_matches('}').to_owned()
    }

    fn open(
        &self,
        request: &TicketRequest,
        now: Timestamp,
    ) -> Result<(String, Recommendation, ScriptInvocation<'_>), StoreError> {
        let core = &self.core;
        let id = format!("t-{}", parts::random_hex(16)?);
        let rec = request.suggested();
        // Built once as a ticket to read it back through the public accessors.
        let draft = parts::ticket(
            id.clone(),
            request.clone(),
            rec,
            now,
            now,
            TicketStatus::Pending,
        );
        let waived: Vec<&str> = draft.waivable().collect();
        let mut inv = core.scripts.approvals.open.prepare_invoke();
        inv.key(core.ticket_key(&id))
            .key(core.queue_key("pending"))
            .key(core.queue_key("audit"))
            .arg(core.now_arg(now))
            .arg(&id)
            .arg(self.ticket_prefix())
            .arg(self.max_tickets)
            .arg(self.audit_cap)
            .arg(ms(self.ticket_ttl))
            .arg(ms(self.token_ttl))
            .arg("body")
            .arg(body(&draft))
            .arg("rec")
            .arg(rec.as_str())
            .arg("tool")
            .arg(draft.tool())
            .arg("customer")
            .arg(draft.customer())
            .arg("args")
            .arg(draft.canonical_args())
            .arg("waived")
            .arg(waived.join("\n"));
        Ok((id, rec, inv))
    }

    fn opened(
        &self,
        id: String,
        request: TicketRequest,
        rec: Recommendation,
        reply: &Value,
    ) -> Result<Ticket, StoreError> {
        let items = array(reply).ok_or_else(|| garbage("open"))?;
        match items.first().and_then(text).as_deref() {
            Some("ok") => {}
            Some("full") => {
                return Err(StoreError::QueueFull {
                    limit: self.max_tickets,
                })
            }
            _ => return Err(garbage("open")),
        }
        let at = |i: usize| {
            items
                .get(i)
                .and_then(text)
                .and_then(|s| s.parse::<u64>().ok())
                .map(Timestamp::from_millis)
                .ok_or_else(|| garbage("open"))
        };
        Ok(parts::ticket(
            id,
            request,
            rec,
            at(1)?,
            at(2)?,
            TicketStatus::Pending,
        ))
    }

    fn get(&self, id: &str, now: Timestamp) -> ScriptInvocation<'_> {
        let core = &self.core;
        let mut inv = core.scripts.approvals.get.prepare_invoke();
        inv.key(core.ticket_key(id))
            .key(core.queue_key("pending"))
            .key(core.queue_key("audit"))
            .arg(core.now_arg(now))
            .arg(id)
            .arg(self.audit_cap);
        inv
    }

    fn got(id: &str, reply: &Value) -> Result<Option<Ticket>, StoreError> {
        let f = fields(reply)?;
        if f.is_empty() {
            return Ok(None);
        }
        ticket(id, &f).map(Some)
    }

    fn sweep(&self, now: Timestamp, what: &str) -> ScriptInvocation<'_> {
        let core = &self.core;
        let mut inv = core.scripts.approvals.pending.prepare_invoke();
        inv.key(core.queue_key("pending"))
            .key(core.queue_key("audit"))
            .arg(core.now_arg(now))
            .arg(self.ticket_prefix())
            .arg(self.audit_cap)
            .arg(what);
        inv
    }

    fn listed(reply: &Value) -> Result<Vec<Ticket>, StoreError> {
        let items = array(reply).ok_or_else(|| garbage("pending"))?;
        let mut out = Vec::new();
        for pair in items.chunks(2) {
            if let [id, f] = pair {
                let id = text(id).ok_or_else(|| garbage("pending"))?;
                let f = fields(f)?;
                if !f.is_empty() {
                    out.push(ticket(&id, &f)?);
                }
            }
        }
        out.sort_by(|a, b| {
            a.created()
                .cmp(&b.created())
                .then_with(|| a.id().cmp(b.id()))
        });
        Ok(out)
    }

    fn counted(reply: &Value) -> Result<usize, StoreError> {
        match reply {
            Value::Int(n) => Ok(usize::try_from(*n).unwrap_or(0)),
            _ => Err(garbage("expire")),
        }
    }

    /// Approve (with a token) or deny.
    fn answer(
        &self,
        id: &str,
        token: Option<&str>,
        by: &str,
        why: &str,
        now: Timestamp,
    ) -> ScriptInvocation<'_> {
        let core = &self.core;
        let mut inv = core.scripts.approvals.answer.prepare_invoke();
        inv.key(core.ticket_key(id))
            .key(core.token_key(token.unwrap_or("")))
            .key(core.queue_key("pending"))
            .key(core.queue_key("audit"))
            .arg(core.now_arg(now))
            .arg(id)
            .arg(if token.is_some() { "approve" } else { "deny" })
            .arg(by)
            .arg(why)
            .arg(ms(self.token_ttl))
            .arg(ms(self.token_ttl))
            .arg(self.audit_cap);
        inv
    }

    fn answered(
        id: &str,
        now: Timestamp,
        reply: &Value,
    ) -> Result<(Timestamp, Ticket), StoreError> {
        let items = array(reply).ok_or_else(|| garbage("answer"))?;
        match items.first().and_then(text).as_deref() {
            Some("ok") => {}
            Some("unknown") => return Err(StoreError::UnknownTicket(id.to_owned())),
            Some("expired") => return Err(StoreError::TicketExpired(id.to_owned())),
            Some("closed") => {
                let state = match items.get(1).and_then(text).as_deref() {
                    Some("approved") => "approved",
                    Some("denied") => "denied",
                    _ => "expired",
                };
                return Err(StoreError::TicketClosed {
                    id: id.to_owned(),
                    state,
                });
            }
            _ => return Err(garbage("answer")),
        }
        let expires = items
            .get(1)
            .and_then(text)
            .and_then(|s| s.parse::<u64>().ok())
            .map(Timestamp::from_millis)
            .unwrap_or(now);
        let f = fields(items.get(2).ok_or_else(|| garbage("answer"))?)?;
        Ok((expires, ticket(id, &f)?))
    }

    fn consume(
        &self,
        token: &str,
        tool: &str,
        customer: &str,
        canonical_args: &str,
        now: Timestamp,
    ) -> ScriptInvocation<'_> {
        let core = &self.core;
        let mut inv = core.scripts.approvals.consume.prepare_invoke();
        inv.key(core.token_key(token))
            .key(core.queue_key("audit"))
            .arg(core.now_arg(now))
            .arg(tool)
            .arg(customer)
            .arg(canonical_args)
            .arg(self.audit_cap);
        inv
    }

    fn consumed(reply: &Value) -> Result<TokenCheck, StoreError> {
        let items = array(reply).ok_or_else(|| garbage("consume"))?;
        let refused = |r| Ok(TokenCheck::Refused(r));
        match items.first().and_then(text).as_deref() {
            Some("ok") => {
                let ticket = items.get(1).and_then(text).unwrap_or_default();
                let waived = items.get(2).and_then(text).unwrap_or_default();
                let waived = waived
                    .split('\n')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                Ok(TokenCheck::Accepted(parts::waiver(ticket, waived)))
            }
            Some("unknown") => refused(TokenRefusal::Unknown),
            Some("used") => refused(TokenRefusal::AlreadyUsed),
            Some("expired") => refused(TokenRefusal::Expired),
            Some("mismatch") => refused(TokenRefusal::Mismatch),
            _ => Err(garbage("consume")),
        }
    }

    fn drain(&self) -> ScriptInvocation<'_> {
        let mut inv = self.core.scripts.approvals.drain.prepare_invoke();
        inv.key(self.core.queue_key("audit"));
        inv
    }

    fn drained(reply: &Value) -> Result<Vec<AuditEntry>, StoreError> {
        array(reply)
            .ok_or_else(|| garbage("audit"))?
            .iter()
            .map(|v| audit_entry(&text(v).ok_or_else(|| garbage("audit"))?))
            .collect()
    }
}

impl RedisApprovalQueue {
    pub(crate) fn new(store: RedisStore, ticket_ttl: Duration, token_ttl: Duration) -> Self {
        Self {
            q: QueueCore {
                core: store.core_arc(),
                ticket_ttl,
                token_ttl,
                max_tickets: 100_000,
                audit_cap: 100_000,
            },
            store,
        }
    }

    /// Caps the pending tickets (default 100 000); past it, opening fails closed.
    pub fn max_tickets(mut self, n: usize) -> Self {
        self.q.max_tickets = n;
        self
    }

    // Not retried: a lost reply after a state change must not apply it twice.
    fn run(&self, what: &str, inv: &ScriptInvocation<'_>) -> Result<Value, StoreError> {
        self.store.pool().run(what, false, |c| inv.invoke(c))
    }
}

impl ApprovalQueue for RedisApprovalQueue {
    fn open(&self, request: TicketRequest, now: Timestamp) -> Result<Ticket, StoreError> {
        let (id, rec, inv) = self.q.open(&request, now)?;
        let reply = self.run("open ticket", &inv)?;
        self.q.opened(id, request, rec, &reply)
    }

    fn ticket(&self, id: &str, now: Timestamp) -> Result<Option<Ticket>, StoreError> {
        let reply = self.run("ticket", &self.q.get(id, now))?;
        QueueCore::got(id, &reply)
    }

    fn pending(&self, now: Timestamp) -> Result<Vec<Ticket>, StoreError> {
        let reply = self.run("pending tickets", &self.q.sweep(now, "list"))?;
        QueueCore::listed(&reply)
    }

    fn approve(&self, id: &str, by: &str, why: &str, now: Timestamp) -> Result<Issued, StoreError> {
        let token = parts::random_hex(32)?;
        let reply = self.run(
            "approve ticket",
            &self.q.answer(id, Some(&token), by, why, now),
        )?;
        let (expires, t) = QueueCore::answered(id, now, &reply)?;
        Ok(parts::issued(token, expires, t))
    }

    fn deny(&self, id: &str, by: &str, why: &str, now: Timestamp) -> Result<Ticket, StoreError> {
        let reply = self.run("deny ticket", &self.q.answer(id, None, by, why, now))?;
        QueueCore::answered(id, now, &reply).map(|(_, t)| t)
    }

    fn consume(
        &self,
        token: &str,
        tool: &str,
        customer: &str,
        canonical_args: &str,
        now: Timestamp,
    ) -> Result<TokenCheck, StoreError> {
        let inv = self.q.consume(token, tool, customer, canonical_args, now);
        let reply = self.run("consume token", &inv)?;
        QueueCore::consumed(&reply)
    }

    fn expire(&self, now: Timestamp) -> Result<usize, StoreError> {
        let reply = self.run("expire tickets", &self.q.sweep(now, "count"))?;
        QueueCore::counted(&reply)
    }

    fn drain_audit(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let reply = self.run("drain audit", &self.q.drain())?;
        QueueCore::drained(&reply)
    }
}

/// The async twin of [`RedisApprovalQueue`] (tokio), over the async store's connection
/// manager: the same scripts, the same keys, so sync and async instances share one queue.
#[derive(Clone)]
pub struct AsyncRedisApprovalQueue {
    store: AsyncRedisStore,
    q: QueueCore,
}

impl std::fmt::Debug for AsyncRedisApprovalQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncRedisApprovalQueue")
            .field("store", &self.store)
            .field("ticket_ttl", &self.q.ticket_ttl)
            .field("token_ttl", &self.q.token_ttl)
            .finish_non_exhaustive()
    }
}

impl AsyncRedisApprovalQueue {
    pub(crate) fn new(store: AsyncRedisStore, ticket_ttl: Duration, token_ttl: Duration) -> Self {
        Self {
            q: QueueCore {
                core: store.core_arc(),
                ticket_ttl,
                token_ttl,
                max_tickets: 100_000,
                audit_cap: 100_000,
            },
            store,
        }
    }

    /// Caps the pending tickets (default 100 000).
    pub fn max_tickets(mut self, n: usize) -> Self {
        self.q.max_tickets = n;
        self
    }

    async fn run(&self, what: &str, inv: ScriptInvocation<'_>) -> Result<Value, StoreError> {
        self.store
            .run(
                what,
                |mut con| async move { inv.invoke_async(&mut con).await },
            )
            .await
    }
}

impl AsyncApprovalQueue for AsyncRedisApprovalQueue {
    async fn open(&self, request: TicketRequest, now: Timestamp) -> Result<Ticket, StoreError> {
        let (id, rec, inv) = self.q.open(&request, now)?;
        let reply = self.run("open ticket", inv).await?;
        self.q.opened(id, request, rec, &reply)
    }

    fn ticket(
        &self,
        id: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<Ticket>, StoreError>> + Send {
        let inv = self.q.get(id, now);
        let id = id.to_owned();
        async move {
            let reply = self.run("ticket", inv).await?;
            QueueCore::got(&id, &reply)
        }
    }

    fn pending(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<Ticket>, StoreError>> + Send {
        let inv = self.q.sweep(now, "list");
        async move { QueueCore::listed(&self.run("pending tickets", inv).await?) }
    }

    fn approve(
        &self,
        id: &str,
        by: &str,
        why: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Issued, StoreError>> + Send {
        let token = parts::random_hex(32);
        let prepared = token
            .as_ref()
            .map(|t| self.q.answer(id, Some(t), by, why, now))
            .map_err(Clone::clone);
        let id = id.to_owned();
        async move {
            let token = token?;
            let reply = self.run("approve ticket", prepared?).await?;
            let (expires, t) = QueueCore::answered(&id, now, &reply)?;
            Ok(parts::issued(token, expires, t))
        }
    }

    fn deny(
        &self,
        id: &str,
        by: &str,
        why: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Ticket, StoreError>> + Send {
        let inv = self.q.answer(id, None, by, why, now);
        let id = id.to_owned();
        async move {
            let reply = self.run("deny ticket", inv).await?;
            QueueCore::answered(&id, now, &reply).map(|(_, t)| t)
        }
    }

    fn consume(
        &self,
        token: &str,
        tool: &str,
        customer: &str,
        canonical_args: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<TokenCheck, StoreError>> + Send {
        let inv = self.q.consume(token, tool, customer, canonical_args, now);
        async move { QueueCore::consumed(&self.run("consume token", inv).await?) }
    }

    fn expire(&self, now: Timestamp) -> impl Future<Output = Result<usize, StoreError>> + Send {
        let inv = self.q.sweep(now, "count");
        async move { QueueCore::counted(&self.run("expire tickets", inv).await?) }
    }

    fn drain_audit(&self) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send {
        let inv = self.q.drain();
        async move { QueueCore::drained(&self.run("drain audit", inv).await?) }
    }
}
