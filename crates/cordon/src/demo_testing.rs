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
