//! Compiled seccomp programs kept in the state root, one file per profile
//! (`.seccomp-<hash>.bpf`; `list` only looks at directories), so that the
//! ~20 ms libseccomp spends on a large profile is paid once per profile, not
//! once per container or exec. A file holds the key material it was made
//! from (runtime and libseccomp versions, kernel release, native
//! architecture, the profile as JSON), checked byte for byte on every hit,
//! so a hash collision or a stale file is a miss, never a wrong filter; a
//! checksum catches a damaged program.
//!
//! [`prepare`] runs in the runtime before it forks the container's init;
//! the program stays in this process's memory (and so in the forked
//! child's) for [`super::build_filter`].

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oci_spec::runtime::LinuxSeccomp;

use super::{compile, Filter};

/// Format tag at the start of the key material; bump when the file layout
/// or the compilation changes.
const FORMAT: &str = "rcrun-seccomp-cache 1";

/// The program [`prepare`] made ready in this process, with its key.
static PREPARED: OnceLock<(Vec<u8>, Filter)> = OnceLock::new();

/// Make the program for `profile` ready for [`super::build_filter`] in
/// this process and the children it forks: from the cache file in
/// `cache_dir`, else compiled and stored there. A cache that cannot be read
/// or written only costs the compilation (logged at debug level); a profile
/// that does not compile is an error.
pub fn prepare(profile: &LinuxSeccomp, cache_dir: &Path) -> Result<(), String> {
    let filter = build_filter_cached(profile, cache_dir)?;
    let _ = PREPARED.set((key_material(profile), filter));
    Ok(())
}

/// The compiled program for `profile`, through the cache in `cache_dir`.
pub fn build_filter_cached(profile: &LinuxSeccomp, cache_dir: &Path) -> Result<Filter, String> {
    let key = key_material(profile);
    let path = cache_path(cache_dir, &key);
    if let Some(f) = read(&path, &key) {
        return Ok(f);
    }
    let filter = compile(profile)?;
    if let Err(e) = crate::store::write_atomic(&path, &encode(&key, &filter), 0o600) {
        tracing::debug!("seccomp cache: {e}");
    }
    Ok(filter)
}

/// The program [`prepare`] made for this very profile, if any.
pub(super) fn prepared(profile: &LinuxSeccomp) -> Option<Filter> {
    let (key, filter) = PREPARED.get()?;
    (*key == key_material(profile)).then(|| filter.clone())
}

/// Everything the compiled program depends on.
fn key_material(profile: &LinuxSeccomp) -> Vec<u8> {
    let v = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let arch = format!("{:?}", libseccomp::ScmpArch::native());
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut key = format!(
        "{FORMAT}\nrcrun {}\nlibseccomp {v}\nkernel {kernel}\narch {arch}\n",
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes();
    // Serializing a parsed profile cannot fail; an empty tail would only
    // make every such profile share one (verified) entry.
    key.extend(serde_json::to_vec(profile).unwrap_or_default());
    key
}

fn cache_path(dir: &Path, key: &[u8]) -> PathBuf {
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    dir.join(format!(".seccomp-{:016x}.bpf", h.finish()))
}

/// File layout: key length (u64 LE), key, flags (u64 LE), program, then
/// a checksum (u64 LE) of everything before it against damage.
fn encode(key: &[u8], f: &Filter) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + key.len() + f.code.len());
    out.extend((key.len() as u64).to_le_bytes());
    out.extend(key);
    out.extend(f.flags.to_le_bytes());
    out.extend(&f.code);
    out.extend(checksum(&out).to_le_bytes());
    out
}

fn checksum(data: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

/// The cached program at `path` if it was made from exactly `key`.
fn read(path: &Path, key: &[u8]) -> Option<Filter> {
    let data = std::fs::read(path).ok()?;
    decode(&data, key)
}

fn decode(data: &[u8], key: &[u8]) -> Option<Filter> {
    let (data, sum) = data.split_at_checked(data.len().checked_sub(8)?)?;
    if checksum(data) != u64::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let klen = u64::from_le_bytes(data.get(..8)?.try_into().ok()?) as usize;
    let rest = data.get(8..)?;
    if rest.get(..klen)? != key {
        return None;
    }
    let rest = rest.get(klen..)?;
    let flags = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    Filter::from_parts(rest.get(8..)?.to_vec(), flags).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(errno: u32) -> LinuxSeccomp {
        serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]
        }))
        .expect("profile")
    }

    #[test]
    fn a_cached_program_is_the_compiled_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = profile(1);
        let first = build_filter_cached(&p, dir.path()).expect("compiles");
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .collect();
        assert_eq!(files.len(), 1);
        let again = build_filter_cached(&p, dir.path()).expect("from cache");
        assert_eq!(first, again);
        assert_eq!(first, compile(&p).expect("compiles"));
    }

    #[test]
    fn another_profile_or_a_corrupt_file_is_a_miss() {
        let key = key_material(&profile(1));
        let f = compile(&profile(1)).expect("compiles");
        let data = encode(&key, &f);
        assert_eq!(decode(&data, &key), Some(f.clone()));
        assert_eq!(decode(&data, &key_material(&profile(2))), None);
        assert_eq!(decode(&data[..data.len() - 3], &key), None);
        assert_eq!(decode(&data[..5], &key), None);
        let mut flipped = data.clone();
        let at = flipped.len() - 12;
        flipped[at] ^= 1;
        assert_eq!(decode(&flipped, &key), None);
        // A file under the right name made from other material is ignored.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = cache_path(dir.path(), &key);
        std::fs::write(&path, encode(&key_material(&profile(2)), &f)).expect("write");
        assert_eq!(read(&path, &key), None);
    }
}
