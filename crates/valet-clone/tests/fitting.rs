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
    assert_names(&e, "code", "id = 1234");
    assert!(e.to_string().contains("people.code (row id = 1234)"), "{e}");
    // Not an integer: converted to 0 without strict mode.
    let policy = lengthening(
        "\"keep\"",
        "{ transformer = \"constant\", value = \"abc\" }",
    );
    let e = clone_database(&options(&src, &dst, &policy))
        .await
        .unwrap_err();
    assert_names(&e, "level", "id = 1");
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
}
