//! PINs: argon2id with a pepper (kept out of the database), verified off the
//! async executor with bounded concurrency.

pub mod lockout;

use crate::config::{Argon2Config, Secret};
use crate::domain::Pin;
use crate::metrics::Metrics;
use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use argon2::{Block, ARGON2ID_IDENT};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::{mpsc, Mutex};
use std::time::Instant;
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the PIN pepper is not configured")]
    NoPepper,
    #[error("argon2 settings are invalid: {0}")]
    Params(String),
    #[error("cannot hash the PIN: {0}")]
    Hash(String),
}

/// Hashes and checks PINs. Cloning is cheap.
///
/// The async methods run on a fixed pool of `pin.verify_concurrency`
/// threads fed by a queue: a finished check starts the next at once on the
/// same thread, with no hand-off through the async runtime in between (each
/// check holds `pin.argon2.memory_kib`, so the pool also bounds memory).
#[derive(Clone)]
pub struct PinHasher {
    inner: Arc<HasherInner>,
    queue: mpsc::Sender<Work>,
}

/// A check or a hash waiting for a PIN thread, since `queued`.
enum Work {
    Verify { pin: Pin, stored: Option<String>, reply: oneshot::Sender<bool>, queued: Instant },
    Hash { pin: Pin, reply: oneshot::Sender<Result<String, AuthError>>, queued: Instant },
}

impl Work {
    fn queued(&self) -> Instant {
        match self {
            Work::Verify { queued, .. } | Work::Hash { queued, .. } => *queued,
        }
    }
}

struct HasherInner {
    pepper: Vec<u8>,
    params: Params,
    /// Checked against when the account does not exist, so that an unknown
    /// number costs as much time as a real one.
    dummy_hash: String,
    /// PINs checked against a stored hash so far.
    checks: AtomicU64,
    /// Sees how long work waits for a PIN thread.
    metrics: Metrics,
}

impl PinHasher {
    pub fn new(pepper: &Secret, argon: &Argon2Config, concurrency: usize) -> Result<PinHasher, AuthError> {
        PinHasher::observed(pepper, argon, concurrency, Metrics::default())
    }

    /// The same, recording the PIN threads' queue in `metrics`.
    pub fn observed(
        pepper: &Secret,
        argon: &Argon2Config,
        concurrency: usize,
        metrics: Metrics,
    ) -> Result<PinHasher, AuthError> {
        if !pepper.is_set() {
            return Err(AuthError::NoPepper);
        }
        let params = Params::new(argon.memory_kib, argon.iterations, argon.parallelism, None)
            .map_err(|e| AuthError::Params(e.to_string()))?;
        let mut inner = HasherInner {
            pepper: pepper.expose().as_bytes().to_vec(),
            params,
            dummy_hash: String::new(),
            checks: AtomicU64::new(0),
            metrics,
        };
        inner.dummy_hash = inner.hash_bytes(b"not-a-pin")?;
        let inner = Arc::new(inner);
        let (queue, rx) = mpsc::channel::<Work>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..concurrency.max(1) {
            let (inner, rx) = (inner.clone(), rx.clone());
            std::thread::Builder::new()
                .name(format!("mkoba-pin-{n}"))
                .spawn(move || {
                    // The thread holds only the receiver: when every PinHasher is
                    // dropped, the queue closes and the thread ends.
                    let hasher = PinHasher::detached(inner);
                    let mut blocks = Vec::new();
                    loop {
                        let next = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        if let Ok(work) = &next {
                            hasher.inner.metrics.pin_started(work.queued().elapsed());
                        }
                        match next {
                            Ok(Work::Verify { pin, stored, reply, .. }) => {
                                let _ = reply.send(hasher.verify_in(&pin, stored.as_deref(), &mut blocks));
                            }
                            Ok(Work::Hash { pin, reply, .. }) => {
                                let _ = reply.send(hasher.hash(&pin));
                            }
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| AuthError::Hash(format!("cannot start a PIN thread: {e}")))?;
        }
        Ok(PinHasher { inner, queue })
    }

    /// A PHC string (`$argon2id$v=19$m=…`) with a fresh salt. Blocking: ≈15 ms.
    pub fn hash(&self, pin: &Pin) -> Result<String, AuthError> {
        self.inner.hash_bytes(pin.expose().as_bytes())
    }

    /// Whether `pin` matches `stored`; with no stored hash it spends the same
    /// time and says no. Blocking.
    pub fn verify(&self, pin: &Pin, stored: Option<&str>) -> bool {
        self.verify_in(pin, stored, &mut Vec::new())
    }

    /// [`verify`](Self::verify) with argon2's working memory supplied by the
    /// caller: a PIN thread keeps one buffer (`memory_kib`) for all its
    /// checks instead of mapping and faulting in a fresh one each time.
    pub fn verify_in(&self, pin: &Pin, stored: Option<&str>, blocks: &mut Vec<Block>) -> bool {
        let (hash, real) = match stored {
            Some(h) => {
                self.inner.checks.fetch_add(1, Ordering::Relaxed);
                (h, true)
            }
            None => (self.inner.dummy_hash.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return false;
        };
        // Only what mkoba writes: argon2id, version 0x13.
        if parsed.algorithm != ARGON2ID_IDENT || parsed.version != Some(0x13) {
            return false;
        }
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        let Ok(argon) =
            Argon2::new_with_secret(&self.inner.pepper, Algorithm::Argon2id, Version::V0x13, params.clone())
        else {
            return false;
        };
        blocks.resize(params.block_count(), Block::default());
        let mut out = vec![0u8; expected.len()];
        if argon
            .hash_password_into_with_memory(pin.expose().as_bytes(), salt.as_ref(), &mut out, &mut blocks[..])
            .is_err()
        {
            return false;
        }
        bool::from(out.as_slice().ct_eq(expected.as_bytes())) && real
    }

    /// How many PINs this hasher has checked against a stored hash.
    pub fn checks(&self) -> u64 {
        self.inner.checks.load(Ordering::Relaxed)
    }

    /// A hasher for the PIN threads themselves: its queue leads nowhere, so
    /// holding it does not keep the pool alive.
    fn detached(inner: Arc<HasherInner>) -> PinHasher {
        PinHasher { inner, queue: mpsc::channel().0 }
    }

    /// Queues work for the PIN threads; false when they have stopped.
    fn send(&self, work: Work) -> bool {
        self.inner.metrics.pin_queued();
        let sent = self.queue.send(work).is_ok();
        if !sent {
            self.inner.metrics.pin_dropped();
        }
        sent
    }

    /// Verifies on the PIN threads, at most `pin.verify_concurrency` at once.
    pub async fn verify_async(&self, pin: Pin, stored: Option<String>) -> bool {
        let (reply, answer) = oneshot::channel();
        if !self.send(Work::Verify { pin, stored, reply, queued: Instant::now() }) {
            return false;
        }
        answer.await.unwrap_or(false)
    }

    pub async fn hash_async(&self, pin: Pin) -> Result<String, AuthError> {
        let (reply, answer) = oneshot::channel();
        if !self.send(Work::Hash { pin, reply, queued: Instant::now() }) {
            return Err(AuthError::Hash("the PIN threads have stopped".into()));
        }
        answer.await.map_err(|_| AuthError::Hash("the PIN threads have stopped".into()))?
    }
}

impl HasherInner {
    fn argon2(&self) -> Result<Argon2<'_>, AuthError> {
        Argon2::new_with_secret(&self.pepper, Algorithm::Argon2id, Version::V0x13, self.params.clone())
            .map_err(|e| AuthError::Params(e.to_string()))
    }

    fn hash_bytes(&self, bytes: &[u8]) -> Result<String, AuthError> {
        let hash = self.argon2()?.hash_password(bytes).map_err(|e| AuthError::Hash(e.to_string()))?;
        Ok(hash.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Config {
        Argon2Config { memory_kib: 1024, iterations: 1, parallelism: 1 }
    }

    #[test]
    fn hash_verifies_only_with_the_same_pin_and_pepper() {
        let h = PinHasher::new(&Secret::new("pepper-a"), &cheap(), 1).expect("hasher");
        let pin = Pin::parse("1357", 4).expect("pin");
        let stored = h.hash(&pin).expect("hash");
        assert!(stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{stored}");
        assert!(!stored.contains("1357"));
        assert!(h.verify(&pin, Some(&stored)));
        assert!(!h.verify(&Pin::parse("1358", 4).expect("pin"), Some(&stored)));
        assert!(!h.verify(&pin, None));
        assert!(!h.verify(&pin, Some("garbage")));
        let other = PinHasher::new(&Secret::new("pepper-b"), &cheap(), 1).expect("hasher");
        assert!(!other.verify(&pin, Some(&stored)), "a different pepper must not verify");
        assert_ne!(h.hash(&pin).expect("hash"), stored, "salts differ");
    }

    #[test]
    fn needs_a_pepper() {
        assert!(matches!(PinHasher::new(&Secret::default(), &cheap(), 1), Err(AuthError::NoPepper)));
    }
}

#[cfg(test)]
mod pool_tests {
    use super::*;

    #[tokio::test]
    async fn the_pin_threads_answer_and_end_with_their_hasher() {
        let cheap = Argon2Config { memory_kib: 1024, iterations: 1, parallelism: 1 };
        let h = PinHasher::new(&Secret::new("pepper"), &cheap, 2).expect("hasher");
        let pin = Pin::parse("1357", 4).expect("pin");
        let stored = h.hash_async(pin.clone()).await.expect("hash");
        let answers = futures_util::future::join_all((0..6).map(|i| {
            let (h, stored) = (h.clone(), stored.clone());
            let pin = Pin::parse(if i % 2 == 0 { "1357" } else { "1358" }, 4).expect("pin");
            async move { h.verify_async(pin, Some(stored)).await }
        }))
        .await;
        assert_eq!(answers, vec![true, false, true, false, true, false]);
        let queue = h.queue.clone();
        drop(h);
        // Only the test's own sender is left; dropping it closes the queue.
        drop(queue);
    }
}
