//! Held transfers through the admin API: listed, released or returned
//! once; a second settle is 409.

use super::{admin_config, admin_with};
use crate::helpers::{kes, TestDb};
use mkoba::config::{LimitRule, RuleAction};
use mkoba::ledger::TransferKind;
use serde_json::Value;

#[tokio::test]
async fn held_transfers_are_released_or_returned_once() {
    for db in TestDb::all() {
        let mut config = admin_config(&db);
        config.velocity.out_count_per_hour = LimitRule { limit: Some(1), action: RuleAction::Hold };
        let a = admin_with(db, config).await;
        let (t, be) = (&a.app.t, a.be());
        t.transfer(TransferKind::P2p, a.w.amina, a.w.baraka, kes(10)).await.expect("first goes through");
        let one = t.transfer(TransferKind::P2p, a.w.amina, a.w.baraka, kes(20)).await.expect("held");
        let two = t.transfer(TransferKind::P2p, a.w.amina, a.w.baraka, kes(30)).await.expect("held");
        assert!(one.held_rule.is_some() && two.held_rule.is_some(), "[{be}]");

        let held = a.get_as(&a.viewer, "/held").await;
        let list = held.body["held"].as_array().expect("held").clone();
        assert_eq!(list.len(), 2, "[{be}] {held:?}");
        assert_eq!(
            (list[0]["reference"].as_str(), list[0]["from"].as_str(), list[0]["to"].as_str()),
            (Some(one.reference.as_str()), Some("254712000001"), Some("254712000002"))
        );
        assert_eq!(
            (list[0]["amount_minor"].as_i64(), list[0]["rule"].as_str()),
            (Some(2_000), Some("out_count_per_hour"))
        );
        let shown = a.get(&format!("/transfers/{}", one.reference)).await;
        assert_eq!(shown.str("status"), "held", "[{be}]");

        let refused = a.post_as(&a.viewer, &format!("/held/{}/release", one.reference), None, Value::Null).await;
        assert_eq!(refused.status, 403, "[{be}]");
        let released = a.post(&format!("/held/{}/release", one.reference), Value::Null).await;
        assert_eq!((released.status, released.str("status")), (200, "released".into()), "[{be}] {released:?}");
        assert_eq!(released.str("reference"), one.reference);
        assert_eq!(t.balance(a.w.baraka).await, 1_000 + 2_000, "[{be}] paid to the payee");
        let again = a.post(&format!("/held/{}/return", one.reference), Value::Null).await;
        assert_eq!((again.status, again.code()), (409, "already_settled"), "[{be}] {again:?}");

        let before = t.balance(a.w.amina).await;
        let returned = a.post(&format!("/held/{}/return", two.reference), Value::Null).await;
        assert_eq!((returned.status, returned.str("status")), (200, "returned".into()), "[{be}] {returned:?}");
        assert_eq!(t.balance(a.w.amina).await, before + 3_000 + two.fee_minor, "[{be}] all of it back");
        assert_eq!(a.get("/held").await.body["held"].as_array().map(Vec::len), Some(0), "[{be}]");

        let not_held = a.app.t.transfer(TransferKind::CashIn, a.w.agent, a.w.baraka, kes(5)).await.expect("deposit");
        let answer = a.post(&format!("/held/{}/release", not_held.reference), Value::Null).await;
        assert_eq!((answer.status, answer.code()), (409, "not_held"), "[{be}]");
        assert_eq!(a.post("/held/ZZZZZZZZZ9/release", Value::Null).await.status, 404, "[{be}]");
        let audit = a.audit(10).await;
        let actions: Vec<(&str, &str)> =
            audit.iter().filter_map(|e| Some((e["action"].as_str()?, e["outcome"].as_str()?))).collect();
        for expected in [
            ("held.release", "ok"),
            ("held.return", "ok"),
            ("held.return", "already_settled"),
            ("held.release", "not_held"),
        ] {
            assert!(actions.contains(&expected), "[{be}] {expected:?} in {actions:?}");
        }
        t.assert_verified().await;
    }
}
