#!/usr/bin/env bash
# Install the Debian packages rcrun's build, tests and benchmarks need.
# Idempotent; run as root on Debian 12.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PKGS=(
  build-essential pkg-config
  iproute2 nftables iptables conntrack
  containernetworking-plugins
  busybox-static
  nginx-light
  docker-registry apache2-utils skopeo umoci openssl
  runc crun podman netavark containerd uidmap
  libseccomp-dev
  curl hyperfine iperf3 procps
  time
  tini
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null || { echo "install-deps: cargo not found; install a Rust toolchain (rustup) first" >&2; exit 1; }
