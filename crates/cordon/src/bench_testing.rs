//! `cordon bench ingest|missed|chase`: mass-testing figures as JSON. They measure; they
//! never assert.
//!
//! - `ingest`: sample scans posted over HTTP (127.0.0.1, keep-alive, device batches of
//!   ID numbers) to an in-process server, against raw batched rusqlite inserts of the same
//!   rows measured in the same run.
//! - `missed`: one building's missed list (p50/p99 over many buildings) and the district's
//!   coverage table, in a round with 90% sampled.
//! - `chase`: a positive pool's result with every chase effect committed, p50/p99.
//!
//! Run with `CORDON_LOG=warn` so request logging does not dominate.

use crate::loadgen::Conn;
use anyhow::{Context, Result, bail};
use chrono::Utc;
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::audit::AuditEntry;
use cordon_domain::registry::Resident;
use cordon_domain::role::{Role, UserScope};
use cordon_domain::synth;
use cordon_domain::testing::{BarcodePattern, NewRound, PoolCapacity, TestResult};
use cordon_store::prelude::*;
use cordon_store::testing::{NewResult, Receipt, ScanBatch, ScanItem, ScanPerson};
use cordon_store::{NewUser, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

struct Db {
    store: Arc<dyn Store>,
    cleanup: Option<(String, String)>,
    dir: tempfile::TempDir,
}

async fn open(db: Option<&str>, tag: &str) -> Result<Db> {
    let dir = tempfile::tempdir()?;
    match db {
        Some(url) if url.starts_with("postgres") => {
            let schema = format!("bench_{tag}_{}", std::process::id());
            cordon_postgres::create_schema(url, &schema).await?;
            let s = cordon_postgres::PgStore::connect_in_schema(url, &schema)?;
            s.migrate().await?;
            Ok(Db { store: Arc::new(s), cleanup: Some((url.to_string(), schema)), dir })
        }
        _ => {
            let s = cordon_sqlite::SqliteStore::open(dir.path().join(format!("{tag}.db")))?;
            s.migrate().await?;
            Ok(Db { store: Arc::new(s), cleanup: None, dir })
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

fn tube(n: usize) -> String {
    format!("BN{n:010}")
}

/// A generated district with a round on it; the residents in id order.
async fn district(db: &Db, population: u64, seed: u64) -> Result<(AreaCode, i64, Vec<Resident>)> {
    crate::cli::generate(db.store.as_ref(), population, seed).await?;
    let district = AreaCode::parse(synth::DISTRICT_CODE).map_err(|e| anyhow::anyhow!(e.en))?;
    let round = db
        .store
        .create_round(
            &NewRound {
                area: district.clone(),
                date: cordon_domain::clock::DistrictTz::default().today(Utc::now()),
                mandatory: true,
                pool: PoolCapacity::new(10)?,
            },
            &entry("round.create"),
        )
        .await?;
    let residents: Vec<Resident> = db
        .store
        .residents_under(std::slice::from_ref(&district))
        .await?
        .into_iter()
        .filter(|r| r.status == cordon_domain::registry::ResidentStatus::Active)
        .collect();
    Ok((district, round.id, residents))
}

// ---- ingest --------------------------------------------------------------------------------

/// How many times the HTTP ingest and the baseline are each measured, interleaved; the
/// best of each is reported (the two cores are shared, so single runs swing by ±30 %).
const INGEST_RUNS: usize = 5;

pub async fn ingest(
    db: Option<&str>,
    population: u64,
    scans: usize,
    batch: usize,
    concurrency: usize,
) -> Result<serde_json::Value> {
    let d = open(db, "ingest").await?;
    let (district_code, first_round, residents) = district(&d, population, 1).await?;
    let scans = scans.min(residents.len());
    // A sampler samples the people of their community: one sampler (and device token) per
    // community, as in a district's morning.
    let mut tokens: std::collections::BTreeMap<AreaCode, String> = std::collections::BTreeMap::new();
    let mut user = None;
    for r in &residents[..scans] {
        let community = r.unit.lineage().get(2).cloned().context("a unit without a community")?;
        if tokens.contains_key(&community) {
            continue;
        }
        let u = d
            .store
            .create_user(&NewUser {
                username: format!("bench-sampler-{community}"),
                display_name: "bench".into(),
                role: Role::Sampler,
                scope: UserScope::Area(community.clone()),
                password_hash: "$argon2id$bench".into(),
                created_at: Utc::now(),
            })
            .await?;
        let token = cordon_web::auth::new_token();
        d.store.create_api_token(&cordon_web::auth::token_hash(&token), u.id, "bench", Utc::now()).await?;
        tokens.insert(community, token);
        user.get_or_insert(u);
    }
    let user = user.context("empty district")?;

    // The same rows both sides insert: resident, tube (ten to a tube), unit.
    let rows: Vec<(i64, i64, String)> = residents
        .iter()
        .take(scans)
        .enumerate()
        .map(|(i, r)| (r.id, (i / 10) as i64 + 1, r.unit.as_str().to_string()))
        .collect();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let state = cordon_web::AppState::new(d.store.clone(), cordon_web::WebSettings::default());
    let server = tokio::spawn(cordon_web::serve(listener, state, async {
        let _ = rx.await;
    }));

    // Each run samples the same people into a round of its own with tubes of its own;
    // the baseline inserts the same rows into a fresh file.
    let mut http_runs = Vec::new();
    let mut baseline_runs = Vec::new();
    let mut accepted = 0;
    for run in 0..INGEST_RUNS {
        let round = if run == 0 { first_round } else { new_round(&d, &district_code).await?.id };
        let prefix = format!("B{}", (b'A' + run as u8) as char);
        let requests = device_batches(&residents[..scans], batch, round, &tokens, &prefix);
        let (secs, n) = post_all(&addr, requests, concurrency).await?;
        accepted = n;
        http_runs.push(n as f64 / secs);

        let baseline_path = d.dir.path().join(format!("baseline-{run}.db"));
        let rows_for_baseline = rows.clone();
        baseline_runs.push(
            tokio::task::spawn_blocking(move || {
                cordon_sqlite::baseline_insert_rows_per_s(&baseline_path, &rows_for_baseline, batch)
            })
            .await??,
        );
    }
    let _ = tx.send(());
    let _ = server.await;
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let (scans_per_s, baseline) = (best(&http_runs), best(&baseline_runs));

    // The same scans straight into the store (no HTTP, no JSON), into another round: how
    // much of the time is the store's.
    let round2 = new_round(&d, &district_code).await?;
    let p = BarcodePattern::default();
    let mut store_batches = Vec::new();
    for (b, chunk) in residents[..scans].chunks(batch).enumerate() {
        let mut items = Vec::with_capacity(chunk.len());
        for (i, r) in chunk.iter().enumerate() {
            let n = b * batch + i;
            let t = p.parse(&format!("BS{:010}", n / 10)).map_err(|e| anyhow::anyhow!(e.en))?;
            items.push(ScanItem::Sample {
                client_id: n.to_string(),
                tube: t,
                person: ScanPerson::IdNumber(r.id_number.clone()),
                at: Utc::now(),
            });
        }
        store_batches.push(ScanBatch {
            batch_id: format!("s{b}"),
            round_id: round2.id,
            user_id: user.id,
            scope: None,
            items,
        });
    }
    let t = Instant::now();
    for b in store_batches {
        d.store.ingest_scans(b, &entry("scans.ingest")).await?;
    }
    let store_per_s = scans as f64 / t.elapsed().as_secs_f64();

    let backend = d.store.backend();
    d.close().await?;
    let rounded = |v: &[f64]| v.iter().map(|x| r2(*x)).collect::<Vec<_>>();
    Ok(json!({
        "scenario": "ingest",
        "backend": backend,
        "population": residents.len(),
        "scans": scans,
        "accepted": accepted,
        "batch": batch,
        "concurrency": concurrency,
        "runs": INGEST_RUNS,
        "seconds": r2(scans as f64 / scans_per_s),
        "scans_per_s": r2(scans_per_s),
        "baseline_rows_per_s": r2(baseline),
        "runs_scans_per_s": rounded(&http_runs),
        "runs_baseline_rows_per_s": rounded(&baseline_runs),
        "store_only_scans_per_s": r2(store_per_s),
        "ratio": r2(scans_per_s / baseline * 100.0) / 100.0,
        "day_25m_minutes": r2(25_000_000.0 / scans_per_s / 60.0),
    }))
}

async fn new_round(d: &Db, district: &AreaCode) -> Result<cordon_domain::testing::TestRound> {
    let new = NewRound {
        area: district.clone(),
        date: cordon_domain::clock::DistrictTz::default().today(Utc::now()),
        mandatory: true,
        pool: PoolCapacity::new(10)?,
    };
    Ok(d.store.create_round(&new, &entry("round.create")).await?)
}

/// Device batches as a phone sends them: scanned ID numbers, ten to a tube, tubes opened by
/// their first scan; whole HTTP requests, ready to write.
/// Device batches of `batch` scans (fewer at the end of a community), each posted with
/// the token of the sampler of its people's community.
fn device_batches(
    people: &[Resident],
    batch: usize,
    round: i64,
    tokens: &std::collections::BTreeMap<AreaCode, String>,
    tube_prefix: &str,
) -> Vec<Vec<u8>> {
    let community = |r: &Resident| r.unit.lineage().get(2).cloned();
    let mut chunks: Vec<&[Resident]> = Vec::new();
    for group in people.chunk_by(|a, b| community(a) == community(b)) {
        chunks.extend(group.chunks(batch));
    }
    let mut out = Vec::with_capacity(chunks.len());
    // The first scan's number of each batch: batches start on a fresh tube, so that a tube
    // is never shared by two communities' batches.
    let mut n = 0;
    for (b, chunk) in chunks.into_iter().enumerate() {
        let Some(token) = chunk.first().and_then(community).and_then(|c| tokens.get(&c)) else { continue };
        let items: Vec<serde_json::Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let tube = format!("{tube_prefix}{:010}", (n + i) / 10);
                json!({"client_id": (n + i).to_string(), "kind": "sample", "tube": tube, "person": r.id_number.as_str()})
            })
            .collect();
        n += chunk.len().div_ceil(10) * 10;
        let body = serde_json::to_vec(&json!({"batch_id": format!("{round}-{b}"), "items": items})).unwrap_or_default();
        let mut req = format!(
            "POST /api/v1/rounds/{round}/scans HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        out.push(req);
    }
    out
}

/// Posts every request over `concurrency` keep-alive connections; the seconds it took and
/// the scans accepted.
async fn post_all(addr: &str, requests: Vec<Vec<u8>>, concurrency: usize) -> Result<(f64, u64)> {
    let requests = Arc::new(requests);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (requests, next, addr, accepted) = (requests.clone(), next.clone(), addr.to_string(), accepted.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(req) = requests.get(i) else { break };
                let (status, body) = conn.round_trip(req).await?;
                if status != 200 {
                    bail!("batch {i} answered {status}: {}", String::from_utf8_lossy(&body));
                }
                accepted.fetch_add(accepted_of(&body), std::sync::atomic::Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((started.elapsed().as_secs_f64(), accepted.load(std::sync::atomic::Ordering::Relaxed)))
}

/// The `"accepted":N` figure of an answer, found without parsing the outcomes (the
/// client's cost should be a device's, not a JSON parser's).
fn accepted_of(body: &[u8]) -> u64 {
    const KEY: &[u8] = b"\"accepted\":";
    let Some(at) = body.windows(KEY.len()).position(|w| w == KEY) else { return 0 };
    body[at + KEY.len()..].iter().take_while(|b| b.is_ascii_digit()).fold(0, |n, b| n * 10 + u64::from(b - b'0'))
}

// ---- missed and chase ---------------------------------------------------------------------

/// Samples nine in ten residents (every tenth missed) straight through the store.
async fn sample_90(store: &dyn Store, round: i64, residents: &[Resident]) -> Result<Vec<String>> {
    let p = BarcodePattern::default();
    let mut tubes = Vec::new();
    let chosen: Vec<&Resident> = residents.iter().enumerate().filter(|(i, _)| i % 10 != 3).map(|(_, r)| r).collect();
    for (b, chunk) in chosen.chunks(2_000).enumerate() {
        let items = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let n = b * 2_000 + i;
                if n % 10 == 0 {
                    tubes.push(tube(n / 10));
                }
                Ok(ScanItem::Sample {
                    client_id: n.to_string(),
                    tube: p.parse(&tube(n / 10))?,
                    person: ScanPerson::ResidentId(r.id),
                    at: Utc::now(),
                })
            })
            .collect::<Result<Vec<_>, cordon_domain::FieldError>>()
            .map_err(|e| anyhow::anyhow!(e.en))?;
        store
            .ingest_scans(
                ScanBatch { batch_id: format!("setup-{b}"), round_id: round, user_id: 1, scope: None, items },
                &entry("scans.ingest"),
            )
            .await?;
    }
    Ok(tubes)
}

pub async fn missed(db: Option<&str>, population: u64, buildings: usize) -> Result<serde_json::Value> {
    let d = open(db, "missed").await?;
    let (district, round, residents) = district(&d, population, 1).await?;
    let t = Instant::now();
    sample_90(d.store.as_ref(), round, &residents).await?;
    let setup = t.elapsed().as_secs_f64();
    let mut all_buildings: Vec<AreaCode> = residents.iter().filter_map(|r| r.unit.parent()).collect();
    all_buildings.dedup();
    let step = (all_buildings.len() / buildings.max(1)).max(1);
    let picked: Vec<&AreaCode> = all_buildings.iter().step_by(step).take(buildings).collect();
    let mut lat = Vec::new();
    let mut households = 0usize;
    for b in &picked {
        debug_assert_eq!(b.level(), AreaLevel::Building);
        let t = Instant::now();
        let list = d.store.missed(round, std::slice::from_ref(*b)).await?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        households += list.len();
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let mut district_runs = Vec::new();
    let mut covered = 0.0;
    for _ in 0..5 {
        let t = Instant::now();
        let me = d.store.coverage(round, &district).await?;
        let children = d.store.coverage_children(round, &district).await?;
        district_runs.push(t.elapsed().as_secs_f64() * 1000.0);
        covered = me.percent();
        let _ = children.len();
    }
    district_runs.sort_by(|a, b| a.total_cmp(b));
    let backend = d.store.backend();
    d.close().await?;
    Ok(json!({
        "scenario": "missed",
        "backend": backend,
        "population": residents.len(),
        "covered_percent": covered,
        "buildings_measured": lat.len(),
        "missed_households_seen": households,
        "building_p50_ms": pct(&lat, 0.5),
        "building_p99_ms": pct(&lat, 0.99),
        "district_ms": pct(&district_runs, 0.5),
        "district_max_ms": pct(&district_runs, 1.0),
        "setup_seconds": r2(setup),
    }))
}

pub async fn chase(db: Option<&str>, population: u64, pools: usize) -> Result<serde_json::Value> {
    let d = open(db, "chase").await?;
    let (_, round, residents) = district(&d, population, 1).await?;
    let tubes = sample_90(d.store.as_ref(), round, &residents).await?;
    let p = BarcodePattern::default();
    let step = (tubes.len() / pools.max(1)).max(1);
    let picked: Vec<&String> = tubes.iter().step_by(step).take(pools).collect();
    for t in &picked {
        let b = p.parse(t).map_err(|e| anyhow::anyhow!(e.en))?;
        d.store
            .receive(&Receipt::Tube(b), 1, Utc::now(), &entry("tubes.receive"))
            .await?
            .map_err(|e| anyhow::anyhow!(e.en))?;
    }
    let mut lat = Vec::new();
    let mut members = 0u32;
    for t in &picked {
        let b = p.parse(t).map_err(|e| anyhow::anyhow!(e.en))?;
        let row = NewResult { row: 1, tube: b, result: TestResult::Positive, ct: Some(30.0) };
        let started = Instant::now();
        let report = d
            .store
            .record_results(
                &[row],
                1,
                Utc::now(),
                &entry("results.record"),
                &cordon_domain::clock::DistrictTz::default(),
            )
            .await?;
        lat.push(started.elapsed().as_secs_f64() * 1000.0);
        if !report.committed {
            bail!("chase result refused: {:?}", report.errors.first().map(|e| e.error.code));
        }
        members += report.chases.iter().map(|c| c.members).sum::<u32>();
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let backend = d.store.backend();
    d.close().await?;
    Ok(json!({
        "scenario": "chase",
        "backend": backend,
        "population": residents.len(),
        "pools": lat.len(),
        "members_chased": members,
        "p50_ms": pct(&lat, 0.5),
        "p99_ms": pct(&lat, 0.99),
        "max_ms": pct(&lat, 1.0),
    }))
}
