//! `clinic config export` and `clinic config import` on SQLite, PostgreSQL and MariaDB: the
//! customer's saved reports and dashboards go from one generated database into another with
//! every column (timestamps included) and id intact; a bad file changes nothing.

mod common;

use clinic::gen::{generate, GenOptions};
use common::{columns, dump_table, fresh, run_clinic, scalar, On, TableDump};
use valet_testkit::TestDb;

const TABLES: [&str; 2] = ["report_definitions", "dashboard_definitions"];

async fn generated(on: On, tag: &str, seed: u64) -> Option<TestDb> {
    let db = fresh(on, tag).await?;
    generate(
        &db.url,
        &GenOptions {
            volunteers: 20,
            events: 50,
            seed,
            release: None,
        },
    )
    .await
    .unwrap();
    Some(db)
}

async fn configuration(url: &str) -> Vec<(Vec<String>, TableDump)> {
    let mut out = Vec::new();
    for t in TABLES {
        let cols = columns(url, t).await;
        let rows = dump_table(url, t, &cols).await;
        out.push((cols, rows));
    }
    out
}

async fn exec(url: &str, sql: &str) {
    let (_, mut conn) = common::connect(url).await;
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn export(url: &str) -> serde_json::Value {
    let (ok, out, err) = run_clinic(&["config", "export", "--db", url]);
    assert!(ok, "export: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("export is not JSON ({e}):\n{out}"))
}

fn import(url: &str, file: &std::path::Path) -> (bool, String, String) {
    run_clinic(&[
        "config",
        "import",
        "--db",
        url,
        "--file",
        file.to_str().unwrap(),
    ])
}

async fn configuration_travels_to_another_database(on: On) {
    let Some(old) = generated(on, "xfer_old", 4).await else {
        return;
    };
    let new = generated(on, "xfer_new", 9).await.unwrap();
    // A definition the customer changed, at a time with a fraction of a second, and a
    // dashboard with an id the generator never gives.
    exec(
        &old.url,
        "UPDATE report_definitions SET definition = '{\"changed\": \"by the customer\"}', \
         owner = 'o''brien', updated_at = '2024-11-05 08:09:10.25' WHERE id = 2",
    )
    .await;
    exec(
        &old.url,
        "INSERT INTO dashboard_definitions (id, name, layout, updated_at) \
         VALUES (40, 'Ward board ✓', '{\"widgets\": []}', '2023-01-02 03:04:05')",
    )
    .await;

    let file = export(&old.url);
    assert_eq!(file["schema_release"], "24.3", "{on:?}");
    let reports = file["tables"]["report_definitions"].as_array().unwrap();
    let changed = reports.iter().find(|r| r["id"] == 2).unwrap();
    // MariaDB's DATETIME keeps whole seconds.
    let stored = if on == On::MariaDb {
        "2024-11-05T08:09:10Z"
    } else {
        "2024-11-05T08:09:10.25Z"
    };
    assert_eq!(changed["updated_at"], stored, "{on:?}");
    assert_eq!(changed["definition"], "{\"changed\": \"by the customer\"}");
    assert!(
        reports.iter().all(|r| r["id"].is_i64()
            && r["updated_at"].as_str().unwrap().ends_with('Z')
            && r.as_object().unwrap().len() == 5),
        "{reports:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carry-over.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    let (ok, out, err) = import(&new.url, &path);
    assert!(ok, "{on:?} import: {err}");
    let dashboards = file["tables"]["dashboard_definitions"]
        .as_array()
        .unwrap()
        .len();
    assert!(
        out.lines()
            .any(|l| l == format!("report_definitions: {}", reports.len()))
            && out
                .lines()
                .any(|l| l == format!("dashboard_definitions: {dashboards}")),
        "{out}"
    );
    assert_eq!(
        configuration(&new.url).await,
        configuration(&old.url).await,
        "{on:?}"
    );
    // Export of the copy is the same file: nothing was lost on the way.
    assert_eq!(export(&new.url), file, "{on:?}");

    // New rows after an import get fresh ids (PostgreSQL's sequence was moved on).
    exec(
        &new.url,
        "INSERT INTO dashboard_definitions (name, layout, updated_at) \
         VALUES ('after import', '{}', '2024-01-01 00:00:00')",
    )
    .await;
    assert_eq!(
        scalar(
            &new.url,
            "SELECT id FROM dashboard_definitions WHERE name = 'after import'"
        )
        .await,
        41,
        "{on:?}"
    );
}

#[tokio::test]
async fn sqlite_configuration_travels_to_another_database() {
    configuration_travels_to_another_database(On::Sqlite).await;
}

#[tokio::test]
async fn postgres_configuration_travels_to_another_database() {
    configuration_travels_to_another_database(On::Postgres).await;
}

#[tokio::test]
async fn mariadb_configuration_travels_to_another_database() {
    configuration_travels_to_another_database(On::MariaDb).await;
}

async fn a_bad_file_changes_nothing(on: On) {
    let Some(db) = generated(on, "xfer_bad", 4).await else {
        return;
    };
    let before = configuration(&db.url).await;
    let good = export(&db.url);
    let dir = tempfile::tempdir().unwrap();
    let mut bad_row = good.clone();
    // The first table is valid and would be emptied; the second's last row is not.
    bad_row["tables"]["report_definitions"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"id": 99, "name": "x", "colour": "red"}));
    let mut null_name = good.clone();
    null_name["tables"]["report_definitions"][0]["name"] = serde_json::Value::Null;
    let mut duplicate = good.clone();
    let first = duplicate["tables"]["report_definitions"][0].clone();
    duplicate["tables"]["report_definitions"]
        .as_array_mut()
        .unwrap()
        .push(first);
    let cases: Vec<(&str, String, &str)> = vec![
        ("not json", "{\"tables\": ".into(), "not valid JSON"),
        (
            "unknown table",
            serde_json::json!({"tables": {"dashboard_definitions": [], "volunteers": []}})
                .to_string(),
            "`volunteers`",
        ),
        ("unknown column", bad_row.to_string(), "`colour`"),
        (
            "wrong type",
            serde_json::json!({"tables": {"dashboard_definitions": [{"id": "one"}]}}).to_string(),
            "expected an integer",
        ),
        ("no tables", "[]".into(), "`tables`"),
        ("NOT NULL", null_name.to_string(), "nothing was changed"),
        ("duplicate id", duplicate.to_string(), "nothing was changed"),
    ];
    for (what, text, needle) in cases {
        let path = dir.path().join("bad.json");
        std::fs::write(&path, text).unwrap();
        let (ok, out, err) = import(&db.url, &path);
        assert!(!ok, "{on:?} {what}: accepted\n{out}");
        assert!(err.contains(needle), "{on:?} {what}: {err}");
        assert_eq!(configuration(&db.url).await, before, "{on:?} {what}");
    }
    let (ok, _, err) = import(&db.url, &dir.path().join("missing.json"));
    assert!(!ok && err.contains("missing.json"), "{err}");
}

#[tokio::test]
async fn sqlite_a_bad_configuration_file_changes_nothing() {
    a_bad_file_changes_nothing(On::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_bad_configuration_file_changes_nothing() {
    a_bad_file_changes_nothing(On::Postgres).await;
}

#[tokio::test]
async fn mariadb_a_bad_configuration_file_changes_nothing() {
    a_bad_file_changes_nothing(On::MariaDb).await;
}
