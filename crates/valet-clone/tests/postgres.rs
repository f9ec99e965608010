//! PostgreSQL → PostgreSQL against an adversarial schema: enums, domains, sequences, identity
//! and generated columns, a partitioned table, arrays, json/jsonb, bytea, numeric, views,
//! functions, triggers, quoted mixed-case and non-ASCII identifiers.

use tokio_postgres::{Client, NoTls};
use valet_clone::{clone_database, CloneError, CloneOptions, Policy, RunKey};
use valet_testkit::TestDb;

const SCHEMA: &str = r#"
CREATE TYPE mood AS ENUM ('happy', 'sad', 'ünïcode mood');
CREATE SCHEMA "Ünï Schema";
CREATE SEQUENCE custom_seq START 100;
CREATE DOMAIN email_addr AS text CHECK (VALUE LIKE '%@%');
CREATE TABLE volunteers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  first_name text NOT NULL, last_name varchar(100) NOT NULL, initials char(2),
  date_of_birth date, sex char(1), email email_addr UNIQUE, phone text, notes text,
  mood mood, tags text[], prefs jsonb, raw json, photo bytea, score numeric(10,3),
  created_at timestamptz NOT NULL DEFAULT now(),
  full_name text GENERATED ALWAYS AS (first_name || ' ' || last_name) STORED,
  ticket int DEFAULT nextval('custom_seq'),
  ref uuid NOT NULL DEFAULT gen_random_uuid() CONSTRAINT volunteers_ref_key UNIQUE);
ALTER TABLE volunteers REPLICA IDENTITY USING INDEX volunteers_ref_key;
CREATE TABLE "Ünï Schema"."Mixed Case" ("Volunteer ID" bigint REFERENCES volunteers(id), "Note Ü" text,
  amount double precision, uid uuid, secret_code numeric);
CREATE TABLE events (id bigserial, volunteer_id bigint REFERENCES volunteers(id),
  collected_at timestamptz NOT NULL, value_num numeric, value_text text, PRIMARY KEY (id, collected_at))
  PARTITION BY RANGE (collected_at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE INDEX events_volunteer ON events (volunteer_id);
CREATE TABLE audit (id serial PRIMARY KEY, volunteer_id bigint REFERENCES volunteers(id), field text,
  old_value text, new_value text);
CREATE INDEX "Mixed Note Idx" ON "Ünï Schema"."Mixed Case" (lower("Note Ü")) WHERE amount > 0;
COMMENT ON INDEX "Ünï Schema"."Mixed Note Idx" IS 'partial expression index';
CREATE INDEX audit_field ON audit (field) INCLUDE (volunteer_id);
ALTER TABLE audit CLUSTER ON audit_pkey;
ALTER TABLE volunteers ADD CONSTRAINT volunteers_ticket_key UNIQUE (ticket) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE volunteers CLUSTER ON volunteers_email_key;
ALTER TABLE audit ADD CONSTRAINT audit_volunteer_unchecked FOREIGN KEY (volunteer_id) REFERENCES volunteers(id) NOT VALID;
CREATE VIEW v_vol AS SELECT id, first_name FROM volunteers;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;
CREATE TRIGGER trg_touch BEFORE UPDATE ON volunteers FOR EACH ROW EXECUTE FUNCTION touch();
"#;

const POLICY: &str = r#"
[tables.volunteers]
subject = "id"
[tables.volunteers.columns]
id = "keep"
first_name = "first_name"
last_name = "last_name"
initials = { transformer = "initials", from = ["first_name", "last_name"] }
date_of_birth = { transformer = "date_of_birth", shift_days = 60 }
sex = "sex"
email = "email"
phone = "phone"
notes = { transformer = "free_text", mode = "redact" }
mood = "keep"
tags = "keep"
prefs = { transformer = "json", paths = { "$.contact.email" = "email", "$.nick" = "first_name" } }
raw = "null"
photo = "null"
score = "keep"
created_at = "keep"
ticket = "keep"
ref = "keep"

[tables.'"Ünï Schema"."Mixed Case"']
subject = "Volunteer ID"
[tables.'"Ünï Schema"."Mixed Case"'.columns]
"Volunteer ID" = "keep"
"Note Ü" = { transformer = "free_text" }
amount = "keep"
uid = "keep"
secret_code = { transformer = "constant", value = "0" }

[tables.events.columns]
id = "keep"
volunteer_id = "keep"
collected_at = "keep"
value_num = "keep"
value_text = "keep"

[tables.audit]
subject = "volunteer_id"
[tables.audit.columns]
id = "keep"
volunteer_id = "keep"
field = "keep"
old_value = { transformer = "switch", on = "field", cases = { email = "email", last_name = "last_name" }, default = "null" }
new_value = { transformer = "switch", on = "field", cases = { email = "email", last_name = "last_name" }, default = "null" }
"#;

async fn client(url: &str) -> Client {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    c
}

async fn populate(url: &str, n: i64) {
    let c = client(url).await;
    c.batch_execute(SCHEMA).await.expect("schema");
    c.execute(
        r#"INSERT INTO volunteers (first_name, last_name, initials, date_of_birth, sex, email, phone, notes, mood, tags, prefs, raw, photo, score)
           SELECT f, l, left(f, 1) || left(l, 1), date '1950-01-01' + (i * 37 % 15000)::int, CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END,
                  lower(f) || '.' || lower(l) || '@mail.example.com', '+44 20 7946 ' || lpad(i::text, 4, '0'),
                  f || ' ' || l || ' prefers morning visits.', (ARRAY['happy','sad','ünïcode mood'])[1 + i % 3]::mood,
                  ARRAY['tag ' || i, NULL, 'ü'], jsonb_build_object('contact', jsonb_build_object('email', lower(f) || '.' || lower(l) || '@mail.example.com'), 'nick', f, 'n', i),
                  json_build_object('who', f || ' ' || l), decode('00ff10', 'hex'), i / 7.0
           FROM (SELECT i, (ARRAY['Anna','Jürgen','Olivia','Mohammed','Siobhán'])[1 + i % 5] AS f,
                        (ARRAY['Kowalczyk','Nakamura','O''Neill','Fitzgerald','Abernathy'])[1 + i % 5] || i AS l
                 FROM generate_series(1, $1::int8) i) s"#,
        &[&n],
    )
    .await
    .expect("volunteers");
    c.batch_execute(
        r#"INSERT INTO "Ünï Schema"."Mixed Case" SELECT id, 'Ünï note ' || id, id * 1.5, md5(id::text)::uuid, id * 1000 FROM volunteers;
           INSERT INTO events (volunteer_id, collected_at, value_num, value_text)
             SELECT 1 + i % (SELECT count(*) FROM volunteers), timestamptz '2024-06-01' + i * interval '1 hour', i, 'normal'
             FROM generate_series(1, 3000) i;
           INSERT INTO audit (volunteer_id, field, old_value, new_value)
             SELECT id, 'email', email, 'new.' || email FROM volunteers WHERE id <= 5;
           UPDATE volunteers SET email = 'new.' || email WHERE id <= 5;
           SELECT nextval('custom_seq'); ANALYZE;"#,
    )
    .await
    .expect("data");
}

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
