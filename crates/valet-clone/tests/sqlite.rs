//! SQLite → SQLite against an adversarial schema: unicode and quoted identifiers, generated
//! columns, AUTOINCREMENT, WITHOUT ROWID, blobs, views, triggers, indexes.

use rusqlite::Connection;
use valet_clone::{clone_database, CloneError, CloneOptions, Policy, RunKey};
use valet_testkit::TestDb;

const SCHEMA: &str = r#"
CREATE TABLE "Volunteer Ünïcode" (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  "First Name" TEXT NOT NULL, last_name TEXT NOT NULL, initials TEXT, dob TEXT, sex TEXT,
  email TEXT UNIQUE, phone TEXT, notes TEXT, photo BLOB, score REAL, meta TEXT,
  full_name TEXT GENERATED ALWAYS AS ("First Name" || ' ' || last_name) VIRTUAL);
CREATE TABLE audit (id INTEGER PRIMARY KEY, volunteer_id INTEGER REFERENCES "Volunteer Ünïcode"(id),
  field TEXT, old_value TEXT, new_value TEXT);
CREATE INDEX "idx audit v" ON audit(volunteer_id);
CREATE VIEW v_names AS SELECT id, "First Name" FROM "Volunteer Ünïcode";
CREATE TRIGGER trg_audit AFTER UPDATE ON "Volunteer Ünïcode" BEGIN
  INSERT INTO audit(volunteer_id, field, old_value, new_value) VALUES (OLD.id, 'email', OLD.email, NEW.email); END;
CREATE TABLE "weird""quote" (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
PRAGMA user_version = 7;
"#;

pub const POLICY: &str = r#"
version = 1
[tables."Volunteer Ünïcode"]
subject = "id"
[tables."Volunteer Ünïcode".columns]
id = "keep"
"First Name" = "first_name"
last_name = "last_name"
initials = { transformer = "initials", from = ["First Name", "last_name"] }
dob = { transformer = "date_of_birth", shift_days = 30 }
sex = "sex"
email = "email"
phone = "phone"
notes = { transformer = "free_text", mode = "redact" }
photo = "null"
score = "keep"
meta = { transformer = "json", paths = { "$.contact.email" = "email", "$.nick" = "first_name" } }

[tables.audit]
subject = "volunteer_id"
[tables.audit.columns]
id = "keep"
volunteer_id = "keep"
field = "keep"
old_value = { transformer = "switch", on = "field", cases = { email = "email", last_name = "last_name" }, default = "null" }
new_value = { transformer = "switch", on = "field", cases = { email = "email", last_name = "last_name" }, default = "null" }

[tables.'"weird""quote"'.columns]
k = "keep"
v = "keep"
"#;

fn populate(path: &str, n: i64) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(SCHEMA).unwrap();
    let tx = c.unchecked_transaction().unwrap();
    let firsts = ["Anna", "Jürgen", "Olivia", "Mohammed", "Siobhán"];
    let lasts = [
        "Kowalczyk",
        "Nakamura-Smith",
        "O'Neill",
        "Fitzgerald",
        "Abernathy",
    ];
    for i in 1..=n {
        let f = firsts[(i % 5) as usize];
        let l = format!("{}{}", lasts[(i % 5) as usize], i);
        tx.execute(
            r#"INSERT INTO "Volunteer Ünïcode" ("First Name", last_name, initials, dob, sex, email, phone, notes, photo, score, meta)
               VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"#,
            rusqlite::params![
                f,
                l,
                format!("{}{}", &f[..1], &l[..1]),
                format!("19{:02}-0{}-1{}", 50 + i % 40, 1 + i % 9, i % 9),
                if i % 2 == 0 { "F" } else { "M" },
                format!("{}.{}@mail.example.com", f.to_lowercase(), l.to_lowercase()),
                format!("+44 20 7946 {:04}", i),
                format!("{f} {l} prefers morning visits; call {f} before 9."),
                vec![0u8, 1, 2, 255],
                i as f64 / 3.0,
                format!(r#"{{"contact":{{"email":"{}.{}@mail.example.com"}},"nick":"{f}","level":{i}}}"#, f.to_lowercase(), l.to_lowercase()),
            ],
        )
        .unwrap();
    }
    tx.execute(
        r#"UPDATE "Volunteer Ünïcode" SET email = 'new.' || email WHERE id <= 3"#,
        [],
    )
    .unwrap();
    tx.execute(
        r#"INSERT INTO "weird""quote" VALUES ('a', x'00ff'), ('b', NULL)"#,
        [],
    )
    .unwrap();
    tx.commit().unwrap();
}

type Row = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<Vec<u8>>,
    String,
    String,
    f64,
);

fn path_of(db: &TestDb) -> String {
    db.name.clone()
}

fn options(src: &TestDb, dst: &TestDb, policy: &str) -> CloneOptions {
    let mut o = CloneOptions::new(
        src.url.clone(),
        dst.url.clone(),
        Policy::from_toml_str(policy, "policy.toml").unwrap(),
    );
    o.key = RunKey::from_bytes(b"test key for sqlite clones");
    o
}

#[tokio::test]
async fn adversarial_schema_is_cloned_masked_and_consistent() {
    let src = TestDb::sqlite("src");
    let dst = TestDb::sqlite("dst");
    populate(&path_of(&src), 60);
    let report = clone_database(&options(&src, &dst, POLICY))
        .await
        .expect("clone");
    assert!(report.leak_scan.passed);
    assert!(
        report.leak_scan.values_indexed > 100,
        "{:?}",
        report.leak_scan
    );

    let s = Connection::open(path_of(&src)).unwrap();
    let d = Connection::open(path_of(&dst)).unwrap();
    for t in [r#""Volunteer Ünïcode""#, "audit", r#""weird""quote""#] {
        let q = format!("SELECT count(*) FROM {t}");
        let a: i64 = s.query_row(&q, [], |r| r.get(0)).unwrap();
        let b: i64 = d.query_row(&q, [], |r| r.get(0)).unwrap();
        assert_eq!(a, b, "{t}");
    }
    let uv: i64 = d
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(uv, 7);
    let seq: i64 = d
        .query_row("SELECT seq FROM sqlite_sequence", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seq, 60);
    let objs: i64 = d
        .query_row("SELECT count(*) FROM sqlite_master WHERE name IN ('idx audit v', 'v_names', 'trg_audit')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(objs, 3);

    let mut st = d
        .prepare(r#"SELECT id, "First Name", last_name, initials, email, notes, photo, full_name, meta, score FROM "Volunteer Ünïcode" ORDER BY id"#)
        .unwrap();
    let rows: Vec<Row> = st
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (id, first, last, initials, email, notes, photo, full, meta, score) in &rows {
        let src_first: String = s
            .query_row(
                r#"SELECT "First Name" FROM "Volunteer Ünïcode" WHERE id = ?1"#,
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_ne!(first, &src_first);
        assert_eq!(initials, &format!("{}{}", &first[..1], &last[..1]));
        assert!(email.ends_with("@example.invalid"), "{email}");
        assert!(
            notes.starts_with(&format!("{first} {last} prefers")),
            "{notes}"
        );
        assert!(!notes.contains(&src_first), "{notes}");
        assert!(photo.is_none());
        assert_eq!(
            full,
            &format!("{first} {last}"),
            "generated column recomputed"
        );
        let m: serde_json::Value = serde_json::from_str(meta).unwrap();
        if *id > 3 {
            // Rows 1..=3 changed their e-mail after `meta` was written.
            assert_eq!(
                m["contact"]["email"].as_str().unwrap(),
                email,
                "json email masks like the column"
            );
        }
        assert_eq!(m["nick"].as_str().unwrap(), first);
        assert_eq!(m["level"].as_i64().unwrap(), *id);
        assert!((score - *id as f64 / 3.0).abs() < 1e-9);
    }
    let emails: std::collections::HashSet<&String> = rows.iter().map(|r| &r.4).collect();
    assert_eq!(emails.len(), rows.len(), "unique column stays unique");

    // The audit copy of the new e-mail masks exactly like the volunteer's e-mail column.
    let mut st = d
        .prepare(r#"SELECT a.new_value, v.email FROM audit a JOIN "Volunteer Ünïcode" v ON v.id = a.volunteer_id"#)
        .unwrap();
    let pairs: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(pairs.len(), 3);
    for (a, v) in pairs {
        assert_eq!(a, v);
    }
    let blob: Vec<u8> = d
        .query_row(r#"SELECT v FROM "weird""quote" WHERE k = 'a'"#, [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(blob, vec![0, 255]);
    assert!(!std::path::Path::new(&format!("{}.valet-partial", path_of(&dst))).exists());
}

#[tokio::test]
async fn same_key_gives_same_clone_and_other_key_differs() {
    let src = TestDb::sqlite("src");
    populate(&path_of(&src), 10);
    let (a, b, c) = (
        TestDb::sqlite("a"),
        TestDb::sqlite("b"),
        TestDb::sqlite("c"),
    );
    clone_database(&options(&src, &a, POLICY)).await.unwrap();
    clone_database(&options(&src, &b, POLICY)).await.unwrap();
    let mut o = options(&src, &c, POLICY);
    o.key = RunKey::from_bytes(b"another key");
    clone_database(&o).await.unwrap();
    let q = r#"SELECT group_concat(email, ',') FROM (SELECT email FROM "Volunteer Ünïcode" ORDER BY id)"#;
    let get = |db: &TestDb| -> String {
        Connection::open(path_of(db))
            .unwrap()
            .query_row(q, [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(get(&a), get(&b));
    assert_ne!(get(&a), get(&c));
}

#[tokio::test]
async fn unclassified_column_blocks_clone_and_prints_snippet() {
    let src = TestDb::sqlite("src");
    let dst = TestDb::sqlite("dst");
    populate(&path_of(&src), 3);
    let policy = POLICY.replace("phone = \"phone\"\n", "");
    let err = clone_database(&options(&src, &dst, &policy))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, CloneError::Unclassified { count: 1, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("[tables.\"Volunteer Ünïcode\".columns]\nphone = \"phone\""),
        "{msg}"
    );
    let pasted = format!("{policy}\n{}", msg.split("\n\n").nth(1).unwrap());
    assert!(
        Policy::from_toml_str(&pasted, "p").is_err(),
        "pasting duplicates the table header"
    );
    assert!(
        !std::path::Path::new(&path_of(&dst)).exists(),
        "nothing written"
    );
}

#[tokio::test]
async fn policy_naming_a_missing_table_or_column_fails_with_line() {
    let src = TestDb::sqlite("src");
    let dst = TestDb::sqlite("dst");
    populate(&path_of(&src), 3);
    let policy = format!("{POLICY}\n[tables.ghost.columns]\nid = \"keep\"\n");
    let msg = clone_database(&options(&src, &dst, &policy))
        .await
        .unwrap_err()
        .to_string();
    let line = policy
        .lines()
        .position(|l| l.contains("[tables.ghost"))
        .unwrap()
        + 1;
    assert!(
        msg.starts_with(&format!("policy.toml:{line}: table `ghost`")),
        "{msg}"
    );
    let policy = POLICY.replace("score = \"keep\"", "scroe = \"keep\"\nscore = \"keep\"");
    let msg = clone_database(&options(&src, &dst, &policy))
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("column `scroe`"), "{msg}");
    assert!(!std::path::Path::new(&path_of(&dst)).exists());
}

#[tokio::test]
async fn a_kept_pii_column_is_caught_by_the_leak_scan_and_target_removed() {
    let src = TestDb::sqlite("src");
    let dst = TestDb::sqlite("dst");
    populate(&path_of(&src), 20);
    // old_value copies e-mails but is kept: a leak.
    let policy = POLICY.replacen(
        "old_value = { transformer = \"switch\", on = \"field\", cases = { email = \"email\", last_name = \"last_name\" }, default = \"null\" }",
        "old_value = \"keep\"",
        1,
    );
    let err = clone_database(&options(&src, &dst, &policy))
        .await
        .unwrap_err();
    match &err {
        CloneError::Leak { hits, summary } => {
            assert_eq!(*hits, 3);
            assert!(
                summary.contains("audit.old_value holds values of Volunteer Ünïcode."),
                "{summary}"
            );
        }
        other => panic!("expected a leak, got {other}"),
    }
    assert!(!std::path::Path::new(&path_of(&dst)).exists());
    assert!(!std::path::Path::new(&format!("{}.valet-partial", path_of(&dst))).exists());
}

#[tokio::test]
async fn check_writes_nothing_but_runs_the_leak_scan() {
    let src = TestDb::sqlite("src");
    let dst = TestDb::sqlite("dst");
    populate(&path_of(&src), 20);
    let mut o = options(&src, &dst, POLICY);
    o.check = true;
    let r = clone_database(&o).await.unwrap();
    assert!(r.check_only && r.leak_scan.passed && r.leak_scan.target_values_scanned > 0);
    assert_eq!(
        r.tables
            .iter()
            .find(|t| t.table == "Volunteer Ünïcode")
            .unwrap()
            .rows,
        20
    );
    assert!(!std::path::Path::new(&path_of(&dst)).exists());
    let policy = POLICY.replacen(
        "notes = { transformer = \"free_text\", mode = \"redact\" }",
        "notes = \"keep\"",
        1,
    );
    let mut o = options(&src, &dst, &policy);
    o.check = true;
    assert!(matches!(
        clone_database(&o).await.unwrap_err(),
        CloneError::Leak { .. }
    ));
}

#[tokio::test]
async fn existing_target_is_refused_unless_replace_and_partial_is_replaced() {
    let src = TestDb::sqlite("src");
    let dst = TestDb::sqlite("dst");
    populate(&path_of(&src), 5);
    // A partial file from an interrupted run is simply replaced.
    std::fs::write(format!("{}.valet-partial", path_of(&dst)), b"garbage").unwrap();
    clone_database(&options(&src, &dst, POLICY)).await.unwrap();
    let err = clone_database(&options(&src, &dst, POLICY))
        .await
        .unwrap_err();
    assert!(matches!(err, CloneError::TargetExists(_)), "{err}");
    let mut o = options(&src, &dst, POLICY);
    o.replace = true;
    clone_database(&o).await.unwrap();
}

#[tokio::test]
async fn bad_urls_and_unreachable_targets_are_clear_errors() {
    let src = TestDb::sqlite("src");
    populate(&path_of(&src), 2);
    let policy = Policy::from_toml_str(POLICY, "p").unwrap();
    let o = CloneOptions::new("oracle://x/y", "sqlite:///tmp/x.db", policy.clone());
    assert!(clone_database(&o)
        .await
        .unwrap_err()
        .to_string()
        .contains("unsupported scheme"));
    let o = CloneOptions::new(
        src.url.clone(),
        "sqlite:///nonexistent-dir/x/y.db",
        policy.clone(),
    );
    let e = clone_database(&o).await.unwrap_err();
    assert!(
        matches!(e, CloneError::Connect { side: "target", .. }),
        "{e}"
    );
    let o = CloneOptions::new(src.url.clone(), "postgres://127.0.0.1/x", policy);
    assert!(clone_database(&o)
        .await
        .unwrap_err()
        .to_string()
        .contains("within one engine"));
}
