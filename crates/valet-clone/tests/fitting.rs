//! Values that do not fit their target column, on every engine: the target never truncates or
//! converts silently (MariaDB writes in strict mode), and a refused row is named by table,
//! column and key — never by its value.

use mysql_async::prelude::*;
use tokio_postgres::NoTls;
use valet_clone::{clone_database, CloneError, CloneOptions, Policy, RunKey};
use valet_testkit::TestDb;

fn options(src: &TestDb, dst: &TestDb, policy: &str) -> CloneOptions {
    let mut o = CloneOptions::new(
        src.url.clone(),
        dst.url.clone(),
        Policy::from_toml_str(policy, "fit.toml").unwrap(),
    );
    o.key = RunKey::from_bytes(b"fitting test key");
    o.jobs = 2;
    o
}

async fn pg(url: &str, sql: &str) {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    let h = tokio::spawn(conn);
    c.batch_execute(sql).await.expect("setup");
    drop(c);
    let _ = h.await;
}

async fn maria(url: &str, sql: &[&str]) {
    let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(url).unwrap())
        .await
        .expect("connect");
    for s in sql {
        c.query_drop(*s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    c.disconnect().await.unwrap();
}

/// A policy that lengthens every `code` (a value the target cannot hold) and writes letters
/// into an integer column.
fn lengthening(code: &str, level: &str) -> String {
    format!("[tables.people.columns]\nid = \"keep\"\ncode = {code}\nlevel = {level}\n")
}

const LONGER: &str =
    "{ transformer = \"regex_replace\", pattern = \"^(.*)$\", replacement = \"$1-$1-$1\" }";

fn assert_names(e: &CloneError, column: &str, key: &str) {
    match e {
        CloneError::Write {
            table,
            column: c,
            row,
            message,
        } => {
            assert_eq!(table, "people", "{e}");
            assert_eq!(c.as_deref(), Some(column), "{e}");
            assert_eq!(row.as_deref(), Some(key), "{e}");
            assert!(!message.contains("abc"), "no value in the message: {e}");
        }
        other => panic!("expected a write error, got {other}"),
    }
}

#[tokio::test]
async fn mariadb_writes_strictly_and_names_the_refused_row() {
    let Some(src) = TestDb::mariadb("fit_src").await else {
        return;
    };
    let dst = src.sibling("fit_dst").await;
    maria(
        &src.url,
        &[
            "CREATE TABLE people (id INT PRIMARY KEY, code VARCHAR(8), level INT)",
            "INSERT INTO people SELECT seq, CONCAT('c', seq), seq FROM seq_1_to_2000",
            "UPDATE people SET code = 'abcdefgh' WHERE id = 1234",
        ],
    )
    .await;
    // Too long: only row 1234's code grows past 8 characters.
    let policy = lengthening(
        "{ transformer = \"regex_replace\", pattern = \"^abcdefgh$\", replacement = \"abcdefgh-too-long\" }",
        "\"keep\"",
    );
    let e = clone_database(&options(&src, &dst, &policy))
        .await
        .unwrap_err();
    assert_names(&e, "code", "id = '1234'");
    assert!(
        e.to_string().contains("people.code (row id = '1234')"),
        "{e}"
    );
    // Not an integer: converted to 0 without strict mode.
    let policy = lengthening(
        "\"keep\"",
        "{ transformer = \"constant\", value = \"abc\" }",
    );
    let e = clone_database(&options(&src, &dst, &policy))
        .await
        .unwrap_err();
    assert_names(&e, "level", "id = '1'");
    // A key of two columns is named by both.
    maria(
        &src.url,
        &[
            "CREATE TABLE visits (person INT, day DATE, note VARCHAR(8), PRIMARY KEY (person, day))",
            "INSERT INTO visits SELECT seq, '2024-01-02', 'ok' FROM seq_1_to_50",
        ],
    )
    .await;
    let policy = format!(
        "{}[tables.visits.columns]\nperson = \"keep\"\nday = \"keep\"\nnote = {{ transformer = \"constant\", value = \"x\" }}\n",
        lengthening("\"keep\"", "\"keep\"")
    )
    .replace(
        "note = { transformer = \"constant\", value = \"x\" }",
        "note = { transformer = \"regex_replace\", pattern = \"^ok$\", replacement = \"far too long\" }",
    );
    let e = clone_database(&options(&src, &dst, &policy))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("write visits.note (row person = '1', day = '2024-01-02')"),
        "{msg}"
    );
}

#[test]
fn sqlite_refused_rows_name_table_column_and_row() {
    let src = TestDb::sqlite("fit_src");
    let dst = TestDb::sqlite("fit_dst");
    let c = rusqlite::Connection::open(&src.name).unwrap();
    c.execute_batch(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, code TEXT, level INTEGER NOT NULL) STRICT;
         WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 50)
         INSERT INTO people SELECT i, 'c' || i, i FROM g;",
    )
    .unwrap();
    drop(c);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let policy = lengthening(
        "\"keep\"",
        "{ transformer = \"constant\", value = \"abc\" }",
    );
    let e = rt
        .block_on(clone_database(&options(&src, &dst, &policy)))
        .unwrap_err();
    assert_names(&e, "level", "id = 1");
    let policy = lengthening("\"keep\"", "\"null\"");
    let e = rt
        .block_on(clone_database(&options(&src, &dst, &policy)))
        .unwrap_err();
    assert_names(&e, "level", "id = 1");
    assert!(e.to_string().contains("NOT NULL"), "{e}");
}

#[tokio::test]
async fn postgres_copy_errors_name_table_column_and_row() {
    let Some(src) = TestDb::postgres("fit_src").await else {
        return;
    };
    let dst = src.sibling("fit_dst").await;
    pg(
        &src.url,
        "CREATE TABLE people (id int PRIMARY KEY, code varchar(40), level int);
         INSERT INTO people SELECT g, 'c' || g, g FROM generate_series(1, 2000) g;
         UPDATE people SET code = 'abcdefghijklmn' WHERE id = 1234;",
    )
    .await;
    let e = clone_database(&options(&src, &dst, &lengthening(LONGER, "\"keep\"")))
        .await
        .unwrap_err();
    assert_names(&e, "code", "id = 1234");
    let msg = e.to_string();
    assert!(
        msg.contains("value too long for type character varying(40)"),
        "{msg}"
    );
    // A key of two columns is named by both.
    pg(
        &src.url,
        "CREATE TABLE visits (person int, day date, note varchar(8), PRIMARY KEY (person, day));
         INSERT INTO visits SELECT g, date '2024-01-02', 'ok' FROM generate_series(1, 50) g;
         UPDATE visits SET note = 'long' WHERE person = 30;",
    )
    .await;
    let policy = format!(
        "{}[tables.visits.columns]\nperson = \"keep\"\nday = \"keep\"\nnote = {LONGER}\n",
        lengthening("\"keep\"", "\"keep\"")
    );
    let e = clone_database(&options(&src, &dst, &policy))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("write visits.note (row person = 30, day = 2024-01-02)"),
        "{msg}"
    );
}

const FIT_POLICY: &str = r#"
[tables.people]
subject = "id"
[tables.people.columns]
id = "keep"
email = "email"
name = "full_name"
code = "first_name"
"#;

/// Rows of `people`: e-mails that fit `varchar(40)` but whose masked form would not.
fn people_rows(n: u32) -> Vec<String> {
    (1..=n)
        .map(|i| format!("({i}, 'volunteer{i}@hospital.example.org', 'Ann {i}', 'Ines')"))
        .collect()
}

/// The masked rows are valid, unique, and fit their columns.
fn check_fitting(rows: &[(String, String, String)], n: usize) {
    assert_eq!(rows.len(), n);
    let addr = regex::Regex::new(r"^[a-z0-9]+(\.[a-z0-9]+)*@example\.invalid$").unwrap();
    let mut seen = std::collections::HashSet::new();
    for (email, name, code) in rows {
        assert!(email.chars().count() <= 40, "{email}");
        assert!(addr.is_match(email), "not an address: {email}");
        assert!(seen.insert(email.clone()), "duplicate {email}");
        assert!(name.trim_end().chars().count() <= 10, "{name}");
        assert!(code.trim_end().chars().count() <= 4, "{code}");
        assert!(!email.contains("volunteer") && !name.starts_with("Ann "));
    }
}

const TOO_SHORT: &str = "\nshort = \"email\"\n";

fn assert_refused(e: &CloneError) {
    let msg = e.to_string();
    assert!(matches!(e, CloneError::Policy { .. }), "{msg}");
    assert!(msg.contains("people.short"), "{msg}");
    assert!(msg.contains("widen the column"), "{msg}");
}

#[tokio::test]
async fn postgres_masked_values_fit_their_columns() {
    let Some(src) = TestDb::postgres("fit_src").await else {
        return;
    };
    let dst = src.sibling("fit_dst").await;
    pg(
        &src.url,
        &format!(
            "CREATE TABLE people (id int PRIMARY KEY, email varchar(40) UNIQUE, name char(10),
               code varchar(4), short varchar(20));
             INSERT INTO people (id, email, name, code) VALUES {};",
            people_rows(1500).join(",")
        ),
    )
    .await;
    let e = clone_database(&options(&src, &dst, &format!("{FIT_POLICY}{TOO_SHORT}")))
        .await
        .unwrap_err();
    assert_refused(&e);
    let (c, conn) = tokio_postgres::connect(&dst.url, NoTls).await.unwrap();
    tokio::spawn(conn);
    let tables: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "nothing written before the refusal");
    let policy = format!("{FIT_POLICY}short = \"null\"\n");
    clone_database(&options(&src, &dst, &policy))
        .await
        .expect("clone");
    let rows: Vec<(String, String, String)> = c
        .query("SELECT email, name, code FROM people", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    check_fitting(&rows, 1500);
}

#[tokio::test]
async fn mariadb_masked_values_fit_their_columns() {
    let Some(src) = TestDb::mariadb("fit_src").await else {
        return;
    };
    let dst = src.sibling("fit_dst").await;
    let insert = format!(
        "INSERT INTO people (id, email, name, code) VALUES {}",
        people_rows(1500).join(",")
    );
    maria(
        &src.url,
        &[
            "CREATE TABLE people (id INT PRIMARY KEY, email VARCHAR(40) UNIQUE, name CHAR(10),
               code VARCHAR(4), short VARCHAR(20))",
            &insert,
        ],
    )
    .await;
    let e = clone_database(&options(&src, &dst, &format!("{FIT_POLICY}{TOO_SHORT}")))
        .await
        .unwrap_err();
    assert_refused(&e);
    let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&dst.url).unwrap())
        .await
        .unwrap();
    let tables: Vec<String> = c.query("SHOW TABLES").await.unwrap();
    assert!(tables.is_empty(), "nothing written before the refusal");
    let policy = format!("{FIT_POLICY}short = \"null\"\n");
    clone_database(&options(&src, &dst, &policy))
        .await
        .expect("clone");
    let rows: Vec<(String, String, String)> = c
        .query("SELECT email, name, code FROM people")
        .await
        .unwrap();
    check_fitting(&rows, 1500);
}

#[test]
fn sqlite_masked_values_fit_their_declared_columns() {
    let src = TestDb::sqlite("fit_src");
    let dst = TestDb::sqlite("fit_dst");
    let path = |db: &TestDb| db.name.clone();
    let c = rusqlite::Connection::open(path(&src)).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, email VARCHAR(40) UNIQUE, name CHAR(10),
           code VARCHAR(4), short VARCHAR(20));
         INSERT INTO people (id, email, name, code) VALUES {};",
        people_rows(1500).join(",")
    ))
    .unwrap();
    drop(c);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt
        .block_on(clone_database(&options(
            &src,
            &dst,
            &format!("{FIT_POLICY}{TOO_SHORT}"),
        )))
        .unwrap_err();
    assert_refused(&e);
    assert!(
        !std::path::Path::new(&path(&dst)).exists(),
        "nothing written"
    );
    let policy = format!("{FIT_POLICY}short = \"null\"\n");
    rt.block_on(clone_database(&options(&src, &dst, &policy)))
        .expect("clone");
    let c = rusqlite::Connection::open(path(&dst)).unwrap();
    let mut st = c.prepare("SELECT email, name, code FROM people").unwrap();
    let rows: Vec<(String, String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    check_fitting(&rows, 1500);
}
