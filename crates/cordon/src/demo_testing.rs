//! Demo data for mass testing: a sampling site per community and today's round with
//! nine in ten residents sampled (pooled ten to a tube), so the coverage pages, missed
//! lists and door-knock tasks have something to show. Only when no round exists yet.
//!
//! Must stay fast (one store batch per 2,000 scans) and never run outside `cordon demo`.

use anyhow::Result;
use chrono::Utc;
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::testing::{BarcodePattern, NewRound, NewSite};
use cordon_store::Store;
use cordon_store::testing::{ScanBatch, ScanItem, ScanPerson};

fn entry(action: &str, detail: &str) -> AuditEntry {
    AuditEntry {
        at: Utc::now(),
        actor_id: None,
        actor: "demo".into(),
        role: None,
        action: action.into(),
        target_kind: "demo".into(),
        target: "demo".into(),
        request_id: "demo".into(),
        detail: detail.into(),
    }
}

pub async fn seed(store: &dyn Store, district: &AreaCode) -> Result<()> {
    if !store.rounds(1).await?.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    for street in store.children(district).await? {
        for community in store.children(&street.area.code).await? {
            let site = NewSite {
                name: format!("{}核酸检测点", community.area.name),
                address: format!("{}{}党群服务中心", street.area.name, community.area.name),
                hours: "07:00-11:30, 14:00-17:30".into(),
                areas: vec![community.area.code.clone()],
            };
            store.create_site(&site, &entry("site.create", "demo site")).await?;
        }
    }
    let round = store
        .create_round(
            &NewRound {
                area: district.clone(),
                date: cordon_domain::clock::DistrictTz::default().today(Utc::now()),
                mandatory: true,
                // The demo runs on the default profile: its pool size.
                pool: cordon_domain::policy::Profile::shipped(cordon_domain::policy::DEFAULT_PROFILE)
                    .ok_or_else(|| anyhow::anyhow!("no default profile"))??
                    .pool_capacity(None)
                    .map_err(|e| anyhow::anyhow!(e.en))?,
            },
            &entry("round.create", "demo round"),
        )
        .await?;
    let residents = store.residents_under(std::slice::from_ref(district)).await?;
    let pattern = BarcodePattern::default();
    let chosen: Vec<i64> = residents
        .iter()
        .filter(|r| r.status == cordon_domain::registry::ResidentStatus::Active)
        .enumerate()
        .filter(|(i, _)| i % 10 != 7)
        .map(|(_, r)| r.id)
        .collect();
    let now = Utc::now();
    for (b, chunk) in chosen.chunks(2_000).enumerate() {
        let mut items = Vec::with_capacity(chunk.len());
        for (i, id) in chunk.iter().enumerate() {
            let n = b * 2_000 + i;
            let tube = pattern.parse(&format!("DM{:010}", n / 10)).map_err(|e| anyhow::anyhow!(e.en))?;
            items.push(ScanItem::Sample {
                client_id: n.to_string(),
                tube,
                person: ScanPerson::ResidentId(*id),
                at: now,
            });
        }
        let batch = ScanBatch { batch_id: format!("demo-{b}"), round_id: round.id, user_id: 0, scope: None, items };
        store.ingest_scans(batch, &entry("scans.ingest", "demo samples")).await?;
    }
    eprintln!(
        "  核酸演示数据 / testing demo: round #{} with {} of {} sampled in {:.1}s",
        round.id,
        chosen.len(),
        residents.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Work waiting in the demo round once the accounts exist (only when there is no alert
/// yet): the demo building's last pool turns positive — its members await re-sampling (the
/// sampler's and the grid worker's task lists, the tracer's alerts, the 楼长's roster) —
/// and three missed households of the building get door-knock tasks, one assigned to the
/// volunteer and one to the grid worker. The building's first households stay as they were.
pub async fn seed_work(store: &dyn Store, district: &AreaCode, building: &AreaCode) -> Result<()> {
    if !store.alerts(0, 1).await?.is_empty() {
        return Ok(());
    }
    let Some(round) = store.rounds(20).await?.into_iter().min_by_key(|r| r.id) else { return Ok(()) };
    let user = |name: &'static str| async move {
        store.user_by_username(name).await?.map(|u| u.id).ok_or_else(|| anyhow::anyhow!("no demo user {name}"))
    };
    let (lab, volunteer, worker, commander) =
        (user("lab_tech").await?, user("volunteer").await?, user("grid_worker").await?, user("commander").await?);
    // The demo's pools in the order `seed` filled them: the last whose ten members all live
    // in the building.
    let residents = store.residents_under(std::slice::from_ref(district)).await?;
    let chosen: Vec<&cordon_domain::registry::Resident> = residents
        .iter()
        .filter(|r| r.status == cordon_domain::registry::ResidentStatus::Active)
        .enumerate()
        .filter(|(i, _)| i % 10 != 7)
        .map(|(_, r)| r)
        .collect();
    let pool = chosen
        .chunks(10)
        .enumerate()
        .filter(|(_, c)| c.len() == 10 && c.iter().all(|r| building.contains(&r.unit)))
        .map(|(k, _)| k)
        .next_back();
    if let Some(k) = pool {
        let tube = BarcodePattern::default().parse(&format!("DM{k:010}")).map_err(|e| anyhow::anyhow!(e.en))?;
        let now = Utc::now();
        let receipt = cordon_store::testing::Receipt::Tube(tube.clone());
        if store.receive(&receipt, lab, now, &entry("tubes.receive", "demo")).await?.is_ok() {
            let result = cordon_store::testing::NewResult {
                row: 1,
                tube,
                result: cordon_domain::testing::TestResult::Positive,
                ct: Some(27.5),
            };
            let tz = cordon_domain::clock::DistrictTz::default();
            store.record_results(&[result], lab, now, &entry("results.record", "demo"), &tz).await?;
        }
    }
    let missed = store.missed(round.id, std::slice::from_ref(building)).await?;
    let households: Vec<i64> = missed.iter().filter(|h| h.task_id.is_none()).take(3).map(|h| h.household_id).collect();
    if !households.is_empty() {
        let tasks = store
            .create_door_tasks(round.id, &households, commander, Utc::now(), &entry("door.create", "demo"))
            .await?;
        for (t, to) in tasks.iter().zip([volunteer, worker]) {
            store.assign_door_tasks(&[t.id], Some(to), commander, Utc::now(), &entry("door.assign", "demo")).await?;
        }
    }
    Ok(())
}
