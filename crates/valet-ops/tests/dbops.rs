//! The upgrade runbook's database primitives against the real engines: backup, verify,
//! restore (the rollback), drop, and table checksums, on the clinic schema and data.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use valet_ops::dbops::{self, Backup};
use valet_ops::OpsError;
use valet_testkit::{Engine, TestDb};

/// The clinic at 24.2.1 with its data, plus a view and a trigger (the clinic has none) so a
/// restore has schema objects to bring back.
async fn clinic(db: &TestDb) {
    clinic::gen::generate(
        &db.url,
        &clinic::gen::GenOptions {
            volunteers: 200,
            events: 2000,
            seed: 1,
            release: Some("24.2.1".into()),
        },
    )
    .await
    .expect("generate the clinic");
    let objects: &[&str] = match db.engine {
        Engine::Sqlite => &[
            "CREATE VIEW german_volunteers AS SELECT id, subject_no FROM volunteers WHERE country = 'DE'",
            "CREATE TRIGGER volunteers_email_audit AFTER UPDATE OF email ON volunteers BEGIN \
             INSERT INTO volunteer_audit (volunteer_id, changed_at, changed_by, field, old_value, new_value) \
             VALUES (NEW.id, '2024-01-01 00:00:00', 'trigger', 'email', OLD.email, NEW.email); END",
        ],
        Engine::Postgres => &[
            "CREATE VIEW german_volunteers AS SELECT id, subject_no FROM volunteers WHERE country = 'DE'",
            "CREATE FUNCTION volunteers_email_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             INSERT INTO volunteer_audit (volunteer_id, changed_at, changed_by, field, old_value, new_value) \
             VALUES (NEW.id, now(), 'trigger', 'email', OLD.email, NEW.email); RETURN NEW; END $$",
            "CREATE TRIGGER volunteers_email_audit AFTER UPDATE OF email ON volunteers \
             FOR EACH ROW EXECUTE FUNCTION volunteers_email_audit()",
        ],
        Engine::MariaDb => &[
            "CREATE VIEW german_volunteers AS SELECT id, subject_no FROM volunteers WHERE country = 'DE'",
            "CREATE TRIGGER volunteers_email_audit AFTER UPDATE ON volunteers FOR EACH ROW \
             INSERT INTO volunteer_audit (volunteer_id, changed_at, changed_by, field, old_value, new_value) \
             VALUES (NEW.id, NOW(), 'trigger', 'email', OLD.email, NEW.email)",
            "CREATE PROCEDURE count_volunteers() SELECT COUNT(*) FROM volunteers",
        ],
    };
    exec(&db.url, objects).await;
}

async fn exec(url: &str, statements: &[&str]) {
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(url).await.expect("connect");
    for s in statements {
        sqlx::raw_sql(s)
            .execute(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    c.close().await.ok();
}

/// What a failed migration might leave behind: changed and deleted rows, a dropped view and
/// table, an added column and table.
async fn damage(db: &TestDb) {
    let text = if db.engine == Engine::MariaDb {
        "VARCHAR(20)"
    } else {
        "TEXT"
    };
    exec(
        &db.url,
        &[
            "UPDATE volunteers SET email = 'changed@example.org' WHERE id = 1",
            "DELETE FROM events WHERE id <= 100",
            "DROP VIEW german_volunteers",
            &format!("ALTER TABLE studies ADD COLUMN phase {text}"),
            "DROP TABLE dashboard_definitions",
            "CREATE TABLE upgrade_leftover (id INT)",
        ],
    )
    .await;
}

static LABELS: AtomicU32 = AtomicU32::new(0);

fn label() -> String {
    format!(
        "upg_t{}_{}",
        std::process::id(),
        LABELS.fetch_add(1, Ordering::Relaxed)
    )
}

/// A URL that opens the backup itself (to tamper with it).
fn backup_url(db: &TestDb, b: &Backup) -> String {
    match db.engine {
        Engine::Sqlite => format!("sqlite://{}", b.location),
        _ => db.url.replace(&db.name, &b.location),
    }
}

async fn backup_exists(db: &TestDb, b: &Backup) -> bool {
    match db.engine {
        Engine::Sqlite => std::path::Path::new(&b.location).exists(),
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
                .bind(&b.location)
                .fetch_one(&mut c)
                .await
                .unwrap();
            n > 0
        }
        Engine::MariaDb => {
            let mut c = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            )
            .bind(&b.location)
            .fetch_one(&mut c)
            .await
            .unwrap();
            n > 0
        }
    }
}

fn engine_name(e: Engine) -> &'static str {
    match e {
        Engine::Sqlite => "sqlite",
        Engine::Postgres => "postgres",
        Engine::MariaDb => "mysql",
    }
}

async fn restore_brings_back_data_and_schema(db: TestDb) {
    clinic(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let before = dbops::table_checksums(&db.url).await.unwrap();
    let schema = dbops::schema_objects(&db.url).await.unwrap();
    assert_eq!(before["events"].rows, 2000);
    assert!(
        schema.keys().any(|k| k.contains("german_volunteers")),
        "{schema:?}"
    );
    assert!(
        schema.keys().any(|k| k.contains("volunteers_email_audit")),
        "{schema:?}"
    );

    let b = dbops::backup(&db.url, dir.path(), &label()).await.unwrap();
    assert_eq!(b.engine, engine_name(db.engine));
    assert!(b.bytes.unwrap_or(0) > 0, "{b:?}");
    dbops::verify_restorable(&db.url, &b, &before)
        .await
        .unwrap();
    assert_eq!(dbops::backup_checksums(&db.url, &b).await.unwrap(), before);

    damage(&db).await;
    let damaged = dbops::table_checksums(&db.url).await.unwrap();
    assert_ne!(damaged, before);
    assert_eq!(damaged["events"].rows, 1900);

    dbops::restore(&db.url, &b).await.unwrap();
    let after = dbops::table_checksums(&db.url).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(dbops::schema_objects(&db.url).await.unwrap(), schema);
    // The restored trigger fires again.
    exec(
        &db.url,
        &["UPDATE volunteers SET email = 'again@example.org' WHERE id = 2"],
    )
    .await;
    let fired = dbops::table_checksums(&db.url).await.unwrap();
    assert_eq!(
        fired["volunteer_audit"].rows,
        before["volunteer_audit"].rows + 1
    );
    dbops::drop_backup(&db.url, &b).await.unwrap();
}

async fn backup_twice_with_one_label_replaces_the_first(db: TestDb) {
    clinic(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let label = label();
    let first = dbops::backup(&db.url, dir.path(), &label).await.unwrap();
    exec(&db.url, &["DELETE FROM events WHERE id <= 10"]).await;
    let now = dbops::table_checksums(&db.url).await.unwrap();
    let second = dbops::backup(&db.url, dir.path(), &label).await.unwrap();
    assert_eq!(first.location, second.location);
    dbops::verify_restorable(&db.url, &second, &now)
        .await
        .unwrap();
    dbops::drop_backup(&db.url, &second).await.unwrap();
}

async fn tampered_backup_fails_verification_naming_the_table(db: TestDb) {
    clinic(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let before = dbops::table_checksums(&db.url).await.unwrap();
    let b = dbops::backup(&db.url, dir.path(), &label()).await.unwrap();
    let tamper = match db.engine {
        Engine::MariaDb => format!(
            "UPDATE `{}`.studies SET title = 'tampered' WHERE id = 1",
            b.location
        ),
        _ => "UPDATE studies SET title = 'tampered' WHERE id = 1".to_string(),
    };
    let url = if db.engine == Engine::MariaDb {
        db.url.clone()
    } else {
        backup_url(&db, &b)
    };
    exec(&url, &[&tamper]).await;
    let err = dbops::verify_restorable(&db.url, &b, &before)
        .await
        .expect_err("a tampered backup must fail verification");
    let text = err.to_string();
    assert!(
        matches!(
            &err,
            OpsError::Database(dbops::DbOpsError::Mismatch { differences, .. })
                if differences.len() == 1
        ),
        "{text}"
    );
    assert!(text.contains("table `studies`"), "{text}");
    assert!(text.contains("different content"), "{text}");
    dbops::drop_backup(&db.url, &b).await.unwrap();
}

async fn one_changed_value_changes_the_checksum(db: TestDb) {
    clinic(&db).await;
    let before = dbops::table_checksums(&db.url).await.unwrap();
    assert_eq!(before, dbops::table_checksums(&db.url).await.unwrap());
    exec(
        &db.url,
        &["UPDATE events SET value_text = 'x' WHERE id = 7"],
    )
    .await;
    let after = dbops::table_checksums(&db.url).await.unwrap();
    assert_ne!(after["events"].sha256, before["events"].sha256);
    assert_eq!(after["events"].rows, before["events"].rows);
    assert_eq!(after["events"].columns, before["events"].columns);
    for (t, sum) in &before {
        if t != "events" {
            assert_eq!(&after[t], sum, "{t} did not change");
        }
    }
}

async fn drop_backup_leaves_nothing_behind(db: TestDb) {
    clinic(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let b = dbops::backup(&db.url, dir.path(), &label()).await.unwrap();
    assert!(backup_exists(&db, &b).await);
    dbops::drop_backup(&db.url, &b).await.unwrap();
    assert!(!backup_exists(&db, &b).await);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // Dropping again is nothing to do; restoring from it refuses and leaves the database.
    dbops::drop_backup(&db.url, &b).await.unwrap();
    let before = dbops::table_checksums(&db.url).await.unwrap();
    let err = dbops::restore(&db.url, &b).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert_eq!(dbops::table_checksums(&db.url).await.unwrap(), before);
}

macro_rules! on_every_engine {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(valet_testkit::TestDb::sqlite(stringify!($name))).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let Some(db) = valet_testkit::TestDb::postgres(stringify!($name)).await else { return };
                super::$name(db).await;
            })*
        }
        mod mariadb {
            $(#[tokio::test]
            async fn $name() {
                let Some(db) = valet_testkit::TestDb::mariadb(stringify!($name)).await else { return };
                super::$name(db).await;
            })*
        }
    };
}

on_every_engine!(
    restore_brings_back_data_and_schema,
    backup_twice_with_one_label_replaces_the_first,
    tampered_backup_fails_verification_naming_the_table,
    one_changed_value_changes_the_checksum,
    drop_backup_leaves_nothing_behind,
);

#[tokio::test]
async fn errors_and_backups_carry_no_password() {
    let url = "postgres://valet:s3cret-pw@127.0.0.1:1/clinic";
    let err = dbops::table_checksums(url).await.unwrap_err().to_string();
    assert!(!err.contains("s3cret-pw"), "{err}");
    assert!(err.contains("postgres://localhost:1"), "{err}");
    let err = dbops::backup(url, std::path::Path::new("/tmp"), "Bad-Label")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("[a-z0-9_]"), "{err}");
}

#[tokio::test]
async fn postgres_restore_ends_open_sessions_and_keeps_database_grants_and_settings() {
    let Some(db) = TestDb::postgres("pg_restore_sessions").await else {
        return;
    };
    clinic(&db).await;
    let role = format!("{}_reader", db.name);
    exec(
        &db.url,
        &[
            &format!("CREATE ROLE \"{role}\""),
            &format!("REVOKE ALL ON DATABASE \"{}\" FROM PUBLIC", db.name),
            &format!("GRANT CONNECT ON DATABASE \"{}\" TO \"{role}\"", db.name),
            &format!(
                "ALTER DATABASE \"{}\" SET search_path = public, \"$user\"",
                db.name
            ),
        ],
    )
    .await;
    let facts = |url: String| async move {
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        let row: (String, String) = sqlx::query_as(
            "SELECT coalesce(datacl::text, ''), current_setting('search_path') \
             FROM pg_database WHERE datname = current_database()",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        row
    };
    let before = facts(db.url.clone()).await;
    let sums = dbops::table_checksums(&db.url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Sessions left open on the database (a stuck app process) block neither the backup
    // (a template copy needs none) nor the rollback.
    let mut early = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut early).await.unwrap();
    let b = dbops::backup(&db.url, dir.path(), &label()).await.unwrap();
    assert!(sqlx::query("SELECT 1").execute(&mut early).await.is_err());
    damage(&db).await;
    let mut open = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut open).await.unwrap();
    dbops::restore(&db.url, &b).await.unwrap();
    assert!(sqlx::query("SELECT 1").execute(&mut open).await.is_err());
    assert_eq!(dbops::table_checksums(&db.url).await.unwrap(), sums);
    assert_eq!(facts(db.url.clone()).await, before);
    drop(db);
    let mut admin = sqlx::PgConnection::connect(&valet_testkit::pg_admin_url())
        .await
        .unwrap();
    sqlx::raw_sql(&format!("DROP ROLE \"{role}\""))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// Timings for bench/RESULTS.md on databases generated beforehand, e.g.
/// `VALET_DBOPS_BENCH=postgres://postgres@127.0.0.1/dbops_bench,sqlite:///tmp/clinic.db
/// cargo test -p valet-ops --test dbops bench_ -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "needs generated databases named in VALET_DBOPS_BENCH"]
async fn bench_backup_verify_restore_checksum() {
    let urls = std::env::var("VALET_DBOPS_BENCH").expect("VALET_DBOPS_BENCH");
    let dir =
        tempfile::tempdir_in(std::env::var("VALET_DBOPS_BENCH_DIR").unwrap_or(".".into())).unwrap();
    for url in urls.split(',') {
        let t = std::time::Instant::now();
        let sums = dbops::table_checksums(url).await.unwrap();
        let checksum_ms = t.elapsed().as_millis();
        let rows: u64 = sums.values().map(|s| s.rows).sum();
        let b = dbops::backup(url, dir.path(), "dbops_bench_bk")
            .await
            .unwrap();
        let t = std::time::Instant::now();
        dbops::verify_restorable(url, &b, &sums).await.unwrap();
        let verify_ms = t.elapsed().as_millis();
        let t = std::time::Instant::now();
        dbops::restore(url, &b).await.unwrap();
        let restore_ms = t.elapsed().as_millis();
        assert_eq!(dbops::table_checksums(url).await.unwrap(), sums);
        dbops::drop_backup(url, &b).await.unwrap();
        println!(
            "{} {}: {rows} rows, {} MB; checksums {checksum_ms} ms; backup {} ms; \
             verify {verify_ms} ms; restore {restore_ms} ms",
            b.engine,
            b.method,
            b.bytes.unwrap_or(0) / 1_000_000,
            b.took_ms
        );
    }
}

#[tokio::test]
async fn postgres_checksums_tables_whose_types_have_no_hash_function() {
    let Some(db) = TestDb::postgres("pg_json_sum").await else {
        return;
    };
    exec(
        &db.url,
        &[
            "CREATE TABLE settings (id INT PRIMARY KEY, doc JSON, at POINT)",
            "INSERT INTO settings VALUES (1, '{\"a\": 1}', '(1,2)'), (2, NULL, NULL)",
        ],
    )
    .await;
    let before = dbops::table_checksums(&db.url).await.unwrap();
    assert_eq!(before["settings"].rows, 2);
    exec(
        &db.url,
        &["UPDATE settings SET doc = '{\"a\": 2}' WHERE id = 1"],
    )
    .await;
    let after = dbops::table_checksums(&db.url).await.unwrap();
    assert_ne!(after["settings"].sha256, before["settings"].sha256);
}

#[tokio::test]
async fn mariadb_backup_refuses_what_a_row_copy_would_lose() {
    let Some(db) = TestDb::mariadb("maria_refuse").await else {
        return;
    };
    exec(
        &db.url,
        &[
            "CREATE TABLE prices (id INT PRIMARY KEY, amount INT) WITH SYSTEM VERSIONING",
            "CREATE SEQUENCE invoice_no",
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let err = dbops::backup(&db.url, dir.path(), &label())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("invoice_no (SEQUENCE)"), "{err}");
    assert!(err.contains("prices (SYSTEM VERSIONED)"), "{err}");
}

#[tokio::test]
async fn sqlite_restore_into_a_wal_database_leaves_no_wal_behind() {
    let db = TestDb::sqlite("sqlite_wal");
    clinic(&db).await;
    exec(&db.url, &["PRAGMA journal_mode = WAL"]).await;
    let before = dbops::table_checksums(&db.url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let b = dbops::backup(&db.url, dir.path(), &label()).await.unwrap();
    damage(&db).await;
    dbops::restore(&db.url, &b).await.unwrap();
    assert_eq!(dbops::table_checksums(&db.url).await.unwrap(), before);
    let wal = std::path::PathBuf::from(format!("{}-wal", db.name));
    assert!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0,
        "{} holds pages after the restore",
        wal.display()
    );
    let conn = rusqlite::Connection::open(&db.name).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    dbops::drop_backup(&db.url, &b).await.unwrap();
}

/// PostgreSQL's write horizon: a table nobody wrote since reports no written row; an insert,
/// an update (even to the same value) and a deleted-then-reinserted row each count as written;
/// a delete alone shows as a lower row count. A backup counts as many rows as it holds.
#[tokio::test]
async fn postgres_rows_written_since_the_horizon() {
    let Some(db) = TestDb::postgres("pg_written_since").await else {
        return;
    };
    clinic(&db).await;
    let before = dbops::rows_written_since(&db.url, None).await.unwrap();
    let h = dbops::write_horizon(&db.url)
        .await
        .unwrap()
        .expect("a horizon");
    let quiet = dbops::rows_written_since(&db.url, Some(h)).await.unwrap();
    assert_eq!(quiet, before, "nothing written: same rows, none written");
    assert!(quiet.values().all(|t| t.written == 0));
    assert_eq!(quiet["volunteers"].rows, 200);

    exec(
        &db.url,
        &[
            "UPDATE volunteers SET initials = initials WHERE id = 1",
            "UPDATE volunteers SET initials = 'ZZ' WHERE id = 2",
            "INSERT INTO studies (code, title, sponsor, status, started_on) \
             SELECT 'X9-' || code, title, sponsor, status, started_on FROM studies LIMIT 1",
            "DELETE FROM volunteer_audit WHERE id = (SELECT min(id) FROM volunteer_audit)",
        ],
    )
    .await;
    let now = dbops::rows_written_since(&db.url, Some(h)).await.unwrap();
    assert_eq!(
        now["volunteers"].written, 2,
        "an update writes, even the same value"
    );
    assert_eq!(now["volunteers"].rows, 200);
    assert_eq!(now["studies"].written, 1);
    assert_eq!(now["studies"].rows, before["studies"].rows + 1);
    assert_eq!(now["volunteer_audit"].written, 0);
    assert_eq!(
        now["volunteer_audit"].rows + 1,
        before["volunteer_audit"].rows
    );
    assert_eq!(now["events"], before["events"], "untouched");

    let dir = tempfile::tempdir().unwrap();
    let b = dbops::backup(&db.url, dir.path(), &format!("{}_bk", db.name))
        .await
        .unwrap();
    assert_eq!(
        dbops::backup_rows(&db.url, &b).await.unwrap()["studies"].rows,
        now["studies"].rows
    );
    dbops::drop_backup(&db.url, &b).await.unwrap();
    let sqlite = TestDb::sqlite("written_since");
    assert!(dbops::rows_written_since(&sqlite.url, None).await.is_err());
    assert_eq!(dbops::write_horizon(&sqlite.url).await.unwrap(), None);
}
