//! The store's one error type: each variant says what a caller (CLI, web) can do about it.

use thiserror::Error;
use valet_core::CoreError;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL `{0}`: use sqlite://PATH (the default, a file in the data \
         directory) or postgres://USER@HOST:PORT/DB"
    )]
    UnsupportedUrl(String),
    #[error("cannot open the state database at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "the state database is at schema version {found}, newer than this valet ({known}); \
         upgrade valet before using this database"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("invalid credentials")]
    Unauthenticated,
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("{0}; nothing was imported from that file")]
    Manifest(#[from] valet_core::catalog::ManifestError),
    #[error("state database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        StoreError::NotFound {
            what,
            id: id.into(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
