//! The approval queue: an ESCALATEd call becomes a ticket; a reviewer approves (a single-use
//! token bound to the exact call) or denies it; approve, deny, expiry and token use are audited.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;

use crate::check::Intervention;
use crate::policy::ApprovalPolicy;

use super::clock::Timestamp;
use super::trust::{PenaltyReceipt, TrustEntry};
use super::StoreError;

/// What the queue suggests to the reviewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recommendation {
    /// Nothing but a routine threshold fired and the customer is trusted.
    Approve,
    /// Signs of abuse: low trust or reasoning that does not hold up.
    Deny,
    /// Look closer.
    Review,
}

impl Recommendation {
    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::Review => "review",
        }
    }

    /// The default suggestion: deny when a reason blocks, trust is under 0.5 or the
    /// reasoning scores under 0.3; approve when only `approval_required` fired, trust is at
    /// least 0.9 and the reasoning (if any) scores at least 0.7; otherwise review.
    pub fn suggest(reasons: &[TicketReason], trust: f64, reasoning_score: Option<f64>) -> Self {
        let blocks = reasons
            .iter()
            .any(|r| r.intervention >= Intervention::Block);
        if blocks || trust < 0.5 || reasoning_score.is_some_and(|s| s < 0.3) {
            return Self::Deny;
        }
        let routine = reasons
            .iter()
            .filter(|r| r.intervention == Intervention::Escalate)
            .all(|r| r.code == "approval_required");
        if routine && trust >= 0.9 && reasoning_score.is_none_or(|s| s >= 0.7) {
            Self::Approve
        } else {
            Self::Review
        }
    }
}

impl fmt::Display for Recommendation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason of the escalated decision, as the reviewer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketReason {
    code: String,
    intervention: Intervention,
    message: String,
}

impl TicketReason {
    /// A reason: code, intervention, operator message.
    pub fn new(
        code: impl Into<String>,
        intervention: Intervention,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code: code.into(),
            intervention,
            message: message.into(),
        }
    }
    /// The code.
    pub fn code(&self) -> &str {
        &self.code
    }
    /// The intervention.
    pub fn intervention(&self) -> Intervention {
        self.intervention
    }
    /// The operator message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Everything a reviewer needs about an escalated call. Built with setters; only the tool,
/// customer and canonical arguments are required.
///
/// ```
/// use guard_core::Intervention;
/// use guard_core::store::{Recommendation, TicketRequest};
/// let req = TicketRequest::new("process_refund", "C-1", r#"{"amount":{"currency":"USD","minor":60000}}"#)
///     .agent("bot")
///     .reason("approval_required", Intervention::Escalate, "refund of 600.00 USD is above 500.00 USD")
///     .trust(0.95, Vec::new());
/// assert_eq!(req.suggested(), Recommendation::Approve);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRequest {
    tool: String,
    customer: String,
    canonical_args: String,
    agent: String,
    session_id: String,
    call_id: Option<String>,
    reasons: Vec<TicketReason>,
    trust: f64,
    trust_history: Vec<TrustEntry>,
    scan_summaries: Vec<String>,
    reasoning: Option<String>,
    reasoning_score: Option<f64>,
    recommendation: Option<Recommendation>,
    penalty: Option<PenaltyReceipt>,
}

impl TicketRequest {
    /// A ticket for `tool` called for `customer` with these canonical arguments (see
    /// [`super::canonical_args`]).
    pub fn new(
        tool: impl Into<String>,
        customer: impl Into<String>,
        canonical_args: impl Into<String>,
    ) -> Self {
        Self {
            tool: tool.into(),
            customer: customer.into(),
            canonical_args: canonical_args.into(),
            agent: String::new(),
            session_id: String::new(),
            call_id: None,
            reasons: Vec::new(),
            trust: 1.0,
            trust_history: Vec::new(),
            scan_summaries: Vec::new(),
            reasoning: None,
            reasoning_score: None,
            recommendation: None,
            penalty: None,
        }
    }
    /// The calling agent.
    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = agent.into();
        self
    }
    /// The session.
    pub fn session(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = session_id.into();
        self
    }
    /// The call id.
    pub fn call_id(mut self, id: impl Into<String>) -> Self {
        self.call_id = Some(id.into());
        self
    }
    /// Adds a reason of the decision (all of them, not only the ESCALATE ones).
    pub fn reason(
        mut self,
        code: impl Into<String>,
        intervention: Intervention,
        message: impl Into<String>,
    ) -> Self {
        self.reasons
            .push(TicketReason::new(code, intervention, message));
        self
    }
    /// The customer's trust and its recent history.
    pub fn trust(mut self, trust: f64, history: Vec<TrustEntry>) -> Self {
        self.trust = trust;
        self.trust_history = history;
        self
    }
    /// A summary of a recent scan verdict in the session (`"blocked 0.92: role_override"`).
    pub fn scan_summary(mut self, summary: impl Into<String>) -> Self {
        self.scan_summaries.push(summary.into());
        self
    }
    /// The agent's reasoning and its quality score.
    pub fn reasoning(mut self, text: impl Into<String>, score: Option<f64>) -> Self {
        self.reasoning = Some(text.into());
        self.reasoning_score = score;
        self
    }
    /// Overrides the suggested recommendation.
    pub fn recommendation(mut self, r: Recommendation) -> Self {
        self.recommendation = Some(r);
        self
    }
    /// The trust penalty this escalation applied: handed back if a reviewer approves.
    pub fn penalty(mut self, receipt: PenaltyReceipt) -> Self {
        self.penalty = Some(receipt);
        self
    }
    /// The recommendation the ticket will carry.
    pub fn suggested(&self) -> Recommendation {
        self.recommendation.unwrap_or_else(|| {
            Recommendation::suggest(&self.reasons, self.trust, self.reasoning_score)
        })
    }
}

/// Where a ticket stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketStatus {
    /// Waiting for a reviewer.
    Pending,
    /// Approved: a token was issued.
    Approved {
        /// Reviewer.
        by: String,
        /// Their reason.
        why: String,
        /// When.
        at: Timestamp,
    },
    /// Denied.
    Denied {
        /// Reviewer.
        by: String,
        /// Their reason.
        why: String,
        /// When.
        at: Timestamp,
    },
    /// Nobody answered within the ticket TTL.
    Expired,
}

impl TicketStatus {
    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved { .. } => "approved",
            Self::Denied { .. } => "denied",
            Self::Expired => "expired",
        }
    }
}

/// A ticket in the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    id: String,
    request: TicketRequest,
    recommendation: Recommendation,
    created: Timestamp,
    expires: Timestamp,
    status: TicketStatus,
}

impl Ticket {
    /// The ticket id (random, unguessable).
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The tool.
    pub fn tool(&self) -> &str {
        &self.request.tool
    }
    /// The customer.
    pub fn customer(&self) -> &str {
        &self.request.customer
    }
    /// The canonical arguments the token will be bound to.
    pub fn canonical_args(&self) -> &str {
        &self.request.canonical_args
    }
    /// The agent.
    pub fn agent(&self) -> &str {
        &self.request.agent
    }
    /// The session.
    pub fn session_id(&self) -> &str {
        &self.request.session_id
    }
    /// The call id, if the call had one.
    pub fn call_id(&self) -> Option<&str> {
        self.request.call_id.as_deref()
    }
    /// Every reason of the decision.
    pub fn reasons(&self) -> &[TicketReason] {
        &self.request.reasons
    }
    /// The codes an approval waives: the decision's ESCALATE reasons.
    pub fn waivable(&self) -> impl Iterator<Item = &str> {
        self.request
            .reasons
            .iter()
            .filter(|r| r.intervention == Intervention::Escalate)
            .map(|r| r.code.as_str())
    }
    /// Trust at escalation.
    pub fn trust(&self) -> f64 {
        self.request.trust
    }
    /// Trust history at escalation.
    pub fn trust_history(&self) -> &[TrustEntry] {
        &self.request.trust_history
    }
    /// Recent scan verdicts, summarised.
    pub fn scan_summaries(&self) -> &[String] {
        &self.request.scan_summaries
    }
    /// The agent's reasoning.
    pub fn reasoning(&self) -> Option<&str> {
        self.request.reasoning.as_deref()
    }
    /// The reasoning's quality score.
    pub fn reasoning_score(&self) -> Option<f64> {
        self.request.reasoning_score
    }
    /// The recommended action.
    pub fn recommendation(&self) -> Recommendation {
        self.recommendation
    }
    /// The penalty to hand back on approval.
    pub fn penalty(&self) -> Option<&PenaltyReceipt> {
        self.request.penalty.as_ref()
    }
    /// Created at.
    pub fn created(&self) -> Timestamp {
        self.created
    }
    /// Expires at, if still pending then.
    pub fn expires(&self) -> Timestamp {
        self.expires
    }
    /// Status.
    pub fn status(&self) -> &TicketStatus {
        &self.status
    }
}

/// An approval: the token to present with the call, and the ticket it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Issued {
    token: String,
    expires: Timestamp,
    ticket: Ticket,
}

impl Issued {
    /// The single-use token (64 hex digits, 256 bits from the OS CSPRNG).
    pub fn token(&self) -> &str {
        &self.token
    }
    /// The token is refused from this time on.
    pub fn expires(&self) -> Timestamp {
        self.expires
    }
    /// The approved ticket (its [`Ticket::penalty`] is to be refunded).
    pub fn ticket(&self) -> &Ticket {
        &self.ticket
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenRefusal {
    /// Never issued, or forgotten long ago.
    Unknown,
    /// Already used once.
    AlreadyUsed,
    /// Past its TTL.
    Expired,
    /// Issued for another tool, customer or arguments.
    Mismatch,
}

impl TokenRefusal {
    /// Lower-case code.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Unknown => "unknown_token",
            Self::AlreadyUsed => "token_used",
            Self::Expired => "token_expired",
            Self::Mismatch => "token_mismatch",
        }
    }
}

/// What an accepted token waives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    ticket: String,
    waived: Vec<String>,
}

impl Waiver {
    /// The ticket it came from.
    pub fn ticket(&self) -> &str {
        &self.ticket
    }
    /// The ESCALATE codes recorded on the ticket: only these are waived.
    pub fn waived(&self) -> &[String] {
        &self.waived
    }
}

/// The answer to presenting a token: a value, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// Valid and now used up.
    Accepted(Waiver),
    /// Refused, and why.
    Refused(TokenRefusal),
}

/// What happened to a ticket or token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A ticket was opened.
    Opened,
    /// A reviewer approved.
    Approved,
    /// A reviewer denied.
    Denied,
    /// The ticket expired unanswered.
    Expired,
    /// The token was used.
    Consumed,
    /// A token was refused.
    Refused(TokenRefusal),
}

/// One audit event of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    at: Timestamp,
    ticket: String,
    action: AuditAction,
    by: Option<String>,
    why: Option<String>,
}

impl AuditEntry {
    /// When.
    pub fn at(&self) -> Timestamp {
        self.at
    }
    /// The ticket (empty for a refused unknown token).
    pub fn ticket(&self) -> &str {
        &self.ticket
    }
    /// What.
    pub fn action(&self) -> AuditAction {
        self.action
    }
    /// Who, for approve and deny.
    pub fn by(&self) -> Option<&str> {
        self.by.as_deref()
    }
    /// Why, for approve and deny.
    pub fn why(&self) -> Option<&str> {
        self.why.as_deref()
    }
}

/// Tickets for escalated calls and their approval tokens.
pub trait ApprovalQueue: Send + Sync + fmt::Debug {
    /// Opens a ticket; it expires after the queue's ticket TTL.
    fn open(&self, request: TicketRequest, now: Timestamp) -> Result<Ticket, StoreError>;
    /// A ticket by id (its status brought up to `now`).
    fn ticket(&self, id: &str, now: Timestamp) -> Result<Option<Ticket>, StoreError>;
    /// Tickets still waiting, oldest first.
    fn pending(&self, now: Timestamp) -> Result<Vec<Ticket>, StoreError>;
    /// Approves a pending ticket: a single-use token bound to its tool, customer and canonical
    /// arguments, valid for the token TTL.
    fn approve(&self, id: &str, by: &str, why: &str, now: Timestamp) -> Result<Issued, StoreError>;
    /// Denies a pending ticket.
    fn deny(&self, id: &str, by: &str, why: &str, now: Timestamp) -> Result<Ticket, StoreError>;
    /// Uses a token for a call; succeeds at most once per token.
    fn consume(
        &self,
        token: &str,
        tool: &str,
        customer: &str,
        canonical_args: &str,
        now: Timestamp,
    ) -> Result<TokenCheck, StoreError>;
    /// Expires stale tickets and tokens; returns how many tickets expired.
    fn expire(&self, now: Timestamp) -> Result<usize, StoreError>;
    /// Takes the audit events recorded so far, oldest first.
    fn drain_audit(&self) -> Result<Vec<AuditEntry>, StoreError>;
}

impl<Q: ApprovalQueue + ?Sized> ApprovalQueue for std::sync::Arc<Q> {
    fn open(&self, request: TicketRequest, now: Timestamp) -> Result<Ticket, StoreError> {
        (**self).open(request, now)
    }
    fn ticket(&self, id: &str, now: Timestamp) -> Result<Option<Ticket>, StoreError> {
        (**self).ticket(id, now)
    }
    fn pending(&self, now: Timestamp) -> Result<Vec<Ticket>, StoreError> {
        (**self).pending(now)
    }
    fn approve(&self, id: &str, by: &str, why: &str, now: Timestamp) -> Result<Issued, StoreError> {
        (**self).approve(id, by, why, now)
    }
    fn deny(&self, id: &str, by: &str, why: &str, now: Timestamp) -> Result<Ticket, StoreError> {
        (**self).deny(id, by, why, now)
    }
    fn consume(
        &self,
        token: &str,
        tool: &str,
        customer: &str,
        canonical_args: &str,
        now: Timestamp,
    ) -> Result<TokenCheck, StoreError> {
        (**self).consume(token, tool, customer, canonical_args, now)
    }
    fn expire(&self, now: Timestamp) -> Result<usize, StoreError> {
        (**self).expire(now)
    }
    fn drain_audit(&self) -> Result<Vec<AuditEntry>, StoreError> {
        (**self).drain_audit()
    }
}

/// Hex of `n` bytes from the operating system's CSPRNG.
fn random_hex(n: usize) -> Result<String, StoreError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Random(e.to_string()))?;
    let mut out = String::with_capacity(2 * n);
    for b in buf {
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b & 0x0f));
    }
    Ok(out)
}

fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16).unwrap_or('0')
}

/// Constructors for queues kept outside this file: the Redis queue (feature `redis`) rebuilds
/// tickets, tokens and audit events from what it stored.
#[cfg(feature = "redis")]
pub(crate) mod parts {
    use super::{
        AuditAction, AuditEntry, Issued, Recommendation, StoreError, Ticket, TicketRequest,
        TicketStatus, Timestamp, Waiver,
    };

    pub(crate) fn ticket(
        id: String,
        request: TicketRequest,
        recommendation: Recommendation,
        created: Timestamp,
        expires: Timestamp,
        status: TicketStatus,
    ) -> Ticket {
        Ticket {
            id,
            request,
            recommendation,
            created,
            expires,
            status,
        }
    }

    pub(crate) fn issued(token: String, expires: Timestamp, ticket: Ticket) -> Issued {
        Issued {
            token,
            expires,
            ticket,
        }
    }

    pub(crate) fn waiver(ticket: String, waived: Vec<String>) -> Waiver {
        Waiver { ticket, waived }
    }

    pub(crate) fn audit(
        at: Timestamp,
        ticket: String,
        action: AuditAction,
        by: Option<String>,
        why: Option<String>,
    ) -> AuditEntry {
        AuditEntry {
            at,
            ticket,
            action,
            by,
            why,
        }
    }

    pub(crate) fn random_hex(n: usize) -> Result<String, StoreError> {
        super::random_hex(n)
    }
}

#[derive(Debug)]
struct TokenState {
    ticket: String,
    tool: String,
    customer: String,
    canonical_args: String,
    waived: Vec<String>,
    expires: Timestamp,
    used: bool,
}

#[derive(Debug, Default)]
struct QueueState {
    tickets: HashMap<String, Ticket>,
    tokens: HashMap<String, TokenState>,
    audit: Vec<AuditEntry>,
    audit_dropped: u64,
}

impl QueueState {
    fn audit(
        &mut self,
        cap: usize,
        at: Timestamp,
        ticket: &str,
        action: AuditAction,
        by: Option<&str>,
        why: Option<&str>,
    ) {
        if self.audit.len() >= cap {
            // Nobody drains: keep the newest, count the loss rather than grow without bound.
            self.audit.remove(0);
            self.audit_dropped = self.audit_dropped.saturating_add(1);
        }
        self.audit.push(AuditEntry {
            at,
            ticket: ticket.to_owned(),
            action,
            by: by.map(str::to_owned),
            why: why.map(str::to_owned),
        });
    }

    /// Marks pending tickets past their TTL expired (audited once) and forgets closed tickets
    /// and tokens nobody can use any more.
    fn sweep(&mut self, now: Timestamp, keep_closed: Duration, cap: usize) -> usize {
        let mut expired = Vec::new();
        for t in self.tickets.values_mut() {
            if t.status == TicketStatus::Pending && now >= t.expires {
                t.status = TicketStatus::Expired;
                expired.push(t.id.clone());
            }
        }
        for id in &expired {
            self.audit(cap, now, id, AuditAction::Expired, None, None);
        }
        self.tickets.retain(|_, t| {
            t.status == TicketStatus::Pending || now < t.expires.saturating_add(keep_closed)
        });
        self.tokens.retain(|_, tok| now < tok.expires);
        expired.len()
    }

    fn refresh(&mut self, id: &str, now: Timestamp, cap: usize) {
        let expired = match self.tickets.get_mut(id) {
            Some(t) if t.status == TicketStatus::Pending && now >= t.expires => {
                t.status = TicketStatus::Expired;
                true
            }
            _ => false,
        };
        if expired {
            self.audit(cap, now, id, AuditAction::Expired, None, None);
        }
    }
}

/// The in-memory [`ApprovalQueue`]: one lock, since tickets arrive at human pace.
///
/// ```
/// use guard_core::Intervention;
/// use guard_core::store::{ApprovalQueue, MemoryApprovalQueue, TicketRequest, Timestamp, TokenCheck};
/// use std::time::Duration;
/// let q = MemoryApprovalQueue::new(Duration::from_secs(86_400), Duration::from_secs(3600));
/// let now = Timestamp::from_millis(0);
/// let t = q.open(
///     TicketRequest::new("process_refund", "C-1", "{}").reason("approval_required", Intervention::Escalate, "big"),
///     now,
/// )?;
/// let issued = q.approve(t.id(), "ana", "receipt checked", now)?;
/// let first = q.consume(issued.token(), "process_refund", "C-1", "{}", now)?;
/// assert!(matches!(first, TokenCheck::Accepted(w) if w.waived() == ["approval_required"]));
/// assert!(matches!(q.consume(issued.token(), "process_refund", "C-1", "{}", now)?, TokenCheck::Refused(_)));
/// # Ok::<(), guard_core::store::StoreError>(())
/// ```
pub struct MemoryApprovalQueue {
    state: Mutex<QueueState>,
    ticket_ttl: Duration,
    token_ttl: Duration,
    max_tickets: usize,
    audit_cap: usize,
}

impl fmt::Debug for MemoryApprovalQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryApprovalQueue")
            .field("ticket_ttl", &self.ticket_ttl)
            .field("token_ttl", &self.token_ttl)
            .finish_non_exhaustive()
    }
}

impl MemoryApprovalQueue {
    /// A queue whose tickets expire after `ticket_ttl` and tokens after `token_ttl`.
    pub fn new(ticket_ttl: Duration, token_ttl: Duration) -> Self {
        Self {
            state: Mutex::new(QueueState::default()),
            ticket_ttl,
            token_ttl,
            max_tickets: 100_000,
            audit_cap: 100_000,
        }
    }

    /// A queue with the blueprint's `approvals` TTLs.
    pub fn from_policy(policy: &ApprovalPolicy) -> Self {
        Self::new(policy.ticket_ttl(), policy.token_ttl())
    }

    /// Caps the tickets held (default 100 000); past it, opening fails closed.
    pub fn max_tickets(mut self, n: usize) -> Self {
        self.max_tickets = n;
        self
    }

    /// Audit events dropped because nobody drained them.
    pub fn audit_dropped(&self) -> u64 {
        self.state.lock().audit_dropped
    }

    fn keep_closed(&self) -> Duration {
        self.token_ttl
    }

    fn answer(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<parking_lot::MutexGuard<'_, QueueState>, StoreError> {
        let mut st = self.state.lock();
        st.refresh(id, now, self.audit_cap);
        match st.tickets.get(id).map(|t| &t.status) {
            None => Err(StoreError::UnknownTicket(id.to_owned())),
            Some(TicketStatus::Expired) => Err(StoreError::TicketExpired(id.to_owned())),
            Some(s @ (TicketStatus::Approved { .. } | TicketStatus::Denied { .. })) => {
                Err(StoreError::TicketClosed {
                    id: id.to_owned(),
                    state: s.as_str(),
                })
            }
            Some(TicketStatus::Pending) => Ok(st),
        }
    }
}

impl ApprovalQueue for MemoryApprovalQueue {
    fn open(&self, request: TicketRequest, now: Timestamp) -> Result<Ticket, StoreError> {
        let id = format!("t-{}", random_hex(16)?);
        let mut st = self.state.lock();
        if st.tickets.len() >= self.max_tickets {
            st.sweep(now, self.keep_closed(), self.audit_cap);
            if st.tickets.len() >= self.max_tickets {
                return Err(StoreError::QueueFull {
                    limit: self.max_tickets,
                });
            }
        }
        let ticket = Ticket {
            id: id.clone(),
            recommendation: request.suggested(),
            request,
            created: now,
            expires: now.saturating_add(self.ticket_ttl),
            status: TicketStatus::Pending,
        };
        st.tickets.insert(id.clone(), ticket.clone());
        st.audit(self.audit_cap, now, &id, AuditAction::Opened, None, None);
        Ok(ticket)
    }

    fn ticket(&self, id: &str, now: Timestamp) -> Result<Option<Ticket>, StoreError> {
        let mut st = self.state.lock();
        st.refresh(id, now, self.audit_cap);
        Ok(st.tickets.get(id).cloned())
    }

    fn pending(&self, now: Timestamp) -> Result<Vec<Ticket>, StoreError> {
        let mut st = self.state.lock();
        st.sweep(now, self.keep_closed(), self.audit_cap);
        let mut out: Vec<Ticket> = st
            .tickets
            .values()
            .filter(|t| t.status == TicketStatus::Pending)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    fn approve(&self, id: &str, by: &str, why: &str, now: Timestamp) -> Result<Issued, StoreError> {
        let token = random_hex(32)?;
        let mut st = self.answer(id, now)?;
        let expires = now.saturating_add(self.token_ttl);
        let ticket = {
            let t = st
                .tickets
                .get_mut(id)
                .ok_or_else(|| StoreError::UnknownTicket(id.to_owned()))?;
            t.status = TicketStatus::Approved {
                by: by.to_owned(),
                why: why.to_owned(),
                at: now,
            };
            // Closed tickets are kept while their token may be used, for the audit trail.
            t.expires = t.expires.max(now);
            t.clone()
        };
        st.tokens.insert(
            token.clone(),
            TokenState {
                ticket: id.to_owned(),
                tool: ticket.request.tool.clone(),
                customer: ticket.request.customer.clone(),
                canonical_args: ticket.request.canonical_args.clone(),
                waived: ticket.waivable().map(str::to_owned).collect(),
                expires,
                used: false,
            },
        );
        st.audit(
            self.audit_cap,
            now,
            id,
            AuditAction::Approved,
            Some(by),
            Some(why),
        );
        Ok(Issued {
            token,
            expires,
            ticket,
        })
    }

    fn deny(&self, id: &str, by: &str, why: &str, now: Timestamp) -> Result<Ticket, StoreError> {
        let mut st = self.answer(id, now)?;
        let ticket = {
            let t = st
                .tickets
                .get_mut(id)
                .ok_or_else(|| StoreError::UnknownTicket(id.to_owned()))?;
            t.status = TicketStatus::Denied {
                by: by.to_owned(),
                why: why.to_owned(),
                at: now,
            };
            t.expires = t.expires.max(now);
            t.clone()
        };
        st.audit(
            self.audit_cap,
            now,
            id,
            AuditAction::Denied,
            Some(by),
            Some(why),
        );
        Ok(ticket)
    }

    fn consume(
        &self,
        token: &str,
        tool: &str,
        customer: &str,
        canonical_args: &str,
        now: Timestamp,
    ) -> Result<TokenCheck, StoreError> {
        let mut st = self.state.lock();
        let (ticket, outcome) = match st.tokens.get_mut(token) {
            None => (String::new(), Err(TokenRefusal::Unknown)),
            Some(tok) if tok.used => (tok.ticket.clone(), Err(TokenRefusal::AlreadyUsed)),
            Some(tok) if now >= tok.expires => (tok.ticket.clone(), Err(TokenRefusal::Expired)),
            // A mismatch does not burn the token: the approved call itself may still come.
            Some(tok)
                if tok.tool != tool
                    || tok.customer != customer
                    || tok.canonical_args != canonical_args =>
            {
                (tok.ticket.clone(), Err(TokenRefusal::Mismatch))
            }
            Some(tok) => {
                tok.used = true;
                (tok.ticket.clone(), Ok(tok.waived.clone()))
            }
        };
        match outcome {
            Ok(waived) => {
                st.audit(
                    self.audit_cap,
                    now,
                    &ticket,
                    AuditAction::Consumed,
                    None,
                    None,
                );
                Ok(TokenCheck::Accepted(Waiver { ticket, waived }))
            }
            Err(refusal) => {
                st.audit(
                    self.audit_cap,
                    now,
                    &ticket,
                    AuditAction::Refused(refusal),
                    None,
                    None,
                );
                Ok(TokenCheck::Refused(refusal))
            }
        }
    }

    fn expire(&self, now: Timestamp) -> Result<usize, StoreError> {
        Ok(self
            .state
            .lock()
            .sweep(now, self.keep_closed(), self.audit_cap))
    }

    fn drain_audit(&self) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(std::mem::take(&mut self.state.lock().audit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timestamp = Timestamp::from_millis(1_000_000);
    const HOUR: Duration = Duration::from_secs(3600);

    fn queue() -> MemoryApprovalQueue {
        MemoryApprovalQueue::new(24 * HOUR, HOUR)
    }

    fn request() -> TicketRequest {
        TicketRequest::new(
            "process_refund",
            "C-1",
            r#"{"amount":{"currency":"USD","minor":60000},"order_id":"A-1"}"#,
        )
        .agent("bot")
        .session("s-1")
        .call_id("call-1")
        .reason("approval_required", Intervention::Escalate, "above 500")
        .reason(
            "takeover_pattern",
            Intervention::Escalate,
            "email changed 2h ago",
        )
        .reason("near_daily_limit", Intervention::Nudge, "at 85%")
        .trust(0.8, Vec::new())
        .scan_summary("allow 0.05")
        .reasoning("customer says order A-1 arrived broken", Some(0.8))
    }

    #[test]
    fn approval_yields_a_single_use_bound_token() {
        let q = queue();
        let t = q.open(request(), T).unwrap();
        assert_eq!(t.recommendation(), Recommendation::Review);
        assert_eq!(
            t.waivable().collect::<Vec<_>>(),
            ["approval_required", "takeover_pattern"]
        );
        let issued = q.approve(t.id(), "ana", "photo of damage", T).unwrap();
        assert_eq!(issued.token().len(), 64);
        assert!(issued.token().bytes().all(|b| b.is_ascii_hexdigit()));
        let args = t.canonical_args().to_owned();

        // Wrong tool, customer, arguments: refused, token survives.
        for (tool, cust, a) in [
            ("apply_discount", "C-1", args.as_str()),
            ("process_refund", "C-2", args.as_str()),
            (
                "process_refund",
                "C-1",
                r#"{"amount":{"currency":"USD","minor":60001},"order_id":"A-1"}"#,
            ),
        ] {
            assert_eq!(
                q.consume(issued.token(), tool, cust, a, T).unwrap(),
                TokenCheck::Refused(TokenRefusal::Mismatch)
            );
        }
        let ok = q
            .consume(issued.token(), "process_refund", "C-1", &args, T)
            .unwrap();
        let TokenCheck::Accepted(w) = ok else {
            panic!("{ok:?}")
        };
        assert_eq!(w.ticket(), t.id());
        assert_eq!(w.waived(), ["approval_required", "takeover_pattern"]);
        assert_eq!(
            q.consume(issued.token(), "process_refund", "C-1", &args, T)
                .unwrap(),
            TokenCheck::Refused(TokenRefusal::AlreadyUsed)
        );
        assert_eq!(
            q.consume("deadbeef", "process_refund", "C-1", &args, T)
                .unwrap(),
            TokenCheck::Refused(TokenRefusal::Unknown)
        );

        let audit = q.drain_audit().unwrap();
        let actions: Vec<AuditAction> = audit.iter().map(AuditEntry::action).collect();
        assert_eq!(actions.first(), Some(&AuditAction::Opened));
        assert_eq!(actions.get(1), Some(&AuditAction::Approved));
        assert_eq!(audit.get(1).and_then(AuditEntry::by), Some("ana"));
        assert_eq!(
            audit.get(1).and_then(AuditEntry::why),
            Some("photo of damage")
        );
        assert!(actions.contains(&AuditAction::Consumed));
        assert!(q.drain_audit().unwrap().is_empty());
    }

    #[test]
    fn tokens_expire() {
        let q = queue();
        let t = q.open(request(), T).unwrap();
        let issued = q.approve(t.id(), "ana", "ok", T).unwrap();
        let late = T.saturating_add(HOUR);
        assert_eq!(
            q.consume(
                issued.token(),
                "process_refund",
                "C-1",
                t.canonical_args(),
                late
            )
            .unwrap(),
            TokenCheck::Refused(TokenRefusal::Expired)
        );
        q.expire(late).unwrap();
        assert_eq!(
            q.consume(
                issued.token(),
                "process_refund",
                "C-1",
                t.canonical_args(),
                late
            )
            .unwrap(),
            TokenCheck::Refused(TokenRefusal::Unknown)
        );
        // Just inside the TTL it works.
        let t2 = q.open(request(), T).unwrap();
        let i2 = q.approve(t2.id(), "ana", "ok", T).unwrap();
        let edge = T.saturating_add(HOUR - Duration::from_millis(1));
        assert!(matches!(
            q.consume(
                i2.token(),
                "process_refund",
                "C-1",
                t2.canonical_args(),
                edge
            )
            .unwrap(),
            TokenCheck::Accepted(_)
        ));
    }

    #[test]
    fn tickets_expire_and_close_once() {
        let q = queue();
        let t = q.open(request(), T).unwrap();
        let late = T.saturating_add(24 * HOUR);
        assert_eq!(
            q.approve(t.id(), "ana", "ok", late),
            Err(StoreError::TicketExpired(t.id().to_owned()))
        );
        assert_eq!(
            q.ticket(t.id(), late).unwrap().map(|t| t.status().as_str()),
            Some("expired")
        );
        let expired = q
            .drain_audit()
            .unwrap()
            .into_iter()
            .filter(|e| e.action() == AuditAction::Expired)
            .count();
        assert_eq!(expired, 1);

        let t2 = q.open(request(), T).unwrap();
        let denied = q.deny(t2.id(), "bo", "fraud ring", T).unwrap();
        assert_eq!(denied.status().as_str(), "denied");
        assert!(matches!(
            q.approve(t2.id(), "ana", "ok", T),
            Err(StoreError::TicketClosed {
                state: "denied",
                ..
            })
        ));
        assert!(matches!(
            q.deny(t2.id(), "ana", "again", T),
            Err(StoreError::TicketClosed { .. })
        ));
        assert!(matches!(
            q.approve("t-nope", "ana", "ok", T),
            Err(StoreError::UnknownTicket(_))
        ));

        let t3 = q.open(request(), T).unwrap();
        assert_eq!(q.pending(T).unwrap().len(), 1);
        q.approve(t3.id(), "ana", "ok", T).unwrap();
        assert!(matches!(
            q.approve(t3.id(), "ana", "ok", T),
            Err(StoreError::TicketClosed {
                state: "approved",
                ..
            })
        ));
        assert!(q.pending(T).unwrap().is_empty());
    }

    #[test]
    fn queue_is_bounded_and_ids_are_random() {
        let q = queue().max_tickets(2);
        let a = q.open(request(), T).unwrap();
        let b = q.open(request(), T).unwrap();
        assert_ne!(a.id(), b.id());
        assert!(matches!(
            q.open(request(), T),
            Err(StoreError::QueueFull { limit: 2 })
        ));
        // Once they expire and are swept, room comes back.
        let later = T.saturating_add(26 * HOUR);
        assert!(q.open(request(), later).is_ok());
    }

    #[test]
    fn recommendations() {
        let esc = |code: &str| TicketReason::new(code, Intervention::Escalate, "");
        assert_eq!(
            Recommendation::suggest(&[esc("approval_required")], 0.95, None),
            Recommendation::Approve
        );
        assert_eq!(
            Recommendation::suggest(&[esc("approval_required")], 0.95, Some(0.2)),
            Recommendation::Deny
        );
        assert_eq!(
            Recommendation::suggest(&[esc("trust_escalate")], 0.45, None),
            Recommendation::Deny
        );
        assert_eq!(
            Recommendation::suggest(&[esc("refund_frequency")], 0.95, None),
            Recommendation::Review
        );
        assert_eq!(
            request().recommendation(Recommendation::Deny).suggested(),
            Recommendation::Deny
        );
    }
}
