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
    #[error(transparent)]
    Core(#[from] valet_core::CoreError),
}

impl From<sqlx::Error> for OpsError {
    fn from(e: sqlx::Error) -> Self {
        OpsError::Store(e.into())
    }
}

pub type Result<T, E = OpsError> = std::result::Result<T, E>;
