//! Snapshot stamps: UTC `YYYYMMDDTHHMMSSZ`, validated before they ever become a path.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// A validated snapshot stamp such as `20260409T012345Z`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp(String);

impl Stamp {
    /// Check that `s` has the stamp form and names a real date and time.
    ///
    /// # Errors
    /// [`Error::BadStamp`] for anything else (including `/`, `..` or a trailing newline).
    pub fn parse(s: &str) -> Result<Stamp> {
        let bad = || Error::BadStamp {
            stamp: s.chars().take(80).collect(),
        };
        let b = s.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return Err(bad());
        }
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            b[r].iter().try_fold(0u32, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
            })
        };
        let (Some(_y), Some(mo), Some(d), Some(h), Some(mi), Some(se)) = (
            digits(0..4),
            digits(4..6),
            digits(6..8),
            digits(9..11),
            digits(11..13),
            digits(13..15),
        ) else {
            return Err(bad());
        };
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
            return Err(bad());
        }
        Ok(Stamp(s.to_owned()))
    }

    /// The stamp of a moment.
    pub fn at(t: SystemTime) -> Stamp {
        let (y, mo, d, h, mi, s) = civil(t);
        Stamp(format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z"))
    }

    /// The stamp as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Seconds since the Unix epoch (UTC) of the moment the stamp names.
    pub fn seconds(&self) -> i64 {
        let n = |a: usize, b: usize| -> i64 {
            self.0[a..b]
                .bytes()
                .fold(0, |acc, c| acc * 10 + i64::from(c - b'0'))
        };
        let (y, mo, d) = (n(0, 4), n(4, 6), n(6, 8));
        // Days from civil (the inverse of `civil`).
        let y = if mo <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (mo + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400 + n(9, 11) * 3600 + n(11, 13) * 60 + n(13, 15)
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A length of time in words a person reads at a glance: `45 s`, `12 min`, `3 h 5 min`,
/// `2 d 4 h`.
pub fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// RFC 3339 UTC text of a moment, to the second: `2026-04-09T01:23:45Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Seconds since the epoch of RFC 3339 UTC text as [`rfc3339`] writes it
/// (`2026-04-09T01:23:45Z`); `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let shaped = b.len() == 20 && b[4] == b'-' && b[7] == b'-' && b[13] == b':' && b[16] == b':';
    if !shaped {
        return None;
    }
    let compact: String = text.chars().filter(|c| *c != '-' && *c != ':').collect();
    Stamp::parse(&compact).ok().map(|s| s.seconds())
}

/// Time until the next whole second of the system clock.
pub fn until_next_second(now: SystemTime) -> Duration {
    let nanos = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_nanos(u64::from(1_000_000_000 - nanos)) + Duration::from_millis(1)
}

/// UTC calendar fields of a moment (proleptic Gregorian; days-from-civil inverted).
fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(mo <= 2);
    (
        y,
        mo,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_moments() {
        let t = UNIX_EPOCH + Duration::from_secs(1_775_697_825);
        assert_eq!(Stamp::at(t).as_str(), "20260409T012345Z");
        assert_eq!(rfc3339(t), "2026-04-09T01:23:45Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(Stamp::at(leap).as_str(), "20000229T000000Z");
        for secs in [0u64, 951_782_400, 1_775_697_825, 4_102_444_799] {
            let s = Stamp::at(UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(s.seconds(), secs as i64, "{s}");
        }
    }

    #[test]
    fn rfc3339_reads_back_what_it_writes() {
        for secs in [0u64, 951_782_400, 1_775_697_825, 4_102_444_799] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(secs as i64));
        }
        for bad in [
            "",
            "2026-04-09",
            "20260409T012345Z",
            "2026-04-09T01:23:45",
            "2026-04-09T01-23-45Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn rejects_anything_but_a_stamp() {
        for bad in [
            "",
            "..",
            "../20260409T012345Z",
            "20260409T012345Z/",
            "20260409T012345Z\n",
            "2026040XT012345Z",
            "20261309T012345Z",
            "20260409T252345Z",
            "20260409 012345Z",
            "/etc/passwd",
        ] {
            assert!(Stamp::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Stamp::parse("20260409T012345Z").is_ok());
    }
}
