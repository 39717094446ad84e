#!/usr/bin/env bash
# Exec-latency benchmark of OCI runtimes: `<runtime> exec <id> true` into a
# running busybox container (the config `runc spec` writes: pid, net, ipc,
# uts, mount and cgroup namespaces, no seccomp), rcrun-oci vs crun vs runc,
# N times each, interleaved round by round. Prints medians, p90 and the
# ratios rcrun/crun and rcrun/runc as a Markdown section; with OUT=FILE it
# also replaces (or appends) that section in FILE between its markers.
#
#   sudo bench/exec.sh                 # N=200 rounds
#   N=500 sudo -E bench/exec.sh
#   RCRUN_OCI=/path/to/rcrun-oci bench/exec.sh   # skip the build
#   OUT=bench/README.md sudo -E bench/exec.sh
#
# Needs root, busybox-static, crun, runc (scripts/install-deps.sh). On a
# hybrid cgroup host crun 1.8 refuses to create containers while the hugetlb
# controller sits on cgroup2; the script then binds hugetlb to a v1 hierarchy
# at /sys/fs/cgroup/hugetlb for its duration, as bench/oci-run.sh does.
set -euo pipefail

N=${N:-200}
REPO=$(cd "$(dirname "$0")/.." && pwd)
HUGETLB_MOUNTED=0
OUT=${OUT:-}

die() { echo "exec.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (runtimes join namespaces and cgroups)"
for t in crun runc /bin/busybox; do
  command -v "$t" >/dev/null || die "$t missing: run scripts/install-deps.sh"
done
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

if [ -n "${RCRUN_OCI:-}" ]; then
  RCRUN=$RCRUN_OCI
else
  echo "== building rcrun-oci (scripts/build-rcrun-oci.sh: static, release-oci profile)" >&2
  RCRUN=$(bash "$REPO/scripts/build-rcrun-oci.sh")
fi
[ -x "$RCRUN" ] || die "$RCRUN not built"

WORK=$(mktemp -d /tmp/rxa-bench-exec.XXXXXX)
RT_rcrun=("$RCRUN" --root "$WORK/root-rcrun")
RT_crun=(crun --root "$WORK/root-crun")
RT_runc=(runc --root "$WORK/root-runc")
runtime_cmd() { # $1 runtime, then its arguments
  local -n argv="RT_$1"
  shift
  "${argv[@]}" "$@"
}
RUNTIMES=(rcrun crun runc)

# shellcheck source=bench/lib/hugetlb.sh
. "$REPO/bench/lib/hugetlb.sh"

cleanup() {
  for rt in rcrun crun runc; do
    runtime_cmd "$rt" delete -f "rxa-exec-$rt" >/dev/null 2>&1 || true
  done
  if [ "$HUGETLB_MOUNTED" = 1 ]; then release_hugetlb; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Another user of hugetlb on cgroup2 may keep it there; crun may still cope.
bind_hugetlb || echo "note: could not bind hugetlb to v1 (in use on cgroup2); trying crun anyway" >&2

bash "$REPO/scripts/make-busybox-bundle.sh" "$WORK/bundle" sleep 100000 >/dev/null
mkdir -p "$WORK"/root-{rcrun,crun,runc}
SKIPPED=""
started=()
for rt in "${RUNTIMES[@]}"; do
  if runtime_cmd "$rt" run -d --bundle "$WORK/bundle" "rxa-exec-$rt" \
    >/dev/null 2>"$WORK/err-run-$rt" </dev/null; then
    started+=("$rt")
  elif [ "$rt" = rcrun ]; then
    die "rcrun-oci run -d fails: $(tail -3 "$WORK/err-run-$rt")"
  else
    # e.g. crun 1.8 on a hybrid host while another user keeps a controller on cgroup2
    SKIPPED+="$rt ($(tail -1 "$WORK/err-run-$rt")); "
    echo "note: skipping $rt: $(tail -1 "$WORK/err-run-$rt")" >&2
  fi
done
RUNTIMES=("${started[@]}")

one_exec() { # $1 runtime -> microseconds, or "fail"
  local t0 t1 rc=0
  t0=$EPOCHREALTIME
  runtime_cmd "$1" exec "rxa-exec-$1" true >/dev/null 2>>"$WORK/err-$1" </dev/null || rc=$?
  t1=$EPOCHREALTIME
  if [ "$rc" != 0 ]; then echo fail; return; fi
  echo $((${t1/./} - ${t0/./}))
}

echo "== warm-up and check" >&2
for rt in "${RUNTIMES[@]}"; do
  for _ in 1 2 3 4 5; do
    r=$(one_exec "$rt")
    [ "$r" != fail ] || die "$rt exec fails: $(tail -3 "$WORK/err-$rt")"
  done
done

echo "== $N interleaved rounds" >&2
for ((i = 1; i <= N; i++)); do
  for rt in "${RUNTIMES[@]}"; do
    r=$(one_exec "$rt")
    if [ "$r" = fail ]; then echo fail >>"$WORK/fails-$rt"; else echo "$r" >>"$WORK/t-$rt"; fi
  done
  if ((i % 50 == 0)); then echo "   $i/$N" >&2; fi
done

stat() { # $1 file, $2 median|p90 -> ms
  [ -s "$1" ] || { echo -; return; }
  sort -n "$1" | awk -v what="$2" '{ a[NR] = $1 } END {
    if (what == "median") v = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    else { k = int(0.9 * NR); if (k < 0.9 * NR) k++; v = a[k] }
    printf "%.2f", v / 1000 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
count() { if [ -s "$1" ]; then wc -l <"$1"; else echo 0; fi; }

r_med=$(stat "$WORK/t-rcrun" median); r_p90=$(stat "$WORK/t-rcrun" p90)
c_med=$(stat "$WORK/t-crun" median); c_p90=$(stat "$WORK/t-crun" p90)
u_med=$(stat "$WORK/t-runc" median); u_p90=$(stat "$WORK/t-runc" p90)
fails=$( (cat "$WORK"/fails-* 2>/dev/null || true) | wc -l)
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
rev=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "${RCRUN_OCI:-}" ]; then build="binary $RCRUN_OCI"; else build="static release-oci build, scripts/build-rcrun-oci.sh"; fi

BEGIN_MARK="<!-- exec.sh:begin -->"
END_MARK="<!-- exec.sh:end -->"
cat >"$WORK/section.md" <<REPORT
$BEGIN_MARK
## OCI exec latency: \`bench/exec.sh\`

\`<runtime> exec <id> true\` into a running busybox container of that
runtime (runc's default config: pid, net, ipc, uts, mount and cgroup
namespaces, no seccomp), timed from the runtime's start to its exit — join
namespaces and cgroup, set the process up, exec, wait for it — $N times
each, interleaved round by round.

Last run: $(date -u '+%Y-%m-%d %H:%M UTC'), \`N=$N bench/exec.sh\` (as root).
Machine: $(nproc) × $cpu, kernel $(uname -r); load average at the end:
$(cut -d' ' -f1-3 /proc/loadavg). rcrun at $rev ($build);
$(crun --version | head -1); $(runc --version | head -1).

| | rcrun-oci | crun | runc | rcrun/crun | rcrun/runc |
|---|---|---|---|---|---|
| exec median / p90 (ms) | $r_med / $r_p90 | $c_med / $c_p90 | $u_med / $u_p90 | $(ratio "$r_med" "$c_med") | $(ratio "$r_med" "$u_med") |

Runs ok (rcrun/crun/runc): $(count "$WORK/t-rcrun")/$(count "$WORK/t-crun")/$(count "$WORK/t-runc"); failed runs: $fails.${SKIPPED:+
Not measured: $SKIPPED}
$END_MARK
REPORT
if [ -n "$OUT" ]; then
  if [ -f "$OUT" ] && grep -qF "$BEGIN_MARK" "$OUT" && grep -qF "$END_MARK" "$OUT"; then
    awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v f="$WORK/section.md" '
      $0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
      $0 == e { skip = 0; next }
      !skip { print }' "$OUT" >"$WORK/readme.new"
    cat "$WORK/readme.new" >"$OUT"
  else
    { echo; cat "$WORK/section.md"; } >>"$OUT"
  fi
  echo "== wrote $OUT" >&2
fi
cat "$WORK/section.md"
