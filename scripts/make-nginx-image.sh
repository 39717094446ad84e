#!/usr/bin/env bash
# Make an nginx image from Debian's nginx package, the way the integration
# tests do (tests/integration/src/images.rs): three layers — busybox
# (busybox-static), nginx's shared libraries (what `ldd /usr/sbin/nginx`
# lists, at merged-/usr paths), nginx itself (binary, mime.types, an
# nginx.conf running in the foreground as www-data on port 80 and logging to
# stdout/stderr, an index page, passwd/group naming www-data). Cmd
# `nginx -g 'daemon off;'`, ExposedPorts 80/tcp, StopSignal SIGQUIT.
#
# Writes an image archive that `rcrun load -i`, `podman load -i` and
# `docker load -i` read, and prints its path.
#
#   scripts/make-nginx-image.sh [OUT.tar [NAME]]
#       OUT.tar  default: ${TMPDIR:-/tmp}/rcrun-nginx.tar
#       NAME     default: rcrun-nginx:latest
#   rcrun load -i "$(scripts/make-nginx-image.sh)"
#
# Needs nginx-light (or any Debian nginx) and busybox-static installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib/oci-archive.sh
. "$here/lib/oci-archive.sh"

out=${1:-${TMPDIR:-/tmp}/rcrun-nginx.tar}
ref=${2:-rcrun-nginx:latest}
NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] || { echo "make-nginx-image: $NGINX missing: apt-get install nginx-light" >&2; exit 1; }
command -v ldd >/dev/null || { echo "make-nginx-image: ldd missing: apt-get install libc-bin" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rcrun-nginx-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Layer 1: busybox (a shell and tools for `exec`, as in the tests).
busybox_rootfs "$work/busybox"

# Layer 2: nginx's shared libraries, at merged-/usr paths.
libs=$work/libs
mkdir -p "$libs/usr/lib" "$libs/usr/lib64"
ln -s usr/lib "$libs/lib"
ln -s usr/lib64 "$libs/lib64"
ldd "$NGINX" | while read -r a b c _; do
  # "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
  if [ "$b" = "=>" ]; then path=$c; else path=$a; fi
  case "$path" in /*) ;; *) continue ;; esac
  case "$path" in
    /lib64/*) dest=/usr/lib64/${path#/lib64/} ;;
    /lib/*) dest=/usr/lib/${path#/lib/} ;;
    *) dest=$path ;;
  esac
  mkdir -p "$libs$(dirname "$dest")"
  cp -L "$path" "$libs$dest"
done
[ -n "$(find "$libs" -name 'libc.so*' -print -quit)" ] || { echo "make-nginx-image: ldd $NGINX listed no libc" >&2; exit 1; }

# Layer 3: nginx, its config and a page.
n=$work/nginx
mkdir -p "$n"/{usr/sbin,etc/nginx,usr/share/nginx/html,var/lib/nginx,var/log/nginx,run,tmp}
cp "$NGINX" "$n/usr/sbin/nginx"
cp /etc/nginx/mime.types "$n/etc/nginx/mime.types"
cat >"$n/etc/nginx/nginx.conf" <<'CONF'
user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr;
events { worker_connections 64; }
http {
  include /etc/nginx/mime.types;
  access_log /dev/stdout;
  server {
    listen 80;
    root /usr/share/nginx/html;
    index index.html;
  }
}
CONF
nginx_version=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
cat >"$n/usr/share/nginx/html/index.html" <<HTML
<!DOCTYPE html>
<html><head><title>Welcome to rcrun</title></head>
<body><h1>Hello from rcrun</h1>
<p>$nginx_version from Debian's nginx package, running in an rcrun container.</p></body></html>
HTML
printf 'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$n/etc/passwd"
printf 'root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n' >"$n/etc/group"

config='{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["nginx","-g","daemon off;"],"ExposedPorts":{"80/tcp":{}},"StopSignal":"SIGQUIT","Labels":{"org.rcrun.image":"nginx-from-debian"}}'
mkdir -p "$(dirname "$out")"
oci_archive "$out" "$ref" "$config" "$work/busybox" "$libs" "$n"
echo "$out"
