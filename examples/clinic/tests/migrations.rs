//! Schema migrations 24.1 → 24.2 → 24.2.1 → 24.3 on SQLite, PostgreSQL and MariaDB.

mod common;

use clinic::gen::{generate, GenOptions};
use clinic::schema::{current_release, migrate};
use common::{columns, fresh, has_index, scalar, tables, On};

async fn steps_bring_each_release(on: On) {
    let Some(db) = fresh(on, "mig_steps").await else {
        return;
    };
    let url = &db.url;
    assert_eq!(current_release(url).await.unwrap(), None, "empty database");

    migrate(url, "24.1").await.unwrap();
    assert_eq!(current_release(url).await.unwrap().as_deref(), Some("24.1"));
    let t = tables(url).await;
    for table in [
        "staff",
        "studies",
        "volunteers",
        "enrolments",
        "events",
        "clinic_schema_version",
    ] {
        assert!(t.contains(&table.to_string()), "24.1 has {table}: {t:?}");
    }
    assert!(!t.contains(&"volunteer_audit".to_string()));
    assert!(!columns(url, "volunteers")
        .await
        .contains(&"phone".to_string()));
    assert!(has_index(url, "events_collected_at_idx").await);

    migrate(url, "24.2").await.unwrap();
    assert_eq!(current_release(url).await.unwrap().as_deref(), Some("24.2"));
    assert!(columns(url, "volunteers")
        .await
        .contains(&"phone".to_string()));
    assert_eq!(
        columns(url, "volunteer_audit").await,
        [
            "id",
            "volunteer_id",
            "changed_at",
            "changed_by",
            "field",
            "old_value",
            "new_value"
        ]
    );
    assert!(!has_index(url, "volunteers_name_idx").await);

    migrate(url, "24.2.1.1201").await.unwrap();
    assert_eq!(
        current_release(url).await.unwrap().as_deref(),
        Some("24.2.1")
    );
    assert!(has_index(url, "volunteers_name_idx").await);
    assert!(has_index(url, "events_enrolment_time_idx").await);
    if on != On::Sqlite {
        let sql = match on {
            On::Postgres => {
                "SELECT COUNT(*) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = 'volunteer_audit' \
                 AND column_name = 'old_value' AND data_type = 'text'"
            }
            _ => {
                "SELECT COUNT(*) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = 'volunteer_audit' \
                 AND column_name = 'old_value' AND data_type = 'text'"
            }
        };
        assert_eq!(
            scalar(url, sql).await,
            1,
            "24.2.1 widens audit values to TEXT"
        );
    }

    migrate(url, "24.3").await.unwrap();
    assert_eq!(current_release(url).await.unwrap().as_deref(), Some("24.3"));
    assert!(columns(url, "events").await.contains(&"device".to_string()));
    assert!(columns(url, "studies").await.contains(&"phase".to_string()));
    assert!(tables(url).await.contains(&"consents".to_string()));

    assert_eq!(
        scalar(url, "SELECT COUNT(*) FROM clinic_schema_version").await,
        4,
        "one row per applied release"
    );
}

async fn straight_from_24_1_to_24_3(on: On) {
    let Some(db) = fresh(on, "mig_straight").await else {
        return;
    };
    let url = &db.url;
    migrate(url, "24.1").await.unwrap();
    migrate(url, "24.3").await.unwrap();
    assert_eq!(current_release(url).await.unwrap().as_deref(), Some("24.3"));
    assert!(columns(url, "volunteers")
        .await
        .contains(&"phone".to_string()));
    assert!(has_index(url, "volunteers_name_idx").await);
    assert!(tables(url).await.contains(&"consents".to_string()));
    assert_eq!(
        scalar(url, "SELECT COUNT(*) FROM clinic_schema_version").await,
        4
    );

    // Same target again: nothing to do, nothing recorded.
    migrate(url, "24.3").await.unwrap();
    assert_eq!(
        scalar(url, "SELECT COUNT(*) FROM clinic_schema_version").await,
        4
    );
}

async fn downgrade_is_refused(on: On) {
    let Some(db) = fresh(on, "mig_down").await else {
        return;
    };
    migrate(&db.url, "24.2.1").await.unwrap();
    let err = migrate(&db.url, "24.2").await.unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<clinic::Error>(),
            Some(clinic::Error::Downgrade { .. })
        ),
        "{err:#}"
    );
    let msg = format!("{err:#}");
    assert!(
        msg.contains("24.2.1") && msg.contains("only go forward"),
        "{msg}"
    );
    assert_eq!(
        current_release(&db.url).await.unwrap().as_deref(),
        Some("24.2.1")
    );
}

/// Upgrading keeps every row: data generated at 24.1 and migrated to 24.3 equals data
/// generated at 24.3, apart from what 24.1 could not store (phones, devices, consents,
/// audit rows); the 24.3 migration backfills study phases from the titles.
async fn upgrade_keeps_rows_and_backfills_phase(on: On) {
    let Some(old) = fresh(on, "mig_data_old").await else {
        return;
    };
    let Some(new) = fresh(on, "mig_data_new").await else {
        return;
    };
    let opts = GenOptions {
        volunteers: 60,
        events: 900,
        seed: 11,
        release: Some("24.1".into()),
    };
    generate(&old.url, &opts).await.unwrap();
    migrate(&old.url, "24.3").await.unwrap();
    generate(
        &new.url,
        &GenOptions {
            release: None,
            ..opts
        },
    )
    .await
    .unwrap();

    let cols = |all: Vec<String>, without: &str| -> Vec<String> {
        all.into_iter().filter(|c| c != without).collect()
    };
    for (table, skip) in [
        ("studies", ""),
        ("staff", ""),
        ("volunteers", "phone"),
        ("enrolments", ""),
        ("events", "device"),
    ] {
        let c = cols(columns(&new.url, table).await, skip);
        assert_eq!(
            common::dump_table(&old.url, table, &c).await,
            common::dump_table(&new.url, table, &c).await,
            "{table} after 24.1 → 24.3 equals {table} generated at 24.3"
        );
    }
    assert_eq!(
        scalar(&old.url, "SELECT COUNT(*) FROM studies WHERE phase IS NULL").await,
        0,
        "phase is backfilled"
    );
    assert_eq!(scalar(&old.url, "SELECT COUNT(*) FROM consents").await, 0);
    assert_eq!(
        scalar(
            &old.url,
            "SELECT COUNT(*) FROM events WHERE device IS NOT NULL"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn sqlite_migrates_step_by_step() {
    steps_bring_each_release(On::Sqlite).await;
}

#[tokio::test]
async fn postgres_migrates_step_by_step() {
    steps_bring_each_release(On::Postgres).await;
}

#[tokio::test]
async fn mariadb_migrates_step_by_step() {
    steps_bring_each_release(On::MariaDb).await;
}

#[tokio::test]
async fn sqlite_migrates_straight_to_24_3() {
    straight_from_24_1_to_24_3(On::Sqlite).await;
}

#[tokio::test]
async fn postgres_migrates_straight_to_24_3() {
    straight_from_24_1_to_24_3(On::Postgres).await;
}

#[tokio::test]
async fn mariadb_migrates_straight_to_24_3() {
    straight_from_24_1_to_24_3(On::MariaDb).await;
}

#[tokio::test]
async fn sqlite_refuses_downgrade() {
    downgrade_is_refused(On::Sqlite).await;
}

#[tokio::test]
async fn postgres_refuses_downgrade() {
    downgrade_is_refused(On::Postgres).await;
}

#[tokio::test]
async fn mariadb_refuses_downgrade() {
    downgrade_is_refused(On::MariaDb).await;
}

#[tokio::test]
async fn sqlite_upgrade_keeps_rows_and_backfills_phase() {
    upgrade_keeps_rows_and_backfills_phase(On::Sqlite).await;
}

#[tokio::test]
async fn postgres_upgrade_keeps_rows_and_backfills_phase() {
    upgrade_keeps_rows_and_backfills_phase(On::Postgres).await;
}

#[tokio::test]
async fn mariadb_upgrade_keeps_rows_and_backfills_phase() {
    upgrade_keeps_rows_and_backfills_phase(On::MariaDb).await;
}

#[tokio::test]
async fn empty_database_migrates_straight_to_latest() {
    let db = valet_testkit::TestDb::sqlite("mig_empty");
    migrate(&db.url, "24.3.0.1300").await.unwrap();
    assert_eq!(
        current_release(&db.url).await.unwrap().as_deref(),
        Some("24.3")
    );
    assert_eq!(
        scalar(&db.url, "SELECT COUNT(*) FROM clinic_schema_version").await,
        4
    );
}

#[tokio::test]
async fn unknown_release_is_refused_with_the_known_ones_listed() {
    let db = valet_testkit::TestDb::sqlite("mig_unknown");
    let err = format!("{:#}", migrate(&db.url, "25.1").await.unwrap_err());
    assert!(
        err.contains("unknown release `25.1`") && err.contains("24.2.1"),
        "{err}"
    );
    assert_eq!(
        current_release(&db.url).await.unwrap(),
        None,
        "nothing was applied"
    );
}

#[tokio::test]
async fn a_foreign_database_is_not_migrated() {
    let db = valet_testkit::TestDb::sqlite("mig_foreign");
    let (_, mut conn) = common::connect(&db.url).await;
    sqlx::raw_sql("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = format!("{:#}", migrate(&db.url, "24.1").await.unwrap_err());
    assert!(
        err.contains("invoices") && err.contains("not a clinic database"),
        "{err}"
    );
}

#[tokio::test]
async fn unsupported_url_names_the_accepted_schemes() {
    let err = format!("{:#}", migrate("oracle://x/y", "24.1").await.unwrap_err());
    assert!(
        err.contains("sqlite://PATH") && err.contains("mariadb://"),
        "{err}"
    );
}

/// `clinic migrate` prints one timed line per migration, so valet can record each one.
async fn cli_prints_a_timed_line_per_migration(on: On) {
    let Some(db) = fresh(on, "mig_cli").await else {
        return;
    };
    let (ok, out, err) = common::run_clinic(&["migrate", "--db", &db.url, "--to", "24.2"]);
    assert!(ok, "{on:?}: {err}");
    let lines: Vec<&str> = out.lines().collect();
    for (line, release) in lines
        .iter()
        .zip(["24.1 (24.1.0.1042)", "24.2 (24.2.0.1187)"])
    {
        let ms = line
            .strip_prefix(&format!("migrated: {release} in "))
            .and_then(|rest| rest.strip_suffix(" ms"))
            .unwrap_or_else(|| panic!("{on:?}: `{line}` is not a timed line for {release}"));
        ms.parse::<u64>()
            .unwrap_or_else(|e| panic!("{on:?}: `{ms}` in `{line}`: {e}"));
    }
    assert_eq!(lines.len(), 3, "{on:?}: {out}");
    assert_eq!(lines[2], "schema: (empty) -> 24.2");

    let (ok, out, err) = common::run_clinic(&["migrate", "--db", &db.url, "--to", "24.2"]);
    assert!(ok, "{on:?}: {err}");
    assert_eq!(
        out,
        "up to date: 24.2 (24.2.0.1187)\nschema: 24.2 -> 24.2\n"
    );
}

#[tokio::test]
async fn sqlite_cli_prints_a_timed_line_per_migration() {
    cli_prints_a_timed_line_per_migration(On::Sqlite).await;
}

#[tokio::test]
async fn postgres_cli_prints_a_timed_line_per_migration() {
    cli_prints_a_timed_line_per_migration(On::Postgres).await;
}

#[tokio::test]
async fn mariadb_cli_prints_a_timed_line_per_migration() {
    cli_prints_a_timed_line_per_migration(On::MariaDb).await;
}

/// A migration that fails exits non-zero and names itself on stderr; the ones before it are
/// reported as applied on stdout.
async fn failing_migration_is_named(on: On) {
    let Some(db) = fresh(on, "mig_fail").await else {
        return;
    };
    migrate(&db.url, "24.2").await.unwrap();
    // A table of the name 24.3 creates makes its migration fail.
    let (_, mut conn) = common::connect(&db.url).await;
    sqlx::raw_sql("CREATE TABLE consents (id INTEGER PRIMARY KEY)")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let (ok, out, err) = common::run_clinic(&["migrate", "--db", &db.url, "--to", "24.3"]);
    assert!(!ok, "{on:?}: {out}");
    assert!(
        out.starts_with("migrated: 24.2.1 (24.2.1.1201) in "),
        "{on:?}: {out}"
    );
    assert!(!out.contains("migrated: 24.3"), "{on:?}: {out}");
    assert!(
        err.starts_with("error: ")
            && err.contains("migration to 24.3 (24.3.0.1300) failed")
            && err.contains("consents"),
        "{on:?}: {err}"
    );
    assert_eq!(
        current_release(&db.url).await.unwrap().as_deref(),
        Some("24.2.1"),
        "{on:?}: the schema stays at the last migration that succeeded"
    );
}

#[tokio::test]
async fn sqlite_failing_migration_is_named() {
    failing_migration_is_named(On::Sqlite).await;
}

#[tokio::test]
async fn postgres_failing_migration_is_named() {
    failing_migration_is_named(On::Postgres).await;
}

#[tokio::test]
async fn mariadb_failing_migration_is_named() {
    failing_migration_is_named(On::MariaDb).await;
}
