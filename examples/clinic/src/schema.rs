//! The clinic database schema: forward-only migrations per release and engine (SQL files in
//! `examples/clinic/migrations/<engine>/<version>.sql`), and the `clinic_schema_version`
//! table that records which releases were applied.

use std::time::{Duration, Instant};

use anyhow::Context;
use jiff::Timestamp;
use sqlx::{AnyConnection, Connection, Executor};

use crate::db::{self, DbUrl, Engine};
use crate::release::{self, ReleaseInfo, RELEASES};
use crate::Error;

/// The SQL that brings the schema from the previous release to `version`, per engine.
struct Migration {
    version: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
    mysql: &'static str,
}

macro_rules! migration {
    ($v:literal) => {
        Migration {
            version: $v,
            sqlite: include_str!(concat!("../migrations/sqlite/", $v, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $v, ".sql")),
            mysql: include_str!(concat!("../migrations/mysql/", $v, ".sql")),
        }
    };
}

/// One entry per release, in the order of [`RELEASES`].
const MIGRATIONS: &[Migration] = &[
    migration!("24.1"),
    migration!("24.2"),
    migration!("24.2.1"),
    migration!("24.3"),
];

impl Migration {
    fn sql(&self, engine: Engine) -> &'static str {
        match engine {
            Engine::Sqlite => self.sqlite,
            Engine::Postgres => self.postgres,
            Engine::Mysql => self.mysql,
        }
    }
}

/// One migration applied: the release it brought the schema to and how long it took
/// (its SQL and the `clinic_schema_version` row, committed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub release: &'static ReleaseInfo,
    pub elapsed: Duration,
}

/// Applies the forward migrations from the database's current release (none for an empty
/// database) up to release `to` (a version like `24.2.1` or a build like `24.2.1.1201`).
/// Migrating to the release the database is already at does nothing; an older release is
/// refused with [`Error::Downgrade`]. Returns the migrations applied, oldest first.
pub async fn migrate(url: &str, to: &str) -> anyhow::Result<Vec<Applied>> {
    migrate_reporting(url, to, |_| {}).await
}

/// Like [`migrate`], calling `on_applied` as soon as each migration is committed, so that a
/// caller can report the ones that succeeded before a later one fails.
pub async fn migrate_reporting(
    url: &str,
    to: &str,
    mut on_applied: impl FnMut(&Applied),
) -> anyhow::Result<Vec<Applied>> {
    let db = DbUrl::parse(url)?;
    let target = release::require(to)?;
    let mut conn = db.connect().await?;
    let now = Timestamp::from_second(Timestamp::now().as_second())?;
    let applied = migrate_conn(db.engine, &mut conn, target, now, &mut on_applied)
        .await
        .with_context(|| format!("migrating {} to {}", db.redacted(), target.version))?;
    for a in &applied {
        tracing::info!(
            release = a.release.version,
            build = a.release.build,
            ms = a.elapsed.as_millis() as u64,
            "applied migration"
        );
    }
    conn.close().await.ok();
    Ok(applied)
}

/// The release the database schema is at (its version, e.g. `24.2.1`), or `None` for an
/// empty database.
pub async fn current_release(url: &str) -> anyhow::Result<Option<String>> {
    let db = DbUrl::parse(url)?;
    let mut conn = db.connect().await?;
    let current = current_on(db.engine, &mut conn)
        .await
        .with_context(|| format!("reading the schema release of {}", db.redacted()))?;
    conn.close().await.ok();
    Ok(current.map(|r| r.version.to_string()))
}

/// The current release on an open connection.
pub(crate) async fn current_on(
    engine: Engine,
    conn: &mut AnyConnection,
) -> anyhow::Result<Option<&'static ReleaseInfo>> {
    let tables = db::tables(engine, conn).await?;
    if !tables.iter().any(|t| t == "clinic_schema_version") {
        if tables.is_empty() {
            return Ok(None);
        }
        return Err(Error::NotClinic {
            tables: tables.join(", "),
        }
        .into());
    }
    let sql = format!(
        "SELECT {} FROM clinic_schema_version",
        engine.text(&quote_release(engine))
    );
    let applied: Vec<String> = sqlx::query_scalar(&sql).fetch_all(&mut *conn).await?;
    let mut newest: Option<&'static ReleaseInfo> = None;
    for version in &applied {
        let r = release::find(version).with_context(|| {
            format!(
                "the database was migrated to release {version}, which this clinic build does \
                 not know (newest known: {}); use a newer clinic build",
                release::latest().version
            )
        })?;
        if newest.is_none_or(|n| r.position() > n.position()) {
            newest = Some(r);
        }
    }
    match newest {
        Some(r) => Ok(Some(r)),
        None => anyhow::bail!(
            "clinic_schema_version exists but is empty: an earlier migration stopped half-way \
             (MySQL commits DDL statement by statement); restore the database from a backup \
             or drop its tables and migrate again"
        ),
    }
}

/// Applies the migrations after the current release up to `target`, recording each in
/// `clinic_schema_version` with `applied_at`, and timing each. Returns the migrations
/// applied, oldest first, after passing each to `on_applied`.
pub(crate) async fn migrate_conn(
    engine: Engine,
    conn: &mut AnyConnection,
    target: &'static ReleaseInfo,
    applied_at: Timestamp,
    on_applied: &mut dyn FnMut(&Applied),
) -> anyhow::Result<Vec<Applied>> {
    let current = current_on(engine, conn).await?;
    if let Some(current) = current {
        if current.position() > target.position() {
            return Err(Error::Downgrade {
                current: current.version.into(),
                requested: target.version.into(),
            }
            .into());
        }
    }
    let first = current.map_or(0, |c| c.position() + 1);
    let mut applied = Vec::new();
    for (release, migration) in RELEASES
        .iter()
        .zip(MIGRATIONS)
        .take(target.position() + 1)
        .skip(first)
    {
        let started = Instant::now();
        apply(engine, conn, release, migration, applied_at)
            .await
            .with_context(|| {
                format!(
                    "migration to {} ({}) failed on {}",
                    release.version,
                    release.build,
                    engine.name()
                )
            })?;
        let done = Applied {
            release,
            elapsed: started.elapsed(),
        };
        on_applied(&done);
        applied.push(done);
    }
    Ok(applied)
}

async fn apply(
    engine: Engine,
    conn: &mut AnyConnection,
    release: &ReleaseInfo,
    migration: &Migration,
    applied_at: Timestamp,
) -> anyhow::Result<()> {
    debug_assert_eq!(release.version, migration.version);
    let record = format!(
        "INSERT INTO clinic_schema_version ({}, build, applied_at) VALUES ('{}', '{}', '{}')",
        quote_release(engine),
        release.version,
        release.build,
        applied_at
    );
    match engine {
        // DDL is transactional here: a failed step leaves the schema as it was.
        Engine::Sqlite | Engine::Postgres => {
            let mut tx = conn.begin().await?;
            tx.execute(sqlx::raw_sql(migration.sql(engine))).await?;
            tx.execute(sqlx::raw_sql(&record)).await?;
            tx.commit().await?;
        }
        // MySQL commits every DDL statement on its own.
        Engine::Mysql => {
            conn.execute(sqlx::raw_sql(migration.sql(engine))).await?;
            conn.execute(sqlx::raw_sql(&record)).await?;
        }
    }
    Ok(())
}

/// The `release` column name, quoted (it is a reserved word in MySQL).
fn quote_release(engine: Engine) -> String {
    match engine {
        Engine::Mysql => "`release`".into(),
        Engine::Sqlite | Engine::Postgres => "\"release\"".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_is_one_migration_per_release_in_order() {
        assert_eq!(MIGRATIONS.len(), RELEASES.len());
        for (m, r) in MIGRATIONS.iter().zip(RELEASES) {
            assert_eq!(m.version, r.version);
            for engine in [Engine::Sqlite, Engine::Postgres, Engine::Mysql] {
                assert!(
                    m.sql(engine).contains(&format!("clinic {}", r.version)),
                    "{} migration for {} must say which release it is",
                    engine.name(),
                    r.version
                );
            }
        }
    }
}
