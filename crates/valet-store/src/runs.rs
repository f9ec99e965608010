//! Runs: a provisioning, teardown or upgrade execution as ordered steps. Each step is
//! persisted with its state, attempts, start and end, a log excerpt and artifacts (JSON), so
//! a worker that dies mid-run leaves enough for the next one to resume where it stopped.

use serde::Serialize;
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;
use valet_core::{Actor, Permission};

use crate::audit::{self, NewEvent};
use crate::requests::{ts, Request};
use crate::{new_id, Result, Store, StoreError, Tx};

/// Longest log excerpt kept per step (the tail is kept).
pub const LOG_LIMIT: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<RunState> {
        Ok(match s {
            "queued" => RunState::Queued,
            "running" => RunState::Running,
            "succeeded" => RunState::Succeeded,
            "failed" => RunState::Failed,
            "cancelled" => RunState::Cancelled,
            o => return Err(StoreError::Corrupt(format!("unknown run state `{o}`"))),
        })
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::Cancelled
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
    Skipped,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Result<StepState> {
        Ok(match s {
            "pending" => StepState::Pending,
            "running" => StepState::Running,
            "done" => StepState::Done,
            "failed" => StepState::Failed,
            "skipped" => StepState::Skipped,
            o => return Err(StoreError::Corrupt(format!("unknown step state `{o}`"))),
        })
    }
}

/// A run with its steps.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Run {
    pub id: String,
    pub request_id: String,
    pub request_key: String,
    pub customer_id: String,
    pub kind: String,
    pub state: RunState,
    pub job_id: Option<String>,
    pub error: Option<String>,
    pub created_at: jiff::Timestamp,
    pub started_at: Option<jiff::Timestamp>,
    pub finished_at: Option<jiff::Timestamp>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Step {
    pub seq: i64,
    pub name: String,
    pub env: Option<String>,
    pub state: StepState,
    pub attempts: i64,
    pub started_at: Option<jiff::Timestamp>,
    pub finished_at: Option<jiff::Timestamp>,
    pub duration_ms: Option<i64>,
    pub log: String,
    pub artifacts: Value,
}

fn opt_ts(v: Option<i64>) -> Result<Option<jiff::Timestamp>> {
    v.map(ts).transpose()
}

const RUN_SELECT: &str = "SELECT r.id, r.request_id, q.key AS request_key, r.customer_id, r.kind, \
    r.state, r.job_id, r.error, r.created_at, r.started_at, r.finished_at \
    FROM runs r JOIN requests q ON q.id = r.request_id";

fn run_from_row(row: &AnyRow) -> Result<Run> {
    let state: String = row.try_get("state")?;
    Ok(Run {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        request_key: row.try_get("request_key")?,
        customer_id: row.try_get("customer_id")?,
        kind: row.try_get("kind")?,
        state: RunState::parse(&state)?,
        job_id: row.try_get("job_id")?,
        error: row.try_get("error")?,
        created_at: ts(row.try_get("created_at")?)?,
        started_at: opt_ts(row.try_get("started_at")?)?,
        finished_at: opt_ts(row.try_get("finished_at")?)?,
        steps: Vec::new(),
    })
}

fn step_from_row(row: &AnyRow) -> Result<Step> {
    let state: String = row.try_get("state")?;
    let artifacts: String = row.try_get("artifacts")?;
    let started_at = opt_ts(row.try_get("started_at")?)?;
    let finished_at = opt_ts(row.try_get("finished_at")?)?;
    Ok(Step {
        seq: row.try_get("seq")?,
        name: row.try_get("name")?,
        env: row.try_get("env")?,
        state: StepState::parse(&state)?,
        attempts: row.try_get("attempts")?,
        duration_ms: match (started_at, finished_at) {
            (Some(a), Some(b)) => Some(b.duration_since(a).as_millis() as i64),
            _ => None,
        },
        started_at,
        finished_at,
        log: row.try_get("log")?,
        artifacts: serde_json::from_str(&artifacts)
            .map_err(|e| StoreError::Corrupt(format!("step artifacts: {e}")))?,
    })
}

/// A step to create: its name and the environment it acts on (`MAIN`, `TEST`, or none).
#[derive(Debug, Clone)]
pub struct NewStep {
    pub name: String,
    pub env: Option<String>,
}

/// Creates a run of `request` with its steps inside `tx`, audited.
pub async fn create_in(
    tx: &mut Tx,
    now: jiff::Timestamp,
    actor: &Actor,
    request: &Request,
    kind: &str,
    steps: &[NewStep],
) -> Result<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO runs (id, request_id, customer_id, kind, state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'queued', $5, $6)",
    )
    .bind(&id)
    .bind(&request.id)
    .bind(&request.customer_id)
    .bind(kind)
    .bind(now.as_microsecond())
    .bind(now.as_microsecond())
    .execute(&mut **tx)
    .await?;
    for (i, s) in steps.iter().enumerate() {
        sqlx::query(
            "INSERT INTO run_steps (run_id, seq, name, env, state) VALUES ($1, $2, $3, $4, 'pending')",
        )
        .bind(&id)
        .bind(i as i64 + 1)
        .bind(&s.name)
        .bind(s.env.clone())
        .execute(&mut **tx)
        .await?;
    }
    audit::append(
        tx,
        now,
        NewEvent {
            actor,
            action: "run.create",
            object_type: "request",
            object_id: &request.key,
            customer_id: Some(&request.customer_id),
            before: None,
            after: Some(json!({
                "run": id, "kind": kind,
                "steps": steps.iter().map(|s| match &s.env { Some(e) => format!("{} ({e})", s.name), None => s.name.clone() }).collect::<Vec<_>>(),
            })),
            reason: None,
        },
    )
    .await?;
    Ok(id)
}

async fn load_steps(store: &Store, run: &mut Run) -> Result<()> {
    let rows = sqlx::query(
        "SELECT seq, name, env, state, attempts, started_at, finished_at, log, artifacts \
         FROM run_steps WHERE run_id = $1 ORDER BY seq",
    )
    .bind(&run.id)
    .fetch_all(store.pool())
    .await?;
    run.steps = rows.iter().map(step_from_row).collect::<Result<_>>()?;
    Ok(())
}

/// A run with its steps; another tenant's is `NotFound`.
pub async fn get(store: &Store, actor: &Actor, id: &str) -> Result<Run> {
    let row = sqlx::query(&format!("{RUN_SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("run", id))?;
    let mut run = run_from_row(&row)?;
    if !actor.sees_tenant(&run.customer_id) {
        return Err(StoreError::not_found("run", id));
    }
    load_steps(store, &mut run).await?;
    Ok(run)
}

/// The runs of a request, newest first, with their steps.
pub async fn of_request(store: &Store, actor: &Actor, request: &Request) -> Result<Vec<Run>> {
    if !actor.sees_tenant(&request.customer_id) {
        return Err(StoreError::not_found("request", &request.key));
    }
    let rows = sqlx::query(&format!(
        "{RUN_SELECT} WHERE r.request_id = $1 ORDER BY r.created_at DESC, r.id DESC"
    ))
    .bind(&request.id)
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::new();
    for row in &rows {
        let mut run = run_from_row(row)?;
        load_steps(store, &mut run).await?;
        out.push(run);
    }
    Ok(out)
}

/// Records the job that executes the run.
pub async fn set_job(store: &Store, run_id: &str, job_id: &str) -> Result<()> {
    sqlx::query("UPDATE runs SET job_id = $1 WHERE id = $2")
        .bind(job_id)
        .bind(run_id)
        .execute(store.pool())
        .await?;
    Ok(())
}

fn tail(log: &str) -> &str {
    if log.len() <= LOG_LIMIT {
        return log;
    }
    let mut start = log.len() - LOG_LIMIT;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

/// Marks the run running (first time: its start time), audited once.
pub async fn start(store: &Store, actor: &Actor, run_id: &str) -> Result<Run> {
    actor.require(Permission::RunJobs, "execute runs")?;
    let now = store.now();
    let mut tx = store.write().await?;
    let row = sqlx::query(&format!("{RUN_SELECT} WHERE r.id = $1"))
        .bind(run_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found("run", run_id))?;
    let run = run_from_row(&row)?;
    if run.state != RunState::Running {
        sqlx::query(
            "UPDATE runs SET state = 'running', error = NULL, finished_at = NULL, \
             started_at = COALESCE(started_at, $1), updated_at = $2 WHERE id = $3",
        )
        .bind(now.as_microsecond())
        .bind(now.as_microsecond())
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            now,
            NewEvent {
                actor,
                action: "run.start",
                object_type: "request",
                object_id: &run.request_key,
                customer_id: Some(&run.customer_id),
                before: Some(json!({ "run": run.id, "state": run.state })),
                after: Some(json!({ "run": run.id, "state": "running" })),
                reason: None,
            },
        )
        .await?;
    }
    tx.commit().await?;
    get(store, actor, run_id).await
}

/// Starts (or restarts) step `seq`: state `running`, one more attempt, a fresh start time.
pub async fn begin_step(store: &Store, run_id: &str, seq: i64) -> Result<i64> {
    let now = store.now_micros();
    let row = sqlx::query(
        "UPDATE run_steps SET state = 'running', attempts = attempts + 1, started_at = $1, \
         finished_at = NULL WHERE run_id = $2 AND seq = $3 RETURNING attempts",
    )
    .bind(now)
    .bind(run_id)
    .bind(seq)
    .fetch_optional(store.pool())
    .await?
    .ok_or_else(|| StoreError::not_found("run step", format!("{run_id}#{seq}")))?;
    Ok(row.try_get("attempts")?)
}

/// Appends to a running step's log (progress the UI shows live), keeping the tail.
pub async fn append_log(store: &Store, run_id: &str, seq: i64, text: &str) -> Result<()> {
    let old: Option<String> =
        sqlx::query_scalar("SELECT log FROM run_steps WHERE run_id = $1 AND seq = $2")
            .bind(run_id)
            .bind(seq)
            .fetch_optional(store.pool())
            .await?;
    let log = format!("{}{text}", old.unwrap_or_default());
    sqlx::query("UPDATE run_steps SET log = $1 WHERE run_id = $2 AND seq = $3")
        .bind(tail(&log))
        .bind(run_id)
        .bind(seq)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Ends step `seq` as `done`, `failed` or `skipped` with its log and artifacts, audited.
pub async fn end_step(
    store: &Store,
    actor: &Actor,
    run_id: &str,
    seq: i64,
    state: StepState,
    log: &str,
    artifacts: &Value,
) -> Result<()> {
    let now = store.now();
    let mut tx = store.write().await?;
    let row = sqlx::query(&format!("{RUN_SELECT} WHERE r.id = $1"))
        .bind(run_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found("run", run_id))?;
    let run = run_from_row(&row)?;
    let name: String =
        sqlx::query_scalar("SELECT name FROM run_steps WHERE run_id = $1 AND seq = $2")
            .bind(run_id)
            .bind(seq)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query(
        "UPDATE run_steps SET state = $1, finished_at = $2, log = $3, artifacts = $4, \
         started_at = COALESCE(started_at, $5) WHERE run_id = $6 AND seq = $7",
    )
    .bind(state.as_str())
    .bind(now.as_microsecond())
    .bind(tail(log))
    .bind(artifacts.to_string())
    .bind(now.as_microsecond())
    .bind(run_id)
    .bind(seq)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "run.step",
            object_type: "request",
            object_id: &run.request_key,
            customer_id: Some(&run.customer_id),
            before: None,
            after: Some(json!({ "run": run.id, "step": seq, "name": name, "state": state })),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Appends steps to a run (a rollback after a failure), audited with `reason`.
pub async fn add_steps(
    store: &Store,
    actor: &Actor,
    run_id: &str,
    steps: &[NewStep],
    reason: &str,
) -> Result<()> {
    let now = store.now();
    let mut tx = store.write().await?;
    let row = sqlx::query(&format!("{RUN_SELECT} WHERE r.id = $1"))
        .bind(run_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found("run", run_id))?;
    let run = run_from_row(&row)?;
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM run_steps WHERE run_id = $1")
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await?;
    let first = last.unwrap_or(0) + 1;
    for (i, s) in steps.iter().enumerate() {
        sqlx::query(
            "INSERT INTO run_steps (run_id, seq, name, env, state) VALUES ($1, $2, $3, $4, 'pending')",
        )
        .bind(run_id)
        .bind(first + i as i64)
        .bind(&s.name)
        .bind(s.env.clone())
        .execute(&mut *tx)
        .await?;
    }
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "run.steps_added",
            object_type: "request",
            object_id: &run.request_key,
            customer_id: Some(&run.customer_id),
            before: None,
            after: Some(json!({
                "run": run.id,
                "steps": steps.iter().map(|s| match &s.env { Some(e) => format!("{} ({e})", s.name), None => s.name.clone() }).collect::<Vec<_>>(),
            })),
            reason: Some(reason),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Resets every step from `seq` on to `pending` (a retry after a failure starts there).
pub async fn reset_from(store: &Store, run_id: &str, seq: i64) -> Result<()> {
    sqlx::query(
        "UPDATE run_steps SET state = 'pending', finished_at = NULL WHERE run_id = $1 AND seq >= $2",
    )
    .bind(run_id)
    .bind(seq)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Ends the run, audited.
pub async fn finish(
    store: &Store,
    actor: &Actor,
    run_id: &str,
    state: RunState,
    error: Option<&str>,
) -> Result<()> {
    let now = store.now();
    let mut tx = store.write().await?;
    let row = sqlx::query(&format!("{RUN_SELECT} WHERE r.id = $1"))
        .bind(run_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found("run", run_id))?;
    let run = run_from_row(&row)?;
    sqlx::query(
        "UPDATE runs SET state = $1, error = $2, finished_at = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(state.as_str())
    .bind(error)
    .bind(now.as_microsecond())
    .bind(now.as_microsecond())
    .bind(run_id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "run.finish",
            object_type: "request",
            object_id: &run.request_key,
            customer_id: Some(&run.customer_id),
            before: Some(json!({ "run": run.id, "state": run.state })),
            after: Some(json!({ "run": run.id, "state": state, "error": error })),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_keeps_the_end_on_a_char_boundary() {
        let long = format!("{}é{}", "a".repeat(LOG_LIMIT), "b".repeat(10));
        let t = tail(&long);
        assert!(t.len() <= LOG_LIMIT && t.ends_with("bbbbbbbbbb"));
        assert_eq!(tail("short"), "short");
    }
}
