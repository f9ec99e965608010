//! The data generator: deterministic per seed on every engine, exact counts, a realistic
//! weekly pattern, older releases, and the activity queries of the app profile.

mod common;

use std::collections::BTreeMap;

use clinic::gen::{generate, GenOptions, GenReport};
use clinic::schema::current_release;
use common::{columns, dump, fresh, scalar, strings, tables, On};
use jiff::civil::Weekday;
use jiff::tz::TimeZone;

fn opts(volunteers: u64, events: u64, seed: u64) -> GenOptions {
    GenOptions {
        volunteers,
        events,
        seed,
        release: None,
    }
}

/// Row counts in the database, per table of the report.
async fn counts(url: &str, report: &GenReport) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for (table, _) in report.tables() {
        out.push((
            table,
            scalar(url, &format!("SELECT COUNT(*) FROM {table}")).await,
        ));
    }
    out
}

async fn same_seed_same_rows(on: On) {
    let Some(a) = fresh(on, "gen_a").await else {
        return;
    };
    let Some(b) = fresh(on, "gen_b").await else {
        return;
    };
    let o = opts(250, 4000, 42);
    let ra = generate(&a.url, &o).await.unwrap();
    let rb = generate(&b.url, &o).await.unwrap();
    assert_eq!(ra, rb);
    assert_eq!(ra.volunteers, 250);
    assert_eq!(ra.events, 4000);
    for (table, n) in counts(&a.url, &ra).await {
        let reported = ra
            .tables()
            .into_iter()
            .find(|(t, _)| *t == table)
            .unwrap()
            .1;
        assert_eq!(
            n as u64, reported,
            "{table}: database has what the report says"
        );
        assert!(n > 0, "{table} has rows");
    }
    let (da, db) = (dump(&a.url).await, dump(&b.url).await);
    assert_eq!(
        da.keys().collect::<Vec<_>>(),
        [
            "clinic_schema_version",
            "consents",
            "dashboard_definitions",
            "enrolments",
            "events",
            "report_definitions",
            "staff",
            "studies",
            "system_settings",
            "volunteer_audit",
            "volunteers"
        ]
    );
    for (table, content) in &da {
        assert!(
            content == &db[table],
            "{table} differs between two runs with seed 42"
        );
    }
}

#[tokio::test]
async fn sqlite_same_seed_gives_identical_databases() {
    same_seed_same_rows(On::Sqlite).await;
}

#[tokio::test]
async fn postgres_same_seed_gives_identical_databases() {
    same_seed_same_rows(On::Postgres).await;
}

#[tokio::test]
async fn mariadb_same_seed_gives_identical_databases() {
    same_seed_same_rows(On::MariaDb).await;
}

#[tokio::test]
async fn same_seed_gives_the_same_rows_on_every_engine() {
    let o = opts(120, 2500, 7);
    let mut dumps = Vec::new();
    for on in [On::Sqlite, On::Postgres, On::MariaDb] {
        let Some(db) = fresh(on, "gen_engines").await else {
            continue;
        };
        generate(&db.url, &o).await.unwrap();
        dumps.push((on, dump(&db.url).await));
    }
    let (first, reference) = &dumps[0];
    for (on, d) in &dumps[1..] {
        for (table, (cols, rows)) in reference {
            let (other_cols, other_rows) = &d[table];
            assert_eq!(cols, other_cols, "{table} columns on {first:?} and {on:?}");
            for (i, (x, y)) in rows.iter().zip(other_rows).enumerate() {
                assert_eq!(x, y, "{table} row {i} on {first:?} and {on:?}");
            }
            assert_eq!(
                rows.len(),
                other_rows.len(),
                "{table} rows on {first:?} and {on:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_different_seed_gives_different_rows() {
    let a = valet_testkit::TestDb::sqlite("gen_seed_a");
    let b = valet_testkit::TestDb::sqlite("gen_seed_b");
    generate(&a.url, &opts(100, 1000, 1)).await.unwrap();
    generate(&b.url, &opts(100, 1000, 2)).await.unwrap();
    let (da, db) = (dump(&a.url).await, dump(&b.url).await);
    for table in ["volunteers", "studies", "enrolments", "events", "staff"] {
        let (ra, rb) = (&da[table].1, &db[table].1);
        let same = ra.iter().zip(rb).filter(|(x, y)| x == y).count();
        assert!(
            same * 10 < ra.len().min(rb.len()),
            "{table}: {same} identical rows"
        );
    }
    // The schema history is the same: it does not depend on the seed.
    assert_eq!(da["clinic_schema_version"], db["clinic_schema_version"]);
}

#[tokio::test]
async fn postgres_different_seed_gives_different_volunteers() {
    let Some(a) = fresh(On::Postgres, "gen_pseed_a").await else {
        return;
    };
    let Some(b) = fresh(On::Postgres, "gen_pseed_b").await else {
        return;
    };
    generate(&a.url, &opts(50, 100, 1)).await.unwrap();
    generate(&b.url, &opts(50, 100, 99)).await.unwrap();
    let sql = "SELECT email FROM volunteers ORDER BY id";
    assert_ne!(strings(&a.url, sql).await, strings(&b.url, sql).await);
}

#[tokio::test]
async fn older_release_gets_the_older_schema() {
    for on in [On::Sqlite, On::Postgres, On::MariaDb] {
        let Some(db) = fresh(on, "gen_old").await else {
            continue;
        };
        let report = generate(
            &db.url,
            &GenOptions {
                release: Some("24.1".into()),
                ..opts(80, 500, 3)
            },
        )
        .await
        .unwrap();
        assert_eq!(report.release, "24.1");
        assert_eq!(report.build, "24.1.0.1042");
        assert_eq!((report.volunteer_audit, report.consents), (0, 0));
        assert_eq!(
            current_release(&db.url).await.unwrap().as_deref(),
            Some("24.1")
        );
        let t = tables(&db.url).await;
        assert!(!t.contains(&"volunteer_audit".to_string()), "{on:?}: {t:?}");
        assert!(!t.contains(&"consents".to_string()), "{on:?}: {t:?}");
        assert!(!columns(&db.url, "volunteers")
            .await
            .contains(&"phone".to_string()));
        assert!(!columns(&db.url, "events")
            .await
            .contains(&"device".to_string()));
        assert!(!columns(&db.url, "studies")
            .await
            .contains(&"phase".to_string()));
        assert_eq!(scalar(&db.url, "SELECT COUNT(*) FROM volunteers").await, 80);
        assert_eq!(scalar(&db.url, "SELECT COUNT(*) FROM events").await, 500);
    }
}

#[tokio::test]
async fn hotfix_release_gets_audit_but_no_consents() {
    let db = valet_testkit::TestDb::sqlite("gen_hotfix");
    let report = generate(
        &db.url,
        &GenOptions {
            release: Some("24.2.1.1201".into()),
            ..opts(200, 300, 5)
        },
    )
    .await
    .unwrap();
    assert_eq!(report.release, "24.2.1");
    assert!(report.volunteer_audit > 0);
    assert_eq!(
        scalar(&db.url, "SELECT COUNT(*) FROM volunteer_audit").await as u64,
        report.volunteer_audit
    );
    assert!(!tables(&db.url).await.contains(&"consents".to_string()));
}

#[tokio::test]
async fn a_non_empty_database_is_refused() {
    for on in [On::Sqlite, On::Postgres, On::MariaDb] {
        let Some(db) = fresh(on, "gen_nonempty").await else {
            continue;
        };
        generate(&db.url, &opts(10, 10, 1)).await.unwrap();
        let err = generate(&db.url, &opts(10, 10, 1)).await.unwrap_err();
        assert!(
            matches!(
                err.downcast_ref::<clinic::Error>(),
                Some(clinic::Error::NotEmpty { .. })
            ),
            "{on:?}: {err:#}"
        );
        let msg = format!("{err:#}");
        assert!(
            msg.contains("volunteers") && msg.contains("empty database"),
            "{msg}"
        );
        assert_eq!(scalar(&db.url, "SELECT COUNT(*) FROM volunteers").await, 10);
    }
}

#[tokio::test]
async fn events_without_volunteers_are_refused() {
    let db = valet_testkit::TestDb::sqlite("gen_novol");
    let err = format!(
        "{:#}",
        generate(&db.url, &opts(0, 10, 1)).await.unwrap_err()
    );
    assert!(err.contains("--volunteers 1 or more"), "{err}");
    assert!(tables(&db.url).await.is_empty(), "nothing was created");
}

#[tokio::test]
async fn new_rows_after_generation_get_fresh_ids() {
    for on in [On::Sqlite, On::Postgres, On::MariaDb] {
        let Some(db) = fresh(on, "gen_ids").await else {
            continue;
        };
        let report = generate(&db.url, &opts(30, 50, 1)).await.unwrap();
        let (_, mut conn) = common::connect(&db.url).await;
        sqlx::raw_sql(
            "INSERT INTO staff (username, full_name, initials, role, created_at) \
             VALUES ('new.hire', 'New Hire', 'NH99', 'nurse', '2024-07-01 08:00:00')",
        )
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{on:?}: insert without id: {e}"));
        let id = scalar(&db.url, "SELECT id FROM staff WHERE username = 'new.hire'").await;
        assert_eq!(id as u64, report.staff + 1, "{on:?}");
    }
}

#[tokio::test]
async fn generated_people_look_real() {
    let db = valet_testkit::TestDb::sqlite("gen_people");
    generate(&db.url, &opts(2000, 100, 9)).await.unwrap();
    let url = &db.url;
    let q = |sql: &'static str| scalar(url, sql);
    assert_eq!(
        q("SELECT COUNT(DISTINCT email) FROM volunteers").await,
        2000
    );
    assert_eq!(
        q("SELECT COUNT(DISTINCT subject_no) FROM volunteers").await,
        2000
    );
    assert_eq!(
        q("SELECT COUNT(*) FROM volunteers WHERE subject_no = 'V000123'").await,
        1
    );
    assert!(q("SELECT COUNT(DISTINCT first_name) FROM volunteers").await >= 150);
    assert!(q("SELECT COUNT(DISTINCT last_name) FROM volunteers").await >= 150);
    // Some names are not ASCII (Zoë, Müller, Øster…).
    assert!(
        q("SELECT COUNT(*) FROM volunteers WHERE length(CAST(last_name AS BLOB)) > length(last_name)")
            .await
            > 100
    );
    // Notes sometimes mention the volunteer's own name.
    let own_name = q("SELECT COUNT(*) FROM volunteers \
         WHERE notes LIKE '%' || first_name || ' ' || last_name || '%'")
    .await;
    assert!(own_name > 50, "{own_name} notes name their volunteer");
    assert!(q("SELECT COUNT(*) FROM volunteers WHERE notes IS NULL").await > 1000);
    // Sex, phone and country look plausible.
    assert_eq!(
        q("SELECT COUNT(*) FROM volunteers WHERE sex NOT IN ('F', 'M', 'X')").await,
        0
    );
    assert!(q("SELECT COUNT(*) FROM volunteers WHERE sex = 'X'").await > 20);
    assert_eq!(
        q("SELECT COUNT(*) FROM volunteers WHERE phone NOT LIKE '+%'").await,
        0
    );
    assert!(q("SELECT COUNT(*) FROM volunteers WHERE country = 'DE'").await > 800);
    // Everyone is an adult born 1959–2005, registered before their enrolments.
    assert_eq!(
        q("SELECT COUNT(*) FROM volunteers \
           WHERE date_of_birth < '1959-01-01' OR date_of_birth > '2005-12-31'")
        .await,
        0
    );
    assert_eq!(
        q(
            "SELECT COUNT(*) FROM enrolments e JOIN volunteers v ON v.id = e.volunteer_id \
           WHERE e.enrolled_at <= v.created_at"
        )
        .await,
        0
    );
    // Audit rows copy personal data.
    assert!(q("SELECT COUNT(*) FROM volunteer_audit WHERE field = 'last_name'").await > 10);
    let joined = q("SELECT COUNT(*) FROM volunteer_audit a JOIN volunteers v \
         ON v.id = a.volunteer_id WHERE a.field = 'email' AND a.new_value = v.email")
    .await;
    let emails = q("SELECT COUNT(*) FROM volunteer_audit WHERE field = 'email'").await;
    assert_eq!(
        joined, emails,
        "audited e-mail changes end at the current address"
    );
}

/// Events per local (Europe/Berlin) weekday (Monday = 1 … Sunday = 7) and hour, from
/// `YYYY-MM-DDTHH:MM:SSZ` timestamps.
fn local_buckets(stamps: &[String]) -> BTreeMap<(i8, i8), u64> {
    let zone = TimeZone::get("Europe/Berlin").unwrap();
    let mut out = BTreeMap::new();
    for s in stamps {
        let ts: jiff::Timestamp = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        let local = ts.to_zoned(zone.clone());
        *out.entry((local.weekday().to_monday_one_offset(), local.hour()))
            .or_default() += 1;
    }
    out
}

fn profile() -> toml::Table {
    let text = include_str!("../valet-app.toml");
    text.parse().expect("valet-app.toml is valid TOML")
}

/// The profile's activity query for an engine, with `{days}` filled in.
fn activity_sql(engine: &str, days: u32) -> String {
    let p = profile();
    p["activity"][engine]
        .as_str()
        .unwrap_or_else(|| panic!("[activity] {engine}"))
        .replace("{days}", &days.to_string())
}

#[tokio::test]
async fn events_follow_the_weekly_pattern_in_berlin_time() {
    let db = valet_testkit::TestDb::sqlite("gen_pattern");
    generate(&db.url, &opts(300, 60_000, 4)).await.unwrap();
    // 200 days back from the newest event covers the whole 26-week window.
    let stamps = strings(&db.url, &activity_sql("sqlite", 200)).await;
    assert_eq!(stamps.len(), 60_000);
    let b = local_buckets(&stamps);
    let sum = |f: &dyn Fn(i8, i8) -> bool| -> u64 {
        b.iter()
            .filter(|((d, h), _)| f(*d, *h))
            .map(|(_, n)| n)
            .sum()
    };
    let (sat, sun) = (
        Weekday::Saturday.to_monday_one_offset(),
        Weekday::Sunday.to_monday_one_offset(),
    );
    let weekday = |d: i8| d < sat;
    let mornings = sum(&|d, h| weekday(d) && (7..11).contains(&h));
    let afternoons = sum(&|d, h| weekday(d) && (13..17).contains(&h));
    let nights = sum(&|d, h| weekday(d) && h < 6);
    let saturday = sum(&|d, _| d == sat);
    let sunday = sum(&|d, _| d == sun);
    assert!(
        mornings > 20 * sunday,
        "mornings {mornings}, Sunday {sunday}"
    );
    assert!(
        mornings > afternoons * 3 / 2,
        "mornings {mornings}, afternoons {afternoons}"
    );
    assert!(
        saturday > 3 * sunday,
        "Saturday {saturday}, Sunday {sunday}"
    );
    assert!(
        mornings > 5 * saturday,
        "mornings {mornings}, Saturday {saturday}"
    );
    assert!(nights * 50 < 60_000, "nights {nights}");
    assert!(sunday > 0, "Sunday is quiet, not closed");

    let first = stamps.iter().min().unwrap();
    let last = stamps.iter().max().unwrap();
    assert!(first.as_str() >= "2024-01-01T00:00:00Z", "{first}");
    assert!(last.as_str() < "2024-07-01T00:00:00Z", "{last}");
    // Ids follow time.
    let ordered = strings(
        &db.url,
        "SELECT CAST(collected_at AS TEXT) FROM events ORDER BY id",
    )
    .await;
    assert!(ordered.windows(2).all(|w| w[0] <= w[1]));
}

#[tokio::test]
async fn activity_queries_return_the_last_days_on_every_engine() {
    let p = profile();
    assert_eq!(p["activity"]["days"].as_integer(), Some(28));
    let mut per_engine = Vec::new();
    for (on, key) in [
        (On::Sqlite, "sqlite"),
        (On::Postgres, "postgres"),
        (On::MariaDb, "mysql"),
    ] {
        let Some(db) = fresh(on, "gen_activity").await else {
            continue;
        };
        generate(&db.url, &opts(100, 5000, 8)).await.unwrap();
        let stamps = strings(&db.url, &activity_sql(key, 28)).await;
        let all = strings(&db.url, &activity_sql(key, 400)).await;
        assert_eq!(all.len(), 5000, "{key}: a long window returns every event");
        let newest: jiff::Timestamp = all.iter().max().unwrap().parse().unwrap();
        let cutoff = newest - jiff::SignedDuration::from_hours(28 * 24);
        assert!(
            !stamps.is_empty() && stamps.len() < 5000 / 4,
            "{key}: {}",
            stamps.len()
        );
        for s in &stamps {
            let t: jiff::Timestamp = s.parse().unwrap();
            assert!(
                t >= cutoff,
                "{key}: {s} is older than 28 days before {newest}"
            );
        }
        let mut sorted = stamps.clone();
        sorted.sort();
        per_engine.push((key, sorted));
    }
    for (key, stamps) in &per_engine[1..] {
        assert_eq!(
            stamps, &per_engine[0].1,
            "{key} and {} agree",
            per_engine[0].0
        );
    }
}

#[test]
fn profile_commands_use_only_known_placeholders() {
    let p = profile();
    assert_eq!(p["app"]["name"].as_str(), Some("clinic"));
    assert_eq!(p["health"]["path"].as_str(), Some("/health"));
    assert_eq!(p["version"]["path"].as_str(), Some("/version"));
    let known = [
        "bin",
        "db_url",
        "listen",
        "release",
        "env_name",
        "state_dir",
        "banner",
        "sso_metadata",
        "lab",
    ];
    let commands = p["commands"].as_table().unwrap();
    for name in [
        "start",
        "migrate",
        "maintenance_on",
        "maintenance_off",
        "generate",
        "configure",
    ] {
        let argv = commands[name]
            .as_array()
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(argv[0].as_str(), Some("{bin}"), "{name}");
        for arg in argv {
            let arg = arg.as_str().unwrap();
            let mut rest = arg;
            while let Some(start) = rest.find('{') {
                let end = rest[start..].find('}').unwrap() + start;
                let ph = &rest[start + 1..end];
                assert!(known.contains(&ph), "{name}: unknown placeholder {{{ph}}}");
                rest = &rest[end + 1..];
            }
        }
    }
}

#[test]
fn profile_commands_run_against_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let p = profile();
    let db_url = format!("sqlite://{}/p.db", dir.path().display());
    let state = dir.path().join("state");
    let fill = |name: &str| -> Vec<String> {
        p["commands"][name]
            .as_array()
            .unwrap()
            .iter()
            .skip(1)
            .map(|a| {
                a.as_str()
                    .unwrap()
                    .replace("{db_url}", &db_url)
                    .replace("{release}", "24.2")
                    .replace("{state_dir}", &state.display().to_string())
                    .replace("{env_name}", "VAL-ACME")
                    .replace("{banner}", "Validation of 24.2")
                    .replace("{sso_metadata}", "https://idp.example/metadata")
                    .replace("{lab}", "hl7.lab.example:2575")
            })
            .collect()
    };
    let run = |name: &str| {
        let args = fill(name);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out, err) = common::run_clinic(&args);
        assert!(ok, "{name}: {out}{err}");
        out
    };
    let out = run("generate");
    assert!(out.contains("release: 24.2 (24.2.0.1187)"), "{out}");
    run("migrate");
    run("maintenance_on");
    assert!(std::fs::read_to_string(state.join("maintenance"))
        .unwrap()
        .contains("upgrade to 24.2 in progress"));
    run("maintenance_off");
    assert!(!state.join("maintenance").exists());
    let out = run("configure");
    for line in [
        "environment_name: VAL-ACME",
        "banner: Validation of 24.2",
        "sso_enabled: true",
        "sso_metadata: https://idp.example/metadata",
        "lab_endpoint: hl7.lab.example:2575",
        "schema_release: 24.2",
    ] {
        assert!(out.lines().any(|l| l == line), "{line} in:\n{out}");
    }
    let tables: Vec<&str> = p["configuration"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tables, ["report_definitions", "dashboard_definitions"]);
    for table in tables {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("{table}: "))),
            "the configuration report counts {table}:\n{out}"
        );
    }
}
