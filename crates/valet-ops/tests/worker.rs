use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sqlx::Connection;
use valet_ops::jobs::{self, EnqueueOptions, JobKind};
use valet_ops::worker::{JobContext, StartInstance, Supervisor, Worker};
use valet_store::queue::{self, Job, JobState, NewJob, QueuePolicy};
use valet_store::{Store, StoreError};
use valet_testkit::TestDb;

fn fast() -> QueuePolicy {
    QueuePolicy {
        lease: jiff::SignedDuration::from_secs(30),
        backoff_base: jiff::SignedDuration::from_millis(50),
        backoff_max: jiff::SignedDuration::from_secs(1),
    }
}

/// A lease short enough that heartbeats (every third of it) come quickly.
fn short_lease() -> QueuePolicy {
    QueuePolicy {
        lease: jiff::SignedDuration::from_millis(600),
        ..fast()
    }
}

async fn wait_for(store: &Store, id: &str, state: JobState) -> queue::Job {
    for _ in 0..400 {
        let j = queue::get(store, id).await.unwrap();
        if j.state == state {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {id} never reached {state:?}");
}

async fn enqueue(store: &Store, kind: JobKind, payload: serde_json::Value) -> Job {
    jobs::enqueue(store, kind, &payload, EnqueueOptions::default())
        .await
        .unwrap()
}

/// Another worker claiming the job: its clock is an hour ahead, so the job's lease has run
/// out as far as it can tell.
async fn reclaim_as_other_worker(store: &Store, id: &str) {
    let later = store.clone().with_clock(Arc::new(|| {
        jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)
    }));
    let job = queue::claim(&later, "w2", &short_lease())
        .await
        .unwrap()
        .expect("the job is claimable by another worker");
    assert_eq!(job.id, id);
    assert_eq!(job.locked_by.as_deref(), Some("w2"));
}

#[tokio::test]
async fn worker_runs_jobs_and_retries_failures_until_dead() {
    let db = TestDb::sqlite("worker");
    let store = Store::open(&db.url).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let worker = Worker::new(store.clone(), "w1")
        .with_policy(fast(), Duration::from_millis(20))
        .handle(JobKind::Provision, move |job, ctx: JobContext| {
            let seen = s2.clone();
            async move {
                assert_eq!(ctx.worker, "w1");
                assert_eq!(ctx.job_id, job.id);
                seen.lock()
                    .unwrap()
                    .push(job.payload["n"].as_i64().unwrap());
                Ok(())
            }
        })
        .handle(JobKind::Teardown, |_job, _ctx| async {
            Err(valet_ops::OpsError::Payload("the disk is full".into()))
        });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(worker.run(rx));

    let a = enqueue(&store, JobKind::Provision, json!({"n": 1})).await;
    let b = enqueue(&store, JobKind::Provision, json!({"n": 2})).await;
    let bad = EnqueueOptions {
        max_attempts: 2,
        ..EnqueueOptions::default()
    };
    let c = jobs::enqueue(&store, JobKind::Teardown, &json!({}), bad)
        .await
        .unwrap();
    let unhandled = enqueue(&store, JobKind::Notify, json!({})).await;

    wait_for(&store, &a.id, JobState::Done).await;
    wait_for(&store, &b.id, JobState::Done).await;
    let dead = wait_for(&store, &c.id, JobState::Dead).await;
    assert_eq!(dead.attempts, 2);
    assert_eq!(
        dead.last_error.as_deref(),
        Some("job payload: the disk is full")
    );
    let j = queue::get(&store, &unhandled.id).await.unwrap();
    assert_eq!(
        j.last_error.as_deref(),
        Some("no handler for job kind `notify.deliver` in this worker")
    );
    assert_eq!(*seen.lock().unwrap(), vec![1, 2]);

    tx.send(true).unwrap();
    handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn enqueue_stores_the_kind_string_and_options() {
    let db = TestDb::sqlite("worker_enqueue");
    let store = Store::open(&db.url).await.unwrap();
    let run_at = jiff::Timestamp::from_second(4_000_000_000).unwrap();
    let opts = EnqueueOptions {
        customer_id: None,
        dedupe_key: Some("teardown:pair-7".into()),
        max_attempts: 3,
        run_at: Some(run_at),
    };
    let job = jobs::enqueue(&store, JobKind::Teardown, &json!({"pair": 7}), opts.clone())
        .await
        .unwrap();
    assert_eq!(job.kind, "run.teardown");
    assert_eq!(job.payload, json!({"pair": 7}));
    assert_eq!((job.max_attempts, job.run_at), (3, run_at));
    let again = jobs::enqueue(&store, JobKind::Teardown, &json!({"pair": 8}), opts)
        .await
        .unwrap();
    assert_eq!(again.id, job.id, "the dedupe key returns the first job");
}

#[tokio::test]
async fn job_of_unknown_kind_fails_naming_the_kinds_this_valet_knows() {
    let db = TestDb::sqlite("worker_unknown");
    let store = Store::open(&db.url).await.unwrap();
    let worker = Worker::new(store.clone(), "w1")
        .with_policy(fast(), Duration::from_millis(20))
        .handle(JobKind::Provision, |_job, _ctx| async { Ok(()) });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(worker.run(rx));

    let mut stray = NewJob::new("env.stop", json!({}));
    stray.max_attempts = 1;
    let stray = queue::enqueue(&store, stray).await.unwrap();
    let dead = wait_for(&store, &stray.id, JobState::Dead).await;
    assert_eq!(
        dead.last_error.as_deref(),
        Some(
            "unknown job kind `env.stop`; this valet knows env.start, run.provision, \
             run.teardown, notify.deliver, val.close, val.remind, upg.remind, \
             run.upgrade"
        )
    );

    tx.send(true).unwrap();
    handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn handler_is_cancelled_when_another_worker_reclaims_its_job() {
    let db = TestDb::sqlite("worker_lease_lost");
    let store = Store::open(&db.url).await.unwrap();
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let (stopped_tx, mut stopped) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(store.clone(), "w1")
        .with_policy(short_lease(), Duration::from_millis(20))
        .handle(JobKind::Provision, move |job, ctx: JobContext| {
            let (started_tx, stopped_tx) = (started_tx.clone(), stopped_tx.clone());
            async move {
                started_tx.send(job.id.clone()).unwrap();
                ctx.cancel.cancelled().await;
                let lost = ctx.ensure_lease().unwrap_err().to_string();
                stopped_tx.send(lost).unwrap();
                // Returning success must not mark a job done that is another worker's now.
                Ok(())
            }
        })
        .handle(JobKind::Teardown, |_job, _ctx| async { Ok(()) });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(worker.run(rx));

    let job = enqueue(&store, JobKind::Provision, json!({})).await;
    let running = tokio::time::timeout(Duration::from_secs(10), started.recv())
        .await
        .expect("the handler starts")
        .unwrap();
    assert_eq!(running, job.id);
    reclaim_as_other_worker(&store, &job.id).await;

    let lost = tokio::time::timeout(Duration::from_secs(10), stopped.recv())
        .await
        .expect("the handler sees its cancellation after a heartbeat")
        .unwrap();
    assert_eq!(
        lost,
        format!(
            "job {}: its lease was lost to another worker; stopped working on it",
            job.id
        )
    );
    // The worker moved on to the next job…
    let next = enqueue(&store, JobKind::Teardown, json!({})).await;
    wait_for(&store, &next.id, JobState::Done).await;
    // …and left the reclaimed job to the worker that holds it now.
    let j = queue::get(&store, &job.id).await.unwrap();
    assert_eq!(j.state, JobState::Running);
    assert_eq!(j.locked_by.as_deref(), Some("w2"));
    assert_eq!(j.last_error, None);

    tx.send(true).unwrap();
    handle.await.unwrap().unwrap();
}

/// Sends on drop: tells the test that a handler's future was dropped.
struct DropSignal(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test]
async fn handler_ignoring_cancellation_is_dropped_after_the_grace() {
    let db = TestDb::sqlite("worker_grace");
    let store = Store::open(&db.url).await.unwrap();
    let (dropped_tx, dropped) = tokio::sync::oneshot::channel();
    let dropped_tx = Arc::new(Mutex::new(Some(dropped_tx)));
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(store.clone(), "w1")
        .with_policy(short_lease(), Duration::from_millis(20))
        .with_grace(Duration::from_millis(100))
        .handle(JobKind::Provision, move |_job, _ctx| {
            let guard = DropSignal(dropped_tx.lock().unwrap().take());
            let started_tx = started_tx.clone();
            async move {
                let _guard = guard;
                started_tx.send(()).unwrap();
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(worker.run(rx));

    let job = enqueue(&store, JobKind::Provision, json!({})).await;
    tokio::time::timeout(Duration::from_secs(10), started.recv())
        .await
        .expect("the handler starts")
        .unwrap();
    reclaim_as_other_worker(&store, &job.id).await;
    tokio::time::timeout(Duration::from_secs(10), dropped)
        .await
        .expect("the stubborn handler is dropped")
        .unwrap();
    let j = queue::get(&store, &job.id).await.unwrap();
    assert_eq!(
        (j.state, j.locked_by.as_deref()),
        (JobState::Running, Some("w2"))
    );

    tx.send(true).unwrap();
    handle.await.unwrap().unwrap();
}

/// Makes the PostgreSQL database refuse connections and ends the ones open (a restart, as
/// far as its clients can tell).
async fn take_down(db: &TestDb) {
    let mut admin = sqlx::PgConnection::connect(&valet_testkit::pg_admin_url())
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS false",
        db.name
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&db.name)
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
}

async fn bring_back(db: &TestDb) {
    let mut admin = sqlx::PgConnection::connect(&valet_testkit::pg_admin_url())
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true",
        db.name
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
}

async fn assert_store_is_down(store: &Store) {
    match queue::get(store, "any").await {
        Err(StoreError::Db(e)) => assert!(
            e.to_string()
                .contains("not currently accepting connections"),
            "{e}"
        ),
        other => panic!("the state database should be unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn worker_survives_the_state_database_going_away_and_finishes_jobs_after() {
    let Some(db) = TestDb::postgres("worker_outage").await else {
        return;
    };
    let store = Store::open(&db.url).await.unwrap();
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let release = Arc::new(tokio::sync::Notify::new());
    let release2 = release.clone();
    let worker = Worker::new(store.clone(), "w1")
        .with_policy(fast(), Duration::from_millis(20))
        .handle(JobKind::Teardown, |_job, _ctx| async { Ok(()) })
        .handle(JobKind::Provision, move |_job, _ctx| {
            let (started_tx, release) = (started_tx.clone(), release2.clone());
            async move {
                started_tx.send(()).unwrap();
                release.notified().await;
                Ok(())
            }
        });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(worker.run(rx));

    // Idle worker: its claims fail while the database is away.
    take_down(&db).await;
    assert_store_is_down(&store).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!handle.is_finished(), "the worker is still running");
    bring_back(&db).await;
    let a = enqueue(&store, JobKind::Teardown, json!({})).await;
    wait_for(&store, &a.id, JobState::Done).await;

    // Busy worker: the job ends while the database is away; completing it is retried.
    let b = enqueue(&store, JobKind::Provision, json!({})).await;
    tokio::time::timeout(Duration::from_secs(10), started.recv())
        .await
        .expect("the handler starts")
        .unwrap();
    take_down(&db).await;
    release.notify_one();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_store_is_down(&store).await;
    assert!(!handle.is_finished(), "the worker is still running");
    bring_back(&db).await;
    let done = wait_for(&store, &b.id, JobState::Done).await;
    assert_eq!(done.attempts, 1, "the job ran once, not again");

    tx.send(true).unwrap();
    handle.await.unwrap().unwrap();
}

/// A stand-in app written in Python: prints a banner, serves /health.
const FAKE_APP: &str = r#"
import http.server, sys
host, port = sys.argv[1].rsplit(':', 1)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == '/health' else 404)
        self.end_headers()
        self.wfile.write(b'ok')
    def log_message(self, *a):
        pass
s = http.server.HTTPServer((host, int(port)), H)
print('app: fake', flush=True)
print('env: ' + sys.argv[2], flush=True)
print('ready: true', flush=True)
s.serve_forever()
"#;

#[tokio::test]
async fn supervisor_starts_a_real_process_captures_its_banner_and_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("app.py");
    std::fs::write(&script, FAKE_APP).unwrap();
    let profile = dir.path().join("app.toml");
    std::fs::write(
        &profile,
        r#"
        [app]
        name = "fake"
        [commands]
        start = ["{bin}", "{listen}", "{env_name}"]
        [health]
        path = "/health"
        "#,
    )
    .unwrap();
    let port = valet_ops::driver::free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let sup = Supervisor::default();
    sup.start(StartInstance {
        env_id: "e1".into(),
        name: "Fake PROD-MAIN".into(),
        profile,
        bin: vec!["python3".into(), script.display().to_string()],
        db_url: String::new(),
        listen: listen.clone(),
        release: "1".into(),
        env_name: "PROD-MAIN".into(),
        state_dir: dir.path().join("state"),
        log_path: dir.path().join("app.log"),
    })
    .await
    .unwrap();
    let banner = sup.banner("e1").await.unwrap();
    assert_eq!(banner.get("env").map(String::as_str), Some("PROD-MAIN"));
    let base = format!("http://{listen}");
    assert_eq!(
        valet_ops::driver::probe(&base, "/health").await.unwrap(),
        200
    );
    sup.stop_all().await;
    assert!(valet_ops::driver::probe(&base, "/health").await.is_err());
    let log = std::fs::read_to_string(dir.path().join("app.log")).unwrap();
    assert!(log.contains("ready: true"));
}

#[tokio::test]
async fn app_that_exits_at_start_is_reported_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("app.toml");
    std::fs::write(
        &profile,
        r#"
        [app]
        name = "broken"
        [commands]
        start = ["python3", "-c", "import sys; print('schema is at 24.1, expected 24.3', file=sys.stderr); sys.exit(3)"]
        "#,
    )
    .unwrap();
    let sup = Supervisor::default();
    let err = sup
        .start(StartInstance {
            env_id: "e1".into(),
            name: "Broken PROD-MAIN".into(),
            profile,
            bin: vec![],
            db_url: String::new(),
            listen: format!("127.0.0.1:{}", valet_ops::driver::free_port().unwrap()),
            release: "1".into(),
            env_name: "x".into(),
            state_dir: dir.path().join("state"),
            log_path: dir.path().join("app.log"),
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("exited during start-up"), "{err}");
    assert!(
        err.contains("expected 24.3"),
        "log tail is in the error: {err}"
    );
}

#[tokio::test]
async fn handler_is_cancelled_when_heartbeats_cannot_reach_the_database_and_job_reruns_after() {
    let Some(db) = TestDb::postgres("worker_unconfirmed").await else {
        return;
    };
    let store = Store::open(&db.url).await.unwrap();
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let (stopped_tx, mut stopped) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(store.clone(), "w1")
        .with_policy(short_lease(), Duration::from_millis(20))
        .handle(JobKind::Provision, move |job, ctx: JobContext| {
            let (started_tx, stopped_tx) = (started_tx.clone(), stopped_tx.clone());
            async move {
                if job.attempts == 1 {
                    started_tx.send(()).unwrap();
                    ctx.cancel.cancelled().await;
                    stopped_tx.send(()).unwrap();
                }
                Ok(())
            }
        });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(worker.run(rx));

    let job = enqueue(&store, JobKind::Provision, json!({})).await;
    tokio::time::timeout(Duration::from_secs(10), started.recv())
        .await
        .expect("the handler starts")
        .unwrap();
    take_down(&db).await;
    tokio::time::timeout(Duration::from_secs(10), stopped.recv())
        .await
        .expect("the handler is cancelled before its lease can run out")
        .unwrap();
    assert_store_is_down(&store).await;
    bring_back(&db).await;
    // Nothing was recorded for the cancelled run; the job is reclaimed once its lease ran out.
    let done = wait_for(&store, &job.id, JobState::Done).await;
    assert_eq!(done.attempts, 2);
    assert_eq!(done.last_error, None);

    tx.send(true).unwrap();
    handle.await.unwrap().unwrap();
}
