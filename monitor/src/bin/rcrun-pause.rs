//! `rcrun-pause --netns PATH [--hostname NAME] [--new-pid] [--mntns PATH]
//! [--ready-fd N] [--keep-fd N]...`: the sandbox's pause process (see
//! monitor/README.md).

use rcrun_monitor::args::{find_ready_fd, PauseArgs};

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match PauseArgs::parse(raw.iter().cloned()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rcrun-pause: {e}");
            if let Some(fd) = find_ready_fd(&raw) {
                let _ = rcrun_monitor::sys::write_all(fd, format!("error: {e}\n").as_bytes());
            }
            std::process::exit(1);
        }
    };
    std::process::exit(rcrun_monitor::pause::run(&args));
}
