//! Tracing benchmarks (issue 11), printed as JSON:
//!
//! - `trace`: an individual positive result → case, trajectory and candidates from the
//!   household, pool mates and co-presence all committed, per result (p50/p99), against a
//!   negative individual result through the same path in the same run (the baseline).
//! - `chains`: the commander's network data for N cases and their contacts: server time
//!   to the page's data (p50 of repeated reads).
//!
//! Measures; never asserts.

use anyhow::{Result, anyhow, bail};
use chrono::{Duration, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::AuditEntry;
use cordon_domain::registry::{Resident, ResidentStatus};
use cordon_domain::synth;
use cordon_domain::testing::{BarcodePattern, NewRound, PoolCapacity, TestResult};
use cordon_domain::tracing::{Class, Classification, HowFound, Setting};
use cordon_store::Store;
use cordon_store::codes::{NewVenue, VenueKind};
use cordon_store::containment::{Act, View};
use cordon_store::prelude::*;
use cordon_store::testing::{NewResult, Receipt, ScanBatch, ScanItem, ScanPerson};
use cordon_store::tracing::{ChainFilter, NewCase, NewContact};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

struct Db {
    store: Arc<dyn Store>,
    cleanup: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

async fn open(db: Option<&str>, tag: &str) -> Result<Db> {
    let dir = tempfile::tempdir()?;
    match db {
        Some(url) if url.starts_with("postgres") => {
            let schema = format!("bench_{tag}_{}", std::process::id());
            cordon_postgres::create_schema(url, &schema).await?;
            let s = cordon_postgres::PgStore::connect_in_schema(url, &schema)?;
            s.migrate().await?;
            Ok(Db { store: Arc::new(s), cleanup: Some((url.to_string(), schema)), _dir: dir })
        }
        _ => {
            let s = cordon_sqlite::SqliteStore::open(dir.path().join(format!("{tag}.db")))?;
            s.migrate().await?;
            Ok(Db { store: Arc::new(s), cleanup: None, _dir: dir })
        }
    }
}

impl Db {
    async fn close(self) -> Result<()> {
        if let Some((url, schema)) = &self.cleanup {
            cordon_postgres::drop_schema(url, schema).await?;
        }
        Ok(())
    }
}

fn entry(action: &str) -> AuditEntry {
    AuditEntry {
        at: Utc::now(),
        actor_id: Some(1),
        actor: "bench".into(),
        role: None,
        action: action.into(),
        target_kind: "bench".into(),
        target: "bench".into(),
        request_id: "bench".into(),
        detail: String::new(),
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    (sorted[i.min(sorted.len() - 1)] * 100.0).round() / 100.0
}

fn profile() -> Result<Arc<cordon_domain::policy::Profile>> {
    Ok(Arc::new(
        cordon_domain::policy::Profile::shipped(cordon_domain::policy::DEFAULT_PROFILE)
            .ok_or_else(|| anyhow!("no default profile"))??,
    ))
}

async fn district(d: &Db, population: u64) -> Result<(AreaCode, Vec<Resident>)> {
    crate::cli::generate(d.store.as_ref(), population, 1).await?;
    let district = AreaCode::parse(synth::DISTRICT_CODE).map_err(|e| anyhow!(e.en))?;
    let residents = d
        .store
        .residents_under(std::slice::from_ref(&district))
        .await?
        .into_iter()
        .filter(|r| r.status == ResidentStatus::Active)
        .collect();
    Ok((district, residents))
}

async fn round(d: &Db, district: &AreaCode, pool: u32) -> Result<i64> {
    let r = NewRound {
        area: district.clone(),
        date: cordon_domain::clock::DistrictTz::default().today(Utc::now()),
        mandatory: false,
        pool: PoolCapacity::new(pool)?,
    };
    Ok(d.store.create_round(&r, &entry("round.create")).await?.id)
}

/// Samples `people` into tubes of `pool` (barcodes `{prefix}{n}`), in device-sized batches.
async fn sample(d: &Db, round: i64, people: &[&Resident], pool: usize, prefix: &str) -> Result<Vec<String>> {
    let p = BarcodePattern::default();
    let mut tubes = Vec::new();
    for (b, chunk) in people.chunks(2_000).enumerate() {
        let mut items = Vec::new();
        for (i, r) in chunk.iter().enumerate() {
            let n = b * 2_000 + i;
            let code = format!("{prefix}{:010}", n / pool);
            let tube = p.parse(&code).map_err(|e| anyhow!(e.en))?;
            if n % pool == 0 {
                tubes.push(code);
                items.push(ScanItem::Open {
                    client_id: format!("o{n}"),
                    tube: tube.clone(),
                    capacity: PoolCapacity::new(pool as u32)?,
                    at: Utc::now(),
                });
            }
            items.push(ScanItem::Sample {
                client_id: n.to_string(),
                tube,
                person: ScanPerson::ResidentId(r.id),
                at: Utc::now(),
            });
        }
        let batch = ScanBatch { batch_id: format!("{prefix}-{b}"), round_id: round, user_id: 1, scope: None, items };
        d.store.ingest_scans(batch, &entry("scans.ingest")).await?;
    }
    Ok(tubes)
}

/// Deterministic pseudo-random numbers (the bench's data is reproducible).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

pub async fn trace(db: Option<&str>, population: u64, cases: usize, checkins: usize) -> Result<serde_json::Value> {
    let d = open(db, "trace").await?;
    let (district, residents) = district(&d, population).await?;
    // Today's pooled round (pool mates), 90 % sampled.
    let pooled = round(&d, &district, 10).await?;
    let sampled: Vec<&Resident> = residents.iter().enumerate().filter(|(i, _)| i % 10 != 3).map(|(_, r)| r).collect();
    sample(&d, pooled, &sampled, 10, "TP").await?;
    // Venues and check-ins over the last three days.
    let mut venues = Vec::new();
    for v in 0..50 {
        let venue = NewVenue::new(&format!("场所{v}"), VenueKind::Shop, district.clone(), Utc::now())
            .map_err(|e| anyhow!(e.en))?;
        venues.push(d.store.create_venue(&venue, &entry("venue.create")).await?.id);
    }
    let mut rng = Lcg(7);
    let now = Utc::now();
    let loading = Instant::now();
    for _ in 0..checkins {
        let r = &residents[rng.next(residents.len())];
        let at = now - Duration::minutes(rng.next(3 * 24 * 60) as i64);
        d.store.record_checkin(venues[rng.next(venues.len())], r.id, at).await?;
    }
    let load_s = loading.elapsed().as_secs_f64();
    // The cases and as many negatives (the baseline), each in a single tube.
    let step = (residents.len() / (2 * cases).max(1)).max(1);
    let picked: Vec<&Resident> = residents.iter().step_by(step).take(2 * cases).collect();
    for r in picked.iter().take(cases) {
        d.store.record_checkin(venues[rng.next(venues.len())], r.id, now - Duration::hours(20)).await?;
    }
    let single = round(&d, &district, 1).await?;
    let tubes = sample(&d, single, &picked, 1, "TS").await?;
    let p = BarcodePattern::default();
    for t in &tubes {
        let b = p.parse(t).map_err(|e| anyhow!(e.en))?;
        d.store.receive(&Receipt::Tube(b), 1, Utc::now(), &entry("tubes.receive")).await?.map_err(|e| anyhow!(e.en))?;
    }
    let tz = cordon_domain::clock::DistrictTz::default();
    let mut positive = Vec::new();
    let mut negative = Vec::new();
    for (i, t) in tubes.iter().enumerate() {
        let result = if i < cases { TestResult::Positive } else { TestResult::Negative };
        let row = NewResult { row: 1, tube: p.parse(t).map_err(|e| anyhow!(e.en))?, result, ct: None };
        let started = Instant::now();
        let report = d.store.record_results(&[row], 1, Utc::now(), &entry("results.record"), &tz).await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if !report.committed {
            bail!("result refused: {:?}", report.errors.first().map(|e| e.error.code));
        }
        if i < cases { positive.push(ms) } else { negative.push(ms) }
    }
    let view = View { at: Utc::now(), tz, profile: profile()? };
    let mut candidates = 0usize;
    for r in picked.iter().take(cases) {
        let case = d.store.case_of(r.id).await?.ok_or_else(|| anyhow!("the positive made no case"))?;
        candidates += d.store.case_detail(case.id, &view).await?.map(|x| x.candidates.len()).unwrap_or(0);
    }
    positive.sort_by(|a, b| a.total_cmp(b));
    negative.sort_by(|a, b| a.total_cmp(b));
    let backend = d.store.backend();
    d.close().await?;
    let (p50, base) = (pct(&positive, 0.5), pct(&negative, 0.5));
    Ok(json!({
        "scenario": "trace",
        "backend": backend,
        "population": residents.len(),
        "checkins": checkins,
        "checkins_per_s_loaded": (checkins as f64 / load_s.max(1e-9)).round(),
        "cases": positive.len(),
        "candidates_per_case": candidates as f64 / positive.len().max(1) as f64,
        "p50_ms": p50,
        "p99_ms": pct(&positive, 0.99),
        "baseline_negative_p50_ms": base,
        "ratio_to_baseline": if base > 0.0 { (p50 / base * 100.0).round() / 100.0 } else { 0.0 },
    }))
}

pub async fn chains(db: Option<&str>, population: u64, cases: usize, contacts: usize) -> Result<serde_json::Value> {
    let d = open(db, "chains").await?;
    let (district, residents) = district(&d, population).await?;
    let p = profile()?;
    let act = |what: &str| Act {
        at: Utc::now(),
        tz: Default::default(),
        user_id: Some(1),
        user: "bench".into(),
        profile: p.clone(),
        audit: entry(what),
    };
    let step = (residents.len() / cases.max(1)).max(1);
    let picked: Vec<&Resident> = residents.iter().step_by(step).take(cases).collect();
    let per_case = contacts / cases.max(1);
    let mut made = Vec::new();
    let setup = Instant::now();
    for (i, r) in picked.iter().enumerate() {
        let new = NewCase {
            resident_id: r.id,
            classification: Classification::Mild,
            how_found: HowFound::IndividualTest,
            onset: None,
            workplace: String::new(),
        };
        let Ok(case) = d.store.enter_case(new, act("case.enter")).await? else { continue };
        // Chains: every third case has the previous case as its source.
        if i % 3 != 0
            && let Some(prev) = made.last()
        {
            d.store.link_source(case.id, Some(*prev), act("case.source")).await?.map_err(|e| anyhow!(e.error.en))?;
        }
        for k in 0..per_case {
            let who = &residents[(i * 7919 + k * 104_729) % residents.len()];
            let contact = NewContact {
                case_id: case.id,
                resident_id: Some(who.id),
                name: None,
                id_number: None,
                phone: None,
                address: String::new(),
                class: Class::General,
                setting: Setting::Other,
                last_exposure: Utc::now() - Duration::hours(3),
            };
            // A person who is a case or already a contact of this case is skipped.
            let _ = d.store.add_contact(contact, act("contact.add")).await?;
        }
        made.push(case.id);
    }
    let setup_s = setup.elapsed().as_secs_f64();
    let filter = ChainFilter { roots: vec![district], limit: 100_000, ..ChainFilter::default() };
    let mut lat = Vec::new();
    let mut nodes = 0usize;
    let mut edges = 0usize;
    for _ in 0..5 {
        let started = Instant::now();
        let c = d.store.chains(&filter).await?;
        // The page's data: the JSON the graph draws from.
        let body = serde_json::to_vec(&json!({"nodes": c.nodes, "edges": c.edges}))?;
        lat.push(started.elapsed().as_secs_f64() * 1000.0);
        nodes = c.nodes.len();
        edges = c.edges.len();
        let _ = body.len();
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let backend = d.store.backend();
    d.close().await?;
    Ok(json!({
        "scenario": "chains",
        "backend": backend,
        "cases": made.len(),
        "nodes": nodes,
        "edges": edges,
        "setup_s": (setup_s * 10.0).round() / 10.0,
        "p50_ms": pct(&lat, 0.5),
        "max_ms": pct(&lat, 1.0),
    }))
}
