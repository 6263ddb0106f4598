//! The audit trail (in progress).
