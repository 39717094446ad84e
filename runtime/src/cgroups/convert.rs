//! Value conversions between the OCI (v1-shaped) resource fields and the
//! cgroup v2 interface, the way runc and crun map them.

use super::error::CgroupError;

/// `cpu.shares` (2..=262144, default 1024) to `cpu.weight` (1..=10000,
/// default 100). The curve runc >= 1.3 and crun >= 1.23 use: a quadratic in
/// log2(shares) through (2, 1), (1024, 100) and (262144, 10000), so the
/// defaults map onto each other. 0 means "unset".
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    // The fitted curve rounds to whole weights; ceil after taking off float noise.
    let w = 10f64.powf(exponent);
    (w - 1e-9).ceil().clamp(1.0, 10_000.0) as u64
}

/// `blkio.weight` (10..=1000) to `io.weight` (1..=10000), linearly, as runc.
/// 0 means "unset".
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = u64::from(weight.max(10));
    1 + (w - 10) * 9999 / 990
}

/// OCI `memory.swap` is memory+swap; cgroup v2 `memory.swap.max` is swap
/// alone. Returns the text for `memory.swap.max`, or `None` to leave it.
///
/// - swap -1 (unlimited), or limit -1 with swap unset: `max`
/// - limit or swap unset/0: leave
/// - otherwise `swap - limit`, which must not be negative.
pub fn swap_v2(limit: Option<i64>, swap: Option<i64>) -> Result<Option<String>, CgroupError> {
    let limit = limit.unwrap_or(0);
    let swap = swap.unwrap_or(0);
    if swap == -1 || (limit == -1 && swap == 0) {
        return Ok(Some("max".into()));
    }
    if swap == 0 || limit == 0 || limit == -1 {
        return Ok(None);
    }
    if swap < limit || limit < 0 {
        return Err(CgroupError::InvalidValue {
            field: "linux.resources.memory.swap".into(),
            value: swap.to_string(),
            reason: "memory+swap must be at least linux.resources.memory.limit",
        });
    }
    Ok(Some((swap - limit).to_string()))
}

/// A byte limit as cgroup v2 text: -1 (or any negative) is `max`.
pub fn limit_v2(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// `cpu.max` from quota and period: `"<quota|max> [period]"`; `None` when
/// neither is set. A quota of 0 or less means "no limit".
pub fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let quota = quota.filter(|q| *q != 0);
    let period = period.filter(|p| *p != 0);
    if quota.is_none() && period.is_none() {
        return None;
    }
    let mut s = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".into(),
    };
    if let Some(p) = period {
        s.push(' ');
        s.push_str(&p.to_string());
    }
    Some(s)
}

/// `pids.max` text: a limit of 0 or less means unlimited (`max`).
pub fn pids_max(limit: i64) -> String {
    if limit <= 0 {
        "max".into()
    } else {
        limit.to_string()
    }
}

/// The hugetlb file stem for an OCI page size (`2MB` -> `hugetlb.2MB`),
/// checked to be of the form `<digits><K|M|G>B`.
pub fn hugetlb_stem(page_size: &str) -> Result<String, CgroupError> {
    let ok = page_size.len() >= 3
        && page_size.ends_with('B')
        && matches!(
            page_size.as_bytes()[page_size.len() - 2],
            b'K' | b'M' | b'G'
        )
        && page_size[..page_size.len() - 2]
            .bytes()
            .all(|b| b.is_ascii_digit());
    if !ok {
        return Err(CgroupError::InvalidValue {
            field: "linux.resources.hugepageLimits.pageSize".into(),
            value: page_size.into(),
            reason: "expected <number><KB|MB|GB>, e.g. 2MB",
        });
    }
    Ok(format!("hugetlb.{page_size}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_map_onto_weights_with_defaults_matching() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1_000_000), 10_000);
        // Monotonic in between.
        let mut last = 0;
        for s in [3, 10, 100, 512, 1024, 2048, 4096, 100_000] {
            let w = shares_to_weight(s);
            assert!(w >= last, "{s} -> {w}");
            last = w;
        }
        assert_eq!(shares_to_weight(512), 59);
        assert_eq!(shares_to_weight(2048), 174);
    }

    #[test]
    fn blkio_weight_maps_linearly() {
        assert_eq!(blkio_weight_to_io_weight(0), 0);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(500), 1 + 490 * 9999 / 990);
    }

    #[test]
    fn swap_is_memory_plus_swap_minus_memory_on_v2() {
        assert_eq!(
            swap_v2(Some(100), Some(300)).unwrap().as_deref(),
            Some("200")
        );
        assert_eq!(swap_v2(Some(100), Some(100)).unwrap().as_deref(), Some("0"));
        assert_eq!(
            swap_v2(Some(100), Some(-1)).unwrap().as_deref(),
            Some("max")
        );
        assert_eq!(swap_v2(Some(-1), None).unwrap().as_deref(), Some("max"));
        assert_eq!(swap_v2(Some(100), None).unwrap(), None);
        assert_eq!(swap_v2(None, Some(100)).unwrap(), None);
        assert!(matches!(
            swap_v2(Some(300), Some(100)),
            Err(CgroupError::InvalidValue { .. })
        ));
    }

    #[test]
    fn cpu_max_text() {
        assert_eq!(
            cpu_max(Some(50_000), Some(100_000)).as_deref(),
            Some("50000 100000")
        );
        assert_eq!(cpu_max(Some(50_000), None).as_deref(), Some("50000"));
        assert_eq!(
            cpu_max(Some(-1), Some(100_000)).as_deref(),
            Some("max 100000")
        );
        assert_eq!(cpu_max(None, None), None);
        assert_eq!(cpu_max(Some(0), Some(0)), None);
    }

    #[test]
    fn limits_and_page_sizes() {
        assert_eq!(limit_v2(-1), "max");
        assert_eq!(limit_v2(4096), "4096");
        assert_eq!(pids_max(0), "max");
        assert_eq!(pids_max(-1), "max");
        assert_eq!(pids_max(10), "10");
        assert_eq!(hugetlb_stem("2MB").unwrap(), "hugetlb.2MB");
        assert_eq!(hugetlb_stem("1GB").unwrap(), "hugetlb.1GB");
        assert!(hugetlb_stem("2M").is_err());
        assert!(hugetlb_stem("../x").is_err());
    }
}
