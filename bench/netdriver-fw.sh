#!/usr/bin/env bash
# Firewall benchmark of the built-in network driver (netdriver/src/firewall).
#
#  1. Cost of NftFirewall::setup_port_forward (one atomic transaction adding
#     one DNAT map element) when it is mapping #1, #2-#10, #991-#1000 and
#     #10001-#10010 of the table, and of teardown_port_forward; in-process
#     through libnftables (the default) and through the nft binary.
#     (netdriver/benches/firewall.rs, built by `cargo bench`.)
#  2. iperf3 throughput to a container through a published port (from
#     127.0.0.1 and from the host's own IP) vs straight to the container's IP,
#     with 1 and with 10010 mappings in the table.
#
# Root only. Uses 10.211.250.0/24, names rnfb*/rnf-bench*, its own nft
# table; everything is removed on exit.
# Usage: bench/netdriver-fw.sh [iperf-seconds [rounds]]   (CARGO_TARGET_DIR is honoured)
set -euo pipefail

SECS=${1:-3}
ROUNDS=${2:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=$(printf '%04x' $(($$ & 0xffff)))
TABLE=rcrun_bench$TAG
BR=rnfb$TAG
VETH=rnfbv$TAG
NS=rnf-bench$TAG
GW=10.211.250.1
CTR=10.211.250.2
IPERF_PID=/tmp/rnf-bench-iperf-$TAG.pid

cleanup() {
  if [ -f "$IPERF_PID" ]; then kill "$(cat "$IPERF_PID")" 2>/dev/null || true; rm -f "$IPERF_PID"; fi
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$BR" 2>/dev/null || true
  nft delete table inet "$TABLE" 2>/dev/null || true
  rm -f "/run/lock/rcrun-nft-$TABLE.lock"
  for b in iptables-nft ip6tables-nft iptables-legacy ip6tables-legacy; do
    "$b" -w -D FORWARD -m mark --mark 0x1000/0x1000 -m comment --comment "rcrun table $TABLE" -j ACCEPT 2>/dev/null || true
  done
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "netdriver-fw.sh: run as root" >&2; exit 1; }
for c in nft ip iperf3 cargo; do command -v $c >/dev/null || { echo "netdriver-fw.sh: $c missing (scripts/install-deps.sh)" >&2; exit 1; }; done

echo "building the firewall bench (cargo bench --no-run)..." >&2
(cd "$ROOT" && cargo bench -q -p rcrun-netdriver --bench firewall --no-run) >&2
BENCH=$(cd "$ROOT" && cargo bench -q -p rcrun-netdriver --bench firewall --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*firewall[^"]*\)".*/\1/p' | tail -1)
[ -x "$BENCH" ] || { echo "netdriver-fw.sh: bench executable not found" >&2; exit 1; }

# --- a network and a sandbox, as the driver's core would make them -----------
sysctl -qw net.ipv4.ip_forward=1
ip link add "$BR" type bridge
ip addr add $GW/24 dev "$BR"
ip link set "$BR" up
ip netns add "$NS"
ip -n "$NS" link set lo up
ip link add "$VETH" type veth peer name eth0 netns "$NS"
ip link set "$VETH" master "$BR" up
ip link set "$VETH" type bridge_slave hairpin on
ip -n "$NS" addr add $CTR/24 dev eth0
ip -n "$NS" link set eth0 up
ip -n "$NS" route add default via $GW
ip netns exec "$NS" iperf3 -s -D -p 5201 --pidfile "$IPERF_PID"
sleep 0.3

export RNF_BENCH_TABLE=$TABLE RNF_BENCH_BRIDGE=$BR RNF_BENCH_SUBNET=10.211.250.0/24 \
  RNF_BENCH_CTR=$CTR RNF_BENCH_PORT=5201

iperf() { # $1 = address, $2 = port: receiver Gbit/s
  iperf3 -c "$1" -p "$2" -t "$SECS" -J | awk -F: '/"sum_received"/ {f=1} f && /bits_per_second/ {gsub(/[ ,]/,"",$2); printf "%.2f", $2/1e9; exit}'
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.0f%%", 100*a/b}'; }
HOST_IP=$(ip -4 -o addr show scope global | awk -v br="$BR" '$2 != br && $2 !~ /^rnf/ {sub(/\/.*/,"",$4); print $4; exit}')

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== Firewall operations =="
RNF_BENCH_STAGE=first "$BENCH"

throughput() { # $1 = label: ROUNDS interleaved rounds, medians and ratios
  local d=() l=() h=() i
  for i in $(seq 1 "$ROUNDS"); do
    d+=("$(iperf $CTR 5201)"); l+=("$(iperf 127.0.0.1 20001)"); h+=("$(iperf "$HOST_IP" 20001)")
  done
  local md ml mh
  md=$(printf '%s\n' "${d[@]}" | median); ml=$(printf '%s\n' "${l[@]}" | median); mh=$(printf '%s\n' "${h[@]}" | median)
  echo
  echo "== Throughput, $1 (iperf3 -t $SECS, $ROUNDS interleaved rounds, median receiver Gbit/s) =="
  echo "straight to the container $CTR:5201: $md   (rounds: ${d[*]})"
  echo "published, 127.0.0.1:20001:          $ml ($(pct "$ml" "$md"))   (rounds: ${l[*]})"
  echo "published, host IP $HOST_IP:20001:   $mh ($(pct "$mh" "$md"))   (rounds: ${h[*]})"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

throughput "1 mapping"

echo
echo "== Firewall operations as the table grows =="
RNF_BENCH_STAGE=scale "$BENCH"

throughput "10010 mappings"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
