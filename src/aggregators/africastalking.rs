//! Africa's Talking: form-encoded USSD webhooks answered with `CON `/`END `.

use crate::domain::{Msisdn, NumberPlan};
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

pub fn parse_ussd(body: &[u8], plan: &NumberPlan) -> Result<UssdRequest, AdapterError> {
    let form: UssdForm = serde_urlencoded::from_bytes(body).map_err(|e| AdapterError::Malformed(e.to_string()))?;
    let session_id = form.session_id.trim();
    if session_id.is_empty() || session_id.len() > 128 {
        return Err(AdapterError::Invalid("sessionId must be 1 to 128 characters".into()));
    }
    if form.text.chars().count() > TEXT_CHARS_MAX {
        return Err(AdapterError::Invalid("text is too long".into()));
    }
    let msisdn = Msisdn::parse(&form.phone_number, plan)
        .map_err(|_| AdapterError::Invalid("phoneNumber is not a valid number for this service".into()))?;
    let _ = form.network_code;
    Ok(UssdRequest {
        aggregator: NAME,
        session_id: session_id.to_string(),
        service_code: form.service_code,
        msisdn,
        text: form.text,
    })
}
