//! Terminals: `exec -t` with `--console-socket` sends a working pty master;
//! foreground `exec -t` and `run` with `process.terminal` proxy a pty the
//! runtime allocates between the caller's terminal (a pty the test owns)
//! and the container, with the window size and exit status carried over.

mod oci_common;
mod oci_exec_util;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use oci_common::skip;
use oci_exec_util::{openpty, read_until, Running};
use rcrun_it::fdpass::recv_fd;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

/// Wait for `child` (at most [`WAIT`]), killing it on timeout.
fn wait_code(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rcrun-oci did not exit within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Spawn `cmd` with the pty slave as stdin, stdout and stderr.
fn spawn_on(cmd: &mut std::process::Command, slave: &std::fs::File) -> Child {
    cmd.stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave.try_clone().expect("dup")))
        .spawn()
        .expect("spawn rcrun-oci")
}

fn lflags(f: &std::fs::File) -> libc::tcflag_t {
    // SAFETY: a zeroed termios is valid for tcgetattr to fill.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr on an open terminal descriptor.
    assert_eq!(unsafe { libc::tcgetattr(f.as_raw_fd(), &mut t) }, 0);
    t.c_lflag
}

#[test]
fn exec_tty_sends_a_pty_master_to_the_console_socket() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let mut child = c
        .oci
        .cmd(&[
            "exec",
            "-t",
            "--console-socket",
            &sock.display().to_string(),
            &c.id,
            "sh",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn exec");
    let (conn, _) = listener.accept().expect("accept");
    let mut master = recv_fd(&conn);
    master
        .write_all(b"tty; echo rxa-$((40+2))\n")
        .expect("write to pty");
    let seen = read_until(&mut master, "rxa-42\r\n", WAIT);
    assert!(seen.contains("/dev/pts/"), "{seen:?}");
    assert!(seen.contains("rxa-42\r\n"), "{seen:?}");
    master.write_all(b"exit 7\n").expect("write exit");
    assert_eq!(wait_code(&mut child), Some(7));
}

#[test]
fn foreground_exec_tty_proxies_the_callers_terminal() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let (mut master, slave) = openpty(33, 91);
    let before = lflags(&slave);
    let mut child = spawn_on(&mut c.oci.cmd(&["exec", "-t", &c.id, "sh"]), &slave);
    master
        .write_all(b"stty size; echo rxa-$((6*7))\n")
        .expect("write");
    let seen = read_until(&mut master, "rxa-42\r\n", WAIT);
    assert!(seen.contains("33 91"), "initial window size: {seen:?}");
    // While proxying, our terminal is raw (no echo, no line editing).
    assert_eq!(lflags(&slave) & (libc::ICANON | libc::ECHO), 0);
    // A resize of our terminal reaches the container's pty on SIGWINCH.
    let ws = libc::winsize {
        ws_row: 50,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a valid winsize struct.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    assert_eq!(r, 0);
    // SAFETY: kill with a pid of our child and a valid signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGWINCH) };
    std::thread::sleep(Duration::from_millis(200));
    master.write_all(b"stty size\n").expect("write");
    let seen = read_until(&mut master, "50 120", WAIT);
    assert!(seen.contains("50 120"), "resized window: {seen:?}");
    master.write_all(b"exit 4\n").expect("write");
    assert_eq!(wait_code(&mut child), Some(4));
    // Our terminal's settings are back.
    assert_eq!(lflags(&slave), before);
}

#[test]
fn foreground_run_with_a_terminal_proxies_a_pty() {
    if skip() {
        return;
    }
    let oci = oci_common::Oci::new();
    let mut b = rcrun_it::bundle::Bundle::busybox(&["sh"]);
    b.edit(|cfg| {
        cfg["process"]["terminal"] = json!(true);
        cfg["process"]["consoleSize"] = json!({"height": 24, "width": 80});
    });
    let id = oci_exec_util::id();
    let (mut master, slave) = openpty(40, 100);
    let mut child = spawn_on(
        &mut oci.cmd(&["run", "--bundle", &b.path().display().to_string(), &id]),
        &slave,
    );
    master
        .write_all(b"tty; stty size; echo rxa-$((6*7))\n")
        .expect("write");
    let seen = read_until(&mut master, "rxa-42\r\n", WAIT);
    assert!(seen.contains("/dev/pts/0"), "{seen:?}");
    // The caller's terminal size wins over consoleSize.
    assert!(seen.contains("40 100"), "{seen:?}");
    master.write_all(b"exit 9\n").expect("write");
    assert_eq!(wait_code(&mut child), Some(9));
    oci.assert_no_leftovers(&id, b.path());
}

#[test]
fn foreground_exec_tty_without_a_terminal_still_runs() {
    if skip() {
        return;
    }
    // stdin is not a terminal: no raw mode, the pty still carries output.
    let c = Running::sleeper();
    let out = c.exec(&["-t"], &["sh", "-c", "tty; exit 2"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("/dev/pts/"),
        "{out:?}"
    );
}

#[test]
fn detached_exec_tty_needs_a_console_socket() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let err = c.oci.fails(&["exec", "-d", "-t", &c.id, "sh"]);
    assert!(err.contains("--console-socket"), "{err}");
}

#[test]
fn piped_input_to_exec_tty_ends_with_an_eof() {
    if skip() {
        return;
    }
    let c = Running::sleeper();
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    let output = dir.path().join("out");
    std::fs::write(&input, "rxa-line\n").expect("write");
    // Without an end-of-file `cat` would wait forever: wait_code times out.
    let mut child = c
        .oci
        .cmd(&["exec", "-t", &c.id, "sh", "-c", "cat; echo rxa-done"])
        .stdin(std::fs::File::open(&input).expect("open"))
        .stdout(std::fs::File::create(&output).expect("create"))
        .spawn()
        .expect("spawn exec");
    assert_eq!(wait_code(&mut child), Some(0));
    let text = std::fs::read_to_string(&output).expect("read");
    assert!(
        text.contains("rxa-line") && text.contains("rxa-done"),
        "{text:?}"
    );
}
