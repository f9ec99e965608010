//! The crate's one error type: each variant is something a caller (or a user) can act on.
//!
//! Variants caused by another error (a driver's, the operating system's) keep it as their
//! [`source`](std::error::Error::source), and their message also shows it: a user reads one
//! line, a caller can still inspect the cause (a PostgreSQL `SqlState`, an `io::ErrorKind`).

use thiserror::Error;

/// The error behind a [`CloneError`]: the driver's or the operating system's, or a
/// [`Message`] where there is none.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A cause that is only a message: something valet found wrong itself (a stream that ended
/// early, a tool that failed), with no error of a library behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message(pub String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

impl From<&str> for Message {
    fn from(s: &str) -> Message {
        Message(s.to_string())
    }
}

impl From<String> for Message {
    fn from(s: String) -> Message {
        Message(s)
    }
}

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
    #[error("cannot connect to the {side} database {url}: {source}")]
    Connect {
        side: &'static str,
        url: String,
        #[source]
        source: Source,
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
    #[error("{context}: {source}")]
    Database {
        context: String,
        #[source]
        source: Source,
    },
    /// An external tool (pg_dump, psql) or the file system failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: Source,
    },
    /// The source and target use different engines.
    #[error("{0}")]
    Unsupported(String),
}

impl CloneError {
    /// A statement failed: `context` says what valet was doing.
    pub(crate) fn db(
        context: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        CloneError::Database {
            context: context.into(),
            source: Box::new(err),
        }
    }

    /// A tool, a task or the file system failed: `context` says what valet was doing.
    pub(crate) fn io(
        context: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        CloneError::Io {
            context: context.into(),
            source: Box::new(err),
        }
    }

    /// The `side` (`source` or `target`) database at `url` could not be reached.
    pub(crate) fn connect(
        side: &'static str,
        url: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        CloneError::Connect {
            side,
            url: url.into(),
            source: Box::new(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn messages_show_the_cause_which_stays_inspectable() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = CloneError::io("cannot read key file k", io);
        assert_eq!(e.to_string(), "cannot read key file k: no such file");
        let cause = e.source().expect("a source");
        assert_eq!(
            cause.downcast_ref::<std::io::Error>().map(|e| e.kind()),
            Some(std::io::ErrorKind::NotFound)
        );
        let e = CloneError::connect("source", "sqlite://x.db", Message::from("no such file"));
        assert_eq!(
            e.to_string(),
            "cannot connect to the source database sqlite://x.db: no such file"
        );
        assert!(e.source().is_some_and(|s| s.is::<Message>()));
        let e = CloneError::db("read t", Message::from("the COPY stream ended early"));
        assert_eq!(e.to_string(), "read t: the COPY stream ended early");
    }
}
