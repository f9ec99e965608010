//! Database primitives of the upgrade runbook: a consistent backup taken with the engine's own
//! fastest means, proof that it restores, the rollback itself, and per-table checksums that
//! tell "same data" from "changed data".
//!
//! The app is stopped while these run: no other session writes. Methods, chosen for downtime
//! (see `docs/upgrade-runbook.md`, "Backups"):
//! - PostgreSQL: `CREATE DATABASE <label> TEMPLATE <db> STRATEGY = FILE_COPY` (a file-level
//!   copy on the same server); restore drops the failed database and renames the backup into
//!   its place (instant; the backup is consumed).
//! - MariaDB: a copy inside the server (`CREATE TABLE` as `SHOW CREATE TABLE` says, then
//!   `INSERT … SELECT`) into database `<label>`, with views, triggers, routines and events
//!   recorded in a manifest table; restore recreates the database, moves the tables back with
//!   one atomic `RENAME TABLE` (instant; the backup is consumed) and recreates the objects.
//! - SQLite: the online backup API into `<dir>/<label>.db`; restore copies it back through
//!   the same API, so SQLite itself deals with the target's WAL.
//!
//! Nothing here writes a password: errors name the server (`engine://host:port`) and are
//! scrubbed of the URL's password; a [`Backup`] holds a database name or a file path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::{Connection, Row};

use crate::driver::scrub_text;
use crate::error::{OpsError, Result};
use crate::proddb::server_key;

/// Where a backup of one database lives and how it was taken.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Backup {
    /// `sqlite` | `postgres` | `mysql`.
    pub engine: String,
    /// `sqlite-online-backup` | `createdb-template` | `mariadb-copy-tables`.
    pub method: String,
    /// A database name on the same server, or a file path; never a URL.
    pub location: String,
    pub bytes: Option<u64>,
    pub took_ms: u64,
}

/// Checksums of every base table, by table name (`schema.table` outside PostgreSQL's `public`).
pub type Checksums = BTreeMap<String, TableSum>;

/// One table's row count, content checksum and shape.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableSum {
    pub rows: u64,
    /// SHA-256 hex of the engine's order-independent digest of all rows (see
    /// [`table_checksums`]).
    pub sha256: String,
    /// `name type` per column, in column order.
    pub columns: Vec<String>,
}

/// What went wrong in a database operation; every message is free of passwords.
#[derive(Debug, thiserror::Error)]
pub enum DbOpsError {
    /// The URL is not one valet can back up, or a label is not a safe identifier.
    #[error("{0}")]
    Input(String),
    /// The server refused or failed a statement.
    #[error("{server}: {what}: {why}")]
    Engine {
        server: String,
        what: String,
        why: String,
    },
    /// The backup named in a [`Backup`] is not there (dropped, or consumed by a restore).
    #[error("backup `{location}` on {server} does not exist ({why})")]
    Missing {
        server: String,
        location: String,
        why: String,
    },
    /// The backup's content differs from the expected checksums.
    #[error("backup `{location}` does not match: {}", .differences.join("; "))]
    Mismatch {
        location: String,
        /// One entry per differing table, naming it.
        differences: Vec<String>,
    },
}

impl From<DbOpsError> for OpsError {
    fn from(e: DbOpsError) -> Self {
        OpsError::Database(e)
    }
}

/// SQLite file suffixes that belong to a database file.
const SQLITE_COMPANIONS: [&str; 4] = ["", "-wal", "-shm", "-journal"];
/// MariaDB: the table in a backup database that lists what the backup holds.
const MANIFEST: &str = "_valet_backup";

enum Target {
    Sqlite(PathBuf),
    Postgres { url: String, db: String },
    MySql { url: String, db: String },
}

impl Target {
    fn parse(url: &str) -> Result<Target, DbOpsError> {
        let parsed = valet_clone::DbUrl::parse(url)
            .map_err(|e| DbOpsError::Input(scrub_text(&e.to_string(), url)))?;
        Ok(match parsed {
            valet_clone::DbUrl::Sqlite(p) => Target::Sqlite(p),
            valet_clone::DbUrl::Postgres(u) => Target::Postgres {
                db: db_name(&u)?,
                url: u,
            },
            valet_clone::DbUrl::MySql(u) => Target::MySql {
                db: db_name(&u)?,
                url: u,
            },
        })
    }

    fn engine(&self) -> &'static str {
        match self {
            Target::Sqlite(_) => "sqlite",
            Target::Postgres { .. } => "postgres",
            Target::MySql { .. } => "mysql",
        }
    }
}

/// The database named in a server URL's path.
fn db_name(url: &str) -> Result<String, DbOpsError> {
    let u = url::Url::parse(url).map_err(|e| DbOpsError::Input(format!("bad URL: {e}")))?;
    let raw = u.path().trim_start_matches('/');
    Ok(percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned())
}

/// `url` with its database replaced by `db`.
fn with_db(url: &str, db: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_path(&format!("/{db}"));
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

fn check_label(label: &str) -> Result<(), DbOpsError> {
    let ok = !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !label.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(DbOpsError::Input(format!(
            "backup label `{label}` must be 1–63 characters of [a-z0-9_], not starting with a digit"
        )))
    }
}

fn check_engine(t: &Target, b: &Backup) -> Result<(), DbOpsError> {
    if t.engine() == b.engine {
        Ok(())
    } else {
        Err(DbOpsError::Input(format!(
            "backup `{}` is a {} backup but the database is {}",
            b.location,
            b.engine,
            t.engine()
        )))
    }
}

/// An error-mapping closure for a statement on the server of `url`.
fn engine_err<E: std::fmt::Display>(
    url: &str,
    what: impl Into<String>,
) -> impl FnOnce(E) -> DbOpsError {
    let server = server_key(url);
    let what = what.into();
    let url = url.to_string();
    move |e| DbOpsError::Engine {
        server,
        what,
        why: scrub_text(&e.to_string(), &url),
    }
}

fn hex_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// Takes a consistent backup of the database at `url` (the app is stopped: no other sessions
/// write). `dir` is a directory valet owns (SQLite backups go there); `label` names the backup
/// (`[a-z0-9_]`, unique per run and environment). Idempotent: an existing backup with that
/// label (a resumed run) is dropped and taken again.
///
/// PostgreSQL terminates every other session on the database first (a template copy needs
/// that); the backup database gets the source's owner, database-level grants and settings.
pub async fn backup(url: &str, dir: &Path, label: &str) -> Result<Backup> {
    check_label(label)?;
    let started = Instant::now();
    let (method, location, bytes) = match Target::parse(url)? {
        Target::Sqlite(src) => {
            let dst = dir.join(format!("{label}.db"));
            let (s, d) = (src.clone(), dst.clone());
            let bytes = blocking(move || sqlite::backup(&s, &d)).await?;
            ("sqlite-online-backup", dst.display().to_string(), bytes)
        }
        Target::Postgres { url, db } => {
            let bytes = postgres::backup(&url, &db, label).await?;
            ("createdb-template", label.to_string(), bytes)
        }
        Target::MySql { url, db } => {
            let bytes = mysql::backup(&url, &db, label).await?;
            ("mariadb-copy-tables", label.to_string(), bytes)
        }
    };
    Ok(Backup {
        engine: Target::parse(url)?.engine().to_string(),
        method: method.to_string(),
        location,
        bytes,
        took_ms: ms(started),
    })
}

/// Proves the backup restores to `expected`: its tables, row counts, checksums and columns.
/// SQLite restores it into a scratch file beside it (the backup API, as [`restore`] does) and
/// removes the file. PostgreSQL and MariaDB restore by renaming the backup's database or
/// tables, so the backup database itself is what a restore brings back: it is checksummed in
/// place, without a copy. A difference is a [`DbOpsError::Mismatch`] naming each table.
pub async fn verify_restorable(url: &str, backup: &Backup, expected: &Checksums) -> Result<()> {
    let t = Target::parse(url)?;
    check_engine(&t, backup)?;
    let actual = match t {
        Target::Sqlite(_) => {
            let src = sqlite_backup_file(backup)?;
            let scratch = PathBuf::from(format!("{}.verify", backup.location));
            blocking(move || {
                remove_sqlite(&scratch)?;
                let r = sqlite::restore(&src, &scratch).and_then(|()| sqlite::checksums(&scratch));
                remove_sqlite(&scratch)?;
                r
            })
            .await?
        }
        _ => backup_checksums(url, backup).await?,
    };
    compare(&backup.location, expected, &actual)?;
    Ok(())
}

/// Checksums of what the backup holds, read from the backup itself (the SQLite file, the
/// PostgreSQL or MariaDB backup database). Equal to [`table_checksums`] of the database when
/// the backup was taken, so a runbook may take the pre-upgrade checksums from the backup
/// while the migration runs, instead of before the backup inside the downtime window (the
/// backup needs the database to itself on PostgreSQL).
pub async fn backup_checksums(url: &str, backup: &Backup) -> Result<Checksums> {
    let t = Target::parse(url)?;
    check_engine(&t, backup)?;
    Ok(match t {
        Target::Sqlite(_) => {
            let src = sqlite_backup_file(backup)?;
            blocking(move || sqlite::checksums(&src)).await?
        }
        Target::Postgres { url, .. } => {
            if !postgres::exists(&url, &backup.location).await? {
                return Err(DbOpsError::Missing {
                    server: server_key(&url),
                    location: backup.location.clone(),
                    why: "no such database".into(),
                }
                .into());
            }
            postgres::checksums(&with_db(&url, &backup.location)).await?
        }
        Target::MySql { url, .. } => {
            mysql::manifest(&url, &backup.location).await?;
            let mut sums = mysql::checksums(&url, &backup.location).await?;
            sums.remove(MANIFEST);
            sums
        }
    })
}

/// The file of a SQLite backup, which must exist.
fn sqlite_backup_file(backup: &Backup) -> Result<PathBuf, DbOpsError> {
    let p = PathBuf::from(&backup.location);
    if p.exists() {
        Ok(p)
    } else {
        Err(DbOpsError::Missing {
            server: "sqlite://localhost".into(),
            location: backup.location.clone(),
            why: "no such file".into(),
        })
    }
}

/// Each table whose rows, checksum or columns differ between `expected` and `actual`.
fn compare(location: &str, expected: &Checksums, actual: &Checksums) -> Result<(), DbOpsError> {
    let mut differences = Vec::new();
    for (name, want) in expected {
        match actual.get(name) {
            None => differences.push(format!("table `{name}` is missing")),
            Some(got) if got.columns != want.columns => differences.push(format!(
                "table `{name}` has columns ({}) instead of ({})",
                got.columns.join(", "),
                want.columns.join(", ")
            )),
            Some(got) if got.rows != want.rows => differences.push(format!(
                "table `{name}` has {} rows instead of {}",
                got.rows, want.rows
            )),
            Some(got) if got.sha256 != want.sha256 => differences.push(format!(
                "table `{name}` has the same {} rows but different content",
                got.rows
            )),
            Some(_) => {}
        }
    }
    for name in actual.keys().filter(|n| !expected.contains_key(*n)) {
        differences.push(format!("table `{name}` is not expected"));
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(DbOpsError::Mismatch {
            location: location.to_string(),
            differences,
        })
    }
}

/// Replaces the database at `url` with the backup (the rollback). Afterwards
/// [`table_checksums`] equals what it was when the backup was taken, and the schema objects
/// (views, triggers, routines) are those of then. PostgreSQL terminates other sessions on
/// `url` first. PostgreSQL and MariaDB consume the backup (it is moved into place, which is
/// what makes this instant); SQLite keeps its file. Safe to run again after an interruption.
pub async fn restore(url: &str, backup: &Backup) -> Result<()> {
    let t = Target::parse(url)?;
    check_engine(&t, backup)?;
    match t {
        Target::Sqlite(dst) => {
            let src = PathBuf::from(&backup.location);
            blocking(move || {
                if !src.exists() {
                    return Err(DbOpsError::Missing {
                        server: "sqlite://localhost".into(),
                        location: src.display().to_string(),
                        why: "no such file".into(),
                    });
                }
                sqlite::restore(&src, &dst)
            })
            .await?
        }
        Target::Postgres { url, db } => postgres::restore(&url, &db, &backup.location).await?,
        Target::MySql { url, db } => mysql::restore(&url, &db, &backup.location).await?,
    }
    Ok(())
}

/// Removes a backup; nothing to do when it is already gone (or was consumed by a restore).
pub async fn drop_backup(url: &str, backup: &Backup) -> Result<()> {
    let t = Target::parse(url)?;
    check_engine(&t, backup)?;
    match t {
        Target::Sqlite(_) => {
            let p = PathBuf::from(&backup.location);
            blocking(move || remove_sqlite(&p)).await?
        }
        Target::Postgres { url, .. } => postgres::drop_db(&url, &backup.location).await?,
        Target::MySql { url, .. } => mysql::drop_db(&url, &backup.location).await?,
    }
    Ok(())
}

/// Checksums of every base table (not views) of the database at `url`.
///
/// The digest is deterministic per engine and independent of the rows' physical order; it is
/// not comparable across engines. PostgreSQL: two sums of 64-bit `hash_record_extended` of
/// each row, computed by the server (values equal by their type's equality hash alike, e.g.
/// numeric `1.0` and `1.00`); tables with a column type that has no hash function use
/// `hashtextextended` of the row's text instead (with fixed date, time zone and float settings).
/// MariaDB: `CHECKSUM TABLE` (depends on the row format, which a backup keeps). SQLite: the sum
/// of the first 128 bits of each row's SHA-256 over its typed values. `sha256` is the SHA-256
/// of `rows:digest`.
pub async fn table_checksums(url: &str) -> Result<Checksums> {
    Ok(match Target::parse(url)? {
        Target::Sqlite(p) => blocking(move || sqlite::checksums(&p)).await?,
        Target::Postgres { url, .. } => postgres::checksums(&url).await?,
        Target::MySql { url, db } => mysql::checksums(&url, &db).await?,
    })
}

/// PostgreSQL: `CHECKPOINT`, so that the checkpoint a `createdb-template` backup starts with has
/// little left to write. Run while users still work, it moves the flush of the server's dirty
/// buffers (rows written and hint bits set since the last checkpoint: gigabytes after a bulk
/// load or a first full read) out of the downtime window. Needs a superuser or, from
/// PostgreSQL 15, the `pg_checkpoint` role. Returns whether it ran (`false` on other engines).
pub async fn checkpoint(url: &str) -> Result<bool> {
    Ok(match Target::parse(url)? {
        Target::Postgres { url, .. } => {
            postgres::checkpoint(&url).await?;
            true
        }
        _ => false,
    })
}

/// One table's rows and how many of them were written (inserted or updated) after a
/// [`write_horizon`]; see [`rows_written_since`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableRows {
    pub rows: u64,
    /// Rows whose current version was written at or after the horizon (0 when not asked).
    pub written: u64,
    /// `name type` per column, in column order (as in [`TableSum`]).
    pub columns: Vec<String>,
}

/// PostgreSQL: the first transaction id not yet assigned on the server (64-bit, with its
/// epoch). Every row version written afterwards carries an `xmin` at or after it, so
/// [`rows_written_since`] can prove a table was not written since. `None` on other engines.
pub async fn write_horizon(url: &str) -> Result<Option<u64>> {
    Ok(match Target::parse(url)? {
        Target::Postgres { url, .. } => Some(postgres::write_horizon(&url).await?),
        _ => None,
    })
}

/// PostgreSQL: every base table's row count and the number of its rows written (inserted or
/// updated, by any transaction) at or after `horizon` from [`write_horizon`] — one scan per
/// table that reads each row's `xmin`, several times cheaper than a checksum. A table with no
/// row written since the horizon and as many rows as when the horizon was read holds exactly
/// the rows it held then: nothing was inserted or updated, so nothing deleted can have been
/// made up for. `horizon = None` only counts. A row frozen more than 2^31 transactions ago may
/// be counted as written (a false alarm, never a miss).
pub async fn rows_written_since(
    url: &str,
    horizon: Option<u64>,
) -> Result<BTreeMap<String, TableRows>> {
    match Target::parse(url)? {
        Target::Postgres { url, .. } => Ok(postgres::rows_written_since(&url, horizon).await?),
        t => Err(DbOpsError::Input(format!(
            "rows written since a transaction horizon are known on PostgreSQL only, not {}",
            t.engine()
        ))
        .into()),
    }
}

/// [`rows_written_since`] of a PostgreSQL backup database, counting only.
pub async fn backup_rows(url: &str, backup: &Backup) -> Result<BTreeMap<String, TableRows>> {
    let t = Target::parse(url)?;
    check_engine(&t, backup)?;
    match t {
        Target::Postgres { url, .. } => {
            if !postgres::exists(&url, &backup.location).await? {
                return Err(DbOpsError::Missing {
                    server: server_key(&url),
                    location: backup.location.clone(),
                    why: "no such database".into(),
                }
                .into());
            }
            Ok(postgres::rows_written_since(&with_db(&url, &backup.location), None).await?)
        }
        t => Err(DbOpsError::Input(format!(
            "row counts of a backup are read on PostgreSQL only, not {}",
            t.engine()
        ))
        .into()),
    }
}

/// Definitions of the schema objects of the database at `url`, keyed `kind name`: tables
/// (columns, constraints and indexes), views, triggers, routines. For comparing a schema
/// before and after a restore; the texts are the engine's own and not portable.
pub async fn schema_objects(url: &str) -> Result<BTreeMap<String, String>> {
    Ok(match Target::parse(url)? {
        Target::Sqlite(p) => blocking(move || sqlite::schema_objects(&p)).await?,
        Target::Postgres { url, .. } => postgres::schema_objects(&url).await?,
        Target::MySql { url, db } => mysql::schema_objects(&url, &db).await?,
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DbOpsError> + Send + 'static,
) -> Result<T, DbOpsError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DbOpsError::Input(format!("SQLite worker thread failed: {e}")))?
}

/// Removes a SQLite file and its companions.
fn remove_sqlite(p: &Path) -> Result<(), DbOpsError> {
    for suffix in SQLITE_COMPANIONS {
        let f = PathBuf::from(format!("{}{suffix}", p.display()));
        match std::fs::remove_file(&f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(DbOpsError::Engine {
                    server: "sqlite://localhost".into(),
                    what: format!("remove {}", f.display()),
                    why: e.to_string(),
                })
            }
        }
    }
    Ok(())
}

mod sqlite {
    use super::*;
    use rusqlite::backup::Backup as SqliteBackup;
    use rusqlite::types::ValueRef;
    use rusqlite::{Connection, OpenFlags};

    fn err(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> DbOpsError {
        let what = what.into();
        move |e| DbOpsError::Engine {
            server: "sqlite://localhost".into(),
            what,
            why: e.to_string(),
        }
    }

    /// Copies every page of `src` into `dst` in one step (the app is stopped: nothing to
    /// interleave with).
    fn copy(src: &Connection, dst: &mut Connection, what: &str) -> Result<(), DbOpsError> {
        SqliteBackup::new(src, dst)
            .and_then(|b| b.run_to_completion(i32::MAX, Duration::ZERO, None))
            .map_err(err(what))
    }

    pub(super) fn backup(src: &Path, dst: &Path) -> Result<Option<u64>, DbOpsError> {
        if !src.exists() {
            return Err(DbOpsError::Missing {
                server: "sqlite://localhost".into(),
                location: src.display().to_string(),
                why: "the database file to back up does not exist".into(),
            });
        }
        remove_sqlite(dst)?;
        let s = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(err(format!("open {}", src.display())))?;
        let mut d = Connection::open(dst).map_err(err(format!("create {}", dst.display())))?;
        copy(
            &s,
            &mut d,
            &format!("back up {} to {}", src.display(), dst.display()),
        )?;
        // A rollback journal keeps the backup one self-contained file.
        d.pragma_update(None, "journal_mode", "DELETE")
            .map_err(err("set the backup's journal mode"))?;
        drop(d);
        Ok(std::fs::metadata(dst).ok().map(|m| m.len()))
    }

    /// Writes `src`'s content into the database `dst` through the backup API (so SQLite
    /// handles `dst`'s journal or WAL), then checkpoints so no WAL is left behind.
    pub(super) fn restore(src: &Path, dst: &Path) -> Result<(), DbOpsError> {
        let s = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(err(format!("open {}", src.display())))?;
        let mut d = Connection::open(dst).map_err(err(format!("open {}", dst.display())))?;
        copy(
            &s,
            &mut d,
            &format!("restore {} from {}", dst.display(), src.display()),
        )?;
        d.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(err("checkpoint the restored database"))?;
        d.close()
            .map_err(|(_, e)| err("close the restored database")(e))
    }

    fn tables(c: &Connection) -> Result<Vec<String>, DbOpsError> {
        let mut st = c
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
            .map_err(err("list tables"))?;
        let names = st
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(err("list tables"));
        names
    }

    fn q(name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }

    pub(super) fn checksums(path: &Path) -> Result<Checksums, DbOpsError> {
        let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(err(format!("open {}", path.display())))?;
        let mut out = Checksums::new();
        for t in tables(&c)? {
            let what = format!("checksum table `{t}`");
            let mut st = c
                .prepare(&format!("SELECT * FROM {}", q(&t)))
                .map_err(err(what.clone()))?;
            let n = st.column_count();
            let mut rows = st.query([]).map_err(err(what.clone()))?;
            let (mut count, mut sum) = (0u64, 0u128);
            let mut buf = Vec::with_capacity(256);
            while let Some(r) = rows.next().map_err(err(what.clone()))? {
                buf.clear();
                for i in 0..n {
                    match r.get_ref(i).map_err(err(what.clone()))? {
                        ValueRef::Null => buf.push(0),
                        ValueRef::Integer(v) => {
                            buf.push(1);
                            buf.extend_from_slice(&v.to_le_bytes());
                        }
                        ValueRef::Real(v) => {
                            buf.push(2);
                            buf.extend_from_slice(&v.to_bits().to_le_bytes());
                        }
                        ValueRef::Text(v) | ValueRef::Blob(v) => {
                            buf.push(3);
                            buf.extend_from_slice(&(v.len() as u64).to_le_bytes());
                            buf.extend_from_slice(v);
                        }
                    }
                }
                let h = Sha256::digest(&buf);
                let mut first = [0u8; 16];
                first.copy_from_slice(&h[..16]);
                sum = sum.wrapping_add(u128::from_le_bytes(first));
                count += 1;
            }
            drop(rows);
            let mut cols = c
                .prepare(&format!(
                    "SELECT name, type FROM pragma_table_info({})",
                    lit(&t)
                ))
                .map_err(err(what.clone()))?;
            let columns = cols
                .query_map([], |r| {
                    Ok(format!(
                        "{} {}",
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?
                    ))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(err(what))?;
            out.insert(
                t,
                TableSum {
                    rows: count,
                    sha256: hex_sha256(&format!("{count}:{sum:032x}")),
                    columns,
                },
            );
        }
        Ok(out)
    }

    fn lit(s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }

    pub(super) fn schema_objects(path: &Path) -> Result<BTreeMap<String, String>, DbOpsError> {
        let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(err(format!("open {}", path.display())))?;
        let mut st = c
            .prepare(
                "SELECT type, name, coalesce(sql, '') FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
            )
            .map_err(err("read the schema"))?;
        let objects = st
            .query_map([], |r| {
                Ok((
                    format!("{} {}", r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    r.get::<_, String>(2)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<BTreeMap<_, _>>>())
            .map_err(err("read the schema"));
        objects
    }
}

mod postgres {
    use super::*;
    use sqlx::postgres::PgConnection;

    /// SQLSTATE `object_in_use`: the template still has sessions.
    const OBJECT_IN_USE: &str = "55006";

    pub(super) fn ident(s: &str) -> String {
        format!("\"{}\"", s.replace('"', "\"\""))
    }

    pub(super) async fn connect(url: &str) -> Result<PgConnection, DbOpsError> {
        tokio::time::timeout(Duration::from_secs(20), PgConnection::connect(url))
            .await
            .map_err(|_| DbOpsError::Engine {
                server: server_key(url),
                what: "connect".into(),
                why: "timed out after 20 s".into(),
            })?
            .map_err(engine_err(url, "connect"))
    }

    /// A session on the server's maintenance database (`postgres`, else `template1`), for
    /// statements about other databases.
    async fn admin(url: &str) -> Result<PgConnection, DbOpsError> {
        match connect(&with_db(url, "postgres")).await {
            Ok(c) => Ok(c),
            Err(_) => connect(&with_db(url, "template1")).await,
        }
    }

    pub(super) async fn exists(url: &str, db: &str) -> Result<bool, DbOpsError> {
        let mut c = admin(url).await?;
        let found = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(db)
            .fetch_optional(&mut c)
            .await
            .map_err(engine_err(url, format!("look up database `{db}`")))?;
        c.close().await.ok();
        Ok(found.is_some())
    }

    async fn terminate(c: &mut PgConnection, url: &str, db: &str) -> Result<(), DbOpsError> {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(db)
        .fetch_all(&mut *c)
        .await
        .map_err(engine_err(url, format!("end the other sessions on `{db}`")))?;
        Ok(())
    }

    pub(super) async fn backup(
        url: &str,
        db: &str,
        label: &str,
    ) -> Result<Option<u64>, DbOpsError> {
        if label == db {
            return Err(DbOpsError::Input(format!(
                "backup label `{label}` is the database's own name"
            )));
        }
        let mut c = admin(url).await?;
        let owner: Option<String> = sqlx::query_scalar(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
        )
        .bind(db)
        .fetch_optional(&mut c)
        .await
        .map_err(engine_err(url, format!("look up database `{db}`")))?;
        let Some(owner) = owner else {
            return Err(DbOpsError::Missing {
                server: server_key(url),
                location: db.to_string(),
                why: "the database to back up does not exist".into(),
            });
        };
        let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
            .fetch_one(&mut c)
            .await
            .map_err(engine_err(url, "read the server version"))?;
        sqlx::raw_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            ident(label)
        ))
        .execute(&mut c)
        .await
        .map_err(engine_err(url, format!("drop the old backup `{label}`")))?;
        // FILE_COPY copies the files after one checkpoint; WAL_LOG (15's default) writes every
        // block to the WAL too, which is slower for big databases (bench/RESULTS.md).
        let strategy = if version >= 150000 {
            " STRATEGY = FILE_COPY"
        } else {
            ""
        };
        let create = format!(
            "CREATE DATABASE {} TEMPLATE {} OWNER {}{strategy}",
            ident(label),
            ident(db),
            ident(&owner)
        );
        let mut attempt = 0;
        loop {
            terminate(&mut c, url, db).await?;
            match sqlx::raw_sql(&create).execute(&mut c).await {
                Ok(_) => break,
                Err(e)
                    if attempt < 20
                        && e.as_database_error().and_then(|d| d.code()).as_deref()
                            == Some(OBJECT_IN_USE) =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    return Err(engine_err(url, format!("copy `{db}` into `{label}`"))(e));
                }
            }
        }
        copy_database_settings(&mut c, url, db, label).await?;
        let bytes: Option<i64> = sqlx::query_scalar("SELECT pg_database_size($1)")
            .bind(label)
            .fetch_one(&mut c)
            .await
            .ok();
        c.close().await.ok();
        Ok(bytes.map(|b| b.max(0) as u64))
    }

    /// Grants on the database and `ALTER DATABASE … SET` settings are not part of a template
    /// copy; carry them over so the backup renamed into place is the database as it was.
    async fn copy_database_settings(
        c: &mut PgConnection,
        url: &str,
        db: &str,
        label: &str,
    ) -> Result<(), DbOpsError> {
        let what = format!("copy the grants and settings of `{db}` to `{label}`");
        let acl: Vec<(String, String, bool)> = sqlx::query_as(
            "SELECT a.privilege_type, \
                    CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, \
                    a.is_grantable \
             FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1",
        )
        .bind(db)
        .fetch_all(&mut *c)
        .await
        .map_err(engine_err(url, what.clone()))?;
        if !acl.is_empty() {
            let mut sql = format!("REVOKE ALL ON DATABASE {} FROM PUBLIC;", ident(label));
            for (privilege, grantee, grantable) in acl {
                sql.push_str(&format!(
                    "GRANT {privilege} ON DATABASE {} TO {grantee}{};",
                    ident(label),
                    if grantable { " WITH GRANT OPTION" } else { "" }
                ));
            }
            sqlx::raw_sql(&sql)
                .execute(&mut *c)
                .await
                .map_err(engine_err(url, what.clone()))?;
        }
        let settings: Vec<(Option<String>, String)> = sqlx::query_as(
            "SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE quote_ident(pg_get_userbyid(s.setrole)) END, \
                    unnest(s.setconfig) \
             FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase \
             WHERE d.datname = $1",
        )
        .bind(db)
        .fetch_all(&mut *c)
        .await
        .map_err(engine_err(url, what.clone()))?;
        for (role, setting) in settings {
            let Some((name, value)) = setting.split_once('=') else {
                continue;
            };
            // Set in this session first, then store "FROM CURRENT": the value is parsed as the
            // server parses it, list settings like search_path included.
            sqlx::query("SELECT set_config($1, $2, false)")
                .bind(name)
                .bind(value)
                .execute(&mut *c)
                .await
                .map_err(engine_err(url, what.clone()))?;
            let sql = match role {
                Some(r) => format!(
                    "ALTER ROLE {r} IN DATABASE {} SET {name} FROM CURRENT",
                    ident(label)
                ),
                None => format!("ALTER DATABASE {} SET {name} FROM CURRENT", ident(label)),
            };
            sqlx::raw_sql(&sql)
                .execute(&mut *c)
                .await
                .map_err(engine_err(url, what.clone()))?;
        }
        Ok(())
    }

    pub(super) async fn restore(url: &str, db: &str, label: &str) -> Result<(), DbOpsError> {
        let mut c = admin(url).await?;
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(label)
            .fetch_optional(&mut c)
            .await
            .map_err(engine_err(url, format!("look up backup `{label}`")))?;
        if found.is_none() {
            return Err(DbOpsError::Missing {
                server: server_key(url),
                location: label.to_string(),
                why: format!("no such database; `{db}` was left as it is"),
            });
        }
        // FORCE ends the sessions on `db`; the backup has none (nothing connects to it).
        terminate(&mut c, url, label).await?;
        sqlx::raw_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            ident(db)
        ))
        .execute(&mut c)
        .await
        .map_err(engine_err(url, format!("drop the failed database `{db}`")))?;
        sqlx::raw_sql(&format!(
            "ALTER DATABASE {} RENAME TO {}",
            ident(label),
            ident(db)
        ))
        .execute(&mut c)
        .await
        .map_err(engine_err(
            url,
            format!("rename backup `{label}` to `{db}`"),
        ))?;
        c.close().await.ok();
        Ok(())
    }

    pub(super) async fn drop_db(url: &str, label: &str) -> Result<(), DbOpsError> {
        let mut c = admin(url).await?;
        sqlx::raw_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            ident(label)
        ))
        .execute(&mut c)
        .await
        .map_err(engine_err(url, format!("drop backup `{label}`")))?;
        c.close().await.ok();
        Ok(())
    }

    /// Session settings that make `row::text` the same in every session.
    const STABLE_TEXT: &str = "SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; \
        SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET bytea_output = 'hex'";

    /// Base tables outside the system schemas: (oid, display name).
    async fn tables(
        c: &mut PgConnection,
        url: &str,
    ) -> Result<Vec<(i64, String, String)>, DbOpsError> {
        sqlx::query_as(
            "SELECT c.oid::int8, \
                    CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname END, \
                    quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' \
               AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 2",
        )
        .fetch_all(&mut *c)
        .await
        .map_err(engine_err(url, "list tables"))
    }

    pub(super) async fn checksums(url: &str) -> Result<Checksums, DbOpsError> {
        let mut c = connect(url).await?;
        sqlx::raw_sql(STABLE_TEXT)
            .execute(&mut c)
            .await
            .map_err(engine_err(url, "set session settings"))?;
        let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
            .fetch_one(&mut c)
            .await
            .map_err(engine_err(url, "read the server version"))?;
        let mut out = Checksums::new();
        for (oid, name, qualified) in tables(&mut c, url).await? {
            let what = format!("checksum table `{name}`");
            // Hashing each column with its type's own hash function is about twice as fast as
            // hashing the row's text; types without one (json, point, …) fall back to text.
            let by_value = format!(
                "SELECT count(*)::int8, 'v:' || coalesce(sum(hash_record_extended(t, 0)), 0)::text, \
                        coalesce(sum(hash_record_extended(t, 1)), 0)::text \
                 FROM ONLY {qualified} t"
            );
            let by_text = format!(
                "SELECT count(*)::int8, 't:' || coalesce(sum(hashtextextended(x, 0)), 0)::text, \
                        coalesce(sum(hashtextextended(x, 1)), 0)::text \
                 FROM (SELECT t::text AS x FROM ONLY {qualified} t) r"
            );
            let first = if version >= 140000 {
                sqlx::query_as(&by_value).fetch_one(&mut c).await.ok()
            } else {
                None
            };
            let (rows, a, b): (i64, String, String) = match first {
                Some(r) => r,
                None => sqlx::query_as(&by_text)
                    .fetch_one(&mut c)
                    .await
                    .map_err(engine_err(url, what.clone()))?,
            };
            let columns = columns(&mut c, url, oid).await?;
            out.insert(
                name,
                TableSum {
                    rows: rows.max(0) as u64,
                    sha256: hex_sha256(&format!("{rows}:{a}:{b}")),
                    columns,
                },
            );
        }
        c.close().await.ok();
        Ok(out)
    }

    pub(super) async fn checkpoint(url: &str) -> Result<(), DbOpsError> {
        let mut c = connect(url).await?;
        sqlx::raw_sql("CHECKPOINT")
            .execute(&mut c)
            .await
            .map_err(engine_err(url, "checkpoint"))?;
        c.close().await.ok();
        Ok(())
    }

    pub(super) async fn write_horizon(url: &str) -> Result<u64, DbOpsError> {
        let mut c = connect(url).await?;
        let next: i64 =
            sqlx::query_scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::int8")
                .fetch_one(&mut c)
                .await
                .map_err(engine_err(url, "read the next transaction id"))?;
        c.close().await.ok();
        Ok(next.max(0) as u64)
    }

    /// The columns of table `oid` as `name type`, in column order.
    async fn columns(c: &mut PgConnection, url: &str, oid: i64) -> Result<Vec<String>, DbOpsError> {
        sqlx::query_scalar(
            "SELECT attname::text || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = $1::int8::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        )
        .bind(oid)
        .fetch_all(&mut *c)
        .await
        .map_err(engine_err(url, "read a table's columns"))
    }

    pub(super) async fn rows_written_since(
        url: &str,
        horizon: Option<u64>,
    ) -> Result<BTreeMap<String, TableRows>, DbOpsError> {
        let mut c = connect(url).await?;
        // A row version written at or after the horizon H has `age(xmin) <= age(H)`: both are
        // distances to the same current transaction id, read once per statement. Ids 0–2 are
        // never assigned, so a horizon that wraps onto them starts at 3. (`age(xid)` keeps the
        // scan serial; a parallel scan casting `xmin` through text was slower on 2 cores.)
        let since = horizon.map(|h| ((h % (1 << 32)) as u32).max(3).to_string());
        let mut out = BTreeMap::new();
        for (oid, name, qualified) in tables(&mut c, url).await? {
            let what = format!("count the rows of `{name}`");
            let (rows, written): (i64, i64) = match &since {
                Some(h) => sqlx::query_as(&format!(
                    "SELECT count(*)::int8, \
                            count(*) FILTER (WHERE age(xmin) <= age($1::text::xid))::int8 \
                     FROM ONLY {qualified}"
                ))
                .bind(h)
                .fetch_one(&mut c)
                .await
                .map_err(engine_err(url, what))?,
                None => sqlx::query_as(&format!(
                    "SELECT count(*)::int8, 0::int8 FROM ONLY {qualified}"
                ))
                .fetch_one(&mut c)
                .await
                .map_err(engine_err(url, what))?,
            };
            out.insert(
                name,
                TableRows {
                    rows: rows.max(0) as u64,
                    written: written.max(0) as u64,
                    columns: columns(&mut c, url, oid).await?,
                },
            );
        }
        c.close().await.ok();
        Ok(out)
    }

    pub(super) async fn schema_objects(url: &str) -> Result<BTreeMap<String, String>, DbOpsError> {
        let mut c = connect(url).await?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "WITH ns AS (SELECT oid FROM pg_namespace \
                         WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%') \
             SELECT 'column ' || a.attrelid::regclass::text || '.' || a.attname, \
                    format_type(a.atttypid, a.atttypmod) \
                    || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END \
                    || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE c.relnamespace IN (SELECT oid FROM ns) AND c.relkind IN ('r', 'p', 'v', 'm') \
               AND a.attnum > 0 AND NOT a.attisdropped \
             UNION ALL SELECT 'constraint ' || conrelid::regclass::text || '.' || conname, \
                    pg_get_constraintdef(oid) \
             FROM pg_constraint WHERE connamespace IN (SELECT oid FROM ns) AND conrelid <> 0 \
             UNION ALL SELECT 'index ' || indexrelid::regclass::text, pg_get_indexdef(indexrelid) \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relnamespace IN (SELECT oid FROM ns) \
             UNION ALL SELECT 'view ' || c.oid::regclass::text, pg_get_viewdef(c.oid) \
             FROM pg_class c WHERE c.relkind IN ('v', 'm') AND c.relnamespace IN (SELECT oid FROM ns) \
             UNION ALL SELECT 'trigger ' || tgrelid::regclass::text || '.' || tgname, \
                    pg_get_triggerdef(t.oid) \
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             WHERE NOT tgisinternal AND c.relnamespace IN (SELECT oid FROM ns) \
             UNION ALL SELECT 'routine ' || p.oid::regprocedure::text, pg_get_functiondef(p.oid) \
             FROM pg_proc p WHERE p.pronamespace IN (SELECT oid FROM ns) AND p.prokind IN ('f', 'p') \
             UNION ALL SELECT 'sequence ' || c.oid::regclass::text, '' \
             FROM pg_class c WHERE c.relkind = 'S' AND c.relnamespace IN (SELECT oid FROM ns)",
        )
        .fetch_all(&mut c)
        .await
        .map_err(engine_err(url, "read the schema"))?;
        c.close().await.ok();
        Ok(rows.into_iter().collect())
    }
}

mod mysql {
    use super::*;
    use sqlx::mysql::{MySqlConnection, MySqlRow};

    fn ident(s: &str) -> String {
        format!("`{}`", s.replace('`', "``"))
    }

    /// A session on the server of `url` with no default database (which a restore may drop).
    async fn connect(url: &str) -> Result<MySqlConnection, DbOpsError> {
        let server = with_db(url, "");
        tokio::time::timeout(Duration::from_secs(20), MySqlConnection::connect(&server))
            .await
            .map_err(|_| DbOpsError::Engine {
                server: server_key(url),
                what: "connect".into(),
                why: "timed out after 20 s".into(),
            })?
            .map_err(engine_err(url, "connect"))
    }

    async fn exec(
        c: &mut MySqlConnection,
        url: &str,
        sql: &str,
        what: &str,
    ) -> Result<(), DbOpsError> {
        sqlx::raw_sql(sql)
            .execute(&mut *c)
            .await
            .map(|_| ())
            .map_err(engine_err(url, what))
    }

    async fn rows(
        c: &mut MySqlConnection,
        url: &str,
        sql: &str,
        what: &str,
    ) -> Result<Vec<MySqlRow>, DbOpsError> {
        sqlx::raw_sql(sql)
            .fetch_all(&mut *c)
            .await
            .map_err(engine_err(url, what))
    }

    /// Column `i` as text, whatever the server typed it.
    fn text(r: &MySqlRow, i: usize) -> Option<String> {
        if let Ok(v) = r.try_get::<Option<String>, _>(i) {
            return v;
        }
        if let Ok(v) = r.try_get::<Option<Vec<u8>>, _>(i) {
            return v.map(|b| String::from_utf8_lossy(&b).into_owned());
        }
        if let Ok(v) = r.try_get::<Option<u64>, _>(i) {
            return v.map(|n| n.to_string());
        }
        r.try_get::<Option<i64>, _>(i)
            .ok()
            .flatten()
            .map(|n| n.to_string())
    }

    fn lit(s: &str) -> String {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
    }

    /// One object a backup database must bring back besides its tables' rows.
    #[derive(Debug, Clone)]
    pub(super) struct Object {
        kind: String,
        name: String,
        sql_mode: String,
        charset_client: String,
        collation_connection: String,
        stmt: String,
    }

    /// The base tables of `db`, by name.
    async fn base_tables(
        c: &mut MySqlConnection,
        url: &str,
        db: &str,
    ) -> Result<Vec<String>, DbOpsError> {
        Ok(rows(
            c,
            url,
            &format!(
                "SELECT TABLE_NAME FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = {} AND TABLE_TYPE = 'BASE TABLE' \
                 ORDER BY TABLE_NAME",
                lit(db)
            ),
            "list tables",
        )
        .await?
        .iter()
        .filter_map(|r| text(r, 0))
        .collect())
    }

    /// Everything to recreate `db` from its tables: the database, then views, triggers,
    /// routines and events (in that order, each with the session settings it was made under).
    async fn objects(
        c: &mut MySqlConnection,
        url: &str,
        db: &str,
    ) -> Result<Vec<Object>, DbOpsError> {
        let mut out = Vec::new();
        let d = rows(
            c,
            url,
            &format!("SHOW CREATE DATABASE {}", ident(db)),
            "read the database definition",
        )
        .await?;
        let create_db = d.first().and_then(|r| text(r, 1)).unwrap_or_default();
        out.push(Object {
            kind: "database".into(),
            name: db.into(),
            sql_mode: String::new(),
            charset_client: "utf8mb4".into(),
            collation_connection: "utf8mb4_general_ci".into(),
            stmt: create_db,
        });
        let lists = [
            (
                "view",
                format!(
                    "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {} ORDER BY TABLE_NAME",
                    lit(db)
                ),
            ),
            (
                "trigger",
                format!(
                    "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {} \
                     ORDER BY EVENT_OBJECT_TABLE, EVENT_MANIPULATION, ACTION_TIMING, ACTION_ORDER",
                    lit(db)
                ),
            ),
            (
                "procedure",
                format!(
                    "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {} \
                     AND ROUTINE_TYPE = 'PROCEDURE' ORDER BY ROUTINE_NAME",
                    lit(db)
                ),
            ),
            (
                "function",
                format!(
                    "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {} \
                     AND ROUTINE_TYPE = 'FUNCTION' ORDER BY ROUTINE_NAME",
                    lit(db)
                ),
            ),
            (
                "event",
                format!(
                    "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {} ORDER BY EVENT_NAME",
                    lit(db)
                ),
            ),
        ];
        for (kind, list) in lists {
            let names: Vec<String> = rows(c, url, &list, &format!("list {kind}s"))
                .await?
                .iter()
                .filter_map(|r| text(r, 0))
                .collect();
            for name in names {
                let what = format!("read {kind} `{name}`");
                let show = format!(
                    "SHOW CREATE {} {}.{}",
                    kind.to_uppercase(),
                    ident(db),
                    ident(&name)
                );
                let r = rows(c, url, &show, &what).await?;
                let r = r.first().ok_or_else(|| DbOpsError::Engine {
                    server: server_key(url),
                    what: what.clone(),
                    why: "no definition returned".into(),
                })?;
                // Columns: view (View, Create View, character_set_client, collation_connection);
                // trigger / routine (name, sql_mode, statement, client, connection, db
                // collation); event (name, sql_mode, time_zone, statement, client, connection, …).
                let o = match kind {
                    "view" => Object {
                        kind: kind.into(),
                        name,
                        sql_mode: String::new(),
                        stmt: text(r, 1).unwrap_or_default(),
                        charset_client: text(r, 2).unwrap_or_default(),
                        collation_connection: text(r, 3).unwrap_or_default(),
                    },
                    "event" => Object {
                        kind: kind.into(),
                        name,
                        sql_mode: text(r, 1).unwrap_or_default(),
                        stmt: text(r, 3).unwrap_or_default(),
                        charset_client: text(r, 4).unwrap_or_default(),
                        collation_connection: text(r, 5).unwrap_or_default(),
                    },
                    _ => Object {
                        kind: kind.into(),
                        name,
                        sql_mode: text(r, 1).unwrap_or_default(),
                        stmt: text(r, 2).unwrap_or_default(),
                        charset_client: text(r, 3).unwrap_or_default(),
                        collation_connection: text(r, 4).unwrap_or_default(),
                    },
                };
                if o.stmt.is_empty() {
                    return Err(DbOpsError::Engine {
                        server: server_key(url),
                        what,
                        why: "the definition is hidden from this user (needs SHOW VIEW / SELECT on mysql.proc)"
                            .into(),
                    });
                }
                out.push(o);
            }
        }
        Ok(out)
    }

    /// Session settings for copying rows: no FK or unique checks (the data was valid in the
    /// source), and an explicit 0 in an AUTO_INCREMENT column stays 0.
    const COPY_SESSION: &str = "SET SESSION foreign_key_checks = 0, unique_checks = 0, \
        sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'";

    pub(super) async fn backup(
        url: &str,
        db: &str,
        label: &str,
    ) -> Result<Option<u64>, DbOpsError> {
        if label == db {
            return Err(DbOpsError::Input(format!(
                "backup label `{label}` is the database's own name"
            )));
        }
        let mut c = connect(url).await?;
        let objs = objects(&mut c, url, db).await?;
        let tables = base_tables(&mut c, url, db).await?;
        // A row copy would lose a sequence's state and a system-versioned table's history:
        // refuse rather than restore less than there was.
        let others: Vec<String> = rows(
            &mut c,
            url,
            &format!(
                "SELECT CONCAT(TABLE_NAME, ' (', TABLE_TYPE, ')') FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = {} AND TABLE_TYPE NOT IN ('BASE TABLE', 'VIEW') \
                 ORDER BY TABLE_NAME",
                lit(db)
            ),
            "list tables",
        )
        .await?
        .iter()
        .filter_map(|r| text(r, 0))
        .collect();
        if !others.is_empty() {
            return Err(DbOpsError::Input(format!(
                "cannot back up `{db}` by copying rows: it has {}; take a physical backup \
                 (mariabackup) instead",
                others.join(", ")
            )));
        }
        exec(&mut c, url, COPY_SESSION, "set session settings").await?;
        exec(
            &mut c,
            url,
            &format!("DROP DATABASE IF EXISTS {}", ident(label)),
            &format!("drop the old backup `{label}`"),
        )
        .await?;
        let create_db = objs[0].stmt.replacen(&ident(db), &ident(label), 1);
        exec(
            &mut c,
            url,
            &create_db,
            &format!("create backup database `{label}`"),
        )
        .await?;
        exec(
            &mut c,
            url,
            &format!("USE {}", ident(label)),
            "use the backup database",
        )
        .await?;
        exec(
            &mut c,
            url,
            &format!(
                "CREATE TABLE {MANIFEST} (seq INT PRIMARY KEY, kind VARCHAR(16) NOT NULL, \
                 name VARCHAR(64) NOT NULL, sql_mode TEXT NOT NULL, charset_client VARCHAR(64) NOT NULL, \
                 collation_connection VARCHAR(64) NOT NULL, stmt LONGTEXT NOT NULL) \
                 CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            ),
            "create the backup manifest",
        )
        .await?;
        let mut seq = 0;
        let mut record = |kind: &str, name: &str, o: Option<&Object>| {
            seq += 1;
            format!(
                "INSERT INTO {MANIFEST} VALUES ({seq}, {}, {}, {}, {}, {}, {})",
                lit(kind),
                lit(name),
                lit(o.map(|o| o.sql_mode.as_str()).unwrap_or("")),
                lit(o.map(|o| o.charset_client.as_str()).unwrap_or("")),
                lit(o.map(|o| o.collation_connection.as_str()).unwrap_or("")),
                lit(o.map(|o| o.stmt.as_str()).unwrap_or("")),
            )
        };
        for t in &tables {
            let what = format!("copy table `{t}`");
            let show = rows(
                &mut c,
                url,
                &format!("SHOW CREATE TABLE {}.{}", ident(db), ident(t)),
                &what,
            )
            .await?;
            let create = show.first().and_then(|r| text(r, 1)).unwrap_or_default();
            exec(&mut c, url, &create, &what).await?;
            let cols: Vec<String> = rows(
                &mut c,
                url,
                &format!(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} \
                     AND TABLE_NAME = {} AND EXTRA NOT LIKE '%GENERATED%' ORDER BY ORDINAL_POSITION",
                    lit(db),
                    lit(t)
                ),
                &what,
            )
            .await?
            .iter()
            .filter_map(|r| text(r, 0))
            .map(|col| ident(&col))
            .collect();
            let cols = cols.join(", ");
            exec(
                &mut c,
                url,
                &format!(
                    "INSERT INTO {}.{} ({cols}) SELECT {cols} FROM {}.{}",
                    ident(label),
                    ident(t),
                    ident(db),
                    ident(t)
                ),
                &what,
            )
            .await?;
            let sql = record("table", t, None);
            exec(&mut c, url, &sql, "write the backup manifest").await?;
        }
        for o in &objs {
            let sql = record(&o.kind, &o.name, Some(o));
            exec(&mut c, url, &sql, "write the backup manifest").await?;
        }
        let bytes = rows(
            &mut c,
            url,
            &format!(
                "SELECT CAST(SUM(DATA_LENGTH + INDEX_LENGTH) AS UNSIGNED) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = {}",
                lit(label)
            ),
            "measure the backup",
        )
        .await?
        .first()
        .and_then(|r| text(r, 0))
        .and_then(|s| s.parse().ok());
        c.close().await.ok();
        Ok(bytes)
    }

    /// The manifest of backup database `label`: its tables, then its other objects.
    pub(super) async fn manifest(
        url: &str,
        label: &str,
    ) -> Result<(Vec<String>, Vec<Object>), DbOpsError> {
        let mut c = connect(url).await?;
        let found = rows(
            &mut c,
            url,
            &format!(
                "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
                lit(label),
                lit(MANIFEST)
            ),
            "look up the backup",
        )
        .await?;
        if found.is_empty() {
            return Err(DbOpsError::Missing {
                server: server_key(url),
                location: label.to_string(),
                why: format!("no database `{label}` with a `{MANIFEST}` table"),
            });
        }
        let all = rows(
            &mut c,
            url,
            &format!(
                "SELECT kind, name, sql_mode, charset_client, collation_connection, stmt \
                 FROM {}.{MANIFEST} ORDER BY seq",
                ident(label)
            ),
            "read the backup manifest",
        )
        .await?;
        c.close().await.ok();
        let mut tables = Vec::new();
        let mut objs = Vec::new();
        for r in &all {
            let o = Object {
                kind: text(r, 0).unwrap_or_default(),
                name: text(r, 1).unwrap_or_default(),
                sql_mode: text(r, 2).unwrap_or_default(),
                charset_client: text(r, 3).unwrap_or_default(),
                collation_connection: text(r, 4).unwrap_or_default(),
                stmt: text(r, 5).unwrap_or_default(),
            };
            if o.kind == "table" {
                tables.push(o.name);
            } else {
                objs.push(o);
            }
        }
        Ok((tables, objs))
    }

    pub(super) async fn restore(url: &str, db: &str, label: &str) -> Result<(), DbOpsError> {
        let (tables, objs) = manifest(url, label).await?;
        let mut c = connect(url).await?;
        let in_backup = base_tables(&mut c, url, label).await?;
        let waiting = tables.iter().filter(|t| in_backup.contains(t)).count();
        if waiting == tables.len() {
            let create_db = objs
                .iter()
                .find(|o| o.kind == "database")
                .map(|o| o.stmt.clone())
                .unwrap_or_else(|| format!("CREATE DATABASE {}", ident(db)));
            exec(
                &mut c,
                url,
                "SET SESSION foreign_key_checks = 0",
                "set session settings",
            )
            .await?;
            exec(
                &mut c,
                url,
                &format!("DROP DATABASE IF EXISTS {}", ident(db)),
                &format!("drop the failed database `{db}`"),
            )
            .await?;
            exec(&mut c, url, &create_db, &format!("create database `{db}`")).await?;
            if !tables.is_empty() {
                let moves: Vec<String> = tables
                    .iter()
                    .map(|t| {
                        format!(
                            "{}.{} TO {}.{}",
                            ident(label),
                            ident(t),
                            ident(db),
                            ident(t)
                        )
                    })
                    .collect();
                exec(
                    &mut c,
                    url,
                    &format!("RENAME TABLE {}", moves.join(", ")),
                    &format!("move the tables of backup `{label}` into `{db}`"),
                )
                .await?;
            }
        } else if waiting != 0 {
            return Err(DbOpsError::Engine {
                server: server_key(url),
                what: format!("restore `{db}` from `{label}`"),
                why: format!(
                    "the backup holds {waiting} of its {} tables; it was changed by hand",
                    tables.len()
                ),
            });
        }
        exec(
            &mut c,
            url,
            &format!("USE {}", ident(db)),
            "use the restored database",
        )
        .await?;
        for o in objs.iter().filter(|o| o.kind != "database") {
            let what = format!("recreate {} `{}`", o.kind, o.name);
            // A resumed restore may have made it already.
            let drop = match o.kind.as_str() {
                "view" => format!("DROP VIEW IF EXISTS {}", ident(&o.name)),
                k => format!("DROP {} IF EXISTS {}", k.to_uppercase(), ident(&o.name)),
            };
            exec(&mut c, url, &drop, &what).await?;
            let session = if o.kind == "view" {
                format!(
                    "SET SESSION character_set_client = {}, collation_connection = {}",
                    lit(&o.charset_client),
                    lit(&o.collation_connection)
                )
            } else {
                format!(
                    "SET SESSION sql_mode = {}, character_set_client = {}, collation_connection = {}",
                    lit(&o.sql_mode),
                    lit(&o.charset_client),
                    lit(&o.collation_connection)
                )
            };
            exec(&mut c, url, &session, &what).await?;
            exec(&mut c, url, &o.stmt, &what).await?;
        }
        exec(
            &mut c,
            url,
            &format!("DROP DATABASE IF EXISTS {}", ident(label)),
            &format!("drop the emptied backup `{label}`"),
        )
        .await?;
        c.close().await.ok();
        Ok(())
    }

    pub(super) async fn drop_db(url: &str, label: &str) -> Result<(), DbOpsError> {
        let mut c = connect(url).await?;
        exec(
            &mut c,
            url,
            &format!("DROP DATABASE IF EXISTS {}", ident(label)),
            &format!("drop backup `{label}`"),
        )
        .await?;
        c.close().await.ok();
        Ok(())
    }

    pub(super) async fn checksums(url: &str, db: &str) -> Result<Checksums, DbOpsError> {
        let mut c = connect(url).await?;
        let mut out = Checksums::new();
        for t in base_tables(&mut c, url, db).await? {
            let what = format!("checksum table `{t}`");
            let q = format!("{}.{}", ident(db), ident(&t));
            let sum = rows(&mut c, url, &format!("CHECKSUM TABLE {q} EXTENDED"), &what)
                .await?
                .first()
                .and_then(|r| text(r, 1))
                .unwrap_or_default();
            let n = rows(&mut c, url, &format!("SELECT COUNT(*) FROM {q}"), &what)
                .await?
                .first()
                .and_then(|r| text(r, 0))
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            let columns = rows(
                &mut c,
                url,
                &format!(
                    "SELECT CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE) FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION",
                    lit(db),
                    lit(&t)
                ),
                &what,
            )
            .await?
            .iter()
            .filter_map(|r| text(r, 0))
            .collect();
            out.insert(
                t,
                TableSum {
                    rows: n,
                    sha256: hex_sha256(&format!("{n}:{sum}")),
                    columns,
                },
            );
        }
        c.close().await.ok();
        Ok(out)
    }

    pub(super) async fn schema_objects(
        url: &str,
        db: &str,
    ) -> Result<BTreeMap<String, String>, DbOpsError> {
        let mut c = connect(url).await?;
        let mut out = BTreeMap::new();
        for t in base_tables(&mut c, url, db).await? {
            let what = format!("read table `{t}`");
            let show = rows(
                &mut c,
                url,
                &format!("SHOW CREATE TABLE {}.{}", ident(db), ident(&t)),
                &what,
            )
            .await?;
            out.insert(
                format!("table {t}"),
                show.first().and_then(|r| text(r, 1)).unwrap_or_default(),
            );
        }
        for o in objects(&mut c, url, db).await?.into_iter().skip(1) {
            out.insert(format!("{} {}", o.kind, o.name), o.stmt);
        }
        c.close().await.ok();
        Ok(out)
    }
}
