//! The OpenAPI document of `/api/v1`, from outside: served without credentials, complete
//! (every operation routed, ids unique, errors described), and the conformance check that
//! every other API test runs is itself shown to refuse what the document does not say.

mod helpers;

use std::collections::HashSet;

use helpers::{spawn_app, Conformance};
use serde_json::{json, Value};

const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

async fn document(app: &helpers::TestApp) -> Value {
    let r = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the document needs no credentials");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    r.json().await.unwrap()
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((m.to_string(), path.clone(), op.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_document_describes_every_operation_with_its_errors() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc,
        serde_json::from_str::<Value>(&valet_web::openapi_json()).unwrap(),
        "the server serves what `valet openapi` prints"
    );
    let tags: HashSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let ops = operations(&doc);
    assert!(ops.len() >= 70, "{} operations", ops.len());
    let mut ids = HashSet::new();
    for (m, path, op) in &ops {
        let what = format!("{m} {path}");
        assert!(path.starts_with("/api/v1/"), "{what}");
        let id = op["operationId"].as_str().unwrap();
        assert!(
            ids.insert(id.to_string()),
            "{what}: operation id {id} twice"
        );
        let tag = op["tags"][0].as_str().unwrap();
        assert!(tags.contains(tag), "{what}: tag {tag} is not described");
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{what}: no success answer"
        );
        for (status, r) in responses {
            assert!(
                r["description"].as_str().is_some_and(|d| !d.is_empty()) || status.starts_with('2'),
                "{what} {status}: an error answer without a description"
            );
            if !status.starts_with('2') {
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{what} {status}"
                );
            }
        }
        assert!(responses.contains_key("500"), "{what}");
        let open = path.starts_with("/api/v1/calendar/feed/");
        assert_eq!(!responses.contains_key("401"), open, "{what}: 401");
        // Every `{parameter}` of the path is described.
        for seg in path.split('/').filter(|s| s.starts_with('{')) {
            let name = seg.trim_matches(|c| c == '{' || c == '}');
            assert!(
                op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path")),
                "{what}: path parameter {name} undescribed"
            );
        }
    }
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for s in ["token", "password", "session"] {
        assert!(schemes.contains_key(s), "security scheme {s}");
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_asks_for_credentials() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for (m, path, _) in operations(&doc) {
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let r = app
            .client
            .request(m.to_uppercase().parse().unwrap(), app.url(&concrete))
            .send()
            .await
            .unwrap();
        let expected = if path.starts_with("/api/v1/calendar/feed/") {
            404 // a feed is found by its secret, and `x1` is none
        } else {
            401
        };
        assert_eq!(r.status(), expected, "{m} {path} without credentials");
    }
    // A route the document does not have is the API's own 404, not a page.
    let r = app.get("/api/v1/no-such-thing", &app.admin_token).await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn the_conformance_check_refuses_what_the_document_does_not_say() {
    let app = spawn_app().await;
    let c = Conformance::new();
    let customers: Value = app
        .get("/api/v1/customers", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    let bytes = |v: &Value| serde_json::to_vec(v).unwrap();
    let ok = |path: &str, status: u16, v: &Value| c.mismatch("get", path, status, &bytes(v));
    assert_eq!(ok("/api/v1/customers", 200, &customers), Ok(()));

    let mut extra = customers.clone();
    extra[0]["secret_field"] = json!("x");
    let why = ok("/api/v1/customers", 200, &extra).unwrap_err();
    assert!(why.contains("secret_field"), "{why}");

    let mut missing = customers.clone();
    missing[0].as_object_mut().unwrap().remove("zone");
    let why = ok("/api/v1/customers", 200, &missing).unwrap_err();
    assert!(why.contains("zone"), "{why}");

    let mut wrong = customers.clone();
    wrong[0]["name"] = json!(42);
    assert!(ok("/api/v1/customers", 200, &wrong).is_err());

    let why = ok("/api/v1/customers", 418, &customers).unwrap_err();
    assert!(why.contains("418 is not documented"), "{why}");
    let why = c
        .mismatch("patch", "/api/v1/customers", 200, &bytes(&customers))
        .unwrap_err();
    assert!(why.contains("not documented"), "{why}");

    // A flattened struct (allOf): its own and its members' fields are known, no others.
    let lag: Value = app
        .get("/api/v1/version-lag", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert!(!lag.as_array().unwrap().is_empty(), "{lag}");
    assert_eq!(ok("/api/v1/version-lag", 200, &lag), Ok(()));
    let mut extra = lag.clone();
    extra[0]["secret_field"] = json!(1);
    assert!(ok("/api/v1/version-lag", 200, &extra).is_err());

    // Errors are held to the error body.
    let error = json!({ "error": "not_found", "message": "no such customer" });
    assert_eq!(ok("/api/v1/customers/x1", 404, &error), Ok(()));
    assert!(ok("/api/v1/customers/x1", 404, &json!({ "message": "m" })).is_err());
}

#[tokio::test]
async fn a_path_query_string_or_body_that_cannot_be_read_is_a_json_400_saying_what() {
    let app = spawn_app().await;
    // Each answer also passes the conformance check (a documented 400 with the error body).
    for path in [
        "/api/v1/audit?limit=9223372036854775808",
        "/api/v1/slots/check?notice_days=-1",
        "/api/v1/quiet?weeks=-1",
        "/api/v1/release-notes?from=24.1",
        "/api/v1/release-notes/search?q=x&limit=many",
        "/api/v1/requests?kind=val&state=nonsense",
        "/api/v1/requests/%FF%FE",
        "/api/v1/release-notes/search?q=%00",
    ] {
        let r = app.get(path, &app.admin_token).await;
        assert_eq!(r.status(), 400, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "bad_request", "{path}");
        assert!(!body["message"].as_str().unwrap().is_empty(), "{path}");
    }
    let r = app
        .post(
            "/api/v1/releases/24.1.0.1042/publish",
            &app.admin_token,
            json!({ "reason": {} }),
        )
        .await;
    assert_eq!(r.status(), 400, "a body of the wrong shape");
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("reason"),
        "{body}"
    );

    // And the check would have refused axum's plain-text rejection.
    let c = Conformance::new();
    let why = c
        .content_type_documented("get", "/api/v1/audit", 400, "text/plain; charset=utf-8")
        .unwrap_err();
    assert!(why.contains("text/plain"), "{why}");
    assert_eq!(
        c.content_type_documented("get", "/api/v1/documents/x1", 200, "application/pdf"),
        Ok(())
    );
}

#[test]
fn every_example_in_the_document_is_valid_for_its_schema() {
    let c = Conformance::new();
    let mut seen = 0;
    for (name, schema) in c.document()["components"]["schemas"].as_object().unwrap() {
        let examples = schema["examples"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .chain(schema.get("example").cloned());
        for example in examples {
            seen += 1;
            if let Err(why) = c.schema_mismatch(name, &example) {
                panic!("the example of {name} does not match its schema: {why}\n{example}");
            }
        }
    }
    assert!(seen >= 15, "{seen} examples");
    // And the check can fail: an example with a field the schema does not have.
    let wrong = json!({ "slot": 2, "engineer": "eddie", "confirm": false, "urgent": true });
    assert!(c.schema_mismatch("SetSchedule", &wrong).is_err());
}
