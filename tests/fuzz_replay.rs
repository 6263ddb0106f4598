//! Replays every committed fuzz input on stable: the hand-written seeds, the minimized corpus
//! of the fuzzing runs and the crash reproducers under `fuzz/`. The bodies are the same functions
//! the libFuzzer targets call (`guard_fuzz_harness`), so CI catches a regression without
//! fuzzing. An input fails when it panics or its target reports a broken invariant.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Where committed inputs live, per target: `fuzz/{seeds,corpus,regressions}/<target>/`.
const KINDS: &[&str] = &["seeds", "corpus", "regressions"];

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for kind in KINDS {
        let dir = root.join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn replay(target: &str) {
    let body = guard_fuzz_harness::target(target).expect("a known target");
    let files = inputs(target);
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("/seeds/")),
        "no seeds for {target}"
    );
    let mut failures = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        match catch_unwind(AssertUnwindSafe(|| body(&data))) {
            Ok(Ok(())) => {}
            Ok(Err(broken)) => failures.push(format!("{}: {broken}", file.display())),
            Err(_) => failures.push(format!("{}: panicked", file.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {target} inputs failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_target_is_replayed_here() {
    let names: Vec<&str> = guard_fuzz_harness::TARGETS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(
        names,
        [
            "scan_bytes",
            "scan_unicode",
            "blueprint_yaml",
            "literals",
            "check_jsonl",
            "stateful"
        ]
    );
}

#[test]
fn scan_bytes() {
    replay("scan_bytes");
}

#[test]
fn scan_unicode() {
    replay("scan_unicode");
}

#[test]
fn blueprint_yaml() {
    replay("blueprint_yaml");
}

#[test]
fn literals() {
    replay("literals");
}

#[test]
fn check_jsonl() {
    replay("check_jsonl");
}

#[test]
fn stateful() {
    replay("stateful");
}
