//! `cordon backup` / `cordon restore` on SQLite: a snapshot taken while the store is in
//! use holds what was committed, with its audit chain intact, and restores in place.

use cordon_store::Store;

#[tokio::test]
async fn a_backup_taken_in_use_restores_with_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let url = db.to_str().unwrap().to_string();
    let store = cordon::cli::open_store(&url).await.unwrap();
    cordon::demo::prepare_store(store.as_ref(), "backup", 900, 3).await.unwrap();
    let district = cordon_domain::AreaCode::parse("141102").unwrap();
    let residents = store.area_summary(&district).await.unwrap().unwrap().residents;
    let audit_before = store.verify_audit_chain().await.unwrap();
    assert!(audit_before.checked > 0);

    let out = dir.path().join("snapshot.db");
    let summary = cordon::backup_cli::backup(&url, &out).await.unwrap().expect("a SQLite backup");
    assert_eq!(summary.users, 13);
    assert_eq!(summary.audit_entries_verified, audit_before.checked);
    assert_eq!(summary.audit_head, audit_before.head.hash);
    assert!(cordon::backup_cli::backup(&url, &out).await.is_err(), "never overwrites a backup");

    // Work continues after the snapshot; restoring brings the snapshot back.
    store.append_audit(&[cordon_store::conformance::audit_entry(1, "after", "x", "y", "z")]).await.unwrap();
    drop(store);
    assert!(cordon::backup_cli::restore(&url, &out, false).await.is_err(), "an existing database needs --force");
    cordon::backup_cli::restore(&url, &out, true).await.unwrap();
    let restored: std::sync::Arc<dyn Store> = cordon::cli::open_store(&url).await.unwrap();
    assert_eq!(restored.area_summary(&district).await.unwrap().unwrap().residents, residents);
    let chain = restored.verify_audit_chain().await.unwrap();
    assert_eq!((chain.checked, chain.broken), (audit_before.checked, None));

    // Into a new place, too.
    let elsewhere = dir.path().join("elsewhere.db");
    cordon::backup_cli::restore(elsewhere.to_str().unwrap(), &out, false).await.unwrap();
}
