//! Secrets: a string that is never printed, and the masked TOML of
//! `config show`.

use super::Config;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A secret string: empty means "not configured". Never printed.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() { "Secret(****)" } else { "Secret(unset)" })
    }
}

impl Config {
    /// The effective configuration as TOML, secrets masked.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        for secret in [
            &mut shown.webhook_token,
            &mut shown.pin.pepper,
            &mut shown.sms.api_key,
            &mut shown.smtp.url,
            &mut shown.sim_swap.check_token,
        ] {
            *secret = Secret::new(mask(secret));
        }
        shown.database_url = mask_url_password(&shown.database_url);
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

fn mask(secret: &Secret) -> String {
    if secret.is_set() {
        "********".into()
    } else {
        String::new()
    }
}

/// `postgres://user:pw@host/db` → `postgres://user:****@host/db`.
pub fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:****@{host}"),
        None => url.to_string(),
    }
}
