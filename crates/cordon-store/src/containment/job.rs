//! The scheduled containment job `cordon serve` runs: take new cases (zone proposals,
//! cases found in quarantine) and apply the zone clock for every day that is due and not
//! yet applied.
//!
//! Safe on several instances at once: each step is a containment write that serialises
//! with its kind across instances (PostgreSQL: a transaction advisory lock) and plans
//! from what is committed — a case already taken is not taken again, a day already
//! applied (its `zone_runs` row exists) is a no-op. Running it more often than needed
//! costs a few reads.

use super::{Act, ContainmentStore, SweepReport, ZoneDayReport};
use crate::Result;
use crate::codes::CodesStore;
use chrono::{DateTime, Days, Utc};
use cordon_domain::audit::AuditEntry;
use cordon_domain::clock::DistrictTz;
use cordon_domain::containment::zoneclock::due_date;
use cordon_domain::policy::{DEFAULT_PROFILE, Profile, ProfileError};
use std::sync::Arc;
use std::time::Duration;

/// How often `cordon serve` should run [`tick`].
pub const TICK_EVERY: Duration = Duration::from_secs(60);
/// Days the clock catches up after the job did not run (the server was down).
pub const CATCH_UP_DAYS: u64 = 14;
/// Sweeps one tick runs at most (each takes up to `plan::SWEEP_BATCH` cases).
const SWEEPS_PER_TICK: u32 = 20;

/// The district's active profile: as last set (see [`Profile::effective`]: with the error
/// of a stored text from an earlier release, which the caller logs), or the shipped
/// default.
pub async fn active_profile<S: CodesStore + ?Sized>(store: &S) -> Result<(Arc<Profile>, Option<ProfileError>)> {
    let (name, source) = match store.policy_setting().await? {
        Some(s) => (s.name, s.source),
        None => (
            DEFAULT_PROFILE.to_string(),
            cordon_domain::policy::SHIPPED
                .iter()
                .find(|(n, _)| *n == DEFAULT_PROFILE)
                .map(|(_, s)| (*s).to_string())
                .unwrap_or_default(),
        ),
    };
    Profile::effective(&name, &source)
        .map(|(p, warning)| (Arc::new(p), warning))
        .map_err(|e| crate::StoreError::Backend(format!("stored policy profile does not parse: {e}")))
}

/// The job's own audit entry.
pub fn system_entry(now: DateTime<Utc>, action: &str) -> AuditEntry {
    AuditEntry {
        at: now,
        actor_id: None,
        actor: "system".into(),
        role: None,
        action: action.into(),
        target_kind: "job".into(),
        target: "containment".into(),
        request_id: format!("job-{}", now.timestamp()),
        detail: String::new(),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    pub sweeps: Vec<SweepReport>,
    pub days: Vec<ZoneDayReport>,
    /// The stored profile text is from an earlier release (the shipped one applied): log it.
    pub profile_warning: Option<ProfileError>,
}

/// One run of the job at `now`.
pub async fn tick<S>(store: &S, now: DateTime<Utc>, tz: &DistrictTz) -> Result<TickReport>
where
    S: ContainmentStore + CodesStore + ?Sized,
{
    let (profile, profile_warning) = active_profile(store).await?;
    let act = |action: &str| Act {
        at: now,
        tz: tz.clone(),
        user_id: None,
        user: "zone-clock".into(),
        profile: profile.clone(),
        audit: system_entry(now, action),
    };
    let mut report = TickReport { profile_warning, ..TickReport::default() };
    for _ in 0..SWEEPS_PER_TICK {
        let s = store.sweep_cases(act("cases.sweep")).await?;
        report.sweeps.push(s);
        if s.cases < super::plan::SWEEP_BATCH {
            break;
        }
    }
    let due = due_date(&profile, now, tz.offset());
    let last = store.zone_runs(1).await?.first().map(|r| r.date);
    let earliest = due.checked_sub_days(Days::new(CATCH_UP_DAYS)).unwrap_or(due);
    let mut day = match last {
        Some(l) if l >= due => return Ok(report),
        Some(l) => l.succ_opt().unwrap_or(due).max(earliest),
        None => due,
    };
    while day <= due {
        report.days.push(store.run_zone_day(day, act("zones.clock")).await?);
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    Ok(report)
}
