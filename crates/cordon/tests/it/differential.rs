//! The differential test (`cordon_store::differential`): SQLite and PostgreSQL fed the same
//! random sequences of device batches, undos, seals, boxing, receipts, results, exemptions
//! and door-knock outcomes must answer alike, request by request, and read back alike.

use crate::conformance_pg::make_or_skip as postgres;
use crate::conformance_sqlite::make as sqlite;
use cordon_store::differential;

/// Cases per run: each is two fresh stores with the district loaded.
const CASES: u32 = 24;

#[test]
fn sqlite_and_postgres_answer_alike() {
    differential::check(CASES, sqlite, postgres);
}

/// The drift that started it: a person sampled in one batch and undone in the next.
#[test]
fn undo_across_batches_answers_alike() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let Some((a, _ga)) = sqlite().await else { return };
        let Some((b, _gb)) = postgres().await else { return };
        differential::run(a.as_ref(), b.as_ref(), &differential::undo_across_batches()).await;
    });
}
