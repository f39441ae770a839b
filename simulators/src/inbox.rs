//! Reads mkoba's local inbox, `GET {url}/dev/inbox/{phone}?token=T`: the SMS
//! a mkoba without an aggregator account (`sms.api_key` unset) keeps on its
//! machine instead of sending them.

use std::fmt;

use serde::Deserialize;

/// One SMS kept in mkoba's local inbox.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct LocalMessage {
    pub id: i64,
    /// The sender id or short code it would have come from.
    pub from: String,
    pub message: String,
    #[serde(default)]
    pub link_id: Option<String>,
    pub created_at_ms: i64,
}

#[derive(Debug, Deserialize)]
struct Inbox {
    messages: Vec<LocalMessage>,
}

#[derive(Debug)]
pub enum InboxError {
    /// 404: mkoba has SMS credentials, so its messages went to the aggregator.
    NotServed,
    /// Another HTTP status, with mkoba's text.
    Http(u16, String),
    /// No answer, or an unreadable one (never shows the URL: it has the token).
    Transport(String),
}

impl fmt::Display for InboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotServed => {
                f.write_str("mkoba serves no local inbox: it has SMS credentials and sends through the aggregator")
            }
            Self::Http(status, text) => write!(f, "HTTP {status}: {}", text.trim()),
            Self::Transport(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for InboxError {}

/// The messages mkoba kept for `phone` (E.164 digits), oldest first.
pub async fn local_inbox(
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
    phone: &str,
) -> Result<Vec<LocalMessage>, InboxError> {
    let mut url = reqwest::Url::parse(base_url).map_err(|e| InboxError::Transport(format!("bad URL: {e}")))?;
    url.path_segments_mut()
        .map_err(|()| InboxError::Transport("bad URL: not a base".into()))?
        .pop_if_empty()
        .extend(["dev", "inbox", phone]);
    url.query_pairs_mut().append_pair("token", token);
    let resp = http.get(url).send().await.map_err(|e| InboxError::Transport(e.without_url().to_string()))?;
    let status = resp.status().as_u16();
    if status == 404 {
        return Err(InboxError::NotServed);
    }
    if status != 200 {
        return Err(InboxError::Http(status, resp.text().await.unwrap_or_default()));
    }
    let inbox: Inbox = resp.json().await.map_err(|e| InboxError::Transport(e.without_url().to_string()))?;
    Ok(inbox.messages)
}
