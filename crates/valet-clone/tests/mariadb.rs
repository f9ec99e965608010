//! MariaDB → MariaDB against an adversarial schema: unicode and mixed-case identifiers,
//! generated columns, enums, JSON, blobs, BIT, a partitioned table, a sequence, a view, a
//! function, a trigger, foreign keys and check constraints.

use mysql_async::prelude::*;
use mysql_async::Conn;

mod adversarial;

use adversarial::maria::{conn, populate, POLICY};
use valet_clone::{clone_database, CloneError, CloneOptions, Policy, RunKey};
use valet_testkit::TestDb;

type Row = (
    u64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<Vec<u8>>,
);

fn options(src: &TestDb, dst: &TestDb) -> CloneOptions {
    let mut o = CloneOptions::new(
        src.url.clone(),
        dst.url.clone(),
        Policy::from_toml_str(POLICY, "maria.toml").unwrap(),
    );
    o.key = RunKey::from_bytes(b"mariadb test key");
    o.jobs = 3;
    o.split_rows = 500;
    o
}

async fn one(c: &mut Conn, q: &str) -> String {
    let v: Option<Option<String>> = c
        .query_first(q)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    v.flatten().unwrap_or_else(|| "NULL".into())
}

#[tokio::test]
async fn adversarial_schema_survives_and_is_masked() {
    let Some(src) = TestDb::mariadb("msrc").await else {
        return;
    };
    let dst = src.sibling("mdst").await;
    populate(&src.url, 1000).await;
    let report = clone_database(&options(&src, &dst)).await.expect("clone");
    assert!(report.leak_scan.passed, "{:?}", report.leak_scan);
    assert!(
        report.snapshot.contains("global read lock"),
        "{}",
        report.snapshot
    );
    assert!(
        report
            .tables
            .iter()
            .any(|t| t.table == "events" && t.parts > 1),
        "{:?}",
        report.tables
    );
    let mut s = conn(&src.url).await;
    let mut d = conn(&dst.url).await;
    let (sdb, ddb) = (src.name.clone(), dst.name.clone());
    for q in [
        "SELECT CAST(count(*) AS CHAR) FROM `Volunteer Ünï`".to_string(),
        "SELECT CAST(count(*) AS CHAR) FROM MixedCase".to_string(),
        "SELECT CAST(count(*) AS CHAR) FROM events".to_string(),
        "SELECT CAST(count(*) AS CHAR) FROM audit".to_string(),
        "SELECT CAST(sum(amount) AS CHAR) FROM MixedCase".to_string(),
        "SELECT CAST(count(*) AS CHAR) FROM `Volunteer Ünï` WHERE bits = b'101' AND score = ROUND(id / 7, 3)".to_string(),
        "SELECT group_concat(DISTINCT created_at) FROM `Volunteer Ünï`".to_string(),
        "SELECT group_concat(DISTINCT collected_at) FROM events".to_string(),
        "SELECT CAST(twice(21) AS CHAR)".to_string(),
        "SELECT CAST(count(*) AS CHAR) FROM v_names".to_string(),
        "SELECT CAST(NEXTVAL(ticket_seq) AS CHAR)".to_string(),
        "SELECT CAST(AUTO_INCREMENT AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'audit'".to_string(),
        "SELECT CAST(count(*) AS CHAR) FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = DATABASE()".to_string(),
        "SELECT CAST(count(*) AS CHAR) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()".to_string(),
        "SELECT CAST(count(*) AS CHAR) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()".to_string(),
        "SELECT CAST(count(*) AS CHAR) FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() AND PARTITION_NAME IS NOT NULL".to_string(),
    ] {
        let (a, b) = (one(&mut s, &q).await, one(&mut d, &q).await);
        assert_eq!(a, b, "{q} ({sdb} vs {ddb})");
    }
    let rows: Vec<Row> = d
        .query("SELECT id, first_name, last_name, initials, email, notes, full_name, prefs, photo FROM `Volunteer Ünï` ORDER BY id")
        .await
        .unwrap();
    let src_first: Vec<String> = s
        .query("SELECT first_name FROM `Volunteer Ünï` ORDER BY id")
        .await
        .unwrap();
    let mut emails = std::collections::HashSet::new();
    for ((id, first, last, initials, email, notes, full, prefs, photo), sf) in
        rows.iter().zip(&src_first)
    {
        assert_ne!(first, sf);
        assert_eq!(initials, &format!("{}{}", &first[..1], &last[..1]));
        assert_eq!(
            full,
            &format!("{first} {last}"),
            "generated column recomputed"
        );
        assert!(
            notes.starts_with(&format!("{first} {last} prefers")),
            "{notes}"
        );
        assert!(email.ends_with("@example.invalid"));
        assert!(photo.is_none());
        let p: serde_json::Value = serde_json::from_str(prefs).unwrap();
        assert_eq!(p["nick"].as_str().unwrap(), first);
        if *id > 5 {
            assert_eq!(p["contact"]["email"].as_str().unwrap(), email);
        }
        emails.insert(email.clone());
    }
    assert_eq!(emails.len(), 1000);
    let audit_ok = one(&mut d, "SELECT CAST(count(*) AS CHAR) FROM audit a JOIN `Volunteer Ünï` v ON v.id = a.volunteer_id WHERE a.new_value = v.email").await;
    assert_eq!(audit_ok, "5");
    let comment = one(
        &mut d,
        "SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()",
    )
    .await;
    assert!(comment.starts_with("valet-clone: complete"), "{comment}");
}

#[tokio::test]
async fn leak_drops_target_and_complete_target_is_refused() {
    let Some(src) = TestDb::mariadb("msrc").await else {
        return;
    };
    let dst = src.sibling("mdst").await;
    populate(&src.url, 30).await;
    let mut o = options(&src, &dst);
    o.policy = Policy::from_toml_str(
        &POLICY.replace(
            "notes = { transformer = \"free_text\", mode = \"redact\" }",
            "notes = \"keep\"",
        ),
        "m.toml",
    )
    .unwrap();
    let err = clone_database(&o).await.unwrap_err();
    assert!(matches!(err, CloneError::Leak { .. }), "{err}");
    let mut admin = conn(&valet_testkit::mariadb_admin_url()).await;
    let n: Option<i64> = admin
        .exec_first(
            "SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (&dst.name,),
        )
        .await
        .unwrap();
    assert_eq!(n, Some(0), "target dropped");
    let mut o = options(&src, &dst);
    o.check = true;
    let r = clone_database(&o).await.expect("check");
    assert!(r.leak_scan.passed);
    assert_eq!(n, Some(0), "check wrote nothing");
    clone_database(&options(&src, &dst))
        .await
        .expect("clone into a missing database");
    let e = clone_database(&options(&src, &dst)).await.unwrap_err();
    assert!(matches!(e, CloneError::TargetExists(_)), "{e}");
    let mut o = options(&src, &dst);
    o.replace = true;
    clone_database(&o).await.expect("replace");
}

#[tokio::test]
async fn unclassified_column_and_unreachable_target_are_errors() {
    let Some(src) = TestDb::mariadb("msrc").await else {
        return;
    };
    let dst = src.sibling("mdst").await;
    populate(&src.url, 5).await;
    let mut o = options(&src, &dst);
    o.policy = Policy::from_toml_str(&POLICY.replace("amount = \"keep\"\n", ""), "m.toml").unwrap();
    let msg = clone_database(&o).await.unwrap_err().to_string();
    assert!(
        msg.contains("[tables.MixedCase.columns]\namount = \"keep\""),
        "{msg}"
    );
    let mut o = options(&src, &dst);
    o.to = "mysql://root@127.0.0.1:1/nowhere".into();
    let e = clone_database(&o).await.unwrap_err();
    assert!(
        matches!(e, CloneError::Connect { side: "target", .. }),
        "{e}"
    );
    let mut d = conn(&dst.url).await;
    assert_eq!(one(&mut d, "SELECT CAST(count(*) AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()").await, "0");
}

/// The source spelled with and without the default port is still the same database: the
/// clone refuses before touching it (it would otherwise be the target, dropped by `--replace`).
#[tokio::test]
async fn the_source_is_recognised_as_the_target_with_or_without_the_default_port() {
    let Some(src) = TestDb::mariadb("same_port").await else {
        return;
    };
    let with_port = url::Url::parse(&src.url).unwrap();
    let host = with_port.host_str().unwrap().to_string();
    for (from, to) in [
        (
            format!("mysql://root@{host}/{}", src.name),
            format!("mysql://root@{host}:3306/{}", src.name),
        ),
        (
            format!("mysql://root@127.0.0.1:3306/{}", src.name),
            format!("mysql://root@localhost/{}", src.name),
        ),
    ] {
        let mut o = CloneOptions::new(
            from,
            to,
            Policy::from_toml_str(POLICY, "maria.toml").unwrap(),
        );
        o.key = RunKey::from_bytes(b"mariadb test key");
        o.replace = true;
        let err = clone_database(&o).await.expect_err("same database");
        assert!(
            matches!(err, CloneError::Unsupported(ref m) if m.contains("same database")),
            "{err}"
        );
    }
}
