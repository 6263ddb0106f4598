#![no_main]
//! See guard_fuzz_harness::stateful (fuzz-harness/src) for what this target checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(broken) = guard_fuzz_harness::stateful(data) {
        panic!("invariant broken: {broken}");
    }
});
