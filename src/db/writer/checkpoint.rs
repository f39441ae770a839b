//! SQLite's WAL is copied back into the database file by a thread of its
//! own, not by the writer.
//!
//! By default the connection whose commit takes the WAL past
//! `wal_autocheckpoint` pages runs the checkpoint there and then: with one
//! writer that is always the writer, which then stops committing while it
//! copies thousands of pages into the database file and fsyncs it, and every
//! caller waiting on it waits too (about 10 ms, a few times a second in the
//! charges bench; BENCHMARKS.md, third 2026-12-01 sitting). Here a second
//! connection runs a `PASSIVE` checkpoint every [`INTERVAL`]: it never takes
//! the write lock or waits for readers, so the writer goes on committing
//! while it copies, and the WAL starts over from its beginning once all of
//! it is back in the file. The writer's own `wal_autocheckpoint` stays as a
//! backstop, should this thread fall behind or fail.

use super::super::{Backend, DbError, Manager};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// How often the WAL is copied back: about 2,500 frames at 11,000 charges/s.
pub(super) const INTERVAL: Duration = Duration::from_millis(100);

/// Starts the checkpointer of a SQLite database (none for PostgreSQL). It
/// stops when the returned sender is dropped.
pub(super) fn start(manager: &Manager) -> Result<Option<mpsc::Sender<()>>, DbError> {
    if !matches!(manager.backend, Backend::Sqlite { .. }) {
        return Ok(None);
    }
    let mut conn = manager.connect()?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("mkoba-checkpt".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
                    // Busy while another connection checkpoints: the next round catches up.
                    tracing::debug!(error = %e, "WAL checkpoint skipped");
                }
            }
        })
        .map_err(|e| DbError::Config(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(Some(stop))
}
