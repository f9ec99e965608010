use thiserror::Error;

/// What can go wrong operating an environment.
#[derive(Debug, Error)]
pub enum OpsError {
    #[error("app profile {path}: {why}")]
    Profile { path: String, why: String },
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed with {status}: {stderr}")]
    CommandFailed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{env}: {why}")]
    Unhealthy { env: String, why: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A backup, restore or checksum failed (`crate::dbops`).
    #[error(transparent)]
    Database(crate::dbops::DbOpsError),
    #[error(transparent)]
    Store(#[from] valet_store::StoreError),
    #[error("job payload: {0}")]
    Payload(String),
    #[error(transparent)]
    Core(#[from] valet_core::CoreError),
    /// Bad SMTP settings (the URL or environment variable); the message says how to fix it.
    #[error("SMTP settings: {0}")]
    SmtpConfig(String),
    /// An e-mail was not delivered to the SMTP server `server` (`host:port`).
    #[error("e-mail via {server}: {why}")]
    Email { server: String, why: String },
    /// A webhook was not delivered; `origin` is `scheme://host:port` only, because the rest
    /// of a webhook URL often carries a token.
    #[error("webhook to {origin}: {why}")]
    Webhook { origin: String, why: String },
    #[error("unknown job kind `{0}`; this valet knows {known}", known = crate::jobs::known_kinds())]
    UnknownJobKind(String),
    #[error("no handler for job kind `{0}` in this worker")]
    NoHandler(crate::jobs::JobKind),
    /// A hotfix request without a customer admin's signed acceptance on record: nothing may
    /// schedule or apply it.
    #[error("{key}: hotfix not accepted: {why}; nothing was done")]
    HotfixNotAccepted { key: String, why: String },
    #[error("job {job}: its lease was lost to another worker; stopped working on it")]
    LeaseLost { job: String },
}

impl From<sqlx::Error> for OpsError {
    fn from(e: sqlx::Error) -> Self {
        OpsError::Store(e.into())
    }
}

pub type Result<T, E = OpsError> = std::result::Result<T, E>;
