//! PIN settings: length, attempts, and the argon2id cost of hashing.

use super::Secret;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PinConfig {
    pub length: usize,
    pub max_attempts: u32,
    pub argon2: Argon2Config,
    pub pepper: Secret,
    /// PIN verifications running at once; each holds `argon2.memory_kib`.
    pub verify_concurrency: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PinConfig {
    fn default() -> Self {
        PinConfig {
            length: 4,
            max_attempts: 3,
            argon2: Argon2Config::default(),
            pepper: Secret::default(),
            verify_concurrency: 2,
        }
    }
}

impl Default for Argon2Config {
    /// OWASP's argon2id setting: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Argon2Config { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}
