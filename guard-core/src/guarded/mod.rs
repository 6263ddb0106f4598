//! What the `#[guard]` attribute needs from the library: where the guard and session come
//! from ([`GuardContext`]), how parameters become the call's parameter tree ([`ToParam`]), and
//! what a denied call returns ([`Denial`]).

mod param;
#[doc(hidden)]
pub mod private;

use std::fmt;

use crate::check::{Decision, Guard, Intervention, Session};

pub use param::ToParam;

/// Supplies a guarded tool handler with its guard, session and agent.
///
/// `#[guard]` reads these from the handler's context argument (the parameter named `ctx`, or
/// the expression given as `ctx = ...`).
///
/// ```
/// use guard_core::{Guard, GuardContext, Session};
///
/// struct SupportCtx { guard: Guard, session: Session }
///
/// impl GuardContext for SupportCtx {
///     fn guard(&self) -> &Guard { &self.guard }
///     fn session(&self) -> &Session { &self.session }
///     fn agent_id(&self) -> &str { "support-bot-prod" }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a guard context",
    label = "#[guard] takes the guard, session and agent from this",
    note = "implement guard_core::GuardContext for the context type, or point the attribute at one with `ctx = <expr>`"
)]
pub trait GuardContext {
    /// The guard that checks the call.
    fn guard(&self) -> &Guard;
    /// The session the call is made in.
    fn session(&self) -> &Session;
    /// The agent making the call (must be in the blueprint's `agents`).
    fn agent_id(&self) -> &str;
    /// An approval token for this call, when a reviewer approved an earlier escalation.
    fn approval(&self) -> Option<&str> {
        None
    }
    /// Sees every decision of a guarded call, allowed or not: the place to log a NUDGE's
    /// suggestion or queue a FLAG for review. Does nothing by default.
    fn on_decision(&self, decision: &crate::check::Decision) {
        let _ = decision;
    }
}

/// References and shared pointers to a context are contexts.
macro_rules! forward_context {
    ($($ptr:ty),*) => {$(
        impl<T: GuardContext + ?Sized> GuardContext for $ptr {
            fn guard(&self) -> &Guard {
                (**self).guard()
            }
            fn session(&self) -> &Session {
                (**self).session()
            }
            fn agent_id(&self) -> &str {
                (**self).agent_id()
            }
            fn approval(&self) -> Option<&str> {
                (**self).approval()
            }
            fn on_decision(&self, decision: &crate::check::Decision) {
                (**self).on_decision(decision);
            }
        }
    )*};
}
forward_context!(&T, &mut T, std::sync::Arc<T>, Box<T>);

/// A guarded call that did not run: BLOCK, or ESCALATE held for a human. Guarded handlers
/// return `Err(E::from(denial))`, so their error type implements `From<Denial>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    decision: Decision,
}

impl Denial {
    pub(crate) fn new(decision: Decision) -> Self {
        Self { decision }
    }
    /// The full decision, with every reason.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }
    /// BLOCK or ESCALATE.
    pub fn intervention(&self) -> Intervention {
        self.decision.intervention()
    }
    /// The approval ticket of an ESCALATE.
    pub fn ticket(&self) -> Option<&str> {
        self.decision.ticket()
    }
    /// What to tell the customer.
    pub fn customer_message(&self) -> &'static str {
        self.decision
            .customer_message()
            .unwrap_or(crate::check::reply::CANNOT_HERE)
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tool call denied ({})", self.decision.intervention())?;
        let codes: Vec<&str> = self.decision.reasons().iter().map(|r| r.code()).collect();
        if !codes.is_empty() {
            write!(f, ": {}", codes.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Denial {}
