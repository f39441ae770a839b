//! Loading: the layers (defaults, the file, the `MKOBA_…` environment) and
//! the errors that name where a bad value came from.

use super::Config;
use serde::Deserialize;
use std::fmt;
use std::path::Path;

/// A list as the file gives it, or as an environment variable does: a TOML
/// array literal (`[{ up_to_minor = 500, fee_minor = 0 }]`) or, for lists of
/// plain values, a comma-separated string (`10.0.0.0/8, 2001:db8::/32`;
/// blanks around and empty items are dropped).
pub(super) fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    struct ListVisitor<T>(std::marker::PhantomData<T>);

    impl<'de, T: serde::de::DeserializeOwned> serde::de::Visitor<'de> for ListVisitor<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list, a TOML array literal or a comma-separated string")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<T>, A::Error> {
            Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Vec<T>, E> {
            if text.trim_start().starts_with('[') {
                let doc: toml::Table = toml::from_str(&format!("v = {text}")).map_err(|e| E::custom(e.message()))?;
                let items = doc.get("v").cloned().ok_or_else(|| E::custom("no value"))?;
                return Vec::deserialize(items).map_err(|e| E::custom(e.message()));
            }
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| T::deserialize(serde::de::value::StrDeserializer::<E>::new(item)))
                .collect()
        }
    }

    d.deserialize_any(ListVisitor(std::marker::PhantomData))
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("config file {path} is not valid TOML: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("configuration: {0}")]
    Invalid(String),
}

/// Environment variables that belong to tooling, not to the config tree.
const ENV_NOT_KEYS: &[&str] = &["MKOBA_CONFIG", "MKOBA_LOG", "MKOBA_LOG_FORMAT"];

impl ConfigError {
    /// Names the variable when the bad value (or unknown key) came from one,
    /// else the file.
    fn from_layers(e: config::ConfigError, path: &str, vars: &config::Map<String, String>) -> ConfigError {
        let key = match &e {
            config::ConfigError::Type { key, .. } | config::ConfigError::At { key, .. } => key.clone(),
            _ => None,
        };
        let message = e.to_string();
        let unknown = message.split("unknown field `").nth(1).and_then(|rest| rest.split('`').next());
        let key = match (key, unknown) {
            (Some(key), Some(field)) => format!("{key}.{field}"),
            (None, Some(field)) => field.to_string(),
            (key, None) => key.unwrap_or_default(),
        };
        let var = vars
            .keys()
            .find(|var| {
                let var_key = var["MKOBA_".len()..].to_ascii_lowercase().replace("__", ".");
                !key.is_empty() && (var_key == key || var_key.starts_with(&format!("{key}.")))
            })
            .cloned();
        match (var, e) {
            (Some(var), e) => ConfigError::Env { var, message: e.to_string() },
            (None, config::ConfigError::FileParse { cause, .. }) => {
                ConfigError::Parse { path: path.into(), message: cause.to_string() }
            }
            (None, e) => ConfigError::Parse { path: path.into(), message: e.to_string() },
        }
    }
}

impl Config {
    /// Defaults, then the file (if any), then the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let file = match path {
            Some(p) => Some((
                p.display().to_string(),
                std::fs::read_to_string(p)
                    .map_err(|source| ConfigError::Read { path: p.display().to_string(), source })?,
            )),
            None => None,
        };
        Config::from_sources(file.as_ref().map(|(p, t)| (p.as_str(), t.as_str())), std::env::vars())
    }

    /// Builds a config from a file's text and a set of environment variables:
    /// the defaults, the file over them, then the `MKOBA_…` variables
    /// (config-rs merges the layers key by key; a list replaces a list).
    /// Variables stay text: each value takes the type of the field it sets,
    /// so a token `0123` stays a string and `MKOBA_PIN__LENGTH=4` is a number.
    pub fn from_sources(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let defaults = config::Config::try_from(&Config::default()).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let mut layers = config::Config::builder().add_source(defaults);
        if let Some((_, text)) = file {
            layers = layers.add_source(config::File::from_str(text, config::FileFormat::Toml));
        }
        let vars: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("MKOBA_") && !ENV_NOT_KEYS.contains(&k.as_str()))
            .filter(|(k, _)| !k.starts_with("MKOBA_TEST_") && !k.starts_with("MKOBA_BARS_"))
            .collect();
        let layers = layers.add_source(
            config::Environment::with_prefix("MKOBA").prefix_separator("_").separator("__").source(Some(vars.clone())),
        );
        let path = file.map_or("(merged configuration)", |(path, _)| path);
        let config: Config = layers
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| ConfigError::from_layers(e, path, &vars))?;
        config.validate()?;
        Ok(config)
    }
}
