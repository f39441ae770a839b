//! `metrics.*`: whether mkoba keeps Prometheus metrics (served at
//! `GET /metrics`). Off, every recording is a no-op, so the cost of keeping
//! them can be measured.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true }
    }
}
