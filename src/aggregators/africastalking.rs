//! Africa's Talking: form-encoded USSD webhooks answered with `CON `/`END `.

use crate::domain::{Msisdn, NumberPlan};
use crate::notify::delivery::Report;
use crate::ussd::UssdRequest;
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
    Msisdn::parse(value, plan)
        .map_err(|_| AdapterError::Invalid(format!("{field} is not a valid number for this service")))
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

pub fn parse_sms(body: &[u8], plan: &NumberPlan) -> Result<crate::sms::InboundSms, AdapterError> {
    let form: SmsForm = serde_urlencoded::from_bytes(body).map_err(|e| AdapterError::Malformed(e.to_string()))?;
    let id = bounded_id("id", &form.id)?;
    check_text(&form.text)?;
    let from = phone("from", &form.from, plan)?;
    for (field, value) in [("to", &form.to), ("linkId", &form.link_id)] {
        if value.trim().len() > ID_CHARS_MAX {
            return Err(AdapterError::Invalid(format!("{field} must be at most {ID_CHARS_MAX} characters")));
        }
    }
    Ok(crate::sms::InboundSms {
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
