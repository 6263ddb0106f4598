//! Holds the workspace integration tests (see the `[[test]]` targets).
