#![no_main]
//! See guard_fuzz_harness::check_jsonl (fuzz-harness/src) for what this target checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(broken) = guard_fuzz_harness::check_jsonl(data) {
        panic!("invariant broken: {broken}");
    }
});
