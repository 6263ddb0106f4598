//! The facade: one `Guard` per blueprint, shared by every conversation.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use thiserror::Error;

use crate::policy::{Blueprint, BlueprintError, ToolKind};
use crate::scan::{ScanError, Scanner, Source, Verdict};

use super::call::ToolCall;
use super::decision::{reply, Decision, Intervention, Reason};
use super::isolation;
use super::limits;
use super::overrides::{Effective, Overrides};
use super::ownership::{NoOwnership, Ownership};
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
    /// The blueprint asks for a store this build cannot provide.
    #[error("store {0:?} is not supported yet: use `memory`")]
    UnsupportedStore(String),
}

/// Builds a [`Guard`].
///
/// ```
/// use guard_core::{Blueprint, Guard, MemoryOwnership};
/// let mut owners = MemoryOwnership::new();
/// owners.insert("order", "A-100", "C-1");
/// let guard = Guard::builder()
///     .blueprint(Blueprint::embedded_default()?)
///     .ownership(owners)
///     .build()?;
/// assert_eq!(guard.blueprint().name(), "customer-service-v1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct GuardBuilder {
    blueprint: Option<Blueprint>,
    ownership: Option<Box<dyn Ownership>>,
}

impl std::fmt::Debug for GuardBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardBuilder")
            .field("blueprint", &self.blueprint.as_ref().map(Blueprint::name))
            .field("ownership", &self.ownership.is_some())
            .finish()
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

    /// Compiles the scanner and freezes the policy.
    pub fn build(self) -> Result<Guard, GuardError> {
        let blueprint = match self.blueprint {
            Some(bp) => bp,
            None => Blueprint::embedded_default()?,
        };
        if blueprint.store.url != "memory" {
            return Err(GuardError::UnsupportedStore(redact_url(
                &blueprint.store.url,
            )));
        }
        let scanner = Scanner::new(&blueprint.scanner)?;
        Ok(Guard {
            inner: Arc::new(Inner {
                blueprint,
                scanner,
                ownership: self.ownership.unwrap_or_else(|| Box::new(NoOwnership)),
                history: Mutex::new(History::default()),
            }),
        })
    }
}

/// Strips credentials from a store URL before it appears in any message.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!(
            "{}://***@{}",
            url.get(..scheme).unwrap_or(""),
            url.get(at + 1..).unwrap_or("")
        ),
        _ => url.to_owned(),
    }
}

/// The guard: a compiled blueprint, a scanner and the state around them. Cheap to clone and
/// share across threads.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

struct Inner {
    blueprint: Blueprint,
    scanner: Scanner,
    ownership: Box<dyn Ownership>,
    history: Mutex<History>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("blueprint", &self.inner.blueprint.name)
            .finish_non_exhaustive()
    }
}

/// Recent messages per session, so an instruction split across messages is seen. Bounded in
/// sessions and messages: old sessions are forgotten first.
#[derive(Default)]
struct History {
    sessions: HashMap<String, VecDeque<String>>,
    order: VecDeque<String>,
}

const HISTORY_MESSAGES: usize = 4;
const HISTORY_SESSIONS: usize = 100_000;
const HISTORY_MESSAGE_BYTES: usize = 4096;

impl History {
    fn recent(&self, session: &str) -> Vec<String> {
        self.sessions
            .get(session)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn push(&mut self, session: &str, text: &str) {
        if !self.sessions.contains_key(session) {
            if self.order.len() >= HISTORY_SESSIONS {
                if let Some(old) = self.order.pop_front() {
                    self.sessions.remove(&old);
                }
            }
            self.order.push_back(session.to_owned());
        }
        let queue = self.sessions.entry(session.to_owned()).or_default();
        if queue.len() >= HISTORY_MESSAGES {
            queue.pop_front();
        }
        // Only the tail matters for a split instruction; bound what each session holds.
        let mut start = text.len().saturating_sub(HISTORY_MESSAGE_BYTES);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        queue.push_back(text.get(start..).unwrap_or("").to_owned());
    }
}

impl Guard {
    /// Starts a builder.
    pub fn builder() -> GuardBuilder {
        GuardBuilder::default()
    }

    /// The blueprint in force.
    pub fn blueprint(&self) -> &Blueprint {
        &self.inner.blueprint
    }

    /// Scans text with no session context.
    pub fn scan_text(&self, text: &str, source: Source) -> Verdict {
        self.inner.scanner.scan(text, source)
    }

    /// Scans a customer message in a session: the message alone and joined with the session's
    /// recent messages. A blocked message never reaches the model: show the customer
    /// [`Verdict::reply`] instead.
    pub fn scan_message(&self, session_id: &str, text: &str) -> Verdict {
        self.scan_in_session(session_id, text, Source::Customer)
    }

    /// Scans a tool's output before it is fed back to the model.
    pub fn scan_tool_output(&self, session_id: &str, text: &str) -> Verdict {
        self.scan_in_session(session_id, text, Source::ToolOutput)
    }

    fn scan_in_session(&self, session_id: &str, text: &str, source: Source) -> Verdict {
        let recent = self.inner.history.lock().recent(session_id);
        let refs: Vec<&str> = recent.iter().map(String::as_str).collect();
        let verdict = self.inner.scanner.scan_in_context(text, &refs, source);
        if source == Source::Customer
            && text.len() <= self.inner.blueprint.scanner.max_message_bytes
        {
            self.inner.history.lock().push(session_id, text);
        }
        verdict
    }

    /// Decides whether `call` may run. Never panics and never errors: every problem, including
    /// malformed parameters and a failing owner lookup, is a BLOCK with its reason.
    pub fn pre_execution_check(&self, call: &ToolCall) -> Decision {
        self.check_with(call, None)
    }

    /// The check with a `#[guard]` attribute's limits folded in (strictest wins).
    pub(crate) fn check_with(&self, call: &ToolCall, overrides: Option<&Overrides>) -> Decision {
        let bp = &self.inner.blueprint;
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

        match tool.kind {
            ToolKind::Refund => match limits::amount(bp, tool, params) {
                Ok(Some(amount)) => {
                    limits::refund_limits(
                        &limits.tripwires,
                        limits.approval_above,
                        amount,
                        &mut reasons,
                    );
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

        Decision::from_reasons(reasons, bp.mode, 1.0)
    }

    /// Settles a call that ran: `ok` commits its reservation, otherwise releases it.
    /// (Reservations arrive with the rolling-limit store; until then there is nothing to settle.)
    pub(crate) fn settle_call(&self, _call_id: &str, _ok: bool) {}

    fn check_ownership(&self, call: &ToolCall, reasons: &mut Vec<Reason>) {
        let tool = self.inner.blueprint.tool(call.tool());
        let customer = call.session().customer_id();
        for (param, kind) in &tool.owned_params {
            let ids: Vec<&str> = match call.params().get(param) {
                None | Some(Value::Null) => {
                    reasons.push(Reason::new(
                        "missing_param",
                        Intervention::Block,
                        format!("missing parameter `{param}` (a {kind} id)"),
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
