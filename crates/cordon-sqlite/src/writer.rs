//! The single writer: one thread owns the read-write connection and runs the jobs sent to
//! it, in order, one after the other; a second thread checkpoints the WAL.
//!
//! A job is sent as a closure and answered through a oneshot channel. Compared with a
//! mutex around the connection plus a hop to tokio's blocking pool per write, the thread
//! starts the next job the moment one ends (no lock hand-off through an async task, no
//! thread to wake), which is what keeps the writer busy while a sampling day's device
//! batches queue up behind it.
//!
//! **Checkpoints off the writer.** By default SQLite copies the WAL back into the database
//! file (and syncs it) inside whichever commit crosses 1,000 WAL pages, so every fortieth
//! device batch paid for the thirty-nine before it. The writer connection has automatic
//! checkpoints off; the checkpointer thread runs a `PASSIVE` checkpoint every
//! [`CHECKPOINT_EVERY`] on a connection of its own, which never blocks the writer or the
//! readers. Durability is unchanged: a commit is in the WAL when it is answered (WAL with
//! `synchronous=NORMAL` survives a killed process), checkpoints only move it.
//!
//! Tried and dropped: committing queued transactional jobs together in one transaction
//! (savepoint per job) measured 5–10 % slower on the ingest benchmark than one
//! transaction per job.

use crate::rows::OrBackend;
use cordon_store::{Result, StoreError};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// How often the checkpointer moves committed WAL pages into the database file.
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Hands jobs to the writer thread. Both threads end, closing their connections, when
/// the last handle is dropped.
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
    /// Dropped with the writer: wakes the checkpointer to end.
    _stop: mpsc::Sender<()>,
}

impl Writer {
    /// Starts the writer thread on `conn` (a read-write connection to `path`) and the
    /// checkpointer thread on a connection of its own.
    pub(crate) fn start(conn: Connection, path: &Path) -> Result<Writer> {
        conn.pragma_update(None, "wal_autocheckpoint", 0).db()?;
        let checkpoints = crate::open_writer(path)?;
        checkpoints.pragma_update(None, "wal_autocheckpoint", 0).db()?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("cordon-sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                    // PASSIVE: copies what no reader still needs, waits for nobody. A busy
                    // or failed round is simply tried again at the next tick.
                    if let Err(e) = checkpoints.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::debug!(error = %e, "WAL checkpoint skipped");
                    }
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let mut conn = conn;
        std::thread::Builder::new()
            .name("cordon-sqlite-writer".into())
            .spawn(move || {
                for job in queue {
                    // A panicking job answers its caller with an error (its sender is
                    // dropped) and its transaction is rolled back; the writer goes on.
                    if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
                        tracing::error!("a database write panicked");
                        if !conn.is_autocommit() {
                            let _ = conn.execute_batch("ROLLBACK");
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer { jobs, _stop: stop })
    }

    /// Runs `f` on the writer connection after the jobs queued before it.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |conn: &mut Connection| {
                let _ = tx.send(f(conn));
            }))
            .map_err(|_| StoreError::Backend("the database writer has stopped".into()))?;
        rx.await.map_err(|_| StoreError::Backend("database write failed".into()))?
    }

    /// Runs `f` in one `IMMEDIATE` transaction; commits when it returns `Ok`, rolls back
    /// otherwise, and answers after the commit.
    pub(crate) async fn transaction<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).db()?;
            let out = f(&tx)?;
            tx.commit().db()?;
            Ok(out)
        })
        .await
    }
}
