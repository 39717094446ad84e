//! Creating a container (everything before its process starts): reserve the
//! name, mount the overlay rootfs, resolve the process from the image, set
//! up or join the sandbox, resolve mounts, write the bundle. A failure at
//! any step undoes the earlier ones ([`Engine::discard`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use rcrun_image::spec::{process_config, Proto, RunOverrides};
use rcrun_image::store::CONTAINER_IMAGE_FILE;
use rcrun_image::{rootfs, ImageRecord, Store};
use rcrun_netapi::{PortMapping, Protocol};
use serde_json::Value;

use crate::bundle::{self, BundleInput};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::fsutil;
use crate::mounts;
use crate::options::{NetworkMode, RunOptions};
use crate::records::{Container, MountInfo, ProcessInfo, State};
use crate::sandbox::{SandboxRecord, SandboxSpec};

/// The writable layer and mount point of a container.
#[derive(Debug, Clone)]
pub struct RootfsDirs {
    /// Overlay upper dir.
    pub upper: PathBuf,
    /// Overlay work dir.
    pub work: PathBuf,
    /// Mount point.
    pub rootfs: PathBuf,
}

impl Engine {
    /// The rootfs dirs of container `id`.
    pub fn rootfs_dirs(&self, id: &str) -> RootfsDirs {
        let d = self.paths.container_dir(id);
        RootfsDirs {
            upper: d.join("upper"),
            work: d.join("work"),
            rootfs: d.join("rootfs"),
        }
    }

    /// The bundle directory of container `id`.
    pub fn bundle_dir(&self, id: &str) -> PathBuf {
        self.paths.container_run_dir(id).join("bundle")
    }

    /// The log file of container `id`.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.paths.container_dir(id).join("container.log")
    }

    /// Create a container from `image` (already in the store) with `opts`.
    /// Returns its record, status `created`.
    pub fn create(&self, opts: &RunOptions, image: &ImageRecord) -> Result<Container> {
        validate(opts)?;
        let id = fsutil::random_id()?;
        let name = opts.name.clone().unwrap_or_default();
        let store = self.image_store()?;
        let _lease = store.lease()?;
        let mut c = Container {
            id: id.clone(),
            name,
            image: opts.image.clone(),
            image_id: image.id.clone(),
            created: fsutil::now_rfc3339(),
            options: opts.clone(),
            process: ProcessInfo::default(),
            sandbox_id: String::new(),
            hostname: String::new(),
            labels: BTreeMap::new(),
            mounts: Vec::new(),
            state: State::default(),
        };
        self.records.insert(&mut c)?;
        match self.prepare(&mut c, &store, image) {
            Ok(()) => Ok(c),
            Err(e) => {
                let _ = self.discard(&c);
                Err(e)
            }
        }
    }

    fn prepare(&self, c: &mut Container, store: &Store, image: &ImageRecord) -> Result<()> {
        let opts = c.options.clone();
        let _lock = self.records.lock(&c.id)?;
        let dir = self.paths.container_dir(&c.id);
        fsutil::atomic_write(&dir.join(CONTAINER_IMAGE_FILE), image.id.as_bytes())?;
        let dirs = self.rootfs_dirs(&c.id);
        rootfs::mount_rootfs(
            &store.layer_dirs(image),
            &dirs.upper,
            &dirs.work,
            &dirs.rootfs,
        )?;
        tracing::debug!(id = %c.id, "rootfs mounted");

        let image_cfg = store.image_config(image)?;
        let overrides = RunOverrides {
            entrypoint: opts.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    Vec::new()
                } else {
                    vec![e.clone()]
                }
            }),
            args: opts.command.clone(),
            env: opts.env.clone(),
            user: opts.user.clone(),
            workdir: opts.workdir.clone(),
        };
        let pc = process_config(&image_cfg, &dirs.rootfs, &overrides, &opts.image)?;
        c.process = ProcessInfo {
            args: pc.args.clone(),
            env: pc.env.clone(),
            cwd: pc.cwd.clone(),
            user: pc.user_spec.clone(),
            stop_signal: pc.stop_signal.clone(),
            stop_signal_number: pc.stop_signal_number,
        };
        c.labels = pc.labels.clone();
        c.labels.extend(opts.labels.clone());

        let sandbox = self.sandbox_for(c, &pc.exposed_ports)?;
        c.hostname = sandbox.hostname.clone();
        // Saved once, with the bundle, below: the sandbox id is on disk
        // already (sandbox_for), which is what a crash here needs.

        let (extra_mounts, infos) = self.resolve_mounts(&opts)?;
        c.mounts = infos;
        let init_bin = opts.init.then(|| self.bins.init.clone());
        if let Some(p) = &init_bin {
            if !p.exists() {
                return Err(EngineError::invalid(
                    "--init",
                    "true",
                    format!("the init binary {} is not installed", p.display()),
                ));
            }
        }
        let spec = bundle::build(&BundleInput {
            id: &c.id,
            rootfs: &dirs.rootfs,
            process: &c.process,
            uid: pc.user.uid,
            gid: pc.user.gid,
            additional_gids: &pc.user.additional_gids,
            opts: &opts,
            sandbox: &sandbox,
            files_dir: &self.sandboxes.files_dir(&sandbox.id),
            extra_mounts,
            init_bin: init_bin.as_deref(),
        })?;
        let bytes = serde_json::to_vec_pretty(&spec).map_err(|e| EngineError::Corrupt {
            path: self.bundle_dir(&c.id).join("config.json"),
            source: e,
        })?;
        fsutil::atomic_write(&self.bundle_dir(&c.id).join("config.json"), &bytes)?;
        tracing::debug!(id = %c.id, "bundle written");
        self.records.save(c)
    }

    /// Create the container's own sandbox, or join the one it shares.
    fn sandbox_for(
        &self,
        c: &mut Container,
        exposed: &[rcrun_image::spec::ExposedPort],
    ) -> Result<SandboxRecord> {
        let opts = &c.options;
        if let Some(pod) = &opts.pod {
            let p = self.pods().resolve(pod)?;
            let sb = self.pods().ensure_sandbox(self, &p)?;
            c.sandbox_id = sb.id.clone();
            self.records.save(c)?;
            return self.sandboxes.join(&sb.id, &c.id);
        }
        if let NetworkMode::Container(target) = &opts.network {
            let t = self.records.resolve(target)?;
            if self.live_status(&t).0 != "running" {
                return Err(EngineError::WrongState {
                    id: target.clone(),
                    state: self.live_status(&t).0.to_string(),
                    hint: "--network container: needs a running container",
                });
            }
            c.sandbox_id = t.sandbox_id.clone();
            self.records.save(c)?;
            return self.sandboxes.join(&t.sandbox_id, &c.id);
        }
        self.nets.validate(&opts.network)?;
        let mut publish = opts.publish.clone();
        if opts.publish_all {
            for p in exposed {
                let protocol = match p.proto {
                    Proto::Tcp => Protocol::Tcp,
                    Proto::Udp => Protocol::Udp,
                    Proto::Sctp => Protocol::Sctp,
                };
                if !publish
                    .iter()
                    .any(|m| m.container_port == p.port && m.protocol == protocol)
                {
                    publish.push(PortMapping {
                        host_ip: None,
                        host_port: 0,
                        container_port: p.port,
                        protocol,
                    });
                }
            }
        }
        let hostname = match (&opts.hostname, &opts.network) {
            (Some(h), _) => h.clone(),
            (None, NetworkMode::Host) => nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "localhost".into()),
            (None, _) => c.id[..12].to_string(),
        };
        let mut names = vec![c.name.clone()];
        names.extend(opts.network_aliases.iter().cloned());
        let spec = SandboxSpec {
            id: c.id.clone(),
            network: opts.network.clone(),
            hostname,
            names,
            publish,
            ip: opts.ip,
            dns: opts.dns.clone(),
            add_hosts: opts.add_hosts.clone(),
            pod: None,
        };
        c.sandbox_id = c.id.clone();
        self.records.save(c)?;
        self.sandboxes.create(&self.nets, &spec, Some(&c.id))
    }

    fn resolve_mounts(&self, opts: &RunOptions) -> Result<(Vec<Value>, Vec<MountInfo>)> {
        let mut out = Vec::new();
        let mut infos = Vec::new();
        for v in &opts.volumes {
            let spec = mounts::parse_volume(v)?;
            let (host, kind) = if spec.is_named() {
                (self.volume_path(&spec.source)?, "volume")
            } else {
                (PathBuf::from(&spec.source), "bind")
            };
            out.push(mounts::bind_mount(
                &host,
                &spec.destination,
                spec.read_only,
            )?);
            infos.push(MountInfo {
                kind: kind.into(),
                source: if kind == "volume" {
                    spec.source.clone()
                } else {
                    host.display().to_string()
                },
                destination: spec.destination,
                read_only: spec.read_only,
            });
        }
        for t in &opts.tmpfs {
            let (m, info) = mounts::tmpfs_mount(t)?;
            out.push(m);
            infos.push(info);
        }
        Ok((out, infos))
    }

    /// Undo a (partly) created container: leave its sandbox, unmount and
    /// remove its rootfs, remove its directories and record. Keeps going
    /// after errors; returns the first.
    pub fn discard(&self, c: &Container) -> Result<()> {
        let mut first: Option<EngineError> = None;
        let mut note = |r: Result<()>| {
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        };
        if !c.sandbox_id.is_empty() {
            note(
                self.sandboxes
                    .leave(&self.nets, &c.sandbox_id, &c.id)
                    .map(|_| ()),
            );
        }
        if let Ok(store) = self.oci_store() {
            if store.dir(&c.id).exists() {
                note(rcrun_runtime::delete(&store, &c.id, true).map_err(EngineError::from));
            }
        }
        let d = self.rootfs_dirs(&c.id);
        note(rootfs::remove_rootfs(&d.upper, &d.work, &d.rootfs).map_err(EngineError::from));
        note(fsutil::remove_dir_all(&self.paths.container_run_dir(&c.id)));
        note(self.records.remove(&c.id));
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Option combinations that cannot work, refused before anything is made.
fn validate(opts: &RunOptions) -> Result<()> {
    let shared = matches!(opts.network, NetworkMode::Container(_)) || opts.pod.is_some();
    if shared && (!opts.publish.is_empty() || opts.publish_all) {
        return Err(EngineError::invalid(
            "-p",
            opts.publish
                .iter()
                .map(|p| format!("{}:{}", p.host_port, p.container_port))
                .collect::<Vec<_>>()
                .join(","),
            "ports are published by the sandbox owner (the joined container or `pod create -p`)",
        ));
    }
    if matches!(opts.network, NetworkMode::Host | NetworkMode::None)
        && (!opts.publish.is_empty() || opts.publish_all)
    {
        return Err(EngineError::invalid(
            "-p",
            opts.network.to_string(),
            "ports cannot be published with --network host or none",
        ));
    }
    if shared && (opts.hostname.is_some() || opts.ip.is_some() || !opts.dns.is_empty()) {
        return Err(EngineError::invalid(
            "--hostname/--ip/--dns",
            "",
            "a container joining another's sandbox shares its hostname, address and DNS",
        ));
    }
    if opts.pod.is_some() && opts.network != NetworkMode::default() {
        return Err(EngineError::invalid(
            "--network",
            opts.network.to_string(),
            "a pod's containers use the pod's network",
        ));
    }
    if opts.ip.is_some() && !matches!(opts.network, NetworkMode::Bridge(_)) {
        return Err(EngineError::invalid(
            "--ip",
            opts.ip.map(|i| i.to_string()).unwrap_or_default(),
            "a static address needs a bridge network",
        ));
    }
    if !opts.detach && opts.restart != crate::options::RestartPolicy::No {
        return Err(EngineError::invalid(
            "--restart",
            String::from(opts.restart),
            "the monitor of a detached container (-d) restarts it; add -d",
        ));
    }
    if opts.auto_remove && opts.restart != crate::options::RestartPolicy::No {
        return Err(EngineError::invalid(
            "--restart",
            String::from(opts.restart),
            "conflicts with --rm",
        ));
    }
    Ok(())
}

impl Engine {
    /// The host directory of named volume `name`, created on first use.
    fn volume_path(&self, name: &str) -> Result<PathBuf> {
        let v = crate::volumes::VolumeStore::new(&self.paths.data_root).ensure(name)?;
        Ok(v.mountpoint)
    }

    /// Does any container (running or not) use named volume `name`?
    pub fn volume_in_use(&self, name: &str) -> bool {
        self.records.list().unwrap_or_default().iter().any(|c| {
            c.options
                .volumes
                .iter()
                .any(|v| mounts::parse_volume(v).is_ok_and(|s| s.is_named() && s.source == name))
        })
    }
}
