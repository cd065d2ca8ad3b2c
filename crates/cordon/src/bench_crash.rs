//! `cordon bench crash`: a real `cordon serve` child process is killed with SIGKILL at
//! random moments while a client posts device sample batches and checkpoint scans to it,
//! and restarted each time. The client behaves as a device does: it keeps a batch (with
//! its idempotency key, the batch id) until the server acknowledges it and re-sends it
//! after a failure; a checkpoint scan is sent once (a guard does not re-scan a person who
//! walked through), acknowledged or not.
//!
//! At the end, from the database: every acknowledged batch's samples are there exactly
//! once (each tube holds exactly its batch's people, full and sealed), no tube is
//! half-written (a batch applies entirely or not at all), every acknowledged scan is in
//! the checkpoint's log once. Figures: `kills`, `acknowledged`, `lost`, `duplicated`,
//! `half_applied`. On PostgreSQL the app process is killed, the database stays up.

use crate::loadgen::Conn;
use anyhow::{Context, Result, bail};
use chrono::Utc;
use cordon_domain::area::AreaCode;
use cordon_domain::registry::{Resident, ResidentStatus};
use cordon_domain::role::Role;
use cordon_domain::testing::{BarcodePattern, NewRound, PoolCapacity};
use cordon_store::Store;
use rand::Rng;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// People per batch: one tube's worth, so an applied batch is one full, sealed tube.
const PER_BATCH: usize = 10;

struct Target {
    /// `--db` for the child and for opening the store here.
    url: String,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Target {
    async fn open(&self) -> Result<Arc<dyn Store>> {
        match &self.schema {
            Some(schema) => Ok(Arc::new(cordon_postgres::PgStore::connect_in_schema(&self.url, schema)?)),
            None => crate::cli::open_store(&self.url).await,
        }
    }
}

/// What the client did, shared with the verifier.
#[derive(Default)]
struct Ledger {
    /// batch number → (tube, the people's resident ids), for every batch sent.
    batches: BTreeMap<usize, (String, Vec<i64>)>,
    acked_batches: Vec<usize>,
    replays: u64,
    /// Scans: `at` (unique per scan, in microseconds) → acknowledged scan id.
    acked_scans: HashMap<i64, i64>,
    unacked_scans: Vec<i64>,
    failed_requests: u64,
}

fn request(method: &str, path: &str, token: &str, body: Option<&serde_json::Value>) -> Vec<u8> {
    let body = body.map(|b| serde_json::to_vec(b).unwrap_or_default()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: crash\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req
}

fn spawn_server(target: &Target, listen: &str) -> Result<Child> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["serve", "--db", &target.url, "--listen", listen])
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(schema) = &target.schema {
        cmd.env("CORDON_PG_SCHEMA", schema);
    }
    Ok(cmd.spawn()?)
}

async fn wait_ready(addr: &str) -> Result<()> {
    let started = Instant::now();
    let ping = b"GET /api/ping HTTP/1.1\r\nhost: crash\r\n\r\n";
    loop {
        if let Ok(mut c) = Conn::connect(addr).await
            && let Ok((200, _)) = c.round_trip(ping).await
        {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("cordon serve did not answer within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One request on a fresh connection (a killed server's connections are gone).
async fn send(addr: &str, req: &[u8]) -> Result<(u16, Vec<u8>)> {
    let mut c = Conn::connect(addr).await?;
    tokio::time::timeout(Duration::from_secs(20), c.round_trip(req)).await?
}

pub async fn crash(db: Option<&str>, kills: usize, population: u64) -> Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let target = match db {
        Some(url) if url.starts_with("postgres") => {
            let schema = format!("bench_crash_{}", std::process::id());
            cordon_postgres::create_schema(url, &schema).await?;
            Target { url: url.to_string(), schema: Some(schema), _dir: None }
        }
        _ => Target { url: dir.path().join("crash.db").to_string_lossy().into_owned(), schema: None, _dir: Some(dir) },
    };
    let out = run(&target, kills, population).await;
    if let Some(schema) = &target.schema {
        cordon_postgres::drop_schema(&target.url, schema).await?;
    }
    out
}

async fn run(target: &Target, kills: usize, population: u64) -> Result<serde_json::Value> {
    // The demo district, its accounts and gate; a fresh round of the whole district.
    let store = target.open().await?;
    crate::demo::prepare_store(store.as_ref(), "crash", population, 1).await?;
    let district = AreaCode::parse(cordon_domain::synth::DISTRICT_CODE).map_err(|e| anyhow::anyhow!(e.en))?;
    let round = store
        .create_round(
            &NewRound {
                area: district.clone(),
                date: Utc::now().date_naive(),
                mandatory: true,
                pool: PoolCapacity::new(PER_BATCH as u32).map_err(|e| anyhow::anyhow!(e.en))?,
            },
            &cordon_domain::audit::AuditEntry {
                at: Utc::now(),
                actor_id: None,
                actor: "bench".into(),
                role: None,
                action: "round.create".into(),
                target_kind: "round".into(),
                target: String::new(),
                request_id: "bench-crash".into(),
                detail: String::new(),
            },
        )
        .await?
        .id;
    let token_of = |role: Role| {
        let store = store.clone();
        async move {
            let user = store.user_by_username(role.code()).await?.context("a demo account")?;
            let token = cordon_web::auth::new_token();
            store.create_api_token(&cordon_web::auth::token_hash(&token), user.id, "bench crash", Utc::now()).await?;
            Ok::<_, anyhow::Error>((user, token))
        }
    };
    let (sampler, sampler_token) = token_of(Role::Sampler).await?;
    let (guard, guard_token) = token_of(Role::CheckpointGuard).await?;
    let (_, commander_token) = token_of(Role::Commander).await?;
    let gate = store.checkpoints_of_guard(guard.id).await?.first().context("the demo gate")?.id;
    let cordon_domain::role::UserScope::Area(community) = &sampler.scope else { bail!("the demo sampler has an area") };
    let people: Vec<Resident> = store
        .residents_under(std::slice::from_ref(community))
        .await?
        .into_iter()
        .filter(|r| r.status == ResidentStatus::Active)
        .collect();
    drop(store);

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let listen = format!("127.0.0.1:{port}");
    let mut child = spawn_server(target, &listen)?;
    wait_ready(&listen).await?;
    // Health-code tokens of a few residents, for the gate.
    let mut codes = Vec::new();
    for r in people.iter().take(8) {
        let (status, body) =
            send(&listen, &request("GET", &format!("/api/v1/residents/{}/code", r.id), &commander_token, None)).await?;
        anyhow::ensure!(status == 200, "code of resident: {status}");
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        codes.push(v["token"].as_str().context("a code token")?.to_string());
    }

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (ledger, stop, listen) = (ledger.clone(), stop.clone(), listen.clone());
        let people = people.clone();
        tokio::spawn(async move {
            let batches = people.len() / PER_BATCH;
            let t0 = Utc::now() - chrono::Duration::hours(1);
            let (mut b, mut s) = (0usize, 0i64);
            while !stop.load(Ordering::Relaxed) {
                // A batch, kept until acknowledged.
                if b < batches {
                    let chunk = &people[b * PER_BATCH..(b + 1) * PER_BATCH];
                    let tube = format!("CR{b:010}");
                    let items: Vec<_> = chunk
                        .iter()
                        .enumerate()
                        .map(|(i, r)| json!({"client_id": format!("{b}-{i}"), "kind": "sample", "tube": tube, "person": r.id_number.as_str()}))
                        .collect();
                    ledger.lock().await.batches.insert(b, (tube.clone(), chunk.iter().map(|r| r.id).collect()));
                    let body = json!({"batch_id": format!("crash-{b}"), "items": items});
                    let req = request("POST", &format!("/api/v1/rounds/{round}/scans"), &sampler_token, Some(&body));
                    match send(&listen, &req).await {
                        Ok((200, body)) => {
                            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                            let mut l = ledger.lock().await;
                            if v["replayed"].as_bool() == Some(true) {
                                l.replays += 1;
                            }
                            l.acked_batches.push(b);
                            b += 1;
                        }
                        Ok((status, body)) if status < 500 => {
                            return Err(anyhow::anyhow!(
                                "batch {b} refused {status}: {}",
                                String::from_utf8_lossy(&body)
                            ));
                        }
                        _ => {
                            ledger.lock().await.failed_requests += 1;
                            // The device waits for the server, then sends the batch again.
                            let _ = wait_ready(&listen).await;
                            continue;
                        }
                    }
                }
                // Two scans at the gate, each sent once.
                for _ in 0..2 {
                    s += 1;
                    let at = t0 + chrono::Duration::microseconds(s * 1_000);
                    let code = &codes[(s as usize) % codes.len()];
                    let body = json!({"token": code, "direction": "in", "at": at.to_rfc3339()});
                    let req = request("POST", &format!("/api/v1/checkpoints/{gate}/scans"), &guard_token, Some(&body));
                    let key = at.timestamp_micros();
                    match send(&listen, &req).await {
                        Ok((200, body)) => {
                            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                            let id = v["scan_id"].as_i64().unwrap_or(0);
                            ledger.lock().await.acked_scans.insert(key, id);
                        }
                        Ok((status, body)) if status < 500 => {
                            return Err(anyhow::anyhow!("scan refused {status}: {}", String::from_utf8_lossy(&body)));
                        }
                        _ => {
                            {
                                let mut l = ledger.lock().await;
                                l.unacked_scans.push(key);
                                l.failed_requests += 1;
                            }
                            let _ = wait_ready(&listen).await;
                        }
                    }
                }
            }
            Ok::<_, anyhow::Error>(())
        })
    };

    let started = Instant::now();
    let mut rng = rand::rng();
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.random_range(150..900))).await;
        child.kill()?; // SIGKILL
        child.wait()?;
        if client.is_finished() {
            break;
        }
        child = spawn_server(target, &listen)?;
        wait_ready(&listen).await?;
    }
    // A last stretch without kills, so the batch in flight is acknowledged.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    client.await??;
    child.kill()?;
    child.wait()?;
    let seconds = started.elapsed().as_secs_f64();

    // The verdict, from the database.
    let store = target.open().await?;
    let l = ledger.lock().await;
    let (mut lost, mut duplicated, mut half_applied) = (0u64, 0u64, 0u64);
    let acked: std::collections::HashSet<usize> = l.acked_batches.iter().copied().collect();
    let mut samples_acked = 0u64;
    let pattern = BarcodePattern::default();
    for (b, (tube, people)) in &l.batches {
        let barcode = pattern.parse(tube).map_err(|e| anyhow::anyhow!(e.en))?;
        let found = store.tube(&barcode).await?;
        let members = match &found {
            Some(t) => store.tube_members(t.id).await?,
            None => Vec::new(),
        };
        let mut count: HashMap<i64, u64> = HashMap::new();
        for m in &members {
            *count.entry(m.resident_id.unwrap_or(0)).or_default() += 1;
        }
        if acked.contains(b) {
            samples_acked += people.len() as u64;
            lost += people.iter().filter(|p| !count.contains_key(p)).count() as u64;
        }
        duplicated += count.values().map(|n| n.saturating_sub(1)).sum::<u64>();
        // Applied entirely (a full tube holding exactly its batch) or not at all.
        let whole = members.is_empty()
            || (members.len() == people.len()
                && people.iter().all(|p| count.get(p) == Some(&1))
                && found.as_ref().is_some_and(|t| t.count as usize == people.len()));
        if !whole {
            half_applied += 1;
        }
    }
    let log = store.recent_scans(gate, 1_000_000).await?;
    let mut at_count: HashMap<i64, u64> = HashMap::new();
    for r in &log {
        *at_count.entry(r.scan.at.timestamp_micros()).or_default() += 1;
    }
    let logged: std::collections::HashSet<i64> = log.iter().map(|r| r.id).collect();
    for (key, id) in &l.acked_scans {
        match at_count.get(key) {
            // Acknowledged with its id: that very record must be there.
            Some(n) if logged.contains(id) => duplicated += n - 1,
            _ => lost += 1,
        }
    }
    let unacked_present = l.unacked_scans.iter().filter(|k| at_count.contains_key(k)).count();
    let backend = store.backend();
    Ok(json!({
        "scenario": "crash",
        "backend": backend,
        "kills": kills,
        "seconds": (seconds * 10.0).round() / 10.0,
        "acknowledged": l.acked_batches.len() + l.acked_scans.len(),
        "acknowledged_batches": l.acked_batches.len(),
        "acknowledged_samples": samples_acked,
        "acknowledged_scans": l.acked_scans.len(),
        "batch_replays": l.replays,
        "failed_requests": l.failed_requests,
        "unacknowledged_scans": l.unacked_scans.len(),
        "unacknowledged_scans_present": unacked_present,
        "lost": lost,
        "duplicated": duplicated,
        "half_applied": half_applied,
    }))
}
