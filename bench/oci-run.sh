#!/usr/bin/env bash
# Start-latency benchmark of OCI runtimes: `rcrun-oci run`, `crun run` and
# `runc run` of the same busybox bundle running `true`, with a new network
# namespace and in the host's, N times each, interleaved. Writes medians, p90,
# the ratios rcrun/crun and rcrun/runc and the peak RSS to bench/README.md.
#
#   sudo bench/oci-run.sh            # N=100 rounds
#   N=300 RSS_RUNS=30 sudo -E bench/oci-run.sh
#   RCRUN_OCI=/path/to/rcrun-oci bench/oci-run.sh   # skip the build
#
# Needs root, busybox-static, crun, runc, GNU time (scripts/install-deps.sh).
# On a hybrid cgroup host crun 1.8 refuses to run while the hugetlb controller
# sits on cgroup2; the script then binds hugetlb to a v1 hierarchy at
# /sys/fs/cgroup/hugetlb (and unmounts it at the end if it stayed empty).
set -euo pipefail

N=${N:-100}
RSS_RUNS=${RSS_RUNS:-20}
REPO=$(cd "$(dirname "$0")/.." && pwd)
HUGETLB_MOUNTED=0
OUT=${OUT:-$REPO/bench/README.md}

die() { echo "oci-run.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (runtimes create namespaces and cgroups)"
for t in crun runc /bin/busybox /usr/bin/time; do
  command -v "$t" >/dev/null || die "$t missing: run scripts/install-deps.sh"
done
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

if [ -n "${RCRUN_OCI:-}" ]; then
  RCRUN=$RCRUN_OCI # an already built binary, e.g. to compare two builds
else
  echo "== building rcrun-oci (scripts/build-rcrun-oci.sh: static, release-oci profile)" >&2
  RCRUN=$(bash "$REPO/scripts/build-rcrun-oci.sh")
fi
[ -x "$RCRUN" ] || die "$RCRUN not built"

WORK=$(mktemp -d /tmp/rtg-bench.XXXXXX)
cleanup() {
  for rt in rcrun crun runc; do
    [ -d "$WORK/root-$rt" ] || continue
    for id in $(ls "$WORK/root-$rt" 2>/dev/null); do
      runtime_cmd "$rt" delete -f "$id" >/dev/null 2>&1 || true
    done
  done
  if [ "$HUGETLB_MOUNTED" = 1 ]; then release_hugetlb; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=bench/lib/hugetlb.sh
. "$REPO/bench/lib/hugetlb.sh"

RT_rcrun=("$RCRUN" --root "$WORK/root-rcrun")
RT_crun=(crun --root "$WORK/root-crun")
RT_runc=(runc --root "$WORK/root-runc")
runtime_cmd() { # $1 runtime, then its arguments
  local -n argv="RT_$1"
  shift
  "${argv[@]}" "$@"
}

# crun 1.8 on hybrid hosts: hugetlb must not be left on cgroup2.
bind_hugetlb || die "could not mount the hugetlb controller on /sys/fs/cgroup/hugetlb"

# --- the bundle: busybox + applet links, a runc-like config running `true`.
# One bundle from scripts/make-busybox-bundle.sh; the host-netns variant is
# the same config without the network namespace, sharing its rootfs.
bash "$REPO/scripts/make-busybox-bundle.sh" "$WORK/bundle-netns" true >/dev/null
mkdir -p "$WORK/bundle-hostnet"
python3 - "$WORK/bundle-netns" "$WORK/bundle-hostnet" <<'PY'
import json, sys
src, dst = sys.argv[1], sys.argv[2]
cfg = json.load(open(src + "/config.json"))
cfg["root"]["path"] = src + "/rootfs"
json.dump(cfg, open(src + "/config.json", "w"), indent=1)
cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
json.dump(cfg, open(dst + "/config.json", "w"), indent=1)
PY
mkdir -p "$WORK"/root-{rcrun,crun,runc}

RUNTIMES=(rcrun crun runc)
VARIANTS=(netns hostnet)

# --- one timed run: microseconds on stdout, or "fail"
one_run() { # $1 runtime, $2 variant, $3 container id
  local t0 t1 rc=0
  t0=$EPOCHREALTIME
  runtime_cmd "$1" run --bundle "$WORK/bundle-$2" "$3" >/dev/null 2>>"$WORK/err-$1-$2" </dev/null || rc=$?
  t1=$EPOCHREALTIME
  runtime_cmd "$1" delete -f "$3" >/dev/null 2>&1 || true
  if [ "$rc" != 0 ]; then echo fail; return; fi
  echo $((${t1/./} - ${t0/./}))
}

echo "== warm-up and check" >&2
for v in "${VARIANTS[@]}"; do
  for rt in "${RUNTIMES[@]}"; do
    r=$(one_run "$rt" "$v" "warm-$v")
    [ "$r" != fail ] || die "$rt run ($v) fails: $(tail -3 "$WORK/err-$rt-$v")"
  done
done

echo "== $N interleaved rounds" >&2
for ((i = 1; i <= N; i++)); do
  for v in "${VARIANTS[@]}"; do
    for rt in "${RUNTIMES[@]}"; do
      r=$(one_run "$rt" "$v" "b$i-$v")
      if [ "$r" = fail ]; then echo fail >>"$WORK/fails-$rt-$v"; else echo "$r" >>"$WORK/t-$rt-$v"; fi
    done
  done
  if ((i % 20 == 0)); then echo "   $i/$N" >&2; fi
done

echo "== peak RSS ($RSS_RUNS runs each, new-netns bundle)" >&2
for rt in "${RUNTIMES[@]}"; do
  declare -n argv="RT_$rt"
  for ((i = 1; i <= RSS_RUNS; i++)); do
    /usr/bin/time -f %M -a -o "$WORK/rss-$rt" \
      "${argv[@]}" run --bundle "$WORK/bundle-netns" "rss$i" >/dev/null 2>&1 </dev/null || true
    runtime_cmd "$rt" delete -f "rss$i" >/dev/null 2>&1 || true
  done
  unset -n argv
done

# --- statistics (samples in microseconds, reported in milliseconds)
stat() { # $1 file, $2 median|p90
  [ -s "$1" ] || { echo -; return; }
  sort -n "$1" | awk -v what="$2" '{ a[NR] = $1 } END {
    if (what == "median") v = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    else { k = int(0.9 * NR); if (k < 0.9 * NR) k++; v = a[k] }
    printf "%.2f", v / 1000 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
count() { if [ -s "$1" ]; then wc -l <"$1"; else echo 0; fi; }
rss() { # $1 file, $2 max|median -> MiB
  [ -s "$1" ] || { echo -; return; }
  sort -n "$1" | awk -v what="$2" '/^[0-9]+$/ { a[++n] = $1 } END {
    v = (what == "max") ? a[n] : a[int((n + 1) / 2)]; printf "%.1f MiB", v / 1024 }'
}

rows=""
for v in "${VARIANTS[@]}"; do
  if [ "$v" = netns ]; then label="new netns"; else label="host netns"; fi
  r_med=$(stat "$WORK/t-rcrun-$v" median); r_p90=$(stat "$WORK/t-rcrun-$v" p90)
  c_med=$(stat "$WORK/t-crun-$v" median); c_p90=$(stat "$WORK/t-crun-$v" p90)
  u_med=$(stat "$WORK/t-runc-$v" median); u_p90=$(stat "$WORK/t-runc-$v" p90)
  rows+="| $label | $r_med / $r_p90 | $c_med / $c_p90 | $u_med / $u_p90 | $(ratio "$r_med" "$c_med") | $(ratio "$r_med" "$u_med") | $(count "$WORK/t-rcrun-$v")/$(count "$WORK/t-crun-$v")/$(count "$WORK/t-runc-$v") |"$'\n'
done
fails=$( (cat "$WORK"/fails-* 2>/dev/null || true) | wc -l)
rss_row="| peak RSS, max (median) | $(rss "$WORK/rss-rcrun" max) ($(rss "$WORK/rss-rcrun" median)) | $(rss "$WORK/rss-crun" max) ($(rss "$WORK/rss-crun" median)) | $(rss "$WORK/rss-runc" max) ($(rss "$WORK/rss-runc" median)) |"

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
if awk '$5 == "/sys/fs/cgroup" { for (i = 7; i <= NF; i++) if ($i == "-") { print $(i + 1); exit } }' /proc/self/mountinfo | grep -qx cgroup2; then
  cg="v2"
elif [ -d /sys/fs/cgroup/unified ]; then
  cg="hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified)"
else
  cg="v1"
fi
load=$(cut -d' ' -f1-3 /proc/loadavg)
rev=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "${RCRUN_OCI:-}" ]; then build="binary $RCRUN_OCI"; else build="static release-oci build, scripts/build-rcrun-oci.sh"; fi
if [ "$HUGETLB_MOUNTED" = 1 ]; then
  hugetlb_note="this run bound it to a v1 hierarchy (\`mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb\`) for its duration, so all three runtimes also made a hugetlb cgroup"
else
  hugetlb_note="hugetlb was already on a v1 hierarchy, or the host is not hybrid; nothing was mounted"
fi

# The section between the markers is this script's; the rest of the file
# (other benchmarks, analysis) is kept.
BEGIN_MARK="<!-- oci-run.sh:begin -->"
END_MARK="<!-- oci-run.sh:end -->"
cat >"$WORK/section.md" <<REPORT
$BEGIN_MARK
## OCI runtime start latency: \`bench/oci-run.sh\`

\`rcrun-oci run\`, \`crun run\` and \`runc run\` of one busybox bundle whose
process is \`true\` (the config \`runc spec\` writes: read-only rootfs, default
mounts, masked paths, deny-all device rules), timed from the runtime's start
to its exit — create, start, wait, and the runtime's own teardown — $N times
each, interleaved round by round so that load drifts hit all three alike.
"host netns" drops the network namespace from the config. Each runtime has
its own \`--root\` tempdir; \`delete -f\` after every run, outside the timed
window. Peak RSS is GNU time's \`%M\` for \`<runtime> run\` ($RSS_RUNS runs): the
largest resident set of the runtime and the processes it waited for.

Last run: $(date -u '+%Y-%m-%d %H:%M UTC'), \`N=$N bench/oci-run.sh\` (as root).
Machine: $(nproc) × $cpu, $mem RAM, kernel $(uname -r), cgroups $cg;
load average at the end: $load. rcrun at $rev ($build);
$(crun --version | head -1); $(runc --version | head -1).

| netns | rcrun-oci median / p90 (ms) | crun median / p90 (ms) | runc median / p90 (ms) | rcrun/crun | rcrun/runc | runs ok (rcrun/crun/runc) |
|---|---|---|---|---|---|---|
${rows}
| | rcrun-oci | crun | runc |
|---|---|---|---|
$rss_row

Failed runs: $fails.

Notes:
- crun 1.8 refuses hybrid cgroup hosts while the hugetlb controller sits on
  cgroup2; $hugetlb_note.
- Times are wall-clock, from bash's \`\$EPOCHREALTIME\` around the command, so
  the fork+exec of each runtime binary is included for all three alike.
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
cat "$WORK/section.md"
