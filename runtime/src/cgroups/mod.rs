//! Cgroup placement and resource limits from `linux.cgroupsPath` and
//! `linux.resources`, on cgroup v1, v2 and hybrid hosts.
