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
use std::any::Any;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

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

enum Outcome {
    Keep,
    Discard,
    AbortBatch,
}

/// How a group of queued requests fared when run together.
enum GroupOutcome {
    /// Every request has its result; whatever was written stays.
    Done,
    /// Roll the group back and run its requests one at a time.
    Fallback,
    AbortBatch,
}

trait Job: Send {
    fn run(&mut self, conn: &mut DbConn) -> Outcome;
    fn finish(self: Box<Self>, committed: Result<(), &DbError>);

    /// Jobs of one [`Group`] that queue up next to each other run together.
    fn group(&self) -> Option<usize> {
        None
    }

    /// Runs this job together with `others`, which belong to its group.
    fn run_group(&mut self, _conn: &mut DbConn, _others: &mut [Box<dyn Job>]) -> GroupOutcome {
        GroupOutcome::Fallback
    }

    fn as_any(&mut self) -> &mut dyn Any;
}

/// Catches a panic in a job's code and turns it into an error of its own.
fn unpanic<T, E: WriteError>(f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(E::from(DbError::Commit("the write job panicked".into()))))
}

fn outcome_of<T, E: WriteError>(result: &Result<T, E>) -> Outcome {
    match result {
        Ok(_) => Outcome::Keep,
        Err(e) if e.retryable() => Outcome::AbortBatch,
        Err(_) => Outcome::Discard,
    }
}

fn finish_with<T, E: WriteError>(
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
    committed: Result<(), &DbError>,
) {
    let result = match (committed, result) {
        (Ok(()), Some(r)) => r,
        (Ok(()), None) => Err(E::from(DbError::WriterGone)),
        // Whatever the job saw, none of it was committed.
        (Err(e), _) => Err(E::from(DbError::Commit(e.to_string()))),
    };
    // The caller may have gone away (request cancelled); nothing to do then.
    let _ = reply.send(result);
}

struct FnJob<T, E, F> {
    f: F,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Job for FnJob<T, E, F>
where
    T: Send + 'static,
    E: WriteError,
    F: FnMut(&mut DbConn) -> Result<T, E> + Send + 'static,
{
    fn run(&mut self, conn: &mut DbConn) -> Outcome {
        // A panicking job must not take the writer (and every later write)
        // down with it: it is refused alone and its savepoint rolled back.
        let f = &mut self.f;
        let result = unpanic(|| f(conn));
        let outcome = outcome_of(&result);
        self.result = Some(result);
        outcome
    }

    fn finish(self: Box<Self>, committed: Result<(), &DbError>) {
        finish_with(self.result, self.reply, committed);
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// Requests of one kind that the writer may run many at a time: `all` gets
/// every such request that queued up next to each other and returns a result
/// for each, in order. A request refused there must have written nothing; an
/// `Err` from `all` rolls the whole group back and runs `one` per request.
pub struct Group<R, T, E> {
    pub one: Box<OneFn<R, T, E>>,
    pub all: Box<GroupFn<R, T, E>>,
}

pub type OneFn<R, T, E> = dyn Fn(&mut DbConn, &R) -> Result<T, E> + Send + Sync;

pub type GroupFn<R, T, E> = dyn Fn(&mut DbConn, &[&R]) -> Result<Vec<Result<T, E>>, E> + Send + Sync;

struct GroupJob<R, T, E> {
    group: Arc<Group<R, T, E>>,
    req: R,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<R, T, E> Job for GroupJob<R, T, E>
where
    R: Send + 'static,
    T: Send + 'static,
    E: WriteError,
{
    fn run(&mut self, conn: &mut DbConn) -> Outcome {
        let (one, req) = (&self.group.one, &self.req);
        let result = unpanic(|| one(conn, req));
        let outcome = outcome_of(&result);
        self.result = Some(result);
        outcome
    }

    fn finish(self: Box<Self>, committed: Result<(), &DbError>) {
        finish_with(self.result, self.reply, committed);
    }

    fn group(&self) -> Option<usize> {
        Some(Arc::as_ptr(&self.group) as *const () as usize)
    }

    fn run_group(&mut self, conn: &mut DbConn, others: &mut [Box<dyn Job>]) -> GroupOutcome {
        let mut peers: Vec<&mut GroupJob<R, T, E>> = Vec::with_capacity(others.len());
        for other in others.iter_mut() {
            match other.as_any().downcast_mut::<GroupJob<R, T, E>>() {
                Some(peer) => peers.push(peer),
                None => return GroupOutcome::Fallback,
            }
        }
        let results = {
            let mut reqs = Vec::with_capacity(peers.len() + 1);
            reqs.push(&self.req);
            reqs.extend(peers.iter().map(|p| &p.req));
            let all = &self.group.all;
            unpanic(|| all(conn, &reqs))
        };
        match results {
            Ok(results) if results.len() == peers.len() + 1 => {
                let mut results = results.into_iter();
                self.result = results.next();
                for (peer, result) in peers.into_iter().zip(results) {
                    peer.result = Some(result);
                }
                GroupOutcome::Done
            }
            Ok(_) => GroupOutcome::Fallback,
            Err(e) if e.retryable() => GroupOutcome::AbortBatch,
            Err(e) => {
                tracing::warn!(error = %e, jobs = peers.len() + 1, "a write group fell back to one job at a time");
                GroupOutcome::Fallback
            }
        }
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
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

/// Attempts of a failing batch before its jobs are run one at a time.
const BATCH_ATTEMPTS: u32 = 3;
/// Attempts of a single job that keeps hitting transient conflicts.
const SINGLE_ATTEMPTS: u32 = 8;

impl WriteQueue {
    /// Starts a writer thread with its own connection.
    pub fn start(manager: Manager, batch_max: usize, queue_depth: usize, name: &str) -> Result<WriteQueue, DbError> {
        let mut conn = manager.connect_writer()?;
        let (tx, mut rx) = mpsc::channel::<Box<dyn Job>>(queue_depth);
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
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
                    commit_batch(&manager, &mut conn, &mut batch);
                }
            })
            .map_err(|e| DbError::Config(format!("cannot start writer thread: {e}")))?;
        Ok(WriteQueue { tx })
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

fn commit_batch(manager: &Manager, conn: &mut DbConn, batch: &mut Vec<Box<dyn Job>>) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_batch(conn, batch) {
            Ok(()) => {
                for job in batch.drain(..) {
                    job.finish(Ok(()));
                }
                return;
            }
            Err(e) if e.is_retryable() && batch.len() > 1 && attempt >= BATCH_ATTEMPTS => {
                // Conflicts persist across the batch: isolate each job.
                for job in std::mem::take(batch) {
                    let mut one = vec![job];
                    commit_batch(manager, conn, &mut one);
                }
                return;
            }
            Err(e) if e.is_retryable() && attempt < SINGLE_ATTEMPTS => {
                std::thread::sleep(Duration::from_millis(2u64 << attempt.min(6)));
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = batch.len(), "write batch failed");
                if !e.is_retryable() {
                    // The connection itself may be broken: replace it.
                    if let Ok(fresh) = manager.connect_writer() {
                        *conn = fresh;
                    }
                }
                for job in batch.drain(..) {
                    job.finish(Err(&e));
                }
                return;
            }
        }
    }
}

fn try_batch(conn: &mut DbConn, batch: &mut [Box<dyn Job>]) -> Result<(), DbError> {
    conn.begin_write()?;
    let result = (|| {
        let mut start = 0;
        while start < batch.len() {
            // A run of jobs of one group goes together, in a savepoint of its own.
            let mut end = start + 1;
            if let Some(group) = batch[start].group() {
                while end < batch.len() && batch[end].group() == Some(group) {
                    end += 1;
                }
            }
            if end - start > 1 {
                // A group that is the whole batch needs no savepoint: the
                // transaction is its own, and a fallback starts a new one.
                // (SQLite copies every page a savepoint touches aside.)
                let whole = start == 0 && end == batch.len();
                if !whole {
                    conn.begin_nested()?;
                }
                let (first, others) = batch[start..end].split_first_mut().expect("a run has a first job");
                match first.run_group(conn, others) {
                    GroupOutcome::Done => {
                        if !whole {
                            conn.commit()?;
                        }
                        start = end;
                        continue;
                    }
                    GroupOutcome::Fallback => {
                        conn.rollback()?;
                        if whole {
                            conn.begin_write()?;
                        }
                    }
                    GroupOutcome::AbortBatch => return Err(retry_marker()),
                }
            }
            for job in &mut batch[start..end] {
                conn.begin_nested()?;
                match job.run(conn) {
                    Outcome::Keep => conn.commit()?,
                    Outcome::Discard => conn.rollback()?,
                    Outcome::AbortBatch => return Err(retry_marker()),
                }
            }
            start = end;
        }
        conn.commit()
    })();
    if result.is_err() {
        // Unwind every level still open: the job's savepoint, then the batch.
        while conn.rollback().is_ok() {}
    }
    result
}

/// Stands for "a job hit a transient conflict": the batch is tried again.
fn retry_marker() -> DbError {
    DbError::Query(diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::SerializationFailure,
        Box::new("a job hit a transient conflict".to_string()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_job_is_refused_alone_and_the_writer_lives_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = super::super::Backend::Sqlite { path: dir.path().join("w.db") };
        let queue = WriteQueue::start(Manager::new(backend, 1_000), 16, 16, "test-writer").expect("writer");
        let boom = queue.run_blocking(|_conn| -> Result<(), DbError> { panic!("bug in a job") });
        assert!(matches!(boom, Err(DbError::Commit(_))), "{boom:?}");
        let fine = queue.run_blocking(|conn| conn.batch_execute("CREATE TABLE t (x INTEGER)"));
        assert!(fine.is_ok(), "{fine:?}");
    }

    #[test]
    fn requests_of_a_group_that_queue_up_run_together_or_else_one_at_a_time() {
        use std::sync::Mutex;
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = super::super::Backend::Sqlite { path: dir.path().join("g.db") };
        let queue = WriteQueue::start(Manager::new(backend, 1_000), 64, 64, "test-writer").expect("writer");
        queue.run_blocking(|conn| conn.batch_execute("CREATE TABLE t (x INTEGER)")).expect("table");
        let insert = |conn: &mut DbConn, x: i64| conn.batch_execute(&format!("INSERT INTO t VALUES ({x})"));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let group = Arc::new(Group::<i64, i64, DbError> {
            one: Box::new(move |conn, &x| insert(conn, x).map(|()| x)),
            all: Box::new(move |conn, xs| {
                seen.lock().expect("sizes").push(xs.len());
                for &&x in xs {
                    insert(conn, x)?;
                }
                if xs.iter().any(|&&x| x % 10 == 3) {
                    return Err(DbError::Commit("a 3 spoils the group".into()));
                }
                // Negative: "ran as part of a group".
                Ok(xs.iter().map(|&&x| Ok(-x)).collect())
            }),
        });

        // Holds the writer with a plain job while `plain` (a job of no group),
        // then `xs`, queue up behind it: they make one batch.
        let queue_behind_a_busy_writer = |plain: Option<i64>, xs: &[i64]| -> Vec<i64> {
            let (release, hold) = std::sync::mpsc::channel::<()>();
            let hold = Mutex::new(hold);
            std::thread::scope(|s| {
                let queue = &queue;
                let busy = s.spawn(move || {
                    queue.run_blocking(move |_| {
                        let _ = hold.lock().expect("hold").recv();
                        Ok::<_, DbError>(())
                    })
                });
                std::thread::sleep(Duration::from_millis(200));
                let before = plain.map(|x| s.spawn(move || queue.run_blocking(move |conn| insert(conn, x))));
                std::thread::sleep(Duration::from_millis(100));
                let group = &group;
                let waiting: Vec<_> =
                    xs.iter().map(|&x| s.spawn(move || queue.run_grouped_blocking(group, x))).collect();
                std::thread::sleep(Duration::from_millis(500));
                release.send(()).expect("release");
                busy.join().expect("busy job").expect("busy job commits");
                if let Some(before) = before {
                    before.join().expect("plain job").expect("plain job commits");
                }
                let mut got: Vec<i64> =
                    waiting.into_iter().map(|h| h.join().expect("join").expect("committed")).collect();
                got.sort_unstable();
                got
            })
        };

        // The group is the whole batch: it runs in the batch's transaction.
        assert_eq!(queue_behind_a_busy_writer(None, &[1, 2, 4, 5]), [-5, -4, -2, -1], "one call of `all`");
        assert_eq!(queue_behind_a_busy_writer(None, &[11, 12, 13]), [11, 12, 13], "spoilt: each runs alone");
        // The group follows another job: it runs in a savepoint of its own.
        assert_eq!(queue_behind_a_busy_writer(Some(20), &[21, 22]), [-22, -21], "one call of `all`");
        assert_eq!(queue_behind_a_busy_writer(Some(30), &[31, 33]), [31, 33], "spoilt: each runs alone");
        assert_eq!(*sizes.lock().expect("sizes"), [4, 3, 2, 2]);

        let rows = queue
            .run_blocking(|conn| {
                #[derive(diesel::QueryableByName)]
                struct Sum {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    total: i64,
                }
                use diesel::RunQueryDsl;
                let DbConn::Sqlite(c) = conn else { unreachable!("a SQLite test") };
                let rows: Vec<Sum> =
                    diesel::sql_query("SELECT COUNT(*) AS n, SUM(x) AS total FROM t").load(c).map_err(DbError::from)?;
                Ok::<_, DbError>(rows.first().map(|r| (r.n, r.total)))
            })
            .expect("read");
        // Every job's row once; nothing of a spoilt group's own run is kept,
        // and the job before it (30) is.
        assert_eq!(rows, Some((13, 12 + 36 + 63 + 94)), "rows {rows:?}");
    }
}
