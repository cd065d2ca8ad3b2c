//! `cordon bench <scenario>`: benchmarks that print JSON figures. They measure; they never
//! assert (the machines are noisy).

use anyhow::{Context, Result};
use clap::Subcommand;
use cordon_domain::synth::{self, GenParams};
use cordon_store::Store;
use cordon_store::prelude::*;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

#[derive(Subcommand)]
pub enum Scenario {
    /// Generate a district and load it: residents per second.
    Generate {
        #[arg(long, default_value_t = 430_000)]
        population: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print one JSON object (the default output is JSON too, pretty-printed).
        #[arg(long)]
        json: bool,
    },
    /// Import the district's residents from one .xlsx into an empty register.
    Import {
        #[arg(long, default_value_t = 430_000)]
        population: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
    /// Checkpoint scans over HTTP vs a trivial handler on the same server; raw token
    /// verifications per second per core.
    Verify {
        #[arg(long, default_value_t = 5_000)]
        population: u64,
        #[arg(long, default_value_t = 5_000)]
        requests: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long)]
        json: bool,
    },
    /// Sample scans posted over HTTP in device batches vs raw batched rusqlite inserts.
    Ingest {
        #[arg(long, default_value_t = 430_000)]
        population: u64,
        #[arg(long, default_value_t = 300_000)]
        scans: usize,
        #[arg(long, default_value_t = 500)]
        batch: usize,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        #[arg(long)]
        json: bool,
    },
    /// One building's missed list and the district coverage table, 90% sampled.
    Missed {
        #[arg(long, default_value_t = 430_000)]
        population: u64,
        #[arg(long, default_value_t = 300)]
        buildings: usize,
        #[arg(long)]
        json: bool,
    },
    /// A positive pool's result with every chase effect committed.
    Chase {
        #[arg(long, default_value_t = 430_000)]
        population: u64,
        #[arg(long, default_value_t = 300)]
        pools: usize,
        #[arg(long)]
        json: bool,
    },
    /// Confirmed contacts → orders, suggested rooms across the sites and transfer requests
    /// committed: total seconds and per-person p99.
    Isolate {
        #[arg(long, default_value_t = 20_000)]
        population: u64,
        #[arg(long, default_value_t = 2_000)]
        contacts: usize,
        #[arg(long, default_value_t = 20)]
        sites: usize,
        /// People per dispatcher batch (one order batch, its rooms, their assignment).
        #[arg(long, default_value_t = 100)]
        batch: usize,
        #[arg(long)]
        json: bool,
    },
    /// The day's zone step for a district of ≥ 4,000 areas and 500 zones, and the
    /// commander's forecast page.
    ZoneClock {
        #[arg(long, default_value_t = 430_000)]
        population: u64,
        #[arg(long, default_value_t = 500)]
        zones: usize,
        #[arg(long, default_value_t = 20)]
        cases: usize,
        #[arg(long, default_value_t = 50)]
        requests: usize,
        #[arg(long)]
        json: bool,
    },
}

/// A store made for one benchmark run and removed afterwards.
struct BenchDb {
    store: Arc<dyn Store>,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl BenchDb {
    async fn new(db: Option<&str>, tag: &str) -> Result<BenchDb> {
        match db {
            Some(url) if url.starts_with("postgres") => {
                let schema = format!("bench_{tag}_{}", std::process::id());
                cordon_postgres::create_schema(url, &schema).await?;
                let s = cordon_postgres::PgStore::connect_in_schema(url, &schema)?;
                s.migrate().await?;
                Ok(BenchDb { store: Arc::new(s), cleanup: Some((url.to_string(), schema)), _dir: None })
            }
            Some(path) => {
                let s = crate::cli::open_store(path).await?;
                s.migrate().await?;
                Ok(BenchDb { store: s, cleanup: None, _dir: None })
            }
            None => {
                let dir = tempfile::tempdir()?;
                let s = cordon_sqlite::SqliteStore::open(dir.path().join(format!("{tag}.db")))?;
                s.migrate().await?;
                Ok(BenchDb { store: Arc::new(s), cleanup: None, _dir: Some(dir) })
            }
        }
    }

    async fn drop_async(self) -> Result<()> {
        if let Some((url, schema)) = &self.cleanup {
            cordon_postgres::drop_schema(url, schema).await?;
        }
        Ok(())
    }
}

pub async fn run(scenario: Scenario, db: Option<&str>) -> Result<()> {
    let (out, compact) = match scenario {
        Scenario::Generate { population, seed, json } => (bench_generate(db, population, seed).await?, json),
        Scenario::Import { population, seed, json } => (bench_import(db, population, seed).await?, json),
        Scenario::Ingest { population, scans, batch, concurrency, json } => {
            (crate::bench_testing::ingest(db, population, scans, batch, concurrency).await?, json)
        }
        Scenario::Missed { population, buildings, json } => {
            (crate::bench_testing::missed(db, population, buildings).await?, json)
        }
        Scenario::Chase { population, pools, json } => {
            (crate::bench_testing::chase(db, population, pools).await?, json)
        }
        Scenario::Isolate { population, contacts, sites, batch, json } => {
            (crate::bench_containment::isolate(db, population, contacts, sites, batch).await?, json)
        }
        Scenario::ZoneClock { population, zones, cases, requests, json } => {
            (crate::bench_containment::zone_clock(db, population, zones, cases, requests).await?, json)
        }
        Scenario::Verify { population, requests, concurrency, json } => {
            (crate::bench_codes::verify(db, population, requests, concurrency).await?, json)
        }
    };
    if compact {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

async fn bench_generate(db: Option<&str>, population: u64, seed: u64) -> Result<serde_json::Value> {
    // Generation alone, to tell CPU from storage.
    let t = Instant::now();
    let mut n = 0u64;
    synth::generate::<()>(&GenParams::new(population, seed), |b| {
        n += b.residents.len() as u64;
        Ok(())
    })
    .map_err(|_| anyhow::anyhow!("generator failed"))?;
    let gen_only = t.elapsed().as_secs_f64();

    let bench = BenchDb::new(db, "generate").await?;
    let t = Instant::now();
    let summary = crate::cli::generate(bench.store.as_ref(), population, seed).await?;
    let seconds = t.elapsed().as_secs_f64();
    let backend = bench.store.backend();
    bench.drop_async().await?;
    Ok(json!({
        "scenario": "generate",
        "backend": backend,
        "population": summary.residents,
        "households": summary.households,
        "areas": summary.areas,
        "seconds": round(seconds),
        "residents_per_s": round(summary.residents as f64 / seconds),
        "generate_only_seconds": round(gen_only),
        "generated": n,
    }))
}

async fn bench_import(db: Option<&str>, population: u64, seed: u64) -> Result<serde_json::Value> {
    use cordon_domain::area::AreaCode;
    let district = AreaCode::parse(synth::DISTRICT_CODE).map_err(|e| anyhow::anyhow!(e.en))?;
    let who = cordon_domain::authz::Principal {
        user_id: 0,
        username: "bench".into(),
        role: cordon_domain::Role::Commander,
        roots: vec![district.clone()],
        scope_label: String::new(),
    };
    // Source: a generated district, exported to one .xlsx.
    let source = BenchDb::new(None, "import-source").await?;
    crate::cli::generate(source.store.as_ref(), population, seed).await?;
    let t = Instant::now();
    let xlsx = cordon_sheets::export_residents(
        source.store.as_ref(),
        &who,
        &district,
        cordon_sheets::Format::Xlsx,
        "bench",
        chrono::Utc::now(),
    )
    .await?;
    let export_seconds = t.elapsed().as_secs_f64();
    // Target: the same area tree, no residents.
    let target = BenchDb::new(db, "import").await?;
    synth::generate::<anyhow::Error>(&GenParams::new(population, seed), |mut b| {
        b.households.clear();
        b.residents.clear();
        b.leaders.clear();
        futures_block(target.store.load_batch(&b))
    })?;
    target.store.finish_load().await?;
    let t = Instant::now();
    let report = cordon_sheets::import_residents(
        target.store.as_ref(),
        &who,
        &xlsx,
        cordon_sheets::Format::Xlsx,
        cordon_sheets::ImportMode::AllOrNothing,
        "bench",
        chrono::Utc::now(),
    )
    .await?;
    let seconds = t.elapsed().as_secs_f64();
    anyhow::ensure!(report.committed, "import was not committed: {} errors", report.errors.len());
    let backend = target.store.backend();
    target.drop_async().await?;
    Ok(json!({
        "scenario": "import",
        "backend": backend,
        "population": report.imported,
        "xlsx_bytes": xlsx.len(),
        "seconds": round(seconds),
        "residents_per_s": round(report.imported as f64 / seconds),
        "export_seconds": round(export_seconds),
    }))
}

/// Runs a store future to completion from inside the generator's synchronous callback.
fn futures_block<F: std::future::Future<Output = cordon_store::Result<()>>>(f: F) -> Result<()> {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f)).context("loading areas")
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
