//! The OpenAPI document against the routes: every operation it lists is
//! served (a valid call is not 404 or 405), and every route is in it.

use super::{api, idem, Api};
use crate::helpers::{documented_and_routed, TestDb};
use serde_json::{json, Value};

/// A valid call of `method path` (ids filled in with real ones): the status.
async fn call(api: &Api, method: &str, path: &str, ids: &Ids) -> u16 {
    let path = path
        .trim_start_matches("/api/v1")
        .replace("/payment-requests/{id}", &format!("/payment-requests/{}", ids.request))
        .replace("/allowances/{id}", &format!("/allowances/{}", ids.allowance))
        .replace("{reference}", &ids.reference);
    let body = match path.as_str() {
        "/payment-requests" => json!({"msisdn": "0712000001", "amount_minor": 100, "description": "x"}),
        "/allowances" => json!({"msisdn": "0712000001", "limit_minor": 100, "period": "day", "description": "x"}),
        "/charges" => json!({"allowance_id": ids.allowance, "amount_minor": 100, "description": "x"}),
        "/payouts" => json!({"msisdn": "0712000002", "amount_minor": 100, "description": "x"}),
        "/refunds" => json!({"reference": ids.reference, "amount_minor": 100}),
        _ => Value::Null,
    };
    let answer = match method {
        "get" => api.get(&path).await,
        "post" => api.post(&path, &idem(), body).await,
        other => panic!("the document lists {other} {path}, which this test does not know how to call"),
    };
    answer.status
}

struct Ids {
    request: String,
    allowance: String,
    reference: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_served_and_every_route_documented() {
    let api = api(TestDb::sqlite()).await;
    let doc = api.send(api.app.client.get(api.url("/openapi.json"))).await;
    assert_eq!(doc.status, 200, "the document needs no key");
    assert!(doc.body["openapi"].as_str().unwrap_or("").starts_with("3."), "{}", doc.body["openapi"]);
    assert_eq!(doc.body["components"]["securitySchemes"]["api_key"]["scheme"], "bearer");
    let (documented, routed) = documented_and_routed(&doc.body, mkoba::http::api::route_table());
    assert_eq!(documented, routed, "the document and the routes list the same operations");
    assert!(routed.contains(&("post".into(), "/api/v1/charges".into())));
    assert_eq!(routed.len(), 10, "{routed:?}");

    let request = api
        .post("/payment-requests", &idem(), json!({"msisdn": "0712000001", "amount_minor": 100, "description": "x"}))
        .await;
    let ids = Ids {
        request: request.str("id"),
        allowance: api.active_allowance(10_000).await,
        reference: api.payment(10).await.reference,
    };
    for (method, path) in &documented {
        let status = call(&api, method, path, &ids).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: a valid call answered {status} (404/405 would mean it is not served)"
        );
    }
}
