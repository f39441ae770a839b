//! Logging with `tracing`. Filter with `MKOBA_LOG` (default `info`). Never
//! log a PIN, a token, raw USSD text or a whole phone number.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("MKOBA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
