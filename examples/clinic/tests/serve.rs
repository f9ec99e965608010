//! `clinic serve`: the real binary on a free port, talked to over HTTP.

mod common;

use clinic::gen::{generate, GenOptions};
use common::{run_clinic, spawn_app};
use valet_testkit::TestDb;

async fn generated(tag: &str, release: &str) -> TestDb {
    let db = TestDb::sqlite(tag);
    generate(
        &db.url,
        &GenOptions {
            volunteers: 40,
            events: 300,
            seed: 5,
            release: Some(release.into()),
        },
    )
    .await
    .unwrap();
    db
}

#[tokio::test]
async fn serves_health_version_and_home_then_stops_on_sigterm() {
    let db = generated("serve_ok", "24.3").await;
    let state = tempfile::tempdir().unwrap();
    let mut app = spawn_app(&db.url, "24.3", "VAL-ACME", state.path());

    for key in [
        "app",
        "release",
        "build",
        "rust",
        "db_engine",
        "db_version",
        "env",
        "pid",
    ] {
        assert!(
            app.banner.contains_key(key),
            "banner has {key}: {:?}",
            app.banner
        );
    }
    assert_eq!(app.banner["app"], "clinic");
    assert_eq!(app.banner["build"], "24.3.0.1300");
    assert_eq!(app.banner["db_engine"], "sqlite");
    assert!(
        app.banner["db_version"].starts_with('3'),
        "{:?}",
        app.banner
    );
    assert!(app.banner["rust"].starts_with("rustc "), "{:?}", app.banner);
    assert_eq!(app.banner["pid"], app.child.id().to_string());
    assert!(app.banner["started_at"].ends_with('Z'));

    let health = app.get("/health").await;
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["release"], "24.3");
    assert_eq!(body["env"], "VAL-ACME");

    let version: serde_json::Value = app.get("/version").await.json().await.unwrap();
    assert_eq!(version["build"], "24.3.0.1300");
    assert_eq!(version["db_release"], "24.3");

    let home = app.get("/").await;
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(
        html.contains("VAL-ACME: VAL — not for clinical use"),
        "{html}"
    );
    assert!(html.contains("env-val"), "{html}");
    assert!(html.contains("<td id=\"volunteers\">40</td>"), "{html}");
    assert!(html.contains("<td id=\"events\">300</td>"), "{html}");

    let people: serde_json::Value = app
        .get("/api/volunteers?limit=3")
        .await
        .json()
        .await
        .unwrap();
    let people = people.as_array().unwrap();
    assert_eq!(people.len(), 3);
    assert_eq!(people[0]["subject_no"], "V000001");
    assert!(people[0]["email"].as_str().unwrap().contains('@'));
    assert!(people[0]["phone"].as_str().unwrap().starts_with('+'));
    assert_eq!(people[0]["date_of_birth"].as_str().unwrap().len(), 10);

    assert_eq!(app.get("/nothing-here").await.status(), 404);
    assert!(app.terminate(), "clinic exits with success on SIGTERM");
}

#[tokio::test]
async fn maintenance_mode_answers_503_until_switched_off() {
    let db = generated("serve_maint", "24.2.1").await;
    let state = tempfile::tempdir().unwrap();
    let app = spawn_app(&db.url, "24.2.1", "PROD-MAIN", state.path());
    let state_dir = app.state_dir.display().to_string();
    assert_eq!(app.get("/health").await.status(), 200);

    let (ok, out, err) = run_clinic(&[
        "maintenance",
        "on",
        "--state-dir",
        &state_dir,
        "--message",
        "upgrade to 24.3 until 06:00 UTC",
    ]);
    assert!(ok && out.contains("maintenance: on"), "{out}{err}");

    let health = app.get("/health").await;
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "maintenance");
    assert_eq!(body["message"], "upgrade to 24.3 until 06:00 UTC");

    let home = app.get("/").await;
    assert_eq!(home.status(), 503);
    let html = home.text().await.unwrap();
    assert!(
        html.contains("Down for maintenance: upgrade to 24.3 until 06:00 UTC"),
        "{html}"
    );
    assert!(html.contains("PROD-MAIN: production"), "{html}");

    let api = app.get("/api/volunteers").await;
    assert_eq!(api.status(), 503);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"], "maintenance");

    let version = app.get("/version").await;
    assert_eq!(version.status(), 200, "/version answers during maintenance");

    let (ok, out, _) = run_clinic(&["maintenance", "off", "--state-dir", &state_dir]);
    assert!(ok && out.contains("maintenance: off"), "{out}");
    assert_eq!(app.get("/health").await.status(), 200);
    assert_eq!(app.get("/").await.status(), 200);
}

#[tokio::test]
async fn refuses_to_start_on_a_database_at_another_release() {
    let db = generated("serve_mismatch", "24.2").await;
    let state = tempfile::tempdir().unwrap();
    let (ok, out, err) = run_clinic(&[
        "serve",
        "--db",
        &db.url,
        "--listen",
        "127.0.0.1:0",
        "--release",
        "24.3",
        "--state-dir",
        &state.path().display().to_string(),
    ]);
    assert!(!ok, "{out}");
    assert!(!out.contains("ready: true"), "{out}");
    assert!(
        err.contains("schema is at release 24.2")
            && err.contains("clinic migrate --db URL --to 24.3"),
        "{err}"
    );
}

#[tokio::test]
async fn refuses_to_start_on_an_empty_database() {
    let db = TestDb::sqlite("serve_empty");
    let state = tempfile::tempdir().unwrap();
    let (ok, _, err) = run_clinic(&[
        "serve",
        "--db",
        &db.url,
        "--listen",
        "127.0.0.1:0",
        "--state-dir",
        &state.path().display().to_string(),
    ]);
    assert!(!ok);
    assert!(err.contains("no clinic schema"), "{err}");
}

#[tokio::test]
async fn starts_after_valet_migrates_the_database() {
    let db = generated("serve_upgrade", "24.2").await;
    let (ok, out, err) = run_clinic(&["migrate", "--db", &db.url, "--to", "24.3"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("migrated: 24.2.1 (24.2.1.1201) in ") && lines[0].ends_with(" ms"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("migrated: 24.3 (24.3.0.1300) in ") && lines[1].ends_with(" ms"),
        "{out}"
    );
    assert_eq!(lines[2], "schema: 24.2 -> 24.3");
    let state = tempfile::tempdir().unwrap();
    let app = spawn_app(&db.url, "24.3", "TEST", state.path());
    let version: serde_json::Value = app.get("/version").await.json().await.unwrap();
    assert_eq!(version["db_release"], "24.3");
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains("TEST: test environment"), "{html}");
}

#[test]
fn version_prints_the_latest_release_and_build() {
    let (ok, out, _) = run_clinic(&["version"]);
    assert!(ok);
    assert_eq!(out, "release: 24.3\nbuild: 24.3.0.1300\n");
}

#[test]
fn cli_errors_say_what_to_do() {
    let (ok, _, err) = run_clinic(&[
        "migrate",
        "--db",
        "sqlite:///nonexistent-dir/x/y.db",
        "--to",
        "24.1",
    ]);
    assert!(!ok);
    assert!(err.starts_with("error: "), "{err}");
    let (ok, _, err) = run_clinic(&["gen", "--db", "redis://h", "--volunteers", "1"]);
    assert!(!ok);
    assert!(err.contains("unsupported database URL"), "{err}");
}
