#!/usr/bin/env bash
# Fuzz the open-and-decode path for a bounded time (default 60 s), seeded with the
# committed fixtures. Needs cargo-fuzz (`cargo install cargo-fuzz`); works on the stable
# toolchain through RUSTC_BOOTSTRAP=1 (cargo-fuzz passes nightly-only sanitizer flags).
# Usage: sources/fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
mkdir -p corpus/open_and_decode
RUSTC_BOOTSTRAP=1 cargo fuzz run open_and_decode corpus/open_and_decode ../fixtures \
  -- -max_total_time="$secs" -max_len=65536 -rss_limit_mb=1024 -timeout=10
