#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each, one after another, one libFuzzer process at a time,
# and prints per target the executions, exec/s and libFuzzer's final `cov` and `ft`.
#
#   scripts/fuzz.sh SECONDS [TARGET...]
#
# FUZZ_SANITIZER (default none: the guard's crates forbid `unsafe`, and the targets look for
# panics and broken invariants, so the address sanitizer would mostly cost executions),
# FUZZ_CMIN=1 merges what the run found into the committed corpus (fuzz/corpus/<target>) with
# `cargo fuzz cmin` (one input per covered edge). New inputs of a run go to
# fuzz/target/run-corpus/<target> (ignored by git);
# crashes go to fuzz/artifacts/<target>/. Logs: fuzz/target/logs/<target>.log.
set -euo pipefail

seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
sanitizer=${FUZZ_SANITIZER:-none}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
# The fuzz workspace has its own target dir; a CARGO_TARGET_DIR meant for the main workspace
# must not redirect it.
unset CARGO_TARGET_DIR

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# `cargo fuzz build` takes at most one target: build them all in one go when none was named.
if [ $# -ne 0 ]; then
    for t in "${targets[@]}"; do nice -n 10 cargo +nightly fuzz build -s "$sanitizer" "$t"; done
else
    nice -n 10 cargo +nightly fuzz build -s "$sanitizer"
fi

mkdir -p target/logs
status=0
rows=()
for t in "${targets[@]}"; do
    run="target/run-corpus/$t"
    mkdir -p "$run" "corpus/$t" "seeds/$t" "regressions/$t" "artifacts/$t"
    dict=()
    [ -f "dicts/$t.dict" ] && dict=("-dict=dicts/$t.dict")
    log="target/logs/$t.log"
    echo "== $t: ${seconds}s" >&2
    result=ok
    # The first directory receives new inputs; the committed ones are only read.
    if ! nice -n 10 cargo +nightly fuzz run -s "$sanitizer" "$t" "$run" "corpus/$t" "seeds/$t" \
        "regressions/$t" -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        result=CRASH
        status=1
    fi
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
    rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    rows+=("$(printf '%-15s %6ss %12s %8s %7s %7s  %s' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result")")
    if [ "${FUZZ_CMIN:-0}" = 1 ] && [ "$result" = ok ]; then
        cp -n "$run"/* "corpus/$t/" 2>/dev/null || true
        # One input per covered edge, chosen by set cover: a few hundred files, not thousands.
        nice -n 10 cargo +nightly fuzz cmin -s "$sanitizer" "$t" "corpus/$t" -- -use_counters=0 \
            -set_cover_merge=1 >"target/logs/$t.cmin.log" 2>&1
    fi
done

printf '%-15s %7s %12s %8s %7s %7s  %s\n' target time execs exec/s cov ft result
printf '%s\n' "${rows[@]}"
exit "$status"
