//! RFC 3339 timestamps in UTC with nanoseconds, without a date library.

/// Seconds and nanoseconds since the Unix epoch (`CLOCK_REALTIME`).
pub fn now() -> (i64, u32) {
    // SAFETY: a zeroed timespec is a valid out-parameter.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: ts is a valid out-pointer; CLOCK_REALTIME always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec, ts.tv_nsec as u32)
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (always nine fraction digits, so the
/// strings sort and align; still valid RFC 3339 / Go's RFC3339Nano parser).
pub fn rfc3339_nano(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// The current time as [`rfc3339_nano`].
pub fn now_rfc3339() -> String {
    let (s, n) = now();
    rfc3339_nano(s, n)
}

/// Days since 1970-01-01 to a (year, month, day) of the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_nano(0, 0), "1970-01-01T00:00:00.000000000Z");
        // date -u -d @1700000000 → 2023-11-14T22:13:20Z
        assert_eq!(
            rfc3339_nano(1_700_000_000, 123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        // A leap day.
        assert_eq!(
            rfc3339_nano(951_782_400, 5),
            "2000-02-29T00:00:00.000000005Z"
        );
        assert_eq!(rfc3339_nano(-1, 0), "1969-12-31T23:59:59.000000000Z");
    }

    #[test]
    fn now_is_after_2024() {
        assert!(now_rfc3339().as_str() > "2024-01-01T00:00:00");
    }
}
