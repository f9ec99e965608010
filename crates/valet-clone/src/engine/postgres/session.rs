//! Sessions: connecting, the source's snapshot transaction, and how PostgreSQL errors read.

use tokio_postgres::{Client, NoTls};

use crate::engine::redact_url;
use crate::error::{CloneError, Message};

/// A PostgreSQL error as valet shows it: the server's severity, message and detail (with a
/// hint for text the encodings refuse), or the client's error with its causes.
#[derive(Debug)]
pub(super) struct PgError(pub(super) tokio_postgres::Error);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&pgerr(&self.0))
    }
}

impl std::error::Error for PgError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

pub(super) fn pgerr(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => {
            let mut m = format!("{}: {}", d.severity(), d.message());
            if let Some(detail) = d.detail() {
                m.push_str(&format!(" ({detail})"));
            }
            if *d.code() == tokio_postgres::error::SqlState::CHARACTER_NOT_IN_REPERTOIRE {
                m.push_str(
                    " — text that is not valid UTF-8 (a SQL_ASCII database holding Latin-1 \
                     bytes, for one) or has no place in the other database's encoding; valet \
                     moves text as UTF-8: fix those values, or convert the database to UTF8 first",
                );
            }
            m
        }
        None => {
            let mut m = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(s) = src {
                m.push_str(&format!(": {s}"));
                src = s.source();
            }
            m
        }
    }
}

pub(super) fn db(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> CloneError {
    let c = context.into();
    move |e| CloneError::db(c, PgError(e))
}

pub(super) async fn connect(url: &str, side: &'static str) -> Result<Client, CloneError> {
    let (client, conn) = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tokio_postgres::connect(url, NoTls),
    )
    .await
    .map_err(|_| CloneError::connect(side, redact_url(url), Message::from("timed out after 20 s")))?
    .map_err(|e| CloneError::connect(side, redact_url(url), PgError(e)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("postgres connection ended: {e}");
        }
    });
    Ok(client)
}

pub(super) const SESSION: &str =
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; \
                       SET extra_float_digits = 3; SET statement_timeout = 0; \
                       SET synchronize_seqscans = off;";

pub(super) async fn source_session(
    url: &str,
    snapshot: Option<&str>,
) -> Result<Client, CloneError> {
    let c = connect(url, "source").await?;
    c.batch_execute(SESSION)
        .await
        .map_err(db("set up source session"))?;
    c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(db("begin snapshot transaction"))?;
    if let Some(s) = snapshot {
        c.batch_execute(&format!(
            "SET TRANSACTION SNAPSHOT '{}'",
            s.replace('\'', "''")
        ))
        .await
        .map_err(db("import the source snapshot"))?;
    }
    Ok(c)
}

/// End a source session's read-only transaction before the connection goes: a session
/// closed inside a transaction is logged by the server ("unexpected EOF on client connection
/// with an open transaction"), in the production server's log.
pub(super) async fn end_read(src: &Client) {
    let _ = src.batch_execute("COMMIT").await;
}
