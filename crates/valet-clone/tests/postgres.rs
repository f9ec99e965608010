//! PostgreSQL → PostgreSQL against an adversarial schema: enums, domains, sequences, identity
//! and generated columns, a partitioned table, arrays, json/jsonb, bytea, numeric, views,
//! functions, triggers, quoted mixed-case and non-ASCII identifiers.

mod adversarial;

use adversarial::pg::{client, populate, POLICY};
use tokio_postgres::Client;
use valet_clone::{clone_database, CloneError, CloneOptions, Policy, RunKey};
use valet_testkit::TestDb;

fn options(src: &TestDb, dst: &TestDb) -> CloneOptions {
    let mut o = CloneOptions::new(
        src.url.clone(),
        dst.url.clone(),
        Policy::from_toml_str(POLICY, "pg.toml").unwrap(),
    );
    o.key = RunKey::from_bytes(b"postgres test key");
    o.jobs = 3;
    o.split_rows = 500;
    o
}

async fn database_exists(name: &str) -> bool {
    client(&valet_testkit::pg_admin_url())
        .await
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get::<_, i64>(0)
        > 0
}

async fn text(c: &Client, q: &str) -> Option<String> {
    c.query_one(q, &[])
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .get(0)
}

async fn count(c: &Client, q: &str) -> i64 {
    c.query_one(q, &[])
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .get(0)
}

#[tokio::test]
async fn adversarial_schema_survives_and_is_masked() {
    let Some(src) = TestDb::postgres("pgsrc").await else {
        return;
    };
    let dst = src.sibling("pgdst").await;
    populate(&src.url, 1200).await;
    let report = clone_database(&options(&src, &dst)).await.expect("clone");
    assert!(report.leak_scan.passed, "{:?}", report.leak_scan);
    // Big tables are split into parts, with an integer key or without one (block ranges).
    for table in ["volunteers", "Ünï Schema.Mixed Case"] {
        assert!(
            report
                .tables
                .iter()
                .any(|t| t.table == table && t.parts > 1),
            "{table}: {:?}",
            report.tables
        );
    }
    // Valid keys between plain tables on kept columns are created before the data; the key
    // on the partitioned table and the NOT VALID one are restored after it, as they were.
    assert_eq!(
        report.foreign_keys_from_source,
        [
            "audit.audit_volunteer_id_fkey",
            "Ünï Schema.Mixed Case.Mixed Case_Volunteer ID_fkey"
        ],
        "{report}"
    );
    let s = client(&src.url).await;
    let d = client(&dst.url).await;
    for q in [
        "SELECT count(*) FROM volunteers",
        r#"SELECT count(*) FROM "Ünï Schema"."Mixed Case""#,
        "SELECT count(*) FROM events",
        "SELECT count(*) FROM events_2025",
        "SELECT count(*) FROM audit",
        "SELECT count(*) FROM pg_constraint WHERE contype IN ('f', 'p', 'u', 'c')",
        "SELECT count(*) FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog')",
        "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal",
        "SELECT count(*) FROM pg_views WHERE viewname = 'v_vol'",
        "SELECT count(*) FROM pg_enum",
        "SELECT last_value FROM custom_seq",
        "SELECT count(*) FROM volunteers WHERE tags = ARRAY['tag ' || id, NULL, 'ü'] AND photo IS NULL AND raw IS NULL",
        "SELECT sum(value_num)::int8 FROM events",
        r#"SELECT count(*) FROM "Ünï Schema"."Mixed Case" WHERE uid = md5("Volunteer ID"::text)::uuid AND secret_code = 0"#,
    ] {
        let (a, b) = (count(&s, q).await, count(&d, q).await);
        if q.contains("photo IS NULL") || q.contains("secret_code = 0") {
            assert_eq!(a, 0, "{q}");
            assert_eq!(b, 1200, "{q}");
        } else {
            assert_eq!(a, b, "{q}");
        }
    }
    // Indexes and constraints are built from the same definitions, whichever way (early, per
    // table, or by pg_restore after the rows).
    for q in [
        "SELECT string_agg(indexdef, E'\n' ORDER BY indexdef) FROM pg_indexes WHERE schemaname <> 'pg_catalog'",
        "SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated || ' ' || conindid::regclass::text, E'\n' ORDER BY conname) FROM pg_constraint WHERE connamespace <> 'pg_catalog'::regnamespace",
        "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indisclustered",
        "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indisreplident",
        r#"SELECT obj_description('"Ünï Schema"."Mixed Note Idx"'::regclass, 'pg_class')"#,
    ] {
        let (a, b) = (text(&s, q).await, text(&d, q).await);
        assert!(a.is_some(), "{q}");
        assert_eq!(a, b, "{q}");
    }
    let rows = d
        .query(
            "SELECT id, first_name, last_name, initials, email::text, notes, full_name, prefs::text, date_of_birth::text
             FROM volunteers ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let src_names: Vec<(i64, String, String)> = s
        .query(
            "SELECT id, first_name, date_of_birth::text FROM volunteers ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let mut emails = std::collections::HashSet::new();
    for (r, (sid, sfirst, sdob)) in rows.iter().zip(&src_names) {
        let id: i64 = r.get(0);
        assert_eq!(id, *sid);
        let (first, last, initials, email, notes, full): (
            String,
            String,
            String,
            String,
            String,
            String,
        ) = (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6));
        assert_ne!(&first, sfirst);
        assert_eq!(initials, format!("{}{}", &first[..1], &last[..1]));
        assert_eq!(full, format!("{first} {last}"));
        assert!(
            notes.starts_with(&format!("{first} {last} prefers")),
            "{notes}"
        );
        assert!(email.ends_with("@example.invalid"));
        let dob: String = r.get(8);
        assert_ne!(&dob, sdob);
        let prefs: serde_json::Value = serde_json::from_str(r.get::<_, &str>(7)).unwrap();
        assert_eq!(prefs["nick"].as_str().unwrap(), first);
        if id > 5 {
            assert_eq!(prefs["contact"]["email"].as_str().unwrap(), email);
        }
        emails.insert(email);
    }
    assert_eq!(emails.len(), 1200);
    let audit_ok = count(&d, "SELECT count(*) FROM audit a JOIN volunteers v ON v.id = a.volunteer_id WHERE a.new_value = v.email").await;
    assert_eq!(audit_ok, 5, "audit copies mask like the column");
    // Identity continues after the copied ids; the database is marked complete.
    let next: i64 = d
        .query_one(
            "INSERT INTO volunteers (first_name, last_name) VALUES ('a', 'b') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 1201);
    let comment: String = d.query_one("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()", &[]).await.unwrap().get(0);
    assert!(comment.starts_with("valet-clone: complete"), "{comment}");
}

#[tokio::test]
async fn leak_in_a_kept_column_drops_the_target() {
    let Some(src) = TestDb::postgres("pgsrc").await else {
        return;
    };
    let dst = src.sibling("pgdst").await;
    populate(&src.url, 50).await;
    let mut o = options(&src, &dst);
    o.policy = Policy::from_toml_str(
        &POLICY.replace(
            "notes = { transformer = \"free_text\", mode = \"redact\" }",
            "notes = \"keep\"",
        ),
        "pg.toml",
    )
    .unwrap();
    let err = clone_database(&o).await.unwrap_err();
    assert!(matches!(err, CloneError::Leak { .. }), "{err}");
    assert!(!database_exists(&dst.name).await, "target dropped");
}

/// Written text is scanned in flight; arrays (not plain text on the wire) are read back from the
/// target. A leak in either is found and named.
#[tokio::test]
async fn leaks_in_kept_text_and_kept_arrays_are_both_found() {
    let Some(src) = TestDb::postgres("pgsrc").await else {
        return;
    };
    let dst = src.sibling("pgdst").await;
    populate(&src.url, 50).await;
    let c = client(&src.url).await;
    c.batch_execute(
        "UPDATE events SET value_text = 'called ' || (SELECT email FROM volunteers WHERE id = 7) WHERE id = 10;
         UPDATE volunteers SET tags = ARRAY['met ' || last_name || ' today'] WHERE id = 9;",
    )
    .await
    .unwrap();
    let err = clone_database(&options(&src, &dst)).await.unwrap_err();
    let CloneError::Leak { hits, summary } = &err else {
        panic!("expected a leak, got {err}");
    };
    assert_eq!(*hits, 2, "{summary}");
    assert!(
        summary.contains("events_2024.value_text holds values of volunteers.email"),
        "{summary}"
    );
    assert!(
        summary.contains("volunteers.tags holds values of volunteers.last_name"),
        "{summary}"
    );
    assert!(!database_exists(&dst.name).await, "target dropped");
}

#[tokio::test]
async fn check_mode_writes_nothing_and_complete_target_is_refused() {
    let Some(src) = TestDb::postgres("pgsrc").await else {
        return;
    };
    let dst = src.sibling("pgdst").await;
    populate(&src.url, 40).await;
    let mut o = options(&src, &dst);
    o.check = true;
    let r = clone_database(&o).await.expect("check");
    assert!(r.leak_scan.passed && r.leak_scan.target_values_scanned > 0);
    let d = client(&dst.url).await;
    assert_eq!(
        count(
            &d,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        .await,
        0
    );
    clone_database(&options(&src, &dst)).await.expect("clone");
    let e = clone_database(&options(&src, &dst)).await.unwrap_err();
    assert!(matches!(e, CloneError::TargetExists(_)), "{e}");
    let mut o = options(&src, &dst);
    o.replace = true;
    clone_database(&o).await.expect("replace");
}

#[tokio::test]
async fn incomplete_target_is_replaced_and_missing_target_created() {
    let Some(src) = TestDb::postgres("pgsrc").await else {
        return;
    };
    let dst = src.sibling("pgdst").await;
    populate(&src.url, 20).await;
    let d = client(&dst.url).await;
    d.batch_execute(&format!("CREATE TABLE leftovers (x int); COMMENT ON DATABASE \"{}\" IS 'valet-clone: incomplete (unix time 1)'", dst.name))
        .await
        .unwrap();
    drop(d);
    clone_database(&options(&src, &dst))
        .await
        .expect("replaces an interrupted clone");
    let d = client(&dst.url).await;
    assert_eq!(
        count(
            &d,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'leftovers'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn unclassified_column_and_unreachable_target_leave_nothing() {
    let Some(src) = TestDb::postgres("pgsrc").await else {
        return;
    };
    let dst = src.sibling("pgdst").await;
    populate(&src.url, 5).await;
    let mut o = options(&src, &dst);
    o.policy =
        Policy::from_toml_str(&POLICY.replace("amount = \"keep\"\n", ""), "pg.toml").unwrap();
    let msg = clone_database(&o).await.unwrap_err().to_string();
    assert!(
        msg.contains("[tables.\"Ünï Schema.Mixed Case\".columns]\namount = \"keep\""),
        "{msg}"
    );
    let mut o = options(&src, &dst);
    o.to = "postgres://postgres@127.0.0.1:1/nowhere".into();
    let e = clone_database(&o).await.unwrap_err();
    assert!(
        matches!(e, CloneError::Connect { side: "target", .. }),
        "{e}"
    );
    let d = client(&dst.url).await;
    assert_eq!(
        count(
            &d,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        .await,
        0
    );
}

/// A `SQL_ASCII` database stores whatever bytes it was given. A name that is not valid UTF-8
/// cannot pass unseen: the server refuses to send it to valet's UTF-8 session, and the clone
/// fails with that reason and leaves no target behind.
#[tokio::test]
async fn text_that_is_not_utf8_fails_the_clone_closed() {
    let Some(src) = TestDb::postgres("pgascii").await else {
        return;
    };
    let dst = src.sibling("pgasciid").await;
    let admin = client(&valet_testkit::pg_admin_url()).await;
    for db in [&src.name, &dst.name] {
        for q in [
            format!("DROP DATABASE \"{db}\""),
            format!(
                "CREATE DATABASE \"{db}\" ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' \
                 TEMPLATE template0"
            ),
        ] {
            admin.batch_execute(&q).await.unwrap();
        }
    }
    // 'J\xfcrgen': "Jürgen" in Latin-1, not UTF-8, in a masked and in a kept column.
    client(&src.url)
        .await
        .batch_execute(
            r"CREATE TABLE people (id int PRIMARY KEY, first_name text, remark text);
              INSERT INTO people VALUES (1, E'J\xfcrgen', E'Met J\xfcrgen today.'),
                                        (2, 'Olivia', 'Nothing to add.');",
        )
        .await
        .unwrap();
    let mut o = options(&src, &dst);
    o.policy = Policy::from_toml_str(
        "version = 1\n[tables.people]\nsubject = \"id\"\n[tables.people.columns]\n\
         id = \"keep\"\nfirst_name = \"first_name\"\nremark = \"keep\"\n",
        "ascii.toml",
    )
    .unwrap();
    let err = clone_database(&o).await.unwrap_err().to_string();
    assert!(
        err.contains("invalid byte sequence") && err.contains("convert the database to UTF8"),
        "{err}"
    );
    assert!(!database_exists(&dst.name).await, "target dropped");
}
