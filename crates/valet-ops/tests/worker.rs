use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use valet_ops::worker::{StartInstance, Supervisor, Worker};
use valet_store::queue::{self, JobState, NewJob, QueuePolicy};
use valet_store::Store;
use valet_testkit::TestDb;

fn fast() -> QueuePolicy {
    QueuePolicy {
        lease: jiff::SignedDuration::from_secs(30),
        backoff_base: jiff::SignedDuration::from_millis(50),
        backoff_max: jiff::SignedDuration::from_secs(1),
    }
}

async fn wait_for(store: &Store, id: &str, state: JobState) -> queue::Job {
    for _ in 0..200 {
        let j = queue::get(store, id).await.unwrap();
        if j.state == state {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {id} never reached {state:?}");
}

#[tokio::test]
async fn worker_runs_jobs_and_retries_failures_until_dead() {
    let db = TestDb::sqlite("worker");
    let store = Store::open(&db.url).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let worker = Worker::new(store.clone(), "w1")
        .with_policy(fast(), Duration::from_millis(20))
        .handle("ok", move |job| {
            let seen = s2.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(job.payload["n"].as_i64().unwrap());
                Ok(())
            }
        })
        .handle("boom", |_job| async {
            Err(valet_ops::OpsError::Payload("the disk is full".into()))
        });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(worker.run(rx));

    let a = queue::enqueue(&store, NewJob::new("ok", json!({"n": 1})))
        .await
        .unwrap();
    let b = queue::enqueue(&store, NewJob::new("ok", json!({"n": 2})))
        .await
        .unwrap();
    let mut bad = NewJob::new("boom", json!({}));
    bad.max_attempts = 2;
    let c = queue::enqueue(&store, bad).await.unwrap();
    let unknown = queue::enqueue(&store, NewJob::new("mystery", json!({})))
        .await
        .unwrap();

    wait_for(&store, &a.id, JobState::Done).await;
    wait_for(&store, &b.id, JobState::Done).await;
    let dead = wait_for(&store, &c.id, JobState::Dead).await;
    assert_eq!(dead.attempts, 2);
    assert_eq!(
        dead.last_error.as_deref(),
        Some("job payload: the disk is full")
    );
    let j = queue::get(&store, &unknown.id).await.unwrap();
    assert!(j.last_error.unwrap_or_default().contains("no handler"));
    assert_eq!(*seen.lock().unwrap(), vec![1, 2]);

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
