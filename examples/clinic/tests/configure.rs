//! `clinic configure`: the environment's settings on SQLite, PostgreSQL and MariaDB, the
//! configuration report it prints, the banner the server shows, and the saved reports and
//! dashboards the generator writes.

mod common;

use std::collections::BTreeMap;

use clinic::gen::{generate, GenOptions};
use common::{fresh, run_clinic, scalar, spawn_app, strings, On};
use valet_testkit::TestDb;

async fn generated(on: On, tag: &str) -> Option<TestDb> {
    let db = fresh(on, tag).await?;
    generate(
        &db.url,
        &GenOptions {
            volunteers: 30,
            events: 100,
            seed: 4,
            release: None,
        },
    )
    .await
    .unwrap();
    Some(db)
}

/// The `key: value` lines of a configuration report.
fn parse(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .map(|l| {
            let (k, v) = l
                .split_once(": ")
                .unwrap_or_else(|| panic!("not `key: value`: {l:?} in\n{out}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn configure(args: &[&str]) -> BTreeMap<String, String> {
    let mut argv = vec!["configure"];
    argv.extend_from_slice(args);
    let (ok, out, err) = run_clinic(&argv);
    assert!(ok, "configure {args:?}: {out}{err}");
    parse(&out)
}

/// The settings rows, ordered by key.
async fn settings(url: &str) -> Vec<String> {
    let key = if url.starts_with("mysql") || url.starts_with("mariadb") {
        "`key`"
    } else {
        "\"key\""
    };
    let sql = format!(
        "SELECT {} FROM system_settings ORDER BY {key}",
        if url.starts_with("mysql") || url.starts_with("mariadb") {
            format!("CAST(CONCAT({key}, '=', value) AS CHAR(16000))")
        } else {
            format!("{key} || '=' || value")
        }
    );
    strings(url, &sql).await
}

async fn settings_are_written_reported_and_replaced(on: On) {
    let Some(db) = generated(on, "cfg_settings").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let idp = dir.path().join("idp.xml");
    std::fs::write(
        &idp,
        "<EntityDescriptor entityID=\"https://idp.acme.example\"/>",
    )
    .unwrap();
    let idp = idp.display().to_string();
    let reports = scalar(&db.url, "SELECT COUNT(*) FROM report_definitions").await;
    let dashboards = scalar(&db.url, "SELECT COUNT(*) FROM dashboard_definitions").await;

    let full = [
        "--db",
        &db.url,
        "--env-name",
        "VAL-ACME",
        "--banner",
        "Validation of 24.3 — not for clinical use",
        "--sso-metadata",
        &idp,
        "--lab",
        "hl7.lab.acme.example:2575",
    ];
    let report = configure(&full);
    let expected_sha = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(std::fs::read(&idp).unwrap()))
    };
    let canonical = std::fs::canonicalize(&idp).unwrap().display().to_string();
    let want: BTreeMap<String, String> = [
        ("environment_name", "VAL-ACME".to_string()),
        (
            "banner",
            "Validation of 24.3 — not for clinical use".to_string(),
        ),
        ("banner_source", "setting".to_string()),
        ("sso_enabled", "true".to_string()),
        ("sso_metadata", canonical.clone()),
        ("sso_metadata_sha256", expected_sha.clone()),
        ("lab_endpoint", "hl7.lab.acme.example:2575".to_string()),
        ("report_definitions", reports.to_string()),
        ("dashboard_definitions", dashboards.to_string()),
        ("schema_release", "24.3".to_string()),
        ("schema_build", "24.3.0.1300".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(report, want, "{on:?}");
    let rows = settings(&db.url).await;
    assert_eq!(
        rows,
        [
            "banner=Validation of 24.3 — not for clinical use".to_string(),
            "environment_name=VAL-ACME".to_string(),
            "lab_endpoint=hl7.lab.acme.example:2575".to_string(),
            "sso_enabled=true".to_string(),
            format!("sso_metadata={canonical}"),
            format!("sso_metadata_sha256={expected_sha}"),
        ],
        "{on:?}"
    );

    // Idempotent: the same call gives the same rows and report.
    assert_eq!(configure(&full), want, "{on:?}");
    assert_eq!(settings(&db.url).await, rows, "{on:?}");

    // A setting left out is removed; an SSO URL is recorded without a checksum.
    let report = configure(&[
        "--db",
        &db.url,
        "--env-name",
        "VAL-ACME",
        "--sso-metadata",
        "https://idp.acme.example/metadata",
    ]);
    assert_eq!(report["banner"], "VAL — not for clinical use", "{on:?}");
    assert_eq!(report["banner_source"], "default");
    assert_eq!(report["sso_metadata"], "https://idp.acme.example/metadata");
    assert!(!report.contains_key("sso_metadata_sha256"), "{report:?}");
    assert_eq!(report["lab_endpoint"], "(none)");
    assert_eq!(
        settings(&db.url).await,
        [
            "environment_name=VAL-ACME",
            "sso_enabled=true",
            "sso_metadata=https://idp.acme.example/metadata",
        ],
        "{on:?}"
    );

    let report = configure(&["--db", &db.url, "--env-name", "VAL-ACME"]);
    assert_eq!(report["sso_enabled"], "false");
    assert_eq!(report["sso_metadata"], "(none)");
    assert_eq!(
        settings(&db.url).await,
        ["environment_name=VAL-ACME", "sso_enabled=false"],
        "{on:?}"
    );
}

#[tokio::test]
async fn sqlite_configure_writes_reports_and_replaces_settings() {
    settings_are_written_reported_and_replaced(On::Sqlite).await;
}

#[tokio::test]
async fn postgres_configure_writes_reports_and_replaces_settings() {
    settings_are_written_reported_and_replaced(On::Postgres).await;
}

#[tokio::test]
async fn mariadb_configure_writes_reports_and_replaces_settings() {
    settings_are_written_reported_and_replaced(On::MariaDb).await;
}

#[tokio::test]
async fn configure_keeps_settings_it_does_not_own() {
    let db = generated(On::Sqlite, "cfg_foreign").await.unwrap();
    let (_, mut conn) = common::connect(&db.url).await;
    sqlx::raw_sql("INSERT INTO system_settings (\"key\", value) VALUES ('locale', 'de-DE')")
        .execute(&mut conn)
        .await
        .unwrap();
    configure(&["--db", &db.url, "--env-name", "VAL-ACME"]);
    assert!(settings(&db.url)
        .await
        .contains(&"locale=de-DE".to_string()));
}

#[tokio::test]
async fn an_unreadable_sso_metadata_file_changes_nothing() {
    let db = generated(On::Sqlite, "cfg_nofile").await.unwrap();
    configure(&["--db", &db.url, "--env-name", "VAL-ACME", "--lab", "lab:1"]);
    let before = settings(&db.url).await;
    let (ok, out, err) = run_clinic(&[
        "configure",
        "--db",
        &db.url,
        "--env-name",
        "VAL-OTHER",
        "--sso-metadata",
        "/nonexistent/idp.xml",
    ]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("/nonexistent/idp.xml") && err.contains("SSO metadata"),
        "{err}"
    );
    assert_eq!(settings(&db.url).await, before);
}

#[tokio::test]
async fn configure_refuses_a_database_without_the_clinic_schema() {
    let db = TestDb::sqlite("cfg_empty");
    let (ok, _, err) = run_clinic(&["configure", "--db", &db.url, "--env-name", "VAL-ACME"]);
    assert!(!ok);
    assert!(
        err.contains("no clinic schema") && err.contains("clinic migrate"),
        "{err}"
    );
}

#[tokio::test]
async fn the_server_shows_the_configured_banner_and_the_default_without_one() {
    let db = generated(On::Sqlite, "cfg_serve").await.unwrap();
    configure(&[
        "--db",
        &db.url,
        "--env-name",
        "VAL-ACME",
        "--banner",
        "Validation cycle 2024-Q4 <ACME>",
    ]);
    let state = tempfile::tempdir().unwrap();
    let app = spawn_app(&db.url, "24.3", "VAL-ACME", state.path());
    assert_eq!(app.banner["banner"], "Validation cycle 2024-Q4 <ACME>");
    let html = app.get("/").await.text().await.unwrap();
    assert!(
        html.contains("VAL-ACME: Validation cycle 2024-Q4 &lt;ACME&gt;"),
        "{html}"
    );
    assert!(html.contains("env-val"), "{html}");
    let health: serde_json::Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["env"], "VAL-ACME");
    let version: serde_json::Value = app.get("/version").await.json().await.unwrap();
    assert_eq!(version["db_release"], "24.3");

    // Read on every page: removing the setting brings the default back without a restart.
    configure(&["--db", &db.url, "--env-name", "VAL-ACME"]);
    let html = app.get("/").await.text().await.unwrap();
    assert!(
        html.contains("VAL-ACME: VAL — not for clinical use"),
        "{html}"
    );
}

#[tokio::test]
async fn generated_configuration_is_deterministic_and_names_no_person() {
    let a = generated(On::Sqlite, "cfg_gen_a").await.unwrap();
    let b = generated(On::Sqlite, "cfg_gen_b").await.unwrap();
    let reports =
        "SELECT name || ' | ' || owner || ' | ' || definition FROM report_definitions ORDER BY id";
    let dashboards = "SELECT name || ' | ' || layout FROM dashboard_definitions ORDER BY id";
    let (ra, da) = (
        strings(&a.url, reports).await,
        strings(&a.url, dashboards).await,
    );
    assert_eq!(
        ra,
        strings(&b.url, reports).await,
        "same seed, same reports"
    );
    assert_eq!(da, strings(&b.url, dashboards).await);
    assert!((4..=6).contains(&ra.len()), "{ra:?}");
    assert!((2..=3).contains(&da.len()), "{da:?}");

    let orphan_owners = scalar(
        &a.url,
        "SELECT COUNT(*) FROM report_definitions r LEFT JOIN staff s ON s.username = r.owner \
         WHERE s.id IS NULL",
    )
    .await;
    assert_eq!(orphan_owners, 0, "every owner is a staff username");

    let mut names = strings(&a.url, "SELECT full_name FROM staff").await;
    names.extend(
        strings(
            &a.url,
            "SELECT first_name || ' ' || last_name FROM volunteers",
        )
        .await,
    );
    names.extend(strings(&a.url, "SELECT email FROM volunteers").await);
    for text in strings(&a.url, "SELECT definition FROM report_definitions")
        .await
        .iter()
        .chain(&strings(&a.url, "SELECT layout FROM dashboard_definitions").await)
    {
        for name in &names {
            assert!(!text.contains(name.as_str()), "{name} in {text}");
        }
    }

    // Every dashboard widget shows a saved report.
    let saved = strings(&a.url, "SELECT name FROM report_definitions").await;
    for layout in strings(&a.url, "SELECT layout FROM dashboard_definitions").await {
        let v: serde_json::Value = serde_json::from_str(&layout).unwrap();
        for w in v["widgets"].as_array().unwrap() {
            let r = w["report"].as_str().unwrap();
            assert!(saved.iter().any(|s| s == r), "{r} in {layout}");
        }
    }
    for definition in strings(&a.url, "SELECT definition FROM report_definitions").await {
        serde_json::from_str::<serde_json::Value>(&definition)
            .unwrap_or_else(|e| panic!("{definition}: {e}"));
    }
}
