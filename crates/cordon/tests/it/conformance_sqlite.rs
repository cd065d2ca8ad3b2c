//! The conformance suite against SQLite: each case gets a fresh, migrated database file
//! in its own temporary directory, removed when the case ends.

use cordon_sqlite::SqliteStore;
use cordon_store::Store;
use cordon_store::prelude::*;
use std::sync::Arc;
use tempfile::TempDir;

pub async fn make() -> Option<(Arc<dyn Store>, TempDir)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("cordon.db")).expect("open SQLite store");
    store.migrate().await.expect("migrate");
    Some((Arc::new(store), dir))
}

cordon_store::conformance_tests!(make);
cordon_store::testing_conformance_tests!(make);
cordon_store::codes_conformance_tests!(make);
cordon_store::scanpath_conformance_tests!(make);
cordon_store::colour_conformance_tests!(make);
cordon_store::containment_conformance_tests!(make);
cordon_store::credentials_conformance_tests!(make);
cordon_store::tracing_conformance_tests!(make);
