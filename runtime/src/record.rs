//! What the runtime records about a container (`state.json`), and the status
//! derived from it and the kernel: a recorded init whose process is gone, or
//! whose start time differs (pid reused), is `stopped` without anyone having
//! to notice the exit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cgroups::CgroupHandle;
use crate::process::is_same_alive;

/// Name of the fifo the init blocks on until `start` (runc's exec.fifo).
pub const EXEC_FIFO: &str = "exec.fifo";

/// The persisted record of one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// Container id.
    pub id: String,
    /// Host pid of the container's init.
    pub pid: i32,
    /// `starttime` of the init in `/proc/PID/stat`, to detect pid reuse.
    pub start_time: u64,
    /// Absolute bundle directory.
    pub bundle: PathBuf,
    /// Absolute rootfs directory.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 (UTC).
    pub created: String,
    /// User name (or uid) of whoever created the container.
    pub owner: String,
    /// `annotations` of the spec.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The container's cgroup.
    pub cgroup: CgroupHandle,
    /// The spec's `hooks` (for `poststart` and `poststop`), when it has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

/// The status of a container (runtime-spec `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `create` is still running.
    Creating,
    /// Set up, waiting for `start`.
    Created,
    /// The user process runs.
    Running,
    /// Running, but its processes are frozen (`pause`).
    Paused,
    /// The init has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

impl ContainerRecord {
    /// The status now: stopped when the init is gone, created while the
    /// exec fifo in `dir` (the container's state dir) exists, paused while
    /// its cgroup is frozen, else running.
    pub fn status(&self, dir: &Path) -> Status {
        if !is_same_alive(self.pid, self.start_time) {
            Status::Stopped
        } else if dir.join(EXEC_FIFO).exists() {
            Status::Created
        } else if self.cgroup.is_frozen() {
            Status::Paused
        } else {
            Status::Running
        }
    }
}

/// The runtime-spec state document (`rcrun-oci state`), with runc's extra
/// fields (`rootfs`, `created`, `owner`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    /// runtime-spec version of this document.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Init pid (0 when stopped, as runc prints).
    pub pid: i32,
    /// Status.
    pub status: Status,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Creator.
    pub owner: String,
    /// Spec annotations.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

/// The runtime-spec version this runtime implements.
pub const OCI_VERSION: &str = "1.2.1";

impl OciState {
    /// The state document of `rec` with `status`.
    pub fn from_record(rec: &ContainerRecord, status: Status) -> Self {
        OciState {
            oci_version: OCI_VERSION.to_string(),
            id: rec.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                rec.pid
            },
            status,
            bundle: rec.bundle.clone(),
            rootfs: rec.rootfs.clone(),
            created: rec.created.clone(),
            owner: rec.owner.clone(),
            annotations: rec.annotations.clone(),
        }
    }
}

/// Current time as RFC 3339 UTC with nanoseconds (`2026-11-21T01:02:03.123456789Z`).
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

/// Format seconds since the epoch (UTC) as RFC 3339.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_795_741_323, 0), "2026-11-27T01:02:03.000000000Z");
    }

    #[test]
    fn status_serializes_lowercase() {
        assert_eq!(
            serde_json::to_string(&Status::Created).expect("json"),
            "\"created\""
        );
    }
}
