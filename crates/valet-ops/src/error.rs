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
    #[error(transparent)]
    Store(#[from] valet_store::StoreError),
    #[error("job payload: {0}")]
    Payload(String),
    #[error("unknown job kind `{0}`; this valet knows {known}", known = crate::jobs::known_kinds())]
    UnknownJobKind(String),
    #[error("no handler for job kind `{0}` in this worker")]
    NoHandler(crate::jobs::JobKind),
    #[error("job {job}: its lease was lost to another worker; stopped working on it")]
    LeaseLost { job: String },
}

pub type Result<T, E = OpsError> = std::result::Result<T, E>;
