//! Pods: a named sandbox created on its own (`rcrun pod create`), which
//! containers join with `--pod` and share localhost, IPC and hostname in.
//! The pod's sandbox lives until the pod is removed, whatever its members
//! do. Records are `<data-root>/pods/<id>.json`; a sandbox lost to a reboot
//! is made again on the next `--pod` run.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rcrun_netapi::PortMapping;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::fsutil::{self, Lock};
use crate::options::NetworkMode;
use crate::paths::Paths;
use crate::records::validate_name;
use crate::sandbox::{SandboxRecord, SandboxSpec};

/// A pod as persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PodRecord {
    /// 64 hex digits; also the sandbox id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub created: String,
    /// Network mode of the sandbox.
    pub network: NetworkMode,
    /// Published ports as asked.
    pub publish: Vec<PortMapping>,
    /// Hostname.
    pub hostname: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// What `pod create` asks for.
#[derive(Debug, Clone, Default)]
pub struct PodOptions {
    /// Name (generated when `None`).
    pub name: Option<String>,
    /// Network mode (not `container:`).
    pub network: NetworkMode,
    /// Ports to publish.
    pub publish: Vec<PortMapping>,
    /// Hostname (the name by default).
    pub hostname: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// The pods of a data root.
#[derive(Debug, Clone)]
pub struct Pods {
    paths: Paths,
}

impl Pods {
    fn path(&self, id: &str) -> PathBuf {
        self.paths.pods_dir().join(format!("{id}.json"))
    }

    /// Every pod, oldest first.
    pub fn list(&self) -> Result<Vec<PodRecord>> {
        let mut out = Vec::new();
        for e in fsutil::dir_entries(&self.paths.pods_dir())? {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                if let Ok(Some(r)) = fsutil::read_json::<PodRecord>(&p) {
                    out.push(r);
                }
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(out)
    }

    /// A pod by id, unique id prefix or name.
    pub fn resolve(&self, query: &str) -> Result<PodRecord> {
        let all = self.list()?;
        if let Some(p) = all.iter().find(|p| p.id == query || p.name == query) {
            return Ok(p.clone());
        }
        let mut hits = all
            .into_iter()
            .filter(|p| !query.is_empty() && p.id.starts_with(query));
        match (hits.next(), hits.next()) {
            (Some(p), None) => Ok(p),
            _ => Err(EngineError::NoSuchPod(query.to_string())),
        }
    }

    /// The pod's sandbox, made (again) when it is missing or its pause died.
    pub fn ensure_sandbox(&self, engine: &Engine, pod: &PodRecord) -> Result<SandboxRecord> {
        let _lock = Lock::acquire(&self.paths.pods_dir().join(format!("{}.lock", pod.id)))?;
        if let Some(sb) = engine.sandboxes.load(&pod.id)? {
            if sb.pause_alive() {
                return Ok(sb);
            }
            engine.sandboxes.destroy(&engine.nets, &sb)?;
        }
        self.make_sandbox(engine, pod)
    }

    fn make_sandbox(&self, engine: &Engine, pod: &PodRecord) -> Result<SandboxRecord> {
        engine.nets.validate(&pod.network)?;
        let spec = SandboxSpec {
            id: pod.id.clone(),
            network: pod.network.clone(),
            hostname: pod.hostname.clone(),
            names: vec![pod.name.clone()],
            publish: pod.publish.clone(),
            ip: None,
            dns: Vec::new(),
            add_hosts: Vec::new(),
            pod: Some(pod.id.clone()),
        };
        engine.sandboxes.create(&engine.nets, &spec, None)
    }

    /// Create a pod and its sandbox.
    pub fn create(&self, engine: &Engine, opts: &PodOptions) -> Result<PodRecord> {
        if matches!(opts.network, NetworkMode::Container(_)) {
            return Err(EngineError::invalid(
                "--network",
                opts.network.to_string(),
                "a pod has its own network",
            ));
        }
        let id = fsutil::random_id()?;
        let name = opts
            .name
            .clone()
            .unwrap_or_else(|| format!("pod_{}", &id[..12]));
        validate_name(&name)?;
        let pod = PodRecord {
            id: id.clone(),
            name: name.clone(),
            created: fsutil::now_rfc3339(),
            network: opts.network.clone(),
            publish: opts.publish.clone(),
            hostname: opts.hostname.clone().unwrap_or(name.clone()),
            labels: opts.labels.clone(),
        };
        {
            let _names = Lock::acquire(&self.paths.pods_dir().join("names.lock"))?;
            if self.list()?.iter().any(|p| p.name == name) {
                return Err(EngineError::PodNameInUse(name));
            }
            fsutil::write_json(&self.path(&id), &pod)?;
        }
        if let Err(e) = self.make_sandbox(engine, &pod) {
            let _ = fsutil::remove_file(&self.path(&id));
            return Err(e);
        }
        Ok(pod)
    }

    /// Containers of a pod (ids).
    pub fn members(&self, engine: &Engine, pod: &PodRecord) -> Result<Vec<String>> {
        Ok(engine
            .records
            .list()?
            .into_iter()
            .filter(|c| c.sandbox_id == pod.id)
            .map(|c| c.id)
            .collect())
    }

    /// Remove a pod: its containers (running ones only with `force`), its
    /// sandbox, its record.
    pub fn remove(&self, engine: &Engine, query: &str, force: bool) -> Result<PodRecord> {
        let pod = self.resolve(query)?;
        let members = self.members(engine, &pod)?;
        if !force {
            for id in &members {
                let c = engine.records.load(id)?;
                if engine.live_status(&c).0 == "running" {
                    return Err(EngineError::WrongState {
                        id: format!("{} (in pod {})", c.name, pod.name),
                        state: "running".into(),
                        hint: "stop the pod's containers first or use pod rm -f",
                    });
                }
            }
        }
        for id in &members {
            engine.remove(id, true)?;
        }
        if let Some(sb) = engine.sandboxes.load(&pod.id)? {
            engine.sandboxes.destroy(&engine.nets, &sb)?;
        }
        fsutil::remove_file(&self.paths.pods_dir().join(format!("{}.lock", pod.id)))?;
        fsutil::remove_file(&self.path(&pod.id))?;
        Ok(pod)
    }
}

impl Engine {
    /// The pods of this engine's data root.
    pub fn pods(&self) -> Pods {
        Pods {
            paths: self.paths.clone(),
        }
    }
}
