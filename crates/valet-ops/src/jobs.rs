//! The kinds of job valet runs, and how they are put on the queue.
//!
//! The store's queue keeps a job's kind as a string; this module owns the closed set of kinds
//! and their strings, so that whatever enqueues a job and the worker that runs it agree. A job
//! whose kind string is not one of these (written by a newer valet, or by hand) fails when a
//! worker claims it, with a message that names the kinds this worker knows.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use valet_store::queue::{self, Job, NewJob};
use valet_store::Store;

use crate::error::{OpsError, Result};

/// What a job does; stored as [`JobKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Start (or restart) one app instance and record where it runs (`env.start`).
    EnvStart,
    /// A provisioning run: clone, mask, migrate, start, report (`run.provision`).
    Provision,
    /// Tear an environment pair down (`run.teardown`).
    Teardown,
    /// Deliver a notification (`notify.deliver`).
    Notify,
    /// Close a VAL whose time has come (`val.close`).
    Close,
    /// Remind a VAL's watchers that validation ends soon (`val.remind`).
    Remind,
    /// Remind everyone of a scheduled PROD upgrade (`upg.remind`).
    UpgradeRemind,
    /// The PROD upgrade runbook of an `UPG-N` or `HFX-N` request (`run.upgrade`, payload
    /// `{"request": KEY}`); for a hotfix it first checks the acceptance on record
    /// ([`crate::hotfix::acceptance_for`]).
    UpgradeRun,
}

impl JobKind {
    /// Every kind, in declaration order.
    pub const ALL: [JobKind; 8] = [
        JobKind::EnvStart,
        JobKind::Provision,
        JobKind::Teardown,
        JobKind::Notify,
        JobKind::Close,
        JobKind::Remind,
        JobKind::UpgradeRemind,
        JobKind::UpgradeRun,
    ];

    /// The string stored in the queue's `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::EnvStart => "env.start",
            JobKind::Provision => "run.provision",
            JobKind::Teardown => "run.teardown",
            JobKind::Notify => "notify.deliver",
            JobKind::Close => "val.close",
            JobKind::Remind => "val.remind",
            JobKind::UpgradeRemind => "upg.remind",
            JobKind::UpgradeRun => "run.upgrade",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = OpsError;

    fn from_str(s: &str) -> Result<JobKind> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| OpsError::UnknownJobKind(s.to_string()))
    }
}

/// The kinds' strings joined for messages: `env.start, run.provision, …`.
pub(crate) fn known_kinds() -> String {
    JobKind::ALL.map(JobKind::as_str).join(", ")
}

/// How to enqueue a job; [`Default`] is: no tenant, no dedupe key, 5 attempts, due now.
#[derive(Debug, Clone)]
pub struct EnqueueOptions {
    /// The tenant the job works for, if any.
    pub customer_id: Option<String>,
    /// A second enqueue with the same key returns the first job instead of a duplicate.
    pub dedupe_key: Option<String>,
    /// Attempts before the job is `dead` (at least 1).
    pub max_attempts: i64,
    /// Not before this time (`None`: now).
    pub run_at: Option<jiff::Timestamp>,
}

impl Default for EnqueueOptions {
    fn default() -> Self {
        EnqueueOptions {
            customer_id: None,
            dedupe_key: None,
            max_attempts: 5,
            run_at: None,
        }
    }
}

/// Puts a job of `kind` with `payload` (serialised to JSON) on the queue.
pub async fn enqueue(
    store: &Store,
    kind: JobKind,
    payload: &impl Serialize,
    opts: EnqueueOptions,
) -> Result<Job> {
    let payload = serde_json::to_value(payload)
        .map_err(|e| OpsError::Payload(format!("cannot serialise a `{kind}` payload: {e}")))?;
    let job = NewJob {
        kind: kind.as_str().to_string(),
        payload,
        customer_id: opts.customer_id,
        dedupe_key: opts.dedupe_key,
        max_attempts: opts.max_attempts,
        run_at: opts.run_at,
    };
    Ok(queue::enqueue(store, job).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_back_from_its_string() {
        for k in JobKind::ALL {
            assert_eq!(k.as_str().parse::<JobKind>().unwrap(), k);
            assert_eq!(k.to_string(), k.as_str());
        }
    }

    #[test]
    fn unknown_kind_is_refused_with_the_known_ones_listed() {
        let err = "env.stop".parse::<JobKind>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown job kind `env.stop`; this valet knows env.start, run.provision, \
             run.teardown, notify.deliver, val.close, val.remind, upg.remind, \
             run.upgrade"
        );
    }
}
