//! `cordon backup` and `cordon restore`. SQLite: an online snapshot (`VACUUM INTO`, the
//! server keeps working), checked by opening the copy and walking its audit chain;
//! restore puts a checked copy in place of the database file. PostgreSQL: the server's
//! own tools, `pg_dump`/`pg_restore`, which this prints.

use anyhow::{Context, Result, bail};
use cordon_store::prelude::*;
use std::path::{Path, PathBuf};

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn sqlite_path(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("sqlite://").unwrap_or(url))
}

const PG_GUIDANCE: &str = "\
PostgreSQL 的备份用数据库自带工具 / PostgreSQL is backed up with its own tools (online, consistent):
  pg_dump --format=custom --file=cordon-$(date +%F).dump \"$CORDON_DATABASE_URL\"
    (a schema of its own: add --schema=NAME, as CORDON_PG_SCHEMA names it)
  restore into an empty database, with every `cordon serve` stopped:
  pg_restore --no-owner --dbname=\"$CORDON_DATABASE_URL\" cordon-YYYY-MM-DD.dump
  then: cordon audit verify
For point-in-time recovery use WAL archiving (archive_command) with a base backup (pg_basebackup).";

/// What a checked copy holds.
#[derive(Debug, serde::Serialize)]
pub struct CopySummary {
    pub users: usize,
    pub audit_entries_verified: u64,
    pub audit_head: String,
    pub bytes: u64,
}

/// Opens a SQLite copy and checks it: its audit chain holds, its accounts read.
async fn check_copy(path: &Path) -> Result<CopySummary> {
    let store = cordon_sqlite::SqliteStore::open(path)?;
    let report = store.verify_audit_chain().await?;
    if report.broken.is_some() {
        bail!("{}", crate::audit_cli::describe(&report));
    }
    let users = store.users().await?.len();
    drop(store);
    Ok(CopySummary {
        users,
        audit_entries_verified: report.checked,
        audit_head: report.head.hash,
        bytes: std::fs::metadata(path)?.len(),
    })
}

/// Backs the database up to `out`; `None` for PostgreSQL (guidance printed instead).
pub async fn backup(db: &str, out: &Path) -> Result<Option<CopySummary>> {
    if is_postgres(db) {
        println!("{PG_GUIDANCE}");
        return Ok(None);
    }
    let store = cordon_sqlite::SqliteStore::open(sqlite_path(db))?;
    store.backup_to(out).await.with_context(|| format!("backing up to {}", out.display()))?;
    drop(store);
    // Check a scratch copy: opening a database may write to it (WAL files).
    let scratch = tempfile::tempdir()?;
    let probe = scratch.path().join("probe.db");
    std::fs::copy(out, &probe)?;
    let mut summary = check_copy(&probe).await?;
    summary.bytes = std::fs::metadata(out)?.len();
    Ok(Some(summary))
}

/// Puts the backup `from` in place of the SQLite database `db` (every `cordon serve` on
/// it stopped). An existing database is replaced only with `force`.
pub async fn restore(db: &str, from: &Path, force: bool) -> Result<CopySummary> {
    if is_postgres(db) {
        bail!("PostgreSQL restores with pg_restore:\n{PG_GUIDANCE}");
    }
    let target = sqlite_path(db);
    if target.exists() && !force {
        bail!("{} exists: pass --force to replace it (stop every cordon serve on it first)", target.display());
    }
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let staged = dir.join(format!(
        ".{}.restoring",
        target.file_name().and_then(|n| n.to_str()).context("the database path has no file name")?
    ));
    let _ = std::fs::remove_file(&staged);
    std::fs::copy(from, &staged).with_context(|| format!("copying {}", from.display()))?;
    let summary = check_copy(&staged).await?;
    // The staged copy is complete and checked: swap it in, dropping the old file's WAL.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", target.display()));
        let side = format!("{}{suffix}", staged.display());
        if Path::new(&side).exists() {
            std::fs::rename(&side, format!("{}{suffix}", target.display()))?;
        }
    }
    std::fs::rename(&staged, &target)?;
    Ok(summary)
}
