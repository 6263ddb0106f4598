#![no_main]
//! See guard_fuzz_harness::literals (fuzz-harness/src) for what this target checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(broken) = guard_fuzz_harness::literals(data) {
        panic!("invariant broken: {broken}");
    }
});
