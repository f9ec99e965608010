//! The PROD upgrade run: the runbook that takes a booked upgrade (or an accepted hotfix) from
//! its slot to done, with minutes of downtime, nothing lost, and an automatic way back.
//!
//! The run is a list of persisted steps, executed in order and resumed where it stopped (a
//! worker killed mid-run is replaced by the next): per environment (Test first, then Main),
//! `precheck`, then `maintenance_on → stop → backup → deploy → migrate → start → smoke →
//! maintenance_off`, then `report`, `finish`, `notify`. Every step is idempotent (the backup's
//! label is fixed per run and environment; migrations skip what is applied; a start stops
//! what runs first).
//!
//! Any failure (or an abort) appends **rollback** steps for every environment the run touched,
//! newest first: `rollback_stop → rollback_restore → rollback_start → rollback_verify →
//! rollback_maintenance_off`, then `rollback_notify`. Rollback restores the backup, starts the
//! previous build and verifies every table's checksum equals its pre-upgrade value; the request
//! goes to `failed` naming the failed step. Rollback steps are persisted steps too, so a worker
//! killed during a rollback is followed by one that finishes it.
//!
//! Downtime is measured per environment from maintenance on to maintenance off.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use valet_core::{Actor, Build, EnvRole, EnvState, RequestKind, RequestState, Role};
use valet_store::environments::{self, EnvUpdate, Environment};
use valet_store::requests::{self, Request};
use valet_store::runs::{self, NewStep, Run, RunState, StepState};
use valet_store::schedules;
use valet_store::{releases, Store, StoreError};

use crate::dbops;
use crate::driver::ProcessDriver;
use crate::error::{OpsError, Result};
use crate::jobs::{self, EnqueueOptions, JobKind};
use crate::outbox::announce;
use crate::profile::{AppProfile, Vars};
use crate::provision::OpsConfig;
use crate::worker::{StartInstance, Supervisor};

/// The kind of run in the store.
pub const KIND: &str = "upgrade";

/// The steps of an upgrade of a pair, environments in `order`; with `confirm`, each
/// environment's downtime waits for an engineer's release (`confirm` step).
pub fn steps(order: &[EnvRole], confirm: bool) -> Vec<NewStep> {
    let mut out = Vec::new();
    let step = |name: &str, env: Option<&str>| NewStep {
        name: name.into(),
        env: env.map(str::to_string),
    };
    for e in order {
        out.push(step("precheck", Some(e.as_str())));
    }
    out.push(step("announce", None));
    for e in order {
        if confirm {
            out.push(step("confirm", Some(e.as_str())));
        }
        for name in [
            "maintenance_on",
            "stop",
            "backup",
            "deploy",
            "migrate",
            "start",
            "smoke",
            "maintenance_off",
        ] {
            out.push(step(name, Some(e.as_str())));
        }
    }
    for name in ["report", "finish", "notify"] {
        out.push(step(name, None));
    }
    out
}

/// Test first, then Main (the default order of the runbook).
pub const DEFAULT_ORDER: [EnvRole; 2] = [EnvRole::Test, EnvRole::Main];

/// Queues the run of a booked upgrade at its slot (one job per booking SEQUENCE).
pub async fn queue_at_slot(store: &Store, r: &Request, s: &schedules::Schedule) -> Result<()> {
    jobs::enqueue(
        store,
        JobKind::UpgradeRun,
        &json!({ "request": r.key, "sequence": s.sequence }),
        EnqueueOptions {
            customer_id: Some(r.customer_id.clone()),
            dedupe_key: Some(format!("run.upgrade:{}:{}", r.id, s.sequence)),
            max_attempts: 50,
            run_at: Some(s.start),
        },
    )
    .await?;
    Ok(())
}

/// Upgrade runs are operated by the vendor: a PM or an engineer.
fn may_operate(actor: &Actor, action: &str) -> Result<()> {
    if actor.role.may(valet_core::Permission::Triage)
        || actor.role.may(valet_core::Permission::RunJobs)
    {
        return Ok(());
    }
    Err(valet_core::CoreError::Forbidden {
        role: actor.role.to_string(),
        action: action.into(),
    }
    .into())
}

/// Starts a booked upgrade now (a PM or an engineer, with a reason, audited).
pub async fn start_now(store: &Store, actor: &Actor, key: &str, reason: &str) -> Result<()> {
    may_operate(actor, "start an upgrade run")?;
    if reason.trim().is_empty() {
        return Err(valet_core::CoreError::Invalid {
            field: "reason",
            why: "starting before the slot needs a reason".into(),
        }
        .into());
    }
    let r = requests::get(store, actor, key).await?;
    let s = schedules::of_request(store, actor, key)
        .await?
        .filter(|s| s.state == "scheduled")
        .ok_or_else(|| {
            StoreError::Conflict(format!("{key} is not scheduled; book a slot first"))
        })?;
    if r.state != RequestState::Scheduled && r.state != RequestState::InProgress {
        return Err(StoreError::Conflict(format!("{key} is {}; nothing to start", r.state)).into());
    }
    let now = store.now();
    let mut tx = store.write().await?;
    requests::update_details_in(
        &mut tx,
        now,
        actor,
        key,
        json!({ "started_early": { "by": actor.username, "at": now, "reason": reason.trim() } }),
        "run.start_now",
        Some(reason.trim()),
    )
    .await?;
    tx.commit().await?;
    jobs::enqueue(
        store,
        JobKind::UpgradeRun,
        &json!({ "request": r.key, "sequence": s.sequence }),
        EnqueueOptions {
            customer_id: Some(r.customer_id.clone()),
            dedupe_key: Some(format!("run.upgrade:{}:{}:now", r.id, s.sequence)),
            max_attempts: 50,
            run_at: None,
        },
    )
    .await?;
    Ok(())
}

/// Releases the next environment of an upgrade that waits for confirmation (an engineer or
/// a PM), audited; the run continues.
pub async fn confirm(store: &Store, actor: &Actor, key: &str) -> Result<String> {
    may_operate(actor, "release an upgrade step")?;
    let r = requests::get(store, actor, key).await?;
    let run = runs::of_request(store, actor, &r)
        .await?
        .into_iter()
        .find(|x| x.kind == KIND && !x.state.is_final())
        .ok_or_else(|| StoreError::Conflict(format!("{key} has no upgrade run in progress")))?;
    let waiting = run
        .steps
        .iter()
        .find(|s| s.name == "confirm" && s.state == StepState::Running)
        .and_then(|s| s.env.clone())
        .ok_or_else(|| StoreError::Conflict(format!("{key}'s run is not waiting for a release")))?;
    let now = store.now();
    let mut confirmed = r.details["confirmed"].clone();
    if !confirmed.is_object() {
        confirmed = json!({});
    }
    confirmed[&waiting] = json!({ "by": actor.username, "at": now });
    let mut tx = store.write().await?;
    requests::update_details_in(
        &mut tx,
        now,
        actor,
        key,
        json!({ "confirmed": confirmed }),
        "run.confirm",
        Some(&format!("{waiting} released")),
    )
    .await?;
    tx.commit().await?;
    jobs::enqueue(
        store,
        JobKind::UpgradeRun,
        &json!({ "request": r.key, "sequence": -1 }),
        EnqueueOptions {
            customer_id: Some(r.customer_id.clone()),
            dedupe_key: Some(format!("run.upgrade:{}:confirm:{waiting}:{}", r.id, run.id)),
            max_attempts: 50,
            run_at: None,
        },
    )
    .await?;
    Ok(waiting)
}

/// Asks a running upgrade to stop and roll back (a PM or an engineer), audited; the run
/// checks between steps.
pub async fn abort(store: &Store, actor: &Actor, key: &str, reason: &str) -> Result<()> {
    may_operate(actor, "abort an upgrade run")?;
    let now = store.now();
    let mut tx = store.write().await?;
    requests::update_details_in(
        &mut tx,
        now,
        actor,
        key,
        json!({ "abort_requested": { "by": actor.username, "at": now, "reason": reason.trim() } }),
        "run.abort",
        Some(reason.trim()),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Executes upgrade runs.
#[derive(Clone)]
pub struct Upgrader {
    pub store: Store,
    pub config: Arc<OpsConfig>,
    pub supervisor: Supervisor,
    pub actor: Actor,
    /// How long sessions get to drain after maintenance mode is switched on.
    pub drain: Duration,
    /// Fault injection for drills and tests: this step (on this environment) fails.
    pub fail_at: Option<(String, Option<String>)>,
}

struct Done {
    log: String,
    artifacts: Value,
}

impl Done {
    fn new(log: impl Into<String>, artifacts: Value) -> Done {
        Done {
            log: log.into(),
            artifacts,
        }
    }
}

fn ts_ms(t: jiff::Timestamp) -> i64 {
    t.as_millisecond()
}

impl Upgrader {
    pub fn new(store: Store, config: OpsConfig, supervisor: Supervisor, worker: &str) -> Self {
        Upgrader {
            store,
            config: Arc::new(config),
            supervisor,
            actor: Actor {
                user_id: format!("worker:{worker}"),
                username: format!("worker {worker}"),
                role: Role::VendorEngineer,
                customer_id: None,
            },
            drain: Duration::from_secs(1),
            fail_at: None,
        }
    }

    fn profile(&self) -> Result<AppProfile> {
        AppProfile::load(&self.config.profile)
    }

    /// The job `run.upgrade`: checks the booking is still the one queued, then creates (or
    /// resumes) the run and executes it.
    pub async fn handle(
        &self,
        payload: &Value,
        cancelled: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<()> {
        let key = payload["request"]
            .as_str()
            .ok_or_else(|| OpsError::Payload("run.upgrade needs request".into()))?;
        let sequence = payload["sequence"].as_i64().unwrap_or(-1);
        let r = requests::get(&self.store, &self.actor, key).await?;
        if !matches!(r.kind, RequestKind::Upgrade | RequestKind::Hotfix) {
            return Err(OpsError::Payload(format!(
                "{key} is not an upgrade or hotfix request"
            )));
        }
        if r.kind == RequestKind::Hotfix {
            crate::hotfix::acceptance_for(&self.store, &r).await?;
        }
        let existing = runs::of_request(&self.store, &self.actor, &r)
            .await?
            .into_iter()
            .find(|x| x.kind == KIND && !x.state.is_final());
        let run_id = match existing {
            Some(run) => run.id,
            None => {
                let Some(s) = schedules::of_request(&self.store, &self.actor, key).await? else {
                    return Ok(());
                };
                if s.state != "scheduled"
                    || s.sequence != sequence
                    || r.state != RequestState::Scheduled
                {
                    tracing::info!(
                        request = key,
                        "upgrade job of an older booking or a cancelled one: nothing to do"
                    );
                    return Ok(());
                }
                let now = self.store.now();
                let mut tx = self.store.write().await?;
                let id = runs::create_in(
                    &mut tx,
                    now,
                    &self.actor,
                    &r,
                    KIND,
                    &steps(
                        &DEFAULT_ORDER,
                        r.details["confirm_each_environment"] == json!(true),
                    ),
                )
                .await?;
                requests::transition_in(
                    &mut tx,
                    now,
                    &self.actor,
                    key,
                    RequestState::InProgress,
                    None,
                )
                .await?;
                tx.commit().await?;
                id
            }
        };
        self.execute(&run_id, cancelled).await
    }

    /// Executes (or resumes) run `run_id`, rollback included.
    pub async fn execute(
        &self,
        run_id: &str,
        cancelled: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<()> {
        let run = runs::get(&self.store, &self.actor, run_id).await?;
        if run.state.is_final() {
            return Ok(());
        }
        runs::start(&self.store, &self.actor, run_id).await?;
        loop {
            let run = runs::get(&self.store, &self.actor, run_id).await?;
            // A worker that died between a step's failure and appending the rollback leaves
            // a failed step and no rollback: roll back before anything else runs.
            if !run.steps.iter().any(|s| s.name.starts_with("rollback")) {
                if let Some(f) = run.steps.iter().find(|s| s.state == StepState::Failed) {
                    let why = f.log.lines().last().unwrap_or("failed").to_string();
                    self.begin_rollback(&run, &f.name.clone(), f.env.clone().as_deref(), &why)
                        .await?;
                    continue;
                }
            }
            let Some(step) = run
                .steps
                .iter()
                .find(|s| {
                    !matches!(
                        s.state,
                        StepState::Done | StepState::Skipped | StepState::Failed
                    )
                })
                .cloned()
            else {
                return self.conclude(&run).await;
            };
            if cancelled() {
                tracing::warn!(
                    run = run_id,
                    "lost the job; leaving the run to its new worker"
                );
                return Ok(());
            }
            let rolling_back = step.name.starts_with("rollback");
            if !rolling_back {
                let r = requests::get(&self.store, &self.actor, &run.request_key).await?;
                if let Some(a) = r.details.get("abort_requested").filter(|a| !a.is_null()) {
                    let why = format!(
                        "aborted by {}: {}",
                        a["by"].as_str().unwrap_or("?"),
                        a["reason"].as_str().unwrap_or("")
                    );
                    runs::end_step(
                        &self.store,
                        &self.actor,
                        run_id,
                        step.seq,
                        StepState::Skipped,
                        &why,
                        &json!({}),
                    )
                    .await?;
                    self.begin_rollback(&run, &step.name, step.env.as_deref(), &why)
                        .await?;
                    continue;
                }
            }
            if step.name == "confirm" {
                let r = requests::get(&self.store, &self.actor, &run.request_key).await?;
                let env = step.env.clone().unwrap_or_default();
                match r.details["confirmed"].get(&env).filter(|c| !c.is_null()) {
                    Some(c) => {
                        let log = format!(
                            "released by {} at {}",
                            c["by"].as_str().unwrap_or("?"),
                            c["at"].as_str().unwrap_or("?")
                        );
                        runs::end_step(
                            &self.store,
                            &self.actor,
                            run_id,
                            step.seq,
                            StepState::Done,
                            &log,
                            c,
                        )
                        .await?;
                        continue;
                    }
                    None => {
                        if step.state != StepState::Running {
                            runs::begin_step(&self.store, run_id, step.seq).await?;
                            runs::append_log(&self.store, run_id, step.seq, &format!("waiting for an engineer to release {env} (valet run confirm {})", run.request_key)).await?;
                            let r2 =
                                requests::get(&self.store, &self.actor, &run.request_key).await?;
                            announce(&self.store, &r2, "upgrade.waiting", &format!("{}: {env} waits for your release", r2.key), &format!("The upgrade of {} waits for an engineer to release {env}: valet run confirm {}", r2.title, r2.key), true).await?;
                        }
                        return Ok(());
                    }
                }
            }
            runs::begin_step(&self.store, run_id, step.seq).await?;
            let started = Instant::now();
            let injected = self
                .fail_at
                .as_ref()
                .is_some_and(|(n, e)| *n == step.name && e.as_deref() == step.env.as_deref());
            let outcome = if injected {
                Err(OpsError::Payload(format!(
                    "injected failure at {}",
                    step.name
                )))
            } else {
                self.step(&run, &step.name, step.env.as_deref()).await
            };
            match outcome {
                Ok(done) => {
                    tracing::info!(run = run_id, step = %step.name, env = ?step.env, ms = started.elapsed().as_millis() as u64, "upgrade step done");
                    runs::end_step(
                        &self.store,
                        &self.actor,
                        run_id,
                        step.seq,
                        StepState::Done,
                        &done.log,
                        &done.artifacts,
                    )
                    .await?;
                }
                Err(e) => {
                    let msg = crate::driver::scrub_text(&e.to_string(), "");
                    tracing::warn!(run = run_id, step = %step.name, error = %msg, "upgrade step failed");
                    runs::end_step(
                        &self.store,
                        &self.actor,
                        run_id,
                        step.seq,
                        StepState::Failed,
                        &msg,
                        &json!({}),
                    )
                    .await?;
                    if rolling_back {
                        // A failed rollback needs a person: say so loudly and stop.
                        let why = format!("ROLLBACK FAILED at {} ({}): {msg} — an engineer must restore by hand; the backup is kept", step.name, step.env.as_deref().unwrap_or("-"));
                        // The request says so before the run is final.
                        self.fail_request(&run, &why).await?;
                        runs::finish(
                            &self.store,
                            &self.actor,
                            run_id,
                            RunState::Failed,
                            Some(&why),
                        )
                        .await?;
                        return Ok(());
                    }
                    self.begin_rollback(&run, &step.name, step.env.as_deref(), &msg)
                        .await?;
                }
            }
        }
    }

    /// Appends the rollback steps for every environment the run touched (once).
    async fn begin_rollback(
        &self,
        run: &Run,
        failed: &str,
        env: Option<&str>,
        why: &str,
    ) -> Result<()> {
        let run = runs::get(&self.store, &self.actor, &run.id).await?;
        if run.steps.iter().any(|s| s.name.starts_with("rollback")) {
            return Ok(());
        }
        // Environments whose maintenance began (in the order they were upgraded), newest first.
        let mut touched: Vec<String> = Vec::new();
        for s in &run.steps {
            if s.name == "maintenance_on" && s.state != StepState::Pending {
                if let Some(e) = &s.env {
                    if !touched.contains(e) {
                        touched.push(e.clone());
                    }
                }
            }
        }
        // A step that failed on an environment before its maintenance step (a pre-check) touched nothing.
        touched.reverse();
        let mut new = Vec::new();
        for e in &touched {
            for name in [
                "rollback_stop",
                "rollback_restore",
                "rollback_start",
                "rollback_verify",
                "rollback_maintenance_off",
            ] {
                new.push(NewStep {
                    name: name.into(),
                    env: Some(e.clone()),
                });
            }
        }
        new.push(NewStep {
            name: "rollback_notify".into(),
            env: None,
        });
        // Every step not yet run is skipped.
        for s in &run.steps {
            if s.state == StepState::Pending {
                runs::end_step(
                    &self.store,
                    &self.actor,
                    &run.id,
                    s.seq,
                    StepState::Skipped,
                    "skipped: the upgrade is rolled back",
                    &json!({}),
                )
                .await?;
            }
        }
        runs::add_steps(
            &self.store,
            &self.actor,
            &run.id,
            &new,
            &format!("{failed} ({}) failed: {why}", env.unwrap_or("-")),
        )
        .await?;
        Ok(())
    }

    /// After the last step: succeeded, or (with rollback steps) failed naming the failed step.
    async fn conclude(&self, run: &Run) -> Result<()> {
        let failed = run
            .steps
            .iter()
            .find(|s| s.state == StepState::Failed && !s.name.starts_with("rollback"));
        let aborted = run.steps.iter().any(|s| s.name.starts_with("rollback"));
        if failed.is_none() && !aborted {
            runs::finish(&self.store, &self.actor, &run.id, RunState::Succeeded, None).await?;
            return Ok(());
        }
        let why = match failed {
            Some(s) => format!(
                "step {} `{}`{} failed: {}; rolled back to the previous build, data verified identical",
                s.seq,
                s.name,
                s.env.as_deref().map(|e| format!(" ({e})")).unwrap_or_default(),
                s.log.lines().last().unwrap_or("")
            ),
            None => "aborted; rolled back to the previous build, data verified identical".to_string(),
        };
        // The request says so before the run is final, so whoever sees the run final sees
        // the request failed too.
        self.fail_request(run, &why).await?;
        runs::finish(
            &self.store,
            &self.actor,
            &run.id,
            RunState::Failed,
            Some(&why),
        )
        .await?;
        Ok(())
    }

    async fn fail_request(&self, run: &Run, why: &str) -> Result<()> {
        let r = requests::get(&self.store, &self.actor, &run.request_key).await?;
        if r.state == RequestState::InProgress {
            let now = self.store.now();
            let mut tx = self.store.write().await?;
            requests::update_details_in(
                &mut tx,
                now,
                &self.actor,
                &r.key,
                json!({ "abort_requested": null, "failure": why }),
                "run.failed",
                Some(why),
            )
            .await?;
            requests::transition_in(
                &mut tx,
                now,
                &self.actor,
                &r.key,
                RequestState::Failed,
                Some(why),
            )
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    async fn env_of(&self, r: &Request, role: Option<&str>) -> Result<Environment> {
        let pair_id = r.details["pair_id"]
            .as_str()
            .ok_or_else(|| OpsError::Payload(format!("{} names no pair", r.key)))?;
        let pair = environments::pair(&self.store, &self.actor, pair_id).await?;
        Ok(match role {
            Some("TEST") => pair.test,
            _ => pair.main,
        })
    }

    fn target(r: &Request) -> Result<Build> {
        r.details["build"]
            .as_str()
            .and_then(|b| b.parse().ok())
            .ok_or_else(|| OpsError::Payload(format!("{} names no target build", r.key)))
    }

    /// Artifacts of an earlier step of this run on the same environment.
    /// The smoke check's data proof on PostgreSQL, where the backup step took no checksums:
    /// every table the migrations did not reshape has no row written since the write horizon
    /// read right after the backup, and as many rows as the backup (read at the same time, on
    /// another connection). Together that proves it holds exactly the backup's rows (see
    /// [`dbops::rows_written_since`]) for a scan per table that costs a fraction of a checksum.
    async fn smoke_unwritten(
        &self,
        db_url: &str,
        b: &Value,
        horizon: u64,
        bookkeeping: &[String],
        status: u16,
        running: &str,
    ) -> Result<Done> {
        let backup: dbops::Backup = serde_json::from_value(b["backup"].clone())
            .map_err(|e| OpsError::Payload(e.to_string()))?;
        let (live, kept) = {
            let (u1, u2) = (db_url.to_string(), db_url.to_string());
            tokio::try_join!(
                on_task(move || async move { dbops::rows_written_since(&u1, Some(horizon)).await }),
                on_task(move || async move { dbops::backup_rows(&u2, &backup).await }),
            )?
        };
        let compared = untouched_unchanged(
            &kept,
            &live,
            bookkeeping,
            |b, a| a.columns == b.columns,
            |before, now| {
                if now.written > 0 {
                    Some(format!("{} row(s) written by the upgrade", now.written))
                } else if now.rows != before.rows {
                    Some(format!(
                        "{} rows before, {} rows after",
                        before.rows, now.rows
                    ))
                } else {
                    None
                }
            },
        )?;
        Ok(Done::new(
            format!(
                "health {status}; /version {running}; {} untouched tables identical \
                 (no row written since the backup, row counts equal)",
                compared.len()
            ),
            json!({
                "untouched_identical": compared,
                "proof": "unwritten",
                "horizon": horizon,
                "after": live,
            }),
        ))
    }

    /// The pre-upgrade checksums of an environment: from the backup step, or (PostgreSQL, whose
    /// backup step takes none) read from the backup and kept in a file beside the backups, so
    /// that a rollback resumed after the restore renamed the backup still finds them.
    async fn pre_upgrade_sums(
        &self,
        b: &Value,
        db_url: &str,
        backups: &std::path::Path,
    ) -> Result<dbops::Checksums> {
        if !b["checksums"].is_null() {
            return serde_json::from_value(b["checksums"].clone())
                .map_err(|e| OpsError::Payload(e.to_string()));
        }
        let backup: dbops::Backup = serde_json::from_value(b["backup"].clone())
            .map_err(|e| OpsError::Payload(e.to_string()))?;
        let file = backups.join(format!("{}.checksums.json", backup.location));
        if let Ok(text) = std::fs::read_to_string(&file) {
            if let Ok(sums) = serde_json::from_str(&text) {
                return Ok(sums);
            }
        }
        let url = db_url.to_string();
        let sums =
            on_task(move || async move { dbops::backup_checksums(&url, &backup).await }).await?;
        std::fs::create_dir_all(backups)?;
        let tmp = file.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&sums).unwrap_or_default())?;
        std::fs::rename(&tmp, &file)?;
        Ok(sums)
    }

    fn artifacts(run: &Run, name: &str, env: Option<&str>) -> Value {
        run.steps
            .iter()
            .find(|s| s.name == name && s.env.as_deref() == env && s.state == StepState::Done)
            .map(|s| s.artifacts.clone())
            .unwrap_or(Value::Null)
    }

    /// How the environment's instance runs (recorded by `env.start` or an earlier start).
    async fn deploy(&self, env: &Environment) -> Result<StartInstance> {
        let spec = environments::deploy_spec(&self.store, &env.id)
            .await?
            .ok_or_else(|| {
                OpsError::Payload(format!(
                    "{} has no recorded deployment (start it once through valet)",
                    env.name
                ))
            })?;
        let mut spec = spec;
        spec["db_url"] = json!(
            environments::database_url(&self.store, &self.actor, &env.id)
                .await?
                .unwrap_or_default()
        );
        serde_json::from_value(spec)
            .map_err(|e| OpsError::Payload(format!("{}'s deployment: {e}", env.name)))
    }

    async fn command(&self, name: &str, s: &StartInstance, release: &str) -> Result<String> {
        let profile = self.profile()?;
        let vars = Vars {
            bin: s.bin.clone(),
            db_url: s.db_url.clone(),
            listen: s.listen.clone(),
            release: release.to_string(),
            env_name: s.env_name.clone(),
            state_dir: s.state_dir.display().to_string(),
            ..Vars::default()
        };
        let out = ProcessDriver.run(&profile, name, &vars).await?;
        Ok(format!("{}{}", out.stdout, out.stderr))
    }

    async fn health(&self, base: &str) -> Result<(u16, String)> {
        let profile = self.profile()?;
        let r = reqwest::Client::new()
            .get(format!("{base}{}", profile.health.path))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| OpsError::Payload(format!("health check of {base}: {e}")))?;
        let status = r.status().as_u16();
        Ok((status, r.text().await.unwrap_or_default()))
    }

    async fn version(&self, base: &str) -> Result<String> {
        let profile = self.profile()?;
        let (path, field) = match &profile.version {
            Some(v) => (
                v.path.clone(),
                v.extra
                    .get("build_field")
                    .and_then(|f| f.as_str())
                    .unwrap_or("build")
                    .to_string(),
            ),
            None => ("/version".into(), "build".into()),
        };
        let v: Value = reqwest::Client::new()
            .get(format!("{base}{path}"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| OpsError::Payload(format!("{path} of {base}: {e}")))?
            .json()
            .await
            .map_err(|e| OpsError::Payload(format!("{path} of {base} is not JSON: {e}")))?;
        Ok(v[&field].as_str().unwrap_or_default().to_string())
    }

    async fn stop_instance(&self, env: &Environment, s: &StartInstance) {
        self.supervisor.stop(&env.id).await;
        if let Some(spec) = environments::deploy_spec(&self.store, &env.id)
            .await
            .ok()
            .flatten()
        {
            if let (Some(pid), Some(listen)) = (spec["pid"].as_u64(), spec["listen"].as_str()) {
                crate::provision::kill_recorded(pid as u32, listen).await;
            }
        }
        let _ = s;
    }

    async fn start_instance(
        &self,
        env: &Environment,
        s: &StartInstance,
        release: &str,
    ) -> Result<String> {
        let mut s = s.clone();
        s.release = release.to_string();
        self.supervisor.start(s.clone()).await?;
        let url = format!("http://{}", s.listen);
        let banner = self.supervisor.banner(&env.id).await.unwrap_or_default();
        environments::record_start(&self.store, &self.actor, &env.id, &url, &banner).await?;
        let mut spec = serde_json::to_value(&s).unwrap_or(Value::Null);
        if let Some(o) = spec.as_object_mut() {
            o.remove("db_url");
            o.insert("pid".into(), json!(self.supervisor.pid(&env.id).await));
        }
        environments::update(
            &self.store,
            &self.actor,
            &env.id,
            EnvUpdate {
                deploy: Some(spec),
                ..Default::default()
            },
            Some("upgrade run"),
        )
        .await?;
        Ok(url)
    }

    /// Starts the instance again on `release` if it does not answer (it died with a worker
    /// that was killed after starting it).
    async fn ensure_running(
        &self,
        env: &Environment,
        s: &StartInstance,
        release: &str,
    ) -> Result<()> {
        let env = environments::get(&self.store, &self.actor, &env.id).await?;
        if let Some(url) = &env.base_url {
            if self.health(url).await.is_ok() {
                return Ok(());
            }
        }
        tracing::warn!(env = %env.name, "instance not answering; starting it again");
        self.start_instance(&env, s, release).await?;
        Ok(())
    }

    async fn step(&self, run: &Run, name: &str, env_role: Option<&str>) -> Result<Done> {
        let r = requests::get(&self.store, &self.actor, &run.request_key).await?;
        let target = Self::target(&r)?;
        let release = target.version().to_string();
        match name {
            "announce" => {
                announce(&self.store, &r, "upgrade.started", &format!("{} started: upgrading to {target}", r.key), &format!("The upgrade of {} to {target} has started. The app shows a maintenance banner during the upgrade.", r.title), true).await?;
                return Ok(Done::new("announced", json!({})));
            }
            "report" => return self.report(run, &r).await,
            "finish" => return self.finish(run, &r, target).await,
            "notify" => {
                let downtime: Vec<String> = measured_downtime(run)
                    .iter()
                    .map(|(env, ms)| format!("{env} {} s", *ms as f64 / 1000.0))
                    .collect();
                announce(
                    &self.store,
                    &r,
                    "upgrade.done",
                    &format!("{} done: on {target}", r.key),
                    &format!(
                        "{} is done: the pair runs {target}. Measured downtime: {}.",
                        r.key,
                        downtime.join(", ")
                    ),
                    true,
                )
                .await?;
                return Ok(Done::new("notified", json!({})));
            }
            "rollback_notify" => {
                let failed = run
                    .steps
                    .iter()
                    .find(|s| s.state == StepState::Failed)
                    .map(|s| {
                        format!(
                            "step `{}`{}: {}",
                            s.name,
                            s.env
                                .as_deref()
                                .map(|e| format!(" ({e})"))
                                .unwrap_or_default(),
                            s.log.lines().last().unwrap_or("")
                        )
                    })
                    .unwrap_or_else(|| "aborted".into());
                announce(&self.store, &r, "upgrade.rolled_back", &format!("{} failed and was rolled back", r.key), &format!("The upgrade of {} to {target} failed at {failed}. It was rolled back automatically: the app runs its previous build and its data was verified identical to before the upgrade.", r.title), true).await?;
                return Ok(Done::new("notified", json!({})));
            }
            _ => {}
        }
        let env = self.env_of(&r, env_role).await?;
        let s = self.deploy(&env).await?;
        let backups = backup_dir(&self.config.data_dir, &r.key);
        match name {
            "precheck" => {
                let rel = releases::get(&self.store, &self.actor, &target.to_string()).await?;
                if !rel.published {
                    return Err(OpsError::Payload(format!("{target} is not published")));
                }
                if rel.artifact_sha256.len() != 64
                    || !rel.artifact_sha256.chars().all(|c| c.is_ascii_hexdigit())
                {
                    return Err(OpsError::Payload(format!(
                        "{target}'s artifact has no valid SHA-256 in the catalog"
                    )));
                }
                std::fs::create_dir_all(&backups)?;
                let probe = backups.join(".probe");
                std::fs::write(&probe, b"ok")?;
                std::fs::remove_file(&probe)?;
                let free = nix::sys::statvfs::statvfs(&backups)
                    .map(|v| v.blocks_available() * v.fragment_size())
                    .unwrap_or(0);
                let size = db_size(&s.db_url);
                if free < size.saturating_mul(2).max(64 << 20) {
                    return Err(OpsError::Payload(format!(
                        "only {} MB free at the backup destination; need {} MB",
                        free >> 20,
                        size.saturating_mul(2).max(64 << 20) >> 20
                    )));
                }
                let sums = sums_of(&s.db_url).await.map_err(|e| {
                    OpsError::Payload(format!(
                        "the database of {} is not reachable: {e}",
                        env.name
                    ))
                })?;
                let others: Vec<String> =
                    runs_on_pair(&self.store, &self.actor, &r, &run.id).await?;
                if !others.is_empty() {
                    return Err(OpsError::Payload(format!(
                        "another run is active on this pair: {}",
                        others.join(", ")
                    )));
                }
                Ok(Done::new(
                    format!("artifact {} sha256 {}; {} MB free; database reachable ({} tables); no other run", rel.artifact_reference, rel.artifact_sha256, free >> 20, sums.len()),
                    json!({ "from_build": env.current_build, "from_release": s.release, "to_build": target, "artifact_sha256": rel.artifact_sha256, "free_bytes": free, "tables": sums.len() }),
                ))
            }
            "maintenance_on" => {
                // Before the downtime starts: flush the database server's dirty buffers, so the
                // backup's own checkpoint inside the window has only the last seconds to write.
                let mut flushed = String::new();
                if is_postgres(&s.db_url) {
                    let url = s.db_url.clone();
                    let t0 = Instant::now();
                    flushed =
                        match on_task(move || async move { dbops::checkpoint(&url).await }).await {
                            Ok(_) => format!(
                                "checkpoint before the window: {} ms\n",
                                t0.elapsed().as_millis()
                            ),
                            Err(e) => format!(
                                "no checkpoint before the window ({e}); the backup's checkpoint \
                             flushes everything inside it\n"
                            ),
                        };
                }
                let at = self.store.now();
                let log = flushed + &self.command("maintenance_on", &s, &release).await?;
                if env.state == EnvState::Active {
                    let _ = environments::set_state(
                        &self.store,
                        &self.actor,
                        &env.id,
                        EnvState::Maintenance,
                        Some(&format!("upgrade {}", r.key)),
                    )
                    .await;
                }
                // Open sessions get `drain` to finish; the app answers 503 meanwhile.
                tokio::time::sleep(self.drain).await;
                let prior = Self::artifacts(run, "maintenance_on", env_role);
                let at = prior["at_ms"].as_i64().unwrap_or(ts_ms(at));
                Ok(Done::new(log, json!({ "at_ms": at })))
            }
            "stop" => {
                self.stop_instance(&env, &s).await;
                Ok(Done::new(format!("{} stopped", env.name), json!({})))
            }
            "backup" => {
                // The environment's id in the name: request keys repeat across valet
                // installations (and test stores) that share a database server.
                use sha2::Digest;
                let label = format!(
                    "valet_{}_{}_{}",
                    r.key.to_ascii_lowercase().replace('-', "_"),
                    env.role.as_str().to_ascii_lowercase(),
                    &hex::encode(sha2::Sha256::digest(env.id.as_bytes()))[..8]
                );
                if is_postgres(&s.db_url) {
                    // The server copies the database's files while nobody is connected (the
                    // app is stopped), so the copy is the database as it was: no checksum
                    // pass in the downtime window. The smoke step proves each untouched table
                    // unchanged from the write horizon and the backup's row counts; full
                    // checksums are taken from the backup only if a rollback needs them.
                    let (url, dir, l) = (s.db_url.clone(), backups.clone(), label.clone());
                    let (b, horizon) = on_task(move || async move {
                        let b = dbops::backup(&url, &dir, &l).await?;
                        let horizon = dbops::write_horizon(&url).await?;
                        Ok((b, horizon))
                    })
                    .await?;
                    return Ok(Done::new(
                        format!(
                            "{} backup ({}) in {} ms; rows written from transaction {} on are the upgrade's",
                            b.method,
                            b.bytes
                                .map(|n| format!("{} kB", n / 1024))
                                .unwrap_or_default(),
                            b.took_ms,
                            horizon.unwrap_or_default()
                        ),
                        json!({ "backup": b, "checksums": null, "horizon": horizon }),
                    ));
                }
                let before = sums_of(&s.db_url).await?;
                let b = {
                    let (url, dir, label, before) = (
                        s.db_url.clone(),
                        backups.clone(),
                        label.clone(),
                        before.clone(),
                    );
                    on_task(move || async move {
                        let b = dbops::backup(&url, &dir, &label).await?;
                        dbops::verify_restorable(&url, &b, &before).await?;
                        Ok(b)
                    })
                    .await?
                };
                Ok(Done::new(
                    format!(
                        "{} backup ({}) in {} ms, verified restorable",
                        b.method,
                        b.bytes
                            .map(|n| format!("{} kB", n / 1024))
                            .unwrap_or_default(),
                        b.took_ms
                    ),
                    json!({ "backup": b, "checksums": before }),
                ))
            }
            "deploy" => {
                let profile = self.profile()?;
                let pre = Self::artifacts(run, "precheck", env_role);
                let mut spec = environments::deploy_spec(&self.store, &env.id)
                    .await?
                    .unwrap_or(Value::Null);
                spec["release"] = json!(release);
                environments::update(
                    &self.store,
                    &self.actor,
                    &env.id,
                    EnvUpdate {
                        deploy: Some(spec),
                        ..Default::default()
                    },
                    Some(&format!("deploy {target}")),
                )
                .await?;
                Ok(Done::new(
                    format!(
                        "{} deployed for {} (artifact sha256 {})",
                        profile.app.name,
                        env.name,
                        pre["artifact_sha256"].as_str().unwrap_or("?")
                    ),
                    json!({ "release": release, "previous_release": pre["from_release"] }),
                ))
            }
            "migrate" => {
                let t0 = Instant::now();
                let log = self.command("migrate", &s, &release).await?;
                let timings = crate::provision::migration_timings(&log);
                let total: u64 = timings.iter().map(|(_, ms)| ms).sum();
                Ok(Done::new(
                    log,
                    json!({
                        "total_ms": total,
                        "wall_ms": t0.elapsed().as_millis() as u64,
                        "migrations": timings.iter().map(|(r, ms)| json!({ "release": r, "duration_ms": ms })).collect::<Vec<_>>(),
                    }),
                ))
            }
            "start" => {
                let url = self.start_instance(&env, &s, &release).await?;
                let running = self.version(&url).await?;
                if running != target.to_string() {
                    return Err(OpsError::Unhealthy {
                        env: env.name.clone(),
                        why: format!("/version says build `{running}`, expected {target}"),
                    });
                }
                Ok(Done::new(
                    format!("{} runs {running} at {url}", env.name),
                    json!({ "base_url": url, "build": running }),
                ))
            }
            "smoke" => {
                self.ensure_running(&env, &s, &release).await?;
                let env = environments::get(&self.store, &self.actor, &env.id).await?;
                let url = env.base_url.clone().unwrap_or_default();
                let (status, body) = self.health(&url).await?;
                if !(status == 200 || body.contains("maintenance")) {
                    return Err(OpsError::Unhealthy {
                        env: env.name.clone(),
                        why: format!("health answered {status}: {body}"),
                    });
                }
                let running = self.version(&url).await?;
                if running != target.to_string() {
                    return Err(OpsError::Unhealthy {
                        env: env.name.clone(),
                        why: format!("/version says `{running}`, expected {target}"),
                    });
                }
                let bookkeeping = self
                    .profile()?
                    .upgrade
                    .map(|u| u.bookkeeping_tables)
                    .unwrap_or_default();
                let b = Self::artifacts(run, "backup", env_role);
                if let Some(horizon) = b["horizon"].as_u64() {
                    return self
                        .smoke_unwritten(&s.db_url, &b, horizon, &bookkeeping, status, &running)
                        .await;
                }
                let before: dbops::Checksums =
                    serde_json::from_value(b["checksums"].clone()).unwrap_or_default();
                let after = sums_of(&s.db_url).await?;
                let compared = untouched_unchanged(
                    &before,
                    &after,
                    &bookkeeping,
                    |b, a| a.columns == b.columns,
                    |b, a| {
                        (a.rows != b.rows || a.sha256 != b.sha256).then(|| {
                            format!(
                                "{} rows (sha256 {}…) before, {} rows (sha256 {}…) after",
                                b.rows,
                                &b.sha256[..12.min(b.sha256.len())],
                                a.rows,
                                &a.sha256[..12.min(a.sha256.len())]
                            )
                        })
                    },
                )?;
                Ok(Done::new(
                    format!(
                        "health {status}; /version {running}; {} untouched tables identical",
                        compared.len()
                    ),
                    json!({ "untouched_identical": compared, "after": after }),
                ))
            }
            "maintenance_off" => {
                self.ensure_running(&env, &s, &release).await?;
                let env = environments::get(&self.store, &self.actor, &env.id).await?;
                let log = self.command("maintenance_off", &s, &release).await?;
                let url = env.base_url.clone().unwrap_or_default();
                let mut ok = false;
                for _ in 0..50 {
                    if let Ok((200, _)) = self.health(&url).await {
                        ok = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                if !ok {
                    return Err(OpsError::Unhealthy {
                        env: env.name.clone(),
                        why: "not healthy after maintenance was switched off".into(),
                    });
                }
                let on = Self::artifacts(run, "maintenance_on", env_role)["at_ms"]
                    .as_i64()
                    .unwrap_or(0);
                let off = ts_ms(self.store.now());
                environments::update(
                    &self.store,
                    &self.actor,
                    &env.id,
                    EnvUpdate {
                        build: Some(target),
                        ..Default::default()
                    },
                    Some(&format!("upgraded to {target} by {}", r.key)),
                )
                .await?;
                if env.state == EnvState::Maintenance {
                    let _ = environments::set_state(
                        &self.store,
                        &self.actor,
                        &env.id,
                        EnvState::Active,
                        Some("upgrade done"),
                    )
                    .await;
                }
                Ok(Done::new(
                    log,
                    json!({ "downtime_ms": (off - on).max(0), "from_ms": on, "to_ms": off }),
                ))
            }
            "rollback_stop" => {
                self.stop_instance(&env, &s).await;
                Ok(Done::new(
                    format!("{} stopped for rollback", env.name),
                    json!({}),
                ))
            }
            "rollback_restore" => {
                let b = Self::artifacts(run, "backup", env_role);
                if b.is_null() {
                    return Ok(Done::new(
                        "no backup was taken: the database was not changed",
                        json!({ "restored": false }),
                    ));
                }
                let backup: dbops::Backup = serde_json::from_value(b["backup"].clone())
                    .map_err(|e| OpsError::Payload(e.to_string()))?;
                // The pre-upgrade checksums, for the verification after the restore: from the
                // backup step, or read from the backup now, before the restore renames it
                // into place (kept in a file beside the backups, for a resumed rollback).
                let before = self.pre_upgrade_sums(&b, &s.db_url, &backups).await?;
                let restored = {
                    let (url, backup) = (s.db_url.clone(), backup.clone());
                    on_task(move || async move { dbops::restore(&url, &backup).await }).await
                };
                if let Err(e) = restored {
                    // On PostgreSQL and MariaDB a restore renames the backup into place, so a
                    // restore interrupted after that finds no backup: fine if the database
                    // already holds exactly what it held before the upgrade.
                    if sums_of(&s.db_url).await.ok().as_ref() != Some(&before) {
                        return Err(e);
                    }
                }
                Ok(Done::new(
                    format!("restored from {} backup", backup.method),
                    json!({ "restored": true }),
                ))
            }
            "rollback_start" => {
                let pre = Self::artifacts(run, "precheck", env_role);
                let previous = pre["from_release"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| s.release.clone());
                let url = self.start_instance(&env, &s, &previous).await?;
                let mut spec = environments::deploy_spec(&self.store, &env.id)
                    .await?
                    .unwrap_or(Value::Null);
                spec["release"] = json!(previous);
                let from_build: Option<Build> =
                    pre["from_build"].as_str().and_then(|b| b.parse().ok());
                environments::update(
                    &self.store,
                    &self.actor,
                    &env.id,
                    EnvUpdate {
                        deploy: Some(spec),
                        build: from_build,
                        ..Default::default()
                    },
                    Some("rolled back"),
                )
                .await?;
                Ok(Done::new(
                    format!("{} runs {previous} again at {url}", env.name),
                    json!({ "release": previous }),
                ))
            }
            "rollback_verify" => {
                let b = Self::artifacts(run, "backup", env_role);
                if b.is_null() {
                    return Ok(Done::new(
                        "nothing to verify (no backup was needed)",
                        json!({}),
                    ));
                }
                let before = self.pre_upgrade_sums(&b, &s.db_url, &backups).await?;
                let after = sums_of(&s.db_url).await?;
                if before != after {
                    let diff: Vec<&String> = before
                        .keys()
                        .chain(after.keys())
                        .filter(|t| before.get(*t) != after.get(*t))
                        .collect();
                    return Err(OpsError::Payload(format!(
                        "after the restore these tables differ from before the upgrade: {diff:?}"
                    )));
                }
                let pre = Self::artifacts(run, "precheck", env_role);
                let previous = pre["from_release"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| s.release.clone());
                self.ensure_running(&env, &s, &previous).await?;
                let env = environments::get(&self.store, &self.actor, &env.id).await?;
                let url = env.base_url.clone().unwrap_or_default();
                let running = self.version(&url).await?;
                if Some(running.as_str()) != pre["from_build"].as_str()
                    && !pre["from_build"].is_null()
                {
                    return Err(OpsError::Unhealthy {
                        env: env.name.clone(),
                        why: format!(
                            "runs `{running}` after the rollback, expected {}",
                            pre["from_build"]
                        ),
                    });
                }
                Ok(Done::new(
                    format!(
                        "all {} tables identical to before the upgrade; runs {running}",
                        after.len()
                    ),
                    json!({ "tables": after.len() }),
                ))
            }
            "rollback_maintenance_off" => {
                let log = self.command("maintenance_off", &s, &s.release).await?;
                if env.state == EnvState::Maintenance {
                    let _ = environments::set_state(
                        &self.store,
                        &self.actor,
                        &env.id,
                        EnvState::Active,
                        Some("rolled back"),
                    )
                    .await;
                }
                let on = Self::artifacts(run, "maintenance_on", env_role)["at_ms"]
                    .as_i64()
                    .unwrap_or(0);
                Ok(Done::new(
                    log,
                    json!({ "downtime_ms": (ts_ms(self.store.now()) - on).max(0) }),
                ))
            }
            other => Err(OpsError::Payload(format!(
                "`{other}` is not an upgrade step this worker knows"
            ))),
        }
    }

    async fn finish(&self, run: &Run, r: &Request, target: Build) -> Result<Done> {
        // Users have written to the new build since maintenance ended: a backup from before
        // the upgrade can no longer be restored without losing their work, so it goes.
        let mut dropped = Vec::new();
        for s in run
            .steps
            .iter()
            .filter(|s| s.name == "backup" && s.state == StepState::Done)
        {
            let Ok(backup) = serde_json::from_value::<dbops::Backup>(s.artifacts["backup"].clone())
            else {
                continue;
            };
            let env = self.env_of(r, s.env.as_deref()).await?;
            let url = environments::database_url(&self.store, &self.actor, &env.id)
                .await?
                .unwrap_or_default();
            let b2 = backup.clone();
            if on_task(move || async move { dbops::drop_backup(&url, &b2).await })
                .await
                .is_ok()
            {
                dropped.push(backup.location.clone());
            }
        }
        let now = self.store.now();
        if r.state == RequestState::InProgress {
            let mut tx = self.store.write().await?;
            schedules::mark_done_in(&mut tx, now, &self.actor, r).await?;
            requests::transition_in(
                &mut tx,
                now,
                &self.actor,
                &r.key,
                RequestState::Done,
                Some(&format!("upgraded to {target}")),
            )
            .await?;
            tx.commit().await?;
        }
        let closing = crate::val::prod_upgraded(&self.store, &r.customer_id, target, now).await?;
        Ok(Done::new(
            format!(
                "{} done; {} backup(s) dropped; VAL closure scheduled for {}",
                r.key,
                dropped.len(),
                if closing.is_empty() {
                    "none".to_string()
                } else {
                    closing.join(", ")
                }
            ),
            json!({ "val_closures": closing, "backups_dropped": dropped.len() }),
        ))
    }

    async fn report(&self, run: &Run, r: &Request) -> Result<Done> {
        let doc =
            crate::documents::upgrade_report::produce(&self.store, &self.actor, run, r).await?;
        Ok(Done::new(
            format!("upgrade report {} (sha256 {})", doc.id, doc.sha256),
            json!({ "document": doc.id, "sha256": doc.sha256 }),
        ))
    }
}

/// Runs a database operation on a blocking thread of the runtime: the engine drivers'
/// futures are not provably `Send` for every lifetime inside the worker's handler (an sqlx
/// limitation), so they are built and driven where `Send` is not needed.
async fn on_task<T, F, Fut>(make: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T>>,
{
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || handle.block_on(make()))
        .await
        .map_err(|e| OpsError::Payload(format!("database task: {e}")))?
}

/// The smoke check's comparison: every table of `before` but the app's bookkeeping must be in
/// `after`; those the migrations did not reshape (`same_shape`) must be unchanged (`change`
/// says how one differs). Returns the tables found unchanged, or an error naming every change.
fn untouched_unchanged<B, A>(
    before: &std::collections::BTreeMap<String, B>,
    after: &std::collections::BTreeMap<String, A>,
    bookkeeping: &[String],
    same_shape: impl Fn(&B, &A) -> bool,
    change: impl Fn(&B, &A) -> Option<String>,
) -> Result<Vec<String>> {
    let mut compared = Vec::new();
    let mut changed = Vec::new();
    for (t, b) in before.iter().filter(|(t, _)| !bookkeeping.contains(t)) {
        match after.get(t) {
            None => changed.push(format!("{t}: missing after the upgrade")),
            Some(a) if same_shape(b, a) => match change(b, a) {
                Some(how) => changed.push(format!("{t}: {how}")),
                None => compared.push(t.clone()),
            },
            Some(_) => {}
        }
    }
    if !changed.is_empty() {
        return Err(OpsError::Payload(format!(
            "data changed in tables the migrations do not touch: {}",
            changed.join("; ")
        )));
    }
    Ok(compared)
}

/// Whether `url` is a PostgreSQL database.
fn is_postgres(url: &str) -> bool {
    matches!(
        valet_clone::DbUrl::parse(url),
        Ok(valet_clone::DbUrl::Postgres(_))
    )
}

/// Table checksums of the database at `url`.
async fn sums_of(url: &str) -> Result<dbops::Checksums> {
    let url = url.to_string();
    on_task(move || async move { dbops::table_checksums(&url).await }).await
}

/// Other upgrade or provisioning runs that are active on the same pair.
async fn runs_on_pair(
    store: &Store,
    actor: &Actor,
    r: &Request,
    this: &str,
) -> Result<Vec<String>> {
    let all = requests::list(
        store,
        actor,
        &requests::Filter {
            customer_id: Some(r.customer_id.clone()),
            ..Default::default()
        },
    )
    .await?;
    let mut out = Vec::new();
    for other in all {
        if other.id == r.id || other.details["pair_id"] != r.details["pair_id"] {
            continue;
        }
        for x in runs::of_request(store, actor, &other).await? {
            if x.kind == KIND && x.id != this && !x.state.is_final() && x.state != RunState::Queued
            {
                out.push(format!("{} ({})", other.key, x.kind));
            }
        }
    }
    Ok(out)
}

fn db_size(url: &str) -> u64 {
    url.strip_prefix("sqlite://")
        .map(|p| p.split('?').next().unwrap_or(p))
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Where upgrade backups live for `data_dir`.
pub fn backup_dir(data_dir: &std::path::Path, key: &str) -> PathBuf {
    data_dir.join("backups").join(key.to_ascii_lowercase())
}

/// Each environment's downtime (role, ms from maintenance on to off) that a run measured on
/// its way up (rollbacks not counted).
pub fn measured_downtime(run: &Run) -> Vec<(String, u64)> {
    run.steps
        .iter()
        .filter(|s| s.name == "maintenance_off" && s.state == StepState::Done)
        .map(|s| {
            (
                s.env.clone().unwrap_or_else(|| "-".into()),
                s.artifacts["downtime_ms"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}
