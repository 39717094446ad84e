#!/usr/bin/env bash
# Issue 7's benchmark: the `rcrun` engine against podman and (when it
# starts) a dockerd started by hand, in one run, on one busybox image made
# from Debian's busybox-static (scripts/make-busybox-image.sh) and loaded
# into all three with `load -i`:
#   (1) `run --rm IMG true`, wall clock of the command;
#   (2) `run -d -p PORT:80 IMG httpd -f -p 80 -h /www` until the first HTTP
#       200 on 127.0.0.1:PORT (curl polled in a tight loop), wall clock;
#   (3) the start time (`run -d IMG sleep`) of container N (default 200)
#       with N-1 running, vs the 1st: SERIES (default 5) series of N starts
#       per tool, each from zero containers on a host whose caches were
#       dropped and warmed again by one unmeasured start (see settle());
#       medians over the series of the
#       1st and of the Nth start, and of all starts in the first and in the
#       last ten positions (which single outliers do not move); and, since
#       one start on this VM varies by more than the 10% the target allows,
#       the 1st and the Nth start REPEAT (default 5) more times per series:
#       with none running, before the series, a start is timed and removed
#       again; with N-1 running, after the series, the Nth container is
#       removed and started again, timed. Each of these starts waits for
#       the teardown of the one before (quiesce()). Medians of those
#       SERIES*REPEAT starts each, and the median over the series of each
#       series' ratio of the two;
#   (4) VmRSS (/proc/PID/status, as bench/monitor-rss.sh) of each
#       container's monitor while the N containers of (3) run: rcrun-monitor,
#       conmon (podman), containerd-shim-runc-v2 (docker).
# (1) and (2): RUNS rounds, each round runs every tool once, the tool order
# rotating from round to round; medians. Prints a markdown results table
# and the ratios against issue 7's targets.
#
# Networks: rcrun its default `bridge` network (built-in driver; bridge
# rxe0, 10.232.0.0/17, nft table `rxebench`, kernel DNAT for -p); podman
# its default netavark bridge (`podman`, podman0, iptables DNAT); docker
# its bridge driver on a bridge made for it (rxedk0, 10.232.200.0/24) with
# --iptables=false, so -p goes through docker-proxy (the userland proxy) and
# the host's iptables and FORWARD policy stay untouched.
#
#   sudo bench/run.sh                       # RUNS=11, N=200, SERIES=5, all three
#   RUNS=21 N=50 SERIES=5 MANY_TOOLS="rcrun" sudo -E bench/run.sh
#   RCRUN_BIN=/dir/with/rcrun/and/helpers SKIP_DOCKER=1 sudo -E bench/run.sh
#
# Needs root, podman (with runc, conmon, netavark), curl, iproute2, nft,
# busybox-static; docker.io for the docker column. podman runs with runc:
# Debian's crun 1.8 refuses this hybrid-cgroup host (see bench/lib/hugetlb.sh),
# and with --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 (root lacks
# CAP_SYS_RESOURCE here). Everything (containers, images, networks, bridges,
# nft table, mounts, cgroups, the dockerd) is removed on exit, also on
# failure. Host ports used: 28500-28899.
set -euo pipefail

RUNS=${RUNS:-11}
SERIES=${SERIES:-5}
REPEAT=${REPEAT:-5}
N=${N:-200}
MANY_TOOLS=${MANY_TOOLS:-rcrun podman docker}
REPO=$(cd "$(dirname "$0")/.." && pwd)

log() { echo "== $*" >&2; }
die() { echo "bench/run.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
for t in podman runc conmon curl ip nft ss /bin/busybox; do
  command -v "$t" >/dev/null || die "$t missing: run scripts/install-deps.sh"
done
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

if [ -z "${RCRUN_BIN:-}" ]; then
  log "building rcrun and its helpers (scripts/build-rcrun.sh)"
  RCRUN_BIN=$(bash "$REPO/scripts/build-rcrun.sh")
fi
for b in rcrun rcrun-oci rcrun-monitor rcrun-pause; do
  [ -x "$RCRUN_BIN/$b" ] || die "$RCRUN_BIN/$b missing (scripts/build-rcrun.sh puts all four together)"
done

WORK=$(mktemp -d /tmp/rxe-bench.XXXXXX)
# Runtime state on a tmpfs, as /run is on a usual host (here /run is on the
# root disk, where every atomic write's fsync would cost milliseconds): the
# run roots of rcrun and podman, docker's exec root.
DK_EXEC=$WORK/run/dk
DK_SOCK=$WORK/docker.sock
DK_BRIDGE=rxedk0
DK_PID=
DOCKER=0
PODMAN_BRIDGE_EXISTED=0
ip link show podman0 >/dev/null 2>&1 && PODMAN_BRIDGE_EXISTED=1

# rcrun: its own roots, default network bridge, nft table and veth names.
export RCRUN_ROOT=$WORK/run/rcrun RCRUN_DATA_ROOT=$WORK/rcrun-data
export RCRUN_NET_DEFAULT_BRIDGE=rxe0 RCRUN_NET_DEFAULT_POOL=10.232.0.0/17
export RCRUN_NFT_TABLE=rxebench RCRUN_NET_VETH_PREFIX=rxev
RC_RUN_OPTS=()
rc() { "$RCRUN_BIN/rcrun" "$@"; }
PODMAN=(podman --root "$WORK/podman/storage" --runroot "$WORK/run/podman" --tmpdir "$WORK/podman/tmp"
  --cgroup-manager cgroupfs --events-backend file --network-backend netavark --runtime "$(command -v runc)")
PM_FLAGS=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --cgroup-parent /rxe-podman)
pm() { "${PODMAN[@]}" "$@"; }
dk() { docker -H "unix://$DK_SOCK" "$@"; }
IMG_rcrun=rcrun-busybox:latest
IMG_podman=localhost/rcrun-busybox:latest
IMG_docker=rcrun-busybox:latest

cleanup() {
  set +e
  log "cleaning up"
  local ids
  ids=$(rc ps -aq 2>/dev/null)
  [ -z "$ids" ] || echo "$ids" | xargs -r -n 20 -P 2 "$RCRUN_BIN/rcrun" rm -f >/dev/null 2>&1
  rc system gc >/dev/null 2>&1
  rc network rm bridge >/dev/null 2>&1
  ip link del rxe0 2>/dev/null
  nft delete table inet rxebench 2>/dev/null
  pm rm -af -t 0 >/dev/null 2>&1
  pm rmi -af >/dev/null 2>&1
  if [ "$PODMAN_BRIDGE_EXISTED" = 0 ] && ip link show podman0 >/dev/null 2>&1 &&
    [ -z "$(ls /sys/class/net/podman0/brif 2>/dev/null)" ]; then
    ip link del podman0 2>/dev/null
  fi
  if [ -n "$DK_PID" ]; then
    ids=$(dk ps -aq 2>/dev/null)
    [ -z "$ids" ] || echo "$ids" | xargs -r dk rm -f >/dev/null 2>&1
    dk rmi -f "$IMG_docker" >/dev/null 2>&1
    kill "$DK_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$DK_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DK_PID" 2>/dev/null
  fi
  ip link del "$DK_BRIDGE" 2>/dev/null
  # Whatever is still mounted under our dirs, deepest first.
  awk -v w="$WORK" -v d="$DK_EXEC" 'index($5, w) == 1 || index($5, d) == 1 { print $5 }' /proc/self/mountinfo |
    sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  local c
  for c in rxe-podman rxe-docker; do
    find /sys/fs/cgroup/*/"$c" /sys/fs/cgroup/unified/"$c" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/run"
mount -t tmpfs -o size=512m,mode=0700 rxebench "$WORK/run"

# ---------------------------------------------------------------- setup
log "making the busybox image (scripts/make-busybox-image.sh)"
archive=$(bash "$REPO/scripts/make-busybox-image.sh" "$WORK/busybox.tar" rcrun-busybox:latest)
rc load -q -i "$archive"
pm load -q -i "$archive" >/dev/null

start_docker() {
  command -v dockerd >/dev/null || { log "dockerd not installed: no docker column"; return 1; }
  ip link add "$DK_BRIDGE" type bridge &&
    ip addr add 10.232.200.1/24 dev "$DK_BRIDGE" && ip link set "$DK_BRIDGE" up || return 1
  echo '{}' >"$WORK/daemon.json"
  mkdir -p "$DK_EXEC"
  dockerd --config-file "$WORK/daemon.json" --data-root "$WORK/docker" --exec-root "$DK_EXEC" \
    --pidfile "$WORK/docker.pid" -H "unix://$DK_SOCK" --bridge "$DK_BRIDGE" \
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --userland-proxy=true \
    --cgroup-parent /rxe-docker --containerd-namespace rxedk --containerd-plugins-namespace rxedkp \
    >"$WORK/dockerd.log" 2>&1 &
  DK_PID=$!
  for _ in $(seq 150); do
    dk version >/dev/null 2>&1 && return 0
    kill -0 "$DK_PID" 2>/dev/null || break
    sleep 0.2
  done
  log "dockerd did not start: $(tail -n 3 "$WORK/dockerd.log" | tr '\n' ' ')"
  return 1
}
TOOLS=(rcrun podman)
if [ "${SKIP_DOCKER:-0}" != 1 ] && start_docker; then
  dk load -q -i "$archive" >/dev/null && DOCKER=1 && TOOLS+=(docker)
fi
[ "$DOCKER" = 1 ] || log "continuing without docker"

# ---------------------------------------------------------------- tools
# run_true TOOL; run_httpd TOOL PORT (prints the id); run_sleep TOOL;
# rm_all TOOL.
run_true() {
  case $1 in
    rcrun) rc run --rm ${RC_RUN_OPTS[@]+"${RC_RUN_OPTS[@]}"} "$IMG_rcrun" true ;;
    podman) pm run --rm "${PM_FLAGS[@]}" "$IMG_podman" true ;;
    docker) dk run --rm "$IMG_docker" true ;;
  esac
}
run_httpd() {
  local cmd=(httpd -f -p 80 -h /www)
  case $1 in
    rcrun) rc run -d ${RC_RUN_OPTS[@]+"${RC_RUN_OPTS[@]}"} -p "$2:80" "$IMG_rcrun" "${cmd[@]}" ;;
    podman) pm run -d "${PM_FLAGS[@]}" -p "$2:80" "$IMG_podman" "${cmd[@]}" ;;
    docker) dk run -d -p "$2:80" "$IMG_docker" "${cmd[@]}" ;;
  esac
}
run_sleep() {
  case $1 in
    rcrun) rc run -d ${RC_RUN_OPTS[@]+"${RC_RUN_OPTS[@]}"} "$IMG_rcrun" sleep 86400 ;;
    podman) pm run -d "${PM_FLAGS[@]}" "$IMG_podman" sleep 86400 ;;
    docker) dk run -d "$IMG_docker" sleep 86400 ;;
  esac
}
rm_one() {
  case $1 in
    rcrun) rc rm -f "$2" ;;
    podman) pm rm -f -t 0 "$2" ;;
    docker) dk rm -f "$2" ;;
  esac
}
rm_all() {
  case $1 in
    rcrun) rc ps -aq | xargs -r -n 20 -P 2 "$RCRUN_BIN/rcrun" rm -f ;;
    podman) pm rm -af -t 0 ;;
    docker) dk ps -aq | xargs -r -n 20 -P 2 docker -H "unix://$DK_SOCK" rm -f ;;
  esac >/dev/null
}
# The per-container monitor processes of TOOL's containers.
monitor_pids() {
  case $1 in
    rcrun) pgrep -f "^$RCRUN_BIN/rcrun-monitor " ;;
    podman) pgrep -f "^(/usr/bin/)?conmon .*$WORK/podman" ;;
    docker) pgrep -f "containerd-shim-runc-v2 -namespace rxedk " ;;
  esac
}
monitor_name() {
  case $1 in
    rcrun) echo rcrun-monitor ;; podman) echo conmon ;; docker) echo containerd-shim-runc-v2 ;;
  esac
}

us() { echo "${EPOCHREALTIME/./}"; }
# median of the numbers on stdin (one per line)
median() { sort -n | awk '{a[NR] = $1} END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
declare -A T1 T2

# Rotate the tool list by $1.
rotated() {
  local r=$1 n=${#TOOLS[@]} i
  for ((i = 0; i < n; i++)); do echo "${TOOLS[$(((i + r) % n))]}"; done
}

log "checking each tool once"
for t in "${TOOLS[@]}"; do
  out=$(run_true "$t" 2>&1) || die "$t run --rm true failed: $out"
done

# ---------------------------------------------------------------- (1)
log "(1) run --rm true: $RUNS rounds"
for ((r = 0; r < RUNS; r++)); do
  for t in $(rotated "$r"); do
    t0=$(us)
    out=$(run_true "$t" 2>&1) || die "$t run --rm true failed: $out"
    T1[$t]+="$(($(us) - t0)) "
  done
done

# ---------------------------------------------------------------- (2)
log "(2) run -d -p PORT:80 httpd until the first HTTP answer: $RUNS rounds"
port_base() { case $1 in rcrun) echo 28500 ;; podman) echo 28600 ;; docker) echo 28700 ;; esac; }
for ((r = 0; r < RUNS; r++)); do
  for t in $(rotated "$r"); do
    port=$(($(port_base "$t") + r % 100))
    t0=$(us)
    id=$(run_httpd "$t" "$port" 2>&1) || die "$t run -d -p $port:80 failed: $id"
    deadline=$((t0 + 20000000))
    until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/")" = 200 ]; do
      [ "$(us)" -lt "$deadline" ] || die "$t: no HTTP answer on 127.0.0.1:$port within 20 s"
    done
    T2[$t]+="$(($(us) - t0)) "
    rm_one "$t" "$id" >/dev/null 2>&1 || die "$t rm -f $id failed"
  done
done

# ---------------------------------------------------------------- (3)+(4)
declare -A FIRST LAST FIRSTS LASTS FIRST10 LAST10 DECILES RSS RSS_RANGE NMON PAUSE_RSS FIRSTR LASTR SRATIOS SRATIO
# Before each series: let the teardown of the containers removed just before
# (rcrun's background detaches, podman's and docker's cleanups, the kernel's
# network-namespace cleanup) finish, then give every series the same clean
# host: write back and drop the page, dentry and inode caches (which also
# frees the memory cgroups that removed containers leave dying while pages
# are charged to them, ~10 per container, and which slow every later cgroup
# operation; and ext4's record of recently freed inodes, which slows every
# file creation for minutes after a mass removal), wait SETTLE seconds, and
# warm the caches again with one unmeasured start of the tool, removed.
SETTLE=${SETTLE:-5}
# Wait (up to a minute) until no teardown of a removed container runs:
# rcrun's deferred network detach, podman's cleanup, docker-proxy.
wait_teardown() {
  local i
  for ((i = 0; i < 600; i++)); do
    pgrep -f "rcrun network detach|container cleanup|docker-proxy" >/dev/null || break
    sleep 0.1
  done
}
settle() {
  wait_teardown
  sync
  echo 3 >/proc/sys/vm/drop_caches
  sleep "$SETTLE"
  run_sleep "$1" >/dev/null 2>&1 || true
  rm_all "$1"
  wait_teardown
  sleep 1
}
# Before each timed start of (3)'s repeats: the previous one's teardown.
quiesce() {
  wait_teardown
  sleep 0.5
}
# One more timed start (appended to the array named $2), removed again.
start_again() {
  local t0 out
  local -n into=$2
  quiesce
  t0=$(us)
  out=$(run_sleep "$1" 2>&1) || die "$1 run -d sleep failed: $out"
  into+=("$(($(us) - t0))")
  rm_one "$1" "$(tail -n 1 <<<"$out")" >/dev/null 2>&1 || die "$1 rm -f failed"
}
for t in $MANY_TOOLS; do
  [ "$t" != docker ] || [ "$DOCKER" = 1 ] || continue
  firsts=() lasts=() all=() rep1=() repn=() sratios=()
  for ((s = 1; s <= SERIES; s++)); do
    settle "$t"
    log "(3) $t: series $s of $SERIES: the 1st start $REPEAT times, then $N x run -d sleep"
    s1=() sn=()
    for ((r = 0; r < REPEAT; r++)); do start_again "$t" s1; done
    rep1+=("${s1[@]}")
    quiesce
    starts=()
    for ((i = 1; i <= N; i++)); do
      t0=$(us)
      out=$(run_sleep "$t" 2>&1) || die "$t run -d sleep (container $i) failed: $out"
      starts+=("$(($(us) - t0))")
    done
    last_id=$(tail -n 1 <<<"$out")
    firsts+=("${starts[0]}")
    lasts+=("${starts[$((N - 1))]}")
    all+=("${starts[@]}")
    if [ "$s" = 1 ]; then
      sleep 1 # let every monitor settle into its loop
      log "(4) $(monitor_name "$t") VmRSS with $N containers running"
      mapfile -t pids < <(monitor_pids "$t")
      NMON[$t]=${#pids[@]}
      rss=()
      for p in "${pids[@]}"; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) && [ -n "$v" ] && rss+=("$v")
      done
      if [ "${#rss[@]}" -gt 0 ]; then
        RSS[$t]=$(printf '%s\n' "${rss[@]}" | median)
        RSS_RANGE[$t]="$(printf '%s\n' "${rss[@]}" | sort -n | head -n 1)–$(printf '%s\n' "${rss[@]}" | sort -n | tail -n 1)"
      fi
      if [ "$t" = rcrun ]; then
        mapfile -t pp < <(pgrep -f "^$RCRUN_BIN/rcrun-pause ")
        prss=()
        for p in "${pp[@]}"; do
          v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) && [ -n "$v" ] && prss+=("$v")
        done
        [ "${#prss[@]}" = 0 ] || PAUSE_RSS[$t]=$(printf '%s\n' "${prss[@]}" | median)
      fi
    fi
    log "(3) $t: the ${N}th start $REPEAT more times with $((N - 1)) running"
    rm_one "$t" "$last_id" >/dev/null 2>&1 || die "$t rm -f $last_id failed"
    for ((r = 0; r < REPEAT; r++)); do start_again "$t" sn; done
    repn+=("${sn[@]}")
    sratios+=("$(awk -v a="$(printf '%s\n' "${sn[@]}" | median)" -v b="$(printf '%s\n' "${s1[@]}" | median)" 'BEGIN { printf "%.3f", a / b }')")
    log "removing the $((N - 1)) $t containers"
    rm_all "$t" || log "$t: removing its containers failed"
  done
  FIRSTR[$t]=$(printf '%s\n' "${rep1[@]}" | median)
  LASTR[$t]=$(printf '%s\n' "${repn[@]}" | median)
  SRATIOS[$t]="${sratios[*]}"
  SRATIO[$t]=$(printf '%s\n' "${sratios[@]}" | median)
  # Medians over the series: of the 1st starts, of the Nth starts, and of
  # every start in the first (last) ten positions of every series.
  FIRST[$t]=$(printf '%s\n' "${firsts[@]}" | median)
  LAST[$t]=$(printf '%s\n' "${lasts[@]}" | median)
  FIRSTS[$t]="${firsts[*]}" LASTS[$t]="${lasts[*]}"
  k=$((N < 10 ? N : 10))
  pos() { # from to: the starts at positions [from, to) of every series
    local a
    for ((a = 0; a < SERIES; a++)); do printf '%s\n' "${all[@]:a*N+$1:$2-$1}"; done
  }
  FIRST10[$t]=$(pos 0 "$k" | median)
  LAST10[$t]=$(pos $((N - k)) "$N" | median)
  # Median start time of each tenth of the N positions (shows how it grows).
  DECILES[$t]=
  for ((d = 0; d < 10; d++)); do
    a=$((d * N / 10)) b=$(((d + 1) * N / 10))
    [ "$b" -gt "$a" ] || continue
    DECILES[$t]+="$(ms "$(pos "$a" "$b" | median)") "
  done
done

# ---------------------------------------------------------------- report
med() { tr ' ' '\n' <<<"$1" | { grep . || true; } | median; }
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
dkver=n/a
[ "$DOCKER" = 1 ] && dkver="docker $(dk version --format '{{.Server.Version}}')"
cat <<EOF
## rcrun vs podman vs docker: \`bench/run.sh\`

$(date -u '+%Y-%m-%d %H:%M UTC'), \`RUNS=$RUNS N=$N SERIES=$SERIES REPEAT=$REPEAT bench/run.sh\`; $(nproc) × $cpu, kernel $(uname -r);
load average $(cut -d' ' -f1-3 /proc/loadavg) at the end. rcrun $(rc version | awk '{print $3}') at
$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown) (+ working tree), from $RCRUN_BIN;
$(podman --version) with $(runc --version | head -n 1); $dkver$([ "$DOCKER" = 1 ] || echo " (dockerd did not start or was skipped)").
Image: one busybox layer from Debian's busybox-static, loaded into each with \`load -i\`.

Networks: rcrun — its default \`bridge\` network (built-in driver, kernel DNAT for
\`-p\`); podman — its default netavark bridge \`podman\`; docker — its bridge
driver with \`--iptables=false\` (\`-p\` through docker-proxy).

| measurement (median of $RUNS, ms) | rcrun | podman | docker | rcrun/podman | rcrun/docker | target |
|---|---|---|---|---|---|---|
EOF
row() { # label array-name target
  local label=$1 name=$2 target=$3 r p d
  local -n arr=$name
  r=$(med "${arr[rcrun]:-}"); p=$(med "${arr[podman]:-}"); d=$(med "${arr[docker]:-}")
  local rp=n/a rd=n/a dms=n/a
  [ "$p" != nan ] && rp=$(awk -v r="$r" -v p="$p" 'BEGIN { printf "%.2f", r / p }')
  if [ "$d" != nan ]; then
    rd=$(awk -v r="$r" -v d="$d" 'BEGIN { printf "%.2f", r / d }')
    dms=$(ms "$d")
  fi
  echo "| $label | $(ms "$r") | $(ms "$p") | $dms | $rp | $rd | $target |"
}
row '(1) `run --rm IMG true`' T1 '≤ 0.25 of both'
row '(2) `run -d -p` to first HTTP 200' T2 '≤ 0.25 of both'
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "| (3) $N containers, \`run -d IMG sleep\`, $SERIES series (ms, medians) | 1st ×$REPEAT | ${N}th ×$REPEAT | ratio | median of the series' ratios | 1st | ${N}th | ${N}th/1st | first 10 | last 10 | last10/first10 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for t in rcrun podman docker; do
  [ -n "${FIRST[$t]:-}" ] || continue
  echo "| $t | $(ms "${FIRSTR[$t]}") | $(ms "${LASTR[$t]}") | $(ratio "${LASTR[$t]}" "${FIRSTR[$t]}") | $(ratio "${SRATIO[$t]}" 1) | $(ms "${FIRST[$t]}") | $(ms "${LAST[$t]}") | $(ratio "${LAST[$t]}" "${FIRST[$t]}") | $(ms "${FIRST10[$t]}") | $(ms "${LAST10[$t]}") | $(ratio "${LAST10[$t]}" "${FIRST10[$t]}") |"
done
echo
echo "Target (3): the ${N}th start within 10% of the 1st (ratio ≤ 1.10)."
echo "\"×$REPEAT\": the median of $((SERIES * REPEAT)) starts each, $REPEAT per series: the 1st with none running (started and removed), the ${N}th with $((N - 1)) running (removed and started again). \"Median of the series' ratios\": each series' median ${N}th over its median 1st (the two are seconds apart, so slow drifts of the host cancel), then the median over the series."
echo "Each series' ratio:"
for t in rcrun podman docker; do
  [ -n "${SRATIOS[$t]:-}" ] || continue
  echo "- $t: ${SRATIOS[$t]}"
done
echo "1st and ${N}th start of each series (ms):"
for t in rcrun podman docker; do
  [ -n "${FIRSTS[$t]:-}" ] || continue
  f="" l=""
  for x in ${FIRSTS[$t]}; do f+="$(ms "$x") "; done
  for x in ${LASTS[$t]}; do l+="$(ms "$x") "; done
  echo "- $t: ${f% } / ${l% }"
done
echo "Median start time (ms) of each tenth of the $N positions (all series), in order:"
for t in rcrun podman docker; do
  [ -n "${DECILES[$t]:-}" ] && echo "- $t: ${DECILES[$t]% }"
done
echo
echo "| (4) monitor VmRSS with $N running (KiB) | processes | median | min–max |"
echo "|---|---|---|---|"
for t in rcrun podman docker; do
  [ -n "${RSS[$t]:-}" ] || continue
  echo "| $(monitor_name "$t") ($t) | ${NMON[$t]} | ${RSS[$t]} | ${RSS_RANGE[$t]} |"
done
[ -z "${PAUSE_RSS[rcrun]:-}" ] || echo "| rcrun-pause (one per sandbox; not a monitor) | $N | ${PAUSE_RSS[rcrun]} | |"
if [ -n "${RSS[rcrun]:-}" ] && [ -n "${RSS[podman]:-}" ]; then
  echo
  echo "rcrun-monitor / conmon VmRSS: $(awk -v r="${RSS[rcrun]}" -v c="${RSS[podman]}" 'BEGIN { printf "%.2f", r / c }') (target ≤ 0.5)."
fi
