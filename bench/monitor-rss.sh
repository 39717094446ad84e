#!/usr/bin/env bash
# Resident memory of the per-container monitor: N containers (busybox
# `sleep 600`, the `runc spec` config) each under rcrun-monitor and each under
# conmon (podman's monitor), both driving the same runtime (runc) so only the
# monitor differs; and, when containerd is installed, N under a private
# containerd (its own socket, root, state and namespace) whose per-container
# containerd-shim-runc-v2 is measured the same way (SKIP_CONTAINERD=1 skips). Reports the median, min and max VmRSS (KiB, from
# /proc/<pid>/status) of the monitor processes while their containers run,
# and the rcrun-pause process's VmRSS; plus the median Pss (what each
# monitor costs once the binary's pages are shared between the N).
#
# Writes its section of bench/README.md (between its markers).
#
#   sudo bench/monitor-rss.sh           # N=10 of each
#   N=30 sudo -E bench/monitor-rss.sh
#   RCRUN_MONITOR=/path/rcrun-monitor RCRUN_PAUSE=/path/rcrun-pause bench/monitor-rss.sh
#
# Needs root, busybox-static, runc, conmon (installed with podman).
set -euo pipefail

N=${N:-10}
REPO=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "monitor-rss.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
for t in runc conmon /bin/busybox ip; do
  command -v "$t" >/dev/null || die "$t missing: run scripts/install-deps.sh"
done
RUNC=$(command -v runc)
if [ -z "${RCRUN_MONITOR:-}" ]; then
  echo "== building rcrun-monitor/rcrun-pause (scripts/build-monitor.sh: static, release-oci profile)" >&2
  mapfile -t built < <(bash "$REPO/scripts/build-monitor.sh")
  RCRUN_MONITOR=${built[0]}
  RCRUN_PAUSE=${RCRUN_PAUSE:-${built[1]}}
fi
[ -x "$RCRUN_MONITOR" ] || die "$RCRUN_MONITOR not built"

WORK=$(mktemp -d /tmp/rxd-bench.XXXXXX)
NETNS=rxdbench$$
CTRD_NS=rxdbench$$
PAUSE_PID=
CTRD_PID=
ctr_() { ctr -a "$WORK/containerd.sock" -n "$CTRD_NS" "$@"; }
cleanup() {
  if [ -n "$CTRD_PID" ]; then
    for id in $(ctr_ task ls -q 2>/dev/null); do ctr_ task kill -s KILL "$id" >/dev/null 2>&1 || true; done
    sleep 0.5
    for id in $(ctr_ c ls -q 2>/dev/null); do
      ctr_ task rm -f "$id" >/dev/null 2>&1 || true
      ctr_ c rm "$id" >/dev/null 2>&1 || true
    done
    kill "$CTRD_PID" 2>/dev/null || true
    wait "$CTRD_PID" 2>/dev/null || true
    # The namespace's parent cgroups runc created for our containers.
    rmdir /sys/fs/cgroup/*/"$CTRD_NS" 2>/dev/null || true
  fi
  for root in "$WORK/root-rcrun" "$WORK/root-conmon"; do
    for id in $(ls "$root" 2>/dev/null); do
      "$RUNC" --root "$root" delete -f "$id" >/dev/null 2>&1 || true
    done
  done
  [ -n "$PAUSE_PID" ] && kill "$PAUSE_PID" 2>/dev/null || true
  ip netns del "$NETNS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# One busybox bundle shared by all containers (read-only rootfs).
B=$WORK/bundle
mkdir -p "$B/rootfs/bin"
cp /bin/busybox "$B/rootfs/bin/"
for a in sh sleep; do ln -s busybox "$B/rootfs/bin/$a"; done
(cd "$B" && "$RUNC" spec)
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"sleep", "600"/' "$B/config.json"
grep -q '"600"' "$B/config.json" || die "could not set the bundle's process args"

vmrss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
pss() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)], a[1], a[NR]}'; }
wait_file() { for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done; die "timeout waiting for $1"; }

rcrun_rss=(); rcrun_pss=(); conmon_pss=()
for i in $(seq "$N"); do
  id=rxdb-r$i; d=$WORK/rcrun-$i; mkdir -p "$d"
  "$RCRUN_MONITOR" --id "$id" --runtime "$RUNC" --runtime-arg --root --runtime-arg "$WORK/root-rcrun" \
    --bundle "$B" --container-dir "$d" --log-path "$d/log" --ready-fd 3 3>"$d/ready"
  wait_file "$d/ready"
  pid=$(sed -n 's/^{"pid":\([0-9]*\)}$/\1/p' "$d/ready")
  [ -n "$pid" ] || die "rcrun-monitor: $(cat "$d/ready")"
  "$RUNC" --root "$WORK/root-rcrun" start "$id"
  echo "$(awk '/^PPid:/ {print $2}' "/proc/$pid/status")" >"$d/monitor.pid"
done
conmon_rss=()
for i in $(seq "$N"); do
  id=rxdb-c$i; d=$WORK/conmon-$i; mkdir -p "$d"
  conmon --api-version 1 -c "$id" -u "$id" -n "$id" -r "$RUNC" -b "$B" -p "$d/pid" \
    -l "k8s-file:$d/log" --exit-dir "$d" --socket-dir-path "$d" --container-pidfile "$d/pid" \
    -P "$d/monitor.pid" --runtime-arg --root --runtime-arg "$WORK/root-conmon" --log-level error
  wait_file "$d/pid"
  "$RUNC" --root "$WORK/root-conmon" start "$id"
done
sleep 1 # let every monitor settle into its loop
for i in $(seq "$N"); do
  rcrun_rss+=("$(vmrss "$(cat "$WORK/rcrun-$i/monitor.pid")")")
  conmon_rss+=("$(vmrss "$(cat "$WORK/conmon-$i/monitor.pid")")")
  rcrun_pss+=("$(pss "$(cat "$WORK/rcrun-$i/monitor.pid")")")
  conmon_pss+=("$(pss "$(cat "$WORK/conmon-$i/monitor.pid")")")
done

shim_rss=(); shim_pss=()
if [ "${SKIP_CONTAINERD:-0}" != 1 ] && command -v containerd >/dev/null && command -v ctr >/dev/null; then
  cat >"$WORK/containerd.toml" <<CONF
version = 2
root = "$WORK/containerd-root"
state = "$WORK/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$WORK/containerd.sock"
[ttrpc]
  address = "$WORK/containerd.sock.ttrpc"
CONF
  containerd --config "$WORK/containerd.toml" >"$WORK/containerd.log" 2>&1 &
  CTRD_PID=$!
  for _ in $(seq 100); do ctr_ version >/dev/null 2>&1 && break; sleep 0.1; done
  ctr_ version >/dev/null 2>&1 || die "private containerd did not start: $(tail -n 3 "$WORK/containerd.log")"
  for i in $(seq "$N"); do
    ctr_ run -d --rootfs "$B/rootfs" "rxdb-s$i" /bin/sleep 600 >/dev/null
  done
  sleep 1
  for pid in $(pgrep -f "containerd-shim-runc-v2 -namespace $CTRD_NS "); do
    shim_rss+=("$(vmrss "$pid")"); shim_pss+=("$(pss "$pid")")
  done
  [ "${#shim_rss[@]}" -gt 0 ] || die "no containerd-shim-runc-v2 found for namespace $CTRD_NS"
fi

ip netns add "$NETNS"
if [ -n "${RCRUN_PAUSE:-}" ]; then
  "$RCRUN_PAUSE" --netns "/run/netns/$NETNS" --ready-fd 3 3>"$WORK/pause-ready" &
  PAUSE_PID=$!
  wait_file "$WORK/pause-ready"
  pause_rss=$(vmrss "$PAUSE_PID")
fi

read -r rm rmin rmax < <(printf '%s\n' "${rcrun_rss[@]}" | median)
read -r cm cmin cmax < <(printf '%s\n' "${conmon_rss[@]}" | median)
read -r rp _ _ < <(printf '%s\n' "${rcrun_pss[@]}" | median)
read -r cp _ _ < <(printf '%s\n' "${conmon_pss[@]}" | median)
echo "monitor VmRSS with a running container, $N each (KiB): median (min-max)"
echo "  rcrun-monitor  $rm ($rmin-$rmax)   $RCRUN_MONITOR"
echo "  conmon         $cm ($cmin-$cmax)   $(conmon --version | head -n 1)"
awk -v r="$rm" -v c="$cm" 'BEGIN { printf "  ratio rcrun-monitor/conmon = %.2f\n", r / c }'
if [ "${#shim_rss[@]}" -gt 0 ]; then
  read -r sm smin smax < <(printf '%s\n' "${shim_rss[@]}" | median)
  read -r sp _ _ < <(printf '%s\n' "${shim_pss[@]}" | median)
  echo "  containerd-shim-runc-v2 $sm ($smin-$smax)   $(containerd --version | awk '{print $3}')"
fi
echo "  proportional set size (Pss, shared pages split between the $N), median: rcrun-monitor $rp, conmon $cp"
[ -n "${pause_rss:-}" ] && echo "  rcrun-pause    $pause_rss (one sandbox)"

# The section between the markers in bench/README.md is this script's; the
# rest of the file is kept.
OUT=${OUT:-$REPO/bench/README.md}
BEGIN_MARK="<!-- monitor-rss.sh:begin -->"
END_MARK="<!-- monitor-rss.sh:end -->"
ratio=$(awk -v r="$rm" -v c="$cm" 'BEGIN { printf "%.2f", r / c }')
rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
cat >"$WORK/section.md" <<REPORT
$BEGIN_MARK
## Monitor memory: \`bench/monitor-rss.sh\`

$N busybox containers (\`sleep 600\`) under rcrun-monitor, $N under conmon (both
driving runc) and, when containerd is installed, $N under a private containerd
(one containerd-shim-runc-v2 each), all running at once; VmRSS and Pss of
each monitor process from /proc while its container runs (KiB).

Last run: $(date -u '+%Y-%m-%d %H:%M UTC'), \`N=$N bench/monitor-rss.sh\` (as root), kernel $(uname -r);
rcrun at $rev ($RCRUN_MONITOR); $(conmon --version | head -n 1).

| monitor | VmRSS median (min–max) | Pss median |
|---|---|---|
| rcrun-monitor (static, release-oci) | $rm ($rmin–$rmax) | $rp |
| conmon | $cm ($cmin–$cmax) | $cp |
${sm:+| containerd-shim-runc-v2 ($(containerd --version | awk '{print $3}')) | $sm ($smin–$smax) | $sp |
}
rcrun-monitor / conmon VmRSS: **$ratio** (target: at most 0.5).
One rcrun-pause process: ${pause_rss:-n/a} KiB VmRSS (mostly the static
binary's shared file pages).
$END_MARK
REPORT
if [ -f "$OUT" ] && grep -qF "$BEGIN_MARK" "$OUT" && grep -qF "$END_MARK" "$OUT"; then
  awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v f="$WORK/section.md" '
    $0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
    $0 == e { skip = 0; next }
    !skip { print }' "$OUT" >"$WORK/readme.new"
  cat "$WORK/readme.new" >"$OUT"
elif [ -f "$OUT" ]; then
  # Never clobber the other scripts' sections: append ours.
  { echo; cat "$WORK/section.md"; } >>"$OUT"
else
  { echo "# Benchmarks"; echo; cat "$WORK/section.md"; } >"$OUT"
fi
echo "== wrote $OUT" >&2
