//! The pre-execution check: may this tool call run?
//!
//! `tool call ─► policy ─► isolation + ownership ─► tripwires ─► Decision`

mod call;
mod decision;
mod guard;
mod isolation;
mod limits;
mod overrides;
mod ownership;
mod session;
mod stateful;
mod value;

pub use call::{CallId, ToolCall};
pub(crate) use decision::reply;
pub use decision::{Decision, Intervention, Reason};
pub use guard::{Alert, Guard, GuardBuilder, GuardError};
pub use overrides::{Overrides, Tripwire};
pub use ownership::{MemoryOwnership, Ownership, OwnershipError};
pub use session::Session;
pub use stateful::Outcome;
pub use value::Value;
