//! The ledger writer (group commit, daily limits) and the database pool.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// Transfers committed together when they queue up (group commit).
    pub batch_max: usize,
    /// Transfers waiting for the writer before submitters wait for room.
    pub queue_depth: usize,
    /// Daily limits reset at midnight in this offset from UTC (EAT = 180).
    pub day_utc_offset_minutes: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub pool_size: u32,
    /// Connections kept open while idle (the CLI uses none).
    pub min_idle: u32,
    pub pool_timeout_ms: u64,
    pub busy_timeout_ms: u64,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig { batch_max: 256, queue_depth: 8_192, day_utc_offset_minutes: 180 }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { pool_size: 16, min_idle: 1, pool_timeout_ms: 5_000, busy_timeout_ms: 5_000 }
    }
}
