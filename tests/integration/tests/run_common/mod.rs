//! Shared harness of the `run_*` tests: one [`RunEnv`] per test with its own
//! run and data roots, nft table, veth prefix, user network on subnet
//! 10.230.N.0/24 (bridge `rxc<N>`; the default network, if used, gets
//! 10.230.(150+N).0/24 on bridge `rxd<N>`) and images loaded from OCI layouts built
//! from Debian packages (or pulled from a loopback registry). `finish`
//! removes everything and asserts nothing of the test remains: containers,
//! sandboxes, netns mounts, overlay mounts, runtime state, veths, nft
//! elements, cgroups, helper processes. `Drop` cleans up best-effort when a
//! test fails half-way.
#![allow(dead_code)] // each test file uses part of the harness

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcrun_it::bins::{bin, run};
use rcrun_it::images;
use serde_json::Value;

/// The firewall tests' FORWARD-policy lock (see net_util): tests that send
/// forwarded traffic hold it shared.
const POLICY_LOCK: &str = "/tmp/rcrun-forward-policy.lock";

/// A shared flock on the FORWARD-policy lock, released on drop.
pub struct PolicyLock(File);

impl PolicyLock {
    /// Wait until no test changes the FORWARD policy, then hold the lock shared.
    pub fn take() -> Self {
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(POLICY_LOCK)
            .expect("open policy lock");
        // SAFETY: flock on an fd we own; no memory is involved.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH) };
        assert_eq!(rc, 0, "flock {POLICY_LOCK}");
        PolicyLock(f)
    }
}

/// One test's world.
pub struct RunEnv {
    dir: tempfile::TempDir,
    /// Subnet number N (10.230.N.0/24).
    pub n: u8,
    /// The user network's name.
    pub net: String,
    /// Its bridge.
    pub bridge: String,
    /// The nft table.
    pub table: String,
    /// Host veth name prefix.
    pub veth_prefix: String,
    _policy: PolicyLock,
}

impl RunEnv {
    /// A fresh world for test number `n`, with network `rxcn<N>` created.
    pub fn new(n: u8) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rxc-run-")
            .tempdir()
            .expect("tempdir");
        let env = RunEnv {
            dir,
            n,
            net: format!("rxcn{n}"),
            bridge: format!("rxc{n}"),
            table: format!("rxc_t{n}"),
            veth_prefix: format!("rxv{n}"),
            _policy: PolicyLock::take(),
        };
        // A table or bridge left by an earlier crashed run of this test.
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &env.table])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &env.bridge])
            .output();
        let opt = format!("com.docker.network.bridge.name={}", env.bridge);
        env.ok(&[
            "network",
            "create",
            "--subnet",
            &env.subnet(),
            "-o",
            &opt,
            &env.net,
        ]);
        env
    }

    /// The test's subnet.
    pub fn subnet(&self) -> String {
        format!("10.230.{}.0/24", self.n)
    }

    /// The run root.
    pub fn run_root(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The data root.
    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The CNI conf dir `rcrun` reads (`CNI_CONF_DIR`), created.
    pub fn cni_conf_dir(&self) -> PathBuf {
        let p = self.dir.path().join("cni");
        std::fs::create_dir_all(&p).expect("mkdir cni conf dir");
        p
    }

    /// A scratch directory inside the test's tempdir.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("scratch").join(name);
        std::fs::create_dir_all(&p).expect("mkdir scratch");
        p
    }

    /// A scratch dir `www` whose `index.html` holds `body`, as the `-v`
    /// spec `DIR:/www:ro` for [`run_httpd`](Self::run_httpd).
    pub fn www_volume(&self, body: &str) -> String {
        let www = self.scratch("www");
        std::fs::write(www.join("index.html"), body).expect("write index.html");
        format!("{}:/www:ro", www.display())
    }

    /// `rcrun run -d OPTS... IMAGE httpd -f -p 80 -h /www` (busybox httpd
    /// serving `/www`); returns what `run -d` printed, the id.
    pub fn run_httpd(&self, opts: &[&str], image: &str) -> String {
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&[image, "httpd", "-f", "-p", "80", "-h", "/www"]);
        self.ok(&args)
    }

    /// `rcrun` with this world's roots and environment.
    pub fn rcrun(&self) -> Command {
        let mut c = Command::new(bin("rcrun"));
        c.arg("--root")
            .arg(self.run_root())
            .arg("--data-root")
            .arg(self.data_root())
            .env("RCRUN_NET_DEFAULT_BRIDGE", format!("rxd{}", self.n))
            .env(
                "RCRUN_NET_DEFAULT_POOL",
                format!("10.230.{}.0/24", 150 + u16::from(self.n)),
            )
            .env("RCRUN_NET_VETH_PREFIX", &self.veth_prefix)
            .env("RCRUN_NFT_TABLE", &self.table)
            .env("CNI_CONF_DIR", self.dir.path().join("cni"))
            .env("REGISTRY_AUTH_FILE", self.dir.path().join("auth.json"))
            .stdin(Stdio::null());
        c
    }

    /// Run `rcrun ARGS`; the output whatever the status.
    pub fn try_rcrun(&self, args: &[&str]) -> Output {
        run(self.rcrun().args(args))
    }

    /// Run `rcrun ARGS`, panic on failure, return stdout trimmed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.try_rcrun(args);
        assert!(
            out.status.success(),
            "rcrun {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Load the busybox test image (Debian busybox-static) as `rxc/busybox`.
    pub fn load_busybox(&self) -> String {
        let layout = self.scratch("busybox-layout");
        images::busybox_oci_layout(&layout);
        self.ok(&["load", "-q", "-i", &layout.display().to_string()]);
        let name = "rxc/busybox:latest";
        self.ok(&["tag", "busybox", name]);
        name.to_string()
    }

    /// Load the nginx test image (Debian nginx-light) as `rxc/nginx`.
    pub fn load_nginx(&self) -> String {
        let layout = self.scratch("nginx-layout");
        images::nginx_oci_layout(&layout);
        self.ok(&["load", "-q", "-i", &layout.display().to_string()]);
        let name = "rxc/nginx:latest";
        self.ok(&["tag", "nginx", name]);
        name.to_string()
    }

    /// `inspect` of one container.
    pub fn inspect(&self, c: &str) -> Value {
        let v: Value = serde_json::from_str(&self.ok(&["inspect", c])).expect("inspect JSON");
        v[0].clone()
    }

    /// The container's IPv4 address on its network.
    pub fn ip_of(&self, c: &str) -> String {
        self.inspect(c)["NetworkSettings"]["IPAddress"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Remove every container and pod, run gc, remove the network and table,
    /// then assert nothing of the test remains.
    pub fn finish(self) {
        let ids = self.all_ids();
        self.remove_all();
        self.assert_clean(&ids);
        let out = self.try_rcrun(&["network", "rm", &self.net]);
        assert!(
            out.status.success(),
            "network rm: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!link_exists(&self.bridge), "bridge {} leaked", self.bridge);
        // The default network, if a test used it.
        let _ = self.try_rcrun(&["network", "rm", "bridge"]);
        let default_bridge = format!("rxd{}", self.n);
        assert!(
            !link_exists(&default_bridge),
            "bridge {default_bridge} leaked"
        );
        let table = Command::new("nft")
            .args(["list", "table", "inet", &self.table])
            .output()
            .expect("nft");
        assert!(
            !table.status.success(),
            "nft table {} left after its last network: {}",
            self.table,
            String::from_utf8_lossy(&table.stdout)
        );
        self.remove_nft_lock();
    }

    /// Remove the host-wide lock file of this test's nft table (the driver
    /// keeps it for the table's lifetime; the table is gone now).
    fn remove_nft_lock(&self) {
        if let Ok(fw) = rcrun_netdriver::NftFirewall::new(&self.table) {
            let _ = std::fs::remove_file(fw.lock_path());
        }
    }

    /// Full ids of every container of this world.
    pub fn all_ids(&self) -> Vec<String> {
        let ps = self.try_rcrun(&["ps", "-aq", "--no-trunc"]);
        String::from_utf8_lossy(&ps.stdout)
            .lines()
            .map(String::from)
            .collect()
    }

    fn remove_all(&self) {
        let pods = self.try_rcrun(&["pod", "ls"]);
        for line in String::from_utf8_lossy(&pods.stdout).lines().skip(1) {
            if let Some(id) = line.split_whitespace().next() {
                let _ = self.try_rcrun(&["pod", "rm", "-f", id]);
            }
        }
        let ps = self.try_rcrun(&["ps", "-aq", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ps.stdout).lines() {
            let _ = self.try_rcrun(&["rm", "-f", id]);
        }
        let _ = self.try_rcrun(&["system", "gc"]);
    }

    /// Nothing of this test's containers remains (networks aside); `ids`
    /// are containers that existed, whose cgroups must be gone.
    pub fn assert_clean(&self, ids: &[String]) {
        let containers = entries(&self.data_root().join("containers"));
        assert!(
            containers.is_empty(),
            "container dirs leaked: {containers:?}"
        );
        let names = entries(&self.data_root().join("names"));
        assert!(names.is_empty(), "name index entries leaked: {names:?}");
        let run_containers = entries(&self.run_root().join("containers"));
        assert!(
            run_containers.is_empty(),
            "runtime dirs leaked: {run_containers:?}"
        );
        let sandboxes = entries(&self.run_root().join("sandboxes"));
        assert!(
            sandboxes.is_empty(),
            "sandboxes or their locks leaked: {sandboxes:?}"
        );
        let netns = entries(&self.run_root().join("netns"));
        assert!(netns.is_empty(), "netns mounts leaked: {netns:?}");
        // Dot files there are the runtime's caches (compiled seccomp filters).
        let oci: Vec<String> = entries(&self.run_root().join("oci"))
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect();
        assert!(oci.is_empty(), "runtime states leaked: {oci:?}");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let root = self.dir.path().display().to_string();
        let leaked: Vec<&str> = mounts.lines().filter(|l| l.contains(&root)).collect();
        assert!(leaked.is_empty(), "mounts leaked: {leaked:#?}");
        let links = Command::new("ip")
            .args(["-o", "link"])
            .output()
            .expect("ip link");
        let links = String::from_utf8_lossy(&links.stdout);
        let veths: Vec<&str> = links
            .lines()
            .filter(|l| l.contains(&format!(": {}", self.veth_prefix)))
            .collect();
        assert!(veths.is_empty(), "veths leaked: {veths:#?}");
        let table = Command::new("nft")
            .args(["list", "table", "inet", &self.table])
            .output()
            .expect("nft");
        let table = String::from_utf8_lossy(&table.stdout);
        let subnet_prefix = format!("10.230.{}.", self.n);
        let elems: Vec<&str> = table
            .lines()
            .filter(|l| l.contains("elements") && l.contains(&subnet_prefix))
            .collect();
        assert!(elems.is_empty(), "nft elements leaked: {elems:#?}");
        let leaked_ips: Vec<String> = files_under(&self.data_root().join("ipam"))
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
            .collect();
        assert!(
            leaked_ips.is_empty(),
            "IPAM allocations leaked: {leaked_ips:?}"
        );
        for ctrl in ["memory", "pids", "cpu,cpuacct", "unified"] {
            let dir = Path::new("/sys/fs/cgroup").join(ctrl).join("rcrun");
            let left: Vec<String> = entries(&dir)
                .into_iter()
                .filter(|n| ids.contains(n))
                .collect();
            assert!(left.is_empty(), "cgroups leaked in {ctrl}: {left:?}");
        }
        let procs = helper_processes(&self.run_root());
        assert!(procs.is_empty(), "helper processes leaked: {procs:#?}");
    }
}

impl Drop for RunEnv {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        self.remove_all();
        let _ = self.try_rcrun(&["network", "rm", &self.net]);
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .output();
        self.remove_nft_lock();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let root = self.dir.path().display().to_string();
        for l in mounts.lines().filter(|l| l.contains(&root)) {
            if let Some(mp) = l.split_whitespace().nth(4) {
                let _ = Command::new("umount").args(["-l", mp]).output();
            }
        }
    }
}

/// Names in a directory (empty when it does not exist).
pub fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// rcrun-pause / rcrun-monitor processes whose command line names `root`.
pub fn helper_processes(root: &Path) -> Vec<String> {
    let root = root.display().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
        {
            continue;
        }
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if (cmd.contains("rcrun-pause") || cmd.contains("rcrun-monitor")) && cmd.contains(&root) {
            out.push(format!("{name}: {cmd}"));
        }
    }
    out
}

/// True when link `name` exists in the host netns.
pub fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", "dev", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The host's own IPv4 address on its default-route interface.
pub fn host_ip() -> String {
    let out = Command::new("ip")
        .args(["-4", "-o", "route", "show", "default"])
        .output()
        .expect("ip route");
    let text = String::from_utf8_lossy(&out.stdout);
    let dev = text
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)
        .expect("a default route with a device")
        .to_string();
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", &dev, "scope", "global"])
        .output()
        .expect("ip addr");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .expect("an IPv4 address on the default interface")
        .to_string()
}

/// GET `http://addr:port/path` with curl; the body, or None on failure.
pub fn http_get(addr: &str, port: u16, path: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sf", "-m", "3", &format!("http://{addr}:{port}{path}")])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Retry `http_get` until it answers or `timeout` passes.
pub fn http_get_retry(addr: &str, port: u16, path: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(b) = http_get(addr, port, path) {
            return Some(b);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A free TCP port on every host address (bound then released).
pub fn free_port() -> u16 {
    rcrun_it::registry::free_port()
}

/// stderr of an output, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert `out` failed with exit code `code` and one stderr line holding
/// every needle.
pub fn assert_one_line_error(out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one error line, got: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} not in {:?}", lines[0]);
    }
}

/// An "outside" host: a netns `rxo<N>` joined to the host by a veth pair on
/// 10.230.(100+N).0/30 (host .1, outside .2, default route via the host),
/// removed on drop. Traffic from it to the host's .1 address arrives as
/// from another machine.
pub struct Outside {
    /// The netns name.
    pub ns: String,
    /// Host end of the veth pair.
    pub host_link: String,
    /// The host's address on the link.
    pub host_addr: String,
}

impl Outside {
    /// Make the outside netns of test `n`.
    pub fn new(n: u8) -> Self {
        let ns = format!("rxo{n}");
        let host_link = format!("rxoh{n}");
        let peer = format!("rxop{n}");
        let net = format!("10.230.{}", 100 + u16::from(n));
        let o = Outside {
            ns: ns.clone(),
            host_link: host_link.clone(),
            host_addr: format!("{net}.1"),
        };
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        let _ = Command::new("ip")
            .args(["link", "del", &host_link])
            .output();
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), ns.clone()],
            vec![
                "link".into(),
                "add".into(),
                host_link.clone(),
                "type".into(),
                "veth".into(),
                "peer".into(),
                "name".into(),
                peer.clone(),
                "netns".into(),
                ns.clone(),
            ],
            vec![
                "addr".into(),
                "add".into(),
                format!("{net}.1/30"),
                "dev".into(),
                host_link.clone(),
            ],
            vec!["link".into(), "set".into(), host_link.clone(), "up".into()],
            vec![
                "-n".into(),
                ns.clone(),
                "addr".into(),
                "add".into(),
                format!("{net}.2/30"),
                "dev".into(),
                peer.clone(),
            ],
            vec![
                "-n".into(),
                ns.clone(),
                "link".into(),
                "set".into(),
                peer,
                "up".into(),
            ],
            vec![
                "-n".into(),
                ns.clone(),
                "link".into(),
                "set".into(),
                "lo".into(),
                "up".into(),
            ],
            vec![
                "-n".into(),
                ns.clone(),
                "route".into(),
                "add".into(),
                "default".into(),
                "via".into(),
                format!("{net}.1"),
            ],
        ];
        for s in steps {
            let out = run(Command::new("ip").args(&s));
            assert!(out.status.success(), "ip {}: {}", s.join(" "), stderr(&out));
        }
        o
    }

    /// GET `http://addr:port/` from inside the outside netns.
    pub fn http_get(&self, addr: &str, port: u16) -> Option<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "curl", "-sf", "-m", "3"])
            .arg(format!("http://{addr}:{port}/"))
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_link])
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}
