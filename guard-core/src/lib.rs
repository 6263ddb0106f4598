//! guard: an in-process guard for AI customer-support agents.
//!
//! It does two jobs, in microseconds and with no network hop:
//! 1. [`Guard::scan_message`] scans every customer message (and tool output fed back to the
//!    model) for prompt injection before the model sees it.
//! 2. [`Guard::pre_execution_check`] decides whether a tool call (refund, discount, address
//!    change, data export) may run: one of five [`Intervention`]s, with every reason.
//!
//! ```
//! use guard_core::{Guard, Session, ToolCall, Intervention};
//! use serde_json::json;
//!
//! let guard = Guard::builder().build()?; // the embedded default blueprint
//! let session = Session::authenticated("C-1001", "sess-1");
//! let call = ToolCall::new("support-bot-prod", "apply_discount", session)
//!     .with_params(json!({ "customer_id": "C-1001", "percent": 25 }));
//! let decision = guard.pre_execution_check(&call);
//! assert_eq!(decision.intervention(), Intervention::Block);
//! assert!(!decision.allowed());
//! # Ok::<(), guard_core::GuardError>(())
//! ```
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod audit;
mod bounded_read;
mod check;
mod guarded;
mod money;
mod policy;
pub mod scan;
pub mod signals;
pub mod store;
mod tier;

pub use check::{
    Alert, CallId, Decision, Guard, GuardBuilder, GuardError, Intervention, MemoryOwnership,
    Outcome, Ownership, OwnershipError, Reason, Session, ToolCall, Value,
};
pub use guarded::{Denial, GuardContext, ToParam};
pub use money::{Currency, Money, MoneyError, Ratio};
pub use policy::{
    ApprovalPolicy, Blueprint, BlueprintError, BlueprintErrorKind, CustomPattern, Mode,
    ModelChoice, OnStoreUnavailable, ScannerPolicy, StorePolicy, ToolKind, ToolPolicy, Tripwires,
    TrustPolicy, DEFAULT_BLUEPRINT_YAML,
};
pub use scan::{Scanner, Signal, Source, Verdict};
pub use tier::{AclTier, TierError};

/// Wraps a tool handler with the pre-execution check. See the crate README.
#[cfg(feature = "macros")]
pub use guard_macros::guard;
/// Derives [`ToParam`] for id newtypes and parameter structs.
#[cfg(feature = "macros")]
pub use guard_macros::ToParam;

/// The README's Rust examples, compiled and run as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Not public API: used by code the `#[guard]` macro generates. No semver guarantees.
#[doc(hidden)]
pub mod __private {
    pub use crate::check::{Overrides, Value};
    pub use crate::guarded::private::*;
    pub use crate::guarded::{Denial, GuardContext, ToParam};
}
