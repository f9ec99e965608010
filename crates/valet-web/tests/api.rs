mod helpers;

use helpers::spawn_app;
use serde_json::{json, Value};

#[tokio::test]
async fn healthz_answers_without_credentials() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["schema_version"], valet_store::SCHEMA_VERSION);
}

#[tokio::test]
async fn data_endpoints_require_credentials() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/customers",
        "/api/v1/environments",
        "/api/v1/audit",
        "/api/v1/me",
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert!(r.headers().contains_key("www-authenticate"));
        let r = app.get(path, "valet_not_a_real_token").await;
        assert_eq!(r.status(), 401, "{path} with a bad token");
    }
}

#[tokio::test]
async fn basic_credentials_identify_the_user() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/api/v1/me"))
        .basic_auth("admin", Some("admin password 123"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["role"], "admin");
    let r = app
        .client
        .get(app.url("/api/v1/me"))
        .basic_auth("admin", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn customer_lists_only_its_own_customer_and_environments() {
    let app = spawn_app().await;
    let list: Vec<Value> = app
        .get("/api/v1/customers", &app.alpha.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], app.alpha.customer_id.as_str());

    let envs: Vec<Value> = app
        .get("/api/v1/environments", &app.alpha.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(envs.len(), 2);
    assert!(envs
        .iter()
        .all(|e| e["customer_id"] == app.alpha.customer_id.as_str()));

    let other: Vec<Value> = app
        .get(
            &format!("/api/v1/environments?customer_id={}", app.beta.customer_id),
            &app.alpha.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(other.is_empty());

    let all: Vec<Value> = app
        .get("/api/v1/environments", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 4, "vendor roles see every tenant");
}

#[tokio::test]
async fn customer_cannot_read_other_tenant_objects_by_id() {
    let app = spawn_app().await;
    for path in [
        format!("/api/v1/customers/{}", app.beta.customer_id),
        format!("/api/v1/environments/{}", app.beta.env_id),
    ] {
        let r = app.get(&path, &app.alpha.token).await;
        assert_eq!(r.status(), 404, "{path}");
        let missing = app.get(&format!("{path}x"), &app.alpha.token).await;
        assert_eq!(missing.status(), 404);
        let a: Value = r.json().await.unwrap();
        let b: Value = missing.json().await.unwrap();
        assert_eq!(
            a["error"], b["error"],
            "another tenant's object looks missing"
        );
    }
    let own = app
        .get(
            &format!("/api/v1/environments/{}", app.alpha.env_id),
            &app.alpha.token,
        )
        .await;
    assert_eq!(own.status(), 200);
}

#[tokio::test]
async fn customer_audit_trail_shows_only_its_tenant() {
    let app = spawn_app().await;
    let events: Vec<Value> = app
        .get("/api/v1/audit", &app.alpha.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(!events.is_empty());
    assert!(events
        .iter()
        .all(|e| e["customer_id"] == app.alpha.customer_id.as_str()));
    let r = app
        .get(
            &format!(
                "/api/v1/audit?object_type=environment&object_id={}",
                app.beta.env_id
            ),
            &app.alpha.token,
        )
        .await;
    let events: Vec<Value> = r.json().await.unwrap();
    assert!(events.is_empty());
}

#[tokio::test]
async fn customer_cannot_register_environments_for_another_tenant() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/api/v1/environments",
            &app.alpha.token,
            json!({ "customer_id": app.beta.customer_id, "tier": "PROD", "label": "X" }),
        )
        .await;
    assert_eq!(
        r.status(),
        403,
        "customer roles may not register environments"
    );
    let r = app
        .post(
            "/api/v1/customers",
            &app.alpha.token,
            json!({"name": "Gamma", "zone": "UTC"}),
        )
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn admin_creates_customer_and_pair_then_reads_them_back() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/api/v1/customers",
            &app.admin_token,
            json!({"name": "Gamma Clinics", "zone": "America/Chicago"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let c: Value = r.json().await.unwrap();
    let r = app
        .post(
            "/api/v1/environments",
            &app.admin_token,
            json!({
                "customer_id": c["id"], "tier": "PROD", "build": "24.3.0.1300",
                "main": {"database_url": "postgres://u:pw@h/main", "base_url": "http://h:1"},
                "test": {"database_url": "postgres://u:pw@h/test"}
            }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let pair: Value = r.json().await.unwrap();
    assert_eq!(pair["main"]["name"], "PROD-MAIN");
    assert_eq!(pair["test"]["name"], "PROD-TEST");
    assert_eq!(pair["main"]["current_build"], "24.3.0.1300");
    assert_eq!(pair["main"]["database"], "postgres://u:***@h/main");
    let id = pair["test"]["id"].as_str().unwrap();
    let got: Value = app
        .get(&format!("/api/v1/environments/{id}"), &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["role"], "TEST");
}

#[tokio::test]
async fn bad_input_gets_a_400_or_409_that_says_what_to_fix() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/api/v1/customers",
            &app.admin_token,
            json!({"name": "Alpha", "zone": "UTC"}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("already exists"));

    let r = app
        .post(
            "/api/v1/customers",
            &app.admin_token,
            json!({"name": "Delta", "zone": "Mars/Olympus"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("IANA"), "{body}");

    let r = app
        .post(
            "/api/v1/environments",
            &app.admin_token,
            json!({"customer_id": app.alpha.customer_id, "tier": "STAGING"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("tier"), "{body}");

    let r = app
        .client
        .post(app.url("/api/v1/customers"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let customers: Vec<Value> = app
        .get("/api/v1/customers", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(customers.len(), 2, "nothing was written");
}
