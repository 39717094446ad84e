//! A real OCI registry for tests: the Debian `docker-registry` binary
//! (distribution 2.8) on `127.0.0.1:<free port>` with its storage in a
//! tempdir, optionally behind htpasswd basic auth or bearer-token auth
//! ([`token::TokenServer`]), optionally over HTTPS with a self-signed
//! certificate, killed on drop. Images are put into it with skopeo, a client
//! rcrun did not write; [`layouts`] builds the images the pull tests need
//! beyond [`crate::images`]. [`ImageRoot`] is a throwaway rcrun data root.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod layouts;
pub mod token;

pub use self::layouts::{
    busybox_plus_layout, file_layer, mixed_compression_layout, nginx_plus_layout,
    two_platform_layout, Compression,
};

/// The registry binary from the Debian `docker-registry` package.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A running registry; stopped and its storage removed on drop.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    tls: bool,
}

impl Registry {
    /// Start a registry without authentication.
    pub fn start() -> Registry {
        Registry::start_inner(Auth::None, false)
    }

    /// Start a registry that sends clients to `tokens` for bearer tokens
    /// (the `WWW-Authenticate: Bearer realm=...` challenge flow).
    pub fn start_with_token_auth(tokens: &token::TokenServer) -> Registry {
        Registry::start_inner(Auth::Token(tokens), false)
    }

    /// Start a registry serving HTTPS with a self-signed certificate for
    /// 127.0.0.1 (made with `openssl req -x509`).
    pub fn start_tls() -> Registry {
        Registry::start_inner(Auth::None, true)
    }

    /// Start a registry that requires HTTP basic auth as `user`/`password`
    /// (an htpasswd file made with `htpasswd -Bbn`).
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        Registry::start_inner(Auth::Htpasswd(user, password), false)
    }

    fn start_inner(auth: Auth<'_>, tls: bool) -> Registry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} missing: install the Debian docker-registry package"
        );
        let mut last_log = String::new();
        // A free port can be taken between probe and bind: try a few.
        for _ in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("rir-registry-")
                .tempdir()
                .expect("registry tempdir");
            let storage = dir.path().join("storage");
            fs::create_dir_all(&storage).expect("mkdir storage");
            let port = free_port();
            let mut auth_section = String::new();
            if let Auth::Token(t) = auth {
                auth_section = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    t.realm(),
                    token::SERVICE,
                    token::ISSUER,
                    t.cert_path().display()
                );
            }
            if let Auth::Htpasswd(user, password) = auth {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("run htpasswd (apache2-utils)");
                assert!(out.status.success(), "htpasswd failed");
                let path = dir.path().join("htpasswd");
                fs::write(&path, &out.stdout).expect("write htpasswd");
                auth_section = format!(
                    "auth:\n  htpasswd:\n    realm: rir-realm\n    path: {}\n",
                    path.display()
                );
            }
            let mut tls_section = String::new();
            if tls {
                let (cert, key) = self_signed_cert(dir.path(), "127.0.0.1");
                tls_section = format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    cert.display(),
                    key.display()
                );
            }
            let config = format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n{tls_section}{auth_section}",
                storage.display()
            );
            let config_path = dir.path().join("config.yml");
            fs::write(&config_path, config).expect("write registry config");
            let log = fs::File::create(dir.path().join("registry.log")).expect("registry log");
            let child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .expect("spawn docker-registry");
            let mut reg = Registry {
                child,
                dir,
                port,
                tls,
            };
            if reg.wait_ready(Duration::from_secs(15)) {
                return reg;
            }
            last_log = reg.log();
        }
        panic!("docker-registry did not become ready; last log:\n{last_log}");
    }

    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Some(status) = http_status(self.port, "/v2/") {
                // An HTTPS server answers plain HTTP with 400.
                if status == 200 || status == 401 || (self.tls && status == 400) {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `127.0.0.1:<port>`: the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>` (`https://` for a TLS registry).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// The registry's storage root (`rootdirectory`).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Where the registry keeps the content of blob `digest`.
    pub fn blob_data_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The registry's log (stdout and stderr, including the access log).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// How many successful `GET`s of blob `digest` the access log shows.
    pub fn blob_downloads(&self, digest: &str) -> usize {
        let needle = format!("/blobs/{digest} HTTP/1.1\" 200 ");
        self.log()
            .lines()
            .filter(|l| l.contains("\"GET /v2/") && l.contains(&needle))
            .count()
    }

    /// Copy `src` (a skopeo source such as `oci:DIR:REF`) to
    /// `<host>/<dest>` with skopeo; `extra` are more skopeo copy flags
    /// (`--all`, `--format v2s2`, `--dest-creds u:p`).
    pub fn skopeo_push(&self, src: &str, dest: &str, extra: &[&str]) {
        let out = Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .args(extra)
            .arg(src)
            .arg(format!("docker://{}/{dest}", self.host()))
            .output()
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo copy {src} -> {dest} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `skopeo inspect --raw` of `<host>/<reference>` as JSON (the manifest).
    pub fn skopeo_inspect_raw(&self, reference: &str, creds: Option<&str>) -> Value {
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--raw", "--tls-verify=false"]);
        if let Some(c) = creds {
            cmd.args(["--creds", c]);
        }
        let out = cmd
            .arg(format!("docker://{}/{reference}", self.host()))
            .output()
            .expect("run skopeo inspect");
        assert!(
            out.status.success(),
            "skopeo inspect {reference} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("manifest JSON from skopeo")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How clients must authenticate to a [`Registry`].
#[derive(Debug, Clone, Copy)]
enum Auth<'a> {
    None,
    Htpasswd(&'a str, &'a str),
    Token(&'a token::TokenServer),
}

/// Make `cert.pem` and `key.pem` in `dir`: a self-signed RSA certificate for
/// `cn` (with `cn` as IP subject alternative name when it is an address).
pub fn self_signed_cert(dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let mut cmd = Command::new("openssl");
    cmd.args([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
    ])
    .args(["-subj", &format!("/CN={cn}")]);
    if cn.parse::<std::net::IpAddr>().is_ok() {
        cmd.args(["-addext", &format!("subjectAltName=IP:{cn}")]);
    }
    let out = cmd
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl (Debian openssl)");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// A port on 127.0.0.1 free at the time of asking.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// The HTTP status of `GET path` on 127.0.0.1:`port`, if it answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().ok()?,
        Duration::from_millis(500),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace().nth(1)?.parse().ok()
}

/// A throwaway rcrun data root (and state root) for image tests, with its
/// own auth file (`REGISTRY_AUTH_FILE`) so no test reads or writes
/// `~/.docker/config.json`.
#[derive(Debug)]
pub struct ImageRoot {
    dir: tempfile::TempDir,
}

impl Default for ImageRoot {
    fn default() -> Self {
        ImageRoot::new()
    }
}

impl ImageRoot {
    /// A fresh, empty data root.
    pub fn new() -> ImageRoot {
        ImageRoot {
            dir: tempfile::Builder::new()
                .prefix("rir-data-")
                .tempdir()
                .expect("data root tempdir"),
        }
    }

    /// The data root (`--data-root`).
    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The auth file the commands use.
    pub fn auth_file(&self) -> PathBuf {
        self.dir.path().join("auth.json")
    }

    /// `rcrun --root <tmp>/run --data-root <tmp>/data` with the auth file set.
    pub fn rcrun(&self) -> Command {
        let mut c = Command::new(crate::bins::bin("rcrun"));
        c.arg("--root")
            .arg(self.dir.path().join("run"))
            .arg("--data-root")
            .arg(self.data_root())
            .env("REGISTRY_AUTH_FILE", self.auth_file())
            .env_remove("DOCKER_CONFIG");
        c
    }

    /// The image store of this data root.
    pub fn store(&self) -> rcrun_image::Store {
        rcrun_image::Store::open(&self.data_root()).expect("open store")
    }

    /// Does `path` exist (without following a final symlink) in some
    /// unpacked layer of `image`?
    pub fn image_has(&self, image: &str, path: &str) -> bool {
        let store = self.store();
        let img = store.resolve(image).expect("image in store");
        store
            .layer_dirs(&img)
            .iter()
            .any(|d| fs::symlink_metadata(d.join(path)).is_ok())
    }

    /// Digests of the blobs in the store.
    pub fn blobs(&self) -> Vec<String> {
        list_names(&self.data_root().join("images/blobs/sha256"))
            .into_iter()
            .map(|h| format!("sha256:{h}"))
            .collect()
    }

    /// Leftover temp files of the store (downloads in flight).
    pub fn temp_files(&self) -> Vec<String> {
        list_names(&self.data_root().join("images/tmp"))
    }
}

fn list_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}
