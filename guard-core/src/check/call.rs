//! A tool call the agent wants to make.

use std::time::SystemTime;

use super::session::Session;
use super::value::Value;

/// Identifies a call for settlement and idempotency (a retried call keeps its id).
pub type CallId = String;

/// A tool call, as the agent asked for it.
///
/// ```
/// use guard_core::{Session, ToolCall, Value};
/// let call = ToolCall::new("support-bot-prod", "lookup_order", Session::authenticated("C-1", "s-1"))
///     .with_id("call-7")
///     .with_params(Value::object().with("customer_id", "C-1").with("order_id", "A-100"));
/// assert_eq!(call.tool(), "lookup_order");
/// assert_eq!(call.params().get("order_id").and_then(Value::as_text), Some("A-100"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    agent_id: String,
    tool: String,
    session: Session,
    id: Option<CallId>,
    params: Value,
    reasoning: Option<String>,
    approval: Option<String>,
    at: Option<SystemTime>,
}

impl ToolCall {
    /// A call of `tool` by agent `agent_id` in `session`, with no parameters yet.
    pub fn new(agent_id: impl Into<String>, tool: impl Into<String>, session: Session) -> Self {
        Self {
            agent_id: agent_id.into(),
            tool: tool.into(),
            session,
            id: None,
            params: Value::object(),
            reasoning: None,
            approval: None,
            at: None,
        }
    }

    /// Sets the parameters (a `serde_json::Value` or a [`Value`]).
    pub fn with_params(mut self, params: impl Into<Value>) -> Self {
        self.params = params.into();
        self
    }
    /// Sets the call id.
    pub fn with_id(mut self, id: impl Into<CallId>) -> Self {
        self.id = Some(id.into());
        self
    }
    /// Attaches the agent's stated reasoning.
    pub fn with_reasoning(mut self, text: impl Into<String>) -> Self {
        self.reasoning = Some(text.into());
        self
    }
    /// Presents an approval token.
    pub fn with_approval(mut self, token: impl Into<String>) -> Self {
        self.approval = Some(token.into());
        self
    }
    /// Sets the time of the call (otherwise the guard's clock).
    pub fn with_time(mut self, at: SystemTime) -> Self {
        self.at = Some(at);
        self
    }

    /// The calling agent.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }
    /// The tool name.
    pub fn tool(&self) -> &str {
        &self.tool
    }
    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }
    /// The call id, if set.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    /// The parameter tree.
    pub fn params(&self) -> &Value {
        &self.params
    }
    /// The agent's reasoning, if given.
    pub fn reasoning(&self) -> Option<&str> {
        self.reasoning.as_deref()
    }
    /// The approval token, if presented.
    pub fn approval(&self) -> Option<&str> {
        self.approval.as_deref()
    }
    /// The call's time, if set.
    pub fn time(&self) -> Option<SystemTime> {
        self.at
    }
}
