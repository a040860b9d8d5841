#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30), one after another, from the committed
# seeds in fuzz/corpus/<target>/ (new inputs go to a scratch corpus, not to the repository).
# Needs nightly and cargo-fuzz: `cargo install cargo-fuzz --locked`.
# A finding stops the script with a non-zero status; the input is in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-30}"
TARGETS=(handles interfaces packet_path igmp mgmd_config control_request)
# Optimised, with debug assertions and overflow checks on (-a): an arithmetic overflow the
# engine lets through is a finding, not a silent wrap.
cargo +nightly fuzz build -O -a
for t in "${TARGETS[@]}"; do
    scratch="$(mktemp -d)"
    echo "==> fuzz ${t} for ${SECONDS_EACH}s"
    cargo +nightly fuzz run -O -a "$t" "$scratch" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    rm -rf "$scratch"
done
