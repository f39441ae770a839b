//! A client for mkoba's USSD webhook that sends exactly what Africa's
//! Talking sends: `POST {url}/webhooks/africastalking/ussd?token=T` with the
//! form fields `sessionId`, `serviceCode`, `phoneNumber` (`+254…`),
//! `networkCode` and `text` (every input of the session so far joined by
//! `*`, empty on the first hop).

use std::fmt;

use reqwest::Url;

/// Path of mkoba's USSD webhook.
pub const USSD_PATH: &str = "/webhooks/africastalking/ussd";

/// Safaricom Kenya, the network code Africa's Talking reports most often.
pub const DEFAULT_NETWORK_CODE: &str = "63902";

/// mkoba's default service code.
pub const DEFAULT_SERVICE_CODE: &str = "*384#";

/// Why a hop got no HTTP answer (or the client could not be set up).
#[derive(Debug)]
pub enum UssdError {
    /// The base URL is not a valid http URL.
    BadUrl(String),
    /// Connection refused, timeout, broken body…
    Transport(reqwest::Error),
}

impl fmt::Display for UssdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl(msg) => write!(f, "bad URL: {msg}"),
            // Without the URL: it carries the webhook token.
            Self::Transport(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "cannot connect"
                } else {
                    "transport error"
                };
                write!(f, "{kind}: {}", strip_url(e))
            }
        }
    }
}

fn strip_url(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut msg = String::new();
    let mut source = e.source();
    while let Some(s) = source {
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&s.to_string());
        source = s.source();
    }
    if msg.is_empty() {
        "request failed".to_string()
    } else {
        msg
    }
}

impl std::error::Error for UssdError {}

/// The answer to one hop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UssdReply {
    /// HTTP status.
    pub status: u16,
    /// Raw body (`CON …` or `END …` when all is well).
    pub body: String,
}

impl UssdReply {
    /// `Some(true)` for `CON`, `Some(false)` for `END`, `None` for anything
    /// else (which Africa's Talking would treat as an error).
    pub fn continues(&self) -> Option<bool> {
        if self.body.starts_with("CON ") || self.body == "CON" {
            Some(true)
        } else if self.body.starts_with("END ") || self.body == "END" {
            Some(false)
        } else {
            None
        }
    }

    /// The screen shown to the user: the body without its `CON `/`END `.
    pub fn screen(&self) -> &str {
        match self.continues() {
            Some(_) => self.body.get(4..).unwrap_or(""),
            None => &self.body,
        }
    }

    /// `true` for HTTP 200 with a `CON`/`END` body.
    pub fn is_well_formed(&self) -> bool {
        self.status == 200 && self.continues().is_some()
    }
}

/// Sends USSD hops to one mkoba.
#[derive(Clone, Debug)]
pub struct UssdClient {
    http: reqwest::Client,
    endpoint: Url,
    service_code: String,
    network_code: String,
}

impl UssdClient {
    /// `base_url` is mkoba's root (`http://127.0.0.1:8080`); the webhook path
    /// and `?token=` are added here.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        token: &str,
        service_code: &str,
        network_code: &str,
    ) -> Result<Self, UssdError> {
        Ok(Self {
            http,
            endpoint: webhook_url(base_url, USSD_PATH, token)?,
            service_code: service_code.to_string(),
            network_code: network_code.to_string(),
        })
    }

    /// One hop. `phone` is E.164 digits (a leading `+` is added if missing);
    /// `text` is every input so far joined by `*`.
    pub async fn hop(&self, session_id: &str, phone: &str, text: &str) -> Result<UssdReply, UssdError> {
        let phone = crate::msisdn::plus_e164(phone);
        let form = [
            ("sessionId", session_id),
            ("serviceCode", self.service_code.as_str()),
            ("phoneNumber", phone.as_str()),
            ("networkCode", self.network_code.as_str()),
            ("text", text),
        ];
        let resp = self.http.post(self.endpoint.clone()).form(&form).send().await.map_err(UssdError::Transport)?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(UssdError::Transport)?;
        Ok(UssdReply { status, body })
    }
}

/// `{base_url}{path}?token={token}` (token URL-encoded).
pub fn webhook_url(base_url: &str, path: &str, token: &str) -> Result<Url, UssdError> {
    let joined = format!("{}{path}", base_url.trim_end_matches('/'));
    let mut url = Url::parse(&joined).map_err(|e| UssdError::BadUrl(format!("{base_url}: {e}")))?;
    if url.scheme() != "http" {
        return Err(UssdError::BadUrl(format!("{base_url}: only http:// is supported")));
    }
    url.query_pairs_mut().append_pair("token", token);
    Ok(url)
}

/// A fresh session id in Africa's Talking's style (`ATUid_<32 hex>`).
pub fn new_session_id() -> String {
    format!("ATUid_{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_replies() {
        let con = UssdReply { status: 200, body: "CON Welcome\n1. Send".to_string() };
        assert_eq!(con.continues(), Some(true));
        assert_eq!(con.screen(), "Welcome\n1. Send");
        let end = UssdReply { status: 200, body: "END".to_string() };
        assert_eq!(end.continues(), Some(false));
        assert_eq!(end.screen(), "");
        let odd = UssdReply { status: 200, body: "CONTINUE".to_string() };
        assert_eq!(odd.continues(), None);
        assert!(!odd.is_well_formed());
    }

    #[test]
    fn builds_webhook_urls() {
        let url = webhook_url("http://127.0.0.1:8080/", USSD_PATH, "a b&c").expect("valid");
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/webhooks/africastalking/ussd?token=a+b%26c");
        assert!(webhook_url("https://example.com", USSD_PATH, "t").is_err());
        assert!(webhook_url("not a url", USSD_PATH, "t").is_err());
        assert!(new_session_id().starts_with("ATUid_"));
    }
}
