//! A closed stdout (`rcrun ps | head -1`) ends the command quietly, as it
//! ends `ls` or `docker`: std's `println!` panics on EPIPE, and SIGPIPE is
//! ignored so that writes to plugins' pipes and sockets return errors
//! instead of killing the process. Only that one panic is turned into exit
//! status 141 (128 + SIGPIPE), the status a shell shows for a writer killed
//! by SIGPIPE; every other panic reaches the default hook.

/// Install the panic hook (once, at the start of `main`).
pub fn exit_quietly_when_stdout_closes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // The hook's text is "panicked at FILE:LINE:COL:\nMESSAGE".
        let text = info.to_string();
        let msg = text.split_once('\n').map_or(text.as_str(), |(_, m)| m);
        if is_closed_stdout(msg) {
            std::process::exit(141);
        }
        default(info)
    }));
}

/// The message of std's print macros when stdout is a pipe nobody reads.
fn is_closed_stdout(msg: &str) -> bool {
    msg.starts_with("failed printing to stdout") && msg.contains("os error 32")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_stdout_pipe_is_quiet() {
        assert!(is_closed_stdout(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_stdout(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!is_closed_stdout("index out of bounds"));
    }
}
