//! Hotfix acceptance in valet-ops: publishing a hotfix tells each customer with an eligible
//! PROD pair once (admins by e-mail, webhooks), and a crafted `run.upgrade` job for a hotfix
//! request without an acceptance on record is refused by a handler that checks
//! `acceptance_for` first — as the runbook does.

use std::time::Duration;

use serde_json::json;
use valet_core::hotfix::HotfixNotice;
use valet_core::{Actor, Role, Tier};
use valet_ops::hotfix::{self, AcceptInput};
use valet_ops::jobs::{self, EnqueueOptions, JobKind};
use valet_ops::worker::{JobContext, Worker};
use valet_ops::OpsError;
use valet_store::environments::{self, MemberSpec, NewPair};
use valet_store::queue::{self, Job, JobState, QueuePolicy};
use valet_store::users::{self, NewUser, User};
use valet_store::{customers, notifications, releases, requests, Store};
use valet_testkit::TestDb;

const PASSWORD: &str = "a long test password";

struct Ctx {
    store: Store,
    alpha_admin: User,
    alpha_pair: String,
    _db: TestDb,
}

async fn pair(store: &Store, customer: &str, build: &str) -> String {
    environments::create_pair(
        store,
        &Actor::system(),
        NewPair {
            customer_id: customer.into(),
            tier: Tier::Prod,
            label: None,
            build: Some(build.into()),
            state: None,
            main: MemberSpec::default(),
            test: MemberSpec::default(),
            request_id: None,
            expires_at: None,
        },
    )
    .await
    .unwrap()
    .pair_id
}

async fn admin_of(store: &Store, name: &str, customer: &str) -> User {
    users::create(
        store,
        &Actor::system(),
        NewUser {
            username: name.into(),
            display_name: format!("{name} (test)"),
            email: Some(format!("{name}@example.test")),
            role: Role::CustomerAdmin,
            customer_id: Some(customer.into()),
            password: PASSWORD.into(),
        },
    )
    .await
    .unwrap()
}

/// Releases imported (24.2 and 24.3 published, the 24.2.1 hotfix not yet); Alpha runs 24.2.0
/// (offered the hotfix), Beta 24.3.0 (another line).
async fn setup(tag: &str) -> Ctx {
    let db = TestDb::sqlite(tag);
    let store = Store::open(&db.url).await.unwrap();
    let system = Actor::system();
    for v in ["24.2", "24.2.1", "24.3"] {
        let path = format!(
            "{}/../../examples/clinic/releases/{v}.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let r = releases::import(&store, &system, &std::fs::read_to_string(&path).unwrap(), v)
            .await
            .unwrap();
        if v != "24.2.1" {
            releases::publish(&store, &system, &r.build.to_string(), None)
                .await
                .unwrap();
        }
    }
    let alpha = customers::create(&store, &system, "Alpha", "America/Chicago")
        .await
        .unwrap();
    let beta = customers::create(&store, &system, "Beta", "Europe/Berlin")
        .await
        .unwrap();
    let alpha_pair = pair(&store, &alpha.id, "24.2.0.1187").await;
    pair(&store, &beta.id, "24.3.0.1300").await;
    let alpha_admin = admin_of(&store, "alice", &alpha.id).await;
    admin_of(&store, "bob", &beta.id).await;
    notifications::add_webhook(
        &store,
        &system,
        Some(&alpha.id),
        "http://127.0.0.1:9/hook",
        "a webhook secret",
    )
    .await
    .unwrap();
    Ctx {
        store,
        alpha_admin,
        alpha_pair,
        _db: db,
    }
}

async fn outbox(store: &Store) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT channel, recipient, event FROM notifications ORDER BY channel, recipient",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn publishing_a_hotfix_tells_each_eligible_customer_once() {
    let c = setup("hfx_publish").await;
    let system = Actor::system();
    let (r, told) = hotfix::publish(
        &c.store,
        &system,
        "24.2.1.1201",
        None,
        Some("https://valet.example"),
    )
    .await
    .unwrap();
    assert!(r.published);
    assert_eq!(told, 1, "Beta runs 24.3: not on the hotfix's line");
    let sent = outbox(&c.store).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].0, "email");
    assert_eq!(sent[0].1, "alice@example.test");
    assert_eq!(sent[1].0, "webhook");
    assert!(sent.iter().all(|s| s.2 == "hotfix.published"));
    let body: String = sqlx::query_scalar("SELECT body FROM notifications WHERE channel = 'email'")
        .fetch_one(c.store.pool())
        .await
        .unwrap();
    assert!(body.contains("APP-3199"), "{body}");
    assert!(body.contains("https://valet.example/hotfixes"), "{body}");
    assert!(body.contains("high severity"), "{body}");
    // Telling again (a retry) records nothing new.
    hotfix::notify_published(&c.store, &r, None).await.unwrap();
    assert_eq!(outbox(&c.store).await.len(), 2);
    let deliveries: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'notify.deliver'")
            .fetch_one(c.store.pool())
            .await
            .unwrap();
    assert_eq!(deliveries, 2);
}

fn fast() -> QueuePolicy {
    QueuePolicy {
        lease: jiff::SignedDuration::from_secs(30),
        backoff_base: jiff::SignedDuration::from_millis(50),
        backoff_max: jiff::SignedDuration::from_secs(1),
    }
}

/// The minimal `run.upgrade` handler: the hotfix check comes before anything is touched.
async fn run_upgrade(job: Job, ctx: JobContext) -> Result<(), OpsError> {
    let key = job.payload["request"]
        .as_str()
        .ok_or_else(|| OpsError::Payload("run.upgrade needs `request`".into()))?;
    let r = requests::get(&ctx.store, &Actor::system(), key).await?;
    if r.kind == valet_core::RequestKind::Hotfix {
        hotfix::acceptance_for(&ctx.store, &r).await?;
    }
    sqlx::query("UPDATE requests SET title = 'touched' WHERE id = $1")
        .bind(&r.id)
        .execute(ctx.store.pool())
        .await?;
    Ok(())
}

async fn wait_final(store: &Store, id: &str) -> Job {
    for _ in 0..400 {
        let j = queue::get(store, id).await.unwrap();
        if matches!(j.state, JobState::Done | JobState::Dead) {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {id} never finished");
}

async fn run_job(store: &Store, key: &str) -> Job {
    let job = jobs::enqueue(
        store,
        JobKind::UpgradeRun,
        &json!({ "request": key }),
        EnqueueOptions {
            max_attempts: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let worker = Worker::new(store.clone(), "w1")
        .with_policy(fast(), Duration::from_millis(20))
        .handle(JobKind::UpgradeRun, run_upgrade);
    let handle = tokio::spawn(worker.run(rx));
    let done = wait_final(store, &job.id).await;
    tx.send(true).unwrap();
    handle.await.unwrap().unwrap();
    done
}

async fn title(store: &Store, key: &str) -> String {
    requests::get(store, &Actor::system(), key)
        .await
        .unwrap()
        .title
}

#[tokio::test]
async fn a_crafted_run_job_for_an_unaccepted_hotfix_is_refused() {
    let c = setup("hfx_job").await;
    let system = Actor::system();
    hotfix::publish(&c.store, &system, "24.2.1.1201", None, None)
        .await
        .unwrap();
    // A hotfix request written straight into the database: no acceptance on record.
    let customer = c.alpha_admin.customer_id.clone().unwrap();
    let details = json!({
        "pair_id": c.alpha_pair, "build": "24.2.1.1201", "validated_build": null,
        "validated_in": null, "needs_build_override": false, "downtime_minutes": 10,
        "slots": [], "notice_days": 1, "note": null,
    });
    sqlx::query(
        "INSERT INTO requests (id, key, kind, customer_id, state, title, details, created_by, \
         created_at, updated_at) VALUES ('crafted', 'HFX-99', 'hotfix', $1, 'scheduled', \
         'crafted', $2, $3, 0, 0)",
    )
    .bind(&customer)
    .bind(details.to_string())
    .bind(&c.alpha_admin.id)
    .execute(c.store.pool())
    .await
    .unwrap();
    let job = run_job(&c.store, "HFX-99").await;
    assert_eq!(job.state, JobState::Dead);
    let err = job.last_error.unwrap();
    assert!(err.contains("HFX-99: hotfix not accepted"), "{err}");
    assert!(err.contains("no decision"), "{err}");
    assert_eq!(
        title(&c.store, "HFX-99").await,
        "crafted",
        "nothing touched"
    );

    // The customer's admin accepts for the pair: the acceptance files HFX-1, not HFX-99, so
    // the crafted request is still refused; HFX-1 runs.
    let day = (c.store.now() + jiff::SignedDuration::from_hours(24 * 10))
        .strftime("%Y-%m-%d")
        .to_string();
    let (d, hfx) = hotfix::accept(
        &c.store,
        &c.alpha_admin.actor(),
        "24.2.1.1201",
        AcceptInput {
            pair: c.alpha_pair.clone(),
            password: Some(PASSWORD.into()),
            slots: vec![format!("{day} 09:00-10:00 America/Chicago")],
            downtime_minutes: Some(15),
            ..Default::default()
        },
        HotfixNotice::default(),
    )
    .await
    .unwrap();
    assert_eq!(hfx.key, "HFX-1");
    assert_eq!(d.request_key.as_deref(), Some("HFX-1"));
    let job = run_job(&c.store, "HFX-99").await;
    assert_eq!(job.state, JobState::Dead);
    assert!(
        job.last_error
            .unwrap()
            .contains("filed HFX-1, not this request"),
        "another request's acceptance does not count"
    );
    let job = run_job(&c.store, "HFX-1").await;
    assert_eq!(job.state, JobState::Done, "{:?}", job.last_error);
    assert_eq!(title(&c.store, "HFX-1").await, "touched");

    // A decision changed behind valet's back no longer matches its signature.
    sqlx::query("UPDATE hotfix_decisions SET reason = 'edited' WHERE id = $1")
        .bind(&d.id)
        .execute(c.store.pool())
        .await
        .unwrap();
    let err = hotfix::acceptance_for(
        &c.store,
        &requests::get(&c.store, &system, "HFX-1").await.unwrap(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("changed after it was signed"), "{err}");
}

#[tokio::test]
async fn a_wrong_password_or_bad_slots_record_no_acceptance() {
    let c = setup("hfx_pw").await;
    hotfix::publish(&c.store, &Actor::system(), "24.2.1.1201", None, None)
        .await
        .unwrap();
    let input = AcceptInput {
        pair: c.alpha_pair.clone(),
        password: Some("not my password".into()),
        slots: vec!["2020-01-01 09:00-10:00 UTC".into()],
        downtime_minutes: Some(15),
        ..Default::default()
    };
    let e = hotfix::accept(
        &c.store,
        &c.alpha_admin.actor(),
        "24.2.1",
        input.clone(),
        HotfixNotice::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, OpsError::Store(valet_store::StoreError::Unauthenticated)),
        "{e}"
    );
    let e = hotfix::accept(
        &c.store,
        &c.alpha_admin.actor(),
        "24.2.1",
        AcceptInput {
            password: Some(PASSWORD.into()),
            ..input
        },
        HotfixNotice::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("in the past"), "{e}");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hotfix_decisions")
        .fetch_one(c.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);
}
