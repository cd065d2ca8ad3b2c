//! Demo data for tracing: three cases found by the lab's individual tests this morning,
//! each with check-ins at a shop near home (and neighbours there within minutes), so the
//! tracer's work list has investigations waiting with trajectories and candidates from
//! the household, the pool, the unit and co-presence. Only when no case exists yet.
//!
//! Never runs outside `cordon demo`.

use anyhow::{Result, anyhow};
use chrono::{Duration, Utc};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::audit::AuditEntry;
use cordon_domain::registry::ResidentStatus;
use cordon_domain::tracing::{Classification, HowFound};
use cordon_store::Store;
use cordon_store::codes::{NewVenue, VenueKind};
use cordon_store::containment::Act;
use cordon_store::tracing::NewCase;
use std::sync::Arc;

fn entry(action: &str) -> AuditEntry {
    AuditEntry {
        at: Utc::now(),
        actor_id: None,
        actor: "demo".into(),
        role: None,
        action: action.into(),
        target_kind: "demo".into(),
        target: "demo".into(),
        request_id: "demo".into(),
        detail: String::new(),
    }
}

pub async fn seed(store: &dyn Store, district: &AreaCode) -> Result<()> {
    let tz = cordon_domain::clock::DistrictTz::default();
    let profile = cordon_domain::policy::Profile::shipped(cordon_domain::policy::DEFAULT_PROFILE)
        .ok_or_else(|| anyhow!("no default profile"))??;
    let profile = Arc::new(profile);
    let now = Utc::now();
    let view = cordon_store::containment::View { at: now, tz: tz.clone(), profile: profile.clone() };
    if !store.work_list(std::slice::from_ref(district), 1, &view).await?.is_empty() {
        return Ok(());
    }
    let residents: Vec<_> = store
        .residents_under(std::slice::from_ref(district))
        .await?
        .into_iter()
        .filter(|r| r.status == ResidentStatus::Active)
        .collect();
    // Three cases in three different buildings, spread over the district.
    let mut picked: Vec<&cordon_domain::registry::Resident> = Vec::new();
    // Not the first buildings, which the tests and the demo accounts' examples use.
    let step = (residents.len() / 11).max(1);
    for r in residents.iter().cycle().skip(residents.len() / 2).step_by(step).take(60) {
        let building = r.unit.parent();
        if picked.iter().all(|p| p.unit.parent() != building) {
            picked.push(r);
        }
        if picked.len() == 3 {
            break;
        }
    }
    for (i, case) in picked.iter().enumerate() {
        let compound = case
            .unit
            .lineage()
            .into_iter()
            .find(|a| a.level() == AreaLevel::Compound)
            .ok_or_else(|| anyhow!("a unit has a compound"))?;
        let venue = store
            .create_venue(
                &NewVenue::new(&format!("{}号便民超市", i + 1), VenueKind::Shop, compound.clone(), now)
                    .map_err(|e| anyhow!(e.en))?,
                &entry("venue.create"),
            )
            .await?;
        let visit = now - Duration::hours(26 + i as i64);
        store.record_checkin(venue.id, case.id, visit).await?;
        // Neighbours of the compound at the shop within minutes of the case.
        let neighbours = residents.iter().filter(|r| compound.contains(&r.unit) && r.household_id != case.household_id);
        for (k, n) in neighbours.take(4).enumerate() {
            store.record_checkin(venue.id, n.id, visit + Duration::minutes(5 * k as i64 - 8)).await?;
        }
        let act = Act {
            // Made now, after today's demo round: its samples are on the trajectory.
            at: now + Duration::seconds(i as i64),
            tz: tz.clone(),
            user_id: None,
            user: "demo".into(),
            profile: profile.clone(),
            audit: entry("case.enter"),
        };
        let new = NewCase {
            resident_id: case.id,
            classification: if i == 1 { Classification::Asymptomatic } else { Classification::Pending },
            how_found: HowFound::IndividualTest,
            onset: None,
            workplace: String::new(),
        };
        if let Err(r) = store.enter_case(new, act).await? {
            return Err(anyhow!("demo case refused: {}", r.error.en));
        }
    }
    Ok(())
}
