//! A POST's JSON body: `application/json` (415 otherwise), at most
//! `api.max_body_bytes` (413), valid JSON (400 `invalid_json`) of the
//! endpoint's shape (400 `invalid_request`: a missing field, a wrong type,
//! an unknown field, `1.5` for an integer). Also the request's fingerprint
//! for idempotency: SHA-256 of the method, the path and the body's JSON in
//! a canonical form (keys sorted, no spaces), so a retry that re-serialises
//! the same object is the same request.

use super::errors::ApiError;
use crate::domain::hex;
use crate::startup::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A parsed body with its request's fingerprint.
pub struct JsonBody<T> {
    pub value: T,
    /// Hex SHA-256 of method, path and canonical body.
    pub hash: String,
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<JsonBody<T>, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<web::Data<AppState>>().map(|s| s.config.api.max_body_bytes);
        let checked = limit.ok_or_else(|| ApiError::internal(&"no app state")).and_then(|limit| {
            check_headers(req, limit)?;
            Ok(limit)
        });
        let (method, path) = (req.method().to_string(), req.path().to_string());
        let mut payload = payload.take();
        Box::pin(async move {
            let limit = checked?;
            let mut bytes = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
                if bytes.len() + chunk.len() > limit {
                    return Err(too_large(limit));
                }
                bytes.extend_from_slice(&chunk);
            }
            parse(&method, &path, &bytes)
        })
    }
}

fn too_large(limit: usize) -> ApiError {
    let message = format!("the body is larger than {limit} bytes");
    ApiError::new(actix_web::http::StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
}

/// The content type and declared length, before any byte is read.
fn check_headers(req: &HttpRequest, limit: usize) -> Result<(), ApiError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        let message = "the body must be JSON (Content-Type: application/json)";
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        ));
    }
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    match declared {
        Some(n) if n > limit => Err(too_large(limit)),
        _ => Ok(()),
    }
}

fn parse<T: DeserializeOwned>(method: &str, path: &str, bytes: &[u8]) -> Result<JsonBody<T>, ApiError> {
    let json: Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request("invalid_json", format!("not JSON: {e}")))?;
    let hash = fingerprint(method, path, &json);
    let value = T::deserialize(json).map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
    Ok(JsonBody { value, hash })
}

/// SHA-256 of method, path and the canonical body.
pub fn fingerprint(method: &str, path: &str, body: &Value) -> String {
    let mut canonical = Vec::with_capacity(256);
    write_canonical(body, &mut canonical);
    let mut sha = Sha256::new();
    for part in [method.as_bytes(), b"\n", path.as_bytes(), b"\n", canonical.as_slice()] {
        sha.update(part);
    }
    hex(&sha.finalize())
}

/// JSON with object keys sorted and no whitespace, whatever serde_json's
/// map order is. Strings and numbers are written as serde_json writes them,
/// straight into `out`.
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by_key(|&(k, _)| k);
            out.push(b'{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                scalar(k, out);
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        other => scalar(other, out),
    }
}

fn scalar<T: serde::Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    // A string, number, bool or null always serialises, into a Vec without I/O.
    let _ = serde_json::to_writer(out, v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_the_sha256_of_method_path_and_canonical_json() {
        // Pinned: a stored request's fingerprint must stay what it was, or a
        // retry after an upgrade would be refused as another request.
        let body: Value =
            serde_json::from_str(r#"{ "b": 1, "a": {"y": [1, 2.5, null, true], "x": "s\"q\u00e9"} }"#).expect("json");
        let canonical = "{\"a\":{\"x\":\"s\\\"qé\",\"y\":[1,2.5,null,true]},\"b\":1}";
        let expected = hex(&Sha256::digest(format!("POST\n/api/v1/charges\n{canonical}").as_bytes()));
        assert_eq!(fingerprint("POST", "/api/v1/charges", &body), expected);
    }

    #[test]
    fn the_fingerprint_ignores_key_order_and_spacing_but_not_values_or_path() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "s"}}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{"a":{"x":"s","y":[1,2]},"b":1}"#).expect("json");
        let c: Value = serde_json::from_str(r#"{"a":{"x":"s","y":[2,1]},"b":1}"#).expect("json");
        assert_eq!(fingerprint("POST", "/p", &a), fingerprint("POST", "/p", &b));
        assert_ne!(fingerprint("POST", "/p", &a), fingerprint("POST", "/p", &c));
        assert_ne!(fingerprint("POST", "/p", &a), fingerprint("POST", "/q", &a));
    }
}
