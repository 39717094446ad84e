#!/usr/bin/env bash
# Build the shipped rcrun-monitor and rcrun-pause: statically linked, with the
# size-optimised `release-oci` profile (opt-level "s", fat LTO, panic=abort,
# stripped), so each running container's monitor and each sandbox's pause
# process map and touch as few pages as possible. Prints the binaries' paths.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --profile release-oci --target "$host" -p rcrun-monitor --bins >&2
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
echo "$target_dir/$host/release-oci/rcrun-monitor"
echo "$target_dir/$host/release-oci/rcrun-pause"
