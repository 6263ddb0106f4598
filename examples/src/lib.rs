//! Holds the workspace examples (see `support_desk.rs`).
