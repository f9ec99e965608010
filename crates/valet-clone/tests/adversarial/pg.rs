//! The adversarial PostgreSQL schema (enums, domains, identity and generated columns, a
//! partitioned table, arrays, JSON, bytea, quoted non-ASCII names), its data and its policy:
//! shared by the engine's tests and `policy suggest`'s recall and precision.

use tokio_postgres::{Client, NoTls};

pub const SCHEMA: &str = r#"
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

pub const POLICY: &str = r#"
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

pub async fn client(url: &str) -> Client {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    c
}

pub async fn populate(url: &str, n: i64) {
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
