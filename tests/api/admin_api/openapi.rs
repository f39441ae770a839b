//! The admin OpenAPI document against the routes: the same operations, and
//! every documented one served (a valid call is not the router's 404/405).

use super::admin;
use crate::helpers::{documented_and_routed, kes, TestDb};
use mkoba::ledger::TransferKind;
use serde_json::{json, Value};

#[tokio::test]
async fn every_documented_operation_is_served_and_every_route_documented() {
    let a = admin(TestDb::sqlite()).await;
    let doc = a.send(a.app.client.get(a.url("/openapi.json"))).await;
    assert_eq!(doc.status, 200, "the document needs no key");
    assert!(doc.body["openapi"].as_str().unwrap_or("").starts_with("3."), "{}", doc.body["openapi"]);
    assert_eq!(doc.body["components"]["securitySchemes"]["admin_key"]["scheme"], "bearer");
    let (documented, routed) = documented_and_routed(&doc.body, mkoba::http::admin::route_table());
    assert_eq!(documented, routed, "the document and the routes list the same operations");
    assert_eq!(routed.len(), 21, "{routed:?}");

    // Real things for the path parameters: a transfer to reverse, one held
    // would need a rule, so release/return get a transfer that is not held
    // (409 is an answer from the handler, not the router).
    let t = &a.app.t;
    let sent = t.transfer(TransferKind::P2p, a.w.amina, a.w.baraka, kes(10)).await.expect("send");
    let id = a.w.baraka;
    t.ledger
        .write(move |c| mkoba::ledger::account::set_status(c, id, mkoba::ledger::AccountStatus::Locked))
        .await
        .expect("lock");
    // Resume comes before suspend in the walk: the account starts suspended.
    let amina = a.w.amina;
    t.ledger
        .write(move |c| mkoba::ledger::account::set_status(c, amina, mkoba::ledger::AccountStatus::Suspended))
        .await
        .expect("suspend");
    for (method, path) in &documented {
        let concrete = path
            .trim_start_matches("/admin/v1")
            .replace("{reference}", &sent.reference)
            .replace("{account}", if path.ends_with("/unlock") { "0712000002" } else { "0712000001" });
        let body = match concrete.as_str() {
            "/agents" => json!({"msisdn": "0722000009", "name": "Duka Tisa", "pin": "2468"}),
            "/merchants" => json!({"till": "55999", "name": "Kibanda", "msisdn": "0799000001"}),
            "/float" => json!({"agent": "0722000001", "amount_minor": 100}),
            "/sim-swaps" => json!({"msisdn": "0712000003"}),
            _ => Value::Null,
        };
        let answer = match method.as_str() {
            "get" if concrete == "/openapi.json" => a.send(a.app.client.get(a.url(&concrete))).await,
            "get" => a.get(&concrete).await,
            "post" => a.post_as(&a.op, &concrete, Some(&format!("walk-{concrete}")), body).await,
            other => panic!("the document lists {other} {path}, which this test does not know how to call"),
        };
        let from_handler =
            (200..300).contains(&answer.status) || (answer.status == 409 && path.starts_with("/admin/v1/held/"));
        assert!(from_handler, "{method} {path} ({concrete}): answered {} {:?}", answer.status, answer.body);
    }
}
