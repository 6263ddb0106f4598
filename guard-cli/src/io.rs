//! Shared JSON Lines plumbing.
