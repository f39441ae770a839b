//! Group commit: one writer thread per queue drains whatever has queued up and
//! commits it in one transaction, each job in its own savepoint, so a refused
//! job never aborts its neighbours and one fsync covers many transfers. Jobs
//! of one [`Group`] that queued up next to each other run as one call (the
//! ledger posts transfers that way), in one savepoint. A lone job still
//! commits at once; only under load does a small batch wait 200 µs for the
//! callers that the last large batch has just answered.
//!
//! Each caller gets its own result, and only after the commit that made it
//! durable. Jobs are re-runnable (`FnMut`): if the whole batch hits a
//! transient conflict (a PostgreSQL deadlock between processes, SQLite busy),
//! it is rolled back and tried again, then one job at a time.

use super::{DbConn, DbError, Manager};
use crate::metrics::Metrics;
use batch::commit_batch;
use job::{FnJob, GroupJob, Job};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

mod batch;
mod checkpoint;
mod job;

pub use job::{Group, GroupFn, OneFn};

/// An error a queued job may return. `retryable` errors abort the whole batch
/// for another try; any other error rolls back only the job's savepoint.
pub trait WriteError: From<DbError> + std::fmt::Display + Send + 'static {
    fn retryable(&self) -> bool;
}

impl WriteError for DbError {
    fn retryable(&self) -> bool {
        self.is_retryable()
    }
}

/// The sending side of a writer. Cheap to clone; the writer thread stops when
/// the last clone is dropped.
#[derive(Clone)]
pub struct WriteQueue {
    tx: mpsc::Sender<Box<dyn Job>>,
}

/// A batch this large means callers are queueing faster than one commit.
const LOADED: usize = 32;
/// How long a small batch under load waits for more jobs.
const GATHER: Duration = Duration::from_micros(200);
impl WriteQueue {
    /// Starts a writer thread with its own connection. `metrics` sees the
    /// size of every batch it commits.
    pub fn start(
        manager: Manager,
        batch_max: usize,
        queue_depth: usize,
        name: &str,
        metrics: Metrics,
    ) -> Result<WriteQueue, DbError> {
        let mut conn = manager.connect_writer()?;
        let checkpoints = checkpoint::start(&manager)?;
        let (tx, mut rx) = mpsc::channel::<Box<dyn Job>>(queue_depth);
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                // Stops the checkpointer when the writer stops.
                let _checkpoints = checkpoints;
                let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(batch_max);
                let mut last = 0;
                let drain = |rx: &mut mpsc::Receiver<Box<dyn Job>>, batch: &mut Vec<Box<dyn Job>>| {
                    while batch.len() < batch_max {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                };
                while let Some(first) = rx.blocking_recv() {
                    batch.push(first);
                    drain(&mut rx, &mut batch);
                    // Under load (the last batch was large), the callers it
                    // answered are queueing their next requests right now:
                    // a moment's wait lets this commit carry them too. A
                    // lone job still commits at once.
                    if last >= LOADED && batch.len() < last / 2 {
                        std::thread::sleep(GATHER);
                        drain(&mut rx, &mut batch);
                    }
                    last = batch.len();
                    metrics.writer_batch(last);
                    commit_batch(&manager, &mut conn, &mut batch);
                }
            })
            .map_err(|e| DbError::Config(format!("cannot start writer thread: {e}")))?;
        Ok(WriteQueue { tx })
    }

    /// Jobs queued and not yet taken by the writer.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }

    /// Queues `f` and waits for its committed result.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: WriteError,
        F: FnMut(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        self.queue(|reply| Box::new(FnJob { f, result: None, reply })).await
    }

    /// The same, for callers outside any async runtime (the CLI).
    pub fn run_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: WriteError,
        F: FnMut(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        self.queue_blocking(|reply| Box::new(FnJob { f, result: None, reply }))
    }

    /// Queues a request of `group` and waits for its committed result.
    pub async fn run_grouped<R, T, E>(&self, group: &Arc<Group<R, T, E>>, req: R) -> Result<T, E>
    where
        R: Send + 'static,
        T: Send + 'static,
        E: WriteError,
    {
        self.queue(|reply| Box::new(GroupJob { group: group.clone(), req, result: None, reply })).await
    }

    /// The same, outside any async runtime.
    pub fn run_grouped_blocking<R, T, E>(&self, group: &Arc<Group<R, T, E>>, req: R) -> Result<T, E>
    where
        R: Send + 'static,
        T: Send + 'static,
        E: WriteError,
    {
        self.queue_blocking(|reply| Box::new(GroupJob { group: group.clone(), req, result: None, reply }))
    }

    /// Queues the job made around a reply channel and waits for the reply.
    async fn queue<T, E: WriteError>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, E>>) -> Box<dyn Job>,
    ) -> Result<T, E> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(job(reply)).await.map_err(|_| E::from(DbError::WriterGone))?;
        rx.await.unwrap_or_else(|_| Err(E::from(DbError::WriterGone)))
    }

    fn queue_blocking<T, E: WriteError>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, E>>) -> Box<dyn Job>,
    ) -> Result<T, E> {
        let (reply, rx) = oneshot::channel();
        self.tx.blocking_send(job(reply)).map_err(|_| E::from(DbError::WriterGone))?;
        rx.blocking_recv().unwrap_or_else(|_| Err(E::from(DbError::WriterGone)))
    }
}

#[cfg(test)]
mod tests;
