//! The part of the check that needs history: approval tokens, rolling totals, frequency,
//! takeover, trust, session signals, and the ticket of an escalation.
//!
//! Order matters: the stateless reasons decide whether the store may reserve (`Admit`), so
//! the reservation and the decision always agree; a token is consumed only when no stateless
//! rule blocks the call anyway.

use crate::money::Money;
use crate::policy::{Mode, OnStoreUnavailable, ToolKind, ToolPolicy};
use crate::signals::{ReasoningInput, LOW_QUALITY_REASONING, SENTIMENT_SHIFT};
use crate::store::{
    canonical_args, canonical_args_with_money, Admit, Penalty, PenaltyReceipt, Reservation,
    ReservationState, ReserveRequest, SessionSnapshot, StoreError, TicketRequest, Timestamp,
    TokenCheck,
};

use super::call::ToolCall;
use super::decision::{reply, Decision, Intervention, Reason};
use super::guard::{Alert, Inner};
use super::overrides::Effective;

/// How a call that ran ended, for [`crate::Guard::settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ran: commit its reservation.
    Ok,
    /// It failed: release its reservation.
    Failed,
}

fn store_unavailable(e: &StoreError) -> Reason {
    Reason::new(
        "store_unavailable",
        Intervention::Block,
        format!("the guard's state could not be reached: {e}"),
        reply::TRY_LATER,
    )
}

/// The state a check needs is out of reach: BLOCK, unless this read tool is configured to run
/// anyway (`on_store_unavailable: allow`, which the loader accepts only on read tools).
fn unavailable(tool: &ToolPolicy, what: &str, e: &StoreError) -> Reason {
    match tool.on_store_unavailable {
        OnStoreUnavailable::Allow => Reason::new(
            "store_unavailable_allowed",
            Intervention::Nudge,
            format!("{what} could not be read ({e}); this read tool runs anyway (on_store_unavailable: allow)"),
            reply::TRY_LATER,
        ),
        OnStoreUnavailable::Block => Reason::new(
            "store_unavailable",
            Intervention::Block,
            format!("{what} could not be read: {e}"),
            reply::TRY_LATER,
        ),
    }
}

/// What the customer is told for a store finding (never a limit or a total).
fn customer_text(code: &str) -> &'static str {
    match code {
        c if c.ends_with("_frequency") => reply::UNUSUAL_ACTIVITY,
        "takeover_pattern" | "trust_escalate" => reply::SPECIALIST,
        _ => reply::CANNOT_HERE,
    }
}

fn strictest(reasons: &[Reason]) -> Intervention {
    reasons
        .iter()
        .map(|r| r.intervention)
        .max()
        .unwrap_or(Intervention::Ok)
}

pub(crate) fn decide(
    inner: &Inner,
    call: &ToolCall,
    tool: &ToolPolicy,
    limits: &Effective<'_>,
    amount: Option<Money>,
    now: Timestamp,
    mut reasons: Vec<Reason>,
) -> Decision {
    let bp = &inner.blueprint;
    let session = call.session();
    let customer = session.customer_id();
    let kind = tool.kind;
    let money_action = matches!(kind, ToolKind::Refund | ToolKind::Discount);
    let generated;
    let call_id = match call.id() {
        Some(id) => id,
        None => {
            generated = crate::guarded::private::next_call_id(call.tool());
            generated.as_str()
        }
    };

    // Conversation signals: they FLAG, never block. One read serves the whole check; without
    // it a money action cannot know whether an earlier message (on any instance) flagged the
    // session, so it BLOCKs.
    let sid = session.session_id();
    let mut snapshot: Option<SessionSnapshot> = None;
    if money_action || call.reasoning().is_some() {
        match inner.sessions.snapshot(sid, now) {
            Ok(s) => snapshot = Some(s),
            Err(e) => reasons.push(unavailable(tool, "the session's state", &e)),
        }
    }
    if let (true, Some(s)) = (money_action, snapshot.as_ref()) {
        let threshold = limits.tripwires.sentiment_shift_threshold.as_f64();
        if let Some(rule) = s.flag() {
            reasons.push(Reason::new(
                "session_flagged",
                Intervention::Flag,
                format!(
                    "an earlier message in this session raised a weak injection signal ({rule})"
                ),
                reply::CANNOT_HERE,
            ));
        }
        let mood = s.sentiment();
        if mood.shift_exceeds(threshold) {
            reasons.push(Reason::new(
                SENTIMENT_SHIFT,
                Intervention::Flag,
                format!("the customer's sentiment swung by {:.2} (threshold {threshold:.2}) before this money action", mood.shift()),
                reply::CANNOT_HERE,
            ));
        }
    }
    let mut reasoning_score = None;
    if let Some(text) = call.reasoning() {
        let recent: &[String] = snapshot.as_ref().map_or(&[], SessionSnapshot::recent);
        let mut input = ReasoningInput::new(text, call.tool(), call.params())
            .with_currency(bp.currency)
            .with_customer_messages(recent.iter().map(String::as_str));
        if let Some(p) = tool.amount_param.as_deref() {
            input = input.with_amount_param(p);
        }
        if let Some(p) = tool.percent_param.as_deref() {
            input = input.with_percent_param(p);
        }
        let score = inner.judge.judge(&input);
        if score.is_low() {
            let findings: Vec<String> = score.findings().iter().map(ToString::to_string).collect();
            reasons.push(Reason::new(
                LOW_QUALITY_REASONING,
                Intervention::Flag,
                format!(
                    "the agent's reasoning scores {:.2}: {}",
                    score.score(),
                    findings.join("; ")
                ),
                reply::CANNOT_HERE,
            ));
        }
        reasoning_score = Some(score.score());
    }

    // Canonical arguments bind tokens and tickets to exactly this call.
    let canonical = || match tool.amount_param.as_deref() {
        // A malformed amount already BLOCKs; the plain form still binds the arguments.
        Some(p) => canonical_args_with_money(call.params(), p, bp.currency)
            .unwrap_or_else(|_| canonical_args(call.params())),
        None => canonical_args(call.params()),
    };

    let mut waived: Vec<String> = Vec::new();
    if let Some(token) = call.approval() {
        if strictest(&reasons) == Intervention::Block {
            // Not spent on a call other rules block: the reviewer's approval stays usable.
            reasons.push(Reason::new(
                "approval_unused",
                Intervention::Ok,
                "an approval token was presented but not used: the call is blocked by other rules",
                reply::CANNOT_HERE,
            ));
        } else {
            match inner
                .approvals
                .consume(token, call.tool(), customer, &canonical(), now)
            {
                Ok(TokenCheck::Accepted(w)) => {
                    waived = w.waived().to_vec();
                    reasons.retain(|r| {
                        !(r.intervention == Intervention::Escalate
                            && waived.iter().any(|c| c == r.code))
                    });
                    reasons.push(Reason::new(
                        "approved",
                        Intervention::Ok,
                        format!(
                            "approved on ticket {} (waives {})",
                            w.ticket(),
                            waived.join(", ")
                        ),
                        reply::SPECIALIST,
                    ));
                }
                Ok(TokenCheck::Refused(r)) => reasons.push(Reason::new(
                    "approval_refused",
                    Intervention::Escalate,
                    format!("the approval token was refused: {}", r.as_str()),
                    reply::SPECIALIST,
                )),
                Err(e) => reasons.push(store_unavailable(&e)),
            }
        }
    }

    let mut trust = 1.0;
    // Whether this check made a new reservation. A retry's `Existing` reservation belongs to the
    // first try, which was allowed and may have run: denying the retry must not release it.
    let mut reserved_now = false;
    if session.is_authenticated() && kind.is_sensitive() {
        let admit = match (bp.mode, strictest(&reasons).runs()) {
            (Mode::Shadow, _) => Admit::Always,
            (Mode::Enforce, true) => Admit::IfClear,
            (Mode::Enforce, false) => Admit::Never,
        };
        let tw = &*limits.tripwires;
        let mut req = ReserveRequest::from_blueprint(bp, call_id, customer, call.agent_id(), kind)
            .admit(admit)
            .nudge_ratio(tw.nudge_ratio)
            .waive(waived.iter().map(String::as_str));
        if kind == ToolKind::Refund {
            // A #[guard] attribute may have tightened these: the effective values apply.
            req = req
                .daily_limit(tw.daily_user_refund_limit)
                .weekly_limit(tw.weekly_user_refund_limit)
                .agent_hourly_limit(tw.agent_hourly_refund_limit)
                .frequency_threshold(tw.refund_frequency_threshold);
        }
        if kind != ToolKind::Refund {
            if let Some(n) = tw.frequency_threshold(kind) {
                req = req.frequency_threshold(n);
            }
        }
        if matches!(kind, ToolKind::Refund | ToolKind::DataExport) {
            req = req.takeover_window(tw.takeover_window);
        }
        if let Some(a) = amount {
            req = req.amount(a);
        }
        match inner.store.check_and_reserve(&req, now) {
            Ok(facts) => {
                trust = facts.trust();
                reserved_now = facts.reservation() == Reservation::Reserved;
                // A retry of a call that already holds its place is not held again.
                let retry = matches!(
                    facts.reservation(),
                    Reservation::Existing(
                        ReservationState::Pending
                            | ReservationState::Committed
                            | ReservationState::Expired
                    )
                );
                for f in facts.findings() {
                    if retry && f.intervention() >= Intervention::Escalate {
                        continue;
                    }
                    if f.code() == "agent_hourly_limit_exceeded" {
                        inner.alert(Alert {
                            at: now,
                            code: f.code(),
                            agent: call.agent_id().to_owned(),
                            message: f.message().to_owned(),
                        });
                    }
                    reasons.push(Reason::new(
                        f.code(),
                        f.intervention(),
                        f.message(),
                        customer_text(f.code()),
                    ));
                }
            }
            Err(e) => reasons.push(store_unavailable(&e)),
        }
    } else if session.is_authenticated() {
        match inner.store.trust(customer, bp.trust.half_life, now) {
            Ok(t) => trust = t,
            Err(e) => reasons.push(unavailable(tool, "the customer's trust", &e)),
        }
    }

    // One trust penalty per decision: the strongest its reasons carry.
    let mut receipt: Option<PenaltyReceipt> = None;
    if session.is_authenticated() {
        let strongest = inner
            .penalties
            .strongest(reasons.iter().map(|r| r.code))
            .filter(|(_, p)| *p > 0.0);
        if let Some((code, amount)) = strongest {
            match inner
                .store
                .penalize(customer, Penalty { code, amount }, bp.trust.half_life, now)
            {
                Ok(r) => {
                    receipt = r;
                    if let Ok(t) = inner.store.trust(customer, bp.trust.half_life, now) {
                        trust = t;
                    }
                }
                Err(e) => reasons.push(store_unavailable(&e)),
            }
        }
    }

    let flag_seen = snapshot
        .as_ref()
        .filter(|s| s.flag().is_some())
        .map(SessionSnapshot::flag_seq);
    let mut decision = Decision::from_reasons(reasons, bp.mode, trust);
    if decision.intervention == Intervention::Escalate && bp.mode == Mode::Enforce {
        let mut req = TicketRequest::new(call.tool(), customer, canonical())
            .agent(call.agent_id())
            .session(session.session_id())
            .call_id(call_id)
            .trust(
                trust,
                inner.store.trust_history(customer).unwrap_or_default(),
            );
        for r in &decision.reasons {
            req = req.reason(r.code, r.intervention, r.message.clone());
        }
        let verdicts = match snapshot.take() {
            Some(s) => Ok(s.verdicts),
            None => inner.sessions.snapshot(sid, now).map(|s| s.verdicts),
        };
        match verdicts {
            Ok(lines) => {
                for line in lines {
                    req = req.scan_summary(line);
                }
            }
            // The reviewer still decides; they learn the conversation's summaries are missing.
            Err(e) => req = req.scan_summary(format!("session state unavailable: {e}")),
        }
        if let Some(text) = call.reasoning() {
            req = req.reasoning(text, reasoning_score);
        }
        if let Some(r) = receipt {
            req = req.penalty(r);
        }
        match inner.approvals.open(req, now) {
            Ok(ticket) => decision.ticket = Some(ticket.id().to_owned()),
            Err(e) => {
                let mut reasons = decision.reasons;
                reasons.push(store_unavailable(&e));
                decision = Decision::from_reasons(reasons, bp.mode, trust);
            }
        }
    }
    if reserved_now && !decision.allowed() {
        // Only a late store failure can get here; the reservation must not outlive the denial.
        let _ = inner.store.release(call_id, now);
    }
    if money_action && decision.allowed() {
        if let Some(seq) = flag_seen {
            // A failure leaves the flag set: the next money action FLAGs again (safe side).
            let _ = inner.sessions.clear_flag(sid, seq, now);
        }
    }
    decision
}
