#!/usr/bin/env bash
# Make a one-layer busybox image from Debian's busybox-static, the way the
# integration tests do (tests/integration/src/images.rs), plus a web root
# /www/index.html so `httpd -f -p 80 -h /www` serves a page. Cmd `sh`.
#
# Writes an image archive that `rcrun load -i`, `podman load -i` and
# `docker load -i` read, and prints its path.
#
#   scripts/make-busybox-image.sh [OUT.tar [NAME]]
#       OUT.tar  default: ${TMPDIR:-/tmp}/rcrun-busybox.tar
#       NAME     default: rcrun-busybox:latest
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib/oci-archive.sh
. "$here/lib/oci-archive.sh"

out=${1:-${TMPDIR:-/tmp}/rcrun-busybox.tar}
ref=${2:-rcrun-busybox:latest}
work=$(mktemp -d "${TMPDIR:-/tmp}/rcrun-busybox-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
busybox_rootfs "$work/rootfs"
mkdir -p "$work/rootfs/www"
printf '<h1>busybox httpd in a container</h1>\n' >"$work/rootfs/www/index.html"
config='{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}'
mkdir -p "$(dirname "$out")"
oci_archive "$out" "$ref" "$config" "$work/rootfs"
echo "$out"
