#!/usr/bin/env bash
# Realtime benchmark: N subscribers in K security contexts, M inserted rows/s through RLS.
# Usage: bench/realtime/run.sh [N:K:M ...] [--seconds S]
# Prints a Markdown table (also written to bench/realtime/results.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p basalt-realtime --example realtime_bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
./target/release/examples/realtime_bench "$@" | tee bench/realtime/results.md
