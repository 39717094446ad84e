//! `rcrun-monitor --id ID --runtime PATH ...`: the per-container monitor
//! (see monitor/README.md for the contract).

use rcrun_monitor::args::{find_ready_fd, MonitorArgs};

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match MonitorArgs::parse(raw.iter().cloned()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rcrun-monitor: {e}");
            if let Some(fd) = find_ready_fd(&raw) {
                let line = format!(
                    "{{\"error\":{}}}\n",
                    rcrun_monitor::json::string(&e.to_string())
                );
                let _ = rcrun_monitor::sys::write_all(fd, line.as_bytes());
            }
            std::process::exit(1);
        }
    };
    std::process::exit(rcrun_monitor::monitor::run(&args));
}
