//! The district's time zone. Times are stored and compared in UTC; what a person reads —
//! a round's date, "today", a time on a page, a day of quarantine — is in the district's
//! zone. The zones of China keep no daylight saving, so a zone is a fixed offset; the
//! names people configure are mapped here, and `+08:00`-style offsets are accepted too.
//! Pure: the instant is handed in.

use crate::error::FieldError;
use chrono::{DateTime, FixedOffset, NaiveDate, Offset, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Zone names accepted besides offsets, with their offset east of UTC in minutes.
const NAMED: &[(&str, i32)] = &[
    ("Asia/Shanghai", 480),
    ("Asia/Chongqing", 480),
    ("Asia/Harbin", 480),
    ("PRC", 480),
    ("Asia/Urumqi", 360),
    ("Asia/Hong_Kong", 480),
    ("Asia/Macau", 480),
    ("Asia/Taipei", 480),
    ("UTC", 0),
    ("Etc/UTC", 0),
];

/// A district's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DistrictTz {
    name: String,
    offset: FixedOffset,
}

impl Default for DistrictTz {
    /// Asia/Shanghai (UTC+8).
    fn default() -> Self {
        match FixedOffset::east_opt(8 * 3600) {
            Some(offset) => DistrictTz { name: "Asia/Shanghai".into(), offset },
            None => DistrictTz { name: "UTC".into(), offset: Utc.fix() },
        }
    }
}

impl DistrictTz {
    /// `Asia/Shanghai` (and the other zone names of China, `UTC`), or an offset such as
    /// `+08:00` or `+0800`.
    pub fn parse(input: &str) -> Result<DistrictTz, FieldError> {
        let s = input.trim();
        let minutes =
            NAMED.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)).map(|(_, m)| *m).or_else(|| offset_minutes(s));
        match minutes.and_then(|m| FixedOffset::east_opt(m * 60)) {
            Some(offset) => Ok(DistrictTz { name: s.to_string(), offset }),
            None => Err(FieldError::new(
                "time_zone_invalid",
                "time_zone",
                format!("无法识别的时区“{s}”（例如 Asia/Shanghai 或 +08:00）"),
                format!("unknown time zone \"{s}\" (e.g. Asia/Shanghai or +08:00)"),
            )),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    /// The district's calendar date at `now`.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.offset).date_naive()
    }

    /// An instant in the district's zone, for display.
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<FixedOffset> {
        t.with_timezone(&self.offset)
    }

    /// The instant the district's day `date` begins.
    pub fn start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        DateTime::<Utc>::from_naive_utc_and_offset(midnight, Utc)
            - chrono::Duration::seconds(i64::from(self.offset.local_minus_utc()))
    }
}

/// Minutes east of UTC of `+HH:MM`, `-HH:MM`, `+HHMM` or `+HH`.
fn offset_minutes(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let h: i32 = digits.get(..2)?.parse().ok()?;
    let m: i32 = if digits.len() == 4 { digits.get(2..)?.parse().ok()? } else { 0 };
    (h <= 14 && m < 60).then_some(sign * (h * 60 + m))
}

impl TryFrom<String> for DistrictTz {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        DistrictTz::parse(&s)
    }
}

impl From<DistrictTz> for String {
    fn from(t: DistrictTz) -> String {
        t.name
    }
}

impl fmt::Display for DistrictTz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn shanghai_days_start_at_16_utc() {
        let tz = DistrictTz::default();
        assert_eq!(tz.name(), "Asia/Shanghai");
        let late = Utc.with_ymd_and_hms(2026, 12, 1, 16, 30, 0).unwrap();
        assert_eq!(tz.today(late), NaiveDate::from_ymd_opt(2026, 12, 2).unwrap());
        let early = Utc.with_ymd_and_hms(2026, 12, 1, 15, 59, 0).unwrap();
        assert_eq!(tz.today(early), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(
            tz.start_of(NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()),
            Utc.with_ymd_and_hms(2026, 12, 1, 16, 0, 0).unwrap()
        );
    }

    #[test]
    fn names_and_offsets() {
        assert_eq!(DistrictTz::parse("asia/urumqi").unwrap().offset().local_minus_utc(), 6 * 3600);
        assert_eq!(DistrictTz::parse("+05:30").unwrap().offset().local_minus_utc(), 5 * 3600 + 1800);
        assert_eq!(DistrictTz::parse("-0300").unwrap().offset().local_minus_utc(), -3 * 3600);
        assert_eq!(DistrictTz::parse("UTC").unwrap().offset().local_minus_utc(), 0);
        for bad in ["", "Mars/Olympus", "+25:00", "+8", "08:00"] {
            assert_eq!(DistrictTz::parse(bad).unwrap_err().code, "time_zone_invalid", "{bad}");
        }
    }
}
