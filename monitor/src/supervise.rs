//! The monitor's loop after the container was created: copy output to the
//! log (and attached clients), feed stdin from attached clients, reap
//! children until the container's init has exited.

use crate::attach::{self, Attach, Request};
use crate::error::Result;
use crate::logfile::{LogFile, Stream};
use crate::sys::{self, ExitStatus};

/// Where the container's output comes from.
#[derive(Debug)]
pub enum Output {
    /// Separate stdout and stderr pipes (read ends).
    Pipes {
        /// stdout read end.
        out: libc::c_int,
        /// stderr read end.
        err: libc::c_int,
    },
    /// A pty master: output is logged as stdout, stdin is written to it.
    Terminal(libc::c_int),
}

/// What outlives one run of the container (restarts reuse it).
#[derive(Debug)]
pub struct Shared {
    /// signalfd for SIGCHLD.
    pub sigfd: libc::c_int,
    /// The log.
    pub log: LogFile,
    /// The attach socket, with `--stdin`.
    pub attach: Option<Attach>,
}

/// One input source in the poll set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Signal,
    Out(Stream, libc::c_int),
    Attach(usize),
}

/// The monitor's state while the container runs.
#[derive(Debug)]
pub struct Supervisor {
    init_pid: libc::pid_t,
    streams: Vec<(Stream, libc::c_int)>,
    master: Option<libc::c_int>,
    stdin_w: Option<libc::c_int>,
    shared: Shared,
}

impl Supervisor {
    /// Take over the created container's descriptors.
    pub fn new(
        init_pid: libc::pid_t,
        output: Output,
        stdin_w: Option<libc::c_int>,
        shared: Shared,
    ) -> Result<Self> {
        let (streams, master) = match output {
            Output::Pipes { out, err } => {
                (vec![(Stream::Stdout, out), (Stream::Stderr, err)], None)
            }
            Output::Terminal(m) => (vec![(Stream::Stdout, m)], Some(m)),
        };
        for &(_, fd) in &streams {
            sys::set_nonblocking(fd)?;
        }
        Ok(Supervisor {
            init_pid,
            streams,
            master,
            stdin_w,
            shared,
        })
    }

    /// The container init's pid.
    pub fn init_pid(&self) -> libc::pid_t {
        self.init_pid
    }

    /// Run until the init has exited and its output is drained; returns its
    /// status and the shared parts (to be reused or finished by the caller).
    pub fn run(mut self) -> (ExitStatus, Shared) {
        let status = loop {
            if let Some(s) = self.reap() {
                break s;
            }
            let sources = self.sources();
            let mut pfds: Vec<libc::pollfd> = sources
                .iter()
                .map(|s| libc::pollfd {
                    fd: match *s {
                        Source::Signal => self.shared.sigfd,
                        Source::Out(_, fd) => fd,
                        Source::Attach(i) => self.shared.attach.as_ref().map_or(-1, |a| a.fds()[i]),
                    },
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // SAFETY: pfds is a valid array of pfds.len() pollfd structs.
            let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
            if n <= 0 {
                continue;
            }
            let ready: Vec<Source> = sources
                .iter()
                .zip(&pfds)
                .filter(|(_, p)| p.revents != 0)
                .map(|(s, _)| *s)
                .collect();
            for src in &ready {
                match *src {
                    Source::Signal => self.drain_signalfd(),
                    Source::Out(stream, fd) => self.copy_output(stream, fd),
                    Source::Attach(_) => {}
                }
            }
            // Attach sources from the highest index down, so removing a
            // client does not shift the ones still to handle.
            for src in ready.iter().rev() {
                if let Source::Attach(i) = *src {
                    self.serve_attach(i);
                }
            }
        };
        // The init is gone: take what is still buffered in the pipes.
        for (stream, fd) in self.streams.clone() {
            self.copy_output(stream, fd);
        }
        for (_, fd) in std::mem::take(&mut self.streams) {
            if self.master != Some(fd) {
                sys::close(fd);
            }
        }
        if let Some(m) = self.master.take() {
            sys::close(m);
        }
        if let Some(w) = self.stdin_w.take() {
            sys::close(w);
        }
        (status, self.shared)
    }

    /// The poll set: signals, open output streams, attach listener and clients.
    fn sources(&self) -> Vec<Source> {
        let mut v = vec![Source::Signal];
        v.extend(self.streams.iter().map(|&(s, fd)| Source::Out(s, fd)));
        if let Some(a) = &self.shared.attach {
            v.extend((0..a.fds().len()).map(Source::Attach));
        }
        v
    }

    /// Reap every ended child; the init's status once it has ended.
    fn reap(&mut self) -> Option<ExitStatus> {
        let mut init = None;
        while let Some((pid, status)) = sys::reap_any() {
            if pid == self.init_pid {
                init = Some(status);
            }
        }
        init
    }

    /// Empty the signalfd (reaping happens at the top of the loop).
    fn drain_signalfd(&mut self) {
        let mut buf = [0u8; std::mem::size_of::<libc::signalfd_siginfo>() * 4];
        while let Ok(Some(n)) = sys::read_some(self.shared.sigfd, &mut buf) {
            if n == 0 {
                break;
            }
        }
    }

    /// Copy what `fd` has to the log and attached clients; at EOF stop
    /// polling it.
    fn copy_output(&mut self, stream: Stream, fd: libc::c_int) {
        let mut buf = [0u8; 32 * 1024];
        loop {
            match sys::read_some(fd, &mut buf) {
                Ok(Some(n)) if n > 0 => {
                    // A failed log write must not stop the container; the
                    // data still goes to attached clients.
                    let _ = self.shared.log.write(stream, &buf[..n]);
                    if let Some(a) = self.shared.attach.as_mut() {
                        let kind = match stream {
                            Stream::Stdout => attach::STDOUT,
                            Stream::Stderr => attach::STDERR,
                        };
                        a.broadcast(kind, &buf[..n]);
                    }
                }
                Ok(None) => return,
                Ok(Some(_)) | Err(_) => {
                    self.streams.retain(|&(_, f)| f != fd);
                    if self.master != Some(fd) {
                        sys::close(fd);
                    }
                    return;
                }
            }
        }
    }

    /// Accept a client or act on what a client sent.
    fn serve_attach(&mut self, i: usize) {
        let Some(a) = self.shared.attach.as_mut() else {
            return;
        };
        for req in a.on_readable(i) {
            match req {
                Request::Stdin(data) => {
                    if let Some(fd) = self.stdin_w.or(self.master) {
                        // A container that stopped reading makes this fail
                        // (EPIPE); the data is dropped as docker does.
                        let _ = sys::write_all(fd, &data);
                    }
                }
                Request::CloseStdin => {
                    if let Some(w) = self.stdin_w.take() {
                        sys::close(w);
                    } else if let Some(m) = self.master {
                        // EOT on the terminal, as a user typing ^D.
                        let _ = sys::write_all(m, &[4]);
                    }
                }
                Request::Resize { rows, cols } => {
                    if let Some(m) = self.master {
                        let ws = libc::winsize {
                            ws_row: rows,
                            ws_col: cols,
                            ws_xpixel: 0,
                            ws_ypixel: 0,
                        };
                        // SAFETY: TIOCSWINSZ reads one winsize struct.
                        unsafe { libc::ioctl(m, libc::TIOCSWINSZ, &ws) };
                    }
                }
            }
        }
    }
}
