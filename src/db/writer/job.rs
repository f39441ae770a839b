//! The jobs a writer runs: a plain closure, or a request of a [`Group`] that
//! runs together with its neighbours. A job keeps its result until the
//! batch commits, then answers its caller.

use super::WriteError;
use crate::db::{DbConn, DbError};
use std::any::Any;
use std::sync::Arc;
use tokio::sync::oneshot;

pub(super) enum Outcome {
    Keep,
    Discard,
    AbortBatch,
}

/// How a group of queued requests fared when run together.
pub(super) enum GroupOutcome {
    /// Every request has its result; whatever was written stays.
    Done,
    /// Roll the group back and run its requests one at a time.
    Fallback,
    AbortBatch,
}

pub(super) trait Job: Send {
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

pub(super) struct FnJob<T, E, F> {
    pub(super) f: F,
    pub(super) result: Option<Result<T, E>>,
    pub(super) reply: oneshot::Sender<Result<T, E>>,
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

pub(super) struct GroupJob<R, T, E> {
    pub(super) group: Arc<Group<R, T, E>>,
    pub(super) req: R,
    pub(super) result: Option<Result<T, E>>,
    pub(super) reply: oneshot::Sender<Result<T, E>>,
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
