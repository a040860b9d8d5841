#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30), from the committed seeds in
# fuzz/corpus/<target>/ (new inputs go to a scratch corpus, not to the repository), JOBS targets
# at a time (default: the number of cores; each libFuzzer run uses one).
# Needs nightly and cargo-fuzz: `cargo install cargo-fuzz --locked`.
# A finding makes the script exit non-zero once every run has ended; the input is in
# fuzz/artifacts/<target>/ and the run's output is printed.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-30}"
JOBS="${JOBS:-$(nproc)}"
TARGETS=(handles interfaces packet_path igmp mld proxy mgmd_config control_request kernel_upcall link_messages)
# Optimised, with debug assertions and overflow checks on (-a): an arithmetic overflow the
# engine lets through is a finding, not a silent wrap. cargo-fuzz compiles each crate as one
# codegen unit unless told otherwise, which leaves one of the two cores idle whenever a large
# crate is alone on the build's critical path; 16 units let it use both, for a slower fuzzing
# loop (cross-unit inlining is lost), which a short run can afford. `FUZZ_CGU=1` restores the
# default for long runs. The run below must pass the same flags, or it rebuilds.
FLAGS=(-O -a --codegen-units "${FUZZ_CGU:-16}")
cargo +nightly fuzz build "${FLAGS[@]}"

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
fuzz_one() {
    local t="$1" scratch status=0
    scratch="$(mktemp -d)"
    cargo +nightly fuzz run "${FLAGS[@]}" "$t" "$scratch" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$logs/$t.log" 2>&1 || status=$?
    rm -rf "$scratch"
    return "$status"
}
failed=()
i=0
while [ "$i" -lt "${#TARGETS[@]}" ]; do
    lane=("${TARGETS[@]:i:JOBS}")
    pids=()
    for t in "${lane[@]}"; do
        echo "==> fuzz ${t} for ${SECONDS_EACH}s"
        fuzz_one "$t" &
        pids+=("$!")
    done
    for k in "${!lane[@]}"; do
        t="${lane[k]}"
        if wait "${pids[k]}"; then
            grep -E '^(stat::|Done )' "$logs/$t.log" | sed "s/^/$t: /" || true
        else
            failed+=("$t")
            echo "!!! fuzz ${t} found something (or failed to run):"
            tail -n 60 "$logs/$t.log"
        fi
    done
    i=$((i + JOBS))
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: findings in: ${failed[*]}"
    exit 1
fi
echo "fuzz: ${#TARGETS[@]} targets, no findings"
