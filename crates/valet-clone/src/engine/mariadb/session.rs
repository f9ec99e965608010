//! Sessions: connecting, saying goodbye, the session settings of each kind of connection, and
//! the source's consistent snapshot shared by every worker.

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts};

use crate::engine::redact_url;
use crate::error::{CloneError, Message};

pub(super) fn db<E: std::error::Error + Send + Sync + 'static>(
    context: impl Into<String>,
) -> impl FnOnce(E) -> CloneError {
    let c = context.into();
    move |e| CloneError::db(c, e)
}

pub(super) fn url_with_db(url: &str, db: Option<&str>) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_path(&format!("/{}", db.unwrap_or("")));
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// A connection that says goodbye (`COM_QUIT`) however it ends: with [`Session::close`], or,
/// dropped on an error path, from a task on the runtime. A dropped `Conn` only closes its
/// socket, which the server logs as an aborted connection (on the customer's production
/// server, for a source connection).
pub(super) struct Session(Option<Conn>);

impl std::ops::Deref for Session {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.0.as_ref().expect("a session is open until closed")
    }
}

impl std::ops::DerefMut for Session {
    fn deref_mut(&mut self) -> &mut Conn {
        self.0.as_mut().expect("a session is open until closed")
    }
}

impl Session {
    pub(super) async fn close(mut self) {
        if let Some(c) = self.0.take() {
            let _ = c.disconnect().await;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let (Some(c), Ok(rt)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                let _ = c.disconnect().await;
            });
        }
    }
}

pub(super) async fn connect(url: &str, side: &'static str) -> Result<Session, CloneError> {
    let opts =
        Opts::from_url(url).map_err(|e| CloneError::Url(format!("`{}`: {e}", redact_url(url))))?;
    let conn = tokio::time::timeout(std::time::Duration::from_secs(20), Conn::new(opts))
        .await
        .map_err(|_| {
            CloneError::connect(side, redact_url(url), Message::from("timed out after 20 s"))
        })?
        .map_err(|e| CloneError::connect(side, redact_url(url), e))?;
    Ok(Session(Some(conn)))
}

pub(super) async fn source_session(url: &str) -> Result<Session, CloneError> {
    let mut c = connect(url, "source").await?;
    c.query_drop(
        "SET SESSION time_zone = '+00:00'; SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    )
    .await
    .map_err(db("set up source session"))?;
    Ok(c)
}

pub(super) async fn begin_snapshot(c: &mut Conn) -> Result<(), CloneError> {
    c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await
        .map_err(db("begin the source snapshot"))
}

/// Sessions that create the target's schema and objects (routines and triggers keep the
/// session's SQL mode, so this is the source's usual, lenient one).
pub(super) const TARGET_SESSION: &str = "SET SESSION foreign_key_checks = 0, SESSION unique_checks = 0, \
     SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', SESSION time_zone = '+00:00'";

/// Sessions that write rows: strict, so a value that does not fit its column (too long, out
/// of range, not of the column's type) is an error rather than silently cut or converted.
/// Zero dates stay allowed (no `NO_ZERO_DATE`): a source may hold them.
pub(super) const WRITE_SESSION: &str =
    "SET SESSION foreign_key_checks = 0, SESSION unique_checks = 0, \
     SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', \
     SESSION time_zone = '+00:00'";

/// Open `jobs` source connections that all see the same snapshot: a global read lock is
/// held while each opens its transaction. Without the privilege for the lock, one worker.
pub(super) async fn snapshot_workers(
    url: &str,
    jobs: usize,
) -> Result<(Vec<Session>, String), CloneError> {
    let mut locker = source_session(url).await?;
    if jobs > 1
        && locker
            .query_drop("FLUSH TABLES WITH READ LOCK")
            .await
            .is_ok()
    {
        let mut conns = Vec::new();
        let mut err = None;
        for _ in 0..jobs {
            match source_session(url).await {
                Ok(mut c) => match begin_snapshot(&mut c).await {
                    Ok(()) => conns.push(c),
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                },
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        locker
            .query_drop("UNLOCK TABLES")
            .await
            .map_err(db("release the global read lock"))?;
        locker.close().await;
        if let Some(e) = err {
            return Err(e);
        }
        return Ok((
            conns,
            format!("{jobs} consistent-snapshot transactions opened under one global read lock"),
        ));
    }
    begin_snapshot(&mut locker).await?;
    Ok((vec![locker], "one consistent-snapshot transaction".into()))
}
