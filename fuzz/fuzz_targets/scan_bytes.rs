#![no_main]
//! See guard_fuzz_harness::scan_bytes (fuzz-harness/src) for what this target checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(broken) = guard_fuzz_harness::scan_bytes(data) {
        panic!("invariant broken: {broken}");
    }
});
