//! The worker: claims jobs from the store's queue and runs them, heartbeating while a job
//! runs so that a job of a worker that died is reclaimed by another.
//!
//! Handlers are registered per job kind. The [`Supervisor`] keeps the app instances this
//! worker started (the `process` driver's children) and stops them on shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Mutex};
use valet_store::queue::{self, Job, QueuePolicy};
use valet_store::Store;

use crate::driver::{InstanceSpec, ProcessDriver, Running};
use crate::error::{OpsError, Result};
use crate::profile::{AppProfile, Vars};

type BoxFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;
type Handler = Arc<dyn Fn(Job) -> BoxFuture + Send + Sync>;

/// Claims and runs jobs until told to stop.
pub struct Worker {
    store: Store,
    name: String,
    policy: QueuePolicy,
    poll: Duration,
    handlers: HashMap<String, Handler>,
}

impl Worker {
    pub fn new(store: Store, name: impl Into<String>) -> Worker {
        Worker {
            store,
            name: name.into(),
            policy: QueuePolicy::default(),
            poll: Duration::from_millis(500),
            handlers: HashMap::new(),
        }
    }

    pub fn with_policy(mut self, policy: QueuePolicy, poll: Duration) -> Worker {
        self.policy = policy;
        self.poll = poll;
        self
    }

    /// Registers the handler for jobs of `kind`.
    pub fn handle<F, Fut>(mut self, kind: &str, f: F) -> Worker
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.handlers
            .insert(kind.to_string(), Arc::new(move |job| Box::pin(f(job))));
        self
    }

    /// Runs jobs until `shutdown` turns true; the job in progress is finished first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        tracing::info!(worker = %self.name, "worker started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            match queue::claim(&self.store, &self.name, &self.policy).await? {
                Some(job) => self.run_one(job).await?,
                None => {
                    tokio::select! {
                        _ = tokio::time::sleep(self.poll) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
        tracing::info!(worker = %self.name, "worker stopped");
        Ok(())
    }

    async fn run_one(&self, job: Job) -> Result<()> {
        tracing::info!(job = %job.id, kind = %job.kind, attempt = job.attempts, "running job");
        let beat = {
            let (store, id, name) = (self.store.clone(), job.id.clone(), self.name.clone());
            let every = (self.policy.lease / 3)
                .try_into()
                .unwrap_or(Duration::from_secs(10));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match queue::heartbeat(&store, &id, &name).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(job = %id, "lost the job's lease to another worker");
                            break;
                        }
                        Err(e) => tracing::warn!(job = %id, error = %e, "heartbeat failed"),
                    }
                }
            })
        };
        let outcome = match self.handlers.get(&job.kind) {
            Some(h) => h(job.clone()).await,
            None => Err(OpsError::Payload(format!(
                "no handler for job kind `{}` in this worker",
                job.kind
            ))),
        };
        beat.abort();
        match outcome {
            Ok(()) => {
                queue::complete(&self.store, &job.id, &self.name).await?;
                tracing::info!(job = %job.id, "job done");
            }
            Err(e) => {
                let after = queue::fail(
                    &self.store,
                    &job.id,
                    &self.name,
                    &e.to_string(),
                    &self.policy,
                )
                .await?;
                tracing::warn!(job = %job.id, error = %e, state = ?after.map(|j| j.state), "job failed");
            }
        }
        Ok(())
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
    /// instance's address and start-up banner are recorded on its environment (audited).
    pub fn worker(&self, store: Store, name: &str) -> Worker {
        let me = self.clone();
        let st = store.clone();
        let actor = valet_core::Actor {
            user_id: format!("worker:{name}"),
            username: format!("worker {name}"),
            role: valet_core::Role::VendorEngineer,
            customer_id: None,
        };
        Worker::new(store, name).handle("env.start", move |job: Job| {
            let (me, st, actor) = (me.clone(), st.clone(), actor.clone());
            async move {
                let s: StartInstance = serde_json::from_value(job.payload)
                    .map_err(|e| OpsError::Payload(e.to_string()))?;
                let (env_id, url) = (s.env_id.clone(), format!("http://{}", s.listen));
                me.start(s).await?;
                let banner = me.banner(&env_id).await.unwrap_or_default();
                valet_store::environments::record_start(&st, &actor, &env_id, &url, &banner)
                    .await?;
                Ok(())
            }
        })
    }
}
