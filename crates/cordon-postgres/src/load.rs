//! Bulk load of generated batches: binary COPY for households and residents (the bulk
//! of the rows), array inserts for the rest, one transaction per batch.

use crate::PgStore;
use crate::error::Db;
use cordon_domain::synth::Batch;
use cordon_store::StoreError;
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

type Result<T> = std::result::Result<T, StoreError>;

/// Tables whose ids come from an identity sequence but are given explicitly on load.
const SEQUENCED: &[&str] = &["households", "residents", "grids"];

pub(crate) async fn load_batch(store: &PgStore, batch: &Batch) -> Result<()> {
    let mut client = store.client().await?;
    let tx = client.transaction().await.db()?;

    if !batch.areas.is_empty() {
        let codes: Vec<&str> = batch.areas.iter().map(|a| a.code.as_str()).collect();
        let names: Vec<&str> = batch.areas.iter().map(|a| a.name.as_str()).collect();
        let levels: Vec<&str> = batch.areas.iter().map(|a| a.level().as_str()).collect();
        tx.execute(
            "INSERT INTO areas (code, name, level) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
            &[&codes, &names, &levels],
        )
        .await
        .db()?;
    }

    if !batch.households.is_empty() {
        let sink = tx.copy_in("COPY households (id, unit_code, room) FROM STDIN (FORMAT binary)").await.db()?;
        let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &[Type::INT8, Type::TEXT, Type::TEXT]));
        for h in &batch.households {
            writer.as_mut().write(&[&h.id, &h.unit.as_str(), &h.room]).await.db()?;
        }
        writer.as_mut().finish().await.db()?;
    }

    if !batch.residents.is_empty() {
        let sink = tx
            .copy_in(
                "COPY residents (id, household_id, unit_code, name, id_number, phone, bedridden, \
                 no_smartphone, temporary, status) FROM STDIN (FORMAT binary)",
            )
            .await
            .db()?;
        let types = [
            Type::INT8,
            Type::INT8,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::BOOL,
            Type::BOOL,
            Type::BOOL,
            Type::TEXT,
        ];
        let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
        for r in &batch.residents {
            let phone = r.phone.as_ref().map(|p| p.as_str());
            let row: [&(dyn ToSql + Sync); 10] = [
                &r.id,
                &r.household_id,
                &r.unit.as_str(),
                &r.name.as_str(),
                &r.id_number.as_str(),
                &phone,
                &r.flags.bedridden,
                &r.flags.no_smartphone,
                &r.flags.temporary,
                &r.status.as_str(),
            ];
            writer.as_mut().write(&row).await.db()?;
        }
        writer.as_mut().finish().await.db()?;
    }

    if !batch.grids.is_empty() {
        let ids: Vec<i64> = batch.grids.iter().map(|g| g.id).collect();
        let communities: Vec<&str> = batch.grids.iter().map(|g| g.community.as_str()).collect();
        let names: Vec<&str> = batch.grids.iter().map(|g| g.name.as_str()).collect();
        let workers: Vec<&str> = batch.grids.iter().map(|g| g.worker_name.as_str()).collect();
        let phones: Vec<Option<&str>> =
            batch.grids.iter().map(|g| g.worker_phone.as_ref().map(|p| p.as_str())).collect();
        tx.execute(
            "INSERT INTO grids (id, community_code, name, worker_name, worker_phone) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])",
            &[&ids, &communities, &names, &workers, &phones],
        )
        .await
        .db()?;
        let mut grid_ids = Vec::new();
        let mut buildings = Vec::new();
        let mut positions = Vec::new();
        for g in &batch.grids {
            for (i, b) in g.buildings.iter().enumerate() {
                grid_ids.push(g.id);
                buildings.push(b.as_str());
                positions.push(i32::try_from(i).unwrap_or(i32::MAX));
            }
        }
        tx.execute(
            "INSERT INTO grid_buildings (grid_id, building_code, position) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[])",
            &[&grid_ids, &buildings, &positions],
        )
        .await
        .db()?;
    }

    if !batch.leaders.is_empty() {
        let buildings: Vec<&str> = batch.leaders.iter().map(|l| l.building.as_str()).collect();
        let residents: Vec<i64> = batch.leaders.iter().map(|l| l.resident_id).collect();
        tx.execute(
            "INSERT INTO building_leaders (building_code, resident_id) SELECT * FROM unnest($1::text[], $2::bigint[])",
            &[&buildings, &residents],
        )
        .await
        .db()?;
    }

    // Keep the sequences ahead of the explicit ids after every batch, so that a
    // registration works even before `finish_load` runs.
    let maxima = [
        batch.households.iter().map(|h| h.id).max(),
        batch.residents.iter().map(|r| r.id).max(),
        batch.grids.iter().map(|g| g.id).max(),
    ];
    for (table, max) in SEQUENCED.iter().zip(maxima) {
        if let Some(max) = max {
            bump_sequence(&tx, table, max).await?;
        }
    }
    tx.commit().await.db()
}

async fn bump_sequence(tx: &Transaction<'_>, table: &str, at_least: i64) -> Result<()> {
    let sql = format!(
        "SELECT setval(s, greatest($1::bigint, coalesce(pg_sequence_last_value(s), 0))) \
         FROM (SELECT pg_get_serial_sequence('{table}', 'id')::regclass AS s) q"
    );
    tx.execute(&sql, &[&at_least]).await.db()?;
    Ok(())
}

pub(crate) async fn finish_load(store: &PgStore) -> Result<()> {
    let client = store.client().await?;
    for table in SEQUENCED {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) FROM {table}"
        );
        client.execute(&sql, &[]).await.db()?;
    }
    // VACUUM as well as ANALYZE: it sets the visibility map, which lets the area counts
    // run as index-only scans right after a load.
    client
        .batch_execute("VACUUM (ANALYZE) areas, households, residents, grids, grid_buildings, building_leaders")
        .await
        .db()
}
