//! `inspect`, `ps` rows and `port`: a container's record, live status and
//! sandbox turned into docker-shaped JSON.

use serde_json::{json, Value};

use crate::engine::Engine;
use crate::error::Result;
use crate::options::NetworkMode;
use crate::records::Container;
use rcrun_netapi::{PortMapping, Protocol};

/// `80/tcp`.
pub fn port_key(p: &PortMapping) -> String {
    let proto = match p.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    };
    format!("{}/{proto}", p.container_port)
}

/// `0.0.0.0:8080->80/tcp`.
pub fn port_text(p: &PortMapping) -> String {
    let ip = p
        .host_ip
        .map(|i| i.to_string())
        .unwrap_or_else(|| "0.0.0.0".into());
    format!("{ip}:{}->{}", p.host_port, port_key(p))
}

impl Engine {
    /// The published ports of `c` (its sandbox's).
    pub fn ports(&self, c: &Container) -> Vec<PortMapping> {
        self.sandboxes
            .load(&c.sandbox_id)
            .ok()
            .flatten()
            .map(|s| s.ports())
            .unwrap_or_default()
    }

    /// docker-shaped inspect JSON of `c`.
    pub fn inspect_json(&self, c: &Container) -> Result<Value> {
        let (status, code) = self.live_status(c);
        let running = status == "running";
        let sb = self.sandboxes.load(&c.sandbox_id)?;
        let mut networks = json!({});
        let mut ports = json!({});
        if let Some(sb) = &sb {
            for p in sb.ports() {
                let entry = json!({"HostIp": p.host_ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into()), "HostPort": p.host_port.to_string()});
                match ports.get_mut(port_key(&p)).and_then(Value::as_array_mut) {
                    Some(a) => a.push(entry),
                    None => ports[port_key(&p)] = json!([entry]),
                }
            }
            if let Some(att) = &sb.attachment {
                let v4 = att.ips.iter().find(|i| i.address.is_ipv4());
                let v6 = att.ips.iter().find(|i| i.address.is_ipv6());
                networks[att.network.clone()] = json!({
                    "IPAddress": v4.map(|i| i.address.to_string()).unwrap_or_default(),
                    "IPPrefixLen": v4.map(|i| i.prefix_len).unwrap_or(0),
                    "Gateway": v4.and_then(|i| i.gateway).map(|g| g.to_string()).unwrap_or_default(),
                    "GlobalIPv6Address": v6.map(|i| i.address.to_string()).unwrap_or_default(),
                    "GlobalIPv6PrefixLen": v6.map(|i| i.prefix_len).unwrap_or(0),
                    "MacAddress": att.mac.clone().unwrap_or_default(),
                    "Aliases": c.options.network_aliases,
                });
            }
        }
        let first_ip = sb
            .as_ref()
            .and_then(|s| s.ips().into_iter().find(|i| i.is_ipv4()))
            .map(|i| i.to_string())
            .unwrap_or_default();
        let network_mode = match (&c.options.pod, &c.options.network) {
            (Some(p), _) => format!("pod:{p}"),
            (None, m) => m.to_string(),
        };
        Ok(json!({
            "Id": c.id,
            "Name": format!("/{}", c.name),
            "Created": c.created,
            "Path": c.process.args.first().cloned().unwrap_or_default(),
            "Args": c.process.args.iter().skip(1).collect::<Vec<_>>(),
            "State": {
                "Status": status,
                "Running": running,
                "Pid": if running { self.current_init(c).0 } else { 0 },
                "Restarting": status == "restarting",
                "ExitCode": code.unwrap_or(0),
                "StartedAt": c.state.started_at,
                "FinishedAt": c.state.finished_at,
                "Error": c.state.error.clone().unwrap_or_default(),
                "MonitorPid": c.state.monitor_pid,
            },
            "Image": c.image_id,
            "RestartCount": self.restart_count(c),
            "LogPath": self.log_path(&c.id),
            "HostnamePath": self.sandboxes.files_dir(&c.sandbox_id).join("hostname"),
            "HostsPath": self.sandboxes.files_dir(&c.sandbox_id).join("hosts"),
            "ResolvConfPath": self.sandboxes.files_dir(&c.sandbox_id).join("resolv.conf"),
            "Config": {
                "Hostname": c.hostname,
                "Image": c.image,
                "Cmd": c.options.command,
                "Entrypoint": c.options.entrypoint,
                "Env": c.process.env,
                "WorkingDir": c.process.cwd,
                "User": c.process.user,
                "Labels": c.labels,
                "StopSignal": c.process.stop_signal,
                "Tty": c.options.tty,
                "OpenStdin": c.options.interactive,
            },
            "HostConfig": {
                "NetworkMode": network_mode,
                "AutoRemove": c.options.auto_remove,
                "RestartPolicy": {"Name": String::from(c.options.restart)},
                "Binds": c.options.volumes,
                "Privileged": c.options.privileged,
                "ReadonlyRootfs": c.options.read_only,
                "CapAdd": c.options.cap_add,
                "CapDrop": c.options.cap_drop,
                "SecurityOpt": c.options.security_opt,
                "Memory": c.options.memory.unwrap_or(0),
                "NanoCpus": c.options.cpus.map(|x| (x * 1e9) as i64).unwrap_or(0),
                "PidsLimit": c.options.pids_limit,
                "Init": c.options.init,
                "Dns": c.options.dns,
                "ExtraHosts": c.options.add_hosts.iter().map(|(n, i)| format!("{n}:{i}")).collect::<Vec<_>>(),
            },
            "NetworkSettings": {
                "SandboxID": c.sandbox_id,
                "SandboxKey": sb.as_ref().and_then(|s| s.netns.clone()),
                "IPAddress": first_ip,
                "Ports": ports,
                "Networks": networks,
            },
            "Mounts": c.mounts.iter().map(|m| json!({
                "Type": m.kind, "Source": m.source, "Destination": m.destination, "RW": !m.read_only,
            })).collect::<Vec<_>>(),
            "Pod": c.options.pod,
            "SharesSandbox": matches!(c.options.network, NetworkMode::Container(_)),
        }))
    }
}
