# shellcheck shell=bash
# Sourced by benchmarks that run crun 1.8 on a hybrid cgroup host: crun
# refuses to create containers while the hugetlb controller sits on cgroup2
# (/sys/fs/cgroup/unified). bind_hugetlb binds it to a v1 hierarchy at
# /sys/fs/cgroup/hugetlb when needed and sets HUGETLB_MOUNTED=1;
# release_hugetlb gives it back to cgroup2 (call it from the EXIT trap when
# HUGETLB_MOUNTED=1). Extra cgroup dirs to remove first (e.g. podman's
# libpod_parent/conmon) go in HUGETLB_CGROUPS, innermost first.

HUGETLB_MOUNTED=0
HUGETLB_CGROUPS=(${HUGETLB_CGROUPS[@]+"${HUGETLB_CGROUPS[@]}"})

bind_hugetlb() {
  grep -q ' /sys/fs/cgroup/unified .* - cgroup2 ' /proc/self/mountinfo || return 0
  grep -q ' /sys/fs/cgroup/hugetlb ' /proc/self/mountinfo && return 0
  echo "== binding hugetlb to a v1 hierarchy for crun (mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb)" >&2
  # A controller enabled in a cgroup2 subtree_control cannot move to v1
  # (rcrun-oci enables hugetlb there for hugepage limits on hybrid hosts).
  local sc=/sys/fs/cgroup/unified/cgroup.subtree_control
  if grep -qw hugetlb "$sc" 2>/dev/null; then
    echo "== disabling hugetlb in $sc (echo -hugetlb) so it can move to v1" >&2
    echo -hugetlb >"$sc" 2>/dev/null ||
      echo "note: a cgroup2 child still uses hugetlb; the mount will fail" >&2
  fi
  local made=0
  [ -d /sys/fs/cgroup/hugetlb ] || { mkdir /sys/fs/cgroup/hugetlb && made=1; }
  # A hierarchy unmounted a moment ago may still hold the controller.
  for _ in $(seq 50); do
    if mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb 2>/dev/null; then
      HUGETLB_MOUNTED=1
      return 0
    fi
    sleep 0.1
  done
  [ "$made" = 0 ] || rmdir /sys/fs/cgroup/hugetlb
  echo "could not mount the hugetlb controller on /sys/fs/cgroup/hugetlb" >&2
  return 1
}

# The v1 hierarchy dies only when its last mount goes while it has no child
# cgroup (not even a dying one); a container started meanwhile may also have
# mounted it in its own mount namespace. So check that it came back and retry.
release_hugetlb() {
  local h=/sys/fs/cgroup/hugetlb d
  for _ in 1 2 3 4 5; do
    for d in ${HUGETLB_CGROUPS[@]+"${HUGETLB_CGROUPS[@]}"} rcrun-oci; do
      rmdir "$h/$d" 2>/dev/null || true
    done
    if [ -n "$(find "$h" -mindepth 1 -type d -print -quit)" ]; then
      echo "note: $h left mounted: it holds cgroups of running containers" >&2
      return
    fi
    sleep 1 # removed cgroups linger as "dying" children for a moment
    umount "$h" || return
    sleep 0.5
    if awk '$1 == "hugetlb" && $2 == 0 { ok = 1 } END { exit !ok }' /proc/cgroups; then
      rmdir "$h"
      return
    fi
    mount -t cgroup -o hugetlb cgroup "$h" || return
  done
  echo "note: hugetlb is still bound to a v1 hierarchy (mounted in another mount namespace)" >&2
}
