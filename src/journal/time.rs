//! Time as the journal writes it (RFC 3339, UTC, milliseconds) and as an
//! operator may type it.

/// Milliseconds since the epoch, now (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (year, month, day) to days since 1970-01-01 (Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds since the epoch as RFC 3339 in UTC with milliseconds:
/// `2026-05-01T12:34:56.789Z`.
pub fn format_time_ms(ms: i64) -> String {
    // Years 0..=9999, so nothing overflows on a hostile value.
    let ms = ms.clamp(-62_167_219_200_000, 253_402_300_799_999);
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        ms.rem_euclid(1000)
    )
}

fn digits(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses a time an operator or the journal writes, to milliseconds since
/// the epoch: RFC 3339 (`2026-05-01T12:34:56Z`, `...56.5+02:00`, a space
/// instead of `T`), a bare date-time taken as UTC, a date (`2026-05-01`,
/// midnight UTC), or `@<unix seconds>`.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(secs) = s.strip_prefix('@') {
        return secs.parse::<i64>().ok()?.checked_mul(1000);
    }
    let date = s.get(..10)?;
    let mut parts = date.split('-');
    let (y, mo, d) = (
        digits(parts.next()?)?,
        digits(parts.next()?)?,
        digits(parts.next()?)?,
    );
    if date.len() != 10 || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let day_ms = days_from_civil(y, mo, d) * 86_400_000;
    let rest = s.get(10..)?;
    if rest.is_empty() {
        return Some(day_ms);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let hms = rest.get(..8)?;
    let mut t = hms.split(':');
    let (h, mi, sec) = (digits(t.next()?)?, digits(t.next()?)?, digits(t.next()?)?);
    if hms.len() != 8 || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = rest.get(8..)?;
    let mut frac_ms = 0;
    if let Some(f) = rest.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        let frac = f.get(..n)?;
        if frac.is_empty() {
            return None;
        }
        let padded: String = frac.chars().chain("000".chars()).take(3).collect();
        frac_ms = padded.parse::<i64>().ok()?;
        rest = f.get(n..)?;
    }
    let offset_secs = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let off = rest.get(1..)?;
            let (oh, om) = off.split_once(':')?;
            let (oh, om) = (digits(oh)?, digits(om)?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(day_ms + ((h * 3600 + mi * 60 + sec - offset_secs) * 1000) + frac_ms)
}
