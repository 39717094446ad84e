//! Names that do not collide between tests running in parallel.

use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short name unique to this process and call: `<prefix><pid-hex><n>`, at
/// most 15 bytes when `prefix` is at most 4 (fits an interface name).
pub fn name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id() & 0xffff;
    format!("{prefix}{pid:04x}{n:x}")
}
