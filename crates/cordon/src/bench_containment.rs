//! `cordon bench isolate|zone-clock`: containment figures as JSON. They measure; they
//! never assert.
//!
//! - `isolate`: confirmed contacts (2,000 by default) → quarantine orders, suggested rooms
//!   across 20 sites, assignments and transfer requests committed, in batches as the
//!   dispatcher sends them: the whole batch's seconds and the per-person p99 (a person is
//!   done when their batch commits). Baseline, same run, same store: putting the same
//!   people on the to-isolate queue (one plain row each through the same write path).
//! - `zone-clock`: the day's zone step for a district of ≥ 4,000 areas with 500 open zones
//!   (ms), against the read of the same facts for the forecast (the baseline); and the
//!   commander's zones page, which holds the forecast, over HTTP on an in-process server
//!   (ms p50/p99), against `GET /api/ping` on the same server.
//!
//! Run with `CORDON_LOG=warn` so request logging does not dominate.

use crate::loadgen::Conn;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::audit::AuditEntry;
use cordon_domain::clock::DistrictTz;
use cordon_domain::colour::ContactClass;
use cordon_domain::containment::quarantine::{Category, NewRoom, NewSite, Person, SiteKind};
use cordon_domain::containment::zoneclock;
use cordon_domain::policy::Profile;
use cordon_domain::registry::{Resident, ResidentStatus};
use cordon_domain::role::{Role, UserScope};
use cordon_domain::synth;
use cordon_domain::zone::{NewZone, ZoneLevel};
use cordon_store::containment::{Act, IsolationCandidate, OrderRequest, View};
use cordon_store::prelude::*;
use cordon_store::{NewUser, Store};
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

fn entry(action: &str, at: DateTime<Utc>) -> AuditEntry {
    AuditEntry {
        at,
        actor_id: None,
        actor: "bench".into(),
        role: None,
        action: action.into(),
        target_kind: "bench".into(),
        target: "bench".into(),
        request_id: "bench".into(),
        detail: String::new(),
    }
}

fn act(profile: &Arc<Profile>, action: &str, at: DateTime<Utc>) -> Act {
    Act {
        at,
        tz: DistrictTz::default(),
        user_id: None,
        user: "bench".into(),
        profile: profile.clone(),
        audit: entry(action, at),
    }
}

fn shipped(name: &str) -> Result<Arc<Profile>> {
    Ok(Arc::new(Profile::shipped(name).context("no such profile")?.map_err(|e| anyhow::anyhow!("{e}"))?))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    r2(sorted[i.min(sorted.len() - 1)])
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn refused<T>(a: std::result::Result<T, cordon_store::containment::Refused>) -> Result<T> {
    a.map_err(|r| anyhow::anyhow!("{} ({})", r.error.en, r.error.code))
}

async fn district(db: &Db, population: u64) -> Result<(AreaCode, usize, Vec<Resident>)> {
    let summary = crate::cli::generate(db.store.as_ref(), population, 1).await?;
    let district = AreaCode::parse(synth::DISTRICT_CODE).map_err(|e| anyhow::anyhow!(e.en))?;
    let residents: Vec<Resident> = db
        .store
        .residents_under(std::slice::from_ref(&district))
        .await?
        .into_iter()
        .filter(|r| r.status == ResidentStatus::Active)
        .collect();
    Ok((district, summary.areas as usize, residents))
}

// ---- isolate -------------------------------------------------------------------------------

fn candidate(r: &Resident, contact_id: i64, now: DateTime<Utc>) -> IsolationCandidate {
    IsolationCandidate {
        contact_id,
        person: Person {
            resident_id: Some(r.id),
            name: r.name.clone(),
            id_number: None,
            phone: r.phone.clone(),
            unit: Some(r.unit.clone()),
            address: String::new(),
            household_id: Some(r.household_id),
        },
        class: ContactClass::Close,
        last_exposure: now - Duration::hours(30),
        identified_at: now - Duration::hours(2),
        deadline: now + Duration::hours(22),
    }
}

pub async fn isolate(
    db: Option<&str>,
    population: u64,
    contacts: usize,
    sites: usize,
    batch: usize,
) -> Result<serde_json::Value> {
    let bench = open(db, "isolate").await?;
    let store = bench.store.clone();
    let (district, _, residents) = district(&bench, population).await?;
    anyhow::ensure!(residents.len() >= contacts * 2, "the district is too small: raise --population");
    let profile = shipped("protocol-9")?;
    let now = Utc::now();
    // Sites with enough beds for everyone: rooms of 3 beds, 10 rooms a floor.
    let beds_needed = contacts * 3 / 2;
    let rooms_per_site = beds_needed.div_ceil(3 * sites).max(1);
    for s in 0..sites {
        let site = NewSite::new(
            &format!("隔离酒店{}", s + 1),
            SiteKind::Hotel,
            "幸福路1号",
            district.clone(),
            "王经理",
            None,
            None,
            &[Category::CloseContact, Category::SecondaryContact, Category::Arrival],
            now,
        )
        .map_err(|e| anyhow::anyhow!(e.en))?;
        let rooms: Vec<NewRoom> = (0..rooms_per_site)
            .map(|i| {
                let floor = i32::try_from(i / 10 + 2).unwrap_or(2);
                NewRoom::new(floor, &format!("{floor}{:02}", i % 10 + 1), 3).map_err(|e| anyhow::anyhow!(e.en))
            })
            .collect::<Result<_>>()?;
        refused(store.open_site(site, rooms, act(&profile, "site.create", now)).await?)?;
    }
    // Whole households, every other one, until `contacts` people.
    let mut by_household: std::collections::BTreeMap<i64, Vec<&Resident>> = std::collections::BTreeMap::new();
    for r in &residents {
        by_household.entry(r.household_id).or_default().push(r);
    }
    let mut people: Vec<&Resident> = Vec::with_capacity(contacts);
    for (_, members) in by_household.iter().step_by(2) {
        if people.len() >= contacts {
            break;
        }
        people.extend(members.iter().take(contacts - people.len()));
    }
    anyhow::ensure!(people.len() == contacts, "not enough households");

    // Baseline: the queue rows of the same people, in the same batches.
    let mut baseline_ms = Vec::new();
    let t_base = Instant::now();
    for (b, chunk) in people.chunks(batch).enumerate() {
        let cands: Vec<IsolationCandidate> =
            chunk.iter().enumerate().map(|(i, r)| candidate(r, (b * batch + i + 1) as i64, now)).collect();
        let t = Instant::now();
        refused(store.enqueue_isolation(cands, act(&profile, "contacts.enqueue", now)).await?)?;
        baseline_ms.push(ms(t));
    }
    let baseline_s = t_base.elapsed().as_secs_f64();

    // Measured: orders, suggested rooms across every site, the assignments committed.
    let mut per_person = Vec::with_capacity(contacts);
    let (mut orders_n, mut placed, mut transfer_requests) = (0usize, 0usize, 0usize);
    let t_all = Instant::now();
    for (b, chunk) in people.chunks(batch).enumerate() {
        let t = Instant::now();
        let requests: Vec<OrderRequest> =
            (0..chunk.len()).map(|i| OrderRequest::Contact { contact_id: (b * batch + i + 1) as i64 }).collect();
        let orders = refused(store.issue_orders(requests, act(&profile, "orders.issue", now)).await?)?;
        let ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
        let view = View { at: now, tz: DistrictTz::default(), profile: profile.clone() };
        let suggestion = store.suggest_rooms(&ids, &[], &view).await?;
        let placements: Vec<(i64, i64)> = suggestion.placements.iter().map(|p| (p.order_id, p.room_id)).collect();
        let done = refused(store.assign_rooms(placements, act(&profile, "rooms.assign", now)).await?)?;
        let elapsed = ms(t);
        orders_n += orders.len();
        placed += done.len();
        transfer_requests += orders.iter().filter(|o| o.transfer.is_some()).count();
        per_person.extend(std::iter::repeat_n(elapsed, chunk.len()));
    }
    let total_s = t_all.elapsed().as_secs_f64();
    per_person.sort_by(f64::total_cmp);
    baseline_ms.sort_by(f64::total_cmp);
    let backend = store.backend();
    bench.close().await?;
    Ok(json!({
        "scenario": "isolate",
        "backend": backend,
        "population": residents.len(),
        "contacts": contacts,
        "sites": sites,
        "beds": rooms_per_site * 3 * sites,
        "batch": batch,
        "orders": orders_n,
        "placed": placed,
        "transfer_requests": transfer_requests,
        "total_seconds": r2(total_s),
        "target_seconds": 5,
        "per_person_p50_ms": pct(&per_person, 0.5),
        "per_person_p99_ms": pct(&per_person, 0.99),
        "baseline": "the same people put on the to-isolate queue, same batches, same store",
        "baseline_seconds": r2(baseline_s),
        "baseline_batch_p99_ms": pct(&baseline_ms, 0.99),
        "ratio": r2(total_s / baseline_s.max(1e-9)),
    }))
}

// ---- zone-clock ----------------------------------------------------------------------------

/// Buildings of the district, in code order.
async fn buildings(store: &dyn Store, district: &AreaCode) -> Result<Vec<AreaCode>> {
    let mut level = vec![district.clone()];
    while level.first().is_some_and(|c| c.level() != AreaLevel::Building) {
        let mut next = Vec::new();
        for c in &level {
            next.extend(store.children(c).await?.into_iter().map(|s| s.area.code));
        }
        if next.is_empty() {
            bail!("no buildings");
        }
        level = next;
    }
    Ok(level)
}

async fn page_load(addr: &str, request: &[u8], n: usize) -> Result<Vec<f64>> {
    let mut conn = Conn::connect(addr).await?;
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let (status, _) = conn.round_trip(request).await?;
        lat.push(ms(t));
        if status != 200 {
            bail!("answered {status}");
        }
    }
    lat.sort_by(f64::total_cmp);
    Ok(lat)
}

pub async fn zone_clock(
    db: Option<&str>,
    population: u64,
    zones: usize,
    cases: usize,
    requests: usize,
) -> Result<serde_json::Value> {
    let bench = open(db, "zoneclock").await?;
    let store = bench.store.clone();
    let (district, areas, residents) = district(&bench, population).await?;
    let buildings = buildings(store.as_ref(), &district).await?;
    anyhow::ensure!(buildings.len() >= zones, "{} buildings for {zones} zones: raise --population", buildings.len());
    let profile = shipped("protocol-9")?;
    let now = Utc::now();
    let tz = DistrictTz::default();
    // 500 zones spread over the district, started 0 to 11 days ago, high and medium; some
    // with a new infection inside since.
    let step = buildings.len() / zones;
    let chosen: Vec<&AreaCode> = buildings.iter().step_by(step.max(1)).take(zones).collect();
    for (i, b) in chosen.iter().enumerate() {
        let level = if i % 3 == 2 { ZoneLevel::Medium } else { ZoneLevel::High };
        let starts = now - Duration::hours(i64::try_from(i % 12).unwrap_or(0) * 24 + 3);
        let z = NewZone::new((*b).clone(), level, "bench", starts, "bench", now).map_err(|e| anyhow::anyhow!(e.en))?;
        refused(store.order_zone(z, act(&profile, "zone.order", starts)).await?)?;
    }
    for (n, b) in chosen.iter().step_by((zones / cases.max(1)).max(1)).take(cases).enumerate() {
        if let Some(r) = residents.iter().find(|r| b.contains(&r.unit)) {
            crate::demo_zones::make_case(store.as_ref(), r, now - Duration::days(2), 1000 + n as u32).await?;
        }
    }
    let date = zoneclock::due_date(&profile, now, tz.offset());
    let view = View { at: now, tz: tz.clone(), profile: profile.clone() };
    // Baseline: the forecast of the same day (the same facts read, nothing written).
    let t = Instant::now();
    let forecast = store.zone_forecast(std::slice::from_ref(&district), date, &view).await?;
    let baseline_ms = ms(t);
    let t = Instant::now();
    let report = store.run_zone_day(date, act(&profile, "zone.day", now)).await?;
    let step_ms = ms(t);
    let t = Instant::now();
    let again = store.run_zone_day(date, act(&profile, "zone.day", now)).await?;
    let again_ms = ms(t);
    // measures-20 on the next day: no round needed, so zones step rather than wait.
    let m20 = shipped("measures-20")?;
    let next = date.succ_opt().unwrap_or(date);
    let t = Instant::now();
    let report_m20 = store.run_zone_day(next, act(&m20, "zone.day", now + Duration::days(1))).await?;
    let step_m20_ms = ms(t);

    // The commander's zones page (forecast, clocks, proposals, history) over HTTP.
    let commander = store
        .create_user(&NewUser {
            username: "bench_commander".into(),
            display_name: "bench".into(),
            role: Role::Commander,
            scope: UserScope::Area(district.clone()),
            password_hash: "-".into(),
            created_at: now,
        })
        .await?;
    let bearer = cordon_web::auth::new_token();
    store.create_api_token(&cordon_web::auth::token_hash(&bearer), commander.id, "bench", now).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let state = cordon_web::AppState::new(store.clone(), cordon_web::WebSettings::default());
    let server = tokio::spawn(cordon_web::serve(listener, state, async {
        let _ = rx.await;
    }));
    let req = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\n\r\n").into_bytes()
    };
    page_load(&addr, &req("/zones"), 3).await?;
    let page = page_load(&addr, &req("/zones"), requests).await?;
    let api = page_load(&addr, &req("/api/v1/zones/forecast"), requests).await?;
    let ping = page_load(&addr, &req("/api/ping"), requests).await?;
    let _ = tx.send(());
    let _ = server.await;

    let backend = store.backend();
    bench.close().await?;
    Ok(json!({
        "scenario": "zone-clock",
        "backend": backend,
        "population": residents.len(),
        "areas": areas,
        "zones": zones,
        "cases": cases,
        "date": date.to_string(),
        "zone_day_ms": r2(step_ms),
        "target_ms": 1000,
        "steps": report.steps.len(),
        "held_for_round": report.held.len(),
        "forecast_reset_by_case": forecast.reset_by_case,
        "rerun_noop_ms": r2(again_ms),
        "rerun_applied": again.applied,
        "zone_day_measures20_ms": r2(step_m20_ms),
        "steps_measures20": report_m20.steps.len(),
        "baseline": "the forecast of the same day: the same facts read, nothing written",
        "baseline_ms": r2(baseline_ms),
        "ratio": r2(step_ms / baseline_ms.max(1e-9)),
        "forecast_page_p50_ms": pct(&page, 0.5),
        "forecast_page_p99_ms": pct(&page, 0.99),
        "forecast_api_p50_ms": pct(&api, 0.5),
        "ping_p50_ms": pct(&ping, 0.5),
        "page_ratio": r2(pct(&page, 0.5) / pct(&ping, 0.5).max(1e-3)),
        "requests": requests,
    }))
}
