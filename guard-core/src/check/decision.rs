//! Decisions are values, not errors: an intervention plus every reason that led to it.

use std::fmt;

use crate::policy::Mode;

/// What happens to a tool call. Ordered: the strictest of several wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Intervention {
    /// Within limits: runs.
    Ok,
    /// Near a limit or a weak signal: runs, logged with a suggestion to verify.
    Nudge,
    /// Unusual, or a tool marked for review: runs, queued for later review.
    Flag,
    /// Needs a human: held, a ticket goes to the approval queue.
    Escalate,
    /// Violates policy: rejected, with an offer of human escalation.
    Block,
}

impl Intervention {
    /// Lower-case name, as in the JSON contract.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Nudge => "nudge",
            Self::Flag => "flag",
            Self::Escalate => "escalate",
            Self::Block => "block",
        }
    }

    /// Whether a call with this intervention runs in enforce mode.
    pub fn runs(&self) -> bool {
        *self <= Self::Flag
    }
}

impl fmt::Display for Intervention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str().to_ascii_uppercase())
    }
}

/// Customer-facing texts. They never cite limits, totals or detector names: telling a customer
/// "the limit is 750" teaches refund stacking.
pub(crate) mod reply {
    pub const NOT_YOURS: &str =
        "I can only access your own account and orders. Could you double-check the details?";
    pub const SIGN_IN: &str = "Please sign in so I can help with your account.";
    pub const CANNOT_HERE: &str =
        "I'm not able to do that here, but I can connect you with a member of our team who can help.";
    pub const CHECK_DETAILS: &str =
        "I couldn't complete that with the details given. Could you check them, or shall I connect you with a member of our team?";
    pub const SPECIALIST: &str =
        "I've passed this to a specialist who will review it shortly. You'll hear back from us soon.";
    pub const VERIFY_ORDER: &str =
        "I couldn't verify that order on your account. Could you check the order number?";
    pub const UNUSUAL_ACTIVITY: &str =
        "Due to the unusual number of recent issues, I'm connecting you with a specialist.";
    pub const TRY_LATER: &str =
        "I can't complete that right now. Shall I connect you with a member of our team?";
}

/// One rule that fired: a stable code, what the operator is told, what the customer may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub(crate) code: &'static str,
    pub(crate) intervention: Intervention,
    pub(crate) message: String,
    pub(crate) customer_message: &'static str,
}

impl Reason {
    pub(crate) fn new(
        code: &'static str,
        intervention: Intervention,
        message: impl Into<String>,
        customer_message: &'static str,
    ) -> Self {
        Self {
            code,
            intervention,
            message: message.into(),
            customer_message,
        }
    }

    /// Stable machine code, e.g. `cross_customer`, `max_refund_exceeded`.
    pub fn code(&self) -> &'static str {
        self.code
    }
    /// The intervention this rule asks for.
    pub fn intervention(&self) -> Intervention {
        self.intervention
    }
    /// For operators: may cite limits, totals and parameter names.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// For the customer: neutral, never reveals limits or detectors.
    pub fn customer_message(&self) -> &'static str {
        self.customer_message
    }
}

/// The answer of [`crate::Guard::pre_execution_check`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub(crate) intervention: Intervention,
    pub(crate) mode: Mode,
    pub(crate) reasons: Vec<Reason>,
    pub(crate) trust: f64,
    pub(crate) ticket: Option<String>,
}

impl Decision {
    pub(crate) fn from_reasons(mut reasons: Vec<Reason>, mode: Mode, trust: f64) -> Self {
        // Strictest first, so the first reason is the one that decided; stable among equals.
        reasons.sort_by_key(|r| std::cmp::Reverse(r.intervention));
        let intervention = reasons.first().map_or(Intervention::Ok, |r| r.intervention);
        Self {
            intervention,
            mode,
            reasons,
            trust,
            ticket: None,
        }
    }

    /// The intervention: in shadow mode, the one that *would* apply.
    pub fn intervention(&self) -> Intervention {
        self.intervention
    }
    /// Whether the call may run: OK, NUDGE and FLAG run in enforce mode; everything runs in
    /// shadow mode.
    pub fn allowed(&self) -> bool {
        self.mode == Mode::Shadow || self.intervention.runs()
    }
    /// The mode the decision was made in.
    pub fn mode(&self) -> Mode {
        self.mode
    }
    /// Every reason, strictest first.
    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }
    /// Whether a reason with this code fired.
    pub fn has_reason(&self, code: &str) -> bool {
        self.reasons.iter().any(|r| r.code == code)
    }
    /// The customer's trust in `[0, 1]` when the decision was made.
    pub fn trust(&self) -> f64 {
        self.trust
    }
    /// The approval ticket of an ESCALATE, once the approval queue has one.
    pub fn ticket(&self) -> Option<&str> {
        self.ticket.as_deref()
    }
    /// In shadow mode: whether enforcement would have held the call for a human.
    pub fn would_escalate(&self) -> bool {
        self.mode == Mode::Shadow && self.intervention == Intervention::Escalate
    }
    /// In shadow mode: whether enforcement would have rejected the call.
    pub fn would_block(&self) -> bool {
        self.mode == Mode::Shadow && self.intervention == Intervention::Block
    }
    /// What to tell the customer when the call does not run; `None` when it runs.
    pub fn customer_message(&self) -> Option<&'static str> {
        if self.allowed() {
            return None;
        }
        self.reasons.first().map(|r| r.customer_message)
    }
}
