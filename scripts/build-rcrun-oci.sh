#!/usr/bin/env bash
# Build the shipped rcrun-oci: statically linked (glibc and libseccomp), with
# the size-optimised `release-oci` profile, so a container start maps and
# touches as few pages as possible. Prints the binary's path.
# (`--target` keeps crt-static off the proc-macros, which must stay dynamic.)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
host=$(rustc -vV | sed -n 's/^host: //p')
libdir=$(dirname "$(find /usr/lib /usr/lib64 -name libseccomp.a 2>/dev/null | head -n 1)")
[ -f "$libdir/libseccomp.a" ] || { echo "build-rcrun-oci: libseccomp.a not found: apt-get install libseccomp-dev" >&2; exit 1; }
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH="$libdir" \
  cargo build --profile release-oci --target "$host" -p rcrun-cli --bin rcrun-oci >&2
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
echo "$target_dir/$host/release-oci/rcrun-oci"
