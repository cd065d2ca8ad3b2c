//! Migrations: embedded SQL files, tracked in `schema_migrations`, applied in one
//! transaction that holds an advisory lock, so that instances started together apply
//! each migration exactly once and a failed migration leaves nothing behind.

use crate::PgStore;
use crate::error::Db;
use cordon_store::StoreError;

/// (version, name, SQL), in order. Never edit one that has shipped: add the next.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "registry", include_str!("../migrations/0001_registry.sql")),
    (2, "testing", include_str!("../migrations/0002_testing.sql")),
    (3, "codes", include_str!("../migrations/0003_codes.sql")),
    (4, "residents_inactive", include_str!("../migrations/0004_residents_inactive.sql")),
    (5, "resamples", include_str!("../migrations/0005_resamples.sql")),
    (6, "door_assign", include_str!("../migrations/0006_door_assign.sql")),
    (7, "tubes_awaiting", include_str!("../migrations/0007_tubes_awaiting.sql")),
    (10, "tracing", include_str!("../migrations/0010_tracing.sql")),
    (20, "containment", include_str!("../migrations/0020_containment.sql")),
    (30, "credentials_audit_chain", include_str!("../migrations/0030_credentials_audit_chain.sql")),
    (31, "audit_chain_links", include_str!("../migrations/0031_audit_chain_links.sql")),
    (40, "login_throttle", include_str!("../migrations/0040_login_throttle.sql")),
];

/// Serialises migrations of one schema across every connection to the server; other
/// schemas (parallel tests) do not wait for each other.
const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('cordon.migrate'), hashtext(coalesce(current_schema(), '')))";

pub(crate) async fn migrate(store: &PgStore) -> Result<(), StoreError> {
    let mut client = store.client().await?;
    let tx = client.transaction().await.db()?;
    tx.execute(LOCK, &[]).await.db()?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    bigint PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .db()?;
    let applied: Vec<i64> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .db()?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .db()?;
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tx.batch_execute(sql).await.db()?;
        tx.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", &[version, name]).await.db()?;
        tracing::info!(version, name, "applied migration");
    }
    tx.commit().await.db()
}
