//! MariaDB → MariaDB against an adversarial schema: unicode and mixed-case identifiers,
//! generated columns, enums, JSON, blobs, BIT, a partitioned table, a sequence, a view, a
//! function, a trigger, foreign keys and check constraints.

use mysql_async::prelude::*;
use mysql_async::Conn;
use valet_clone::{clone_database, CloneError, CloneOptions, Policy, RunKey};
use valet_testkit::TestDb;

const SCHEMA: &[&str] = &[
    "CREATE TABLE `Volunteer Ünï` (
       id BIGINT AUTO_INCREMENT PRIMARY KEY,
       first_name VARCHAR(100) NOT NULL, last_name VARCHAR(100) NOT NULL, initials CHAR(2),
       date_of_birth DATE, sex ENUM('F','M','X'), email VARCHAR(200) UNIQUE, phone VARCHAR(40),
       notes TEXT, prefs JSON, photo BLOB, score DECIMAL(10,3),
       created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), bits BIT(3),
       full_name VARCHAR(201) AS (CONCAT(first_name, ' ', last_name)) PERSISTENT,
       KEY idx_last (last_name)) ENGINE=InnoDB",
    "CREATE TABLE `MixedCase` (`Volunteer Id` BIGINT, `Note Ü` TEXT, amount DOUBLE,
       CONSTRAINT fk_mc FOREIGN KEY (`Volunteer Id`) REFERENCES `Volunteer Ünï`(id),
       CONSTRAINT chk_amount CHECK (amount >= 0)) ENGINE=InnoDB",
    "CREATE TABLE events (id BIGINT AUTO_INCREMENT PRIMARY KEY, volunteer_id BIGINT,
       collected_at DATETIME(3), value_text VARCHAR(50), KEY (volunteer_id))
       ENGINE=InnoDB PARTITION BY HASH(id) PARTITIONS 3",
    "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, volunteer_id BIGINT, field VARCHAR(30),
       old_value TEXT, new_value TEXT, FOREIGN KEY (volunteer_id) REFERENCES `Volunteer Ünï`(id)) ENGINE=InnoDB",
    "CREATE SEQUENCE ticket_seq START WITH 100",
    "CREATE VIEW v_names AS SELECT id, first_name FROM `Volunteer Ünï`",
    "CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
    "CREATE TRIGGER trg_audit AFTER UPDATE ON `Volunteer Ünï` FOR EACH ROW
       INSERT INTO audit(volunteer_id, field, old_value, new_value) VALUES (OLD.id, 'email', OLD.email, NEW.email)",
];

const POLICY: &str = r#"
[tables."Volunteer Ünï"]
subject = "id"
[tables."Volunteer Ünï".columns]
id = "keep"
first_name = "first_name"
last_name = "last_name"
initials = { transformer = "initials", from = ["first_name", "last_name"] }
date_of_birth = { transformer = "date_of_birth", shift_days = 60 }
sex = "sex"
email = "email"
phone = "phone"
notes = { transformer = "free_text", mode = "redact" }
prefs = { transformer = "json", paths = { "$.contact.email" = "email", "$.nick" = "first_name" } }
photo = "null"
score = "keep"
created_at = "keep"
bits = "keep"

[tables.MixedCase]
subject = "Volunteer Id"
[tables.MixedCase.columns]
"Volunteer Id" = "keep"
"Note Ü" = "free_text"
amount = "keep"

[tables.events.columns]
id = "keep"
volunteer_id = "keep"
collected_at = "keep"
value_text = "keep"

[tables.audit]
subject = "volunteer_id"
[tables.audit.columns]
id = "keep"
volunteer_id = "keep"
field = "keep"
old_value = { transformer = "switch", on = "field", cases = { email = "email" }, default = "null" }
new_value = { transformer = "switch", on = "field", cases = { email = "email" }, default = "null" }
"#;

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

async fn conn(url: &str) -> Conn {
    Conn::new(mysql_async::Opts::from_url(url).unwrap())
        .await
        .expect("connect")
}

async fn populate(url: &str, n: u32) {
    let mut c = conn(url).await;
    for s in SCHEMA {
        c.query_drop(*s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    c.query_drop(format!(
        "INSERT INTO `Volunteer Ünï` (first_name, last_name, initials, date_of_birth, sex, email, phone, notes, prefs, photo, score, bits)
         SELECT f, l, CONCAT(LEFT(f, 1), LEFT(l, 1)), DATE_ADD('1950-01-01', INTERVAL (seq * 37 % 15000) DAY),
                IF(seq % 2 = 0, 'F', 'M'), LOWER(CONCAT(f, '.', l, '@mail.example.com')), CONCAT('+44 20 7946 ', LPAD(seq, 4, '0')),
                CONCAT(f, ' ', l, ' prefers morning visits.'),
                JSON_OBJECT('contact', JSON_OBJECT('email', LOWER(CONCAT(f, '.', l, '@mail.example.com'))), 'nick', f, 'n', seq),
                X'00FF10', seq / 7, b'101'
         FROM (SELECT seq, ELT(1 + seq % 5, 'Anna', 'Jürgen', 'Olivia', 'Mohammed', 'Siobhán') AS f,
                      CONCAT(ELT(1 + seq % 5, 'Kowalczyk', 'Nakamura', 'O''Neill', 'Fitzgerald', 'Abernathy'), seq) AS l
               FROM seq_1_to_{n}) s"
    ))
    .await
    .expect("volunteers");
    for q in [
        "INSERT INTO MixedCase SELECT id, CONCAT('Ünï note ', id), id * 1.5 FROM `Volunteer Ünï`".to_string(),
        "INSERT INTO events (volunteer_id, collected_at, value_text) SELECT 1 + seq % 20, '2024-06-01 10:00:00.123', 'normal' FROM seq_1_to_3000".to_string(),
        "UPDATE `Volunteer Ünï` SET email = CONCAT('new.', email) WHERE id <= 5".to_string(),
        "SELECT NEXTVAL(ticket_seq)".to_string(),
        "ANALYZE TABLE `Volunteer Ünï`, events".to_string(),
    ] {
        c.query_drop(&q).await.unwrap_or_else(|e| panic!("{q}: {e}"));
    }
    c.disconnect().await.unwrap();
}

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
