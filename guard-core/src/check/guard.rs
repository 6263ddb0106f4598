//! The facade: one `Guard` per blueprint, shared by every conversation.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use thiserror::Error;

use crate::audit::{ApprovalAction, Auditor};
use crate::policy::{Blueprint, BlueprintError, Mode, ToolKind};
use crate::scan::Signal;
use crate::scan::{ScanError, Scanner, Source, Verdict};
use crate::signals::{analyze, HeuristicJudge, ReasoningJudge};
use crate::store::{
    ApprovalQueue, Clock, Issued, MemoryApprovalQueue, MemorySessionStore, MemoryStore, Penalty,
    SessionStore, SessionUpdate, Settlement, Store, StoreError, SystemClock, Ticket, Timestamp,
    TrustEntry, TrustPenalties,
};

use super::call::ToolCall;
use super::decision::{reply, Decision, Intervention, Reason};
use super::isolation;
use super::limits;
use super::overrides::{Effective, Overrides};
use super::ownership::{NoOwnership, Ownership};
use super::session::Session;
use super::stateful::{self, Outcome};
use super::value::Value;

/// Errors building a [`Guard`].
#[derive(Debug, Error)]
pub enum GuardError {
    /// The blueprint did not load.
    #[error(transparent)]
    Blueprint(#[from] BlueprintError),
    /// The scanner's patterns did not compile.
    #[error(transparent)]
    Scanner(#[from] ScanError),
    /// The blueprint asks for a store this build cannot provide (a `redis://` URL without
    /// guard-core's `redis` feature).
    #[error(
        "store {0:?} is not available in this build: use `memory`, or enable the `redis` feature"
    )]
    UnsupportedStore(String),
    /// The configured store could not be set up (its URL is shown without credentials).
    #[error("store: {0}")]
    Store(String),
}

/// Builds a [`Guard`].
///
/// ```
/// use guard_core::{Blueprint, Guard, MemoryOwnership};
/// use guard_core::store::{ManualClock, MemoryStore, Timestamp};
/// let mut owners = MemoryOwnership::new();
/// owners.insert("order", "A-100", "C-1");
/// let guard = Guard::builder()
///     .blueprint(Blueprint::embedded_default()?)
///     .ownership(owners)
///     .store(MemoryStore::new())
///     .clock(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)))
///     .build()?;
/// assert_eq!(guard.blueprint().name(), "customer-service-v1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct GuardBuilder {
    blueprint: Option<Blueprint>,
    ownership: Option<Box<dyn Ownership>>,
    store: Option<Arc<dyn Store>>,
    approvals: Option<Arc<dyn ApprovalQueue>>,
    sessions: Option<Arc<dyn SessionStore>>,
    clock: Option<Arc<dyn Clock>>,
    penalties: Option<TrustPenalties>,
    judge: Option<Box<dyn ReasoningJudge>>,
    auditor: Option<Auditor>,
    scanner: Option<Arc<Scanner>>,
}

impl std::fmt::Debug for GuardBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardBuilder")
            .field("blueprint", &self.blueprint.as_ref().map(Blueprint::name))
            .field("ownership", &self.ownership.is_some())
            .field("store", &self.store)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl GuardBuilder {
    /// The blueprint to enforce (default: the embedded default).
    pub fn blueprint(mut self, blueprint: Blueprint) -> Self {
        self.blueprint = Some(blueprint);
        self
    }

    /// The owner lookup for `owned_params`. Without one, tools with owned parameters BLOCK.
    pub fn ownership(mut self, ownership: impl Ownership + 'static) -> Self {
        self.ownership = Some(Box::new(ownership));
        self
    }

    /// The state behind rolling limits and trust (default: a new [`MemoryStore`]). Pass an
    /// `Arc` to share one store between guards.
    pub fn store(mut self, store: impl Store + 'static) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The approval queue (default: a [`MemoryApprovalQueue`] with the blueprint's TTLs).
    pub fn approvals(mut self, queue: impl ApprovalQueue + 'static) -> Self {
        self.approvals = Some(Arc::new(queue));
        self
    }

    /// Conversation state: scan flags, sentiment, recent messages (default: the store's own
    /// [`Store::session_store`] — shared through Redis with a Redis store — or else an
    /// in-process [`MemorySessionStore`]).
    pub fn sessions(mut self, sessions: impl SessionStore + 'static) -> Self {
        self.sessions = Some(Arc::new(sessions));
        self
    }

    /// Where time comes from (default: [`SystemClock`]). Tests and replays use a
    /// `ManualClock`.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Trust penalties per reason code (default: [`TrustPenalties::default`]).
    pub fn trust_penalties(mut self, penalties: TrustPenalties) -> Self {
        self.penalties = Some(penalties);
        self
    }

    /// Scores the `reasoning` of tool calls (default: [`HeuristicJudge`]); plug in an LLM
    /// judge here.
    pub fn reasoning_judge(mut self, judge: impl ReasoningJudge + 'static) -> Self {
        self.judge = Some(Box::new(judge));
        self
    }

    /// Records every verdict, decision and approval action (default: none). Build it with the
    /// blueprint, so events carry its hash:
    /// `Auditor::builder().blueprint(&bp, bp.source_text()).sink(...).background(8192).build()?`.
    pub fn auditor(mut self, auditor: Auditor) -> Self {
        self.auditor = Some(auditor);
        self
    }

    /// Reuses a scanner compiled from this blueprint's scanner settings
    /// (`Scanner::new(blueprint.scanner())`): compiling one costs milliseconds, so guards built
    /// one after another for the same blueprint (tests, fuzzing, one guard per tenant) can share
    /// it. A scanner compiled from other settings is ignored and the guard compiles its own.
    pub fn scanner(mut self, scanner: Arc<Scanner>) -> Self {
        self.scanner = Some(scanner);
        self
    }

    /// Compiles the scanner and freezes the policy.
    pub fn build(self) -> Result<Guard, GuardError> {
        let blueprint = match self.blueprint {
            Some(bp) => bp,
            None => Blueprint::embedded_default()?,
        };
        // `store.url: redis://...` in the blueprint picks the shared store unless the builder
        // was given one.
        #[cfg(feature = "redis")]
        let (store, approvals) = match (self.store, blueprint.store.url.as_str()) {
            (None, url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                let b = crate::store::redis::RedisStore::builder(url)
                    .approval_ttls(
                        blueprint.approvals().ticket_ttl(),
                        blueprint.approvals().token_ttl(),
                    )
                    .cluster(blueprint.store.cluster);
                let (s, q) = crate::store::redis::from_url_with(b)
                    .map_err(|e| GuardError::Store(e.to_string()))?;
                let approvals = self
                    .approvals
                    .unwrap_or_else(|| Arc::new(q) as Arc<dyn ApprovalQueue>);
                (Some(Arc::new(s) as Arc<dyn Store>), Some(approvals))
            }
            (store, _) => (store, self.approvals),
        };
        #[cfg(not(feature = "redis"))]
        let (store, approvals) = (self.store, self.approvals);
        if blueprint.store.url != "memory" && store.is_none() {
            return Err(GuardError::UnsupportedStore(redact_url(
                &blueprint.store.url,
            )));
        }
        let scanner = match self.scanner {
            Some(s) if s.policy() == &blueprint.scanner => s,
            _ => Arc::new(Scanner::new(&blueprint.scanner)?),
        };
        let approvals = approvals
            .unwrap_or_else(|| Arc::new(MemoryApprovalQueue::from_policy(blueprint.approvals())));
        let store = store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        // A shared store shares conversation state too, unless the builder was given some.
        let sessions = self
            .sessions
            .or_else(|| store.session_store())
            .unwrap_or_else(|| Arc::new(MemorySessionStore::new()));
        Ok(Guard {
            inner: Arc::new(Inner {
                scanner,
                ownership: self.ownership.unwrap_or_else(|| Box::new(NoOwnership)),
                store,
                approvals,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                penalties: self.penalties.unwrap_or_default(),
                judge: self
                    .judge
                    .unwrap_or_else(|| Box::new(HeuristicJudge::new())),
                sessions,
                auditor: self.auditor.unwrap_or_else(Auditor::disabled),
                alerts: Mutex::new(VecDeque::new()),
                blueprint,
            }),
        })
    }
}

/// Strips credentials from a store URL before it appears in any message.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!(
            "{}://***@{}",
            url.get(..scheme).unwrap_or(""),
            url.get(at + 1..).unwrap_or("")
        ),
        _ => url.to_owned(),
    }
}

/// Something an operator must see now, not in the next review: an agent hit the agent-wide
/// refund limit (a hijacked or buggy agent stops there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub(crate) at: Timestamp,
    pub(crate) code: &'static str,
    pub(crate) agent: String,
    pub(crate) message: String,
}

impl Alert {
    /// When.
    pub fn at(&self) -> Timestamp {
        self.at
    }
    /// Stable code, e.g. `agent_hourly_limit_exceeded`.
    pub fn code(&self) -> &'static str {
        self.code
    }
    /// The agent concerned.
    pub fn agent(&self) -> &str {
        &self.agent
    }
    /// For operators.
    pub fn message(&self) -> &str {
        &self.message
    }
}

const MAX_ALERTS: usize = 1024;

/// The guard: a compiled blueprint, a scanner and the state around them. Cheap to clone and
/// share across threads.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub blueprint: Blueprint,
    pub scanner: Arc<Scanner>,
    pub ownership: Box<dyn Ownership>,
    pub store: Arc<dyn Store>,
    pub approvals: Arc<dyn ApprovalQueue>,
    pub clock: Arc<dyn Clock>,
    pub penalties: TrustPenalties,
    pub judge: Box<dyn ReasoningJudge>,
    pub sessions: Arc<dyn SessionStore>,
    pub alerts: Mutex<VecDeque<Alert>>,
    pub auditor: Auditor,
}

impl Inner {
    pub(crate) fn alert(&self, alert: Alert) {
        let mut alerts = self.alerts.lock();
        if alerts.len() >= MAX_ALERTS {
            alerts.pop_front();
        }
        alerts.push_back(alert);
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("blueprint", &self.inner.blueprint.name)
            .finish_non_exhaustive()
    }
}

/// The signal a weak-signal message carries when its flag could not be stored.
pub(crate) const SESSION_STATE_UNAVAILABLE: &str = "session_state_unavailable";

/// Free-text parameters shorter than this are ids and codes, not prose worth scanning.
const MIN_SCANNED_TEXT: usize = 20;

impl Guard {
    /// Starts a builder.
    pub fn builder() -> GuardBuilder {
        GuardBuilder::default()
    }

    /// The blueprint in force.
    pub fn blueprint(&self) -> &Blueprint {
        &self.inner.blueprint
    }

    /// The current time of the guard's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Scans text with no session context.
    pub fn scan_text(&self, text: &str, source: Source) -> Verdict {
        let started = Instant::now();
        let verdict = self.inner.scanner.scan(text, source);
        let now = self.inner.clock.now().to_system_time();
        self.inner
            .auditor
            .record_verdict_at("", text, source, &verdict, started.elapsed(), now);
        verdict
    }

    /// Scans a customer message: the message alone and joined with the session's recent
    /// messages. A blocked message never reaches the model: show the customer
    /// [`Verdict::reply`] instead. A blocked injection lowers the customer's trust; a weak
    /// signal (risk at or above `scanner.flag_threshold`) FLAGs the session's next money action.
    pub fn scan_message(&self, session: &Session, text: &str) -> Verdict {
        let started = Instant::now();
        let inner = &self.inner;
        let id = session.session_id();
        let now = inner.clock.now();
        // Without the session's state the message is scanned alone: a split injection whose
        // first half reached another instance is then missed, but nothing else is lost.
        let recent = inner.sessions.recent(id, now).unwrap_or_default();
        let refs: Vec<&str> = recent.iter().map(String::as_str).collect();
        let mut verdict = inner.scanner.scan_in_context(text, &refs, Source::Customer);
        let storable = text.len() <= inner.blueprint.scanner.max_message_bytes;
        let summary_line = summary(&verdict, Source::Customer);
        let mut update = SessionUpdate::new().verdict(&summary_line);
        // A blocked message is not kept: joined with later messages it would block them too.
        if storable && !verdict.blocked() {
            update.message = Some(text);
            let mood = analyze(text);
            if mood.hits() > 0 {
                update = update.sentiment(mood.score());
            }
        }
        let rule = verdict
            .signals()
            .first()
            .map_or_else(String::new, |sig| sig.rule().to_owned());
        let flags = verdict.flagged() && !verdict.blocked();
        if flags {
            update = update.flag(&rule);
        }
        let saved = inner.sessions.record(id, &update, now).is_ok();
        let unsaved = flags && !saved;
        if unsaved {
            // The flag could not be kept for the next money action (on any instance): the
            // message does not reach the model rather than the signal being lost.
            verdict.blocked = true;
            verdict.signals.insert(
                0,
                Signal {
                    detector: "session",
                    rule: SESSION_STATE_UNAVAILABLE.into(),
                    score: verdict.risk,
                    span: None,
                },
            );
        }
        // Size alone is not an attack, nor an unreachable state: only detectors' blocks cost
        // trust.
        let injection = !unsaved
            && verdict
                .signals()
                .iter()
                .any(|s| s.rule() != "message_too_large");
        if verdict.blocked() && injection && session.is_authenticated() {
            let half_life = inner.blueprint.trust.half_life;
            let amount = inner.penalties.penalty("prompt_injection");
            // A store error here loses a trust penalty, not a decision: the message is blocked.
            let _ = inner.store.penalize(
                session.customer_id(),
                Penalty {
                    code: "prompt_injection",
                    amount,
                },
                half_life,
                now,
            );
        }
        inner.auditor.record_message_at(
            session,
            text,
            Source::Customer,
            &verdict,
            started.elapsed(),
            now.to_system_time(),
        );
        verdict
    }

    /// Scans a tool's output before it is fed back to the model. Injections found here do not
    /// lower the customer's trust: the customer did not write them.
    pub fn scan_tool_output(&self, session: &Session, text: &str) -> Verdict {
        let started = Instant::now();
        let verdict = self.inner.scanner.scan(text, Source::ToolOutput);
        let now = self.inner.clock.now();
        let line = summary(&verdict, Source::ToolOutput);
        // Only a reviewer's note: losing it to an unreachable store changes no decision.
        let _ = self.inner.sessions.record(
            session.session_id(),
            &SessionUpdate::new().verdict(&line),
            now,
        );
        let now = now.to_system_time();
        self.inner.auditor.record_message_at(
            session,
            text,
            Source::ToolOutput,
            &verdict,
            started.elapsed(),
            now,
        );
        verdict
    }

    /// Decides whether `call` may run. Never panics and never errors: every problem, including
    /// malformed parameters, a failing owner lookup and an unreachable store, is a BLOCK with
    /// its reason. An allowed money call is reserved against the rolling limits; settle it with
    /// [`Guard::commit`] or [`Guard::release`] (unsettled, it counts as committed after
    /// `store.reservation_ttl`).
    pub fn pre_execution_check(&self, call: &ToolCall) -> Decision {
        self.check_with(call, None)
    }

    /// The check with a `#[guard]` attribute's limits folded in (strictest wins).
    pub(crate) fn check_with(&self, call: &ToolCall, overrides: Option<&Overrides>) -> Decision {
        let started = Instant::now();
        let inner = &*self.inner;
        let bp = &inner.blueprint;
        let now = call
            .time()
            .map_or_else(|| inner.clock.now(), Timestamp::from);
        let mut reasons = Vec::new();

        match bp.agent_tools(call.agent_id()) {
            None => reasons.push(Reason::new(
                "unknown_agent",
                Intervention::Block,
                format!("agent {:?} is not in the blueprint", call.agent_id()),
                reply::CANNOT_HERE,
            )),
            Some(tools) if !tools.contains(call.tool()) => reasons.push(Reason::new(
                "tool_not_allowed",
                Intervention::Block,
                format!(
                    "tool {:?} is not in agent {:?}'s allowed list",
                    call.tool(),
                    call.agent_id()
                ),
                reply::CANNOT_HERE,
            )),
            Some(_) => {}
        }

        let tool = bp.tool(call.tool());
        let limits = match overrides {
            None => Effective::plain(bp, tool),
            Some(o) => Effective::with(bp, tool, o, &mut reasons),
        };
        let params = call.params();
        let session = call.session();
        reasons.extend(isolation::check(session, tool, params));
        if session.is_authenticated() {
            self.check_ownership(call, &mut reasons);
        }

        let mut amount = None;
        match tool.kind {
            ToolKind::Refund => match limits::amount(bp, tool, params) {
                Ok(Some(a)) => {
                    limits::refund_limits(
                        &limits.tripwires,
                        limits.approval_above,
                        a,
                        &mut reasons,
                    );
                    amount = Some(a);
                }
                Ok(None) => {}
                Err(reason) => reasons.push(reason),
            },
            ToolKind::Discount => match limits::percent(tool, params) {
                Ok(Some(h)) => limits::discount_limits(&limits.tripwires, h, &mut reasons),
                Ok(None) => {}
                Err(reason) => reasons.push(reason),
            },
            _ => {}
        }
        limits::review(limits.review, tool.kind, call.tool(), &mut reasons);
        self.scan_call_text(call, &mut reasons);

        let decision = stateful::decide(inner, call, tool, &limits, amount, now, reasons);
        inner
            .auditor
            .record_decision_at(call, &decision, started.elapsed(), now.to_system_time());
        decision
    }

    /// Injections smuggled into a call's free text or its reasoning BLOCK the call: the model
    /// that wrote them has been steered.
    fn scan_call_text(&self, call: &ToolCall, reasons: &mut Vec<Reason>) {
        let mut texts = Vec::new();
        collect_text(call.params(), 0, &mut texts);
        for text in texts {
            let v = self.inner.scanner.scan(text, Source::ToolOutput);
            if v.blocked() {
                reasons.push(Reason::new(
                    "injection_in_params",
                    Intervention::Block,
                    format!(
                        "a parameter carries an injection ({}, risk {:.2})",
                        top_rule(&v),
                        v.risk()
                    ),
                    reply::CANNOT_HERE,
                ));
                break;
            }
        }
        if let Some(text) = call.reasoning() {
            let v = self.inner.scanner.scan(text, Source::ToolOutput);
            if v.blocked() {
                reasons.push(Reason::new(
                    "injection_in_reasoning",
                    Intervention::Block,
                    format!(
                        "the agent's reasoning carries an injection ({}, risk {:.2})",
                        top_rule(&v),
                        v.risk()
                    ),
                    reply::CANNOT_HERE,
                ));
            }
        }
    }

    /// The call ran: its reservation is final. Idempotent by call id.
    pub fn commit(&self, call_id: &str) -> Result<Settlement, StoreError> {
        self.inner.store.commit(call_id, self.inner.clock.now())
    }

    /// The call failed: its reservation stops counting (unless it already expired into
    /// committed). Idempotent by call id.
    pub fn release(&self, call_id: &str) -> Result<Settlement, StoreError> {
        self.inner.store.release(call_id, self.inner.clock.now())
    }

    /// Settles a guarded handler's call by its body's result. A failure to reach the store
    /// leaves the reservation to expire into committed: the conservative reading.
    pub(crate) fn settle_call(&self, call_id: &str, ok: bool) {
        let outcome = if ok { Outcome::Ok } else { Outcome::Failed };
        let _ = self.settle(call_id, outcome);
    }

    /// Approves an escalated call: returns a single-use token bound to its tool, customer and
    /// arguments (present it on the retried call), and hands back the trust penalty the
    /// escalation cost. `by` and `why` are recorded.
    pub fn approve(&self, ticket: &str, by: &str, why: &str) -> Result<Issued, StoreError> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let issued = inner.approvals.approve(ticket, by, why, now)?;
        self.record_approval(
            ApprovalAction::Approve,
            issued.ticket(),
            Some(by),
            Some(why),
            now,
        );
        if let Some(receipt) = issued.ticket().penalty() {
            inner
                .store
                .refund_penalty(receipt, inner.blueprint.trust.half_life, now)?;
        }
        Ok(issued)
    }

    /// Denies an escalated call. `by` and `why` are recorded.
    pub fn deny(&self, ticket: &str, by: &str, why: &str) -> Result<Ticket, StoreError> {
        let now = self.inner.clock.now();
        let t = self.inner.approvals.deny(ticket, by, why, now)?;
        self.record_approval(ApprovalAction::Deny, &t, Some(by), Some(why), now);
        Ok(t)
    }

    /// Expires tickets nobody answered within `approvals.ticket_ttl` (and their tokens), and
    /// records each expiry. Returns how many tickets expired. Call it periodically.
    pub fn expire_tickets(&self) -> Result<usize, StoreError> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let expired = inner.approvals.expire(now)?;
        for entry in inner.approvals.drain_audit()? {
            if entry.action() == crate::store::AuditAction::Expired {
                if let Ok(Some(t)) = inner.approvals.ticket(entry.ticket(), now) {
                    self.record_approval(ApprovalAction::Expire, &t, None, None, entry.at());
                }
            }
        }
        Ok(expired)
    }

    fn record_approval(
        &self,
        action: ApprovalAction,
        t: &Ticket,
        by: Option<&str>,
        why: Option<&str>,
        at: Timestamp,
    ) {
        let a = &self.inner.auditor;
        if a.is_enabled() {
            let event = a
                .approval_event(action, t.id(), by, why)
                .subject(a.privacy(), t.tool(), t.customer())
                .at(at.to_system_time());
            a.record(event);
        }
    }

    /// The auditor (disabled unless [`GuardBuilder::auditor`] set one): flush it before exit.
    pub fn auditor(&self) -> &Auditor {
        &self.inner.auditor
    }

    /// A ticket by id.
    pub fn ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError> {
        self.inner.approvals.ticket(id, self.inner.clock.now())
    }

    /// Tickets waiting for a reviewer.
    pub fn pending_tickets(&self) -> Result<Vec<Ticket>, StoreError> {
        self.inner.approvals.pending(self.inner.clock.now())
    }

    /// A customer's trust in `[0, 1]`.
    pub fn trust(&self, customer_id: &str) -> Result<f64, StoreError> {
        self.inner.store.trust(
            customer_id,
            self.inner.blueprint.trust.half_life,
            self.inner.clock.now(),
        )
    }

    /// A customer's recent trust changes, for reviewers.
    pub fn trust_history(&self, customer_id: &str) -> Result<Vec<TrustEntry>, StoreError> {
        self.inner.store.trust_history(customer_id)
    }

    /// Alerts raised since the last call (oldest first).
    pub fn drain_alerts(&self) -> Vec<Alert> {
        self.inner.alerts.lock().drain(..).collect()
    }

    /// Whether decisions take effect (`Enforce`) or are only recorded (`Shadow`).
    pub fn mode(&self) -> Mode {
        self.inner.blueprint.mode
    }

    /// What happened to a call the application settles itself: `Outcome::Ok` commits,
    /// `Outcome::Failed` releases.
    pub fn settle(&self, call_id: &str, outcome: Outcome) -> Result<Settlement, StoreError> {
        match outcome {
            Outcome::Ok => self.commit(call_id),
            Outcome::Failed => self.release(call_id),
        }
    }

    fn check_ownership(&self, call: &ToolCall, reasons: &mut Vec<Reason>) {
        let tool = self.inner.blueprint.tool(call.tool());
        let customer = call.session().customer_id();
        for (param, kind) in &tool.owned_params {
            let ids: Vec<&str> = match call.params().get(param) {
                None | Some(Value::Null) => {
                    reasons.push(Reason::new(
                        "missing_param",
                        Intervention::Block,
                        format!("missing parameter `{param}` (the {kind} id)"),
                        reply::CHECK_DETAILS,
                    ));
                    continue;
                }
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_text).collect(),
                Some(v) => v.as_text().into_iter().collect(),
            };
            let expected = match call.params().get(param) {
                Some(Value::Array(items)) => items.len(),
                _ => 1,
            };
            if ids.len() != expected || ids.is_empty() {
                reasons.push(Reason::new(
                    "malformed_param",
                    Intervention::Block,
                    format!("`{param}` must be a {kind} id or a list of them"),
                    reply::CHECK_DETAILS,
                ));
                continue;
            }
            for id in ids {
                match self.inner.ownership.owner_of(kind, id) {
                    Ok(Some(owner)) if owner == customer => {}
                    Ok(Some(_)) => reasons.push(Reason::new(
                        "cross_customer",
                        Intervention::Block,
                        format!("{kind} {id:?} in `{param}` belongs to another customer"),
                        reply::NOT_YOURS,
                    )),
                    Ok(None) => reasons.push(Reason::new(
                        "unknown_owner",
                        Intervention::Block,
                        format!("{kind} {id:?} in `{param}` has no known owner"),
                        reply::VERIFY_ORDER,
                    )),
                    Err(e) => reasons.push(Reason::new(
                        "ownership_unavailable",
                        Intervention::Block,
                        format!("cannot verify the owner of {kind} {id:?}: {e}"),
                        reply::TRY_LATER,
                    )),
                }
            }
        }
    }
}

/// Free-text strings of a parameter tree worth scanning (prose, not ids).
fn collect_text<'a>(v: &'a Value, depth: usize, out: &mut Vec<&'a str>) {
    if depth > isolation::MAX_DEPTH {
        return;
    }
    match v {
        Value::String(s) if s.len() >= MIN_SCANNED_TEXT && s.contains(' ') => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| collect_text(i, depth + 1, out)),
        Value::Object(entries) => entries
            .iter()
            .for_each(|(_, i)| collect_text(i, depth + 1, out)),
        _ => {}
    }
}

fn top_rule(v: &Verdict) -> String {
    v.signals().first().map_or_else(
        || "no rule".to_owned(),
        |s| format!("{}/{}", s.detector(), s.rule()),
    )
}

/// One line a reviewer reads on a ticket: what the scanner said about a recent message.
fn summary(v: &Verdict, source: Source) -> String {
    let from = match source {
        Source::Customer => "customer message",
        Source::ToolOutput => "tool output",
    };
    let verdict = if v.blocked() {
        "blocked"
    } else if v.flagged() {
        "flagged"
    } else {
        "allowed"
    };
    format!("{from} {verdict} (risk {:.2}, {})", v.risk(), top_rule(v))
}
