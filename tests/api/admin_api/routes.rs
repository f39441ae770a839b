//! Every route with its role, and each refusal: 401, 403 (audited, nothing
//! changed), 400 for bad path parameters and bodies, 404, 405, 409, 413.

use super::{admin, new_key};
use crate::helpers::{kes, TestDb};
use mkoba::admin::keys::{self, Role};
use mkoba::ledger::TransferKind;
use serde_json::{json, Value};

#[tokio::test]
async fn keys_are_checked_and_a_viewer_only_reads() {
    for db in TestDb::all() {
        let a = admin(db).await;
        let be = a.be();
        let me = a.get("/whoami").await;
        assert_eq!((me.status, me.body.clone()), (200, json!({"name": "ops", "role": "operator"})), "[{be}]");
        let me = a.get_as(&a.viewer, "/whoami").await;
        assert_eq!(me.body, json!({"name": "desk", "role": "viewer"}), "[{be}]");

        // No key, a wrong one, a merchant's, a revoked one: 401.
        let none = a.send(a.app.client.get(a.url("/whoami"))).await;
        assert_eq!((none.status, none.code()), (401, "unauthorized"), "[{be}] {none:?}");
        for wrong in ["mka_notakey", "nonsense", ""] {
            let answer = a.get_as(wrong, "/accounts/0712000001").await;
            assert_eq!((answer.status, answer.code()), (401, "unauthorized"), "[{be}] {wrong}: {answer:?}");
        }
        let gone = new_key(&a.app, "gone", Role::Operator).await;
        assert_eq!(a.get_as(&gone, "/whoami").await.status, 200, "[{be}]");
        let revoked = a.app.t.ledger.write(|c| keys::revoke(c, "gone", mkoba::domain::now_ms())).await;
        assert!(revoked.expect("revoke"), "[{be}]");
        assert_eq!(a.get_as(&gone, "/whoami").await.status, 401, "[{be}] a revoked key is refused at once");

        // A viewer reads, and its write is 403, changes nothing, and is audited.
        assert_eq!(a.get_as(&a.viewer, "/accounts/0712000001").await.status, 200, "[{be}]");
        let refused = a.post_as(&a.viewer, "/accounts/0712000001/suspend", None, Value::Null).await;
        assert_eq!((refused.status, refused.code()), (403, "forbidden"), "[{be}] {refused:?}");
        assert_eq!(a.get("/accounts/0712000001").await.body["status"], "active", "[{be}] nothing changed");
        let refused =
            a.post_as(&a.viewer, "/float", Some("v-1"), json!({"agent": "0722000001", "amount_minor": 100})).await;
        assert_eq!(refused.status, 403, "[{be}]");
        let entry = a.last_audit().await;
        assert_eq!(
            (entry["actor"].as_str(), entry["action"].as_str(), entry["outcome"].as_str()),
            (Some("desk"), Some("POST /admin/v1/float"), Some("forbidden")),
            "[{be}] {entry}"
        );
        let agent = a.get("/accounts/0722000001").await;
        assert_eq!(agent.body["balance_minor"], 900_500, "[{be}] no float moved: {agent:?}");
    }
}

#[tokio::test]
async fn accounts_are_shown_with_their_statements() {
    for db in TestDb::all() {
        let a = admin(db).await;
        let be = a.be();
        // Any accepted form of a number, or a till.
        for form in ["0712000001", "712000001", "+254712000001", "254712000001"] {
            let shown = a.get(&format!("/accounts/{form}")).await;
            assert_eq!(shown.status, 200, "[{be}] {form}");
            assert_eq!(
                (shown.str("msisdn"), shown.str("name"), shown.str("kind"), shown.str("status"), shown.str("tier")),
                ("254712000001".into(), "Amina Juma".into(), "customer".into(), "active".into(), "standard".into())
            );
            assert_eq!((shown.body["balance_minor"].as_i64(), shown.str("currency")), (Some(100_000), "KES".into()));
        }
        let till = a.get("/accounts/55123").await;
        assert_eq!((till.str("kind"), till.str("till")), ("merchant".into(), "55123".into()), "[{be}]");
        let bad = a.get("/accounts/hello").await;
        assert_eq!((bad.status, bad.code()), (400, "invalid_request"), "[{be}] {bad:?}");
        let unknown = a.get("/accounts/0799999999").await;
        assert_eq!((unknown.status, unknown.code()), (404, "not_found"), "[{be}]");

        // The statement, newest first, signed from the account's view.
        a.app.t.transfer(TransferKind::P2p, a.w.amina, a.w.baraka, kes(50)).await.expect("send");
        let st = a.get("/accounts/0712000001/statement?limit=5").await;
        assert_eq!(st.status, 200, "[{be}] {st:?}");
        assert_eq!(st.body["account"]["msisdn"], "254712000001");
        let entries = st.body["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 2, "[{be}] the deposit and the payment");
        assert_eq!((entries[0]["kind"].as_str(), entries[0]["amount_minor"].as_i64()), (Some("p2p"), Some(-5_000)));
        assert_eq!(entries[0]["counterparty"], "Baraka Otieno");
        assert_eq!(
            (entries[1]["kind"].as_str(), entries[1]["amount_minor"].as_i64()),
            (Some("cash_in"), Some(100_000))
        );
        let one = a.get("/accounts/0712000001/statement?limit=1").await;
        assert_eq!(one.body["entries"].as_array().map(Vec::len), Some(1), "[{be}]");
    }
}

#[tokio::test]
async fn accounts_are_suspended_resumed_and_unlocked_when_it_makes_sense() {
    for db in TestDb::all() {
        let a = admin(db).await;
        let be = a.be();
        // What makes no sense is 409, and audited.
        let s = a.post("/accounts/0712000001/suspend", Value::Null).await;
        assert_eq!((s.status, s.str("status")), (200, "suspended".into()), "[{be}] {s:?}");
        let again = a.post("/accounts/0712000001/suspend", Value::Null).await;
        assert_eq!((again.status, again.code()), (409, "invalid_state"), "[{be}]");
        let entry = a.last_audit().await;
        assert_eq!(
            (entry["action"].as_str(), entry["outcome"].as_str()),
            (Some("account.suspend"), Some("invalid_state"))
        );
        assert_eq!(
            a.post("/accounts/0712000001/unlock", Value::Null).await.status,
            409,
            "[{be}] suspended, not locked"
        );
        let r = a.post("/accounts/0712000001/resume", Value::Null).await;
        assert_eq!((r.status, r.str("status")), (200, "active".into()), "[{be}]");
        assert_eq!(a.post("/accounts/0712000001/resume", Value::Null).await.code(), "invalid_state", "[{be}]");
        assert_eq!(
            a.post("/accounts/0712000001/unlock", Value::Null).await.code(),
            "invalid_state",
            "[{be}] not locked"
        );
        let id = a.w.baraka;
        a.app
            .t
            .ledger
            .write(move |c| mkoba::ledger::account::set_status(c, id, mkoba::ledger::AccountStatus::Locked))
            .await
            .expect("lock");
        let u = a.post("/accounts/0712000002/unlock", Value::Null).await;
        assert_eq!((u.status, u.str("status")), (200, "active".into()), "[{be}] {u:?}");
        assert_eq!(a.post("/accounts/0799999999/suspend", Value::Null).await.status, 404, "[{be}]");
        let bad = a.post("/accounts/not-a-number/suspend", Value::Null).await;
        assert_eq!(bad.status, 400, "[{be}]");
        assert_eq!(a.last_audit().await["outcome"], "invalid_request", "[{be}] a bad parameter on a write is audited");
    }
}

#[tokio::test]
async fn agents_merchants_and_sim_swaps_are_created_and_bad_input_refused() {
    for db in TestDb::all() {
        let a = admin(db).await;
        let be = a.be();
        let body = json!({"msisdn": "0722000009", "name": "Duka Tisa", "pin": "2468", "extra": "ignored"});
        let created = a.post("/agents", body.clone()).await;
        assert_eq!(
            (created.status, created.str("kind"), created.str("msisdn")),
            (201, "agent".into(), "254722000009".into()),
            "[{be}] {created:?}"
        );
        let dup = a.post("/agents", body).await;
        assert_eq!((dup.status, dup.code()), (409, "already_exists"), "[{be}]");
        let m = a.post("/merchants", json!({"till": "55999", "name": "Kibanda", "msisdn": "0799000001"})).await;
        assert_eq!(
            (m.status, m.str("till"), m.str("msisdn")),
            (201, "55999".into(), "254799000001".into()),
            "[{be}] {m:?}"
        );
        let dup = a.post("/merchants", json!({"till": "55999", "name": "Kibanda", "msisdn": "0799000001"})).await;
        assert_eq!(dup.status, 409, "[{be}]");
        for bad in [
            json!({"msisdn": "12", "name": "X"}),
            json!({"msisdn": "0722000010", "name": "A\u{202e}B"}),
            json!({"msisdn": "0722000010", "name": "X", "pin": "1"}),
            json!({"name": "no number"}),
        ] {
            let answer = a.post("/agents", bad.clone()).await;
            assert_eq!(answer.status, 400, "[{be}] {bad}: {answer:?}");
        }
        assert_eq!(a.get("/accounts/0722000010").await.status, 404, "[{be}] nothing created");
        let huge = json!({"msisdn": "0722000011", "name": "x".repeat(100_000)});
        let too_big = a.post("/agents", huge).await;
        assert_eq!((too_big.status, too_big.code()), (413, "payload_too_large"), "[{be}]");
        let entry = a.last_audit().await;
        assert_eq!(
            (entry["action"].as_str(), entry["outcome"].as_str()),
            (Some("POST /admin/v1/agents"), Some("payload_too_large")),
            "[{be}] a write refused before its handler is audited too: {entry}"
        );
        let entries_before = a.audit(200).await.len();
        let not_json = a
            .send(
                a.app
                    .client
                    .post(a.url("/agents"))
                    .bearer_auth(&a.op)
                    .header("Content-Type", "application/json")
                    .body("{not json"),
            )
            .await;
        assert_eq!(not_json.status, 400, "[{be}] {not_json:?}");
        let bad_key =
            a.post_as(&a.op, "/float", Some("bad key"), json!({"agent": "0722000001", "amount_minor": 100})).await;
        assert_eq!(bad_key.status, 400, "[{be}] {bad_key:?}");
        let entries = a.audit(200).await;
        assert_eq!(entries.len(), entries_before + 2, "[{be}] each refused write audited once: {entries:?}");
        assert_eq!(entries[0]["action"], "POST /admin/v1/float", "[{be}]");
        assert_eq!(entries[1]["action"], "POST /admin/v1/agents", "[{be}]");

        let swap =
            a.post("/sim-swaps", json!({"msisdn": "0712000001", "swapped_at": "2026-11-30T09:00:00+03:00"})).await;
        assert_eq!(
            (swap.status, swap.str("msisdn"), swap.str("swapped_at")),
            (201, "254712000001".into(), "2026-11-30T06:00:00Z".into()),
            "[{be}] {swap:?}"
        );
        let future = a.post("/sim-swaps", json!({"msisdn": "0712000001", "swapped_at": "2999-01-01T00:00:00Z"})).await;
        assert_eq!(future.status, 400, "[{be}]");
        assert_eq!(a.post("/sim-swaps", json!({"msisdn": "0712000001"})).await.status, 201, "[{be}]");
    }
}

#[tokio::test]
async fn transfers_are_shown_and_reversed_once_and_the_reads_answer() {
    for db in TestDb::all() {
        let a = admin(db).await;
        let be = a.be();
        let sent = a.app.t.transfer(TransferKind::P2p, a.w.amina, a.w.baraka, kes(100)).await.expect("send");
        let shown = a.get(&format!("/transfers/{}", sent.reference)).await;
        assert_eq!(shown.status, 200, "[{be}] {shown:?}");
        assert_eq!(
            (shown.str("status"), shown.str("from"), shown.str("to"), shown.body["reversed_by"].clone()),
            ("completed".into(), "254712000001".into(), "254712000002".into(), Value::Null)
        );
        assert_eq!(shown.body["amount_minor"], 10_000);
        let bad = a.get("/transfers/nope").await;
        assert_eq!((bad.status, bad.code()), (400, "invalid_reference"), "[{be}]");
        assert_eq!(a.get("/transfers/ZZZZZZZZZ9").await.status, 404, "[{be}]");

        let path = format!("/transfers/{}/reverse", sent.reference);
        let reversed = a.post(&path, Value::Null).await;
        assert_eq!((reversed.status, reversed.str("reverses")), (201, sent.reference.clone()), "[{be}] {reversed:?}");
        assert_eq!(a.app.t.balance(a.w.baraka).await, 0, "[{be}]");
        let again = a.post(&path, Value::Null).await;
        assert_eq!((again.status, again.code()), (409, "already_reversed"), "[{be}] {again:?}");
        assert_eq!(a.app.t.balance(a.w.amina).await, 100_000, "[{be}] reversed once");
        let shown = a.get(&format!("/transfers/{}", sent.reference)).await;
        assert_eq!((shown.str("status"), shown.str("reversed_by")), ("reversed".into(), reversed.str("reference")));
        assert_eq!(a.post("/transfers/ZZZZZZZZZ9/reverse", Value::Null).await.status, 404, "[{be}]");
        // Spent by its recipient: refused, nothing moved.
        let paid = a.app.t.transfer(TransferKind::P2p, a.w.amina, a.w.baraka, kes(100)).await.expect("send");
        a.app.t.transfer(TransferKind::P2p, a.w.baraka, a.w.amina, kes(90)).await.expect("spend");
        let spent = a.post(&format!("/transfers/{}/reverse", paid.reference), Value::Null).await;
        assert_eq!((spent.status, spent.code()), (409, "reversal_funds_gone"), "[{be}] {spent:?}");
        a.app.t.assert_verified().await;

        let verify = a.get_as(&a.viewer, "/ledger/verify").await;
        assert_eq!((verify.status, verify.body.clone()), (200, json!({"ok": true, "problems": []})), "[{be}]");
        let agents = a.get_as(&a.viewer, "/agents").await;
        assert_eq!(agents.body["low_float_minor"], 100_000, "[{be}]");
        assert_eq!(agents.body["agents"][0]["msisdn"], "254722000001");
        assert_eq!(agents.body["agents"][0]["low"], false, "[{be}] {agents:?}");
        let alerts = a.get_as(&a.viewer, "/alerts?limit=5").await;
        assert!(alerts.body["alerts"].is_array(), "[{be}] {alerts:?}");
        let stats = a.get_as(&a.viewer, "/stats/transfers?hours=3").await;
        let hours = stats.body["hours"].as_array().expect("hours");
        assert_eq!(hours.len(), 3, "[{be}]");
        let counted: i64 = hours.iter().map(|h| h["count"].as_i64().unwrap_or(0)).sum();
        assert_eq!(counted, 6, "[{be}] float, deposit, two sends, the reversal, the spend: {stats:?}");
        assert!(hours[0]["hour"].as_str().unwrap_or("").ends_with(":00:00Z"), "[{be}] {stats:?}");

        // The router's own refusals are JSON too.
        let wrong_method = a.get("/float").await;
        assert_eq!((wrong_method.status, wrong_method.code()), (405, "method_not_allowed"), "[{be}]");
        let nowhere = a.get("/nowhere").await;
        assert_eq!((nowhere.status, nowhere.code()), (404, "not_found"), "[{be}]");
    }
}

#[tokio::test]
async fn transfers_per_hour_count_the_window_and_only_the_window() {
    use crate::helpers::{TestLedger, World};
    use mkoba::admin::views;
    const HOUR_MS: i64 = 3_600_000;
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        let World { amina, baraka, .. } = t.world(1_000).await;
        for _ in 0..60 {
            t.transfer(TransferKind::P2p, amina, baraka, kes(1)).await.expect("send");
        }
        // Stamps two hours apart, growing with ids, except around the hour
        // `edge`: five rows stamped ten minutes after it, then forty later
        // rows five minutes before it (two nodes' clocks fifteen minutes
        // apart). A search that trusted ids blindly would skip the five.
        let step = 2 * HOUR_MS;
        let now = 100 * 24 * HOUR_MS + 30 * 60_000;
        let edge = (now - 30 * step) / HOUR_MS * HOUR_MS;
        let sql = format!(
            "UPDATE transfers SET created_at_ms = {now} - ((SELECT MAX(id) FROM transfers) - id) * {step}; \
             UPDATE transfers SET created_at_ms = {edge} + 600000 \
                 WHERE id BETWEEN (SELECT MAX(id) - 55 FROM transfers) AND (SELECT MAX(id) - 51 FROM transfers); \
             UPDATE transfers SET created_at_ms = {edge} - 300000 \
                 WHERE id BETWEEN (SELECT MAX(id) - 50 FROM transfers) AND (SELECT MAX(id) - 11 FROM transfers)"
        );
        t.ledger.write(move |conn| conn.batch_execute(&sql).map_err(Into::into)).await.expect("stamp");
        for hours in (1..=80).chain([24 * 31]) {
            let counts = t.ledger.read(move |conn| views::per_hour(conn, hours, now)).await.expect("per hour");
            let first = (now / HOUR_MS - hours + 1) * HOUR_MS;
            let rows: Vec<(i64, i64)> = t
                .ledger
                .read(move |conn| {
                    use diesel::prelude::*;
                    use mkoba::db::schema::transfers::dsl::*;
                    Ok(mkoba::with_conn!(conn, c => transfers
                        .select((created_at_ms, amount_minor))
                        .filter(created_at_ms.ge(first))
                        .load::<(i64, i64)>(c))?)
                })
                .await
                .expect("scan");
            assert_eq!(counts.len(), hours as usize, "{hours}");
            for (i, hour) in counts.iter().enumerate() {
                let start = first + i as i64 * HOUR_MS;
                let inside: Vec<i64> =
                    rows.iter().filter(|(at, _)| (start..start + HOUR_MS).contains(at)).map(|&(_, a)| a).collect();
                assert_eq!(
                    (hour.count, hour.amount_minor),
                    (inside.len() as i64, inside.iter().sum::<i64>()),
                    "{hours} hours, hour {i}"
                );
            }
            assert_eq!(counts.iter().map(|h| h.count).sum::<i64>(), rows.len() as i64, "{hours} hours");
        }
        let empty_future = t.ledger.read(move |conn| views::per_hour(conn, 3, now + 1_000 * HOUR_MS)).await;
        assert!(empty_future.expect("per hour").iter().all(|h| h.count == 0));
    }
}
