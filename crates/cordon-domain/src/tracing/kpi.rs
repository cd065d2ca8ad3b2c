//! Tracing KPIs (Resolve to Save Lives' metrics): for each case, positive result → case
//! created → investigation started → core information done → contacts listed → contacts
//! notified; medians and the share within 24 hours of the positive result; contacts per
//! case; the share of new cases already in quarantine or among known contacts; the share
//! with no known source.

use crate::containment::kpi::median;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// One case's times (what the store reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CaseTimes {
    /// The positive result (the case's creation when it was entered by hand).
    pub positive_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub investigation_at: Option<DateTime<Utc>>,
    pub core_done_at: Option<DateTime<Utc>>,
    /// The first contact confirmed.
    pub contacts_listed_at: Option<DateTime<Utc>>,
    /// The last of the case's contacts notified (all of them notified).
    pub contacts_notified_at: Option<DateTime<Utc>>,
    pub contacts: u32,
    /// Under a quarantine order or a known contact when found.
    pub known_before: bool,
    pub source_known: bool,
}

/// One step of the pipeline, measured from the positive result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub step: &'static str,
    /// Cases that reached the step.
    pub reached: u32,
    pub median_minutes: Option<f64>,
    /// Share of all cases that reached the step within 24 h of the positive result.
    pub within_24h: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TracingKpis {
    pub cases: u32,
    pub steps: Vec<Step>,
    pub contacts_per_case: Option<f64>,
    pub share_known_before: Option<f64>,
    pub share_no_source: Option<f64>,
}

fn share(n: usize, of: usize) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

/// The KPIs over `cases`.
pub fn kpis(cases: &[CaseTimes]) -> TracingKpis {
    type Pick = fn(&CaseTimes) -> Option<DateTime<Utc>>;
    let steps: [(&'static str, Pick); 5] = [
        ("case_created", |c| Some(c.created_at)),
        ("investigation_started", |c| c.investigation_at),
        ("core_done", |c| c.core_done_at),
        ("contacts_listed", |c| c.contacts_listed_at),
        ("contacts_notified", |c| c.contacts_notified_at),
    ];
    let n = cases.len();
    let steps = steps
        .into_iter()
        .map(|(step, pick)| {
            let mut mins = Vec::new();
            let mut fast = 0usize;
            for c in cases {
                let start = c.positive_at.unwrap_or(c.created_at);
                if let Some(at) = pick(c) {
                    let d = at - start;
                    mins.push(d.num_seconds() as f64 / 60.0);
                    if d <= Duration::hours(24) {
                        fast += 1;
                    }
                }
            }
            Step {
                step,
                reached: u32::try_from(mins.len()).unwrap_or(u32::MAX),
                median_minutes: median(&mut mins),
                within_24h: share(fast, n),
            }
        })
        .collect();
    let contacts: u64 = cases.iter().map(|c| u64::from(c.contacts)).sum();
    TracingKpis {
        cases: u32::try_from(n).unwrap_or(u32::MAX),
        steps,
        contacts_per_case: (n > 0).then(|| contacts as f64 / n as f64),
        share_known_before: share(cases.iter().filter(|c| c.known_before).count(), n),
        share_no_source: share(cases.iter().filter(|c| !c.source_known).count(), n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    #[test]
    fn arithmetic() {
        let cases = vec![
            CaseTimes {
                positive_at: Some(t(0)),
                created_at: t(0),
                investigation_at: Some(t(1)),
                core_done_at: Some(t(2)),
                contacts_listed_at: Some(t(3)),
                contacts_notified_at: Some(t(30)),
                contacts: 5,
                known_before: true,
                source_known: true,
            },
            CaseTimes {
                positive_at: Some(t(0)),
                created_at: t(0),
                investigation_at: Some(t(3)),
                core_done_at: Some(t(10)),
                contacts_listed_at: Some(t(5)),
                contacts_notified_at: None,
                contacts: 1,
                known_before: false,
                source_known: false,
            },
            // Entered by hand: measured from its creation.
            CaseTimes { created_at: t(50), investigation_at: Some(t(52)), ..CaseTimes::default() },
        ];
        let k = kpis(&cases);
        assert_eq!(k.cases, 3);
        let s = |name: &str| k.steps.iter().find(|s| s.step == name).unwrap().clone();
        assert_eq!(s("case_created").median_minutes, Some(0.0));
        assert_eq!(s("investigation_started").median_minutes, Some(120.0));
        assert_eq!(s("investigation_started").within_24h, Some(1.0));
        assert_eq!(s("core_done").median_minutes, Some(360.0));
        assert_eq!(s("core_done").reached, 2);
        assert_eq!(s("contacts_notified").within_24h, Some(0.0));
        assert_eq!(s("contacts_notified").median_minutes, Some(1800.0));
        assert_eq!(k.contacts_per_case, Some(2.0));
        assert_eq!(k.share_known_before, Some(1.0 / 3.0));
        assert_eq!(k.share_no_source, Some(2.0 / 3.0));
        let empty = kpis(&[]);
        assert_eq!((empty.contacts_per_case, empty.share_no_source), (None, None));
    }
}
