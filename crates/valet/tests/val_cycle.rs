//! The VAL cycle end to end for the clinic app on SQLite, PostgreSQL and MariaDB: a customer
//! admin files, the PM approves (signed), a real worker provisions the pair through the real
//! clone engine, migrations, configuration and the `process` driver (`valet clinic`), both VAL
//! instances answer with the target build, no PROD volunteer's surname, e-mail or phone is
//! anywhere in either VAL database, the IQ PDF says what it must, a finding is filed and
//! resolved, validation is signed off, and closure removes instances, databases and files.
//! Also: a broken migration fails the run cleanly and a retry after the fix succeeds; a
//! refresh carries the configuration over; a worker killed mid-run is resumed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use valet_core::signature::Meaning;
use valet_core::val::{FindingState, ValRequestInput, ValRules};
use valet_core::{Actor, Role, Tier};
use valet_ops::provision::{OpsConfig, Provisioner};
use valet_ops::worker::Supervisor;
use valet_store::environments::{self, MemberSpec, NewPair};
use valet_store::findings::NewFinding;
use valet_store::requests;
use valet_store::runs::RunState;
use valet_store::users::{self, NewUser};
use valet_store::{customers, documents, Store};
use valet_testkit::TestDb;

const PASSWORD: &str = "correct horse battery";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub struct World {
    pub store: Store,
    pub data: tempfile::TempDir,
    pub pm: Actor,
    pub admin: Actor,
    pub prod_pair: String,
    pub prod: Vec<TestDb>,
    pub config: OpsConfig,
}

async fn user(store: &Store, name: &str, role: Role, customer: Option<&str>) -> Actor {
    users::create(
        store,
        &Actor::system(),
        NewUser {
            username: name.into(),
            display_name: format!("{name} Example"),
            email: Some(format!("{name}@example.com")),
            role,
            customer_id: customer.map(str::to_string),
            password: PASSWORD.into(),
        },
    )
    .await
    .unwrap()
    .actor()
}

async fn prod_db(engine: &str, tag: &str) -> Option<TestDb> {
    match engine {
        "sqlite" => Some(TestDb::sqlite(tag)),
        "postgres" => TestDb::postgres(tag).await,
        _ => TestDb::mariadb(tag).await,
    }
}

/// A store with the clinic catalog, a customer with its PROD pair on `engine` at 24.2.1
/// (generated data), a PM and a customer admin.
pub async fn world(engine: &str) -> Option<World> {
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}/valet.db", data.path().display()))
        .await
        .unwrap();
    let system = Actor::system();
    let c = customers::create(&store, &system, "Acme Clinical Research", "Europe/Berlin")
        .await
        .unwrap();
    for v in ["24.1", "24.2", "24.2.1", "24.3"] {
        let file = repo().join(format!("examples/clinic/releases/{v}.toml"));
        let text = std::fs::read_to_string(&file).unwrap();
        let r = valet_store::releases::import(&store, &system, &text, &file.display().to_string())
            .await
            .unwrap();
        valet_store::releases::publish(&store, &system, &r.build.to_string(), None)
            .await
            .unwrap();
    }
    let mut prod = Vec::new();
    for (role, n) in [("main", 120u64), ("test", 40)] {
        let db = prod_db(engine, &format!("valprod{role}")).await?;
        clinic::gen::generate(
            &db.url,
            &clinic::gen::GenOptions {
                volunteers: n,
                events: n * 10,
                seed: 7,
                release: Some("24.2.1".into()),
            },
        )
        .await
        .unwrap();
        prod.push(db);
    }
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
                database_url: Some(prod[0].url.clone()),
                base_url: None,
            },
            test: MemberSpec {
                database_url: Some(prod[1].url.clone()),
                base_url: None,
            },
            request_id: None,
            expires_at: None,
        },
    )
    .await
    .unwrap();
    let pm = user(&store, "petra", Role::VendorPm, None).await;
    let admin = user(&store, "carla", Role::CustomerAdmin, Some(&c.id)).await;
    let config = OpsConfig {
        data_dir: data.path().join("ops"),
        profile: repo().join("examples/clinic/valet-app.toml"),
        policy: repo().join("examples/clinic/policy.toml"),
        bin: vec![env!("CARGO_BIN_EXE_valet").to_string(), "clinic".into()],
        clone_jobs: 2,
    };
    Some(World {
        store,
        data,
        pm,
        admin,
        prod_pair: pair.pair_id,
        prod,
        config,
    })
}

impl World {
    /// Starts a worker with the VAL handlers; returns its stop switch and supervisor.
    pub fn worker(&self, name: &str) -> (tokio::sync::watch::Sender<bool>, Supervisor) {
        self.worker_mailing(name, None)
    }

    /// A worker that delivers e-mail through `smtp`.
    pub fn worker_mailing(
        &self,
        name: &str,
        smtp: Option<valet_ops::notify::SmtpConfig>,
    ) -> (tokio::sync::watch::Sender<bool>, Supervisor) {
        let sup = Supervisor::default();
        let prov = Provisioner::new(self.store.clone(), self.config.clone(), sup.clone(), name);
        let w = valet_ops::provision::register(
            sup.worker(self.store.clone(), name).with_policy(
                valet_store::queue::QueuePolicy {
                    lease: jiff::SignedDuration::from_secs(6),
                    backoff_base: jiff::SignedDuration::from_millis(200),
                    backoff_max: jiff::SignedDuration::from_secs(1),
                },
                Duration::from_millis(100),
            ),
            prov,
            smtp,
        );
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(w.run(rx));
        (tx, sup)
    }

    pub fn input(&self) -> ValRequestInput {
        let today = self.store.now().to_zoned(jiff::tz::TimeZone::UTC).date();
        ValRequestInput {
            pair: self.prod_pair.clone(),
            build: "24.3".into(),
            begin: today.to_string(),
            end: today
                .checked_add(jiff::Span::new().days(60))
                .unwrap()
                .to_string(),
            lab: Some("https://lab.example.com/hl7".into()),
            purpose: Some("validate 24.3".into()),
            ..Default::default()
        }
    }

    /// Files and approves a VAL request; returns its key.
    pub async fn file_and_approve(&self, input: ValRequestInput) -> String {
        let r = valet_ops::val::file(&self.store, &self.admin, input, ValRules::default())
            .await
            .unwrap();
        valet_ops::val::approve(&self.store, &self.pm, &r.key, PASSWORD, Some("go"))
            .await
            .unwrap();
        r.key
    }

    /// Waits until the request's latest run of `kind` is final; returns its state.
    pub async fn wait_run(&self, key: &str, kind: &str) -> RunState {
        let system = Actor::system();
        for _ in 0..1800 {
            let r = requests::get(&self.store, &system, key).await.unwrap();
            let runs = valet_store::runs::of_request(&self.store, &system, &r)
                .await
                .unwrap();
            if let Some(run) = runs.iter().find(|x| x.kind == kind) {
                if run.state.is_final() {
                    return run.state;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{key}: {kind} run did not finish within 3 minutes");
    }
}

/// Lines of `sql` from the database at `url`, through the engine's own client.
fn query(url: &str, sql: &str) -> Vec<String> {
    let out = if let Some(rest) = url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap();
        Command::new("sqlite3").args([path, sql]).output()
    } else if url.starts_with("postgres") {
        Command::new("psql").args([url, "-At", "-c", sql]).output()
    } else {
        let u = url::Url::parse(url).unwrap();
        Command::new("mysql")
            .args([
                "-h",
                u.host_str().unwrap(),
                "-P",
                &u.port().unwrap_or(3306).to_string(),
                "-u",
                u.username(),
                "-N",
                "-B",
                "-e",
                sql,
                u.path().trim_start_matches('/'),
            ])
            .output()
    }
    .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The whole database as text (data and schema), through the engine's dump tool.
fn dump(url: &str) -> String {
    let out = if let Some(rest) = url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap();
        Command::new("sqlite3").args([path, ".dump"]).output()
    } else if url.starts_with("postgres") {
        Command::new("pg_dump").args(["--no-owner", url]).output()
    } else {
        let u = url::Url::parse(url).unwrap();
        Command::new("mysqldump")
            .args([
                "-h",
                u.host_str().unwrap(),
                "-u",
                u.username(),
                "--skip-extended-insert",
                u.path().trim_start_matches('/'),
            ])
            .output()
    }
    .unwrap();
    assert!(
        out.status.success(),
        "dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn database_exists(url: &str) -> bool {
    if let Some(rest) = url.strip_prefix("sqlite://") {
        return Path::new(rest.split('?').next().unwrap()).exists();
    }
    let mut u = url::Url::parse(url).unwrap();
    let name = u.path().trim_start_matches('/').to_string();
    if url.starts_with("postgres") {
        u.set_path("/postgres");
        !query(
            u.as_str(),
            &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
        )
        .is_empty()
    } else {
        u.set_path("/mysql");
        !query(
            u.as_str(),
            &format!("SELECT 1 FROM information_schema.schemata WHERE schema_name = '{name}'"),
        )
        .is_empty()
    }
}

/// Every surname, e-mail and phone of PROD's volunteers found in `text`, as whole words.
fn pii_found(prod_urls: &[String], text: &str) -> Vec<String> {
    let words: std::collections::HashSet<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || "@.+-_'".contains(c)))
        .filter(|w| !w.is_empty())
        .collect();
    let mut hits = Vec::new();
    for url in prod_urls {
        for line in query(url, "SELECT last_name, email, phone FROM volunteers") {
            let cols: Vec<&str> = line.split(['|', '\t']).collect();
            for v in cols.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
                let found = if v.contains('@') || v.chars().filter(char::is_ascii_digit).count() > 5
                {
                    text.contains(v)
                } else {
                    words.contains(v)
                };
                if found {
                    hits.push(v.to_string());
                }
            }
        }
    }
    hits
}

/// A Monday at least `days` days from now.
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

async fn get_json(url: &str) -> serde_json::Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

async fn full_cycle(engine: &str) {
    let Some(w) = world(engine).await else { return };
    let (stop, sup) = w.worker("w1");
    let key = w.file_and_approve(w.input()).await;
    assert_eq!(
        w.wait_run(&key, "provision").await,
        RunState::Succeeded,
        "{}",
        run_log(&w, &key).await
    );

    let view = valet_ops::val::view(&w.store, &w.pm, &key).await.unwrap();
    assert_eq!(view.request.state, valet_core::RequestState::InProgress);
    assert_eq!(view.request.details["provisioned"], true);
    let pair = view.val_pair.clone().expect("VAL pair");
    let mut val_urls = Vec::new();
    for env in [&pair.main, &pair.test] {
        assert_eq!(env.tier, Tier::Val);
        assert_eq!(env.state, valet_core::EnvState::Active);
        assert_eq!(env.current_build.unwrap().to_string(), "24.3.0.1300");
        let base = env.base_url.clone().expect("base url");
        let h = reqwest::get(format!("{base}/health")).await.unwrap();
        assert_eq!(h.status(), 200);
        let v = get_json(&format!("{base}/version")).await;
        assert_eq!(v["build"], "24.3.0.1300", "{v}");
        let url = environments::database_url(&w.store, &Actor::system(), &env.id)
            .await
            .unwrap()
            .unwrap();
        val_urls.push(url);
    }
    // Migration timings were kept for the downtime estimate.
    let run = &view.runs[0];
    let migrate = run.steps.iter().find(|s| s.name == "migrate").unwrap();
    assert!(migrate.duration_ms.is_some() && migrate.artifacts["total_ms"].is_u64());

    // No PROD volunteer's surname, e-mail or phone anywhere in either VAL database.
    let prod_urls: Vec<String> = w.prod.iter().map(|d| d.url.clone()).collect();
    for url in &val_urls {
        let text = dump(url);
        assert!(text.contains("volunteers"), "the dump has the data");
        let hits = pii_found(&prod_urls, &text);
        assert!(hits.is_empty(), "{engine}: PROD PII in {url}: {hits:?}");
    }

    // The IQ report.
    let docs = documents::of_request(&w.store, &w.admin, &key)
        .await
        .unwrap();
    assert_eq!(docs.len(), 1);
    let (doc, pdf) = documents::content(&w.store, &w.admin, &docs[0].id, documents::Format::Pdf)
        .await
        .unwrap();
    let path = w.data.path().join("iq.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let text = Command::new("pdftotext")
        .args([path.to_str().unwrap(), "-"])
        .output();
    match text {
        Ok(o) if o.status.success() => {
            let t = String::from_utf8_lossy(&o.stdout).replace('\u{a0}', " ");
            for needle in [
                "24.3.0.1300",
                "4e918cead8dce7755874921a0f8db01174ec8d6b37bffca0a17b33023e7b1afc",
                "Exported and printed copies are uncontrolled",
                &doc.id,
                "not for clinical use",
                "https://lab.example.com/hl7",
            ] {
                assert!(t.contains(needle), "IQ PDF lacks `{needle}`:\n{t}");
            }
            assert!(t.to_lowercase().contains("leak scan"), "{t}");
            assert!(t.contains("volunteers"), "masking summary lists tables");
        }
        _ => assert!(!valet_testkit::in_ci(), "pdftotext is needed in CI"),
    }
    let audit = valet_store::audit::list(&w.store, &Actor::system(), Some(("request", &key)), 500)
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.action == "document.create"
        && e.after.as_ref().unwrap()["sha256"] == doc.sha256.as_str()));

    // Validation: a finding blocks sign-off until resolved.
    let f = valet_ops::val::file_finding(
        &w.store,
        &w.admin,
        &key,
        NewFinding {
            title: "Dashboard misses the consent widget".into(),
            severity: "major".into(),
            area: "configuration_item".into(),
            steps: "Open the dashboard; the consent widget is missing.".into(),
        },
    )
    .await
    .unwrap();
    let e = valet_ops::val::sign_off(&w.store, &w.admin, &key, PASSWORD, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains(&f.key), "{e}");
    valet_ops::val::set_finding(
        &w.store,
        &w.pm,
        &f.key,
        FindingState::Resolved,
        "widget re-added",
    )
    .await
    .unwrap();
    let s = valet_ops::val::sign_off(&w.store, &w.admin, &key, PASSWORD, None)
        .await
        .unwrap();
    assert_eq!(s.meaning, Meaning::Validated);

    // The PROD upgrade request defaults to the validated build; its expected downtime comes
    // from this VAL's measured migrations, and its quiet time from PROD's activity,
    // aggregated by this engine.
    let d = monday_after(30);
    let up = valet_ops::upgrade::file(
        &w.store,
        &w.admin,
        valet_core::upgrade::UpgradeRequestInput {
            pair: w.prod_pair.clone(),
            slots: vec![format!("{d} 09:00-10:00 Europe/Berlin")],
            downtime_minutes: Some(30),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let u = valet_ops::upgrade::details(&up).unwrap();
    assert_eq!(u.build.to_string(), "24.3.0.1300");
    assert!(!u.needs_build_override);
    assert_eq!(u.validated_in.as_deref(), Some(key.as_str()));
    let profile =
        valet_ops::profile::AppProfile::load(&repo().join("examples/clinic/valet-app.toml"))
            .unwrap();
    let a = valet_ops::upgrade::assess(&w.store, &w.pm, Some(&profile), &up.key, None, true)
        .await
        .unwrap();
    assert_eq!(a.activity_error, None);
    let h = a.histogram.as_ref().unwrap();
    assert_eq!(h.zone, "Europe/Berlin");
    assert!(h.total() > 0.0, "{engine}: activity aggregated");
    assert_eq!(a.downtime.per_env.len(), 2, "{engine}: {:?}", a.downtime);
    assert!(a.downtime.per_env.iter().all(|e| e.low_seconds > 0));
    assert_eq!(a.downtime.verdict, "within", "{:?}", a.downtime);
    assert!(a.slots[0].score.is_some());
    valet_ops::upgrade::cancel(&w.store, &w.admin, &up.key, "test done")
        .await
        .unwrap();

    // Closure removes instances, databases and files; documents and audit stay.
    valet_ops::val::close(&w.store, &w.pm, &key, "validation complete")
        .await
        .unwrap();
    assert_eq!(w.wait_run(&key, "teardown").await, RunState::Succeeded);
    let r = requests::get(&w.store, &w.pm, &key).await.unwrap();
    assert_eq!(r.state, valet_core::RequestState::Done);
    let pair = environments::pair(&w.store, &w.pm, &pair.pair_id)
        .await
        .unwrap();
    for (env, url) in [&pair.main, &pair.test].iter().zip(&val_urls) {
        assert_eq!(env.state, valet_core::EnvState::Destroyed);
        let base = env.base_url.clone().unwrap();
        assert!(
            reqwest::get(format!("{base}/health")).await.is_err(),
            "{base} still answers"
        );
        assert!(!database_exists(url), "{url} still exists");
    }
    assert!(
        !w.config.data_dir.join("envs").exists()
            || std::fs::read_dir(w.config.data_dir.join("envs"))
                .unwrap()
                .next()
                .is_none(),
        "instance files removed"
    );
    assert_eq!(
        documents::of_request(&w.store, &w.admin, &key)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        valet_store::audit::verify(&w.store).await.unwrap(),
        valet_store::audit::Verdict::Ok { .. }
    ));
    let _ = stop.send(true);
    sup.stop_all().await;
}

async fn run_log(w: &World, key: &str) -> String {
    let r = requests::get(&w.store, &Actor::system(), key)
        .await
        .unwrap();
    let runs = valet_store::runs::of_request(&w.store, &Actor::system(), &r)
        .await
        .unwrap();
    runs.iter()
        .flat_map(|r| r.steps.iter())
        .map(|s| format!("{} {:?} {:?}: {}", s.name, s.env, s.state, s.log))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A refresh: VAL-1 is provisioned and its customer changes a saved report; VAL-2 refreshes
/// VAL-1's pair from PROD and keeps the change; VAL-1's pair is retired and VAL-1 closed.
async fn refresh_carries_configuration(engine: &str) {
    let Some(w) = world(engine).await else { return };
    let (stop, sup) = w.worker("w1");
    let system = Actor::system();
    let first = w.file_and_approve(w.input()).await;
    assert_eq!(
        w.wait_run(&first, "provision").await,
        RunState::Succeeded,
        "{}",
        run_log(&w, &first).await
    );
    let old = valet_ops::val::view(&w.store, &w.pm, &first)
        .await
        .unwrap()
        .val_pair
        .expect("VAL-1's pair");
    let mut old_urls = Vec::new();
    for env in [&old.main, &old.test] {
        old_urls.push(
            environments::database_url(&w.store, &system, &env.id)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let reports = "SELECT id, name, owner, definition FROM report_definitions ORDER BY id";
    query(
        &old_urls[0],
        "UPDATE report_definitions SET definition = '{\"carried\": \"over\"}', \
         owner = 'carla' WHERE id = 1",
    );
    let changed = query(&old_urls[0], reports);
    assert!(changed[0].contains(r#"{"carried": "over"}"#), "{changed:?}");
    let prod_reports = query(&w.prod[0].url, reports);
    assert_ne!(changed, prod_reports, "the change is VAL-1's own");

    let second = w
        .file_and_approve(ValRequestInput {
            refresh: Some(old.pair_id.clone()),
            ..w.input()
        })
        .await;
    assert_eq!(
        w.wait_run(&second, "provision").await,
        RunState::Succeeded,
        "{}",
        run_log(&w, &second).await
    );
    let view = valet_ops::val::view(&w.store, &w.pm, &second)
        .await
        .unwrap();
    let new = view.val_pair.clone().expect("VAL-2's pair");
    assert_ne!(new.pair_id, old.pair_id);
    let new_main = environments::database_url(&w.store, &system, &new.main.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(query(&new_main, reports), changed, "{engine}");
    let run = &view.runs[0];
    let carried: Vec<_> = run
        .steps
        .iter()
        .filter(|s| s.name == "carry_over")
        .collect();
    assert_eq!(carried.len(), 2);
    for step in carried {
        let report = &step.artifacts["report"];
        assert!(
            report["report_definitions"].as_str().is_some()
                && report["dashboard_definitions"].as_str().is_some(),
            "{}",
            step.artifacts
        );
    }

    let old_now = environments::pair(&w.store, &system, &old.pair_id)
        .await
        .unwrap();
    for (env, url) in [&old_now.main, &old_now.test].iter().zip(&old_urls) {
        assert_eq!(env.state, valet_core::EnvState::Destroyed, "{}", env.name);
        assert!(!database_exists(url), "{url} still exists");
    }
    let r = requests::get(&w.store, &system, &first).await.unwrap();
    assert_eq!(r.state, valet_core::RequestState::Done);
    let r = requests::get(&w.store, &system, &second).await.unwrap();
    assert_eq!(r.state, valet_core::RequestState::InProgress);

    // VAL-2 closed in turn: nothing of either pair is left on the database server.
    let new_test = environments::database_url(&w.store, &system, &new.test.id)
        .await
        .unwrap()
        .unwrap();
    valet_ops::val::close(&w.store, &w.pm, &second, "test done")
        .await
        .unwrap();
    assert_eq!(w.wait_run(&second, "teardown").await, RunState::Succeeded);
    for url in [&new_main, &new_test] {
        assert!(!database_exists(url), "{url} still exists");
    }
    let _ = stop.send(true);
    sup.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_carries_configuration_on_sqlite() {
    refresh_carries_configuration("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_carries_configuration_on_postgres() {
    refresh_carries_configuration("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn val_cycle_end_to_end_on_sqlite() {
    full_cycle("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn val_cycle_end_to_end_on_postgres() {
    full_cycle("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn val_cycle_end_to_end_on_mariadb() {
    full_cycle("mariadb").await;
}

/// A child process killed when dropped (a failing test leaves no worker behind).
struct Reaped(std::process::Child);

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `valet worker` as its own process on the world's state database and data directory.
fn worker_process(w: &World, name: &str) -> Reaped {
    Reaped(
        Command::new(env!("CARGO_BIN_EXE_valet"))
            .args([
                "worker",
                "--name",
                name,
                "--data-dir",
                &w.config.data_dir.display().to_string(),
                "--database-url",
                &format!("sqlite://{}/valet.db", w.data.path().display()),
            ])
            .env("VALET_APP_PROFILE", &w.config.profile)
            .env("VALET_MASKING_POLICY", &w.config.policy)
            .env("VALET_LEASE_SECONDS", "2")
            .env("VALET_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Processes whose command line mentions `needle` (the instances of this test's data dir).
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .filter(|pid| {
            // Zombies (already dead, not yet reaped) hold nothing open.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_killed_in_each_step_is_resumed_and_the_run_completes() {
    let Some(w) = world("sqlite").await else {
        return;
    };
    let key = w.file_and_approve(w.input()).await;
    let system = Actor::system();
    let r = requests::get(&w.store, &system, &key).await.unwrap();
    let steps = valet_store::runs::of_request(&w.store, &system, &r)
        .await
        .unwrap()[0]
        .steps
        .len();
    let needle = w.config.data_dir.display().to_string();
    let mut killed_running = 0;
    for target in 0..steps {
        let mut child = worker_process(&w, &format!("w{target}"));
        let mut running = false;
        for _ in 0..600 {
            let r = requests::get(&w.store, &system, &key).await.unwrap();
            let run = &valet_store::runs::of_request(&w.store, &system, &r)
                .await
                .unwrap()[0];
            let s = &run.steps[target];
            if s.state == valet_store::runs::StepState::Running {
                running = true;
                break;
            }
            if s.state == valet_store::runs::StepState::Done || run.state.is_final() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        child.wait().unwrap();
        killed_running += running as usize;
        // The instances a killed worker started die with it: no orphan.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            processes_mentioning(&needle).is_empty(),
            "orphans after killing the worker in step {target}: {:?}",
            processes_mentioning(&needle)
        );
    }
    assert!(killed_running > 0, "at least one kill landed inside a step");
    let mut last = worker_process(&w, "final");
    assert_eq!(
        w.wait_run(&key, "provision").await,
        RunState::Succeeded,
        "{}",
        run_log(&w, &key).await
    );
    // The instances died with the killed workers; the last one runs them again (resumed
    // start steps, or its start-up reconciliation when the run had already finished).
    let pair_id = valet_ops::val::view(&w.store, &w.pm, &key)
        .await
        .unwrap()
        .val_pair
        .unwrap()
        .pair_id;
    let mut answered = 0;
    for _ in 0..600 {
        let pair = environments::pair(&w.store, &w.pm, &pair_id).await.unwrap();
        answered = 0;
        for env in [&pair.main, &pair.test] {
            let url = format!("{}/version", env.base_url.clone().unwrap());
            if let Ok(r) = reqwest::get(&url).await {
                let v: serde_json::Value = r.json().await.unwrap();
                assert_eq!(v["build"], "24.3.0.1300");
                answered += 1;
            }
        }
        if answered == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        answered, 2,
        "both VAL instances run again under the last worker"
    );
    assert_eq!(
        documents::of_request(&w.store, &w.pm, &key)
            .await
            .unwrap()
            .len(),
        1,
        "one IQ report however often the run was resumed"
    );
    assert!(matches!(
        valet_store::audit::verify(&w.store).await.unwrap(),
        valet_store::audit::Verdict::Ok { .. }
    ));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(last.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    last.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        processes_mentioning(&needle).is_empty(),
        "instances stop with their worker"
    );
    // Closing leaves no database or file behind, however often the run was interrupted.
    let (stop, sup) = w.worker("closer");
    valet_ops::val::close(&w.store, &w.pm, &key, "done")
        .await
        .unwrap();
    assert_eq!(w.wait_run(&key, "teardown").await, RunState::Succeeded);
    let _ = stop.send(true);
    sup.stop_all().await;
    let files: Vec<_> = walk(&w.config.data_dir.join("val"))
        .into_iter()
        .chain(walk(&w.config.data_dir.join("envs")))
        .collect();
    assert!(files.is_empty(), "left behind: {files:?}");
}

/// Every file below `dir` (none when it does not exist).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broken_migration_fails_the_run_cleanly_and_a_retry_after_the_fix_succeeds() {
    let Some(mut w) = world("sqlite").await else {
        return;
    };
    // A profile whose migrate command cannot work: the "broken bundle".
    let broken = w.data.path().join("broken-app.toml");
    let text = std::fs::read_to_string(&w.config.profile).unwrap();
    let text = text.replacen(
        "migrate = [\"{bin}\", \"migrate\"",
        "migrate = [\"{bin}\", \"migrate-broken\"",
        1,
    );
    assert!(
        text.contains("migrate-broken"),
        "profile has the migrate command"
    );
    std::fs::write(&broken, text).unwrap();
    let good = std::mem::replace(&mut w.config.profile, broken);
    let (stop, sup) = w.worker("w1");
    let key = w.file_and_approve(w.input()).await;
    assert_eq!(w.wait_run(&key, "provision").await, RunState::Failed);
    let view = valet_ops::val::view(&w.store, &w.pm, &key).await.unwrap();
    let job = valet_store::queue::get(&w.store, view.runs[0].job_id.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        view.request.state,
        valet_core::RequestState::Failed,
        "{:?}",
        job.last_error
    );
    let failed = view.runs[0]
        .steps
        .iter()
        .find(|s| s.state == valet_store::runs::StepState::Failed)
        .expect("a failed step");
    assert_eq!(failed.name, "migrate");
    assert!(
        failed.log.contains("migrate-broken"),
        "the step's log says what failed: {}",
        failed.log
    );
    let pair = view.val_pair.unwrap();
    for env in [&pair.main, &pair.test] {
        assert_eq!(env.state, valet_core::EnvState::Failed);
        if let Some(url) = environments::database_url(&w.store, &Actor::system(), &env.id)
            .await
            .unwrap()
        {
            assert!(!database_exists(&url), "{url} dropped after the failure");
        }
    }
    let notes = valet_store::notifications::of_request(&w.store, &w.pm, &view.request)
        .await
        .unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.event == "request.failed" && n.recipient == "petra@example.com"),
        "the PM is told"
    );
    let _ = stop.send(true);
    sup.stop_all().await;

    // The fix: the right profile; then a retry provisions the pair.
    w.config.profile = good;
    let (stop, sup) = w.worker("w2");
    valet_ops::val::retry(&w.store, &w.pm, &key).await.unwrap();
    // The newest run is the retry's: wait until it is final (not merely provisioned).
    w.wait_run(&key, "provision").await;
    let view = valet_ops::val::view(&w.store, &w.pm, &key).await.unwrap();
    assert_eq!(
        view.runs[0].state,
        RunState::Succeeded,
        "{}",
        run_log(&w, &key).await
    );
    assert_eq!(view.request.state, valet_core::RequestState::InProgress);
    let _ = stop.send(true);
    sup.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watchers_and_pms_get_every_state_change_by_email() {
    let Some(smtp) = valet_testkit::smtp::SmtpServer::start() else {
        return;
    };
    let Some(w) = world("sqlite").await else {
        return;
    };
    let cfg = valet_ops::notify::SmtpConfig::from_url(&smtp.url()).unwrap();
    let (stop, sup) = w.worker_mailing("mailer", Some(cfg));
    let key = w.file_and_approve(w.input()).await;
    assert_eq!(w.wait_run(&key, "provision").await, RunState::Succeeded);
    let expect = [
        ("petra@example.com", format!("{key} filed")),
        ("carla@example.com", format!("{key} approved")),
        (
            "carla@example.com",
            format!("{key}: your VAL pair is ready"),
        ),
    ];
    let mut got = Vec::new();
    for _ in 0..300 {
        got = smtp.received();
        let all = expect.iter().all(|(to, subj)| {
            got.iter().any(|m| {
                m["rcpt_tos"].to_string().contains(to)
                    && m["subject"]
                        .as_str()
                        .unwrap_or_default()
                        .contains(subj.as_str())
            })
        });
        if all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (to, subj) in &expect {
        assert!(
            got.iter().any(|m| m["rcpt_tos"].to_string().contains(to)
                && m["subject"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(subj.as_str())),
            "no mail `{subj}` to {to}: {got:#?}"
        );
    }
    // Every row is delivered, exactly once (the worker may still be sending the last ones).
    let r = requests::get(&w.store, &w.pm, &key).await.unwrap();
    let mut notes = Vec::new();
    for _ in 0..300 {
        notes = valet_store::notifications::of_request(&w.store, &w.pm, &r)
            .await
            .unwrap();
        if notes.iter().all(|n| n.state == "sent") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        notes.iter().all(|n| n.state == "sent" && n.attempts == 1),
        "{notes:#?}"
    );
    assert_eq!(smtp.received().len(), notes.len(), "one mail per row");
    let _ = stop.send(true);
    sup.stop_all().await;
}

/// A worker whose clock runs `days` ahead (due jobs: reminders, closures).
fn worker_days_ahead(
    w: &World,
    name: &str,
    days: i64,
) -> (tokio::sync::watch::Sender<bool>, Supervisor) {
    worker_ahead(w, name, jiff::SignedDuration::from_hours(24 * days))
}

/// A worker whose clock runs `by` ahead.
fn worker_ahead(
    w: &World,
    name: &str,
    by: jiff::SignedDuration,
) -> (tokio::sync::watch::Sender<bool>, Supervisor) {
    let ahead = w.store.clone().with_clock(std::sync::Arc::new(move || {
        jiff::Timestamp::now().checked_add(by).unwrap()
    }));
    let moved = World {
        store: ahead,
        data: tempfile::tempdir().unwrap(),
        pm: w.pm.clone(),
        admin: w.admin.clone(),
        prod_pair: w.prod_pair.clone(),
        prod: Vec::new(),
        config: w.config.clone(),
    };
    moved.worker(name)
}

async fn wait_state(w: &World, key: &str, state: valet_core::RequestState) {
    for _ in 0..1200 {
        if requests::get(&w.store, &w.pm, key).await.unwrap().state == state {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{key} did not reach {state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn val_closes_at_the_end_of_validation_after_reminders() {
    let Some(w) = world("sqlite").await else {
        return;
    };
    let (stop, sup) = w.worker("now");
    let key = w.file_and_approve(w.input()).await;
    assert_eq!(w.wait_run(&key, "provision").await, RunState::Succeeded);
    let _ = stop.send(true);
    sup.stop_all().await;
    // The period is over at the end of its last day on the customer's clock (Europe/Berlin),
    // not at midnight UTC before it: the customer has the whole of the end date.
    let end: jiff::civil::Date = w.input().end.parse().unwrap();
    let over = end
        .tomorrow()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap())
        .unwrap()
        .timestamp();
    let view = valet_ops::val::view(&w.store, &w.pm, &key).await.unwrap();
    let val_pair = view.val_pair.expect("provisioned");
    assert_eq!(val_pair.main.expires_at, Some(over));
    assert_eq!(val_pair.test.expires_at, Some(over));
    // Five minutes before that, on the end date in Berlin, the VAL is still open.
    let (stop, sup) = worker_ahead(
        &w,
        "last-day",
        over.duration_since(w.store.now()) - jiff::SignedDuration::from_mins(5),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        requests::get(&w.store, &w.pm, &key).await.unwrap().state,
        valet_core::RequestState::InProgress,
        "closed before the end date was over"
    );
    let _ = stop.send(true);
    sup.stop_all().await;
    // 61 days later (validation ends after 60): both reminders, then the closure.
    let (stop, sup) = worker_days_ahead(&w, "later", 61);
    assert_eq!(w.wait_run(&key, "teardown").await, RunState::Succeeded);
    wait_state(&w, &key, valet_core::RequestState::Done).await;
    let r = requests::get(&w.store, &w.pm, &key).await.unwrap();
    assert_eq!(r.details["closing"]["reason"], "validation period ended");
    let notes = valet_store::notifications::of_request(&w.store, &w.pm, &r)
        .await
        .unwrap();
    let expiring: Vec<_> = notes
        .iter()
        .filter(|n| n.event == "request.expiring")
        .collect();
    assert_eq!(
        expiring.len(),
        2,
        "7 days and 1 day before, to the watcher: {notes:#?}"
    );
    assert!(expiring.iter().any(|n| n.subject.contains("7 day")));
    assert!(expiring.iter().any(|n| n.subject.contains("1 day")));
    let pair = valet_ops::val::view(&w.store, &w.pm, &key)
        .await
        .unwrap()
        .val_pair
        .unwrap();
    assert_eq!(pair.main.state, valet_core::EnvState::Destroyed);
    let _ = stop.send(true);
    sup.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn val_closes_fourteen_days_after_the_prod_upgrade_to_its_build() {
    let Some(w) = world("sqlite").await else {
        return;
    };
    let (stop, sup) = w.worker("now");
    let key = w.file_and_approve(w.input()).await;
    assert_eq!(w.wait_run(&key, "provision").await, RunState::Succeeded);
    let r = requests::get(&w.store, &w.pm, &key).await.unwrap();
    // The PROD issue's hook: PROD was upgraded to the validated build today.
    let other = valet_ops::val::prod_upgraded(
        &w.store,
        &r.customer_id,
        "24.2.0.1187".parse().unwrap(),
        w.store.now(),
    )
    .await
    .unwrap();
    assert!(other.is_empty(), "a VAL of another build is left alone");
    let closing = valet_ops::val::prod_upgraded(
        &w.store,
        &r.customer_id,
        "24.3.0.1300".parse().unwrap(),
        w.store.now(),
    )
    .await
    .unwrap();
    assert_eq!(closing, vec![key.clone()]);
    let _ = stop.send(true);
    sup.stop_all().await;
    // 13 days later nothing happens; 15 days later it is closed.
    let (stop, sup) = worker_days_ahead(&w, "day13", 13);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        requests::get(&w.store, &w.pm, &key).await.unwrap().state,
        valet_core::RequestState::InProgress
    );
    let _ = stop.send(true);
    sup.stop_all().await;
    let (stop, sup) = worker_days_ahead(&w, "day15", 15);
    assert_eq!(w.wait_run(&key, "teardown").await, RunState::Succeeded);
    wait_state(&w, &key, valet_core::RequestState::Done).await;
    let _ = stop.send(true);
    sup.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn customer_webhook_receives_every_state_change_signed() {
    use axum::http::{HeaderMap, StatusCode};
    let Some(w) = world("sqlite").await else {
        return;
    };
    const SECRET: &str = "a webhook secret of 32 characters";
    let got: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Default::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let sig = headers
                    .get(valet_ops::notify::SIGNATURE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let now = jiff::Timestamp::now().as_second();
                if valet_ops::notify::verify_webhook(SECRET.as_bytes(), sig, &body, now, 300)
                    .is_err()
                {
                    return StatusCode::UNAUTHORIZED;
                }
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let c = customers::find_by_name(&w.store, &Actor::system(), "Acme Clinical Research")
        .await
        .unwrap()
        .unwrap();
    valet_store::notifications::add_webhook(&w.store, &Actor::system(), Some(&c.id), &url, SECRET)
        .await
        .unwrap();
    let (stop, sup) = w.worker("hooks");
    let key = w.file_and_approve(w.input()).await;
    assert_eq!(w.wait_run(&key, "provision").await, RunState::Succeeded);
    let want = ["request.filed", "request.approved", "request.provisioned"];
    for _ in 0..300 {
        let events: Vec<String> = got
            .lock()
            .unwrap()
            .iter()
            .map(|e| e["event"].to_string())
            .collect();
        if want.iter().all(|w| events.iter().any(|e| e.contains(w))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = got.lock().unwrap().clone();
    for want in want {
        let e = events
            .iter()
            .find(|e| e["event"] == want)
            .unwrap_or_else(|| panic!("no signed `{want}` event: {events:#?}"));
        assert_eq!(e["request"], key.as_str());
        assert!(e["id"].is_string(), "each event has an id");
    }
    assert!(!serde_json::to_string(&events).unwrap().contains(SECRET));
    let _ = stop.send(true);
    sup.stop_all().await;
}
