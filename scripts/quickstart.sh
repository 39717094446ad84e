#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine, as root: install the packages,
# build rcrun, make an nginx image from Debian's nginx package, run it with
# `rcrun run -d --name web -p 8080:80` and show curl's answer, then remove
# the container (unless --keep). Safe to run again: a `web` container left
# by an earlier run is replaced.
#
#   scripts/quickstart.sh            # install, build, run, curl, clean up
#   scripts/quickstart.sh --keep     # leave `web` running (rcrun rm -f web)
#   PORT=9090 scripts/quickstart.sh  # publish another host port
#   RUN_OPTS="--memory 64m" scripts/quickstart.sh   # more `rcrun run` options
#   RCRUN_BIN=DIR scripts/quickstart.sh   # use rcrun and helpers built in DIR
#
# rcrun's usual environment applies (RCRUN_ROOT, RCRUN_DATA_ROOT,
# RCRUN_NET_DEFAULT_BRIDGE, ...): the defaults are /run/rcrun, /var/lib/rcrun
# and the bridge rcrun0.
set -euo pipefail
cd "$(dirname "$0")/.."

keep=0
for a in "$@"; do
  case "$a" in
    --keep) keep=1 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart: unknown argument $a (try --help)" >&2; exit 2 ;;
  esac
done
PORT=${PORT:-8080}
NAME=web
IMAGE=rcrun-nginx:latest

step() { echo "==> $*"; }
die() { echo "quickstart: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (containers, bridges and nftables need it)"

step "installing Debian packages (scripts/install-deps.sh)"
bash scripts/install-deps.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

if [ -n "${RCRUN_BIN:-}" ]; then
  bindir=$RCRUN_BIN
else
  step "building rcrun, rcrun-oci, rcrun-monitor, rcrun-pause (scripts/build-rcrun.sh)"
  bindir=$(bash scripts/build-rcrun.sh)
fi
rcrun=$bindir/rcrun
"$rcrun" version

work=$(mktemp -d /tmp/rcrun-quickstart.XXXXXX)
started=0
finish() {
  rc=$?
  if [ "$started" = 1 ] && { [ "$rc" != 0 ] || [ "$keep" = 0 ]; }; then
    if [ "$rc" != 0 ]; then
      echo "quickstart: failed; the container's log:" >&2
      "$rcrun" logs "$NAME" >&2 || true
    fi
    step "removing the container (rcrun rm -f $NAME)"
    "$rcrun" rm -f "$NAME" >/dev/null || echo "quickstart: rcrun rm -f $NAME failed" >&2
  fi
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT

step "making an nginx image from Debian's nginx package (scripts/make-nginx-image.sh)"
archive=$(bash scripts/make-nginx-image.sh "$work/nginx.tar" "$IMAGE")
"$rcrun" load -i "$archive"

if "$rcrun" inspect "$NAME" >/dev/null 2>&1; then
  step "removing the container $NAME left by an earlier run"
  "$rcrun" rm -f "$NAME" >/dev/null
fi
if ss -Hltn "sport = :$PORT" | grep -q .; then
  die "host port $PORT is in use by another program; run with PORT=<free port>"
fi

read -r -a run_opts <<<"${RUN_OPTS:-}"
step "rcrun run -d --name $NAME -p $PORT:80 ${RUN_OPTS:+$RUN_OPTS }$IMAGE"
started=1
"$rcrun" run -d --name "$NAME" -p "$PORT:80" ${run_opts[@]+"${run_opts[@]}"} "$IMAGE"
"$rcrun" ps

step "curl -s http://127.0.0.1:$PORT/"
answer=
for i in $(seq 100); do
  answer=$(curl -sf --max-time 2 "http://127.0.0.1:$PORT/") && break
  if [ $((i % 10)) = 0 ] && ! "$rcrun" inspect "$NAME" | grep -Eq '"Running": *true'; then
    die "the container $NAME is not running any more"
  fi
  sleep 0.1
done
[ -n "$answer" ] || die "no answer from http://127.0.0.1:$PORT/ within 10 s"
echo "$answer"

if [ "$keep" = 1 ]; then
  step "done: $NAME keeps running; try: $rcrun logs $NAME; $rcrun rm -f $NAME"
else
  step "done (rerun with --keep to leave $NAME running)"
fi
echo "rcrun is in $bindir: export PATH=$bindir:\$PATH"
