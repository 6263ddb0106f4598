//! One audit event per scan verdict, tool-call decision and approval action.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::check::{Decision, Intervention, ToolCall, Value};
use crate::policy::Mode;
use crate::scan::{Source, Verdict};

use super::privacy::Privacy;

/// Version of the event schema, written in every event as `v`.
pub const SCHEMA_VERSION: u32 = 1;

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A message scan.
    Verdict,
    /// A tool-call decision.
    Decision,
    /// An approval ticket approved, denied or expired.
    Approval,
    /// Events a full queue dropped (OK and NUDGE only); `dropped` says how many.
    Dropped,
}

/// What happened to an approval ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalAction {
    /// A human approved: a single-use token was issued.
    Approve,
    /// A human denied.
    Deny,
    /// Nobody answered within `approvals.ticket_ttl`.
    Expire,
}

/// One signal of a verdict. `span` indexes the event's `text` (which is masked in place, so
/// offsets still hold) as half-open UTF-8 byte offsets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalRecord {
    /// Detector name.
    pub detector: String,
    /// Rule id within the detector.
    pub rule: String,
    /// Strength in `[0, 1]`.
    pub score: f64,
    /// Where in the text, when located.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<SpanRecord>,
}

/// A half-open byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanRecord {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// One reason of a decision: its stable code and the operator message (identifiers in it
/// pseudonymised, free text masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonRecord {
    /// Stable machine code.
    pub code: String,
    /// The intervention the rule asked for.
    pub intervention: String,
    /// Operator message.
    pub message: String,
}

/// Who acted on a ticket, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// Approve, deny or expire.
    pub action: ApprovalAction,
    /// The operator (staff identity, kept as given), `None` for an expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The operator's note, masked like any free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// One structured audit event, written as one JSON line.
///
/// Built from the library's own values with [`AuditEvent::decision`], [`AuditEvent::verdict`]
/// and [`AuditEvent::approval`], which pseudonymise identifiers and mask free text through a
/// [`Privacy`]; usually through an [`super::Auditor`].
///
/// ```
/// use guard_core::audit::{AuditEvent, AuditKey, Privacy};
/// use guard_core::{Guard, Session, ToolCall};
/// use serde_json::json;
/// let guard = Guard::builder().build()?;
/// let call = ToolCall::new("support-bot-prod", "apply_discount", Session::authenticated("C-1", "s-1"))
///     .with_params(json!({ "customer_id": "C-1", "percent": 25 }));
/// let decision = guard.pre_execution_check(&call);
/// let privacy = Privacy::new(&AuditKey::from_bytes([9; 32]));
/// let event = AuditEvent::decision(&privacy, &call, &decision);
/// let line = event.to_json_line();
/// assert!(line.contains(r#""intervention":"block""#));
/// assert!(!line.contains("C-1\""), "the customer id is pseudonymised");
/// assert_eq!(AuditEvent::from_json_line(&line)?, event);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub(crate) v: u32,
    pub(crate) kind: EventKind,
    pub(crate) ts_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) blueprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) customer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) authenticated: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) identifiers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) intervention: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) allowed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) risk: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) signals: Vec<SignalRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) reasons: Vec<ReasonRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) trust: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ticket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) would_block: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) would_escalate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) latency_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text_redacted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text_truncated: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) params: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reasoning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) approval_presented: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) approval: Option<ApprovalRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dropped: Option<u64>,
}

pub(crate) fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Shadow => "shadow",
    }
}

/// Parameters that may be written as they are: the tool's amount and percent. Everything else
/// in a call's parameters is an identifier or free text to the audit trail.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawParams {
    by_tool: BTreeMap<String, BTreeSet<String>>,
}

impl RawParams {
    pub(crate) fn from_blueprint(bp: &crate::Blueprint) -> Self {
        let mut by_tool = BTreeMap::new();
        for (name, tool) in &bp.tools {
            let keep: BTreeSet<String> = [tool.amount_param(), tool.percent_param()]
                .into_iter()
                .flatten()
                .map(str::to_owned)
                .collect();
            if !keep.is_empty() {
                by_tool.insert(name.clone(), keep);
            }
        }
        Self { by_tool }
    }

    fn keeps(&self, tool: &str, param: &str) -> bool {
        self.by_tool.get(tool).is_some_and(|k| k.contains(param))
    }
}

impl AuditEvent {
    pub(crate) fn empty(kind: EventKind, at: SystemTime) -> Self {
        Self {
            v: SCHEMA_VERSION,
            kind,
            ts_ms: millis(at),
            blueprint: None,
            agent: None,
            session: None,
            customer: None,
            authenticated: None,
            identifiers: Vec::new(),
            tool: None,
            call_id: None,
            intervention: None,
            allowed: None,
            source: None,
            risk: None,
            signals: Vec::new(),
            reasons: Vec::new(),
            trust: None,
            ticket: None,
            mode: None,
            would_block: None,
            would_escalate: None,
            latency_ns: None,
            text: None,
            text_redacted: None,
            text_truncated: None,
            params: None,
            reasoning: None,
            approval_presented: None,
            approval: None,
            dropped: None,
        }
    }

    /// A tool-call decision. Every string parameter and id is pseudonymised (no blueprint is at
    /// hand to say which parameter is an amount: see [`super::Auditor`], which keeps amounts).
    /// The time is the call's, or now.
    pub fn decision(privacy: &Privacy, call: &ToolCall, decision: &Decision) -> Self {
        Self::decision_with(privacy, &RawParams::default(), call, decision)
    }

    pub(crate) fn decision_with(
        privacy: &Privacy,
        raw: &RawParams,
        call: &ToolCall,
        decision: &Decision,
    ) -> Self {
        let mut e = Self::empty(
            EventKind::Decision,
            call.time().unwrap_or_else(SystemTime::now),
        );
        let session = call.session();
        e.agent = Some(call.agent_id().to_owned());
        e.session = Some(privacy.pseudonym(session.session_id()));
        if !session.customer_id().is_empty() {
            e.customer = Some(privacy.pseudonym(session.customer_id()));
        }
        // Enough of the session for replay to re-run isolation on pseudonyms.
        e.authenticated = Some(session.is_authenticated());
        e.identifiers = session
            .identifiers()
            .iter()
            .map(|i| privacy.pseudonym(i))
            .collect();
        e.tool = Some(call.tool().to_owned());
        e.call_id = call.id().map(str::to_owned);
        // The token is a bearer secret: only the fact that one was presented is written.
        e.approval_presented = call.approval().map(|_| true);
        e.intervention = Some(decision.intervention().as_str().to_owned());
        e.allowed = Some(decision.allowed());
        e.trust = Some(decision.trust());
        e.ticket = decision.ticket().map(str::to_owned);
        e.set_mode(decision.mode(), decision.intervention());

        // Identifiers that operator messages may quote, replaced longest first so that an id
        // containing another is replaced whole.
        let mut ids: Vec<&str> = vec![session.customer_id(), session.session_id()];
        ids.extend(session.identifiers().iter().map(String::as_str));
        match call.params() {
            Value::Object(entries) => {
                for (k, v) in entries {
                    // Kept amounts are not identifiers: "500" must not be replaced in "500.00".
                    if !raw.keeps(call.tool(), k) {
                        collect_texts(v, &mut ids);
                    }
                }
            }
            other => collect_texts(other, &mut ids),
        }
        ids.retain(|s| s.len() >= 2);
        ids.sort_by_key(|s| std::cmp::Reverse(s.len()));
        ids.dedup();
        e.reasons = decision
            .reasons()
            .iter()
            .map(|r| ReasonRecord {
                code: r.code().to_owned(),
                intervention: r.intervention().as_str().to_owned(),
                message: scrub_token(scrub(privacy, r.message(), &ids), call.approval()),
            })
            .collect();
        e.params = Some(params_json(privacy, raw, call.tool(), None, call.params()));
        if let Some(reasoning) = call.reasoning() {
            let (text, _) = privacy.text(reasoning);
            e.reasoning = Some(scrub(privacy, &text, &ids));
        }
        e
    }

    /// A message scan in `session_id`. `mode` is the blueprint's: in shadow mode a blocked
    /// message is recorded as `would_block`. Recorded intervention: `block` when blocked,
    /// `flag` at the flag threshold, `nudge` for weaker signals, `ok` for none.
    pub fn verdict(
        privacy: &Privacy,
        session_id: &str,
        text: &str,
        source: Source,
        verdict: &Verdict,
        mode: Mode,
    ) -> Self {
        Self::verdict_cut(privacy, session_id, text, false, source, verdict, mode)
    }

    /// [`AuditEvent::verdict`] for a text the caller already cut (`already_cut`).
    pub(crate) fn verdict_cut(
        privacy: &Privacy,
        session_id: &str,
        text: &str,
        already_cut: bool,
        source: Source,
        verdict: &Verdict,
        mode: Mode,
    ) -> Self {
        let mut e = Self::empty(EventKind::Verdict, SystemTime::now());
        e.session = Some(privacy.pseudonym(session_id));
        e.source = Some(
            match source {
                Source::Customer => "customer",
                Source::ToolOutput => "tool_output",
            }
            .to_owned(),
        );
        let intervention = if verdict.blocked() {
            Intervention::Block
        } else if verdict.flagged() {
            Intervention::Flag
        } else if verdict.signals().is_empty() {
            Intervention::Ok
        } else {
            Intervention::Nudge
        };
        e.intervention = Some(intervention.as_str().to_owned());
        e.allowed = Some(!verdict.blocked() || mode == Mode::Shadow);
        e.risk = Some(verdict.risk());
        e.set_mode(mode, intervention);
        let (kept, cut) = privacy.text(text);
        let truncated = cut || already_cut;
        e.signals = verdict
            .signals()
            .iter()
            .map(|s| SignalRecord {
                detector: s.detector().to_owned(),
                rule: s.rule().to_owned(),
                score: s.score(),
                span: s.span().map(|r| SpanRecord {
                    start: r.start,
                    end: r.end,
                }),
            })
            .collect();
        e.text = Some(kept);
        e.text_redacted = Some(!privacy.keeps_raw_text());
        e.text_truncated = Some(truncated);
        e
    }

    /// An approval action on `ticket` by `by` (staff identity), with a note.
    pub fn approval(
        privacy: &Privacy,
        action: ApprovalAction,
        ticket: &str,
        by: Option<&str>,
        why: Option<&str>,
    ) -> Self {
        let mut e = Self::empty(EventKind::Approval, SystemTime::now());
        e.ticket = Some(ticket.to_owned());
        e.approval = Some(ApprovalRecord {
            action,
            by: by.map(str::to_owned),
            why: why.map(|w| privacy.text(w).0),
        });
        e
    }

    /// The count of events a full queue dropped since the last such record.
    pub fn dropped(count: u64) -> Self {
        let mut e = Self::empty(EventKind::Dropped, SystemTime::now());
        e.dropped = Some(count);
        e
    }

    fn set_mode(&mut self, mode: Mode, intervention: Intervention) {
        self.mode = Some(mode_name(mode).to_owned());
        if mode == Mode::Shadow {
            self.would_block = Some(intervention == Intervention::Block);
            self.would_escalate = Some(intervention == Intervention::Escalate);
        }
    }

    /// Sets the time (e.g. a replayed line's `at`).
    pub fn at(mut self, at: SystemTime) -> Self {
        self.ts_ms = millis(at);
        self
    }
    /// Sets how long the check or scan took.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency_ns = Some(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        self
    }
    /// Sets the blueprint hash (see [`super::blueprint_hash`]).
    pub fn blueprint(mut self, hash: impl Into<String>) -> Self {
        self.blueprint = Some(hash.into());
        self
    }
    /// Sets the customer pseudonym of a verdict or approval (already pseudonymised).
    pub fn customer_pseudonym(mut self, pseudonym: impl Into<String>) -> Self {
        self.customer = Some(pseudonym.into());
        self
    }
    /// Names what an approval event is about: the ticket's tool and customer (pseudonymised
    /// here), so the trail links it to the escalated call without a lookup.
    pub fn subject(mut self, privacy: &Privacy, tool: &str, customer_id: &str) -> Self {
        self.tool = Some(tool.to_owned());
        if !customer_id.is_empty() {
            self.customer = Some(privacy.pseudonym(customer_id));
        }
        self
    }

    /// What the event records.
    pub fn kind(&self) -> EventKind {
        self.kind
    }
    /// Milliseconds since the Unix epoch.
    pub fn ts_ms(&self) -> u64 {
        self.ts_ms
    }
    /// The blueprint hash.
    pub fn blueprint_hash(&self) -> Option<&str> {
        self.blueprint.as_deref()
    }
    /// The agent of a decision.
    pub fn agent(&self) -> Option<&str> {
        self.agent.as_deref()
    }
    /// The session pseudonym.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }
    /// The customer pseudonym.
    pub fn customer(&self) -> Option<&str> {
        self.customer.as_deref()
    }
    /// Whether the decision's session was authenticated.
    pub fn authenticated(&self) -> Option<bool> {
        self.authenticated
    }
    /// The session's verified identifiers, pseudonymised.
    pub fn identifiers(&self) -> &[String] {
        &self.identifiers
    }
    /// The call id of a decision.
    pub fn call_id(&self) -> Option<&str> {
        self.call_id.as_deref()
    }
    /// Whether an approval token was presented with the call (the token is never written).
    pub fn approval_presented(&self) -> bool {
        self.approval_presented == Some(true)
    }
    /// Where a scanned text came from: `customer` or `tool_output`.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
    /// Whether the text was written raw and whole (so it can be scanned again).
    pub fn text_is_raw_and_whole(&self) -> bool {
        self.text.is_some()
            && self.text_redacted == Some(false)
            && self.text_truncated != Some(true)
    }
    /// The tool of a decision.
    pub fn tool(&self) -> Option<&str> {
        self.tool.as_deref()
    }
    /// The intervention (`ok` .. `block`) of a verdict or decision.
    pub fn intervention(&self) -> Option<&str> {
        self.intervention.as_deref()
    }
    /// The fused risk of a verdict.
    pub fn risk(&self) -> Option<f64> {
        self.risk
    }
    /// The signals of a verdict.
    pub fn signals(&self) -> &[SignalRecord] {
        &self.signals
    }
    /// The reasons of a decision, strictest first.
    pub fn reasons(&self) -> &[ReasonRecord] {
        &self.reasons
    }
    /// The trust at decision time.
    pub fn trust(&self) -> Option<f64> {
        self.trust
    }
    /// The approval ticket.
    pub fn ticket(&self) -> Option<&str> {
        self.ticket.as_deref()
    }
    /// `enforce` or `shadow`.
    pub fn mode(&self) -> Option<&str> {
        self.mode.as_deref()
    }
    /// In shadow mode: whether enforcement would have blocked.
    pub fn would_block(&self) -> Option<bool> {
        self.would_block
    }
    /// In shadow mode: whether enforcement would have escalated.
    pub fn would_escalate(&self) -> Option<bool> {
        self.would_escalate
    }
    /// Nanoseconds the check took.
    pub fn latency_ns(&self) -> Option<u64> {
        self.latency_ns
    }
    /// The message text (masked unless raw text is configured).
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }
    /// The call's parameters, identifiers pseudonymised.
    pub fn params(&self) -> Option<&Json> {
        self.params.as_ref()
    }
    /// The approval action.
    pub fn approval_record(&self) -> Option<&ApprovalRecord> {
        self.approval.as_ref()
    }
    /// The dropped-event count of a [`EventKind::Dropped`] event.
    pub fn dropped_count(&self) -> Option<u64> {
        self.dropped
    }

    /// Whether a full queue may drop this event: only OK and NUDGE verdicts and decisions.
    /// FLAG, ESCALATE, BLOCK, approvals and drop counts are always kept.
    pub fn droppable(&self) -> bool {
        matches!(self.kind, EventKind::Verdict | EventKind::Decision)
            && matches!(self.intervention.as_deref(), Some("ok" | "nudge"))
    }

    /// One JSON line, without the newline.
    pub fn to_json_line(&self) -> String {
        // Serialising plain strings, numbers and maps cannot fail; a non-finite float would be
        // written as null by serde_json rather than erroring.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(
                r#"{{"v":{SCHEMA_VERSION},"kind":"error","error":{:?}}}"#,
                e.to_string()
            )
        })
    }

    /// Reads an event back from one JSON line.
    pub fn from_json_line(line: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(line)
    }
}

fn collect_texts<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) | Value::Number(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| collect_texts(i, out)),
        Value::Object(entries) => entries.iter().for_each(|(_, i)| collect_texts(i, out)),
        Value::Null | Value::Bool(_) => {}
    }
}

/// A presented approval token is a bearer secret: should a message quote it, it is cut out.
fn scrub_token(message: String, token: Option<&str>) -> String {
    match token {
        Some(t) if !t.is_empty() && message.contains(t) => message.replace(t, "[token]"),
        _ => message,
    }
}

/// An operator message masked, then with every known identifier replaced by its pseudonym
/// (in that order, so masking never mangles a pseudonym).
fn scrub(privacy: &Privacy, message: &str, ids: &[&str]) -> String {
    let mut out = if privacy.keeps_raw_text() {
        message.to_owned()
    } else {
        super::privacy::redact(message)
    };
    for id in ids {
        if out.contains(id) {
            out = out.replace(id, &privacy.pseudonym(id));
        }
    }
    out
}

fn params_json(
    privacy: &Privacy,
    raw: &RawParams,
    tool: &str,
    key: Option<&str>,
    v: &Value,
) -> Json {
    let keep = key.is_some_and(|k| raw.keeps(tool, k));
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) | Value::String(n) if keep => Json::String(n.clone()),
        Value::Number(n) | Value::String(n) => Json::String(privacy.pseudonym(n)),
        Value::Array(items) => Json::Array(
            items
                .iter()
                .map(|i| params_json(privacy, raw, tool, key, i))
                .collect(),
        ),
        Value::Object(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, i)| (k.clone(), params_json(privacy, raw, tool, Some(k), i)))
                .collect(),
        ),
    }
}
