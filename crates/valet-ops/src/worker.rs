//! The worker: claims jobs from the store's queue and runs them, heartbeating while a job
//! runs so that a job of a worker that died is reclaimed by another.
//!
//! Handlers are registered per [`JobKind`]. A handler gets a [`JobContext`] whose
//! cancellation token fires when this worker can no longer be sure the job is its own (another
//! worker reclaimed it, or no heartbeat was confirmed for two thirds of the lease): the worker
//! then gives the handler a short grace to stop, drops it, and neither completes nor fails the
//! job, so two workers never act on one environment. The state store failing (a database
//! restart) does not end the worker: every store call is retried with a capped backoff.
//!
//! The [`Supervisor`] keeps the app instances this worker started (the `process` driver's
//! children) and stops them on shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Mutex};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use valet_store::queue::{self, Job, JobState, QueuePolicy};
use valet_store::Store;

use crate::driver::{InstanceSpec, ProcessDriver, Running};
use crate::error::{OpsError, Result};
use crate::jobs::JobKind;
use crate::profile::{AppProfile, Vars};

type BoxFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;
type Handler = Arc<dyn Fn(Job, JobContext) -> BoxFuture + Send + Sync>;

/// First delay before retrying a failed state-store call; doubled per failure.
const RETRY_FIRST: Duration = Duration::from_millis(500);
/// Longest delay between retries of a failed state-store call.
const RETRY_MAX: Duration = Duration::from_secs(10);

/// What a handler gets besides the job.
#[derive(Clone)]
pub struct JobContext {
    /// Cancelled when the job may no longer be this worker's (its lease was lost): the handler
    /// must stop acting on the environment and return soon; it is dropped after a grace.
    pub cancel: CancellationToken,
    /// The name of the worker running the job (it holds the job's lease).
    pub worker: String,
    /// The state store the job came from.
    pub store: Store,
    /// The id of the job being run.
    pub job_id: String,
}

impl JobContext {
    /// `Err(LeaseLost)` once the job was cancelled; call it before each step that acts.
    pub fn ensure_lease(&self) -> Result<()> {
        if self.cancel.is_cancelled() {
            return Err(OpsError::LeaseLost {
                job: self.job_id.clone(),
            });
        }
        Ok(())
    }
}

/// Claims and runs jobs until told to stop.
pub struct Worker {
    store: Store,
    name: String,
    policy: QueuePolicy,
    poll: Duration,
    grace: Duration,
    handlers: HashMap<JobKind, Handler>,
}

impl Worker {
    pub fn new(store: Store, name: impl Into<String>) -> Worker {
        Worker {
            store,
            name: name.into(),
            policy: QueuePolicy::default(),
            poll: Duration::from_millis(500),
            grace: Duration::from_secs(5),
            handlers: HashMap::new(),
        }
    }

    /// Lease and retry timing, and how long to sleep when the queue is empty.
    pub fn with_policy(mut self, policy: QueuePolicy, poll: Duration) -> Worker {
        self.policy = policy;
        self.poll = poll;
        self
    }

    /// How long a cancelled handler may take to return before it is dropped (default 5 s;
    /// never more than a third of the lease).
    pub fn with_grace(mut self, grace: Duration) -> Worker {
        self.grace = grace;
        self
    }

    /// Registers the handler for jobs of `kind`.
    pub fn handle<F, Fut>(mut self, kind: JobKind, f: F) -> Worker
    where
        F: Fn(Job, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.handlers
            .insert(kind, Arc::new(move |job, ctx| Box::pin(f(job, ctx))));
        self
    }

    /// Runs jobs until `shutdown` turns true; the job in progress is finished first. State
    /// store errors are logged and retried, so this returns `Ok` once shut down.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        tracing::info!(worker = %self.name, "worker started");
        let mut retry = Retry::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let wait = match queue::claim(&self.store, &self.name, &self.policy).await {
                Ok(Some(job)) => {
                    retry.reset();
                    self.run_one(job, &mut shutdown).await;
                    continue;
                }
                Ok(None) => {
                    retry.reset();
                    self.poll
                }
                Err(e) => {
                    let wait = retry.bump();
                    tracing::warn!(worker = %self.name, error = %e, retry_in = ?wait,
                        "claiming a job failed; retrying");
                    wait
                }
            };
            pause(wait, &mut shutdown).await;
        }
        tracing::info!(worker = %self.name, "worker stopped");
        Ok(())
    }

    async fn run_one(&self, job: Job, shutdown: &mut watch::Receiver<bool>) {
        tracing::info!(job = %job.id, kind = %job.kind, attempt = job.attempts, "running job");
        let handler = job.kind.parse::<JobKind>().and_then(|kind| {
            self.handlers
                .get(&kind)
                .cloned()
                .ok_or(OpsError::NoHandler(kind))
        });
        let outcome = match handler {
            Ok(h) => match self.supervise(&job, h).await {
                Some(outcome) => outcome,
                None => return,
            },
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                let done = self
                    .retrying("recording the job as done", &job.id, shutdown, || {
                        queue::complete(&self.store, &job.id, &self.name)
                    })
                    .await;
                match done {
                    Some(true) => tracing::info!(job = %job.id, "job done"),
                    Some(false) => tracing::warn!(job = %job.id,
                        "the job finished but was no longer this worker's (reclaimed by another \
                         worker); not recorded as done"),
                    None => {}
                }
            }
            Err(e) => {
                let error = e.to_string();
                let after = self
                    .retrying("recording the job's failure", &job.id, shutdown, || {
                        queue::fail(&self.store, &job.id, &self.name, &error, &self.policy)
                    })
                    .await;
                match after {
                    Some(Some(after)) => {
                        let retry_at = (after.state == JobState::Queued).then_some(after.run_at);
                        tracing::warn!(job = %job.id, error = %e, state = ?after.state,
                            retry_at = ?retry_at, "job failed");
                    }
                    Some(None) => tracing::warn!(job = %job.id, error = %e,
                        "the job failed but was no longer this worker's (reclaimed by another \
                         worker); failure not recorded"),
                    None => {}
                }
            }
        }
    }

    /// Runs the handler while heartbeating. `None` when the lease was lost: the handler was
    /// cancelled (and dropped if it did not return within the grace).
    async fn supervise(&self, job: &Job, handler: Handler) -> Option<Result<()>> {
        let lease: Duration = self
            .policy
            .lease
            .try_into()
            .unwrap_or(Duration::from_secs(60));
        let cancel = CancellationToken::new();
        let beat = tokio::spawn(heartbeat(
            self.store.clone(),
            job.id.clone(),
            self.name.clone(),
            lease,
            cancel.clone(),
        ));
        let ctx = JobContext {
            cancel: cancel.clone(),
            worker: self.name.clone(),
            store: self.store.clone(),
            job_id: job.id.clone(),
        };
        let mut running = handler(job.clone(), ctx);
        let outcome = tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            outcome = &mut running => Some(outcome),
        };
        beat.abort();
        if outcome.is_none() {
            let grace = self.grace.min(lease / 3);
            match tokio::time::timeout(grace, running).await {
                Ok(result) => tracing::warn!(job = %job.id, result = ?result.err(),
                    "handler stopped after the job's lease was lost"),
                Err(_) => tracing::warn!(job = %job.id, grace = ?grace,
                    "handler did not stop within the grace after the job's lease was lost; \
                     dropped it"),
            }
        }
        outcome
    }

    /// Calls `f` until it reaches the store, backing off between failures. `None` when
    /// shutdown was asked for first: the job is then left to be reclaimed after its lease.
    async fn retrying<T, F, Fut>(
        &self,
        what: &str,
        job_id: &str,
        shutdown: &mut watch::Receiver<bool>,
        mut f: F,
    ) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = valet_store::Result<T>>,
    {
        let mut retry = Retry::new();
        loop {
            match f().await {
                Ok(v) => return Some(v),
                Err(e) => {
                    let wait = retry.bump();
                    tracing::warn!(job = %job_id, error = %e, retry_in = ?wait,
                        "{what} failed; retrying");
                    if pause(wait, shutdown).await {
                        tracing::warn!(job = %job_id,
                            "shutting down before {what} succeeded; the job will be \
                             reclaimed once its lease runs out");
                        return None;
                    }
                }
            }
        }
    }
}

/// Extends the job's lease every third of it. Cancels `cancel` when the job was reclaimed,
/// or when no heartbeat was confirmed for two thirds of the lease (the store is unreachable:
/// once the lease runs out another worker may claim the job, so stop before that).
async fn heartbeat(
    store: Store,
    job_id: String,
    worker: String,
    lease: Duration,
    cancel: CancellationToken,
) {
    let every = lease / 3;
    let hold = lease * 2 / 3;
    let mut deadline = Instant::now() + hold;
    let mut next = Instant::now() + every;
    loop {
        let beat = async {
            tokio::time::sleep_until(next).await;
            let sent = Instant::now();
            (sent, queue::heartbeat(&store, &job_id, &worker).await)
        };
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(job = %job_id, lease = ?lease,
                    "no heartbeat confirmed for two thirds of the lease; cancelling the job");
                cancel.cancel();
                return;
            }
            (sent, beat) = beat => {
                next = Instant::now() + every;
                match beat {
                    Ok(true) => deadline = sent + hold,
                    Ok(false) => {
                        tracing::warn!(job = %job_id,
                            "lost the job's lease to another worker; cancelling the job");
                        cancel.cancel();
                        return;
                    }
                    Err(e) => tracing::warn!(job = %job_id, error = %e, "heartbeat failed"),
                }
            }
        }
    }
}

/// Sleeps `wait`, or less when shutdown is asked for; `true` if it was.
async fn pause(wait: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    let asked = tokio::select! {
        () = tokio::time::sleep(wait) => None,
        stop = shutdown.wait_for(|s| *s) => Some(stop.is_ok()),
    };
    match asked {
        Some(true) => true,
        // Nobody can ask for shutdown any more: sleep the whole wait.
        Some(false) => {
            tokio::time::sleep(wait).await;
            false
        }
        None => *shutdown.borrow(),
    }
}

/// Capped exponential backoff between retries of a failing state-store call.
struct Retry {
    next: Duration,
}

impl Retry {
    fn new() -> Retry {
        Retry { next: RETRY_FIRST }
    }

    fn reset(&mut self) {
        self.next = RETRY_FIRST;
    }

    /// The delay to wait now; the next one is twice as long, up to [`RETRY_MAX`].
    fn bump(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(RETRY_MAX);
        wait
    }
}

/// Payload of an `env.start` job: everything needed to run one instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartInstance {
    pub env_id: String,
    pub name: String,
    pub profile: PathBuf,
    pub bin: Vec<String>,
    pub db_url: String,
    pub listen: String,
    pub release: String,
    pub env_name: String,
    pub state_dir: PathBuf,
    pub log_path: PathBuf,
}

/// The instances this process started, so they can be found and stopped again.
#[derive(Default, Clone)]
pub struct Supervisor {
    driver: ProcessDriver,
    running: Arc<Mutex<HashMap<String, Running>>>,
}

impl Supervisor {
    /// Starts (or restarts) the instance of `env_id` and waits until it is healthy.
    pub async fn start(&self, s: StartInstance) -> Result<()> {
        let profile = AppProfile::load(&s.profile)?;
        if let Some(mut old) = self.running.lock().await.remove(&s.env_id) {
            self.driver.stop(&mut old).await?;
        }
        tokio::fs::create_dir_all(&s.state_dir).await?;
        let spec = InstanceSpec {
            name: s.name.clone(),
            vars: Vars {
                bin: s.bin,
                db_url: s.db_url,
                listen: s.listen.clone(),
                release: s.release,
                env_name: s.env_name,
                state_dir: s.state_dir.display().to_string(),
                ..Vars::default()
            },
            base_url: format!("http://{}", s.listen),
            log_path: s.log_path,
            ready_timeout: Duration::from_secs(60),
        };
        let running = self.driver.start(&profile, &spec).await?;
        tracing::info!(env = %s.name, pid = running.pid, url = %running.base_url, "instance healthy");
        self.running.lock().await.insert(s.env_id, running);
        Ok(())
    }

    /// The start-up banner an instance printed, if it runs here.
    pub async fn banner(&self, env_id: &str) -> Option<std::collections::BTreeMap<String, String>> {
        self.running
            .lock()
            .await
            .get(env_id)
            .map(|r| r.banner.clone())
    }

    /// The process id of the instance of `env_id`, if it runs here.
    pub async fn pid(&self, env_id: &str) -> Option<u32> {
        self.running.lock().await.get(env_id).map(|r| r.pid)
    }

    /// Stops the instance of `env_id` if it runs here (graceful, then forced).
    pub async fn stop(&self, env_id: &str) {
        let old = self.running.lock().await.remove(env_id);
        if let Some(mut r) = old {
            if let Err(e) = self.driver.stop(&mut r).await {
                tracing::warn!(env = %r.name, error = %e, "stopping instance failed");
            }
        }
    }

    /// Stops every instance (graceful, then forced).
    pub async fn stop_all(&self) {
        let mut all = self.running.lock().await;
        for (_, mut r) in all.drain() {
            if let Err(e) = self.driver.stop(&mut r).await {
                tracing::warn!(env = %r.name, error = %e, "stopping instance failed");
            }
        }
    }

    /// A worker with the handlers that operate environments registered. A started
    /// instance's address and start-up banner are recorded on its environment (audited). An
    /// `env.start` whose lease is lost stops the instance it started and records nothing.
    pub fn worker(&self, store: Store, name: &str) -> Worker {
        let me = self.clone();
        let actor = valet_core::Actor {
            user_id: format!("worker:{name}"),
            username: format!("worker {name}"),
            role: valet_core::Role::VendorEngineer,
            customer_id: None,
        };
        Worker::new(store, name).handle(JobKind::EnvStart, move |job: Job, ctx: JobContext| {
            let (me, actor) = (me.clone(), actor.clone());
            async move {
                let s: StartInstance = serde_json::from_value(job.payload)
                    .map_err(|e| OpsError::Payload(e.to_string()))?;
                let (env_id, url) = (s.env_id.clone(), format!("http://{}", s.listen));
                let spec = s.clone();
                // Dropping a start half-way kills the child (`kill_on_drop`).
                tokio::select! {
                    started = me.start(s) => started?,
                    () = ctx.cancel.cancelled() => return ctx.ensure_lease(),
                }
                if let Err(lost) = ctx.ensure_lease() {
                    me.stop(&env_id).await;
                    return Err(lost);
                }
                let banner = me.banner(&env_id).await.unwrap_or_default();
                valet_store::environments::record_start(&ctx.store, &actor, &env_id, &url, &banner)
                    .await?;
                // How it runs (no database URL: that is a secret), so an upgrade can stop,
                // migrate and start it again on another release.
                let mut deploy = serde_json::to_value(&spec).unwrap_or_default();
                if let Some(o) = deploy.as_object_mut() {
                    o.remove("db_url");
                    o.insert("pid".into(), serde_json::json!(me.pid(&env_id).await));
                }
                valet_store::environments::update(
                    &ctx.store,
                    &actor,
                    &env_id,
                    valet_store::environments::EnvUpdate {
                        deploy: Some(deploy),
                        ..Default::default()
                    },
                    Some("instance started"),
                )
                .await?;
                Ok(())
            }
        })
    }
}
