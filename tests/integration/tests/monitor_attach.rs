//! `rcrun-monitor --stdin`: a client on `attach.sock` feeds the container's
//! stdin and receives its output and exit record (framing: monitor/README.md).

mod monitor_common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use monitor_common::{skip, Monitored};

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, 0, 0, 0];
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn read_frame(s: &mut UnixStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 8];
    s.read_exact(&mut h).ok()?;
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).ok()?;
    Some((h[0], p))
}

#[test]
fn attached_client_feeds_stdin_and_gets_output_and_exit() {
    if skip() {
        return;
    }
    let mut m = Monitored::new(&["sh", "-c", "while read l; do echo \"got $l\"; done; exit 4"]);
    m.extra = vec!["--stdin".into()];
    m.launch_and_start();
    let mut s = UnixStream::connect(m.dir().join("attach.sock")).expect("connect attach.sock");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(&frame(0, b"hello\n")).expect("send stdin");
    let (kind, data) = read_frame(&mut s).expect("an output frame");
    assert_eq!((kind, data.as_slice()), (1, &b"got hello\n"[..]));
    s.write_all(&frame(4, b"")).expect("close stdin");
    let mut exit = None;
    while let Some((kind, data)) = read_frame(&mut s) {
        if kind == 3 {
            exit = Some(String::from_utf8_lossy(&data).into_owned());
        }
    }
    let exit = exit.expect("an exit frame before the monitor closed the connection");
    assert!(exit.contains("\"exitCode\":4"), "{exit}");
    assert_eq!(m.wait_exit()["exitCode"], 4);
    assert!(
        m.log().iter().any(|r| r.ends_with(" stdout F got hello")),
        "{:?}",
        m.log()
    );
    assert!(!m.dir().join("attach.sock").exists());
}

#[test]
fn attached_client_drives_a_terminal_and_resizes_it() {
    if skip() {
        return;
    }
    let mut m = Monitored::new(&["sh", "-c", "read x; stty size; echo \"got $x\""]);
    m.bundle
        .edit(|c| c["process"]["terminal"] = serde_json::json!(true));
    m.extra = vec!["--tty".into(), "--stdin".into()];
    m.launch_and_start();
    let mut s = UnixStream::connect(m.dir().join("attach.sock")).expect("connect attach.sock");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut size = Vec::new();
    size.extend_from_slice(&33u16.to_be_bytes());
    size.extend_from_slice(&99u16.to_be_bytes());
    s.write_all(&frame(5, &size)).expect("send resize");
    s.write_all(&frame(0, b"go\n")).expect("send stdin");
    let mut output = String::new();
    let mut exit = None;
    while let Some((kind, data)) = read_frame(&mut s) {
        match kind {
            1 => output.push_str(&String::from_utf8_lossy(&data)),
            3 => exit = Some(String::from_utf8_lossy(&data).into_owned()),
            other => panic!("unexpected frame kind {other} from a terminal"),
        }
    }
    assert!(
        output.contains("33 99"),
        "stty size after the resize: {output:?}"
    );
    assert!(
        output.contains("got go"),
        "stdin reached the terminal: {output:?}"
    );
    let exit = exit.expect("an exit frame");
    assert!(exit.contains("\"exitCode\":0"), "{exit}");
}
