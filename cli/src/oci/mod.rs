//! `rcrun-oci`: the runc-compatible OCI runtime command line.

/// Parse the command line, run the command, and return the process exit code.
pub fn main() -> i32 {
    eprintln!("rcrun-oci: no commands are built yet");
    1
}
