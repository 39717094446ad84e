//! `system gc`: reconcile the state on disk with what still runs after
//! crashes. Containers whose supervisor (monitor, or foreground `rcrun`) is
//! gone have their init killed and are cleaned up; half-made containers
//! (a `run` that crashed before starting) are discarded; sandboxes without
//! live members (and not owned by a pod) are torn down; netns mounts,
//! sandbox dirs and runtime states that nothing refers to are removed; then
//! the bridge driver collects its own leftovers.

use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Serialize;

use crate::engine::Engine;
use crate::error::Result;
use crate::fsutil;
use crate::netns;
use crate::procs;
use crate::records::Status;

/// A `created` container older than this with no process is a crashed `run`.
const HALF_MADE_AGE_SECS: i64 = 60;

/// What gc did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct GcReport {
    /// Containers cleaned up after their supervisor died.
    pub containers: Vec<String>,
    /// Half-made containers removed.
    pub discarded: Vec<String>,
    /// Sandboxes torn down.
    pub sandboxes: Vec<String>,
    /// Stray netns mounts, sandbox dirs, runtime states and name index
    /// entries removed.
    pub strays: Vec<String>,
    /// The bridge driver's report.
    pub network: Option<rcrun_netdriver::GcReport>,
    /// Errors met (gc keeps going).
    pub errors: Vec<String>,
}

impl Engine {
    /// Reconcile (see the module doc).
    pub fn gc(&self) -> Result<GcReport> {
        let mut rep = GcReport::default();
        self.gc_containers(&mut rep)?;
        self.gc_sandboxes(&mut rep)?;
        self.gc_strays(&mut rep)?;
        for n in self.records.prune_names() {
            rep.strays.push(format!("name index entry {n}"));
        }
        if let Err(e) = self.sandboxes.withdraw_shared_mntns() {
            rep.errors.push(format!("pause mount namespace: {e}"));
        }
        match self.nets.bridge.gc() {
            Ok(r) => rep.network = Some(r),
            Err(e) => rep.errors.push(format!("network gc: {e}")),
        }
        Ok(rep)
    }

    fn gc_containers(&self, rep: &mut GcReport) -> Result<()> {
        for id in self.records.ids()? {
            let c = match self.records.load(&id) {
                Ok(c) => c,
                Err(_) => {
                    // No readable record: a crashed run's leftovers.
                    let dir = self.paths.container_dir(&id);
                    let age = std::fs::metadata(&dir)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(0);
                    if age >= HALF_MADE_AGE_SECS {
                        let d = self.rootfs_dirs(&id);
                        let r = rcrun_image::rootfs::remove_rootfs(&d.upper, &d.work, &d.rootfs)
                            .map_err(crate::EngineError::from)
                            .and_then(|_| fsutil::remove_dir_all(&dir))
                            .and_then(|_| {
                                fsutil::remove_dir_all(&self.paths.container_run_dir(&id))
                            });
                        note(rep, &id, r, |r| r.discarded.push(id.clone()));
                    }
                    continue;
                }
            };
            match c.state.status {
                Status::Running if !self.supervisor_alive(&c) => {
                    let (pid, start) = self.current_init(&c);
                    procs::signal(pid, start, Signal::SIGKILL);
                    procs::wait_gone(pid, start, Duration::from_secs(5));
                    let r = self.cleanup(&c.id);
                    note(rep, &c.id, r, |r| r.containers.push(c.id.clone()));
                }
                Status::Created if Engine::age_secs(&c.created) >= HALF_MADE_AGE_SECS => {
                    let _lock = self.records.lock(&c.id)?;
                    if let Ok(store) = self.oci_store() {
                        let _ = rcrun_runtime::delete(&store, &c.id, true);
                    }
                    let r = self.discard(&c);
                    note(rep, &c.id, r, |r| r.discarded.push(c.id.clone()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn gc_sandboxes(&self, rep: &mut GcReport) -> Result<()> {
        let records = self.records.list()?;
        let pods = self.pods().list()?;
        for sb in self.sandboxes.list()? {
            let live_members = sb.members.iter().any(|m| {
                records
                    .iter()
                    .any(|c| &c.id == m && c.state.status != Status::Exited)
            });
            let pod_alive = sb
                .pod
                .as_ref()
                .is_some_and(|p| pods.iter().any(|x| &x.id == p));
            let fresh = Engine::age_secs(&sb.created) < HALF_MADE_AGE_SECS;
            if live_members
                || (pod_alive && sb.pause_alive())
                || (fresh && sb.members.is_empty() && sb.pod.is_none())
            {
                continue;
            }
            let r = self.sandboxes.destroy(&self.nets, &sb);
            note(rep, &sb.id, r, |r| r.sandboxes.push(sb.id.clone()));
        }
        Ok(())
    }

    fn gc_strays(&self, rep: &mut GcReport) -> Result<()> {
        let known: Vec<String> = self.sandboxes.list()?.into_iter().map(|s| s.id).collect();
        for id in self.sandboxes.dir_ids() {
            if !known.contains(&id) {
                let r = self.sandboxes.remove_orphan_dir(&id);
                note(rep, &id, r, |r| r.strays.push(format!("sandbox dir {id}")));
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.paths.netns_dir()) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                if !known.contains(&id) {
                    let r = netns::remove_netns(&e.path());
                    note(rep, &id, r, |r| r.strays.push(format!("netns {id}")));
                }
            }
        }
        // The directory's own mount, left by a crash after its last netns went.
        if let Err(e) = netns::release_dir(&self.paths.netns_dir()) {
            rep.errors.push(format!("netns directory: {e}"));
        }
        let ids = self.records.ids()?;
        if let Ok(store) = self.oci_store() {
            for id in store.ids().unwrap_or_default() {
                if !ids.contains(&id) {
                    let r =
                        rcrun_runtime::delete(&store, &id, true).map_err(crate::EngineError::from);
                    note(rep, &id, r, |r| {
                        r.strays.push(format!("runtime state {id}"))
                    });
                }
            }
        }
        Ok(())
    }
}

fn note(rep: &mut GcReport, what: &str, r: Result<()>, ok: impl FnOnce(&mut GcReport)) {
    match r {
        Ok(()) => ok(rep),
        Err(e) => rep.errors.push(format!("{what}: {e}")),
    }
}
