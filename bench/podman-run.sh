#!/usr/bin/env bash
# Whole-engine start latency: `podman run --rm --network none IMG true` with
# `--runtime` rcrun-oci (the shipped static build) vs crun vs runc, in one
# run, through hyperfine. podman, conmon, the image store and the image are
# the same for all three; only the OCI runtime differs. Prints a markdown
# table (median, mean ± σ, min; ratios rcrun/crun and rcrun/runc), then the
# runtime's own share (each create/start/delete call podman and conmon make,
# timed by a wrapper; less sensitive to podman's own noise), and keeps
# hyperfine's JSON (one document per round) in OUT_JSON when it is set.
#
#   sudo bench/podman-run.sh                 # RUNS=30 per runtime, in ROUNDS=3
#   RUNS=60 ROUNDS=6 WARMUP=5 sudo -E bench/podman-run.sh
#   RCRUN_OCI=/path/to/rcrun-oci bench/podman-run.sh   # skip the build
#
# Needs root, podman, conmon, crun, runc, busybox-static, hyperfine,
# python3 (scripts/install-deps.sh). podman gets its own storage, run root
# and tmp dir under a tempdir (removed at the end), the cgroupfs manager,
# the file events backend, no network (no bridge is made), and rlimits this
# kind of host can grant (root may lack CAP_SYS_RESOURCE; podman's default
# NOFILE of 1048576 may exceed the hard limit). On a hybrid cgroup host crun
# 1.8 needs hugetlb on a v1 hierarchy: see bench/lib/hugetlb.sh.
set -euo pipefail

RUNS=${RUNS:-30}
ROUNDS=${ROUNDS:-3}
CALL_RUNS=${CALL_RUNS:-15}
WARMUP=${WARMUP:-3}
REPO=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "podman-run.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (podman with the cgroupfs manager, runtimes making namespaces)"
for t in podman conmon crun runc hyperfine python3 /bin/busybox; do
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
CRUN=$(command -v crun)
RUNC=$(command -v runc)

WORK=$(mktemp -d /tmp/rxb-podman-bench.XXXXXX)
IMAGE=localhost/rxb-bench-busybox:latest
HUGETLB_CGROUPS=(libpod_parent/conmon libpod_parent)
# shellcheck source=bench/lib/hugetlb.sh
. "$REPO/bench/lib/hugetlb.sh"

PODMAN=(podman --root "$WORK/storage" --runroot "$WORK/run" --tmpdir "$WORK/tmp"
  --cgroup-manager cgroupfs --events-backend file --network-backend netavark
  --storage-driver overlay)
RUN_FLAGS=(run --rm --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768)

helpers_running() { # any process with $WORK in its arguments (bash builtins only)
  local f args
  for f in /proc/[0-9]*/cmdline; do
    mapfile -d '' args <"$f" 2>/dev/null || continue
    [[ "${args[*]}" == *"$WORK"* ]] && return 0
  done
  return 1
}

cleanup() {
  "${PODMAN[@]}" rm --all --force --time 0 >/dev/null 2>&1 || true
  "${PODMAN[@]}" rmi --all --force >/dev/null 2>&1 || true
  # conmon's `podman container cleanup` may still be running (and mounting):
  # wait until no process names the work dir.
  for _ in $(seq 100); do
    helpers_running || break
    sleep 0.1
  done
  # Whatever podman left mounted under the work dir, deepest first.
  awk -v w="$WORK" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  if [ "$HUGETLB_MOUNTED" = 1 ]; then release_hugetlb; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

bind_hugetlb || die "crun cannot run on this host without hugetlb on a v1 hierarchy"

echo "== importing a busybox rootfs as $IMAGE" >&2
bash "$REPO/scripts/make-busybox-bundle.sh" "$WORK/bundle" true >/dev/null
tar -C "$WORK/bundle/rootfs" -cf "$WORK/rootfs.tar" .
"${PODMAN[@]}" import "$WORK/rootfs.tar" "$IMAGE" >/dev/null

cmd_for() { # $1 runtime path -> the timed command line (no shell needed)
  echo "${PODMAN[*]} --runtime $1 ${RUN_FLAGS[*]} $IMAGE true"
}

echo "== checking each runtime" >&2
for rt in "$RCRUN" "$CRUN" "$RUNC"; do
  out=$("${PODMAN[@]}" --runtime "$rt" "${RUN_FLAGS[@]}" "$IMAGE" echo ok 2>&1) ||
    die "podman with --runtime $rt fails: $out"
  [ "$out" = ok ] || die "podman with --runtime $rt printed: $out"
done

# hyperfine runs one command's runs back to back; ROUNDS rounds with the
# order rotated spread load drifts over all three runtimes.
PER_ROUND=$(((RUNS + ROUNDS - 1) / ROUNDS))
NAMES=(rcrun-oci crun runc)
PATHS=("$RCRUN" "$CRUN" "$RUNC")
echo "== hyperfine: $ROUNDS rounds of $PER_ROUND runs each, after $WARMUP warm-up runs" >&2
for ((r = 0; r < ROUNDS; r++)); do
  args=()
  for ((k = 0; k < 3; k++)); do
    i=$(((k + r) % 3))
    args+=(-n "${NAMES[$i]}" "$(cmd_for "${PATHS[$i]}")")
  done
  warm=0
  [ "$r" = 0 ] && warm=$WARMUP
  hyperfine -N --style basic --warmup "$warm" --runs "$PER_ROUND" \
    --export-json "$WORK/round-$r.json" "${args[@]}" >&2
done
[ -z "${OUT_JSON:-}" ] || cat "$WORK"/round-*.json >"$OUT_JSON"

# The runtime's own share: the same podman runs, with each runtime behind a
# wrapper that times every call podman and conmon make (create, start,
# delete, ...), CALL_RUNS times each, interleaved.
echo "== per-call times: $CALL_RUNS interleaved podman runs per runtime" >&2
for ((k = 0; k < 3; k++)); do
  cat >"$WORK/wrap-${NAMES[$k]}" <<WRAP
#!/bin/bash
t0=\$EPOCHREALTIME
${PATHS[$k]} "\$@"
rc=\$?
t1=\$EPOCHREALTIME
verb=other
for a in "\$@"; do case \$a in create|start|delete|kill|state|exec) verb=\$a; break ;; esac; done
echo "${NAMES[$k]} \$verb \$(( \${t1/./} - \${t0/./} ))" >>"$WORK/calls.log"
exit \$rc
WRAP
  chmod +x "$WORK/wrap-${NAMES[$k]}"
done
for ((i = 0; i < CALL_RUNS; i++)); do
  for name in "${NAMES[@]}"; do
    "${PODMAN[@]}" --runtime "$WORK/wrap-$name" "${RUN_FLAGS[@]}" "$IMAGE" true ||
      die "podman with the $name wrapper failed"
  done
done

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
cat <<EOF
## podman run --rm with each OCI runtime: \`bench/podman-run.sh\`

\`podman run --rm --network none IMG true\` (busybox rootfs imported with
\`podman import\`), \`--runtime\` rcrun-oci ($RCRUN), crun, runc; the same
podman storage, image and flags for all three; hyperfine, $((PER_ROUND * ROUNDS)) runs each
in $ROUNDS rounds (order rotated per round) after $WARMUP warm-up runs. $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) × $cpu,
kernel $(uname -r), $(podman --version), $(crun --version | head -1),
$(runc --version | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg).

EOF
python3 - "$WORK"/round-*.json <<'PY'
import json, statistics, sys
times = {}
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
print("| runtime | median (ms) | mean ± σ (ms) | min (ms) | runs |")
print("|---|---|---|---|---|")
med = {}
for name in ("rcrun-oci", "crun", "runc"):
    t = [x * 1000 for x in times[name]]
    med[name] = statistics.median(t)
    print(f"| {name} | {med[name]:.1f} | {statistics.mean(t):.1f} ± {statistics.stdev(t):.1f} "
          f"| {min(t):.1f} | {len(t)} |")
print()
print(f"Median ratios: rcrun-oci/crun = {med['rcrun-oci'] / med['crun']:.2f}, "
      f"rcrun-oci/runc = {med['rcrun-oci'] / med['runc']:.2f}.")
PY
echo
echo "The runtime's own calls within those podman runs (median ms per call; $CALL_RUNS runs each):"
echo
python3 - "$WORK/calls.log" <<'PY'
import collections, statistics, sys
calls = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, verb, us = line.split()
    calls[(name, verb)].append(int(us) / 1000)
verbs = [v for v in ("create", "start", "delete", "kill", "state", "other")
         if any(k[1] == v for k in calls)]
print("| runtime | " + " | ".join(verbs) + " | sum of medians |")
print("|---" * (len(verbs) + 2) + "|")
total = {}
for name in ("rcrun-oci", "crun", "runc"):
    meds = [statistics.median(calls[(name, v)]) if calls[(name, v)] else 0.0 for v in verbs]
    total[name] = sum(meds)
    print(f"| {name} | " + " | ".join(f"{m:.1f}" for m in meds) + f" | {total[name]:.1f} |")
print()
print(f"Runtime share ratios: rcrun-oci/crun = {total['rcrun-oci'] / total['crun']:.2f}, "
      f"rcrun-oci/runc = {total['rcrun-oci'] / total['runc']:.2f}.")
PY
