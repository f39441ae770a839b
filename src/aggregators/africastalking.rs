//! Africa's Talking: form-encoded USSD webhooks answered with `CON `/`END `.

use crate::domain::{Msisdn, NumberPlan};
use crate::inbound::{InboundSms, SessionEnd, UssdRequest, UssdSessionEvent};
use crate::notify::delivery::Report;
use serde::Deserialize;

pub const NAME: &str = "africastalking";

/// The USSD webhook's form fields.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UssdForm {
    pub session_id: String,
    pub service_code: String,
    pub phone_number: String,
    #[serde(default)]
    pub network_code: String,
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("malformed form body: {0}")]
    Malformed(String),
    #[error("{0}")]
    Invalid(String),
    /// A well-formed number of another country: the caller gets a screen
    /// saying whose numbers mkoba serves, not an HTTP error.
    #[error("{0} is not a number of this service's country")]
    ForeignNumber(String),
}

/// Longest `text` accepted: far more than a real session types.
const TEXT_CHARS_MAX: usize = 1_000;
/// Longest session or message id accepted.
const ID_CHARS_MAX: usize = 128;

fn bounded_id<'a>(field: &str, value: &'a str) -> Result<&'a str, AdapterError> {
    let id = value.trim();
    if id.is_empty() || id.len() > ID_CHARS_MAX {
        return Err(AdapterError::Invalid(format!("{field} must be 1 to {ID_CHARS_MAX} characters")));
    }
    Ok(id)
}

fn check_text(text: &str) -> Result<(), AdapterError> {
    if text.chars().count() > TEXT_CHARS_MAX {
        return Err(AdapterError::Invalid("text is too long".into()));
    }
    Ok(())
}

fn phone(field: &str, value: &str, plan: &NumberPlan) -> Result<Msisdn, AdapterError> {
    Msisdn::parse(value, plan).map_err(|_| {
        let digits = value.trim().strip_prefix('+').unwrap_or(value.trim());
        let international = value.trim().starts_with('+') && (8..=15).contains(&digits.len());
        if international && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with(&plan.country_code) {
            AdapterError::ForeignNumber(crate::domain::msisdn::mask_digits(digits))
        } else {
            AdapterError::Invalid(format!("{field} is not a valid number for this service"))
        }
    })
}

pub fn parse_ussd(body: &[u8], plan: &NumberPlan) -> Result<UssdRequest, AdapterError> {
    let form: UssdForm = serde_urlencoded::from_bytes(body).map_err(|e| AdapterError::Malformed(e.to_string()))?;
    let session_id = bounded_id("sessionId", &form.session_id)?;
    check_text(&form.text)?;
    let msisdn = phone("phoneNumber", &form.phone_number, plan)?;
    Ok(UssdRequest {
        aggregator: NAME,
        session_id: session_id.to_string(),
        service_code: form.service_code,
        msisdn,
        text: form.text,
        source: None,
    })
}

/// The inbound SMS webhook's form fields.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsForm {
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub date: String,
    pub id: String,
    #[serde(default)]
    pub link_id: String,
    #[serde(default)]
    pub network_code: String,
}

pub fn parse_sms(body: &[u8], plan: &NumberPlan) -> Result<InboundSms, AdapterError> {
    let form: SmsForm = serde_urlencoded::from_bytes(body).map_err(|e| AdapterError::Malformed(e.to_string()))?;
    let id = bounded_id("id", &form.id)?;
    check_text(&form.text)?;
    let from = phone("from", &form.from, plan)?;
    for (field, value) in [("to", &form.to), ("linkId", &form.link_id)] {
        if value.trim().len() > ID_CHARS_MAX {
            return Err(AdapterError::Invalid(format!("{field} must be at most {ID_CHARS_MAX} characters")));
        }
    }
    Ok(InboundSms {
        aggregator: NAME,
        id: id.to_string(),
        from,
        to: form.to.trim().to_string(),
        link_id: form.link_id.trim().to_string(),
        text: form.text,
        source: None,
    })
}

/// A delivery report's form fields.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryForm {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub phone_number: String,
    #[serde(default)]
    pub network_code: String,
    #[serde(default)]
    pub failure_reason: String,
    #[serde(default)]
    pub retry_count: String,
}

/// What an Africa's Talking delivery status means (see [`crate::notify::delivery`]).
pub fn delivery_report(status: &str) -> Report {
    match status {
        "Sent" | "Submitted" | "Buffered" => Report::InFlight,
        "Success" => Report::Delivered,
        "Rejected" | "Failed" | "AbsentSubscriber" | "Expired" => Report::Failed,
        _ => Report::Unknown,
    }
}

/// Longest delivery status accepted.
const STATUS_CHARS_MAX: usize = 64;

pub fn parse_delivery(body: &[u8]) -> Result<DeliveryForm, AdapterError> {
    let form: DeliveryForm = serde_urlencoded::from_bytes(body).map_err(|e| AdapterError::Malformed(e.to_string()))?;
    bounded_id("id", &form.id)?;
    if form.status.trim().is_empty() || form.status.chars().count() > STATUS_CHARS_MAX {
        return Err(AdapterError::Invalid(format!("status must be 1 to {STATUS_CHARS_MAX} characters")));
    }
    if form.phone_number.trim().is_empty() {
        return Err(AdapterError::Invalid("phoneNumber is required".into()));
    }
    Ok(form)
}

/// Africa's Talking's session-end notification ("events callback"). Its
/// `input` carries every input of the session, PINs included: it is not
/// even read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UssdEventForm {
    session_id: String,
    #[serde(default)]
    phone_number: String,
    status: String,
    #[serde(default)]
    hops_count: String,
    #[serde(default)]
    duration_in_millis: String,
    #[serde(default)]
    cost: String,
    #[serde(default)]
    error_message: String,
    #[serde(default)]
    service_code: String,
    #[serde(default)]
    network_code: String,
}

pub fn parse_ussd_event(body: &[u8], plan: &NumberPlan) -> Result<UssdSessionEvent, AdapterError> {
    let form: UssdEventForm = serde_urlencoded::from_bytes(body).map_err(|e| AdapterError::Malformed(e.to_string()))?;
    let session_id = bounded_id("sessionId", &form.session_id)?;
    let status = match form.status.trim() {
        "Success" => SessionEnd::Success,
        "Incomplete" => SessionEnd::Incomplete,
        "Failed" => SessionEnd::Failed,
        other => {
            let shown: String = other.chars().take(20).collect();
            return Err(AdapterError::Invalid(format!("status '{shown}' is not Success, Incomplete or Failed")));
        }
    };
    let short = |s: &str, n: usize| s.trim().chars().take(n).collect::<String>();
    Ok(UssdSessionEvent {
        session_id: session_id.to_string(),
        msisdn: Msisdn::parse(&form.phone_number, plan).ok(),
        status,
        hops_count: form.hops_count.trim().parse().unwrap_or(0),
        duration_ms: form.duration_in_millis.trim().parse().unwrap_or(0),
        cost: short(&form.cost, 40),
        error_message: short(&form.error_message, 200),
        service_code: short(&form.service_code, 40),
        network_code: short(&form.network_code, 20),
    })
}

/// Whether a body posted to the hop URL is in fact a session-end
/// notification (it has a `status` and no `text`): an aggregator pointed at
/// one URL for both must not have its events read as empty hops.
pub fn is_session_event(body: &[u8]) -> bool {
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) else {
        return false;
    };
    pairs.iter().any(|(k, _)| k == "status") && !pairs.iter().any(|(k, _)| k == "text")
}
