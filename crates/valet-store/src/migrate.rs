//! Versioned migrations, embedded in the binary and applied at start-up.
//!
//! Each migration runs in its own transaction with its row in `schema_migrations`; a
//! migration's text is never edited after it lands (its checksum is recorded and checked).
//! On PostgreSQL an advisory lock keeps two processes starting together from racing.

use sha2::{Digest, Sha256};
use sqlx::{Acquire, Executor, Row};

use crate::{Backend, Result, Store, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    /// The SQL for SQLite and for PostgreSQL: the same text unless a feature (full-text
    /// search) has no portable spelling.
    sqlite: &'static str,
    postgres: &'static str,
}

impl Migration {
    fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sqlite: include_str!("../migrations/0001_init.sql"),
        postgres: include_str!("../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "releases",
        sqlite: include_str!("../migrations/0002_releases.sqlite.sql"),
        postgres: include_str!("../migrations/0002_releases.postgres.sql"),
    },
    Migration {
        version: 3,
        name: "sessions",
        sqlite: include_str!("../migrations/0003_sessions.sql"),
        postgres: include_str!("../migrations/0003_sessions.sql"),
    },
    Migration {
        version: 4,
        name: "requests",
        sqlite: include_str!("../migrations/0004_requests.sql"),
        postgres: include_str!("../migrations/0004_requests.sql"),
    },
    Migration {
        version: 5,
        name: "schedule",
        sqlite: include_str!("../migrations/0005_schedule.sql"),
        postgres: include_str!("../migrations/0005_schedule.sql"),
    },
    Migration {
        version: 6,
        name: "hotfixes",
        sqlite: include_str!("../migrations/0006_hotfixes.sql"),
        postgres: include_str!("../migrations/0006_hotfixes.sql"),
    },
];

/// The schema version this build of valet expects.
pub const SCHEMA_VERSION: i64 = 6;

const LOCK_KEY: i64 = 0x7661_6c65_745f_6d67; // "valet_mg"

pub(crate) async fn run(store: &Store) -> Result<Vec<i64>> {
    let mut conn = store.pool().acquire().await?;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
    .await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(LOCK_KEY)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply_pending(store, &mut conn).await;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(LOCK_KEY)
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply_pending(store: &Store, conn: &mut sqlx::AnyConnection) -> Result<Vec<i64>> {
    let rows = sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await?;
    let mut applied = Vec::with_capacity(rows.len());
    for row in rows {
        let version: i64 = row.try_get("version")?;
        let checksum: String = row.try_get("checksum")?;
        applied.push((version, checksum));
    }
    if let Some(&(found, _)) = applied.last() {
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                known: SCHEMA_VERSION,
            });
        }
    }
    let mut done = Vec::new();
    for m in MIGRATIONS {
        let sql = m.sql(store.backend());
        let sum = hex::encode(Sha256::digest(sql.as_bytes()));
        if let Some((_, recorded)) = applied.iter().find(|(v, _)| *v == m.version) {
            if *recorded != sum {
                return Err(StoreError::Corrupt(format!(
                    "migration {} ({}) was changed after it was applied to this database; \
                     migrations must never be edited — add a new one instead",
                    m.version, m.name
                )));
            }
            continue;
        }
        let fail = |source| StoreError::Migration {
            version: m.version,
            name: m.name,
            source,
        };
        let mut tx = conn.begin().await.map_err(fail)?;
        tx.execute(sql).await.map_err(fail)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(&sum)
        .bind(store.now_micros())
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        done.push(m.version);
    }
    Ok(done)
}

/// The schema version recorded in the database (0 when none is applied).
pub(crate) async fn current_version(store: &Store) -> Result<i64> {
    let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(store.pool())
        .await?;
    Ok(v.unwrap_or(0))
}
