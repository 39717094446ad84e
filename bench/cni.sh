#!/usr/bin/env bash
# CNI host overhead: one ADD + DEL of a plugin chain through rcrun-cni-host
# (the cni_add_del example: load the conf dir, ADD, cache, DEL) versus the
# same chain run by a plain script that only execs the plugin binaries with
# the CNI_* env and the config on stdin (prevResult spliced in by string
# concatenation, nothing cached).
#
# Two chains:
#  1. bridge + host-local + portmap (Debian reference plugins): the real cost.
#  2. the same shape with no-op plugins (a sh script printing a fixed
#     result): the plugins cost ~nothing, so the difference is cni-host's own
#     cost (process start, config load, JSON, cache write + fsync) against
#     bash's.
# cni-host also reports its own CPU time (getrusage RUSAGE_SELF: its process
# only, not the plugins), which a busy host does not inflate the way it does
# wall time.
# Rounds alternate between the two runners, swapping which goes first every
# round, so drift and ordering effects hit both alike; medians are printed.
#
# Needs root and the Debian reference plugins in /usr/lib/cni.
# Usage: bench/cni.sh [ROUNDS]   (default 40, after 5 warm-ups)
# Objects: bridge rcnbench0, netns rcn-bench, 10.220.200.0/24, host port 28200.
set -euo pipefail

ROUNDS=${1:-40}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
NS=rcn-bench
BR=rcnbench0
PORT=28200
WORK=$(mktemp -d /tmp/rcn-bench.XXXXXX)

cleanup() {
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$BR" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench/cni.sh: run as root" >&2; exit 1; }

(cd "$ROOT" && cargo build --release -q -p rcrun-cni-host --example cni_add_del)
BIN=$TARGET/release/examples/cni_add_del

ip netns add "$NS"
ip -n "$NS" link set lo up
mkdir -p "$WORK/conf" "$WORK/cache" "$WORK/ipam" "$WORK/bin"

cat > "$WORK/bin/rcn-noop" <<'SH'
#!/bin/sh
cat >/dev/null
[ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion":"1.0.0","ips":[{"address":"10.220.200.9/24"}]}'
exit 0
SH
chmod +x "$WORK/bin/rcn-noop"
export CNI_PATH=/usr/lib/cni:$WORK/bin

export BRIDGE_CONF='{"type":"bridge","bridge":"'$BR'","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","dataDir":"'$WORK/ipam'","ranges":[[{"subnet":"10.220.200.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}'
export PORTMAP_CONF='{"type":"portmap","capabilities":{"portMappings":true},"snat":true}'
export NOOP_CONF='{"type":"rcn-noop","capabilities":{"portMappings":true}}'
export PORT
echo '{"cniVersion":"1.0.0","name":"rcn-bench","plugins":['"$BRIDGE_CONF,$PORTMAP_CONF"']}' > "$WORK/conf/10-bench.conflist"
echo '{"cniVersion":"1.0.0","name":"rcn-noop","plugins":['"$NOOP_CONF,$NOOP_CONF"']}' > "$WORK/conf/20-noop.conflist"

# The baseline: a two-plugin chain, exactly what the plugins need, nothing else.
# plain.sh NET FIRST_PLUGIN_BINARY FIRST_CONF SECOND_PLUGIN_BINARY SECOND_CONF
cat > "$WORK/plain.sh" <<'SH'
#!/bin/bash
set -e
export CNI_CONTAINERID=plain CNI_NETNS=/run/netns/rcn-bench CNI_IFNAME=eth0
net=$1 b1=$2 c1=$3 b2=$4 c2=$5
head='"name":"'$net'","cniVersion":"1.0.0"'
rc='"runtimeConfig":{"portMappings":[{"hostPort":'$PORT',"containerPort":80,"protocol":"tcp"}]}'
r1=$(CNI_COMMAND=ADD "$b1" <<<"${c1%\}},$head}")
r2=$(CNI_COMMAND=ADD "$b2" <<<"${c2%\}},$head,$rc,\"prevResult\":$r1}")
CNI_COMMAND=DEL "$b2" <<<"${c2%\}},$head,$rc,\"prevResult\":$r2}" >/dev/null
CNI_COMMAND=DEL "$b1" <<<"${c1%\}},$head,\"prevResult\":$r2}" >/dev/null
SH
chmod +x "$WORK/plain.sh"

ns_now() { date +%s%N; }
median() { sort -n "$1" | awk '{ v[NR]=$1 } END { if (NR%2) m=v[(NR+1)/2]; else m=(v[NR/2]+v[NR/2+1])/2; printf "%.2f", m/1000 }'; }

# measure LABEL NET P1 C1 P2 C2
measure() {
  local label=$1 net=$2 p1=$3 c1=$4 p2=$5 c2=$6 i p h t0
  run_plain() { t0=$(ns_now); "$WORK/plain.sh" "$net" "$p1" "$c1" "$p2" "$c2"; echo $(( ($(ns_now) - t0) / 1000 )); }
  run_host() { t0=$(ns_now); RCN_SELF_CPU=$WORK/cpu.us "$BIN" "$WORK/conf" "$net" "$WORK/cache" "/run/netns/$NS" host "$PORT"; echo $(( ($(ns_now) - t0) / 1000 )); }
  # Both must work (and clean up) before they are timed.
  run_plain >/dev/null; run_host >/dev/null
  if ls "$WORK/ipam/$net" 2>/dev/null | grep -q '^10\.'; then
    echo "bench/cni.sh: $label left IPs allocated" >&2; exit 1
  fi
  : > "$WORK/p.us"; : > "$WORK/h.us"; : > "$WORK/d.us"; : > "$WORK/cpu.us"
  for i in $(seq 1 $((ROUNDS + 5))); do
    if [ $((i % 2)) = 1 ]; then p=$(run_plain); h=$(run_host); else h=$(run_host); p=$(run_plain); fi
    [ "$i" -le 5 ] && continue
    echo "$p" >> "$WORK/p.us"; echo "$h" >> "$WORK/h.us"; echo $((h - p)) >> "$WORK/d.us"
  done
  local P H D C
  P=$(median "$WORK/p.us"); H=$(median "$WORK/h.us"); D=$(median "$WORK/d.us"); C=$(median "$WORK/cpu.us")
  awk -v l="$label" -v p="$P" -v h="$H" -v d="$D" -v c="$C" -v n="$ROUNDS" 'BEGIN {
    printf "%s (%d rounds)\n", l, n;
    printf "  plain script:  median %8.2f ms\n", p;
    printf "  cni-host:      median %8.2f ms\n", h;
    printf "  overhead:      %+8.2f ms (%+.1f%%) difference of medians; %+.2f ms median of paired differences\n", h-p, 100*(h-p)/p, d;
    printf "  cni-host own CPU (user+sys, plugins excluded): median %.2f ms\n", c }'
}

measure "bridge + host-local + portmap" rcn-bench /usr/lib/cni/bridge "$BRIDGE_CONF" /usr/lib/cni/portmap "$PORTMAP_CONF"
measure "no-op plugins (cni-host's own cost)" rcn-noop "$WORK/bin/rcn-noop" "$NOOP_CONF" "$WORK/bin/rcn-noop" "$NOOP_CONF"
