//! RFC 3339 timestamps for the `at` field, without a date-time dependency.

/// Parses `2026-11-21T09:30:00Z`, `2026-11-21T09:30:00.250+01:00` (also lower-case `t`/`z` and a
/// space separator). Returns milliseconds since the Unix epoch; dates before 1970 are refused.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let err = || format!("invalid timestamp {s:?}: expected RFC 3339 such as 2026-11-21T09:30:00Z");
    let b = s.as_bytes();
    if b.len() < 20 || !b.is_ascii() {
        return Err(err());
    }
    let num = |from: usize, len: usize| -> Result<i64, String> {
        let part = s.get(from..from + len).ok_or_else(err)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        part.parse::<i64>().map_err(|_| err())
    };
    let at = |i: usize| b.get(i).copied();
    if at(4) != Some(b'-')
        || at(7) != Some(b'-')
        || !matches!(at(10), Some(b'T' | b't' | b' '))
        || at(13) != Some(b':')
        || at(16) != Some(b':')
    {
        return Err(err());
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(err());
    }
    let mut i = 19;
    let mut millis = 0i64;
    if at(i) == Some(b'.') {
        i += 1;
        let start = i;
        while at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        let digits = s.get(start..i).ok_or_else(err)?;
        if digits.is_empty() || digits.len() > 9 {
            return Err(err());
        }
        let first3 = format!("{digits:0<3}");
        millis = first3
            .get(..3)
            .ok_or_else(err)?
            .parse()
            .map_err(|_| err())?;
    }
    let offset_secs = match (at(i), s.get(i..)) {
        (Some(b'Z' | b'z'), Some(rest)) if rest.len() == 1 => 0,
        (Some(sign @ (b'+' | b'-')), Some(rest))
            if rest.len() == 6 && rest.as_bytes().get(3) == Some(&b':') =>
        {
            let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if h > 23 || m > 59 {
                return Err(err());
            }
            let secs = h * 3600 + m * 60;
            if sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return Err(err()),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_secs;
    if secs < 0 {
        return Err(format!("timestamp {s:?} is before 1970"));
    }
    Ok(secs * 1000 + millis)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_rfc3339("2026-11-21T09:30:00Z").unwrap(),
            1_795_253_400_000
        );
        assert_eq!(
            parse_rfc3339("2026-11-21T10:30:00+01:00").unwrap(),
            1_795_253_400_000
        );
        assert_eq!(
            parse_rfc3339("2026-11-21T09:30:00.25Z").unwrap(),
            1_795_253_400_250
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z").unwrap(),
            1_709_164_800_000
        );
        for bad in [
            "",
            "2026-11-21",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-11-21T25:00:00Z",
            "2026-11-21T09:30:00",
            "2026-11-21T09:30:00+0100",
            "1969-12-31T23:59:59Z",
            "2026-11-21T09:30:00.Z",
            "２026-11-21T09:30:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
