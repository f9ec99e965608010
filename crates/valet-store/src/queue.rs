//! The job queue: runs (provisioning, upgrades, notifications) are jobs that workers claim.
//!
//! A claim marks the job `running` under the worker's name and starts a lease; the worker
//! heartbeats while it works. A job whose lease ran out (its worker died) is claimable again.
//! A failed job is retried with exponential backoff until `max_attempts`, then it is `dead`.
//! On PostgreSQL the claim is `FOR UPDATE SKIP LOCKED`, so any number of workers can claim
//! concurrently without ever taking the same job; on SQLite the write lock serialises claims.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{new_id, Backend, Result, Store, StoreError};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Dead,
}

impl JobState {
    fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Result<JobState> {
        Ok(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "dead" => JobState::Dead,
            other => return Err(StoreError::Corrupt(format!("unknown job state `{other}`"))),
        })
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub customer_id: Option<String>,
    pub state: JobState,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: jiff::Timestamp,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
}

/// What to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    pub customer_id: Option<String>,
    /// A second enqueue with the same key returns the first job instead of a duplicate.
    pub dedupe_key: Option<String>,
    pub max_attempts: i64,
    /// Not before this time (default: now).
    pub run_at: Option<jiff::Timestamp>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> NewJob {
        NewJob {
            kind: kind.into(),
            payload,
            customer_id: None,
            dedupe_key: None,
            max_attempts: 5,
            run_at: None,
        }
    }
}

/// Timing of leases and retries.
#[derive(Debug, Clone, Copy)]
pub struct QueuePolicy {
    /// A running job whose last heartbeat is older than this is reclaimed.
    pub lease: jiff::SignedDuration,
    /// First retry delay; doubled per attempt.
    pub backoff_base: jiff::SignedDuration,
    pub backoff_max: jiff::SignedDuration,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        QueuePolicy {
            lease: jiff::SignedDuration::from_secs(60),
            backoff_base: jiff::SignedDuration::from_secs(5),
            backoff_max: jiff::SignedDuration::from_secs(15 * 60),
        }
    }
}

impl QueuePolicy {
    /// Delay before attempt `attempts + 1`, after `attempts` failures: base·2^(attempts−1).
    pub fn backoff(&self, attempts: i64) -> jiff::SignedDuration {
        let exp = attempts.clamp(1, 30) - 1;
        let micros = self
            .backoff_base
            .as_micros()
            .saturating_mul(1i128 << exp)
            .min(self.backoff_max.as_micros());
        jiff::SignedDuration::from_micros(micros as i64)
    }
}

const COLUMNS: &str = "id, kind, payload, customer_id, state, attempts, max_attempts, run_at, \
                       locked_by, last_error";

fn from_row(row: &AnyRow) -> Result<Job> {
    let payload: String = row.try_get("payload")?;
    let state: String = row.try_get("state")?;
    let run_at: i64 = row.try_get("run_at")?;
    Ok(Job {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| StoreError::Corrupt(format!("job payload: {e}")))?,
        customer_id: row.try_get("customer_id")?,
        state: JobState::parse(&state)?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        run_at: jiff::Timestamp::from_microsecond(run_at)
            .map_err(|e| StoreError::Corrupt(format!("job run_at: {e}")))?,
        locked_by: row.try_get("locked_by")?,
        last_error: row.try_get("last_error")?,
    })
}

/// Adds a job; with a `dedupe_key` already used, returns the existing job unchanged.
pub async fn enqueue(store: &Store, new: NewJob) -> Result<Job> {
    if new.max_attempts < 1 {
        return Err(valet_core::CoreError::Invalid {
            field: "max_attempts",
            why: "must be at least 1".into(),
        }
        .into());
    }
    let mut tx = store.write().await?;
    if let Some(key) = &new.dedupe_key {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE dedupe_key = $1"))
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = row {
            return from_row(&row);
        }
    }
    let now = store.now_micros();
    let id = new_id();
    let run_at = new.run_at.map(|t| t.as_microsecond()).unwrap_or(now);
    let row = sqlx::query(&format!(
        "INSERT INTO jobs (id, kind, payload, customer_id, dedupe_key, state, attempts,
             max_attempts, run_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $8, $9)
         RETURNING {COLUMNS}"
    ))
    .bind(&id)
    .bind(&new.kind)
    .bind(new.payload.to_string())
    .bind(new.customer_id.clone())
    .bind(new.dedupe_key.clone())
    .bind(new.max_attempts)
    .bind(run_at)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    from_row(&row)
}

/// Claims the next due job (oldest `run_at` first), or a running job whose lease expired.
pub async fn claim(store: &Store, worker: &str, policy: &QueuePolicy) -> Result<Option<Job>> {
    let now = store.now_micros();
    let stale = now - policy.lease.as_micros() as i64;
    let lock = match store.backend() {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let mut tx = store.write().await?;
    // A job that used up its attempts while its worker was gone is dead, not reclaimed.
    sqlx::query(
        "UPDATE jobs SET state = 'dead', locked_by = NULL, updated_at = $1,
             last_error = COALESCE(last_error, 'worker stopped heartbeating')
         WHERE state = 'running' AND heartbeat_at < $2 AND attempts >= max_attempts",
    )
    .bind(now)
    .bind(stale)
    .execute(&mut *tx)
    .await?;
    let row = sqlx::query(&format!(
        "UPDATE jobs SET state = 'running', locked_by = $1, heartbeat_at = $2,
             attempts = attempts + 1, updated_at = $3
         WHERE id = (
             SELECT id FROM jobs
             WHERE (state = 'queued' AND run_at <= $4)
                OR (state = 'running' AND heartbeat_at < $5)
             ORDER BY run_at, id
             LIMIT 1
             {lock}
         )
         RETURNING {COLUMNS}"
    ))
    .bind(worker)
    .bind(now)
    .bind(now)
    .bind(now)
    .bind(stale)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.as_ref().map(from_row).transpose()
}

/// Extends the lease; `false` means the job is no longer this worker's (it was reclaimed)
/// and the worker must stop working on it.
pub async fn heartbeat(store: &Store, job_id: &str, worker: &str) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE jobs SET heartbeat_at = $1
         WHERE id = $2 AND locked_by = $3 AND state = 'running'",
    )
    .bind(store.now_micros())
    .bind(job_id)
    .bind(worker)
    .execute(store.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Marks the job done; `false` if the worker had lost it.
pub async fn complete(store: &Store, job_id: &str, worker: &str) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE jobs SET state = 'done', locked_by = NULL, updated_at = $1
         WHERE id = $2 AND locked_by = $3 AND state = 'running'",
    )
    .bind(store.now_micros())
    .bind(job_id)
    .bind(worker)
    .execute(store.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Records a failure: the job is queued again after the backoff, or `dead` once it has used
/// its attempts. Returns the job as it is now.
pub async fn fail(
    store: &Store,
    job_id: &str,
    worker: &str,
    error: &str,
    policy: &QueuePolicy,
) -> Result<Option<Job>> {
    let now = store.now();
    let mut tx = store.write().await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE id = $1 AND locked_by = $2 AND state = 'running'"
    ))
    .bind(job_id)
    .bind(worker)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let job = from_row(&row)?;
    let (state, run_at) = if job.attempts >= job.max_attempts {
        (JobState::Dead, job.run_at)
    } else {
        (
            JobState::Queued,
            now.checked_add(policy.backoff(job.attempts)).unwrap_or(now),
        )
    };
    let row = sqlx::query(&format!(
        "UPDATE jobs SET state = $1, run_at = $2, last_error = $3, locked_by = NULL,
             updated_at = $4
         WHERE id = $5
         RETURNING {COLUMNS}"
    ))
    .bind(state.as_str())
    .bind(run_at.as_microsecond())
    .bind(error)
    .bind(now.as_microsecond())
    .bind(job_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(from_row(&row)?))
}

pub async fn get(store: &Store, job_id: &str) -> Result<Job> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
        .bind(job_id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("job", job_id))?;
    from_row(&row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = QueuePolicy {
            lease: jiff::SignedDuration::from_secs(60),
            backoff_base: jiff::SignedDuration::from_secs(5),
            backoff_max: jiff::SignedDuration::from_secs(60),
        };
        let secs: Vec<i64> = (1..=6).map(|a| p.backoff(a).as_secs()).collect();
        assert_eq!(secs, vec![5, 10, 20, 40, 60, 60]);
        assert_eq!(p.backoff(1000).as_secs(), 60);
    }
}
