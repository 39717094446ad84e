//! `process.rlimits`: setrlimit for each entry. Raising a hard limit above
//! the runtime's own needs CAP_SYS_RESOURCE; without it that is a clear
//! error naming the limit, never a silent failure.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType as T, Process};

/// The `RLIMIT_*` resource number of an OCI rlimit type.
pub(crate) fn resource(t: T) -> libc::__rlimit_resource_t {
    match t {
        T::RlimitCpu => libc::RLIMIT_CPU,
        T::RlimitFsize => libc::RLIMIT_FSIZE,
        T::RlimitData => libc::RLIMIT_DATA,
        T::RlimitStack => libc::RLIMIT_STACK,
        T::RlimitCore => libc::RLIMIT_CORE,
        T::RlimitRss => libc::RLIMIT_RSS,
        T::RlimitNproc => libc::RLIMIT_NPROC,
        T::RlimitNofile => libc::RLIMIT_NOFILE,
        T::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        T::RlimitAs => libc::RLIMIT_AS,
        T::RlimitLocks => libc::RLIMIT_LOCKS,
        T::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        T::RlimitNice => libc::RLIMIT_NICE,
        T::RlimitRtprio => libc::RLIMIT_RTPRIO,
        T::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Apply every rlimit of `process`.
pub(crate) fn apply(process: &Process) -> Result<(), String> {
    for rl in process.rlimits().iter().flatten() {
        apply_one(rl)?;
    }
    Ok(())
}

fn apply_one(rl: &PosixRlimit) -> Result<(), String> {
    let name = rl.typ().to_string();
    if rl.soft() > rl.hard() {
        return Err(format!(
            "process.rlimits {name}: soft limit {} is above the hard limit {}",
            rl.soft(),
            rl.hard()
        ));
    }
    let res = resource(rl.typ());
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a valid rlimit struct.
    unsafe { libc::getrlimit(res, &mut cur) };
    let new = libc::rlimit {
        rlim_cur: rl.soft(),
        rlim_max: rl.hard(),
    };
    // SAFETY: setrlimit reads a valid rlimit struct.
    if unsafe { libc::setrlimit(res, &new) } == 0 {
        return Ok(());
    }
    let err = nix::Error::last();
    if err == nix::Error::EPERM && rl.hard() > cur.rlim_max {
        return Err(format!(
            "process.rlimits {name}: hard limit {} is above the runtime's hard limit {}; raising it needs CAP_SYS_RESOURCE, which this runtime does not have: lower it to at most {}",
            rl.hard(),
            cur.rlim_max,
            cur.rlim_max
        ));
    }
    Err(format!(
        "process.rlimits {name}: set soft {} hard {}: {err}",
        rl.soft(),
        rl.hard()
    ))
}
