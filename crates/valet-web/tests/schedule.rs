//! PROD upgrade requests and scheduling through the HTTP API: filing with time-zoned slots,
//! the notice rule and its e-signed override, conflicts (engineer hours and bookings,
//! blackouts, freezes, another upgrade on the same database server) at their edges, the
//! quiet-time heatmap from the PROD database, calendars (.ics and per-user feeds) and tenant
//! isolation; reminders sent exactly once with two workers and a restart, to a real SMTP
//! server.

use std::time::Duration;

use serde_json::{json, Value};
use valet_core::{Actor, Role, Tier};
use valet_ops::jobs::JobKind;
use valet_ops::worker::{JobContext, Supervisor};
use valet_store::environments::{self, MemberSpec, NewPair};
use valet_store::queue::Job;
use valet_store::users::{self, NewUser};
use valet_store::{customers, Store};
use valet_testkit::TestDb;
use valet_web::AppState;

const PASSWORD: &str = "a long test password";

struct Ctx {
    base: String,
    client: reqwest::Client,
    store: Store,
    alpha: String,
    beta: String,
    pm: String,
    eng: String,
    alpha_pair: String,
    beta_pair: String,
    _dbs: Vec<TestDb>,
}

async fn user(
    store: &Store,
    name: &str,
    role: Role,
    customer: Option<&str>,
    zone: Option<&str>,
) -> String {
    let system = Actor::system();
    let u = users::create(
        store,
        &system,
        NewUser {
            username: name.into(),
            display_name: format!("{name} (test)"),
            email: Some(format!("{name}@example.test")),
            role,
            customer_id: customer.map(str::to_string),
            password: PASSWORD.into(),
        },
    )
    .await
    .unwrap();
    if let Some(z) = zone {
        // Users' zones are set by administrators; the store keeps them in `users.zone`.
        sqlx_zone(store, &u.id, z).await;
    }
    users::create_token(store, &system, &u.id, "test")
        .await
        .unwrap()
        .1
}

async fn sqlx_zone(store: &Store, user_id: &str, zone: &str) {
    sqlx::query("UPDATE users SET zone = $1 WHERE id = $2")
        .bind(zone)
        .bind(user_id)
        .execute(store.pool())
        .await
        .unwrap();
}

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn setup() -> Ctx {
    let db = TestDb::sqlite("schedule");
    let store = Store::open(&db.url).await.unwrap();
    let system = Actor::system();
    for v in ["24.1", "24.2", "24.2.1", "24.3"] {
        let file = format!(
            "{}/../../examples/clinic/releases/{v}.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let r = valet_store::releases::import(
            &store,
            &system,
            &std::fs::read_to_string(&file).unwrap(),
            &file,
        )
        .await
        .unwrap();
        valet_store::releases::publish(&store, &system, &r.build.to_string(), None)
            .await
            .unwrap();
    }
    let mut dbs = vec![db];
    let mut pairs = Vec::new();
    let mut tokens = Vec::new();
    for (name, zone) in [("Alpha", "America/Chicago"), ("Beta", "Europe/Berlin")] {
        let c = customers::create(&store, &system, name, zone)
            .await
            .unwrap();
        let main = TestDb::sqlite(&format!("{}main", name.to_lowercase()));
        clinic::gen::generate(
            &main.url,
            &clinic::gen::GenOptions {
                volunteers: 60,
                events: 3000,
                seed: 11,
                release: Some("24.2.1".into()),
            },
        )
        .await
        .unwrap();
        let pair = environments::create_pair(
            &store,
            &system,
            NewPair {
                customer_id: c.id.clone(),
                tier: Tier::Prod,
                label: None,
                build: Some("24.2.1.1201".into()),
                state: None,
                main: MemberSpec {
                    database_url: Some(main.url.clone()),
                    base_url: None,
                },
                test: MemberSpec::default(),
                request_id: None,
                expires_at: None,
            },
        )
        .await
        .unwrap();
        dbs.push(main);
        pairs.push(pair.pair_id);
        tokens.push(
            user(
                &store,
                &format!("{}.admin", name.to_lowercase()),
                Role::CustomerAdmin,
                Some(&c.id),
                None,
            )
            .await,
        );
    }
    let pm = user(&store, "pam", Role::VendorPm, None, Some("Europe/Berlin")).await;
    let eng = user(&store, "eddie", Role::VendorEngineer, None, Some("UTC")).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let profile = valet_ops::profile::AppProfile::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/clinic/valet-app.toml"
    )))
    .unwrap();
    let state = AppState {
        profile: Some(std::sync::Arc::new(profile)),
        base_url: Some(base.clone()),
        ..AppState::new(store.clone())
    };
    tokio::spawn(valet_web::serve(listener, state, std::future::pending()));
    Ctx {
        base,
        client: reqwest::Client::new(),
        store,
        alpha: tokens[0].clone(),
        beta: tokens[1].clone(),
        pm,
        eng,
        alpha_pair: pairs[0].clone(),
        beta_pair: pairs[1].clone(),
        _dbs: dbs,
    }
}

impl Ctx {
    async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
    async fn post(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
    async fn file(&self, token: &str, pair: &str, slots: &[String]) -> Value {
        let r = self
            .post(
                "/api/v1/requests/upgrade",
                token,
                json!({ "pair": pair, "build": "24.3", "slots": slots, "downtime_minutes": 30 }),
            )
            .await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body
    }
    async fn set(&self, key: &str, body: Value) -> (u16, Value) {
        let r = self
            .post(&format!("/api/v1/requests/{key}/schedule"), &self.pm, body)
            .await;
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

/// A Monday at least `days` days from now, as `YYYY-MM-DD`.
fn monday_after(days: i64) -> jiff::civil::Date {
    let mut d = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(days))
        .unwrap();
    while d.weekday() != jiff::civil::Weekday::Monday {
        d = d.tomorrow().unwrap();
    }
    d
}

fn kinds(conflicts: &Value) -> Vec<String> {
    conflicts
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn filing_reads_slots_in_their_zones_and_refuses_bad_ones_whole() {
    let c = setup().await;
    let d = monday_after(30);
    // A DST gap and an ambiguous abbreviation: 400 naming both slots, nothing created.
    let r = c
        .post(
            "/api/v1/requests/upgrade",
            &c.alpha,
            json!({
                "pair": c.alpha_pair,
                "build": "24.3",
                "slots": ["2027-03-14 02:30-03:30 America/Chicago", format!("{d} 09:00-10:00 IST")],
                "downtime_minutes": 30,
            }),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"slots[2]"), "{body}");
    let text = body.to_string();
    assert!(text.contains("ambiguous"), "{text}");
    let list: Vec<Value> = c
        .get("/api/v1/requests?kind=upgrade", &c.alpha)
        .await
        .json()
        .await
        .unwrap();
    assert!(list.is_empty(), "nothing filed");

    // Chicago slot shown to a Berlin viewer at the right instant.
    let check: Value = c
        .get(
            "/api/v1/slots/check?slot=2027-01-11%2009:00-10:00%20America/Chicago&view=Europe/Berlin",
            &c.alpha,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(check["slot"]["start"], "2027-01-11T15:00:00Z");
    assert_eq!(
        check["display_view"],
        "Mon 2027-01-11 16:00–17:00 Europe/Berlin (UTC+01:00)"
    );
    // An overlap is flagged with both instants.
    let check: Value = c
        .get(
            "/api/v1/slots/check?slot=2027-10-31%2002:30-03:30%20Europe/Berlin",
            &c.alpha,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(check["slot"]["warnings"][0]["code"], "dst_overlap");
    assert_eq!(
        check["slot"]["warnings"][0]["instants"],
        json!(["2027-10-31T00:30:00Z", "2027-10-31T01:30:00Z"])
    );

    // A good request: abbreviation resolved with its warning, a short-notice slot flagged.
    let soon = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(5))
        .unwrap();
    let r = c
        .file(
            &c.alpha,
            &c.alpha_pair,
            &[
                format!("{d} 09:00-10:00 CST"),
                format!("{soon} 09:00-10:00 America/Chicago"),
            ],
        )
        .await;
    assert!(r["key"].as_str().unwrap().starts_with("UPG-"));
    let slots = &r["details"]["slots"];
    assert_eq!(slots[0]["zone"], "America/Chicago");
    assert_eq!(slots[0]["warnings"][0]["code"], "abbreviation");
    assert_eq!(slots[1]["warnings"][0]["code"], "short_notice");
    assert_eq!(r["details"]["needs_build_override"], true);
    // A second open upgrade of the same pair is a duplicate.
    let dup = c
        .post(
            "/api/v1/requests/upgrade",
            &c.alpha,
            json!({ "pair": c.alpha_pair, "build": "24.3", "slots": [format!("{d} 11:00-12:00 UTC")], "downtime_minutes": 30 }),
        )
        .await;
    assert_eq!(dup.status(), 409);

    // What only a VAL has is a 409 saying so on an upgrade request (was a 500).
    let key = r["key"].as_str().unwrap();
    let ext = c
        .post(
            &format!("/api/v1/requests/{key}/extension"),
            &c.alpha,
            json!({ "end": "2027-03-19", "reason": "more time" }),
        )
        .await;
    assert_eq!(ext.status(), 409);
    let body: Value = ext.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not a VAL request"),
        "{body}"
    );
    // Its calendar entry before it is booked: 409, not booked yet.
    let cal = c
        .get(&format!("/api/v1/requests/{key}/calendar"), &c.alpha)
        .await;
    assert_eq!(cal.status(), 409);
}

#[tokio::test]
async fn notice_and_conflicts_block_until_overridden_with_a_reason_and_a_signature() {
    let c = setup().await;
    let d = monday_after(30);
    // Slot 1: 09:00–10:00 UTC on a Monday 30+ days out; slot 2: 5 days out (short notice).
    let soon = monday_after(2);
    let r = c
        .file(
            &c.alpha,
            &c.alpha_pair,
            &[
                format!("{d} 09:00-10:00 UTC"),
                format!("{soon} 09:00-10:00 UTC"),
            ],
        )
        .await;
    let key = r["key"].as_str().unwrap().to_string();

    // The assessment lists each slot's conflicts; the build is not a validated one.
    let a: Value = c
        .get(
            &format!("/api/v1/requests/{key}/schedule?engineer=eddie"),
            &c.pm,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kinds(&a["slots"][0]["conflicts"]), ["unvalidated_build"]);
    let k2 = kinds(&a["slots"][1]["conflicts"]);
    assert!(k2.contains(&"short_notice".to_string()), "{k2:?}");
    assert!(a["slots"][0]["score"].is_number(), "quiet-time score: {a}");

    // Without an override: 409 naming the conflict; nothing booked.
    let (s, body) = c.set(&key, json!({ "slot": 1, "engineer": "eddie" })).await;
    assert_eq!(s, 409, "{body}");
    assert!(body.to_string().contains("unvalidated_build"), "{body}");
    // An override without a reason: 400. Without the password: 400. Wrong password: 403.
    let (s, _) = c
        .set(&key, json!({ "slot": 1, "engineer": "eddie", "overrides": [{ "kind": "unvalidated_build", "reason": " " }], "password": PASSWORD }))
        .await;
    assert_eq!(s, 400);
    let (s, body) = c
        .set(&key, json!({ "slot": 1, "engineer": "eddie", "overrides": [{ "kind": "unvalidated_build", "reason": "24.3 validated on the test pair" }] }))
        .await;
    assert_eq!(s, 400, "{body}");
    let (s, _) = c
        .set(&key, json!({ "slot": 1, "engineer": "eddie", "overrides": [{ "kind": "unvalidated_build", "reason": "ok" }], "password": "wrong password!" }))
        .await;
    assert_eq!(s, 403);
    // The engineer is on leave that day: another conflict; a leave ending exactly at the
    // slot's start is none (half-open periods).
    let r = c
        .post(
            "/api/v1/engineers/eddie/exceptions",
            &c.eng,
            json!({ "kind": "leave", "start": format!("{d}T00:00:00Z"), "end": format!("{d}T09:00:00Z"), "note": "dentist" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    // Short notice, overridden with the signature: booked.
    let (s, body) = c
        .set(
            &key,
            json!({
                "slot": 2, "engineer": "eddie",
                "overrides": [
                    { "kind": "short_notice", "reason": "security fix, customer asked" },
                    { "kind": "unvalidated_build", "reason": "24.3 validated on the test pair" }
                ],
                "password": PASSWORD
            }),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["sequence"], 0);
    assert_eq!(body["overrides"].as_array().unwrap().len(), 2);
    let view: Value = c
        .get(&format!("/api/v1/requests/{key}"), &c.alpha)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["request"]["state"], "scheduled");
    assert_eq!(view["schedule"]["engineer"], "eddie");
    // The override is e-signed: a signature on the schedule in the audit trail.
    let audit: Value = c
        .get("/api/v1/audit?limit=200", &c.pm)
        .await
        .json()
        .await
        .unwrap();
    let text = audit.to_string();
    assert!(
        text.contains("schedule override: short_notice"),
        "signed override audited"
    );

    // Rescheduling to slot 1 raises the SEQUENCE; a customer blackout covering it blocks.
    let r = c
        .post(
            "/api/v1/blackouts",
            &c.alpha,
            json!({ "start": format!("{d}T08:00:00Z"), "end": format!("{d}T09:30:00Z"), "reason": "study ABC first dosing" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let (s, body) = c
        .set(&key, json!({ "slot": 1, "engineer": "eddie", "overrides": [{ "kind": "unvalidated_build", "reason": "ok" }], "password": PASSWORD }))
        .await;
    assert_eq!(s, 409);
    assert!(
        body.to_string().contains("study ABC first dosing"),
        "{body}"
    );
    let (s, body) = c
        .set(
            &key,
            json!({ "slot": 1, "engineer": "eddie", "overrides": [
            { "kind": "unvalidated_build", "reason": "ok" },
            { "kind": "blackout", "reason": "customer agreed: dosing starts 10:00" }
        ], "password": PASSWORD }),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["sequence"], 1);

    // A vendor freeze is a PM's to add, not a customer's.
    let r = c
        .post(
            "/api/v1/blackouts",
            &c.alpha,
            json!({ "freeze": true, "start": format!("{d}T00:00:00Z"), "end": format!("{d}T23:00:00Z"), "reason": "year end" }),
        )
        .await;
    assert_eq!(r.status(), 403);

    // Beta's upgrade at the same time on the same database server (both SQLite on this
    // host) and with the same engineer: both conflicts listed.
    let rb = c
        .file(&c.beta, &c.beta_pair, &[format!("{d} 09:30-10:30 UTC")])
        .await;
    let kb = rb["key"].as_str().unwrap();
    let a: Value = c
        .get(
            &format!("/api/v1/requests/{kb}/schedule?engineer=eddie"),
            &c.pm,
        )
        .await
        .json()
        .await
        .unwrap();
    let k = kinds(&a["slots"][0]["conflicts"]);
    assert!(k.contains(&"engineer_double_booked".to_string()), "{k:?}");
    assert!(k.contains(&"same_server".to_string()), "{k:?}");
    assert_eq!(a["suggested"], Value::Null, "no feasible slot");
}

#[tokio::test]
async fn calendars_carry_sequence_and_cancel_and_feeds_hold_only_the_tenant() {
    let c = setup().await;
    let d = monday_after(30);
    let mut keys = Vec::new();
    for (token, pair, hour) in [(&c.alpha, &c.alpha_pair, 9), (&c.beta, &c.beta_pair, 13)] {
        let r = c
            .file(
                token,
                pair,
                &[format!("{d} {hour:02}:00-{:02}:00 UTC", hour + 1)],
            )
            .await;
        let key = r["key"].as_str().unwrap().to_string();
        let (s, body) = c
            .set(&key, json!({ "slot": 1, "engineer": "eddie", "overrides": [{ "kind": "unvalidated_build", "reason": "test" }], "password": PASSWORD }))
            .await;
        assert_eq!(s, 200, "{body}");
        keys.push(key);
    }
    let ics = c
        .get(&format!("/api/v1/requests/{}/calendar", keys[0]), &c.alpha)
        .await;
    assert_eq!(ics.status(), 200);
    assert!(ics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/calendar"));
    let text = ics.text().await.unwrap();
    assert!(
        text.contains("METHOD:PUBLISH") && text.contains("SEQUENCE:0"),
        "{text}"
    );
    // Another tenant's calendar: 404.
    assert_eq!(
        c.get(&format!("/api/v1/requests/{}/calendar", keys[0]), &c.beta)
            .await
            .status(),
        404
    );
    // Feeds: alpha's holds only alpha's upgrade; the PM's holds both; revoked is 404.
    let feed = |token: String| {
        let c = &c;
        async move {
            let r: Value = c
                .post("/api/v1/calendar/feeds", &token, json!({}))
                .await
                .json()
                .await
                .unwrap();
            r["path"].as_str().unwrap().to_string()
        }
    };
    let alpha_feed = feed(c.alpha.clone()).await;
    let pm_feed = feed(c.pm.clone()).await;
    let fetch = |path: String| {
        let c = &c;
        async move {
            let r = c
                .client
                .get(format!("{}{path}", c.base))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (s, a) = fetch(alpha_feed.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(a.matches("BEGIN:VEVENT").count(), 1, "{a}");
    assert!(a.contains(&format!("SUMMARY:{}", keys[0])));
    let (_, p) = fetch(pm_feed).await;
    assert_eq!(p.matches("BEGIN:VEVENT").count(), 2, "{p}");
    // Cancel beta's: its .ics is a CANCEL with a raised SEQUENCE.
    let r = c
        .post(
            &format!("/api/v1/requests/{}/cancel", keys[1]),
            &c.beta,
            json!({ "reason": "study extended" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let text = c
        .get(&format!("/api/v1/requests/{}/calendar", keys[1]), &c.beta)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("METHOD:CANCEL") && text.contains("SEQUENCE:1"),
        "{text}"
    );
    assert!(text.contains("STATUS:CANCELLED"));
    let r = c
        .client
        .delete(format!("{}/api/v1/calendar/feeds", c.base))
        .bearer_auth(&c.alpha)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(fetch(alpha_feed).await.0, 404);
    assert_eq!(
        fetch("/api/v1/calendar/feed/cal_guess.ics".into()).await.0,
        404
    );
}

#[tokio::test]
async fn quiet_time_heatmap_comes_from_the_prod_database_and_stays_in_its_tenant() {
    let c = setup().await;
    let j: Value = c
        .get(
            &format!("/api/v1/quiet?pair={}&weeks=8&format=json", c.alpha_pair),
            &c.alpha,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(j["zone"], "America/Chicago");
    let days = j["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    let total: f64 = days
        .iter()
        .flat_map(|d| d["hours"].as_array().unwrap().iter())
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!(total > 0.0, "events were aggregated: {j}");
    let csv = c
        .get(
            &format!("/api/v1/quiet?pair={}&format=csv", c.alpha_pair),
            &c.alpha,
        )
        .await
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 8, "header and one row per weekday: {csv}");
    assert_eq!(lines[0].split(',').count(), 25);
    assert!(lines[1].starts_with("Monday,"));
    let svg = c
        .get(
            &format!("/api/v1/quiet?pair={}&format=svg", c.alpha_pair),
            &c.alpha,
        )
        .await;
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().starts_with("<svg"));
    // Another tenant's pair: 404, in every format.
    for f in ["json", "csv", "svg"] {
        let r = c
            .get(
                &format!("/api/v1/quiet?pair={}&format={f}", c.alpha_pair),
                &c.beta,
            )
            .await;
        assert_eq!(r.status(), 404, "{f}");
    }
    // Another tenant's upgrade request, its schedule and assessment: 404.
    let d = monday_after(30);
    let r = c
        .file(&c.alpha, &c.alpha_pair, &[format!("{d} 09:00-10:00 UTC")])
        .await;
    let key = r["key"].as_str().unwrap();
    for path in [
        format!("/api/v1/requests/{key}"),
        format!("/api/v1/requests/{key}/schedule"),
        format!("/api/v1/quiet?request={key}&format=svg"),
    ] {
        assert_eq!(c.get(&path, &c.beta).await.status(), 404, "{path}");
    }
    let sched: Vec<Value> = c
        .get("/api/v1/schedules", &c.beta)
        .await
        .json()
        .await
        .unwrap();
    assert!(sched.is_empty());
    // Engineers' availability is the vendor's business.
    assert_eq!(c.get("/api/v1/engineers", &c.alpha).await.status(), 404);
}

/// A worker with only the reminder and delivery handlers, its clock `ahead` of now.
fn worker(
    store: &Store,
    name: &str,
    ahead: jiff::SignedDuration,
    smtp: valet_ops::notify::SmtpConfig,
) -> (tokio::sync::watch::Sender<bool>, Supervisor) {
    let moved = store.clone().with_clock(std::sync::Arc::new(move || {
        jiff::Timestamp::now().checked_add(ahead).unwrap()
    }));
    let sup = Supervisor::default();
    let smtp = std::sync::Arc::new(smtp);
    let w = sup
        .worker(moved, name)
        .with_policy(
            valet_store::queue::QueuePolicy {
                lease: jiff::SignedDuration::from_secs(6),
                backoff_base: jiff::SignedDuration::from_millis(200),
                backoff_max: jiff::SignedDuration::from_secs(1),
            },
            Duration::from_millis(50),
        )
        .handle(
            JobKind::UpgradeRemind,
            |job: Job, ctx: JobContext| async move {
                valet_ops::upgrade::remind(&ctx.store, &job.payload)
                    .await
                    .map(|_| ())
            },
        )
        .handle(JobKind::Notify, move |job: Job, ctx: JobContext| {
            let smtp = smtp.clone();
            async move {
                let id = job.payload["notification_id"].as_str().unwrap().to_string();
                valet_ops::outbox::deliver(&ctx.store, &id, Some(&smtp)).await
            }
        });
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(w.run(rx));
    (tx, sup)
}

async fn settle(store: &Store) {
    // Until no job is pending or running.
    for _ in 0..300 {
        let busy = count(
            store,
            // Reminders and their deliveries (the upgrade run queued at the slot is not
            // this worker's business).
            "SELECT COUNT(*) FROM jobs WHERE kind IN ('upg.remind', 'notify.deliver') \
             AND state NOT IN ('done', 'failed', 'dead', 'succeeded')",
        )
        .await;
        if busy == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("jobs did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reminders_are_sent_once_each_with_two_workers_and_a_restart() {
    let Some(smtp) = valet_testkit::smtp::SmtpServer::start() else {
        return;
    };
    let c = setup().await;
    let d = monday_after(30);
    let r = c
        .file(&c.alpha, &c.alpha_pair, &[format!("{d} 09:00-10:00 UTC")])
        .await;
    let key = r["key"].as_str().unwrap().to_string();
    let (s, body) = c
        .set(&key, json!({ "slot": 1, "engineer": "eddie", "overrides": [{ "kind": "unvalidated_build", "reason": "test" }], "password": PASSWORD }))
        .await;
    assert_eq!(s, 200, "{body}");
    let start: jiff::Timestamp = body["start"].as_str().unwrap().parse().unwrap();
    let cfg = valet_ops::notify::SmtpConfig::from_url(&smtp.url()).unwrap();
    let until = |t: jiff::Timestamp| t.duration_since(jiff::Timestamp::now());
    // Worker A's clock at T-20d: the T-21d reminder only. Then A stops ("restart"), and A
    // comes back at the same time: nothing more.
    let t_minus_20d = start - jiff::SignedDuration::from_hours(20 * 24);
    let (stop, sup) = worker(&c.store, "a", until(t_minus_20d), cfg.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop.send(true);
    sup.stop_all().await;
    let (stop, sup) = worker(&c.store, "a-again", until(t_minus_20d), cfg.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop.send(true);
    sup.stop_all().await;
    let subjects = |mails: &[Value]| -> Vec<String> {
        mails
            .iter()
            .map(|m| m["subject"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    // Mails other than reminders (filed, scheduled) are delivered too; only reminders count.
    let reminders = |all: Vec<Value>| -> Vec<Value> {
        all.into_iter()
            .filter(|m| {
                let s = m["subject"].as_str().unwrap_or_default();
                [
                    "in 21d",
                    "in 7d",
                    "in 1d",
                    "in 1h",
                    "starts now",
                    "window ends",
                ]
                .iter()
                .any(|l| s.contains(l))
            })
            .collect()
    };
    let after_first = reminders(smtp.received());
    assert!(
        !after_first.is_empty() && subjects(&after_first).iter().all(|m| m.contains("in 21d")),
        "{:?}",
        subjects(&after_first)
    );
    // Two workers at once, past the end of the window: every other reminder, once each.
    let after_end = start + jiff::SignedDuration::from_hours(2);
    let (s1, w1) = worker(&c.store, "b", until(after_end), cfg.clone());
    let (s2, w2) = worker(&c.store, "c", until(after_end), cfg.clone());
    settle(&c.store).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (s, w) in [(s1, w1), (s2, w2)] {
        let _ = s.send(true);
        w.stop_all().await;
    }
    // Running a reminder job again (as after a crash between sending and completing)
    // records nothing new.
    let before = count(&c.store, "SELECT COUNT(*) FROM notifications").await;
    let again = valet_ops::upgrade::remind(
        &c.store,
        &json!({ "request": key, "sequence": 0, "label": "T-7d" }),
    )
    .await
    .unwrap();
    assert!(again > 0, "the reminder is still due");
    let after = count(&c.store, "SELECT COUNT(*) FROM notifications").await;
    assert_eq!(
        before, after,
        "no second notification for the same reminder"
    );
    let mails = reminders(smtp.received());
    let recipients = after_first.len();
    for label in [
        "in 21d",
        "in 7d",
        "in 1d",
        "in 1h",
        "starts now",
        "window ends",
    ] {
        let n = subjects(&mails)
            .iter()
            .filter(|m| m.contains(label))
            .count();
        assert_eq!(
            n,
            recipients,
            "`{label}` once per recipient: {:?}",
            subjects(&mails)
        );
    }
    // The recipients: the customer admin (watcher), the PM and the engineer.
    let to: std::collections::BTreeSet<String> = mails
        .iter()
        .flat_map(|m| m["rcpt_tos"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    for who in [
        "alpha.admin@example.test",
        "pam@example.test",
        "eddie@example.test",
    ] {
        assert!(to.contains(who), "{who} in {to:?}");
    }
}
