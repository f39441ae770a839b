use crate::helpers::{spawn_app, TestDb};

#[tokio::test]
async fn health_answers_ok_with_the_database_reachable() {
    for db in TestDb::all() {
        let app = spawn_app(db).await;
        let resp = app.client.get(format!("{}/health", app.address)).send().await.expect("request");
        assert_eq!(resp.status().as_u16(), 200, "[{}]", app.backend());
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["database"], "ok");
    }
}
