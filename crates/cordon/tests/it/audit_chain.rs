//! The tamper-evident audit log against a real database: an entry edited or deleted
//! behind the application's back (straight in SQLite's file, straight in PostgreSQL) is
//! named by `cordon audit verify` as the first broken link.

use cordon_store::Store;
use cordon_store::audit_chain::{Break, BrokenLink};
use cordon_store::conformance::audit_entry;
use std::sync::Arc;

async fn write_entries(store: &dyn Store) {
    for n in 1..=6 {
        store.append_audit(&[audit_entry(n, "指挥部", "resident.read", "resident", &n.to_string())]).await.unwrap();
    }
    let report = cordon::audit_cli::verify(store, false).await.unwrap();
    assert_eq!((report.checked, report.broken), (6, None));
}

async fn id_at(store: &dyn Store, seq: i64) -> i64 {
    store.audit_chain_page(seq - 1, seq, 1).await.unwrap()[0].record.id
}

async fn broken(store: &dyn Store) -> BrokenLink {
    let report = cordon::audit_cli::verify(store, false).await.unwrap();
    let text = cordon::audit_cli::describe(&report);
    let b = report.broken.expect("the chain is broken");
    if let Some(id) = b.id {
        assert!(text.contains(&format!("audit entry id {id}")), "{text}");
    }
    assert!(text.contains(&format!("#{}", b.chain_seq)), "{text}");
    b
}

#[tokio::test]
async fn sqlite_an_edited_or_deleted_entry_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cordon.db");
    let store: Arc<dyn Store> = Arc::new(cordon_sqlite::SqliteStore::open(&path).unwrap());
    store.migrate().await.unwrap();
    write_entries(store.as_ref()).await;
    let third = id_at(store.as_ref(), 3).await;
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE audit_log SET detail = 'nothing to see' WHERE id = ?1", [third]).unwrap();
    assert_eq!(broken(store.as_ref()).await, BrokenLink { chain_seq: 3, id: Some(third), reason: Break::HashMismatch });

    raw.execute("UPDATE audit_log SET detail = 'detail 3' WHERE id = ?1", [third]).unwrap();
    assert_eq!(cordon::audit_cli::verify(store.as_ref(), false).await.unwrap().broken, None, "put back, it holds");
    let fifth = id_at(store.as_ref(), 5).await;
    raw.execute("DELETE FROM audit_log WHERE id = ?1", [fifth]).unwrap();
    assert_eq!(broken(store.as_ref()).await, BrokenLink { chain_seq: 5, id: None, reason: Break::Missing });
}

#[tokio::test]
async fn postgres_an_edited_entry_or_a_cut_tail_is_named() {
    let Some((store, guard)) = crate::conformance_pg::make_or_skip().await else { return };
    write_entries(store.as_ref()).await;
    let url = std::env::var("CORDON_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".into());
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client.batch_execute(&format!("SET search_path TO \"{}\"", guard.schema())).await.unwrap();
    let second = id_at(store.as_ref(), 2).await;
    client.execute("UPDATE audit_log SET actor = 'someone else' WHERE id = $1", &[&second]).await.unwrap();
    assert_eq!(
        broken(store.as_ref()).await,
        BrokenLink { chain_seq: 2, id: Some(second), reason: Break::HashMismatch }
    );
    client.execute("UPDATE audit_log SET actor = '指挥部' WHERE id = $1", &[&second]).await.unwrap();
    assert_eq!(cordon::audit_cli::verify(store.as_ref(), false).await.unwrap().broken, None);
    client.execute("DELETE FROM audit_log WHERE chain_seq = 6", &[]).await.unwrap();
    assert_eq!(broken(store.as_ref()).await, BrokenLink { chain_seq: 6, id: None, reason: Break::Missing });
}
