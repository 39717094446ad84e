#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine, as root: install the packages,
# build rcrun, make a busybox OCI bundle and run it with `rcrun-oci run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
oci=$(bash scripts/build-rcrun-oci.sh)
bundle=$(mktemp -d /tmp/rcrun-quickstart.XXXXXX)
root=$(mktemp -d /tmp/rcrun-quickstart-root.XXXXXX)
trap 'rm -rf "$bundle" "$root"' EXIT
bash scripts/make-busybox-bundle.sh "$bundle" sh -c 'echo "hello from $(hostname), pid $$ in its own namespaces"; id; ls /'
"$oci" --root "$root" run --bundle "$bundle" quickstart
