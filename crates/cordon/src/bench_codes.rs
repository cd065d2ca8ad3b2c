//! `cordon bench verify`: checkpoint scans over HTTP on one in-process server, against the
//! trivial `GET /api/ping` on the same server in the same run, plus raw token
//! verifications per second on one core. Prints JSON; asserts nothing.
//!
//! Two scan runs, so that the signature memo (`cordon_web::scanpath`) cannot flatter the
//! figure unnoticed: `scans_per_s`/`ratio` are COLD (every token new: each resident's way
//! in), `repeat_*` scan the same tokens again (the way out), and both print the memo's
//! measured hit rate. `*_cpu_us` is this process's CPU per request in each run (server and
//! load generator; a PostgreSQL server's own processes are not counted).
//!
//! The client is a minimal HTTP/1.1 keep-alive client over TCP (so its own cost is small
//! and the same for both sides of the ratio). Run with `CORDON_LOG=warn`: per-request
//! log lines would otherwise go to stderr for both the baseline and the scans.

use crate::loadgen::Conn;
use anyhow::{Context, Result, bail};
use chrono::{Duration, Utc};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::role::{Role, UserScope};
use cordon_domain::synth;
use cordon_domain::token::{self, Claims, PublicKeyInfo, SubjectKind};
use cordon_store::codes::NewCheckpoint;
use cordon_store::prelude::*;
use cordon_store::{NewUser, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// A store made for this run and removed afterwards.
struct Db {
    store: Arc<dyn Store>,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

async fn open(db: Option<&str>) -> Result<Db> {
    match db {
        Some(url) if url.starts_with("postgres") => {
            let schema = format!("bench_verify_{}", std::process::id());
            cordon_postgres::create_schema(url, &schema).await?;
            let s = cordon_postgres::PgStore::connect_in_schema(url, &schema)?;
            s.migrate().await?;
            Ok(Db { store: Arc::new(s), cleanup: Some((url.to_string(), schema)), _dir: None })
        }
        _ => {
            let dir = tempfile::tempdir()?;
            let s = cordon_sqlite::SqliteStore::open(dir.path().join("verify.db"))?;
            s.migrate().await?;
            Ok(Db { store: Arc::new(s), cleanup: None, _dir: Some(dir) })
        }
    }
}

/// Runs `total` requests over `concurrency` keep-alive connections; returns (seconds,
/// sorted latencies in ms). `make(i)` builds the i-th request.
async fn load<F>(addr: &str, total: usize, concurrency: usize, make: F) -> Result<(f64, Vec<f64>)>
where
    F: Fn(usize) -> Vec<u8> + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (make, next, addr) = (make.clone(), next.clone(), addr.to_string());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let req = make(i);
                let t = Instant::now();
                let (status, _) = conn.round_trip(&req).await?;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                if status != 200 {
                    bail!("request {i} answered {status}");
                }
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    Ok((secs, all))
}

/// CPU seconds this process has used (user + system), from `/proc/self/stat`; `None`
/// where that file does not exist. Throughput on a shared 2-core machine swings with
/// whatever else runs; CPU per request does much less, so the JSON carries both.
fn process_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(ticks / 100.0)
}

/// µs of this process's CPU per request between two `process_cpu_s` readings.
fn cpu_us(before: Option<f64>, after: Option<f64>, n: usize) -> Option<f64> {
    Some(r2((after? - before?) * 1e6 / n as f64))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub async fn verify(
    db: Option<&str>,
    population: u64,
    requests: usize,
    concurrency: usize,
) -> Result<serde_json::Value> {
    let bench = open(db).await?;
    let store = bench.store.clone();
    crate::cli::generate(store.as_ref(), population, 1).await?;
    // A key, a checkpoint at the first compound and a guard with a device token.
    crate::codes_cli::rotate(store.as_ref()).await?;
    let district = AreaCode::parse(synth::DISTRICT_CODE).map_err(|e| anyhow::anyhow!(e.en))?;
    let mut compound = district.clone();
    while compound.level() != AreaLevel::Compound {
        compound = store.children(&compound).await?.into_iter().next().context("empty district")?.area.code;
    }
    let entry = |a: &str| cordon_domain::audit::AuditEntry {
        at: Utc::now(),
        actor_id: None,
        actor: "bench".into(),
        role: None,
        action: a.into(),
        target_kind: "bench".into(),
        target: String::new(),
        request_id: "bench".into(),
        detail: String::new(),
    };
    let cp = store
        .create_checkpoint(
            &NewCheckpoint::new("bench gate", compound.clone(), Utc::now()).map_err(|e| anyhow::anyhow!(e.en))?,
            &entry("checkpoint.create"),
        )
        .await?;
    let guard = store
        .create_user(&NewUser {
            username: "bench_guard".into(),
            display_name: "bench".into(),
            role: Role::CheckpointGuard,
            scope: UserScope::Area(compound.clone()),
            password_hash: "-".into(),
            created_at: Utc::now(),
        })
        .await?;
    store.assign_guard(cp.id, guard.id, &entry("checkpoint.assign")).await?;
    let bearer = cordon_web::auth::new_token();
    store.create_api_token(&cordon_web::auth::token_hash(&bearer), guard.id, "bench", Utc::now()).await?;
    // A designated zone on part of the district, so some scans are yellow.
    let some_building = store.children(&compound).await?.into_iter().next().context("no building")?.area.code;
    let z = cordon_domain::zone::NewZone::new(
        some_building,
        cordon_domain::zone::ZoneLevel::High,
        "bench",
        Utc::now(),
        "bench",
        Utc::now(),
    )
    .map_err(|e| anyhow::anyhow!(e.en))?;
    store.designate_zone(&z, &entry("zone.designate")).await?;

    // Tokens of the residents (every resident of the district, cycled). Every token is
    // distinct (the issue time differs by a second per round of the district), so the
    // cold run never meets a token the signature memo has seen: `warm` for the warm-up,
    // `tokens` for the measured runs.
    let (key, secret) = store.current_signing_key().await?.context("no key")?;
    let residents = store.residents_under(std::slice::from_ref(&district)).await?;
    anyhow::ensure!(!residents.is_empty(), "no residents");
    let now = Utc::now();
    let sign = |i: usize| {
        let round = i64::try_from(i / residents.len()).unwrap_or(0);
        token::sign(
            &Claims {
                kind: SubjectKind::Person,
                district: key.district.clone(),
                key_id: u32::try_from(key.id).unwrap_or(u32::MAX),
                subject: residents[i % residents.len()].id,
                issued_at: now - Duration::seconds(round + 1),
                expires_at: now + Duration::days(30),
            },
            &secret,
        )
    };
    let tokens: Vec<String> = (0..requests).filter_map(sign).collect();
    let warm: Vec<String> = (requests..requests + 200).filter_map(sign).collect();
    anyhow::ensure!(tokens.len() == requests && warm.len() == 200, "could not sign the tokens");

    // Raw verification on one core.
    let info = PublicKeyInfo { key_id: u32::try_from(key.id).unwrap_or(u32::MAX), public: key.public, revoked: false };
    let t = Instant::now();
    let mut verified = 0u64;
    while t.elapsed().as_secs_f64() < 1.0 {
        for tok in tokens.iter().take(1000) {
            if token::decode(tok).and_then(|u| u.verify(&key.district, Some(&info), now)).is_ok() {
                verified += 1;
            }
        }
    }
    let token_verifies_per_s = verified as f64 / t.elapsed().as_secs_f64();

    // One server, both routes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let state = cordon_web::AppState::new(store.clone(), cordon_web::WebSettings::default());
    let server = tokio::spawn(cordon_web::serve(listener, state, async {
        let _ = rx.await;
    }));
    let host = addr.clone();
    let ping = move |_: usize| format!("GET /api/ping HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes();
    let path = format!("/api/v1/checkpoints/{}/scans", cp.id);
    // Request i scans token i, in or out.
    let scans_of = |toks: Vec<String>, direction: &'static str| {
        let (host, path, bearer, toks) = (addr.clone(), path.clone(), bearer.clone(), Arc::new(toks));
        move |i: usize| {
            let body = format!("{{\"token\":\"{}\",\"direction\":\"{direction}\"}}", toks[i % toks.len()]);
            format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {bearer}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
    };
    let memo = cordon_web::scanpath::memo_stats;
    let hit_rate = |(h0, m0): (u64, u64), (h1, m1): (u64, u64)| {
        let (h, m) = (h1.saturating_sub(h0), m1.saturating_sub(m0));
        if h + m == 0 { 0.0 } else { h as f64 / (h + m) as f64 }
    };
    // Warm-up of both paths (connections, statement caches, page cache) on tokens the
    // measured runs never use.
    load(&addr, 200, concurrency, ping.clone()).await?;
    load(&addr, 200, concurrency, scans_of(warm, "in")).await?;
    let cpu0 = process_cpu_s();
    let (base_s, base_lat) = load(&addr, requests * 2, concurrency, ping).await?;
    let cpu1 = process_cpu_s();
    // Cold: every token new to the memo (each resident's way in).
    let before = memo();
    let (scan_s, scan_lat) = load(&addr, requests, concurrency, scans_of(tokens.clone(), "in")).await?;
    let cold_hits = hit_rate(before, memo());
    let cpu2 = process_cpu_s();
    // Repeated: the same tokens again (each resident's way out).
    let before = memo();
    let (rep_s, rep_lat) = load(&addr, requests, concurrency, scans_of(tokens, "out")).await?;
    let repeat_hits = hit_rate(before, memo());
    let cpu3 = process_cpu_s();
    let _ = tx.send(());
    let _ = server.await;
    let logged = store.recent_scans(cp.id, 1).await?.first().map(|s| s.id).unwrap_or(0);
    let backend = store.backend();
    if let Some((url, schema)) = &bench.cleanup {
        cordon_postgres::drop_schema(url, schema).await?;
    }
    let baseline_per_s = (requests * 2) as f64 / base_s;
    let scans_per_s = requests as f64 / scan_s;
    let repeat_per_s = requests as f64 / rep_s;
    Ok(json!({
        "scenario": "verify",
        "backend": backend,
        "population": residents.len(),
        "requests": requests,
        "concurrency": concurrency,
        "scans_per_s": r2(scans_per_s),
        "baseline_per_s": r2(baseline_per_s),
        "ratio": r2(scans_per_s / baseline_per_s),
        "p50_ms": r2(pct(&scan_lat, 0.50)),
        "p99_ms": r2(pct(&scan_lat, 0.99)),
        "baseline_p50_ms": r2(pct(&base_lat, 0.50)),
        "baseline_p99_ms": r2(pct(&base_lat, 0.99)),
        "repeat_scans_per_s": r2(repeat_per_s),
        "repeat_ratio": r2(repeat_per_s / baseline_per_s),
        "repeat_p50_ms": r2(pct(&rep_lat, 0.50)),
        "repeat_p99_ms": r2(pct(&rep_lat, 0.99)),
        "cold_memo_hit_rate": r2(cold_hits),
        "repeat_memo_hit_rate": r2(repeat_hits),
        "token_verifies_per_s": r2(token_verifies_per_s),
        "baseline_cpu_us": cpu_us(cpu0, cpu1, requests * 2),
        "scan_cpu_us": cpu_us(cpu1, cpu2, requests),
        "repeat_scan_cpu_us": cpu_us(cpu2, cpu3, requests),
        "scans_logged": logged,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    }))
}
