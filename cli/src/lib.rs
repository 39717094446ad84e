//! rcrun's command lines. This is the only crate that parses arguments and
//! prints for people; every verb maps onto a library call.
//!
//! - [`oci`]: `rcrun-oci`, the runc-compatible OCI runtime CLI.
//! - [`rcrun`]: `rcrun`, the docker-like CLI.

pub mod oci;
pub mod rcrun;
pub mod stdout_pipe;
