//! valet's state store: customers, users and API tokens, environments, the hash-chained audit
//! trail and the job queue, over **one** query layer that serves SQLite (the embedded default)
//! and PostgreSQL (for several `valet serve` / `valet worker` processes).
//!
//! The layer is sqlx's `Any` driver with portable SQL (`$N` placeholders, `BIGINT`, `TEXT`,
//! `RETURNING`); the few dialect differences (row locks, write-transaction start) are spelled out
//! where they occur. Every write that changes state appends its audit event in the same
//! transaction. Queries are tenant-scoped by the [`Actor`](valet_core::Actor) passed in: a
//! customer-side actor never reads another tenant's rows, and gets `NotFound` for them.
//!
//! This crate must not know about HTTP, the CLI or how environments are deployed.

pub mod audit;
pub mod customers;
pub mod documents;
pub mod environments;
mod error;
pub mod findings;
pub mod hotfixes;
mod migrate;
pub mod notifications;
pub mod queue;
pub mod releases;
pub mod requests;
pub mod runs;
pub mod schedules;
pub mod signatures;
pub mod users;

use std::sync::Arc;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor};

pub use error::{Result, StoreError};
pub use migrate::SCHEMA_VERSION;

/// A write transaction; every state change and its audit event share one.
pub type Tx = sqlx::Transaction<'static, Any>;

/// Which database serves the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Recognises the URL scheme, or says which schemes are accepted.
    pub fn of_url(url: &str) -> Result<Backend> {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("sqlite") => Ok(Backend::Sqlite),
            Some("postgres" | "postgresql") => Ok(Backend::Postgres),
            _ => Err(StoreError::UnsupportedUrl(url.to_string())),
        }
    }
}

/// Source of "now" for everything the store stamps; tests replace it.
pub type Clock = Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>;

/// Handle to the state database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    clock: Clock,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects without touching the schema. Use [`Store::open`] to migrate as well.
    pub async fn connect(url: &str) -> Result<Store> {
        let backend = Backend::of_url(url)?;
        sqlx::any::install_default_drivers();
        let url = match backend {
            Backend::Sqlite => sqlite_url_with_create(url)?,
            Backend::Postgres => url.to_string(),
        };
        let opts: AnyConnectOptions = url.parse().map_err(|e| StoreError::Connect {
            url: redact(&url),
            source: e,
        })?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 10,
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Connect {
                url: redact(&url),
                source: e,
            })?;
        Ok(Store {
            pool,
            backend,
            clock: Arc::new(jiff::Timestamp::now),
        })
    }

    /// Connects and applies any pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations; returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        migrate::run(self).await
    }

    /// The schema version recorded in the database (0 before the first migration).
    pub async fn schema_version(&self) -> Result<i64> {
        migrate::current_version(self).await
    }

    /// Replaces the clock (tests of time-dependent behaviour: backoff, leases).
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        self
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn now(&self) -> jiff::Timestamp {
        (self.clock)()
    }

    pub(crate) fn now_micros(&self) -> i64 {
        self.now().as_microsecond()
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`) so that read-then-write sequences cannot deadlock or fail half-way.
    pub async fn write(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `sqlite://path` → `sqlite://path?mode=rwc`, creating the parent directory.
fn sqlite_url_with_create(url: &str) -> Result<String> {
    let rest = &url["sqlite://".len()..];
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(StoreError::UnsupportedUrl(url.to_string()));
    }
    if path != ":memory:" {
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Connect {
                    url: url.to_string(),
                    source: sqlx::Error::Io(e),
                })?;
            }
        }
    }
    Ok(match query {
        Some(q) if q.contains("mode=") => url.to_string(),
        Some(q) => format!("sqlite://{path}?{q}&mode=rwc"),
        None => format!("sqlite://{path}?mode=rwc"),
    })
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// A new random identifier (UUIDv7: time-ordered, so lists sort by creation).
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_scheme_names_the_accepted_ones() {
        let err = Backend::of_url("mongodb://x").unwrap_err().to_string();
        assert!(
            err.contains("sqlite://") && err.contains("postgres://"),
            "{err}"
        );
        assert!(Backend::of_url("valet.db").is_err());
        assert_eq!(
            Backend::of_url("postgresql://h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(Backend::of_url("SQLITE://x.db").unwrap(), Backend::Sqlite);
    }

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/valet.db");
        let url = sqlite_url_with_create(&format!("sqlite://{}", p.display())).unwrap();
        assert!(url.ends_with("?mode=rwc"));
        assert!(p.parent().unwrap().is_dir());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
