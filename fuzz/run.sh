#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) and prints the
# executions and anything found. Needs cargo-fuzz (cargo install
# cargo-fuzz); RUSTC_BOOTSTRAP=1 lets the stable toolchain build with the
# sanitizer flags cargo-fuzz uses.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-60}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
targets=$(cargo fuzz list)
cargo fuzz build -O
for t in $targets; do
    mkdir -p corpus/$t
    log=$(mktemp)
    if cargo fuzz run -O "$t" corpus/$t -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 >"$log" 2>&1; then
        status=ok
    else
        status="FOUND A CRASH (see fuzz/artifacts/$t)"
    fi
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    printf '%-12s %12s execs in %ss  %s\n' "$t" "${execs:-?}" "$SECONDS_EACH" "$status"
    rm -f "$log"
done
