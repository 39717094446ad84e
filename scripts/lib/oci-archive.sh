# shellcheck shell=bash
# Sourced by scripts/make-*-image.sh: write an image archive from rootfs
# directories (one directory per layer, bottom first) that `rcrun load`,
# `podman load` and `docker load` (any version) all read: an OCI image layout
# (oci-layout, index.json, blobs/sha256/...) with docker's manifest.json
# beside it, as `docker save` of docker >= 25 writes. Layers are
# deterministic tars (sorted, owner 0:0, fixed mtime), gzip-compressed, so
# the same directory gives the same blob. Needs GNU tar, gzip, sha256sum.

# The image's architecture, as OCI/GOARCH names it.
oci_arch() {
  case "$(uname -m)" in
    x86_64) echo amd64 ;;
    aarch64) echo arm64 ;;
    armv7l) echo arm ;;
    *) uname -m ;;
  esac
}

# The arguments joined with commas.
oci_join() {
  local IFS=,
  echo "$*"
}

# sha256 hex of the file $1.
oci_sha256() { sha256sum "$1" | cut -d' ' -f1; }

# Move the file $1 into the layout $2 as a blob; prints its hex digest.
oci_put_blob() {
  local f=$1 layout=$2 hex
  hex=$(oci_sha256 "$f")
  mkdir -p "$layout/blobs/sha256"
  mv -f "$f" "$layout/blobs/sha256/$hex"
  echo "$hex"
}

# A deterministic uncompressed tar of everything under the directory $1
# (paths relative to it, no "./" entry) written to $2.
oci_layer_tar() {
  local dir=$1 out=$2
  (cd "$dir" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
    tar --no-recursion --numeric-owner --owner=0 --group=0 --mtime=@1700000000 \
      --format=gnu -cf - -T -) >"$out"
}

# oci_archive OUT REF CONFIG LAYER_DIR...
#   OUT     the archive (.tar) to write (replaced atomically)
#   REF     the image name, e.g. rcrun-nginx:latest (a short name is docker.io/library/…)
#   CONFIG  the image config's "config" object as JSON text ({"Cmd":[...],...})
oci_archive() {
  local out=$1 ref=$2 config=$3
  shift 3
  [ $# -gt 0 ] || { echo "oci_archive: no layer directories" >&2; return 1; }
  local work layout arch i dir hex size
  work=$(mktemp -d "${TMPDIR:-/tmp}/oci-archive.XXXXXX")
  layout=$work/layout
  mkdir -p "$layout/blobs/sha256"
  arch=$(oci_arch)
  local diff_ids=() layer_descs=() layer_paths=()
  i=0
  for dir in "$@"; do
    [ -d "$dir" ] || { echo "oci_archive: $dir is not a directory" >&2; rm -rf "$work"; return 1; }
    oci_layer_tar "$dir" "$work/layer$i.tar"
    diff_ids+=("\"sha256:$(oci_sha256 "$work/layer$i.tar")\"")
    gzip -n -1 "$work/layer$i.tar"
    size=$(stat -c %s "$work/layer$i.tar.gz")
    hex=$(oci_put_blob "$work/layer$i.tar.gz" "$layout")
    layer_descs+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$hex\",\"size\":$size}")
    layer_paths+=("\"blobs/sha256/$hex\"")
    i=$((i + 1))
  done
  printf '{"created":"2023-11-14T22:13:20Z","architecture":"%s","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$arch" "$config" "$(oci_join "${diff_ids[@]}")" >"$work/config.json"
  local csize chex
  csize=$(stat -c %s "$work/config.json")
  chex=$(oci_put_blob "$work/config.json" "$layout")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$chex" "$csize" "$(oci_join "${layer_descs[@]}")" >"$work/manifest"
  local msize mhex
  msize=$(stat -c %s "$work/manifest")
  mhex=$(oci_put_blob "$work/manifest" "$layout")
  # A name with a tag: docker's manifest.json wants "repo:tag".
  case "${ref##*/}" in *:*) ;; *) ref=$ref:latest ;; esac
  printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$mhex" "$msize" "$arch" "$ref" "$ref" >"$layout/index.json"
  printf '[{"Config":"blobs/sha256/%s","RepoTags":["%s"],"Layers":[%s]}]' \
    "$chex" "$ref" "$(oci_join "${layer_paths[@]}")" >"$layout/manifest.json"
  (cd "$layout" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
    tar --no-recursion --numeric-owner --owner=0 --group=0 --mtime=@1700000000 \
      --format=gnu -cf - -T -) >"$out.tmp.$$"
  mv -f "$out.tmp.$$" "$out"
  rm -rf "$work"
}

# A busybox root filesystem in the directory $1, as the integration tests
# make it (tests/integration/src/bundle.rs): /bin/busybox from Debian's
# busybox-static, a symlink per applet, passwd/group/hostname.
busybox_rootfs() {
  local root=$1 bb=/bin/busybox applet
  [ -x "$bb" ] || { echo "$bb missing: apt-get install busybox-static" >&2; return 1; }
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root,var,run}
  cp "$bb" "$root/bin/busybox"
  for applet in $("$bb" --list); do
    [ "$applet" = busybox ] || [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'busybox\n' >"$root/etc/hostname"
}
