//! `rcrun-oci`: runc-compatible OCI runtime command line.
fn main() {
    std::process::exit(rcrun_cli::oci::main());
}
