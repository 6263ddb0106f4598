//! The bodies of the fuzz targets, as plain functions from bytes to a verdict.
//!
//! `fuzz/` (a libFuzzer workspace on nightly) calls them from its `fuzz_target!`s, and
//! `tests/fuzz_replay.rs` (stable, `cargo test`) calls them on every committed corpus file and
//! crash reproducer, so CI catches a regression without fuzzing.
//!
//! Each target returns `Err` with a description when an invariant breaks; a panic is reported by
//! whoever runs it (libFuzzer, or the replay test's `catch_unwind`). Targets must be
//! deterministic: state is built afresh for every input, only immutable compiled data (the
//! default scanner) is shared.

mod blueprint;
mod input;
mod jsonl;
mod literals;
mod scan;
mod stateful;

/// What a target says about one input: `Err` names the broken invariant.
pub type Check = Result<(), String>;

/// One fuzz target: its name (the directory of its corpus under `fuzz/corpus/`) and its body.
pub type Target = (&'static str, fn(&[u8]) -> Check);

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("scan_bytes", scan::scan_bytes),
    ("scan_unicode", scan::scan_unicode),
    ("blueprint_yaml", blueprint::blueprint_yaml),
    ("literals", literals::literals),
    ("check_jsonl", jsonl::check_jsonl),
    ("stateful", stateful::stateful),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<fn(&[u8]) -> Check> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

pub use blueprint::blueprint_yaml;
pub use jsonl::check_jsonl;
pub use literals::literals;
pub use scan::{scan_bytes, scan_unicode};
pub use stateful::stateful;

/// `Err(message)` unless `cond` holds.
fn ensure(cond: bool, message: impl FnOnce() -> String) -> Check {
    if cond {
        Ok(())
    } else {
        Err(message())
    }
}

/// A score the library promises to keep in `[0, 1]`.
fn unit_interval(x: f64, what: &str) -> Check {
    ensure(x.is_finite() && (0.0..=1.0).contains(&x), || {
        format!("{what} {x} outside [0, 1]")
    })
}
