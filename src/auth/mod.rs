//! PINs: argon2id with a pepper (kept out of the database), verified off the
//! async executor with bounded concurrency.

pub mod lockout;

use crate::config::{Argon2Config, Secret};
use crate::domain::Pin;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;

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
#[derive(Clone)]
pub struct PinHasher {
    inner: Arc<HasherInner>,
}

struct HasherInner {
    pepper: Vec<u8>,
    params: Params,
    /// Checked against when the account does not exist, so that an unknown
    /// number costs as much time as a real one.
    dummy_hash: String,
    permits: Semaphore,
}

impl PinHasher {
    pub fn new(pepper: &Secret, argon: &Argon2Config, concurrency: usize) -> Result<PinHasher, AuthError> {
        if !pepper.is_set() {
            return Err(AuthError::NoPepper);
        }
        let params = Params::new(argon.memory_kib, argon.iterations, argon.parallelism, None)
            .map_err(|e| AuthError::Params(e.to_string()))?;
        let mut inner = HasherInner {
            pepper: pepper.expose().as_bytes().to_vec(),
            params,
            dummy_hash: String::new(),
            permits: Semaphore::new(concurrency.max(1)),
        };
        inner.dummy_hash = inner.hash_bytes(b"not-a-pin")?;
        Ok(PinHasher { inner: Arc::new(inner) })
    }

    /// A PHC string (`$argon2id$v=19$m=…`) with a fresh salt. Blocking: ≈15 ms.
    pub fn hash(&self, pin: &Pin) -> Result<String, AuthError> {
        self.inner.hash_bytes(pin.expose().as_bytes())
    }

    /// Whether `pin` matches `stored`; with no stored hash it spends the same
    /// time and says no. Blocking.
    pub fn verify(&self, pin: &Pin, stored: Option<&str>) -> bool {
        let (hash, real) = match stored {
            Some(h) => (h, true),
            None => (self.inner.dummy_hash.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let Ok(argon) = self.inner.argon2() else {
            return false;
        };
        argon.verify_password(pin.expose().as_bytes(), &parsed).is_ok() && real
    }

    /// Verifies on the blocking pool, at most `pin.verify_concurrency` at once
    /// (each holds `pin.argon2.memory_kib` of memory).
    pub async fn verify_async(&self, pin: Pin, stored: Option<String>) -> bool {
        let Ok(_permit) = self.inner.permits.acquire().await else {
            return false;
        };
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.verify(&pin, stored.as_deref())).await.unwrap_or(false)
    }

    pub async fn hash_async(&self, pin: Pin) -> Result<String, AuthError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.hash(&pin)).await.map_err(|e| AuthError::Hash(e.to_string()))?
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
