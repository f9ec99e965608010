//! The clinic sample app's database at every release, on SQLite, PostgreSQL and MariaDB,
//! cloned through `examples/clinic/policy.toml`: same row counts and foreign keys, zero
//! leak-scan hits, initials that match the masked names, audit copies consistent.

use clinic::gen::{generate, GenOptions};
use valet_clone::{clone_database, CloneOptions, CloneReport, Policy, RunKey};
use valet_testkit::TestDb;

const RELEASES: &[&str] = &["24.1", "24.2", "24.2.1", "24.3"];

fn policy() -> Policy {
    Policy::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/clinic/policy.toml"
    ))
    .expect("clinic policy")
}

/// Rows as text, whatever the engine.
async fn rows(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap().to_string();
        let sql = sql.to_string();
        return tokio::task::spawn_blocking(move || {
            let c = rusqlite::Connection::open(path).unwrap();
            let mut st = c.prepare(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            let n = st.column_count();
            let mut out = Vec::new();
            let mut rs = st.query([]).unwrap();
            while let Some(r) = rs.next().unwrap() {
                out.push(
                    (0..n)
                        .map(|i| match r.get_ref(i).unwrap() {
                            rusqlite::types::ValueRef::Null => None,
                            rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                            rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                            rusqlite::types::ValueRef::Text(t)
                            | rusqlite::types::ValueRef::Blob(t) => {
                                Some(String::from_utf8_lossy(t).into_owned())
                            }
                        })
                        .collect(),
                );
            }
            out
        })
        .await
        .unwrap();
    }
    if url.starts_with("postgres") {
        let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let msgs = c
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        return msgs
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                }
                _ => None,
            })
            .collect();
    }
    use mysql_async::prelude::*;
    let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(url).unwrap())
        .await
        .unwrap();
    let rs: Vec<mysql_async::Row> = c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let out = rs
        .into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    mysql_async::Value::NULL => None,
                    mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                    other => Some(other.as_sql(true).trim_matches('\'').to_string()),
                })
                .collect()
        })
        .collect();
    c.disconnect().await.unwrap();
    out
}

async fn scalar(url: &str, sql: &str) -> String {
    rows(url, sql).await[0][0].clone().unwrap_or_default()
}

fn fk_count_sql(url: &str) -> &'static str {
    if url.starts_with("sqlite") {
        "SELECT count(*) FROM sqlite_master m, pragma_foreign_key_list(m.name) WHERE m.type = 'table'"
    } else if url.starts_with("postgres") {
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
    } else {
        "SELECT count(*) FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()"
    }
}

const ORPHANS: &str = "SELECT (SELECT count(*) FROM enrolments e LEFT JOIN volunteers v ON v.id = e.volunteer_id WHERE v.id IS NULL)
     + (SELECT count(*) FROM events x LEFT JOIN enrolments e ON e.id = x.enrolment_id WHERE e.id IS NULL)";

async fn clone_and_check(src: &TestDb, dst: &TestDb, release: &str) -> CloneReport {
    let gen = generate(
        &src.url,
        &GenOptions {
            volunteers: 300,
            events: 3000,
            seed: 11,
            release: Some(release.into()),
        },
    )
    .await
    .unwrap_or_else(|e| panic!("generate {release}: {e:#}"));
    let mut o = CloneOptions::new(src.url.clone(), dst.url.clone(), policy());
    o.key = RunKey::from_bytes(b"clinic test key");
    o.jobs = 2;
    let report = clone_database(&o)
        .await
        .unwrap_or_else(|e| panic!("clone {release} on {}: {e}", src.url));
    assert!(
        report.leak_scan.passed && report.leak_scan.hits == 0,
        "{release}: {:?}",
        report.leak_scan
    );
    assert!(
        report.leak_scan.values_indexed > 300,
        "{release}: {:?}",
        report.leak_scan
    );
    for (table, n) in gen.tables() {
        let in_report = report
            .tables
            .iter()
            .find(|t| t.table == table)
            .map(|t| t.rows);
        assert_eq!(
            in_report,
            Some(n),
            "{release}: rows of {table} in the report"
        );
        let q = format!("SELECT count(*) FROM {table}");
        assert_eq!(
            scalar(&dst.url, &q).await,
            n.to_string(),
            "{release}: rows of {table} in the target"
        );
    }
    let fk = fk_count_sql(&src.url);
    assert_eq!(
        scalar(&src.url, fk).await,
        scalar(&dst.url, fk).await,
        "{release}: foreign keys"
    );
    assert_eq!(scalar(&dst.url, ORPHANS).await, "0", "{release}: orphans");

    let q = "SELECT id, first_name, last_name, initials, email, date_of_birth, notes FROM volunteers ORDER BY id";
    let (s, d) = (rows(&src.url, q).await, rows(&dst.url, q).await);
    assert_eq!(s.len(), d.len());
    for (a, b) in s.iter().zip(&d) {
        assert_eq!(a[0], b[0]);
        let (first, last, initials) = (
            b[1].clone().unwrap(),
            b[2].clone().unwrap(),
            b[3].clone().unwrap(),
        );
        assert_ne!(a[1], b[1], "first name masked");
        assert_ne!(a[4], b[4], "email masked");
        assert_ne!(a[5], b[5], "date of birth moved");
        let expected: String = [&first, &last]
            .iter()
            .filter_map(|n| n.chars().next())
            .flat_map(char::to_uppercase)
            .collect();
        assert_eq!(
            initials, expected,
            "{release}: initials follow the masked names"
        );
        assert_eq!(a[6].is_some(), b[6].is_some());
        if let (Some(x), Some(y)) = (&a[6], &b[6]) {
            assert_eq!(
                x.chars().count(),
                y.chars().count(),
                "notes keep their length"
            );
        }
    }
    // Staff logins are rebuilt from the masked names (`k.vantermolen`, a number kept or
    // raised) and name the same people in every table.
    let q = "SELECT username, full_name FROM staff ORDER BY id";
    let (s, d) = (rows(&src.url, q).await, rows(&dst.url, q).await);
    assert_eq!(s.len(), d.len());
    for (a, b) in s.iter().zip(&d) {
        let (login, name) = (b[0].clone().unwrap(), b[1].clone().unwrap());
        assert_ne!(a[0], b[0], "{release}: login masked");
        let (first, last) = name.split_once(' ').unwrap();
        let stem = format!("{}.{}", first[..1].to_lowercase(), last.to_lowercase());
        assert!(
            login.starts_with(&stem) && login[stem.len()..].chars().all(|c| c.is_ascii_digit()),
            "{release}: login {login} of {name}"
        );
    }
    let mut referring = vec![("report_definitions", "owner")];
    if release != "24.1" {
        referring.push(("volunteer_audit", "changed_by"));
    }
    if release == "24.3" {
        referring.push(("consents", "witnessed_by"));
    }
    for (table, column) in referring {
        let q = format!(
            "SELECT count(*) FROM {table} r LEFT JOIN staff s ON s.username = r.{column} \
             WHERE s.id IS NULL AND r.{column} IS NOT NULL"
        );
        assert_eq!(
            scalar(&dst.url, &q).await,
            "0",
            "{release}: every {table}.{column} is a masked staff login"
        );
    }
    if release != "24.1" {
        // The audit copy of the current e-mail and last name masks like the column.
        let q = "SELECT count(*) FROM volunteer_audit a JOIN volunteers v ON v.id = a.volunteer_id
                 WHERE (a.field = 'email' AND a.new_value <> v.email) OR (a.field = 'last_name' AND a.new_value <> v.last_name)";
        assert_eq!(
            scalar(&dst.url, q).await,
            "0",
            "{release}: audit copies consistent"
        );
        let q = "SELECT count(*) FROM volunteer_audit WHERE field IN ('email', 'last_name')";
        assert_ne!(
            scalar(&dst.url, q).await,
            "0",
            "{release}: the generator wrote audited changes"
        );
    }
    report
}

#[tokio::test]
async fn clinic_on_sqlite_at_every_release() {
    for release in RELEASES {
        let (src, dst) = (TestDb::sqlite("clinic"), TestDb::sqlite("clinic-val"));
        clone_and_check(&src, &dst, release).await;
    }
}

#[tokio::test]
async fn clinic_on_postgres_at_every_release() {
    for release in RELEASES {
        let Some(src) = TestDb::postgres("clinic").await else {
            return;
        };
        let dst = src.sibling("clinic_val").await;
        clone_and_check(&src, &dst, release).await;
    }
}

#[tokio::test]
async fn clinic_on_mariadb_at_every_release() {
    for release in RELEASES {
        let Some(src) = TestDb::mariadb("clinic").await else {
            return;
        };
        let dst = src.sibling("clinic_val").await;
        clone_and_check(&src, &dst, release).await;
    }
}

#[tokio::test]
async fn clinic_policy_check_passes_and_classifies_everything() {
    let src = TestDb::sqlite("clinic");
    generate(
        &src.url,
        &GenOptions {
            volunteers: 50,
            events: 200,
            seed: 3,
            release: None,
        },
    )
    .await
    .unwrap();
    let dst = TestDb::sqlite("never-written");
    let mut o = CloneOptions::new(src.url.clone(), dst.url.clone(), policy());
    o.check = true;
    let r = clone_database(&o).await.expect("check");
    assert!(r.check_only && r.leak_scan.passed);
    assert!(!std::path::Path::new(&dst.name).exists());
    let masked: usize = r
        .columns_by_transformer
        .iter()
        .filter(|(k, _)| *k != "keep")
        .map(|(_, v)| v.len())
        .sum();
    assert!(masked >= 14, "{:?}", r.columns_by_transformer);
}
