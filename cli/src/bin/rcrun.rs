//! `rcrun`: the docker-like command line.
fn main() {
    std::process::exit(rcrun_cli::rcrun::main());
}
