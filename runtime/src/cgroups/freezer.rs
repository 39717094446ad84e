//! Pause and resume every process of a cgroup: the v1 `freezer.state` file
//! or the v2 `cgroup.freeze` file, waiting until the kernel reports the
//! wanted state.

use std::path::Path;
use std::time::{Duration, Instant};

use super::error::CgroupError;
use super::fsio::{read, write};

/// How long freezing may take before it is an error (a task stuck in an
/// uninterruptible sleep can hold it up).
const PATIENCE: Duration = Duration::from_secs(5);

/// Freeze (`true`) or thaw a v1 freezer cgroup.
pub fn set_v1(dir: &Path, frozen: bool) -> Result<(), CgroupError> {
    let (value, wanted) = if frozen {
        ("FROZEN", "frozen")
    } else {
        ("THAWED", "thawed")
    };
    wait(dir, "freezer.state", wanted, || {
        // Re-writing FROZEN nudges tasks that were forking while it froze.
        write(dir, "freezer.state", value)?;
        Ok(read(dir, "freezer.state")? == value)
    })
}

/// Freeze (`true`) or thaw a v2 cgroup.
pub fn set_v2(dir: &Path, frozen: bool) -> Result<(), CgroupError> {
    let (value, wanted) = if frozen {
        ("1", "frozen")
    } else {
        ("0", "thawed")
    };
    write(dir, "cgroup.freeze", value)?;
    let want_line = format!("frozen {value}");
    wait(dir, "cgroup.events", wanted, || {
        Ok(read(dir, "cgroup.events")?.lines().any(|l| l == want_line))
    })
}

/// True when a v1 freezer cgroup is `FROZEN`.
pub fn is_frozen_v1(dir: &Path) -> bool {
    read(dir, "freezer.state").is_ok_and(|s| s == "FROZEN")
}

/// True when a v2 cgroup reports `frozen 1` in `cgroup.events`.
pub fn is_frozen_v2(dir: &Path) -> bool {
    read(dir, "cgroup.events").is_ok_and(|s| s.lines().any(|l| l == "frozen 1"))
}

fn wait(
    dir: &Path,
    file: &str,
    wanted: &'static str,
    mut done: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<(), CgroupError> {
    let start = Instant::now();
    let mut delay = Duration::from_micros(200);
    loop {
        if done()? {
            return Ok(());
        }
        if start.elapsed() >= PATIENCE {
            return Err(CgroupError::FreezeTimeout {
                path: dir.join(file),
                wanted,
                waited_ms: start.elapsed().as_millis() as u64,
            });
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}
