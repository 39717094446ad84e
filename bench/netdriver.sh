#!/usr/bin/env bash
# Built-in network driver vs its peers, in one run, on one netns:
#
#  1. attach + one published port + detach:
#       netdriver  `rcrun network attach NET --netns NS --id ID -p 28300:80`
#                  then `rcrun network detach` (release build, the hidden
#                  debug verbs of the CLI: a whole rcrun process each). Two
#                  rows: the default deferred detach (returns once the
#                  endpoint is marked; a background rcrun does the kernel
#                  teardown, which the script waits for, untimed, before the
#                  next step) and `detach --wait` (all of it, synchronously);
#       netavark   `netavark setup NS` / `netavark teardown NS` (Debian 1.4,
#                  /usr/lib/podman/netavark) with the network + port mapping
#                  JSON on stdin;
#       CNI chain  bridge + host-local + portmap ADD, then portmap + bridge
#                  DEL (Debian reference plugins in /usr/lib/cni), exec'd by
#                  this script with the CNI_* environment and the config
#                  (prevResult spliced in) on stdin; no runtime overhead.
#     Rounds rotate which tool goes first; medians of each step are printed.
#  2. netdriver attach with a published port when it is mapping #1 of the
#     table vs mapping #1000 (999 other elements seeded into the DNAT map
#     with `nft add element`, the firewall's `dnat_tcp4_any` map).
#
# Root only. Uses 10.210.250-252.0/24, host ports 28300-28302 and 30000-30998,
# names rnd*/rnd-bench*, its own data root and nft table; everything it made
# is removed on exit (netavark's own iptables base chains, if it created them,
# stay, as after any podman run).
# Usage: bench/netdriver.sh [ROUNDS]   (default 30 after 3 warm-ups;
#        CARGO_TARGET_DIR is honoured)
set -euo pipefail

ROUNDS=${1:-30}
WARM=3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
TAG=$(printf '%04x' $(($$ & 0xffff)))
NS=rnd-bench$TAG
NSPATH=/run/netns/$NS
WORK=$(mktemp -d /tmp/rnd-bench.XXXXXX)
ND_BR=rndb$TAG
NV_BR=rndv$TAG
CNI_BR=rndc$TAG
TABLE=rnd_bench$TAG
NETAVARK=/usr/lib/podman/netavark
CNI=/usr/lib/cni

export RCRUN_NFT_TABLE=$TABLE RCRUN_NET_VETH_PREFIX=rnd RCRUN_DATA_ROOT=$WORK/data RCRUN_ROOT=$WORK/run
RCRUN=$TARGET/release/rcrun

cleanup() {
  "$RCRUN" network detach --wait ndbench --id bench 2>/dev/null || true
  "$RCRUN" network rm ndbench >/dev/null 2>&1 || true
  [ -f "$WORK/nv.json" ] && "$NETAVARK" --config "$WORK/nv" teardown "$NSPATH" <"$WORK/nv.json" >/dev/null 2>&1 || true
  ip netns del "$NS" 2>/dev/null || true
  for l in "$ND_BR" "$NV_BR" "$CNI_BR"; do ip link del "$l" 2>/dev/null || true; done
  nft delete table inet "$TABLE" 2>/dev/null || true
  rm -f "/run/lock/rcrun-nft-$TABLE.lock"
  rm -rf "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench/netdriver.sh: run as root" >&2; exit 1; }
for f in "$NETAVARK" "$CNI/bridge" "$CNI/host-local" "$CNI/portmap"; do
  [ -x "$f" ] || { echo "bench/netdriver.sh: $f missing (scripts/install-deps.sh)" >&2; exit 1; }
done
echo "building rcrun (release)..." >&2
(cd "$ROOT" && cargo build --release -q -p rcrun-cli --bin rcrun)

ip netns add "$NS"
ip -n "$NS" link set lo up
"$RCRUN" network create --subnet 10.210.250.0/24 -o "com.docker.network.bridge.name=$ND_BR" ndbench >/dev/null

# --- netavark -----------------------------------------------------------------
mkdir -p "$WORK/nv"
cat >"$WORK/nv.json" <<EOF
{
  "container_id": "$(printf 'b%.0s' {1..64})",
  "container_name": "rndbench",
  "networks": {"rndnv": {"interface_name": "eth0", "static_ips": ["10.210.251.2"]}},
  "network_info": {"rndnv": {"dns_enabled": false, "driver": "bridge",
    "id": "$(printf 'a%.0s' {1..64})", "internal": false, "ipv6_enabled": false,
    "name": "rndnv", "network_interface": "$NV_BR",
    "subnets": [{"gateway": "10.210.251.1", "subnet": "10.210.251.0/24"}]}},
  "port_mappings": [{"container_port": 80, "host_ip": "", "host_port": 28301, "protocol": "tcp", "range": 1}]
}
EOF

# --- CNI reference chain --------------------------------------------------------
CNI_ID=rndbench$TAG
BRIDGE_CONF=$(cat <<EOF
{"cniVersion":"1.0.0","name":"rndcni","type":"bridge","bridge":"$CNI_BR","isGateway":true,"ipMasq":true,
 "ipam":{"type":"host-local","dataDir":"$WORK/cni-ipam","ranges":[[{"subnet":"10.210.252.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}
EOF
)
portmap_conf() { # $1 = prevResult JSON
  printf '{"cniVersion":"1.0.0","name":"rndcni","type":"portmap","capabilities":{"portMappings":true},"runtimeConfig":{"portMappings":[{"hostPort":28302,"containerPort":80,"protocol":"tcp"}]},"prevResult":%s}' "$1"
}
plugin() { # $1 = command, $2 = plugin; config on stdin
  CNI_COMMAND=$1 CNI_CONTAINERID=$CNI_ID CNI_NETNS=$NSPATH CNI_IFNAME=eth0 CNI_PATH=$CNI "$CNI/$2"
}
cni_add() {
  local r
  r=$(plugin ADD bridge <<<"$BRIDGE_CONF")
  CNI_RESULT=$(portmap_conf "$r" | plugin ADD portmap)
}
cni_del() {
  portmap_conf "$CNI_RESULT" | plugin DEL portmap >/dev/null
  plugin DEL bridge <<<"$BRIDGE_CONF" >/dev/null
}

nd_add() { "$RCRUN" network attach ndbench --netns "$NSPATH" --id bench -p 28300:80 >/dev/null; }
nd_del() { "$RCRUN" network detach ndbench --id bench; }
nd_delw() { "$RCRUN" network detach --wait ndbench --id bench; }
# The deferred detach's background process: wait (untimed) until it is done,
# so its kernel work never overlaps the next measurement.
nd_settle() {
  local n=0
  while [ -e "$WORK/data/endpoints/ndbench/bench.json" ]; do
    sleep 0.005; n=$((n + 1))
    [ $n -lt 2000 ] || { echo "background detach did not finish" >&2; exit 1; }
  done
}
nv_add() { "$NETAVARK" --config "$WORK/nv" setup "$NSPATH" <"$WORK/nv.json" >/dev/null; }
nv_del() { "$NETAVARK" --config "$WORK/nv" teardown "$NSPATH" <"$WORK/nv.json" >/dev/null; }

now() { date +%s%N; }
# time_pair NAME ADD DEL: append add and del microseconds to $WORK/NAME.{add,del}
time_pair() {
  local t0 t1 t2
  t0=$(now); $2; t1=$(now); $3; t2=$(now)
  [ "$3" != nd_del ] || nd_settle
  echo $(((t1 - t0) / 1000)) >>"$WORK/$1.add"
  echo $(((t2 - t1) / 1000)) >>"$WORK/$1.del"
  echo $(((t2 - t0) / 1000)) >>"$WORK/$1.sum"
}
median() { sort -n "$1" | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
ms() { awk -v u="$1" 'BEGIN{printf "%.1f", u/1000}'; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 0; i < WARM; i++)); do
  time_pair warm nd_add nd_del; time_pair warm nd_add nd_delw; time_pair warm nv_add nv_del; time_pair warm cni_add cni_del
done
rm -f "$WORK"/*.add "$WORK"/*.del "$WORK"/*.sum
for ((i = 0; i < ROUNDS; i++)); do
  case $((i % 3)) in
    0) time_pair nd nd_add nd_del; time_pair ndw nd_add nd_delw; time_pair nv nv_add nv_del; time_pair cni cni_add cni_del ;;
    1) time_pair nv nv_add nv_del; time_pair cni cni_add cni_del; time_pair nd nd_add nd_del; time_pair ndw nd_add nd_delw ;;
    2) time_pair cni cni_add cni_del; time_pair ndw nd_add nd_delw; time_pair nd nd_add nd_del; time_pair nv nv_add nv_del ;;
  esac
done

ND=$(median "$WORK/nd.sum"); NDW=$(median "$WORK/ndw.sum"); NV=$(median "$WORK/nv.sum"); CN=$(median "$WORK/cni.sum")
echo
echo "== attach + 1 published port + detach, medians of $ROUNDS rounds (ms) =="
printf '%-28s %8s %8s %8s\n' tool attach detach total
printf '%-28s %8s %8s %8s\n' "netdriver (rcrun process)" "$(ms "$(median "$WORK/nd.add")")" "$(ms "$(median "$WORK/nd.del")")" "$(ms "$ND")"
printf '%-28s %8s %8s %8s\n' "netdriver, detach --wait" "$(ms "$(median "$WORK/ndw.add")")" "$(ms "$(median "$WORK/ndw.del")")" "$(ms "$NDW")"
printf '%-28s %8s %8s %8s\n' "netavark 1.4" "$(ms "$(median "$WORK/nv.add")")" "$(ms "$(median "$WORK/nv.del")")" "$(ms "$NV")"
printf '%-28s %8s %8s %8s\n' "CNI bridge+host-local+portmap" "$(ms "$(median "$WORK/cni.add")")" "$(ms "$(median "$WORK/cni.del")")" "$(ms "$CN")"
awk -v n="$ND" -v v="$NV" -v c="$CN" 'BEGIN{printf "netdriver / netavark = %.3f   netdriver / CNI chain = %.3f\n", n/v, n/c}'
awk -v n="$NDW" -v v="$NV" -v c="$CN" 'BEGIN{printf "with detach --wait: / netavark = %.3f   / CNI chain = %.3f\n", n/v, n/c}'

# --- mapping #1 vs #1000 ---------------------------------------------------------
rm -f "$WORK"/nd1.* "$WORK"/nd1000.*
for ((i = 0; i < ROUNDS; i++)); do time_pair nd1 nd_add nd_del; done
{
  printf 'add element inet %s dnat_tcp4_any { ' "$TABLE"
  for ((p = 30000; p < 30999; p++)); do printf '%d comment "seed" : 10.210.250.200 . 80, ' "$p"; done
  printf '}\n'
} | sed 's/, }$/ }/' >"$WORK/seed.nft"
nft -f "$WORK/seed.nft"
SEEDED=$(nft -j list map inet "$TABLE" dnat_tcp4_any | grep -o '"seed"' | wc -l)
for ((i = 0; i < ROUNDS; i++)); do time_pair nd1000 nd_add nd_del; done
echo
echo "== netdriver attach when its port is DNAT map element #1 vs #1000 ($SEEDED seeded), medians (ms) =="
printf 'mapping #1:    attach %s  detach %s\n' "$(ms "$(median "$WORK/nd1.add")")" "$(ms "$(median "$WORK/nd1.del")")"
printf 'mapping #1000: attach %s  detach %s\n' "$(ms "$(median "$WORK/nd1000.add")")" "$(ms "$(median "$WORK/nd1000.del")")"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
