//! The client against a small stand-in server over real HTTP: what it puts
//! on the wire (key, Idempotency-Key, body, path) and how it reads answers.

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use super::*;
use crate::merchant::types::Period;

/// One request as the stand-in saw it.
#[derive(Clone, Debug)]
struct SeenRequest {
    method: String,
    path: String,
    authorization: Option<String>,
    idempotency_key: Option<String>,
    body: Value,
}

#[derive(Default)]
struct Seen {
    requests: Vec<SeenRequest>,
}

type Shared = Arc<Mutex<Seen>>;

async fn stand_in(req: HttpRequest, body: web::Bytes, seen: web::Data<Shared>) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock().expect("lock").requests.push(SeenRequest {
        method: req.method().to_string(),
        path: req.path().to_string(),
        authorization: header("authorization"),
        idempotency_key: header("idempotency-key"),
        body: json.clone(),
    });
    if header("authorization").as_deref() != Some("Bearer test-key") {
        return HttpResponse::Unauthorized().json(json!({"error": {"code": "unauthorized", "message": "bad key"}}));
    }
    match (req.method().as_str(), req.path()) {
        ("POST", "/prefix/api/v1/charges") => HttpResponse::Created().json(json!({
            "reference": "QK7H2M9XTA", "amount_minor": json["amount_minor"], "fee_minor": 0,
            "remaining_minor": 4_900, "idempotency_key": header("idempotency-key")
        })),
        ("POST", "/prefix/api/v1/allowances") => {
            HttpResponse::Created().json(json!({"id": "al_1", "status": "pending", "code": "K7Q2"}))
        }
        ("POST", "/prefix/api/v1/payouts") => HttpResponse::UnprocessableEntity()
            .json(json!({"error": {"code": "insufficient_funds", "message": "the till has KES 0.00"}})),
        ("GET", "/prefix/api/v1/allowances/al%2F1") => HttpResponse::Ok().json(json!({
            "id": "al/1", "status": "active", "limit_minor": 5_000, "remaining_minor": 5_000, "period": "day"
        })),
        ("GET", "/prefix/api/v1/balance") => HttpResponse::BadGateway().body("<html>bad gateway</html>"),
        _ => HttpResponse::NotFound().json(json!({"error": {"code": "not_found", "message": "no such thing"}})),
    }
}

async fn start() -> (String, Shared, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let seen: Shared = Arc::default();
    let data = web::Data::new(seen.clone());
    let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(stand_in)))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("listen")
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{addr}/prefix/"), seen, handle)
}

#[tokio::test]
async fn posts_carry_the_key_and_an_idempotency_key() {
    let (base, seen, server) = start().await;
    let client = MerchantClient::new(&base, "test-key").expect("client");

    let body = NewCharge::new("al_1", 100, "Article 1");
    let first = client.charge(&body).await.expect("charged");
    let second = client.charge(&body).await.expect("charged");
    assert_eq!((first.reference.as_str(), first.amount_minor, first.remaining_minor), ("QK7H2M9XTA", 100, 4_900));
    let key_of = |c: &Charge| c.extra["idempotency_key"].as_str().map(str::to_string);
    assert!(key_of(&first).is_some_and(|k| k.starts_with("sim-")));
    assert_ne!(key_of(&first), key_of(&second), "a fresh key per call");

    let keyed = body.clone().with_idempotency_key("article-1");
    let third = client.charge(&keyed).await.expect("charged");
    assert_eq!(key_of(&third).as_deref(), Some("article-1"));

    let allowance =
        client.create_allowance(&NewAllowance::new("0712345678", 5_000, Period::Day, "news")).await.expect("created");
    assert_eq!(allowance.status, AllowanceStatus::Pending);
    assert_eq!(allowance.code.as_deref(), Some("K7Q2"));

    let requests = seen.lock().expect("lock").requests.clone();
    let first_seen = &requests[0];
    assert_eq!((first_seen.method.as_str(), first_seen.path.as_str()), ("POST", "/prefix/api/v1/charges"));
    assert_eq!(first_seen.authorization.as_deref(), Some("Bearer test-key"));
    assert!(first_seen.idempotency_key.is_some());
    assert_eq!(first_seen.body, json!({"allowance_id": "al_1", "amount_minor": 100, "description": "Article 1"}));
    assert_eq!(
        requests[3].body,
        json!({"msisdn": "0712345678", "limit_minor": 5_000, "period": "day", "description": "news"})
    );
    server.stop(false).await;
}

#[tokio::test]
async fn gets_encode_ids_and_errors_are_typed() {
    let (base, seen, server) = start().await;
    let client = MerchantClient::new(&base, "test-key").expect("client");

    let allowance = client.allowance(&AllowanceId::from("al/1")).await.expect("found");
    assert_eq!((allowance.status, allowance.remaining_minor), (AllowanceStatus::Active, Some(5_000)));
    assert!(seen.lock().expect("lock").requests[0].idempotency_key.is_none(), "no Idempotency-Key on a GET");

    let refused = client.payout(&NewPayout::new("0712345678", 100, "prize")).await.expect_err("refused");
    assert_eq!(
        refused.api(),
        Some(&ApiError {
            status: 422,
            code: "insufficient_funds".to_string(),
            message: "the till has KES 0.00".to_string()
        })
    );
    let missing = client.transaction(&Reference::from("NOPE000000")).await.expect_err("404");
    assert_eq!((missing.status(), missing.code()), (Some(404), Some("not_found")));

    let not_json = client.balance().await.expect_err("502 page");
    assert!(matches!(&not_json, ClientError::Decode { status: 502, body, .. } if body.contains("bad gateway")));

    let wrong_key = MerchantClient::new(&base, "other").expect("client");
    assert_eq!(wrong_key.balance().await.expect_err("401").code(), Some("unauthorized"));

    let raw = client.raw_post("charges", &json!({"allowance_id": "al_1", "amount_minor": 1.5}), None).await;
    let raw = raw.expect("answered");
    assert_eq!(raw.status, 201);
    assert!(
        seen.lock().expect("lock").requests.last().is_some_and(|r| r.idempotency_key.is_none()),
        "raw_post sent no key"
    );

    server.stop(false).await;
    // A port nobody listens on, rather than the stopped server's: a worker
    // may still answer on a kept-alive connection for a moment after stop.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let nobody = format!("http://{}/prefix", free.local_addr().expect("addr"));
    drop(free);
    let unreachable = MerchantClient::new(&nobody, "test-key").expect("client");
    let gone = unreachable.balance().await.expect_err("nothing listens");
    assert!(matches!(gone, ClientError::Transport(_)), "{gone:?}");
}
