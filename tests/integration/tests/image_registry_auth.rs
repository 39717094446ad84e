//! Registry authentication: a docker-registry behind htpasswd basic auth;
//! `--creds`, `rcrun login` / `rcrun logout` with the auth file in a tempdir
//! (`REGISTRY_AUTH_FILE`), and clear errors without or with wrong
//! credentials; and a registry behind bearer-token auth (anonymous token
//! flow).

mod image_common;

use std::io::Write;
use std::process::Stdio;

use image_common::{push_image, stderr};
use rcrun_it::bins::{run, run_ok};
use rcrun_it::images;
use rcrun_it::registry::token::TokenServer;
use rcrun_it::registry::{ImageRoot, Registry};

const USER: &str = "rir-user";
const PASSWORD: &str = "rir:secret pw";

/// An auth registry holding busybox as `rir/busybox:latest`; returns the
/// registry and the reference to pull.
fn auth_registry_with_busybox() -> (Registry, String) {
    let reg = Registry::start_with_auth(USER, PASSWORD);
    let layout = tempfile::tempdir().unwrap();
    let img = images::busybox_oci_layout(layout.path());
    reg.skopeo_push(
        &img.transport(),
        "rir/busybox:latest",
        &["--dest-creds", &format!("{USER}:{PASSWORD}")],
    );
    let reference = format!("{}/rir/busybox:latest", reg.host());
    (reg, reference)
}

#[test]
fn pull_without_credentials_is_unauthorized_with_a_clear_error() {
    let (_reg, reference) = auth_registry_with_busybox();
    let root = ImageRoot::new();

    let out = run(root
        .rcrun()
        .args(["pull", "-q", "--tls-verify=false", &reference]));

    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(err.contains("authentication required"), "{err}");
    assert!(
        err.contains("rcrun login") && err.contains("--creds"),
        "{err}"
    );
    assert!(root.store().list().unwrap().is_empty());
}

#[test]
fn pull_with_creds_flag() {
    let (_reg, reference) = auth_registry_with_busybox();
    let root = ImageRoot::new();

    run_ok(root.rcrun().args([
        "pull",
        "-q",
        "--tls-verify=false",
        "--creds",
        &format!("{USER}:{PASSWORD}"),
        &reference,
    ]));

    assert!(root.image_has(&reference, "bin/busybox"));
    assert!(
        !root.auth_file().exists(),
        "--creds must not write the auth file"
    );
}

#[test]
fn pull_with_wrong_creds_names_the_user() {
    let (_reg, reference) = auth_registry_with_busybox();
    let root = ImageRoot::new();

    let out = run(root.rcrun().args([
        "pull",
        "-q",
        "--tls-verify=false",
        "--creds",
        &format!("{USER}:wrong"),
        &reference,
    ]));

    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("invalid username or password") && err.contains(USER),
        "{err}"
    );
}

#[test]
fn login_then_pull_uses_the_auth_file_and_logout_forgets() {
    let (reg, reference) = auth_registry_with_busybox();
    let root = ImageRoot::new();

    // Wrong password: refused, nothing stored.
    let out = run(root.rcrun().args([
        "login",
        "--tls-verify=false",
        "-u",
        USER,
        "-p",
        "wrong",
        &reg.host(),
    ]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid username or password"),
        "{}",
        stderr(&out)
    );
    assert!(!root.auth_file().exists());

    // Right password through stdin.
    let mut child = root
        .rcrun()
        .args([
            "login",
            "--tls-verify=false",
            "-u",
            USER,
            "--password-stdin",
            &reg.host(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Login Succeeded"));

    // The file is docker's format: skopeo reads it too.
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.auth_file()).unwrap()).unwrap();
    assert!(doc["auths"][reg.host()]["auth"].is_string(), "{doc}");
    let skopeo = run(std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", "--authfile"])
        .arg(root.auth_file())
        .arg(format!("docker://{reference}")));
    assert!(skopeo.status.success(), "{}", stderr(&skopeo));

    run_ok(
        root.rcrun()
            .args(["pull", "-q", "--tls-verify=false", &reference]),
    );
    assert!(root.image_has(&reference, "bin/busybox"));

    run_ok(root.rcrun().args(["logout", &reg.host()]));
    let out = run(root.rcrun().args(["logout", &reg.host()]));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not logged in"), "{}", stderr(&out));
    let other = ImageRoot::new();
    std::fs::copy(root.auth_file(), other.auth_file()).unwrap();
    let out = run(other
        .rcrun()
        .args(["pull", "-q", "--tls-verify=false", &reference]));
    assert!(
        stderr(&out).contains("authentication required"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn anonymous_pull_through_the_bearer_token_flow() {
    let tokens = TokenServer::start();
    let reg = Registry::start_with_token_auth(&tokens);
    let (_layout, _, reference) =
        push_image(&reg, images::busybox_oci_layout, "rir/busybox:latest", &[]);
    let root = ImageRoot::new();
    let before = tokens.requests().len();

    run_ok(
        root.rcrun()
            .args(["pull", "-q", "--tls-verify=false", &reference]),
    );

    assert!(root.image_has(&reference, "bin/busybox"));
    // rcrun followed the challenge to the token service for a pull scope.
    let asked: Vec<String> = tokens.requests()[before..].to_vec();
    assert!(
        asked
            .iter()
            .any(|t| t.contains("scope=repository%3Arir%2Fbusybox%3Apull")
                || t.contains("scope=repository:rir/busybox:pull")),
        "{asked:?}"
    );
    assert!(
        asked.iter().all(|t| t.contains("service=rir-registry")),
        "{asked:?}"
    );
    // And the registry saw the token: the manifest GET succeeded.
    assert!(reg
        .log()
        .contains("\"GET /v2/rir/busybox/manifests/latest HTTP/1.1\" 200"));
}
