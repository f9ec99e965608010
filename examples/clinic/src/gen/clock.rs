//! Calendar arithmetic on plain integers (days and seconds since 1970-01-01 UTC). The
//! generator formats millions of timestamps; this keeps that cheap and free of any clock.

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub const fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` of a day number from [`days_from_civil`].
pub const fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

/// Seconds since the epoch at midnight UTC of a date.
pub const fn midnight(y: i32, m: u32, d: u32) -> i64 {
    days_from_civil(y, m, d) * 86_400
}

/// Appends `YYYY-MM-DD` for a day number.
pub fn push_date(buf: &mut String, days: i64) {
    use std::fmt::Write;
    let (y, m, d) = civil_from_days(days);
    let _ = write!(buf, "{y:04}-{m:02}-{d:02}");
}

/// Appends `YYYY-MM-DD HH:MM:SS` (UTC) for seconds since the epoch.
pub fn push_datetime(buf: &mut String, secs: i64) {
    use std::fmt::Write;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    push_date(buf, days);
    let _ = write!(
        buf,
        " {:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_match_jiff() {
        for days in (-30_000..60_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            let date = jiff::civil::Date::new(y as i16, m as i8, d as i8).unwrap();
            let expect = date
                .to_zoned(jiff::tz::TimeZone::UTC)
                .unwrap()
                .timestamp()
                .as_second()
                / 86_400;
            assert_eq!(expect, days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn datetimes_format_as_utc_text() {
        let mut s = String::new();
        push_datetime(&mut s, midnight(2024, 2, 29) + 13 * 3600 + 5 * 60 + 9);
        assert_eq!(s, "2024-02-29 13:05:09");
        s.clear();
        push_date(&mut s, days_from_civil(1959, 1, 1));
        assert_eq!(s, "1959-01-01");
    }
}
