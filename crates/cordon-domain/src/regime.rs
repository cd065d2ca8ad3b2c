//! Quarantine regimes made concrete: a profile's [`Regime`] (days centralised, days at
//! home, test days of each phase) applied to a last exposure gives a [`Schedule`] — the
//! dates of each phase, the test dates and the end. Tracing shows it for a confirmed
//! contact; quarantine orders are made from it.
//!
//! Day counting: the day of the last exposure is day 0, so day 1 is the next calendar day
//! in the district's time zone (隔离期限自最后一次暴露后算起). The home phase follows the
//! centralised one: with 7 + 3 days, home day 1 is order day 8. Pure: dates in, dates out.

use crate::colour::QuarantineKind;
use crate::policy::Regime;
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

/// Which phase of an order a day belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Centralised quarantine (集中隔离) at a site.
    Centralised,
    /// At home: home quarantine (居家隔离) when the regime has no centralised days, home
    /// health monitoring (居家健康监测) after centralised days.
    Home,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Centralised => "centralised",
            Phase::Home => "home",
        }
    }
}

/// One scheduled test of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestDay {
    /// Day of the whole order, 1-based.
    pub day: u32,
    /// Day of its phase, 1-based (what the profile lists).
    pub phase_day: u32,
    pub phase: Phase,
    pub date: NaiveDate,
}

/// A regime applied to a last exposure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Centralised when the regime has centralised days, home otherwise.
    pub kind: QuarantineKind,
    pub last_exposure: NaiveDate,
    /// Order day 1.
    pub start: NaiveDate,
    /// Last day of the centralised phase, when there is one.
    pub centralised_until: Option<NaiveDate>,
    /// Last day of the order (inclusive): the person is released the day after.
    pub end: NaiveDate,
    pub centralised_days: u32,
    pub home_days: u32,
    /// By date.
    pub tests: Vec<TestDay>,
}

impl Schedule {
    /// The regime applied to a last exposure on `last_exposure` (a local date).
    pub fn new(regime: &Regime, last_exposure: NaiveDate) -> Schedule {
        let day = |n: u32| last_exposure.checked_add_days(Days::new(u64::from(n))).unwrap_or(NaiveDate::MAX);
        let (c, h) = (regime.centralised_days, regime.home_days);
        let mut tests: Vec<TestDay> = regime
            .centralised_test_days
            .iter()
            .map(|&d| TestDay { day: d, phase_day: d, phase: Phase::Centralised, date: day(d) })
            .chain(regime.home_test_days.iter().map(|&d| TestDay {
                day: c + d,
                phase_day: d,
                phase: Phase::Home,
                date: day(c + d),
            }))
            .collect();
        tests.sort_by_key(|t| t.day);
        tests.dedup_by_key(|t| t.day);
        Schedule {
            kind: if c > 0 { QuarantineKind::Centralised } else { QuarantineKind::Home },
            last_exposure,
            start: day(1),
            centralised_until: (c > 0).then(|| day(c)),
            end: day(c + h),
            centralised_days: c,
            home_days: h,
            tests,
        }
    }

    /// The phase `date` falls in, `None` before the start or after the end.
    pub fn phase_on(&self, date: NaiveDate) -> Option<Phase> {
        if date < self.start || date > self.end {
            return None;
        }
        match self.centralised_until {
            Some(until) if date <= until => Some(Phase::Centralised),
            _ => Some(Phase::Home),
        }
    }

    /// Order day of `date` (1-based), `None` outside the order.
    pub fn day_of(&self, date: NaiveDate) -> Option<u32> {
        self.phase_on(date)?;
        u32::try_from((date - self.last_exposure).num_days()).ok()
    }

    /// The first day the person is free of the order.
    pub fn release_date(&self) -> NaiveDate {
        self.end.succ_opt().unwrap_or(self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Profile;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn protocol_9_close_contact() {
        let p = Profile::shipped("protocol-9").unwrap().unwrap();
        let s = Schedule::new(&p.close_contact, date("2026-12-01"));
        assert_eq!(s.kind, QuarantineKind::Centralised);
        assert_eq!(s.start, date("2026-12-02"));
        assert_eq!(s.centralised_until, Some(date("2026-12-08")));
        assert_eq!(s.end, date("2026-12-11"));
        assert_eq!(s.release_date(), date("2026-12-12"));
        let days: Vec<(u32, Phase)> = s.tests.iter().map(|t| (t.day, t.phase)).collect();
        assert_eq!(
            days,
            vec![
                (1, Phase::Centralised),
                (2, Phase::Centralised),
                (3, Phase::Centralised),
                (5, Phase::Centralised),
                (7, Phase::Centralised),
                (10, Phase::Home)
            ]
        );
        assert_eq!(s.tests[5].date, date("2026-12-11"));
        assert_eq!(s.tests[5].phase_day, 3);
        assert_eq!(s.phase_on(date("2026-12-01")), None);
        assert_eq!(s.phase_on(date("2026-12-08")), Some(Phase::Centralised));
        assert_eq!(s.phase_on(date("2026-12-09")), Some(Phase::Home));
        assert_eq!(s.phase_on(date("2026-12-12")), None);
        assert_eq!(s.day_of(date("2026-12-09")), Some(8));
    }

    #[test]
    fn protocol_9_secondary_contact_is_home_only() {
        let p = Profile::shipped("protocol-9").unwrap().unwrap();
        let s = Schedule::new(p.secondary_contact.as_ref().unwrap(), date("2026-12-01"));
        assert_eq!(s.kind, QuarantineKind::Home);
        assert_eq!(s.centralised_until, None);
        assert_eq!(s.end, date("2026-12-08"));
        let days: Vec<u32> = s.tests.iter().map(|t| t.day).collect();
        assert_eq!(days, vec![1, 4, 7]);
    }

    #[test]
    fn measures_20_close_contact() {
        let p = Profile::shipped("measures-20").unwrap().unwrap();
        let s = Schedule::new(&p.close_contact, date("2026-12-31"));
        assert_eq!((s.centralised_days, s.home_days), (5, 3));
        assert_eq!(s.centralised_until, Some(date("2027-01-05")));
        assert_eq!(s.end, date("2027-01-08"));
    }
}
