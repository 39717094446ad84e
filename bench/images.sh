#!/usr/bin/env bash
# Image pull benchmark: pull + unpack of the nginx test image from a loopback
# registry (Debian docker-registry on 127.0.0.1), in one run:
#   rcrun pull        (release build, fresh data root each run)
#   podman pull       (--tls-verify=false, fresh --root/--runroot, overlay)
#   skopeo copy to an OCI dir + umoci unpack
# then the second pull of an image sharing all but one layer with nginx
# (nginx already in the store): rcrun and podman download and unpack only the
# new layer; skopeo reuses the blobs in the OCI dir but umoci unpacks every
# layer again. Medians (hyperfine) and ratios go into the "Images" section of
# bench/README.md, with the number of blobs rcrun fetched on the second pull
# as the registry's access log counts them.
#
#   sudo bench/images.sh           # N=10 runs per command
#   N=20 sudo -E bench/images.sh
#
# Needs root, docker-registry, skopeo, umoci, podman, hyperfine, nginx-light,
# busybox-static (scripts/install-deps.sh).
set -euo pipefail

N=${N:-10}
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$REPO/bench/README.md}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}

die() { echo "images.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (podman and rcrun unpack as root)"
for t in docker-registry skopeo umoci podman hyperfine python3; do
  command -v "$t" >/dev/null || die "$t missing: run scripts/install-deps.sh"
done
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

echo "== building rcrun (release) and the test-image writer" >&2
(cd "$REPO" && cargo build --release -p rcrun-cli --bin rcrun) >&2
(cd "$REPO" && cargo build -p rcrun-integration --example write-registry-images) >&2
RCRUN=$TARGET/release/rcrun
WRITER=$TARGET/debug/examples/write-registry-images
[ -x "$RCRUN" ] || die "$RCRUN not built"

WORK=$(mktemp -d /tmp/rir-bench.XXXXXX)
REG_PID=
cleanup() {
  if [ -n "$REG_PID" ]; then
    kill "$REG_PID" 2>/dev/null || true
    wait "$REG_PID" 2>/dev/null || true
  fi
  podman_ rmi -af >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

podman_() { podman --root "$WORK/podman" --runroot "$WORK/podman-run" --storage-driver overlay "$@"; }

echo "== writing test images" >&2
"$WRITER" "$WORK/layout" >"$WORK/images.txt"
EXTRA_LAYER=$(awk '$1=="extra-layer"{print $2}' "$WORK/images.txt")

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/registry"
cat >"$WORK/registry.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: 127.0.0.1:$PORT
YAML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null || die "registry did not start: $(cat "$WORK/registry.log")"
HOST=127.0.0.1:$PORT
skopeo copy -q --dest-tls-verify=false "oci:$WORK/layout:nginx" "docker://$HOST/rir/nginx:latest"
skopeo copy -q --dest-tls-verify=false "oci:$WORK/layout:nginx-plus" "docker://$HOST/rir/nginx-plus:latest"
NGINX=$HOST/rir/nginx:latest
PLUS=$HOST/rir/nginx-plus:latest

R="$RCRUN --root $WORK/rcrun-run --data-root $WORK/rcrun"
RESET_RCRUN="rm -rf $WORK/rcrun $WORK/rcrun-run"
RESET_PODMAN="podman --root $WORK/podman --runroot $WORK/podman-run --storage-driver overlay rmi -af >/dev/null 2>&1 || true; rm -rf $WORK/podman $WORK/podman-run"
P="podman --root $WORK/podman --runroot $WORK/podman-run --storage-driver overlay"
RESET_UMOCI="rm -rf $WORK/oci $WORK/bundle $WORK/bundle2"

echo "== first pull of nginx ($N runs each)" >&2
hyperfine --style basic --runs "$N" --export-json "$WORK/first.json" \
  -n rcrun --prepare "$RESET_RCRUN" "$R pull -q --tls-verify=false $NGINX" \
  -n podman --prepare "$RESET_PODMAN" "$P pull -q --tls-verify=false $NGINX" \
  -n skopeo+umoci --prepare "$RESET_UMOCI" \
  "skopeo copy -q --src-tls-verify=false docker://$NGINX oci:$WORK/oci:nginx && umoci unpack --image $WORK/oci:nginx $WORK/bundle >/dev/null" >&2

echo "== second pull: nginx-plus over nginx ($N runs each)" >&2
hyperfine --style basic --runs "$N" --export-json "$WORK/second.json" \
  -n rcrun --prepare "$RESET_RCRUN; $R pull -q --tls-verify=false $NGINX >/dev/null" \
  "$R pull -q --tls-verify=false $PLUS" \
  -n podman --prepare "$RESET_PODMAN; $P pull -q --tls-verify=false $NGINX >/dev/null" \
  "$P pull -q --tls-verify=false $PLUS" \
  -n skopeo+umoci --prepare "$RESET_UMOCI; skopeo copy -q --src-tls-verify=false docker://$NGINX oci:$WORK/oci:nginx && umoci unpack --image $WORK/oci:nginx $WORK/bundle >/dev/null" \
  "skopeo copy -q --src-tls-verify=false docker://$PLUS oci:$WORK/oci:nginx-plus && umoci unpack --image $WORK/oci:nginx-plus $WORK/bundle2 >/dev/null" >&2

echo "== counting what rcrun fetches on the second pull" >&2
eval "$RESET_RCRUN"
$R pull -q --tls-verify=false "$NGINX" >/dev/null
BEFORE=$(wc -l <"$WORK/registry.log")
$R pull -q --tls-verify=false "$PLUS" >/dev/null
SECOND_BLOBS=$(tail -n +"$((BEFORE + 1))" "$WORK/registry.log" | grep -c '"GET /v2/rir/nginx-plus/blobs/sha256:[0-9a-f]* HTTP/1.1" 200' || true)
EXTRA_FETCHED=$(tail -n +"$((BEFORE + 1))" "$WORK/registry.log" | grep -c "/blobs/$EXTRA_LAYER HTTP/1.1\" 200" || true)
LAYER_DIRS=$(ls "$WORK/rcrun/images/layers" | grep -vc '^\.' || true)

NGINX_BYTES=$(python3 - "$WORK/layout" <<'PY'
import json, sys, os
d = sys.argv[1]
idx = json.load(open(os.path.join(d, "index.json")))
m = [e for e in idx["manifests"] if e["annotations"]["org.opencontainers.image.ref.name"] == "nginx"][0]
man = json.load(open(os.path.join(d, "blobs/sha256", m["digest"][7:])))
print(sum(l["size"] for l in man["layers"]))
PY
)

python3 - "$WORK/first.json" "$WORK/second.json" "$OUT" "$N" "$SECOND_BLOBS" "$EXTRA_FETCHED" "$LAYER_DIRS" "$NGINX_BYTES" <<'PY'
import json, os, platform, re, subprocess, sys, time
first, second, out, n, blobs, extra, layer_dirs, nbytes = sys.argv[1:9]
def medians(path):
    return {r["command"]: r["median"] for r in json.load(open(path))["results"]}
f, s = medians(first), medians(second)
def ver(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except Exception:
        return "?"
rows = []
for name, tab in (("first pull of nginx (3 layers)", f), ("second pull: nginx-plus (nginx + 1 layer)", s)):
    rc = tab["rcrun"]
    rows.append(f"| {name} | {rc*1000:.0f} ms | {tab['podman']*1000:.0f} ms | {tab['skopeo+umoci']*1000:.0f} ms "
                f"| {tab['podman']/rc:.2f}x | {tab['skopeo+umoci']/rc:.2f}x |")
section = f"""## Images

<!-- images:begin (written by bench/images.sh; do not edit by hand) -->
Pull + unpack of the nginx test image (busybox-static, nginx-light and its
libraries: 3 gzip layers, {int(nbytes)/1e6:.1f} MB compressed) from a Debian
docker-registry on 127.0.0.1, each tool starting from an empty store, {n} runs
each (hyperfine medians), measured {time.strftime('%Y-%m-%d')} on
{os.cpu_count()} CPUs, kernel {platform.release()}. Ratios are peer time / rcrun
time (above 1 means rcrun is faster).

| | rcrun | podman pull | skopeo copy + umoci unpack | podman / rcrun | skopeo+umoci / rcrun |
|---|---|---|---|---|---|
{chr(10).join(rows)}

Second pull, as the registry's access log counts it: rcrun fetched {blobs} blob(s)
(the new config and the new layer; the new layer itself {extra} time(s)) and the
store holds {layer_dirs} unpacked layer dirs (nginx's 3 plus the new one).
umoci has no layer store, so it unpacks all four layers again.

Versions: {ver(['podman', '--version'])}; {ver(['skopeo', '--version'])};
{ver(['umoci', '--version'])}; {ver(['docker-registry', '--version'])}.
<!-- images:end -->
"""
text = open(out).read() if os.path.exists(out) else "# Benchmarks\n"
pat = re.compile(r"## Images\n.*?<!-- images:end -->\n", re.S)
if pat.search(text):
    text = pat.sub(lambda _: section, text)
else:
    text = text.rstrip("\n") + "\n\n" + section
open(out, "w").write(text)
PY
echo "== wrote the Images section of $OUT" >&2
sed -n '/^## Images/,/images:end/p' "$OUT"
