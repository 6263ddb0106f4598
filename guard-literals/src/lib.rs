//! Strict literal parsing shared by `guard-core`'s blueprint loader and `guard-macros`.
//!
//! This crate is an implementation detail of `guard-core`: the proc-macro crate cannot depend on
//! `guard-core` (which re-exports it), so the parsers that both must agree on live here. Every
//! parser is total: it returns an error for any input and never panics.

mod decimal;
mod duration;
mod tier;

pub use decimal::{parse_decimal, Decimal, DecimalError};
pub use duration::{parse_duration, DurationError};
pub use tier::{parse_tier, TierError, TIER_COUNT};
