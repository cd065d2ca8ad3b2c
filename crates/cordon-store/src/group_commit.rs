//! Group commit: many concurrent callers each hand in a record, one writer commits
//! whatever has queued in ONE transaction and answers every caller with its own result.
//!
//! Owns only the queue and the hand-off. The transaction itself is the backend's
//! (`commit` closure); a caller's future resolves only after the transaction holding its
//! record has committed (or failed), so "answered" still means "durably written" exactly
//! as with a direct call. Must never answer a caller before its commit, never hold the
//! queue lock across an `.await`, and never keep records of one batch hostage to another
//! record's failure: a failed batch of several submissions is retried one submission per
//! transaction, so each caller gets the answer its own records would have had alone.
//!
//! There is no long-lived writer task: the first submission that finds the queue idle
//! spawns a drainer on the caller's runtime, which commits batch after batch until the
//! queue is empty and then ends. Nothing outlives a burst, so a store can be used from
//! several runtimes (tests) and dropping a runtime cannot strand a writer.

use crate::{Result, StoreError};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The backend's commit: all `items` in one transaction, one result per item, in order.
pub type CommitFn<T, R> = Arc<dyn Fn(Vec<T>) -> Pin<Box<dyn Future<Output = Result<Vec<R>>> + Send>> + Send + Sync>;

type Waiter<T, R> = (T, oneshot::Sender<Result<R>>);

struct Queue<T, R> {
    pending: Vec<Waiter<T, R>>,
    /// A drainer task is running (it will see anything pushed before it finds the queue
    /// empty, because both happen under the lock).
    draining: bool,
}

struct Inner<T, R> {
    queue: Mutex<Queue<T, R>>,
    commit: CommitFn<T, R>,
    /// Most submissions per transaction (bounds one transaction's size and latency).
    max_batch: usize,
}

/// A group-commit queue for records of type `T` answered with `R`. Cheap to clone.
pub struct GroupCommit<T, R> {
    inner: Arc<Inner<T, R>>,
}

impl<T, R> Clone for GroupCommit<T, R> {
    fn clone(&self) -> Self {
        GroupCommit { inner: Arc::clone(&self.inner) }
    }
}

/// Resets `draining` if a drainer ends without emptying the queue (its task was dropped
/// with its runtime, or the commit panicked), so the next submission starts a new one.
struct DrainGuard<T, R> {
    inner: Arc<Inner<T, R>>,
    /// Cleared when the drainer ended normally (it reset `draining` under the lock).
    armed: bool,
}

impl<T, R> Drop for DrainGuard<T, R> {
    fn drop(&mut self) {
        if self.armed {
            self.inner.queue.lock().unwrap_or_else(|p| p.into_inner()).draining = false;
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the group-commit writer stopped before answering".into())
}

/// A failure answered to every caller of a failed batch (`StoreError` is not `Clone`).
fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotFound(what) => StoreError::NotFound(what),
        StoreError::Conflict { code, message } => StoreError::Conflict { code, message: message.clone() },
        StoreError::Backend(m) => StoreError::Backend(m.clone()),
    }
}

impl<T, R> GroupCommit<T, R>
where
    T: Clone + Send + 'static,
    R: Send + 'static,
{
    pub fn new(max_batch: usize, commit: CommitFn<T, R>) -> GroupCommit<T, R> {
        GroupCommit {
            inner: Arc::new(Inner {
                queue: Mutex::new(Queue { pending: Vec::new(), draining: false }),
                commit,
                max_batch: max_batch.max(1),
            }),
        }
    }

    /// Queues `item` and waits until the transaction holding it has committed.
    pub async fn submit(&self, item: T) -> Result<R> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut q = self.inner.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.pending.push((item, tx));
            !std::mem::replace(&mut q.draining, true)
        };
        if start {
            // A task of its own, so that a caller whose request is cancelled cannot
            // cancel the commit other callers are waiting on.
            tokio::spawn(drain(Arc::clone(&self.inner)));
        }
        rx.await.map_err(|_| stopped())?
    }
}

async fn drain<T, R>(inner: Arc<Inner<T, R>>)
where
    T: Clone + Send + 'static,
    R: Send + 'static,
{
    let mut guard = DrainGuard { inner: Arc::clone(&inner), armed: true };
    loop {
        let batch: Vec<Waiter<T, R>> = {
            let mut q = inner.queue.lock().unwrap_or_else(|p| p.into_inner());
            if q.pending.is_empty() {
                q.draining = false;
                guard.armed = false;
                return;
            }
            let n = q.pending.len().min(inner.max_batch);
            q.pending.drain(..n).collect()
        };
        let (items, senders): (Vec<T>, Vec<oneshot::Sender<Result<R>>>) = batch.into_iter().unzip();
        let n = items.len();
        let retry = if n > 1 { Some(items.clone()) } else { None };
        match (inner.commit)(items).await {
            Ok(results) if results.len() == n => {
                for (s, r) in senders.into_iter().zip(results) {
                    let _ = s.send(Ok(r));
                }
            }
            Ok(_) => {
                for s in senders {
                    let _ =
                        s.send(Err(StoreError::Backend("group commit answered the wrong number of results".into())));
                }
            }
            Err(e) => match retry {
                // One submission's failure must not fail the others: commit each alone.
                Some(items) => {
                    for (item, s) in items.into_iter().zip(senders) {
                        let one = (inner.commit)(vec![item]).await.and_then(|mut r| {
                            r.pop().ok_or_else(|| StoreError::Backend("group commit answered no result".into()))
                        });
                        let _ = s.send(one);
                    }
                }
                None => {
                    let mut senders = senders.into_iter();
                    if let Some(s) = senders.next() {
                        let _ = s.send(Err(copy_error(&e)));
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(batches: Arc<AtomicUsize>) -> CommitFn<i64, i64> {
        Arc::new(move |items: Vec<i64>| {
            let batches = Arc::clone(&batches);
            Box::pin(async move {
                batches.fetch_add(1, Ordering::SeqCst);
                // A commit takes a while, so callers arriving meanwhile queue up.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                if items.contains(&-1) {
                    return Err(StoreError::Backend("bad record".into()));
                }
                Ok(items.iter().map(|i| i * 10).collect())
            })
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_transactions_and_get_their_own_answers() {
        let batches = Arc::new(AtomicUsize::new(0));
        let gc = GroupCommit::new(64, counting(batches.clone()));
        let mut tasks = Vec::new();
        for i in 0..200i64 {
            let gc = gc.clone();
            tasks.push(tokio::spawn(async move { (i, gc.submit(i).await) }));
        }
        for t in tasks {
            let (i, r) = t.await.unwrap();
            assert_eq!(r.unwrap(), i * 10);
        }
        let n = batches.load(Ordering::SeqCst);
        // At most 64 per transaction, and callers that arrived during a commit share the
        // next one: far fewer transactions than records.
        assert!((4..=20).contains(&n), "{n} transactions for 200 records");
    }

    #[tokio::test]
    async fn a_failing_record_fails_only_its_caller() {
        let gc = GroupCommit::new(64, counting(Arc::new(AtomicUsize::new(0))));
        let (a, b, c) = tokio::join!(gc.submit(1), gc.submit(-1), gc.submit(3));
        assert_eq!(a.unwrap(), 10);
        assert!(matches!(b, Err(StoreError::Backend(_))));
        assert_eq!(c.unwrap(), 30);
        // The queue is usable afterwards.
        assert_eq!(gc.submit(4).await.unwrap(), 40);
    }
}
