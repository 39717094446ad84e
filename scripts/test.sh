#!/usr/bin/env bash
# The test command: build every binary, then run unit and integration tests (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --workspace --bins
cargo test --workspace "$@"
