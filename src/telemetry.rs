//! Logging with `tracing`. Filter with `MKOBA_LOG` (default `info`); format
//! with `MKOBA_LOG_FORMAT`: `text` (the default) or `json`, one JSON object
//! a line with the spans it sits in (a webhook's `request` span carries its
//! `request_id`). Colours only when stderr is a terminal. Never log a PIN, a
//! token, raw USSD text or a whole phone number (mask it with
//! [`crate::domain::msisdn::mask_digits`]).
//!
//! Metrics are not here: see [`crate::metrics`].

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// `MKOBA_LOG_FORMAT`'s value; `Err` names an unknown one.
    pub fn parse(value: Option<&str>) -> Result<LogFormat, String> {
        match value.map(str::trim) {
            None | Some("") => Ok(LogFormat::Text),
            Some(v) if v.eq_ignore_ascii_case("text") => Ok(LogFormat::Text),
            Some(v) if v.eq_ignore_ascii_case("json") => Ok(LogFormat::Json),
            Some(v) => Err(format!("MKOBA_LOG_FORMAT={v:?} is not text or json; logging as text")),
        }
    }
}

pub fn init() {
    let filter = EnvFilter::try_from_env("MKOBA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let (format, problem) = match LogFormat::parse(std::env::var("MKOBA_LOG_FORMAT").ok().as_deref()) {
        Ok(format) => (format, None),
        Err(problem) => (LogFormat::Text, Some(problem)),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        // A JSON line never carries colour codes.
        LogFormat::Json => {
            builder.json().with_ansi(false).with_current_span(false).with_span_list(true).flatten_event(true).try_init()
        }
    };
    if let Some(problem) = problem {
        tracing::warn!("{problem}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_format_parses_text_and_json_and_refuses_others() {
        assert_eq!(LogFormat::parse(None), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(Some("JSON")), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse(Some(" text ")), Ok(LogFormat::Text));
        assert!(LogFormat::parse(Some("yaml")).is_err());
    }
}
