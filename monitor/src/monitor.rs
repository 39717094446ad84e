//! `rcrun-monitor`: detach, become the subreaper, run the runtime's
//! `create` with pipes (or a console socket) as the container's stdio,
//! report the init's pid, then hand over to [`crate::supervise`]; restart
//! it as `--restart` says; record the exit and run the exit command.

use std::path::Path;
use std::time::Instant;

use crate::args::MonitorArgs;
use crate::error::{Error, Result};
use crate::logfile::LogFile;
use crate::spawn::{self, Stdio};
use crate::supervise::{Output, Shared, Supervisor};
use crate::{attach, console, exitfile, json, restart, sys, timefmt};

/// Run the monitor. Returns the exit code of the process the caller started
/// (0 once detached); the detached monitor itself ends in `_exit`.
pub fn run(args: &MonitorArgs) -> i32 {
    let keep: Vec<libc::c_int> = args.ready_fd.into_iter().collect();
    if let Err(e) = sys::close_fds_except(&keep) {
        report(args.ready_fd, &error_line(&e.to_string()));
        return 1;
    }
    match sys::fork() {
        Ok(0) => {}
        Ok(_) => return 0,
        Err(e) => {
            report(args.ready_fd, &error_line(&e.to_string()));
            return 1;
        }
    }
    // SAFETY: setsid has no preconditions; in a fresh child it succeeds.
    unsafe { libc::setsid() };
    let first = setup(args).and_then(|shared| Ok((create(args)?, shared)));
    let code = match first {
        Ok((created, shared)) => {
            report(
                args.ready_fd,
                &format!("{{\"pid\":{}}}\n", created.init_pid),
            );
            supervise(args, created, shared)
        }
        Err(e) => {
            report(args.ready_fd, &error_line(&e.to_string()));
            1
        }
    };
    sys::exit_now(code)
}

/// `{"error":"..."}` with `msg` flattened to one line.
fn error_line(msg: &str) -> String {
    let one = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("{{\"error\":{}}}\n", json::string(&one))
}

/// Write the readiness line (best effort) and close the descriptor.
fn report(fd: Option<libc::c_int>, line: &str) {
    if let Some(fd) = fd {
        let _ = sys::write_all(fd, line.as_bytes());
        sys::close(fd);
    }
}

/// The process-wide setup: stdio, subreaper, signals, log, attach socket.
fn setup(args: &MonitorArgs) -> Result<Shared> {
    sys::stdio_to_devnull()?;
    // SAFETY: prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    sys::check(r, || "become child subreaper".to_string())?;
    sys::set_signal(libc::SIGPIPE, libc::SIG_IGN)?;
    sys::set_signal(libc::SIGHUP, libc::SIG_IGN)?;
    let sigset = sys::block_signals(&[libc::SIGCHLD])?;
    // SAFETY: sigset is initialised; flags are constants.
    let sigfd = unsafe { libc::signalfd(-1, &sigset, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
    sys::check(sigfd, || "signalfd SIGCHLD".to_string())?;
    let log = LogFile::open(&args.log_path)?;
    let own_pid = format!("{}\n", std::process::id());
    exitfile::write_atomic(&args.container_dir.join("monitor.pid"), own_pid.as_bytes())?;
    let attach = if args.stdin {
        Some(attach::Attach::listen(
            &args.container_dir.join("attach.sock"),
        )?)
    } else {
        None
    };
    Ok(Shared { sigfd, log, attach })
}

/// A created (not yet started) container.
#[derive(Debug)]
struct Created {
    init_pid: libc::pid_t,
    output: Output,
    stdin_w: Option<libc::c_int>,
}

/// Run the runtime's `create` with fresh stdio for the container.
fn create(args: &MonitorArgs) -> Result<Created> {
    let dir = &args.container_dir;
    let pid_file = dir.join("pid");
    let _ = std::fs::remove_file(&pid_file);
    let null = sys::open_devnull()?;
    let (err_r, err_w) = sys::pipe()?;
    let (stdin_r, stdin_w) = if args.stdin && !args.tty {
        let (r, w) = sys::pipe()?;
        (r, Some(w))
    } else {
        (null, None)
    };
    let console_path = dir.join("console.sock");
    let (out_r, out_w, console) = if args.tty {
        (None, err_w, Some(console::listen(&console_path)?))
    } else {
        let (r, w) = sys::pipe()?;
        (Some(r), w, None)
    };
    // The runtime connects to the console socket by a name that fits a
    // sockaddr_un even when the container directory's path is long.
    let console_name = match console {
        Some(_) => Some(console::sock_path(&console_path)?),
        None => None,
    };
    let argv = spawn::create_argv(
        args,
        &pid_file,
        console_name.as_ref().map(|s| s.addr.as_path()),
    );
    let runtime = spawn::spawn(
        &argv,
        Stdio {
            stdin: stdin_r,
            stdout: out_w,
            stderr: err_w,
        },
    )?;
    // Only the runtime (and the init it creates) hold the child ends now.
    let mut child_ends = vec![stdin_r, out_w, err_w, null];
    child_ends.sort_unstable();
    child_ends.dedup();
    child_ends.into_iter().for_each(sys::close);
    let status = sys::wait_pid(runtime)?;
    if status != sys::ExitStatus::Exited(0) {
        return Err(Error::msg(runtime_error(err_r, status)));
    }
    // From here on a container exists: undo the create if we cannot follow it.
    let created = || -> Result<(libc::pid_t, Option<libc::c_int>)> {
        let init_pid = read_pid(&pid_file)?;
        let master = match console {
            Some(l) => {
                let m = console::receive_master(l);
                sys::close(l);
                let _ = std::fs::remove_file(&console_path);
                Some(m?)
            }
            None => None,
        };
        Ok((init_pid, master))
    };
    let (init_pid, master) = match created() {
        Ok(v) => v,
        Err(e) => {
            let _ = spawn::run_quiet(&spawn::delete_argv(args));
            return Err(e);
        }
    };
    let output = match (master, out_r) {
        (Some(m), _) => {
            sys::close(err_r);
            Output::Terminal(m)
        }
        (None, Some(out)) => Output::Pipes { out, err: err_r },
        (None, None) => return Err(Error::msg("neither a terminal nor output pipes")),
    };
    Ok(Created {
        init_pid,
        output,
        stdin_w,
    })
}

/// Supervise the container until it exits for good (restarting it as the
/// policy says), then record the exit and run the exit command.
fn supervise(args: &MonitorArgs, first: Created, shared: Shared) -> i32 {
    let mut created = first;
    let mut shared = shared;
    let mut restarts: u32 = 0;
    let mut in_a_row: u32 = 0;
    loop {
        let started = Instant::now();
        let sup = match Supervisor::new(created.init_pid, created.output, created.stdin_w, shared) {
            Ok(s) => s,
            Err(e) => {
                // Without non-blocking output the loop could hang: give up
                // on this container (its init keeps running unsupervised).
                note_error(args, &e);
                return 1;
            }
        };
        let (status, back) = sup.run();
        shared = back;
        if !args.restart.wants_restart(status, restarts) || restart_vetoed(args) {
            return finish(args, status, shared);
        }
        if started.elapsed() >= restart::BACKOFF_RESET {
            in_a_row = 0;
        }
        std::thread::sleep(restart::backoff(in_a_row));
        if restart_vetoed(args) {
            return finish(args, status, shared);
        }
        match recreate(args) {
            Ok(c) => created = c,
            Err(e) => {
                note_error(args, &e);
                return finish(args, status, shared);
            }
        }
        restarts += 1;
        in_a_row += 1;
        let record = format!(
            "{{\"restartCount\":{restarts},\"lastExit\":{}}}\n",
            exitfile::to_json(status, &timefmt::now_rfc3339()).trim_end()
        );
        if let Err(e) =
            exitfile::write_atomic(&args.container_dir.join("restarts"), record.as_bytes())
        {
            note_error(args, &e);
        }
    }
}

/// The engine asked for no restart (a stop or kill by the user) by
/// creating `<container-dir>/no-restart`.
fn restart_vetoed(args: &MonitorArgs) -> bool {
    args.container_dir.join("no-restart").exists()
}

/// Delete the exited container and create and start it again.
fn recreate(args: &MonitorArgs) -> Result<Created> {
    let status = spawn::run_quiet(&spawn::delete_argv(args))?;
    if status != sys::ExitStatus::Exited(0) {
        return Err(Error::msg(format!(
            "restart: runtime delete exited with {}",
            status.code()
        )));
    }
    let c = create(args)?;
    let status = spawn::run_quiet(&spawn::start_argv(args))?;
    if status != sys::ExitStatus::Exited(0) {
        let _ = spawn::run_quiet(&spawn::delete_argv(args));
        return Err(Error::msg(format!(
            "restart: runtime start exited with {}",
            status.code()
        )));
    }
    Ok(c)
}

/// The runtime's error: the last non-empty line it wrote to stderr, else
/// its exit status.
fn runtime_error(err_r: libc::c_int, status: sys::ExitStatus) -> String {
    let _ = sys::set_nonblocking(err_r);
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(Some(n)) = sys::read_some(err_r, &mut buf) {
        if n == 0 || all.len() > 64 * 1024 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&all);
    match text.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(l) => l.trim().to_string(),
        None => format!("runtime create failed with exit code {}", status.code()),
    }
}

/// The init's pid from the runtime's pid file.
fn read_pid(path: &Path) -> Result<libc::pid_t> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::os(
            format!("read pid file {}", path.display()),
            e.raw_os_error().unwrap_or(0),
        )
    })?;
    text.trim()
        .parse::<libc::pid_t>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| {
            Error::msg(format!(
                "pid file {} holds {:?}, not a pid",
                path.display(),
                text.trim()
            ))
        })
}

/// Record the exit, close the log and attach socket, run the exit command.
fn finish(args: &MonitorArgs, status: sys::ExitStatus, shared: Shared) -> i32 {
    let Shared { sigfd, log, attach } = shared;
    sys::close(sigfd);
    let record = exitfile::to_json(status, &timefmt::now_rfc3339());
    let mut code = 0;
    if let Err(e) = exitfile::write_atomic(&args.container_dir.join("exit"), record.as_bytes()) {
        note_error(args, &e);
        code = 1;
    }
    if let Err(e) = log.close() {
        note_error(args, &e);
    }
    if let Some(a) = attach {
        a.finish(record.trim_end());
    }
    if let Some(argv) = spawn::exit_argv(args) {
        if let Err(e) = spawn::run_quiet(&argv) {
            note_error(args, &e);
            code = 1;
        }
    }
    code
}

/// Record a failure after readiness in `<container-dir>/monitor.err` (the
/// monitor's stdio are /dev/null by then).
fn note_error(args: &MonitorArgs, e: &Error) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(args.container_dir.join("monitor.err"))
    {
        let _ = writeln!(f, "{} {e}", timefmt::now_rfc3339());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_line_is_one_json_line() {
        assert_eq!(
            error_line("bad \"bundle\"\n  missing config.json"),
            "{\"error\":\"bad \\\"bundle\\\" missing config.json\"}\n"
        );
    }

    #[test]
    fn runtime_error_takes_last_stderr_line() {
        let (r, w) = sys::pipe().unwrap();
        sys::write_all(
            w,
            b"warning: x\nrcrun-oci: open config.json: no such file\n\n",
        )
        .unwrap();
        sys::close(w);
        assert_eq!(
            runtime_error(r, sys::ExitStatus::Exited(1)),
            "rcrun-oci: open config.json: no such file"
        );
        sys::close(r);
        let (r, w) = sys::pipe().unwrap();
        sys::close(w);
        assert_eq!(
            runtime_error(r, sys::ExitStatus::Exited(2)),
            "runtime create failed with exit code 2"
        );
        sys::close(r);
    }

    #[test]
    fn read_pid_rejects_garbage() {
        let p = std::env::temp_dir().join(format!("rxd-pid-{}", std::process::id()));
        std::fs::write(&p, "1234\n").unwrap();
        assert_eq!(read_pid(&p).unwrap(), 1234);
        std::fs::write(&p, "abc").unwrap();
        assert!(read_pid(&p).is_err());
        std::fs::remove_file(&p).unwrap();
    }
}
