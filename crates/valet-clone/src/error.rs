//! The crate's one error type: each variant is something a caller (or a user) can act on.

use thiserror::Error;

/// Why a clone (or a policy suggestion) did not happen.
#[derive(Debug, Error)]
pub enum CloneError {
    /// The policy file is malformed, names something that does not exist, or uses an unknown
    /// transformer or option. `line` points into the policy file when known.
    #[error("{origin}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Policy {
        origin: String,
        line: Option<usize>,
        message: String,
    },
    /// Some source columns are not classified by the policy; nothing was written.
    #[error(
        "{count} column(s) of the source are not classified by the policy, so nothing was \
         written; add them to the policy (review each suggestion):\n\n{snippet}"
    )]
    Unclassified { count: usize, snippet: String },
    /// Some columns are still marked `"review"` (by `policy suggest`, which had no evidence
    /// about them); nothing was written.
    #[error(
        "{count} column(s) are still marked \"review\" in the policy, so nothing was written; \
         decide each (a transformer, or \"keep\" when it holds nothing about people):\n\n{list}"
    )]
    Review { count: usize, list: String },
    /// A database URL that cannot be used.
    #[error("{0}")]
    Url(String),
    /// A database could not be reached or refused the connection.
    #[error("cannot connect to the {side} database {url}: {message}")]
    Connect {
        side: &'static str,
        url: String,
        message: String,
    },
    /// The target holds a completed clone or unrelated data and `--replace` was not given.
    #[error("{0}")]
    TargetExists(String),
    /// A transformer cannot be applied to a column (type mismatch, bad value).
    #[error("{table}.{column}: {message}")]
    Transform {
        table: String,
        column: String,
        message: String,
    },
    /// The target refused a row (a value too long for its column, out of range, of the wrong
    /// type): nothing is truncated or converted silently. Names the table, the column when
    /// known and the first offending row by its key; never the value.
    #[error(
        "write {table}{}{}: {message}",
        column.as_ref().map(|c| format!(".{c}")).unwrap_or_default(),
        row.as_ref().map(|r| format!(" (row {r})")).unwrap_or_default()
    )]
    Write {
        table: String,
        column: Option<String>,
        /// The row's key (`id = 17`), or its place in the source when it has no key.
        row: Option<String>,
        message: String,
    },
    /// The leak scan found source PII in the target; the target was dropped.
    #[error(
        "leak scan found {hits} value(s) of source PII in the target, which was dropped: {summary}"
    )]
    Leak { hits: u64, summary: String },
    /// A statement against the source or target failed.
    #[error("{context}: {message}")]
    Database { context: String, message: String },
    /// An external tool (pg_dump, psql) or the file system failed.
    #[error("{context}: {message}")]
    Io { context: String, message: String },
    /// The source and target use different engines.
    #[error("{0}")]
    Unsupported(String),
}

impl CloneError {
    pub(crate) fn db(context: impl Into<String>, err: impl std::fmt::Display) -> Self {
        CloneError::Database {
            context: context.into(),
            message: err.to_string(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, err: impl std::fmt::Display) -> Self {
        CloneError::Io {
            context: context.into(),
            message: err.to_string(),
        }
    }
}
