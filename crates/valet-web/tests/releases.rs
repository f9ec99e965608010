mod helpers;

use helpers::{spawn_app, TestApp};
use serde_json::Value;

async fn import(app: &TestApp, v: &str) -> reqwest::Response {
    let path = format!(
        "{}/../../examples/clinic/releases/{v}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    app.client
        .post(app.url(&format!("/api/v1/releases?file={v}.toml")))
        .bearer_auth(&app.admin_token)
        .body(std::fs::read_to_string(path).unwrap())
        .send()
        .await
        .unwrap()
}

async fn catalog(app: &TestApp, publish: &[&str]) {
    for v in ["24.1", "24.2", "24.2.1", "24.3"] {
        assert_eq!(import(app, v).await.status(), 201, "{v}");
    }
    for b in publish {
        let r = app
            .client
            .post(app.url(&format!("/api/v1/releases/{b}/publish")))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{b}");
    }
}

#[tokio::test]
async fn customer_token_sees_only_published_releases() {
    let app = spawn_app().await;
    catalog(&app, &["24.1.0.1042", "24.2.0.1187"]).await;
    let list: Vec<Value> = app
        .get("/api/v1/releases", &app.alpha.token)
        .await
        .json()
        .await
        .unwrap();
    let builds: Vec<&str> = list.iter().filter_map(|r| r["build"].as_str()).collect();
    assert_eq!(builds, vec!["24.1.0.1042", "24.2.0.1187"]);
    let all: Vec<Value> = app
        .get("/api/v1/releases", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    for path in [
        "/api/v1/releases/24.3.0.1300",
        "/api/v1/release-notes?from=24.1&to=24.3",
    ] {
        assert_eq!(
            app.get(path, &app.alpha.token).await.status(),
            404,
            "{path}"
        );
    }
    let hits: Vec<Value> = app
        .get(
            "/api/v1/release-notes/search?q=informed%20consent",
            &app.alpha.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        hits.is_empty(),
        "unpublished notes do not leak through search"
    );
    let hits: Vec<Value> = app
        .get(
            "/api/v1/release-notes/search?q=informed%20consent",
            &app.admin_token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hits[0]["key"], "APP-3301");
}

#[tokio::test]
async fn only_vendor_roles_import_and_publish() {
    let app = spawn_app().await;
    let path = format!(
        "{}/../../examples/clinic/releases/24.1.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let r = app
        .client
        .post(app.url("/api/v1/releases"))
        .bearer_auth(&app.alpha.token)
        .body(std::fs::read_to_string(path).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    catalog(&app, &[]).await;
    let r = app
        .client
        .post(app.url("/api/v1/releases/24.3.0.1300/publish"))
        .bearer_auth(&app.alpha.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn bad_manifest_is_a_400_naming_file_line_and_field() {
    let app = spawn_app().await;
    catalog(&app, &[]).await;
    let r = import(&app, "24.2").await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    let msg = body["message"].as_str().unwrap();
    assert!(msg.starts_with("24.2.toml:6: build:"), "{msg}");
    assert!(msg.contains("nothing was imported"), "{msg}");
}

#[tokio::test]
async fn cumulative_notes_come_in_every_format() {
    let app = spawn_app().await;
    catalog(
        &app,
        &["24.1.0.1042", "24.2.0.1187", "24.2.1.1201", "24.3.0.1300"],
    )
    .await;
    let json: Value = app
        .get("/api/v1/release-notes?from=24.1&to=24.3", &app.alpha.token)
        .await
        .json()
        .await
        .unwrap();
    let builds: Vec<&str> = json["releases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["build"].as_str())
        .collect();
    assert_eq!(builds, vec!["24.2.0.1187", "24.2.1.1201", "24.3.0.1300"]);
    for (format, ctype, magic) in [
        ("pdf", "application/pdf", "%PDF-"),
        ("md", "text/markdown; charset=utf-8", "# Release notes"),
        ("html", "text/html; charset=utf-8", "<!doctype html>"),
        ("csv", "text/csv; charset=utf-8", "version,build"),
    ] {
        let r = app
            .get(
                &format!("/api/v1/release-notes?from=24.1&to=24.3&format={format}"),
                &app.alpha.token,
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], ctype);
        // The PDF opens in the browser's own viewer, which the page policy would block; every
        // other format carries it. None may be sniffed into something else.
        assert_eq!(
            r.headers().contains_key("content-security-policy"),
            format != "pdf",
            "{format}"
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let bytes = r.bytes().await.unwrap();
        assert!(bytes.starts_with(magic.as_bytes()), "{format}");
    }
    let r = app
        .get("/api/v1/release-notes?from=24.3&to=24.1", &app.alpha.token)
        .await;
    assert_eq!(r.status(), 400);
    let r = app
        .get(
            "/api/v1/release-notes?from=24.1&to=24.3&format=docx",
            &app.alpha.token,
        )
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn version_lag_of_another_tenant_is_a_404() {
    let app = spawn_app().await;
    catalog(
        &app,
        &["24.1.0.1042", "24.2.0.1187", "24.2.1.1201", "24.3.0.1300"],
    )
    .await;
    let r = app
        .get(
            &format!("/api/v1/version-lag/{}", app.beta.customer_id),
            &app.alpha.token,
        )
        .await;
    assert_eq!(r.status(), 404);
    let own: Vec<Value> = app
        .get(
            &format!("/api/v1/version-lag/{}", app.alpha.customer_id),
            &app.alpha.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own.len(), 2);
    assert_eq!(own[0]["current"], "24.2.0.1187");
    assert_eq!(own[0]["latest"], "24.3.0.1300");
    assert_eq!(own[0]["releases_behind"], 1);
    assert_eq!(own[0]["hotfixes_available"][0], "24.2.1.1201");
    let listed: Vec<Value> = app
        .get("/api/v1/version-lag", &app.alpha.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(listed
        .iter()
        .all(|l| l["customer_id"] == app.alpha.customer_id.as_str()));
    let everyone: Vec<Value> = app
        .get("/api/v1/version-lag", &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(everyone.len(), 4);
}
