//! Sandboxes: a pause process owning a network, IPC and UTS namespace (the
//! network one bind-mounted at `<run-root>/netns/<id>`), the network attached
//! to it, and its `hosts`, `resolv.conf` and `hostname` files that every
//! member container bind-mounts. Containers join a sandbox as members; the
//! last member to leave tears it down (a pod's sandbox lives until the pod
//! is removed). Records and member lists live in `<run-root>/sandboxes/<id>/`
//! and change under the sandbox's `flock`.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use rcrun_netapi::{AttachOptions, Attachment, PortMapping, SandboxRef};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::fsutil::{self, Lock};
use crate::hosts;
use crate::netns;
use crate::networks::Networks;
use crate::options::NetworkMode;
use crate::paths::Paths;
use crate::pause_mntns::SharedMntns;
use crate::procs::{self, ReadyPipe};

/// How long a pause process may take to say it is ready.
const PAUSE_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A sandbox as persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxRecord {
    /// Sandbox id (the first container's id, or the pod's).
    pub id: String,
    /// Network mode (never `container:`).
    pub network: NetworkMode,
    /// The netns bind mount; `None` in host mode.
    pub netns: Option<PathBuf>,
    /// Pause pid (0 in host mode).
    pub pause_pid: i32,
    /// Its start time.
    pub pause_start: u64,
    /// The network attachment, if any.
    pub attachment: Option<Attachment>,
    /// Hostname.
    pub hostname: String,
    /// Names peers on the same user network resolve to this sandbox.
    pub names: Vec<String>,
    /// `--add-host` entries.
    pub add_hosts: Vec<(String, IpAddr)>,
    /// Member container ids.
    pub members: Vec<String>,
    /// The pod owning the sandbox, if any.
    pub pod: Option<String>,
    /// Creation time.
    pub created: String,
}

impl SandboxRecord {
    /// Path of a namespace of the pause process (`ipc`, `uts`).
    pub fn pause_ns(&self, kind: &str) -> Option<PathBuf> {
        (self.pause_pid > 0).then(|| PathBuf::from(format!("/proc/{}/ns/{kind}", self.pause_pid)))
    }

    /// The published ports as bound.
    pub fn ports(&self) -> Vec<PortMapping> {
        self.attachment
            .as_ref()
            .map(|a| a.port_mappings.clone())
            .unwrap_or_default()
    }

    /// Addresses of the sandbox.
    pub fn ips(&self) -> Vec<IpAddr> {
        self.attachment
            .as_ref()
            .map(|a| a.ips.iter().map(|i| i.address).collect())
            .unwrap_or_default()
    }

    /// Is its pause process still the one that was started?
    pub fn pause_alive(&self) -> bool {
        self.pause_pid == 0 || procs::is_alive(self.pause_pid, self.pause_start)
    }

    fn sandbox_ref(&self) -> Option<SandboxRef> {
        self.netns.as_ref().map(|n| SandboxRef {
            id: self.id.clone(),
            netns: n.clone(),
        })
    }
}

/// What a new sandbox is made with.
#[derive(Debug, Clone, Default)]
pub struct SandboxSpec {
    /// Sandbox id.
    pub id: String,
    /// Network mode (not `container:`).
    pub network: NetworkMode,
    /// Hostname.
    pub hostname: String,
    /// DNS names for peers (container name, aliases).
    pub names: Vec<String>,
    /// Ports to publish.
    pub publish: Vec<PortMapping>,
    /// Static address.
    pub ip: Option<IpAddr>,
    /// Extra nameservers (`--dns`).
    pub dns: Vec<IpAddr>,
    /// `--add-host` entries.
    pub add_hosts: Vec<(String, IpAddr)>,
    /// Owning pod.
    pub pod: Option<String>,
}

/// Sandboxes under a run root, driving the pause binary.
#[derive(Debug, Clone)]
pub struct Sandboxes {
    paths: Paths,
    pause_bin: PathBuf,
    mntns: SharedMntns,
}

impl Sandboxes {
    /// Sandboxes under `paths`, started with the `rcrun-pause` at `pause_bin`.
    pub fn new(paths: &Paths, pause_bin: &Path) -> Self {
        Sandboxes {
            paths: paths.clone(),
            pause_bin: pause_bin.to_path_buf(),
            mntns: SharedMntns::new(paths),
        }
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.paths.sandbox_dir(id).join("sandbox.json")
    }

    /// The directory holding a sandbox's hosts, resolv.conf and hostname.
    pub fn files_dir(&self, id: &str) -> PathBuf {
        self.paths.sandbox_dir(id)
    }

    /// Hold a sandbox's lock.
    pub fn lock(&self, id: &str) -> Result<Lock> {
        Lock::acquire(&self.paths.sandboxes_dir().join(format!("{id}.lock")))
    }

    /// Load a sandbox record.
    pub fn load(&self, id: &str) -> Result<Option<SandboxRecord>> {
        fsutil::read_json(&self.record_path(id))
    }

    fn save(&self, r: &SandboxRecord) -> Result<()> {
        fsutil::write_json(&self.record_path(&r.id), r)
    }

    /// Every sandbox record.
    pub fn list(&self) -> Result<Vec<SandboxRecord>> {
        let mut out = Vec::new();
        for e in fsutil::dir_entries(&self.paths.sandboxes_dir())? {
            if e.path().is_dir() {
                if let Ok(Some(r)) = self.load(&e.file_name().to_string_lossy()) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    /// Ids of sandbox directories (including half-made ones without a record).
    pub fn dir_ids(&self) -> Vec<String> {
        std::fs::read_dir(self.paths.sandboxes_dir())
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Create a sandbox with `first_member` as its first member (none for a
    /// pod). On failure everything made so far is undone.
    pub fn create(
        &self,
        nets: &Networks,
        spec: &SandboxSpec,
        first_member: Option<&str>,
    ) -> Result<SandboxRecord> {
        let _lock = self.lock(&spec.id)?;
        let dir = self.paths.sandbox_dir(&spec.id);
        std::fs::create_dir_all(&dir).map_err(|e| EngineError::io("create directory", &dir, e))?;
        let mut rec = SandboxRecord {
            id: spec.id.clone(),
            network: spec.network.clone(),
            netns: None,
            pause_pid: 0,
            pause_start: 0,
            attachment: None,
            hostname: spec.hostname.clone(),
            names: spec.names.clone(),
            add_hosts: spec.add_hosts.clone(),
            members: first_member
                .map(|m| vec![m.to_string()])
                .unwrap_or_default(),
            pod: spec.pod.clone(),
            created: fsutil::now_rfc3339(),
        };
        match self.build(nets, spec, &mut rec) {
            Ok(()) => Ok(rec),
            Err(e) => {
                let _ = self.destroy_locked(nets, &rec);
                Err(e)
            }
        }
    }

    fn build(&self, nets: &Networks, spec: &SandboxSpec, rec: &mut SandboxRecord) -> Result<()> {
        // The record is written first so gc finds a half-made sandbox.
        self.save(rec)?;
        let dir = self.paths.sandbox_dir(&spec.id);
        let mut keep: Vec<OwnedFd> = Vec::new();
        if spec.network != NetworkMode::Host {
            let path = self.paths.netns(&spec.id);
            netns::create(&path)?;
            tracing::debug!(sandbox = %spec.id, "network namespace made");
            rec.netns = Some(path.clone());
            self.save(rec)?;
            let sb = SandboxRef {
                id: spec.id.clone(),
                netns: path,
            };
            let opts = AttachOptions {
                ifname: Some("eth0".into()),
                port_mappings: spec.publish.clone(),
                static_ips: spec.ip.into_iter().collect(),
                mac: None,
                aliases: spec.names.clone(),
                hostname: Some(spec.hostname.clone()),
            };
            if let Some((att, fds)) = nets.attach(&spec.network, &sb, &opts)? {
                rec.attachment = Some(att);
                keep = fds;
                self.save(rec)?;
            }
            tracing::debug!(sandbox = %spec.id, "network attached");
        }
        hosts::write_files(&dir, rec, &spec.dns)?;
        if spec.network != NetworkMode::Host {
            let (pid, start) = self.spawn_pause(rec, &keep)?;
            rec.pause_pid = pid;
            rec.pause_start = start;
            tracing::debug!(sandbox = %spec.id, pid, "pause process ready");
        }
        self.save(rec)?;
        if let NetworkMode::Bridge(n) = &rec.network {
            hosts::refresh_network_peers(self, n)?;
        }
        Ok(())
    }

    fn spawn_pause(&self, rec: &SandboxRecord, keep: &[OwnedFd]) -> Result<(i32, u64)> {
        let pipe = ReadyPipe::new()?;
        let netns = rec.netns.clone().unwrap_or_default();
        let mut cmd = Command::new(&self.pause_bin);
        cmd.arg("--netns")
            .arg(&netns)
            .arg("--hostname")
            .arg(&rec.hostname)
            .arg("--ready-fd")
            .arg(pipe.write.as_raw_fd().to_string())
            .arg("--mntns")
            .arg(self.mntns.path());
        for fd in keep {
            cmd.arg("--keep-fd").arg(fd.as_raw_fd().to_string());
        }
        let mut inherit = procs::raw_fds(keep);
        inherit.push(pipe.write.as_raw_fd());
        let mut child = procs::spawn_detached(&mut cmd, &inherit)?;
        let pid = child.id() as i32;
        let said = pipe.read_all(PAUSE_READY_TIMEOUT)?;
        let mut fail = |reason: String| {
            let _ = child.kill();
            let _ = child.wait();
            EngineError::Pause {
                id: rec.id.clone(),
                reason,
            }
        };
        let line = said.trim();
        if line != "ok" {
            let reason = match line.strip_prefix("error:") {
                Some(r) => r.trim().to_string(),
                None if line.is_empty() => format!(
                    "{} exited or hung without reporting readiness",
                    self.pause_bin.display()
                ),
                None => format!("unexpected readiness message {line:?}"),
            };
            return Err(fail(reason));
        }
        let Some(start) = procs::start_time(pid) else {
            return Err(fail("exited right after reporting readiness".into()));
        };
        // It made its own empty root if none was published: share that one.
        // The sandbox works either way, so a failure here is only logged.
        if let Err(e) = self.mntns.publish_from(pid) {
            tracing::debug!(sandbox = %rec.id, "sharing the pause mount namespace: {e}");
        }
        Ok((pid, start))
    }

    /// Add `member` to sandbox `id`; fails when the sandbox is gone.
    pub fn join(&self, id: &str, member: &str) -> Result<SandboxRecord> {
        let _lock = self.lock(id)?;
        let mut rec = self.load(id)?.ok_or_else(|| EngineError::Pause {
            id: id.to_string(),
            reason: "the sandbox no longer exists".into(),
        })?;
        if !rec.pause_alive() {
            return Err(EngineError::Pause {
                id: id.to_string(),
                reason: "its pause process is gone (run `rcrun system gc`)".into(),
            });
        }
        if !rec.members.iter().any(|m| m == member) {
            rec.members.push(member.to_string());
            self.save(&rec)?;
        }
        Ok(rec)
    }

    /// Remove `member` from sandbox `id`; tear the sandbox down when it was
    /// the last member of a sandbox no pod owns. Returns true if torn down.
    pub fn leave(&self, nets: &Networks, id: &str, member: &str) -> Result<bool> {
        if !self.paths.sandbox_dir(id).exists() {
            return Ok(false);
        }
        let _lock = self.lock(id)?;
        let Some(mut rec) = self.load(id)? else {
            return Ok(false);
        };
        rec.members.retain(|m| m != member);
        self.save(&rec)?;
        if !rec.members.is_empty() || rec.pod.is_some() {
            return Ok(false);
        }
        self.destroy_locked(nets, &rec)?;
        Ok(true)
    }

    /// Tear a sandbox down: detach its network, stop its pause process,
    /// remove its netns and files. Keeps going after errors and reports the
    /// first.
    pub fn destroy(&self, nets: &Networks, rec: &SandboxRecord) -> Result<()> {
        if !self.paths.sandbox_dir(&rec.id).exists() {
            return Ok(());
        }
        let _lock = self.lock(&rec.id)?;
        self.destroy_locked(nets, rec)
    }

    fn destroy_locked(&self, nets: &Networks, rec: &SandboxRecord) -> Result<()> {
        let mut first: Option<EngineError> = None;
        let mut note = |r: Result<()>| {
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        };
        if let Some(sb) = rec.sandbox_ref() {
            note(nets.detach(&rec.network, &sb));
        }
        if rec.pause_pid > 0 {
            procs::signal(rec.pause_pid, rec.pause_start, Signal::SIGKILL);
            procs::wait_gone(rec.pause_pid, rec.pause_start, Duration::from_secs(2));
        }
        let netns_path = self.paths.netns(&rec.id);
        note(netns::remove_netns(&netns_path));
        note(fsutil::remove_dir_all(&self.paths.sandbox_dir(&rec.id)));
        note(fsutil::remove_file(
            &self.paths.sandboxes_dir().join(format!("{}.lock", rec.id)),
        ));
        note(self.mntns.withdraw_if_unused());
        if let NetworkMode::Bridge(n) = &rec.network {
            note(hosts::refresh_network_peers(self, n));
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Remove a sandbox directory that has no record (a crashed create).
    pub fn remove_orphan_dir(&self, id: &str) -> Result<()> {
        let _lock = self.lock(id)?;
        netns::remove_netns(&self.paths.netns(id))?;
        fsutil::remove_dir_all(&self.paths.sandbox_dir(id))?;
        self.mntns.withdraw_if_unused()
    }

    /// Withdraw the shared pause mount namespace if no sandbox is left.
    pub fn withdraw_shared_mntns(&self) -> Result<()> {
        self.mntns.withdraw_if_unused()
    }

    /// The paths this instance works under.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }
}
