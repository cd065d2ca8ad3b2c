//! Schema migrations: SQL files embedded at build time and applied in version order,
//! each in its own transaction together with its row in `schema_migrations`.
//!
//! A migration, once released, is never edited: a change is a new file with the next
//! version number.

use crate::rows::{OrBackend, ts};
use chrono::Utc;
use cordon_store::Result;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// (version, SQL) in the order they apply.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_registry.sql")),
    (2, include_str!("../migrations/0002_accounts_audit.sql")),
    (3, include_str!("../migrations/0003_testing.sql")),
    (4, include_str!("../migrations/0004_codes.sql")),
    (5, include_str!("../migrations/0005_testing_ingest.sql")),
    (6, include_str!("../migrations/0006_residents_inactive.sql")),
    (7, include_str!("../migrations/0007_resamples.sql")),
    (8, include_str!("../migrations/0008_door_assign.sql")),
    (9, include_str!("../migrations/0009_tubes_awaiting.sql")),
    (10, include_str!("../migrations/0010_tracing.sql")),
    (20, include_str!("../migrations/0020_containment.sql")),
    (30, include_str!("../migrations/0030_credentials_audit_chain.sql")),
    (31, include_str!("../migrations/0031_audit_chain_links.sql")),
    (40, include_str!("../migrations/0040_login_throttle.sql")),
];

pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .db()?;
    for (version, sql) in MIGRATIONS {
        // IMMEDIATE: the check and the apply happen under the write lock, so a second
        // process migrating at the same moment waits and then finds the version applied.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).db()?;
        let applied = tx
            .query_row("SELECT 1 FROM schema_migrations WHERE version = ?1", [version], |_| Ok(()))
            .optional()
            .db()?
            .is_some();
        if !applied {
            tx.execute_batch(sql).db()?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                rusqlite::params![version, ts(Utc::now())],
            )
            .db()?;
            tracing::info!(version, "applied SQLite migration");
        }
        tx.commit().db()?;
    }
    Ok(())
}
