//! `--log FILE --log-format json|text`: every error of `rcrun-oci`, usage
//! errors included, lands in the log file as runc writes it, because
//! engines (containerd's shim, conmon) show their users only that.

mod oci_common;

use oci_common::Oci;

/// The last line of `log` as JSON.
fn last_json_line(log: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(log).expect("log written");
    serde_json::from_str(text.lines().last().expect("a line")).expect("json line")
}

#[test]
fn usage_errors_reach_the_json_log() {
    let oci = Oci::new();
    let log = oci.root().join("rxb.log");
    let log_arg = log.display().to_string();
    let out = oci.out(&[
        "--log",
        &log_arg,
        "--log-format",
        "json",
        "rxb-no-such-verb",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let line = last_json_line(&log);
    assert_eq!(line["level"], "error");
    let msg = line["msg"].as_str().unwrap_or_default();
    assert!(msg.contains("rxb-no-such-verb"), "{line}");
    assert!(!msg.contains('\n'), "one line: {msg:?}");

    let log_eq = format!("--log={log_arg}");
    let out = oci.out(&[&log_eq, "--log-format=json", "kill", "--rxb-bad-flag", "x"]);
    assert_eq!(out.status.code(), Some(1));
    let line = last_json_line(&log);
    assert!(
        line["msg"]
            .as_str()
            .is_some_and(|m| m.contains("--rxb-bad-flag")),
        "{line}"
    );
}

#[test]
fn runtime_errors_reach_the_text_log_once() {
    let oci = Oci::new();
    let log = oci.root().join("rxb-text.log");
    let out = oci.out(&[
        "--log",
        &log.display().to_string(),
        "create",
        "--bundle",
        "/rxb-no-such-bundle",
        "rxb-x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).expect("log written");
    let last = text.lines().last().expect("a line");
    assert!(last.starts_with("time=\""), "{last}");
    assert!(last.contains("level=error"), "{last}");
    assert!(last.contains("/rxb-no-such-bundle"), "{last}");
    // The OS error is said once, not once per error layer.
    assert_eq!(last.matches("os error 2").count(), 1, "{last}");
}
