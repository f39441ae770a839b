//! Committing a batch: one transaction, a savepoint per job (or per run of
//! one group's jobs), retries of transient conflicts, then one job at a time.

use super::job::{GroupOutcome, Job, Outcome};
use crate::db::{DbConn, DbError, Manager};
use std::time::Duration;

/// Attempts of a failing batch before its jobs are run one at a time.
const BATCH_ATTEMPTS: u32 = 3;
/// Attempts of a single job that keeps hitting transient conflicts.
const SINGLE_ATTEMPTS: u32 = 8;

pub(super) fn commit_batch(manager: &Manager, conn: &mut DbConn, batch: &mut Vec<Box<dyn Job>>) {
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
    let result = run_batch(conn, batch);
    if result.is_err() {
        // Unwind every level still open: the job's savepoint, then the batch.
        while conn.rollback().is_ok() {}
    }
    result
}

/// Runs every job of the batch inside the open transaction, then commits.
fn run_batch(conn: &mut DbConn, batch: &mut [Box<dyn Job>]) -> Result<(), DbError> {
    let mut start = 0;
    while start < batch.len() {
        // A run of jobs of one group goes together, in a savepoint of its own.
        let end = run_end(batch, start);
        if end - start > 1 {
            // A group that is the whole batch needs no savepoint: the
            // transaction is its own, and a fallback starts a new one.
            // (SQLite copies every page a savepoint touches aside.)
            let whole = start == 0 && end == batch.len();
            if run_together(conn, &mut batch[start..end], whole)? {
                start = end;
                continue;
            }
        }
        run_one_at_a_time(conn, &mut batch[start..end])?;
        start = end;
    }
    conn.commit()
}

/// Where the run that starts at `start` ends: past the jobs of its group
/// that queued up next to it, or right after it for a job of no group.
fn run_end(batch: &[Box<dyn Job>], start: usize) -> usize {
    let mut end = start + 1;
    if let Some(group) = batch[start].group() {
        while end < batch.len() && batch[end].group() == Some(group) {
            end += 1;
        }
    }
    end
}

/// Runs a run of one group's jobs as one call. `false`: the group fell back,
/// what it wrote is rolled back and its jobs are to run one at a time.
fn run_together(conn: &mut DbConn, run: &mut [Box<dyn Job>], whole: bool) -> Result<bool, DbError> {
    if !whole {
        conn.begin_nested()?;
    }
    let (first, others) = run.split_first_mut().expect("a run has a first job");
    match first.run_group(conn, others) {
        GroupOutcome::Done => {
            if !whole {
                conn.commit()?;
            }
            Ok(true)
        }
        GroupOutcome::Fallback => {
            conn.rollback()?;
            if whole {
                conn.begin_write()?;
            }
            Ok(false)
        }
        GroupOutcome::AbortBatch => Err(retry_marker()),
    }
}

/// Each job in a savepoint of its own: a refused job rolls back alone.
fn run_one_at_a_time(conn: &mut DbConn, jobs: &mut [Box<dyn Job>]) -> Result<(), DbError> {
    for job in jobs {
        conn.begin_nested()?;
        match job.run(conn) {
            Outcome::Keep => conn.commit()?,
            Outcome::Discard => conn.rollback()?,
            Outcome::AbortBatch => return Err(retry_marker()),
        }
    }
    Ok(())
}

/// Stands for "a job hit a transient conflict": the batch is tried again.
fn retry_marker() -> DbError {
    DbError::Query(diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::SerializationFailure,
        Box::new("a job hit a transient conflict".to_string()),
    ))
}
