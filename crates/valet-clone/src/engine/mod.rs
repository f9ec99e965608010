//! The engines: one module per database, each reading the source in one consistent snapshot,
//! streaming rows through the masker and writing the target. This module holds what they
//! share: URLs, options, the entry point.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::CloneError;
use crate::key::RunKey;
use crate::leak::{PiiIndex, ScanTally};
use crate::plan::Plan;
use crate::policy::Policy;
use crate::progress::{NoProgress, Progress};
use crate::report::{CloneReport, LeakScanReport, TableReport};

pub(crate) mod mariadb;
pub(crate) mod pgcopy;
pub(crate) mod postgres;
pub(crate) mod sqlite;
pub(crate) mod target;

/// A catalog with sampled non-NULL values of each column, by table and column (for
/// `policy suggest`).
pub(crate) type Inspection = (crate::plan::Catalog, Vec<Vec<Vec<String>>>);

/// A database URL, by engine.
#[derive(Debug, Clone, PartialEq)]
pub enum DbUrl {
    Sqlite(PathBuf),
    Postgres(String),
    MySql(String),
}

impl DbUrl {
    /// Parse `sqlite://PATH`, `postgres://…`/`postgresql://…`, `mysql://…`/`mariadb://…`.
    pub fn parse(s: &str) -> Result<DbUrl, CloneError> {
        let lower = s.to_ascii_lowercase();
        if let Some(rest) = lower
            .strip_prefix("sqlite://")
            .map(|_| &s["sqlite://".len()..])
            .or_else(|| lower.strip_prefix("sqlite:").map(|_| &s["sqlite:".len()..]))
        {
            let path = rest.split('?').next().unwrap_or("");
            if path.is_empty() {
                return Err(CloneError::Url(format!(
                    "`{s}`: the SQLite URL has no file path (sqlite://PATH)"
                )));
            }
            return Ok(DbUrl::Sqlite(PathBuf::from(path)));
        }
        let parsed = url::Url::parse(s).map_err(|e| {
            CloneError::Url(format!("`{}` is not a database URL ({e})", redact_url(s)))
        })?;
        let has_db = parsed
            .path()
            .trim_start_matches('/')
            .split('/')
            .next()
            .is_some_and(|d| !d.is_empty());
        match parsed.scheme() {
            "postgres" | "postgresql" => {
                if !has_db {
                    return Err(CloneError::Url(format!("`{}`: name the database in the URL path", redact_url(s))));
                }
                Ok(DbUrl::Postgres(s.to_string()))
            }
            "mysql" | "mariadb" => {
                if !has_db {
                    return Err(CloneError::Url(format!("`{}`: name the database in the URL path", redact_url(s))));
                }
                let fixed = if parsed.scheme() == "mariadb" {
                    format!("mysql{}", &s["mariadb".len()..])
                } else {
                    s.to_string()
                };
                Ok(DbUrl::MySql(fixed))
            }
            other => Err(CloneError::Url(format!(
                "`{}`: unsupported scheme `{other}`; use sqlite://PATH, postgres://… or mysql://… (mariadb://…)",
                redact_url(s)
            ))),
        }
    }

    fn engine(&self) -> &'static str {
        match self {
            DbUrl::Sqlite(_) => "sqlite",
            DbUrl::Postgres(_) => "postgresql",
            DbUrl::MySql(_) => "mariadb",
        }
    }
}

/// The database a server URL names (its path's first segment), percent-decoded as the drivers
/// read it: `…/my%2Ddb` is `my-db`. Empty when the URL does not parse.
pub(crate) fn database_name(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.path_segments()?.next().map(|d| {
                percent_encoding::percent_decode_str(d)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
        .unwrap_or_default()
}

/// A URL with its password replaced by `***`, for messages and reports.
pub fn redact_url(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => s.to_string(),
    }
}

/// Everything a clone needs.
#[derive(Clone)]
pub struct CloneOptions {
    pub from: String,
    pub to: String,
    pub policy: Policy,
    /// Do everything but write the target.
    pub check: bool,
    /// Parallel workers (tables and key ranges).
    pub jobs: usize,
    /// Replace a target that holds a completed clone or other data.
    pub replace: bool,
    /// Secret for deterministic masking; random unless given.
    pub key: RunKey,
    pub progress: Arc<dyn Progress>,
    /// Tables with more (estimated) rows than this are split into key ranges.
    pub split_rows: u64,
}

impl std::fmt::Debug for CloneOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloneOptions")
            .field("from", &redact_url(&self.from))
            .field("to", &redact_url(&self.to))
            .field("policy", &self.policy.origin)
            .field("check", &self.check)
            .field("jobs", &self.jobs)
            .field("replace", &self.replace)
            .finish()
    }
}

impl CloneOptions {
    /// Options with defaults: random key, one job per core, no progress output.
    pub fn new(from: impl Into<String>, to: impl Into<String>, policy: Policy) -> CloneOptions {
        CloneOptions {
            from: from.into(),
            to: to.into(),
            policy,
            check: false,
            jobs: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            replace: false,
            key: RunKey::random(),
            progress: Arc::new(NoProgress),
            split_rows: 200_000,
        }
    }
}

/// Drops the database at `url` (a SQLite file and its `-wal`/`-shm` companions); `false` if
/// there was none. Used to tear down clones; refuses nothing, so callers pass only URLs of
/// databases they made.
pub async fn drop_database(url: &str) -> Result<bool, CloneError> {
    match DbUrl::parse(url)? {
        DbUrl::Sqlite(p) => {
            let existed = p.exists();
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let f = PathBuf::from(format!("{}{suffix}", p.display()));
                match std::fs::remove_file(&f) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(CloneError::io(format!("remove {}", f.display()), e)),
                }
            }
            Ok(existed)
        }
        DbUrl::Postgres(u) => postgres::drop_database(&u).await,
        DbUrl::MySql(u) => mariadb::drop_database(&u).await,
    }
}

/// Clone `opts.from` into `opts.to`, masking through the policy, then leak-scan the target.
/// On any error after the target was touched, the target is dropped.
pub async fn clone_database(opts: &CloneOptions) -> Result<CloneReport, CloneError> {
    let from = DbUrl::parse(&opts.from)?;
    let to = DbUrl::parse(&opts.to)?;
    if from.engine() != to.engine() {
        return Err(CloneError::Unsupported(format!(
            "source is {} but target is {}: valet clones within one engine",
            from.engine(),
            to.engine()
        )));
    }
    let started = std::time::Instant::now();
    let mut report = CloneReport {
        engine: from.engine().to_string(),
        source: redact_url(&opts.from),
        target: redact_url(&opts.to),
        check_only: opts.check,
        policy: opts.policy.origin.clone(),
        policy_sha256: opts.policy.sha256.clone(),
        started_at_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        jobs: opts.jobs.max(1),
        ..CloneReport::default()
    };
    match (from, to) {
        (DbUrl::Sqlite(a), DbUrl::Sqlite(b)) => {
            let o = opts.clone();
            let mut r = report;
            r = tokio::task::spawn_blocking(move || sqlite::clone(&o, &a, &b, r))
                .await
                .map_err(|e| CloneError::io("SQLite worker", e))??;
            report = r;
        }
        (DbUrl::Postgres(a), DbUrl::Postgres(b)) => {
            report = postgres::clone(opts, &a, &b, report).await?;
        }
        (DbUrl::MySql(a), DbUrl::MySql(b)) => {
            report = mariadb::clone(opts, &a, &b, report).await?;
        }
        _ => unreachable!("engines compared above"),
    }
    report.total_rows = report.tables.iter().map(|t| t.rows).sum();
    report.total_bytes = report.tables.iter().map(|t| t.bytes).sum();
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Fill the report's plan-derived parts.
pub(crate) fn plan_into_report(plan: &Plan, report: &mut CloneReport) {
    report.columns_by_transformer = plan.columns_by_transformer();
}

/// Fill the leak-scan part of the report; an error when there were hits.
pub(crate) fn leak_result(
    index: &PiiIndex,
    tally: ScanTally,
    report: &mut CloneReport,
) -> Result<(), CloneError> {
    report.leak_scan = LeakScanReport {
        passed: tally.hits == 0,
        values_indexed: index.values() as u64,
        common_values_skipped: index.common_skipped,
        short_values_skipped: index.short_skipped,
        target_values_scanned: tally.values,
        hits: tally.hits,
        samples: tally.samples.clone(),
    };
    if tally.hits > 0 {
        let mut where_: Vec<String> = tally
            .samples
            .iter()
            .map(|h| {
                format!(
                    "{}.{} holds values of {}",
                    h.table, h.column, h.source_column
                )
            })
            .collect();
        where_.dedup();
        where_.truncate(5);
        return Err(CloneError::Leak {
            hits: tally.hits,
            summary: where_.join("; "),
        });
    }
    Ok(())
}

/// What copying one part of a table did (a whole table is one part).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PartStats {
    /// The table, by its place in the plan.
    pub(crate) table: usize,
    pub(crate) rows: u64,
    /// Bytes read: of the `COPY` stream on PostgreSQL, of the values on MariaDB and SQLite.
    pub(crate) bytes: u64,
    pub(crate) duration_ms: u64,
}

/// The report of each table that holds rows (not a partitioned table's parent) from the
/// statistics of its parts: rows and bytes summed, the time of its longest part.
pub(crate) fn table_reports(plan: &Plan, parts: &[PartStats]) -> Vec<TableReport> {
    let mut out = Vec::new();
    for (ti, t) in plan.tables.iter().enumerate() {
        if !t.info.has_rows {
            continue;
        }
        let mut r = table_report(&t.display, t.masker.as_ref().map_or(0, |m| m.masked.len()));
        let mine: Vec<&PartStats> = parts.iter().filter(|p| p.table == ti).collect();
        r.parts = mine.len().max(1);
        r.rows = mine.iter().map(|p| p.rows).sum();
        r.bytes = mine.iter().map(|p| p.bytes).sum();
        r.duration_ms = mine.iter().map(|p| p.duration_ms).max().unwrap_or(0);
        out.push(r);
    }
    out
}

/// Table report skeleton.
pub(crate) fn table_report(display: &str, masked: usize) -> TableReport {
    TableReport {
        table: display.to_string(),
        masked_columns: masked,
        parts: 1,
        ..TableReport::default()
    }
}

/// Quote an identifier with double quotes (PostgreSQL, SQLite).
pub(crate) fn dq(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quote an identifier with backticks (MariaDB).
#[allow(dead_code)]
pub(crate) fn bq(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// Split the range `lo..=hi` of a table of `size` rows into up to `2 × jobs` parts of about
/// `split_rows` rows or more: `(from, to, rows)` with `to` exclusive, adjacent, the first part
/// open below and the last open above or, when the range is narrower than the parts, ending
/// past `hi`.
pub(crate) fn split_range(
    lo: i64,
    hi: i64,
    size: u64,
    jobs: usize,
    split_rows: u64,
) -> Vec<(Option<i64>, Option<i64>, u64)> {
    let parts = (jobs * 2).min(((size / split_rows.max(1)) as usize).max(2)) as i64;
    let step = ((hi - lo) / parts).max(1);
    let mut out = Vec::new();
    let mut start = None;
    for p in 1..=parts {
        let end = (p < parts).then(|| lo + step * p);
        out.push((start, end, size / parts as u64));
        start = end;
        if end.is_some_and(|e| e > hi) {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_percent_decoded_on_every_engine() {
        assert_eq!(
            database_name("mysql://root@db.example:3306/my%2Ddb"),
            "my-db"
        );
        assert_eq!(
            database_name("postgres://u:p%40ss@h/clinic%20val?sslmode=disable"),
            "clinic val"
        );
        assert_eq!(database_name("postgres://h/a%2Fb/ignored"), "a/b");
        assert_eq!(database_name("mysql://h"), "");
        assert_eq!(database_name("not a url"), "");
    }

    #[test]
    fn a_range_splits_into_adjacent_parts_open_at_both_ends() {
        let parts = split_range(0, 1000, 100_000, 2, 10_000);
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0].0, None);
        assert_eq!(parts[3].1, None);
        for w in parts.windows(2) {
            assert_eq!(w[0].1, w[1].0, "{parts:?}");
        }
        assert_eq!(parts[2].1, Some(750));
        // Small tables still get two parts; a range narrower than the parts stops early.
        assert_eq!(split_range(0, 1000, 100, 4, 1_000_000).len(), 2);
        assert_eq!(
            split_range(5, 6, 1_000_000, 8, 1),
            [(None, Some(6), 62_500), (Some(6), Some(7), 62_500)]
        );
    }

    #[test]
    fn urls_parse_by_scheme() {
        assert_eq!(
            DbUrl::parse("sqlite://a/b.db?mode=rwc").unwrap(),
            DbUrl::Sqlite("a/b.db".into())
        );
        assert_eq!(
            DbUrl::parse("sqlite:///tmp/x.db").unwrap(),
            DbUrl::Sqlite("/tmp/x.db".into())
        );
        assert!(matches!(
            DbUrl::parse("postgres://u@h/db").unwrap(),
            DbUrl::Postgres(_)
        ));
        assert_eq!(
            DbUrl::parse("mariadb://root@h:3306/db").unwrap(),
            DbUrl::MySql("mysql://root@h:3306/db".into())
        );
        let e = DbUrl::parse("oracle://h/db").unwrap_err().to_string();
        assert!(e.contains("unsupported scheme `oracle`"), "{e}");
        assert!(DbUrl::parse("postgres://h").is_err());
        assert!(DbUrl::parse("not a url").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
    }
}
