//! `rcrun-oci`: runc-compatible OCI runtime command line.
fn main() {
    rcrun_cli::stdout_pipe::exit_quietly_when_stdout_closes();
    std::process::exit(rcrun_cli::oci::main());
}
