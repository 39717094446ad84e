//! Test harness for rcrun's end-to-end tests: locate the built binaries, build
//! busybox bundles from the Debian busybox-static package, and guards that
//! undo what a test created even when it fails.
//!
//! The tests need root and the packages `.ci/run` installs; build the binaries
//! first (`cargo build --workspace --bins`), as the README's test command does.

pub mod bins;
pub mod bundle;
pub mod fdpass;
pub mod images;
pub mod netns;
pub mod registry;
pub mod unique;
