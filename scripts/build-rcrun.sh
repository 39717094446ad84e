#!/usr/bin/env bash
# Build the shipped rcrun and put it, with the helpers it runs, in one
# directory: `rcrun` finds rcrun-oci, rcrun-monitor and rcrun-pause next to
# itself (engine::Binaries::in_dir of the executable's directory).
#   rcrun          --release (dynamic; it runs once per command)
#   rcrun-oci      static, size-optimised (scripts/build-rcrun-oci.sh)
#   rcrun-monitor  static, size-optimised (scripts/build-monitor.sh): one per
#   rcrun-pause    running container / sandbox, so their pages are a budget
# Prints the directory (default: $CARGO_TARGET_DIR/rcrun-bin, or DIR).
#
#   scripts/build-rcrun.sh [DIR]
#
# Files are replaced by rename, so monitors of running containers (which
# keep the old binary open) do not make the copy fail with ETXTBSY.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
dir=${1:-$target_dir/rcrun-bin}

echo "== building rcrun (cargo build --release -p rcrun-cli --bin rcrun)" >&2
cargo build --release -p rcrun-cli --bin rcrun >&2
echo "== building rcrun-oci (static, release-oci profile)" >&2
oci=$(bash scripts/build-rcrun-oci.sh)
echo "== building rcrun-monitor and rcrun-pause (static, release-oci profile)" >&2
mapfile -t helpers < <(bash scripts/build-monitor.sh)

mkdir -p "$dir"
for src in "$target_dir/release/rcrun" "$oci" "${helpers[@]}"; do
  [ -x "$src" ] || { echo "build-rcrun: $src was not built" >&2; exit 1; }
  name=$(basename "$src")
  cp -f "$src" "$dir/.$name.new"
  mv -f "$dir/.$name.new" "$dir/$name"
done
echo "$dir"
