//! The UI in a real browser: Debian's chromium driven by playwright-core (`tests/browser/ui.js`).
//! Needs `npm ci` in `tests/browser` and `/usr/bin/chromium`; `.ci/run` provides both. Outside
//! CI a missing piece skips the test loudly; in CI it fails.
//!
//! The VAL journey and the hotfix run the server with a worker beside it (as `valet serve` +
//! `valet worker` do), so that the provisioning run the PM's approval queues, and the upgrade
//! run the PM starts from the request page, are executed.

mod helpers;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use helpers::{spawn_app, TestApp};
use valet_core::{Actor, Role};
use valet_store::environments::{self, EnvUpdate};
use valet_store::users::{self, NewUser};

fn missing(what: &str) {
    valet_testkit::skipped(
        &format!("browser test: {what}"),
        "Run scripts/setup and npm ci --prefix crates/valet-web/tests/browser",
    );
}

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Chromium's path, or `None` (after saying why) when the browser test cannot run here.
fn chromium() -> Option<String> {
    if !browser_dir().join("node_modules/playwright-core").exists() {
        missing("run `npm ci` in crates/valet-web/tests/browser");
        return None;
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !PathBuf::from(&chromium).exists() {
        missing("install Debian's chromium (apt-get install chromium)");
        return None;
    }
    Some(chromium)
}

async fn import_and_publish_releases(app: &TestApp) {
    let releases = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/clinic/releases");
    for v in ["24.1", "24.2", "24.2.1", "24.3"] {
        let r = app
            .client
            .post(app.url(&format!("/api/v1/releases?file={v}.toml")))
            .bearer_auth(&app.admin_token)
            .body(std::fs::read_to_string(releases.join(format!("{v}.toml"))).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let build = r.json::<serde_json::Value>().await.unwrap()["build"]
            .as_str()
            .unwrap()
            .to_string();
        let r = app
            .client
            .post(app.url(&format!("/api/v1/releases/{build}/publish")))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

/// `node ui.js ARGS…` with chromium; stopped early (killed) when `give_up` resolves first.
async fn node(
    chromium: &str,
    args: Vec<String>,
    give_up: impl std::future::Future<Output = ()>,
) -> Output {
    let mut child = Command::new("node")
        .arg(browser_dir().join("ui.js"))
        .args(args)
        .env("CHROMIUM", chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node is installed");
    let read = |mut r: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf).await;
            buf
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let status = tokio::select! {
        s = child.wait() => s.unwrap(),
        _ = give_up => {
            let _ = child.kill().await;
            child.wait().await.unwrap()
        }
    };
    Output {
        status,
        stdout: stdout.await.unwrap(),
        stderr: stderr.await.unwrap(),
    }
}

/// Where screenshots go: `VALET_BROWSER_OUT` to keep and look at them, else a temporary
/// directory (the guard keeps it until the test ends).
fn shots_dir() -> (PathBuf, Option<tempfile::TempDir>) {
    match std::env::var_os("VALET_BROWSER_OUT") {
        Some(d) => {
            std::fs::create_dir_all(&d).unwrap();
            (PathBuf::from(d), None)
        }
        None => {
            let t = tempfile::tempdir().unwrap();
            (t.path().to_path_buf(), Some(t))
        }
    }
}

fn assert_shots(out: &Path, shots: &[&str]) {
    for shot in shots {
        let len = std::fs::metadata(out.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 1000, "{shot} was written ({len} bytes)");
    }
}

#[tokio::test]
async fn validation_lead_walks_environments_releases_and_notes_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let app = spawn_app().await;
    import_and_publish_releases(&app).await;
    let (out, _keep) = shots_dir();
    let result = node(
        &chromium,
        vec![
            app.base.clone(),
            "alpha.user".into(),
            "a long test password".into(),
            out.display().to_string(),
            "Beta".into(),
        ],
        std::future::pending(),
    )
    .await;
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("ok: no other tenant is visible"),
        "{stdout}"
    );
    assert_shots(
        &out,
        &[
            "releases.png",
            "environments.png",
            "notes.png",
            "notes.pdf",
            "api.png",
            "api-operation.png",
            "api-schema.png",
        ],
    );
}

/// Alpha's PROD pair.
async fn alpha_pair(app: &TestApp) -> environments::Pair {
    let system = Actor::system();
    let main = environments::get(&app.store, &system, &app.alpha.env_id)
        .await
        .unwrap();
    environments::pair(&app.store, &system, &main.pair_id)
        .await
        .unwrap()
}

/// Gives alpha's PROD pair real clinic databases (a small generated population) so that a
/// provisioning run has something to clone and mask.
async fn clinic_databases(app: &TestApp, dir: &Path) {
    let system = Actor::system();
    let pair = alpha_pair(app).await;
    for (env, n) in [(&pair.main, 200), (&pair.test, 50)] {
        let url = format!(
            "sqlite://{}",
            dir.join(format!("{}.db", env.name.to_lowercase()))
                .display()
        );
        clinic::gen::generate(
            &url,
            &clinic::gen::GenOptions {
                volunteers: n,
                events: n * 10,
                seed: 2024,
                release: Some("24.2".into()),
            },
        )
        .await
        .unwrap();
        environments::update(
            &app.store,
            &system,
            &env.id,
            EnvUpdate {
                database_url: Some(url),
                ..Default::default()
            },
            Some("browser test: clinic database"),
        )
        .await
        .unwrap();
    }
}

/// A worker beside the server (as `valet worker` runs beside `valet serve`): it provisions,
/// starts instances and runs upgrades, with its files under `dir`.
struct Worker {
    stop: tokio::sync::watch::Sender<bool>,
    supervisor: valet_ops::worker::Supervisor,
    task: tokio::task::JoinHandle<()>,
    config: valet_ops::provision::OpsConfig,
}

impl Worker {
    fn spawn(app: &TestApp, dir: &Path) -> Worker {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let supervisor = valet_ops::worker::Supervisor::default();
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let config = valet_ops::provision::OpsConfig {
            data_dir: dir.join("ops"),
            profile: repo.join("examples/clinic/valet-app.toml"),
            policy: repo.join("examples/clinic/policy.toml"),
            bin: vec![clinic_bin().display().to_string()],
            clone_jobs: 2,
        };
        let prov = valet_ops::provision::Provisioner::new(
            app.store.clone(),
            config.clone(),
            supervisor.clone(),
            "browser-test",
        );
        let worker = valet_ops::provision::register(
            supervisor.worker(app.store.clone(), "browser-test"),
            prov,
            None,
        );
        let task = tokio::spawn(async move {
            let _ = worker.run(stop_rx).await;
        });
        Worker {
            stop,
            supervisor,
            task,
            config,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.supervisor.stop_all().await;
    }
}

/// The clinic sample app's binary (what `{bin}` runs), built beside this test; built now
/// when this test runs alone.
fn clinic_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("clinic");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = std::process::Command::new(cargo)
            .args(["build", "-p", "clinic", "--bin", "clinic"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "building the clinic binary");
    }
    bin
}

#[tokio::test]
async fn val_cycle_from_request_to_sign_off_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let app = spawn_app().await;
    import_and_publish_releases(&app).await;
    users::create(
        &app.store,
        &Actor::system(),
        NewUser {
            username: "pat.pm".into(),
            display_name: "Pat Example-PM".into(),
            email: None,
            role: Role::VendorPm,
            customer_id: None,
            password: "pm password 1234".into(),
        },
    )
    .await
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    clinic_databases(&app, data.path()).await;

    let worker = Worker::spawn(&app, data.path());

    let (out, _keep) = shots_dir();
    let result = node(
        &chromium,
        customer_and_pm("journey", &app, &out, &[]),
        tokio::time::sleep(std::time::Duration::from_secs(300)),
    )
    .await;
    worker.stop().await;

    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    // Everything up to the PM's signed approval must pass.
    for step in [
        "ok: a wrong field is shown under the field, with the typed values kept",
        "ok: the customer admin filed VAL-1",
        "ok: the signature dialog shows the record, its hash and the meaning",
        "ok: the PM approved VAL-1 with an e-signature",
        "ok: the steps table is re-rendered from the run events",
    ] {
        assert!(stdout.contains(step), "{step}\n{stdout}\n{stderr}");
    }
    assert_shots(
        &out,
        &[
            "request-new-errors.png",
            "request-filed.png",
            "sign-dialog.png",
            "request-approved.png",
        ],
    );
    assert!(result.status.success(), "{stdout}\n{stderr}");
    for step in [
        "ok: the provisioning run succeeded",
        "ok: the customer filed finding F-1",
        "ok: the PM resolved F-1",
        "ok: the customer admin signed off VAL-1",
    ] {
        assert!(stdout.contains(step), "{step}\n{stdout}");
    }
    assert_shots(&out, &["request-provisioned.png", "request-signed-off.png"]);
}

/// The test app with the clinic's app profile (scheduling reads its activity query).
async fn spawn_app_with_profile() -> TestApp {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let profile = valet_ops::profile::AppProfile::from_toml_str(
        &std::fs::read_to_string(repo.join("examples/clinic/valet-app.toml")).unwrap(),
        "examples/clinic/valet-app.toml",
    )
    .unwrap();
    helpers::spawn_app_with(|mut s| {
        s.profile = Some(std::sync::Arc::new(profile));
        s
    })
    .await
}

/// The vendor's PM `pat.pm` and engineer `eve.engineer` (with e-mail addresses); returns the
/// PM.
async fn vendor_users(app: &TestApp) -> Actor {
    let system = Actor::system();
    let mut pm = None;
    for (username, display_name, role, password) in [
        (
            "pat.pm",
            "Pat Example-PM",
            Role::VendorPm,
            "pm password 1234",
        ),
        (
            "eve.engineer",
            "Eve Engineer",
            Role::VendorEngineer,
            "engineer password 1234",
        ),
    ] {
        let u = users::create(
            &app.store,
            &system,
            NewUser {
                username: username.into(),
                display_name: display_name.into(),
                email: Some(format!("{username}@vendor.example")),
                role,
                customer_id: None,
                password: password.into(),
            },
        )
        .await
        .unwrap();
        pm.get_or_insert(u.actor());
    }
    pm.unwrap()
}

/// `node ui.js MODE` arguments for a journey of the customer admin `alpha.user` and the PM
/// `pat.pm` (see [`vendor_users`]), then `extra`.
fn customer_and_pm(mode: &str, app: &TestApp, out: &Path, extra: &[String]) -> Vec<String> {
    let mut args = vec![
        mode.to_string(),
        app.base.clone(),
        out.display().to_string(),
        "alpha.user".into(),
        "a long test password".into(),
        "pat.pm".into(),
        "pm password 1234".into(),
    ];
    args.extend_from_slice(extra);
    args
}

/// The first Tuesday at least `days` days from now (UTC), so that slots fall on weekdays
/// inside the vendor's default working hours and well beyond the notice period.
fn tuesday_after(days: i64) -> jiff::civil::Date {
    let mut d = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(days))
        .unwrap();
    while d.weekday() != jiff::civil::Weekday::Tuesday {
        d = d.tomorrow().unwrap();
    }
    d
}

#[tokio::test]
async fn upgrade_request_from_slot_picker_to_booking_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let app = spawn_app_with_profile().await;
    import_and_publish_releases(&app).await;
    let pm = vendor_users(&app).await;
    let data = tempfile::tempdir().unwrap();
    clinic_databases(&app, data.path()).await;
    // A study start the day before slot 1, to be seen on the PM's week calendar.
    let day = tuesday_after(35);
    let monday = day.yesterday().unwrap();
    let at = |d: jiff::civil::Date, h: i8| {
        d.at(h, 0, 0, 0)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap()
            .timestamp()
    };
    valet_store::schedules::add_blackout(
        &app.store,
        &pm,
        Some(&app.alpha.customer_id),
        at(monday, 6),
        at(monday, 20),
        "study start",
    )
    .await
    .unwrap();

    let (out, _keep) = shots_dir();
    let result = node(
        &chromium,
        customer_and_pm(
            "upgrade",
            &app,
            &out,
            &[day.to_string(), day.tomorrow().unwrap().to_string()],
        ),
        tokio::time::sleep(std::time::Duration::from_secs(180)),
    )
    .await;
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stdout}\n{stderr}");
    for step in [
        "ok: the DST gap is shown live under the slot",
        "ok: the server refuses the gap and a missing downtime under their fields, keeping what was typed",
        "ok: a valid slot shows the viewer's zone, UTC and the notice",
        "ok: a DST overlap shows both instants and an abbreviation names the zone it was read as",
        "ok: the customer admin filed UPG-1 with two slots",
        "ok: the scheduling page shows the heatmap, the assessment and the build conflict",
        "ok: alternatives are offered in the booking form",
        "ok: booking without the override is refused with the conflict",
        "ok: the PM booked slot 1 for Eve Engineer, overriding the build e-signed",
        "ok: the .ics downloads with the session",
        "ok: the schedule overview lists UPG-1",
    ] {
        assert!(stdout.contains(step), "{step}\n{stdout}\n{stderr}");
    }
    assert_shots(
        &out,
        &[
            "upgrade-dst-gap.png",
            "upgrade-new-errors.png",
            "upgrade-overlap.png",
            "upgrade-new-valid.png",
            "upgrade-filed.png",
            "upgrade-schedule.png",
            "upgrade-alternatives.png",
            "upgrade-booked.png",
            "schedule-overview.png",
        ],
    );
}

/// Starts alpha's PROD instances through `env.start` jobs (as `valet demo` does), so that the
/// deployment is recorded and an upgrade run has instances to stop and start.
async fn start_prod(app: &TestApp, worker: &Worker) {
    use valet_ops::jobs::{self, EnqueueOptions, JobKind};
    let system = Actor::system();
    let pair = alpha_pair(app).await;
    let mut ids = Vec::new();
    for env in [&pair.main, &pair.test] {
        let dir = worker
            .config
            .data_dir
            .join("prod")
            .join(env.name.to_lowercase());
        let start = valet_ops::worker::StartInstance {
            env_id: env.id.clone(),
            name: env.name.clone(),
            profile: worker.config.profile.clone(),
            bin: worker.config.bin.clone(),
            db_url: environments::database_url(&app.store, &system, &env.id)
                .await
                .unwrap()
                .unwrap(),
            listen: format!("127.0.0.1:{}", valet_ops::driver::free_port().unwrap()),
            release: env.current_build.as_ref().unwrap().version().to_string(),
            env_name: env.name.clone(),
            state_dir: dir.join("state"),
            log_path: dir.join("app.log"),
        };
        let opts = EnqueueOptions {
            max_attempts: 1,
            ..Default::default()
        };
        let job = jobs::enqueue(&app.store, JobKind::EnvStart, &start, opts)
            .await
            .unwrap();
        ids.push(job.id);
    }
    for _ in 0..600 {
        let mut done = 0;
        for id in &ids {
            let job = valet_store::queue::get(&app.store, id).await.unwrap();
            assert_ne!(
                job.state,
                valet_store::queue::JobState::Dead,
                "a PROD instance did not start: {:?}",
                job.last_error
            );
            done += usize::from(job.state == valet_store::queue::JobState::Done);
        }
        if done == ids.len() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the PROD instances did not start within 30 s");
}

#[tokio::test]
async fn hotfix_accepted_in_the_inbox_and_run_from_the_request_page_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let app = spawn_app_with_profile().await;
    import_and_publish_releases(&app).await;
    vendor_users(&app).await;
    let data = tempfile::tempdir().unwrap();
    clinic_databases(&app, data.path()).await;
    let worker = Worker::spawn(&app, data.path());
    start_prod(&app, &worker).await;

    let (out, _keep) = shots_dir();
    let result = node(
        &chromium,
        customer_and_pm("hotfix", &app, &out, &[tuesday_after(14).to_string()]),
        tokio::time::sleep(std::time::Duration::from_secs(300)),
    )
    .await;
    worker.stop().await;
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stdout}\n{stderr}");
    for step in [
        "ok: the hotfix inbox shows the hotfix, its notes and the undecided pair",
        "ok: a decline without reason and password is refused and records nothing",
        "ok: the customer admin accepted the hotfix, filing HFX-1 that shows the e-signed acceptance",
        "ok: the inbox shows the signed acceptance and offers no second decision",
        "ok: the accepted hotfix can be booked without an override",
        "ok: the PM booked HFX-1 and may start it now",
        "ok: the run card shows its steps and waits for TEST's release",
        "ok: the booking shows the run in progress",
        "ok: the run card shows its steps and waits for MAIN's release",
        "ok: the hotfix run succeeded by itself on the page",
        "ok: the run succeeded and the page shows each environment's measured downtime",
        "ok: the PROD pair runs 24.2.1.1201",
    ] {
        assert!(stdout.contains(step), "{step}\n{stdout}\n{stderr}");
    }
    assert_shots(
        &out,
        &[
            "hotfix-inbox.png",
            "hotfix-accept-form.png",
            "hotfix-accepted.png",
            "run-waiting.png",
            "run-succeeded.png",
            "request-timeline.png",
            "environments-after-hotfix.png",
        ],
    );
    // What the page showed is what the store holds: the acceptance e-signed, the run done.
    let system = Actor::system();
    let r = valet_store::requests::get(&app.store, &system, "HFX-1")
        .await
        .unwrap();
    assert_eq!(r.state.to_string(), "done");
    let main = environments::get(&app.store, &system, &app.alpha.env_id)
        .await
        .unwrap();
    assert_eq!(
        main.current_build.map(|b| b.to_string()).as_deref(),
        Some("24.2.1.1201")
    );
}
