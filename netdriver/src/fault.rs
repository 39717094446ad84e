//! Pause points for crash tests: when `RCRUN_NETDRIVER_PAUSE_AT` names a
//! step, the process prints `paused at <step>` to stderr and sleeps there so
//! a test can `kill -9` it mid-operation. Unset (always, outside tests), a
//! pause point costs one environment lookup.

/// Environment variable naming the step to pause at.
pub const PAUSE_ENV: &str = "RCRUN_NETDRIVER_PAUSE_AT";

/// Pause forever here if the environment asks for `step`.
pub fn pause_point(step: &str) {
    if std::env::var_os(PAUSE_ENV).is_some_and(|v| v == step) {
        eprintln!("paused at {step}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
