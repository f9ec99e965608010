mod common;

use std::collections::HashSet;

use common::{stores, ManualClock};
use serde_json::json;
use valet_store::queue::{self, JobState, NewJob, QueuePolicy};

fn policy() -> QueuePolicy {
    QueuePolicy {
        lease: jiff::SignedDuration::from_secs(30),
        backoff_base: jiff::SignedDuration::from_secs(10),
        backoff_max: jiff::SignedDuration::from_secs(600),
    }
}

#[tokio::test]
async fn claimed_job_is_not_claimed_again_and_completes() {
    for (_db, store) in stores("q_basic").await {
        let job = queue::enqueue(&store, NewJob::new("provision", json!({"env": "e1"})))
            .await
            .unwrap();
        let got = queue::claim(&store, "w1", &policy())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.id, job.id);
        assert_eq!(got.state, JobState::Running);
        assert_eq!(got.attempts, 1);
        assert_eq!(got.payload, json!({"env": "e1"}));
        assert!(queue::claim(&store, "w2", &policy())
            .await
            .unwrap()
            .is_none());
        assert!(queue::complete(&store, &job.id, "w1").await.unwrap());
        assert_eq!(
            queue::get(&store, &job.id).await.unwrap().state,
            JobState::Done
        );
        assert!(queue::claim(&store, "w2", &policy())
            .await
            .unwrap()
            .is_none());
    }
}

#[tokio::test]
async fn duplicate_enqueue_with_same_key_returns_the_first_job() {
    for (_db, store) in stores("q_dedupe").await {
        let mut a = NewJob::new("notify", json!({"n": 1}));
        a.dedupe_key = Some("notify:UPG-7:T-7d".into());
        let first = queue::enqueue(&store, a.clone()).await.unwrap();
        a.payload = json!({"n": 2});
        let second = queue::enqueue(&store, a).await.unwrap();
        assert_eq!(first.id, second.id);
        assert_eq!(second.payload, json!({"n": 1}));
        assert_eq!(common::count(&store, "jobs").await, 1);
    }
}

#[tokio::test]
async fn failed_job_retries_after_backoff_then_dies() {
    for (_db, store) in stores("q_retry").await {
        let clock = ManualClock::new();
        let store = clock.install(store);
        let mut new = NewJob::new("upgrade", json!({}));
        new.max_attempts = 3;
        let job = queue::enqueue(&store, new).await.unwrap();

        queue::claim(&store, "w1", &policy())
            .await
            .unwrap()
            .unwrap();
        let after = queue::fail(&store, &job.id, "w1", "smoke check failed", &policy())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.state, JobState::Queued);
        assert_eq!(after.last_error.as_deref(), Some("smoke check failed"));
        assert_eq!((after.run_at - store.now()).get_seconds(), 10);
        assert!(
            queue::claim(&store, "w1", &policy())
                .await
                .unwrap()
                .is_none(),
            "not before the backoff"
        );
        clock.advance(10);
        let second = queue::claim(&store, "w1", &policy())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.attempts, 2);
        let after = queue::fail(&store, &job.id, "w1", "again", &policy())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((after.run_at - store.now()).get_seconds(), 20, "doubled");
        clock.advance(20);
        queue::claim(&store, "w1", &policy())
            .await
            .unwrap()
            .unwrap();
        let after = queue::fail(&store, &job.id, "w1", "third", &policy())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.state, JobState::Dead);
        clock.advance(3600);
        assert!(queue::claim(&store, "w1", &policy())
            .await
            .unwrap()
            .is_none());
    }
}

#[tokio::test]
async fn job_of_a_silent_worker_is_reclaimed_and_the_old_worker_is_told() {
    for (_db, store) in stores("q_reclaim").await {
        let clock = ManualClock::new();
        let store = clock.install(store);
        let job = queue::enqueue(&store, NewJob::new("provision", json!({})))
            .await
            .unwrap();
        queue::claim(&store, "w1", &policy())
            .await
            .unwrap()
            .unwrap();
        clock.advance(20);
        assert!(queue::heartbeat(&store, &job.id, "w1").await.unwrap());
        clock.advance(20);
        assert!(
            queue::claim(&store, "w2", &policy())
                .await
                .unwrap()
                .is_none(),
            "heartbeat kept the lease"
        );
        clock.advance(31);
        let again = queue::claim(&store, "w2", &policy())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.id, job.id);
        assert_eq!(again.locked_by.as_deref(), Some("w2"));
        assert_eq!(again.attempts, 2);
        assert!(!queue::heartbeat(&store, &job.id, "w1").await.unwrap());
        assert!(!queue::complete(&store, &job.id, "w1").await.unwrap());
        assert!(queue::complete(&store, &job.id, "w2").await.unwrap());
    }
}

#[tokio::test]
async fn concurrent_workers_never_claim_the_same_job() {
    for (_db, store) in stores("q_concurrent").await {
        const JOBS: usize = 120;
        for i in 0..JOBS {
            queue::enqueue(&store, NewJob::new("n", json!({ "i": i })))
                .await
                .unwrap();
        }
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    let name = format!("w{w}");
                    let mut mine = Vec::new();
                    while let Some(job) = queue::claim(&store, &name, &policy()).await.unwrap() {
                        mine.push(job.id.clone());
                        assert!(queue::complete(&store, &job.id, &name).await.unwrap());
                    }
                    mine
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.unwrap());
        }
        let unique: HashSet<_> = all.iter().collect();
        assert_eq!(all.len(), JOBS, "every job ran exactly once");
        assert_eq!(unique.len(), JOBS, "no job ran twice");
    }
}
