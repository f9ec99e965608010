//! Read-only questions to a customer's PROD database: its data-collection activity per hour
//! (aggregated by the database, so millions of events become at most a few thousand rows) and
//! its row counts (for scaling the dry run's timings).
//!
//! The app profile's `[activity]` query returns one `collected_at` text column (UTC,
//! `YYYY-MM-DDTHH:MM:SSZ`) per event; valet wraps it to group by the hour's 13-character
//! prefix, which every engine computes the same way. Folding the UTC hours into the customer's
//! local hours of the week happens in `valet-core` (DST-correct, no zone tables needed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use sqlx::any::AnyPoolOptions;
use sqlx::Row;

use crate::error::{OpsError, Result};
use crate::profile::AppProfile;

/// Which SQL dialect a database URL speaks, as the profile keys its queries.
fn dialect(url: &str) -> Result<&'static str> {
    match url.split_once("://").map(|(s, _)| s.to_ascii_lowercase()) {
        Some(s) if s == "sqlite" => Ok("sqlite"),
        Some(s) if s == "postgres" || s == "postgresql" => Ok("postgres"),
        Some(s) if s == "mysql" || s == "mariadb" => Ok("mysql"),
        _ => Err(OpsError::Payload(format!(
            "PROD database URL has an unsupported scheme ({}); expected sqlite, postgres or mariadb",
            server_key(url)
        ))),
    }
}

/// `engine://host:port` of a database URL, without credentials or database: the "server" two
/// upgrades must not share at the same time. SQLite files are on the valet host.
pub fn server_key(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "sqlite" => "sqlite://localhost".into(),
        Ok(u) => {
            let scheme = if u.scheme() == "mariadb" {
                "mysql"
            } else {
                u.scheme()
            };
            let scheme = if scheme == "postgresql" {
                "postgres"
            } else {
                scheme
            };
            let port = u.port().unwrap_or(match scheme {
                "postgres" => 5432,
                _ => 3306,
            });
            let host = u.host_str().unwrap_or("localhost");
            let host = if host == "127.0.0.1" || host == "::1" {
                "localhost"
            } else {
                host
            };
            format!("{scheme}://{host}:{port}")
        }
        Err(_) => "unknown".into(),
    }
}

async fn connect(url: &str) -> Result<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    let url = match url.split_once("://") {
        Some(("mariadb", rest)) => format!("mysql://{rest}"),
        _ => url.to_string(),
    };
    AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(&url)
        .await
        .map_err(|e| {
            OpsError::Payload(format!(
                "cannot reach the PROD database at {}: {}",
                server_key(&url),
                crate::driver::scrub_text(&e.to_string(), &url)
            ))
        })
}

/// The activity query of the profile for this database, with `{days}` filled in.
fn activity_sql(profile: &AppProfile, url: &str, days: u32) -> Result<String> {
    let d = dialect(url)?;
    let act = profile.activity.as_ref().ok_or_else(|| {
        OpsError::Payload(format!(
            "the app profile of `{}` has no [activity] section, so there is no quiet-time data",
            profile.app.name
        ))
    })?;
    let q = act.get(d).and_then(|v| v.as_str()).ok_or_else(|| {
        OpsError::Payload(format!(
            "the app profile's [activity] has no `{d}` query for this database"
        ))
    })?;
    Ok(q.replace("{days}", &days.to_string()))
}

/// Events per UTC hour over the last `days` days of activity (counted back from the newest
/// event, as the profile's query defines), aggregated in the database.
pub async fn hourly_activity(
    profile: &AppProfile,
    url: &str,
    days: u32,
) -> Result<Vec<(Timestamp, u64)>> {
    let inner = activity_sql(profile, url, days)?;
    let inner = inner.trim().trim_end_matches(';');
    let sql = format!(
        "SELECT substr(a.collected_at, 1, 13) AS h, COUNT(*) AS n FROM ({inner}) a \
         GROUP BY substr(a.collected_at, 1, 13)"
    );
    let pool = connect(url).await?;
    let rows = sqlx::query(&sql).fetch_all(&pool).await;
    pool.close().await;
    let rows = rows.map_err(|e| {
        OpsError::Payload(format!(
            "the activity query failed on {}: {}",
            server_key(url),
            crate::driver::scrub_text(&e.to_string(), url)
        ))
    })?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let h: String = r.try_get("h")?;
        let n: i64 = r.try_get("n")?;
        let t: Timestamp = format!("{h}:00:00Z").parse().map_err(|e| {
            OpsError::Payload(format!(
                "the activity query returned `{h}`, not a UTC hour YYYY-MM-DDTHH: {e}"
            ))
        })?;
        out.push((t, n.max(0) as u64));
    }
    out.sort();
    Ok(out)
}

/// How long a PROD database's hourly activity is reused: the scheduling page, its slot checks,
/// alternatives and the booking each assess the slots, and each would otherwise aggregate
/// weeks of the customer's production data again (about a second at 10 M events, on the
/// customer's production server). Eight weeks of history hardly move in a quarter of an hour.
pub const ACTIVITY_MAX_AGE: Duration = Duration::from_secs(15 * 60);

type Hourly = Arc<Vec<(Timestamp, u64)>>;
/// Answers of [`hourly_activity`] by (hash of database URL and query, days), with when they
/// were taken.
type Answers = Mutex<HashMap<([u8; 32], u32), (Instant, Hourly)>>;

fn answers() -> &'static Answers {
    static ANSWERS: OnceLock<Answers> = OnceLock::new();
    ANSWERS.get_or_init(Default::default)
}

/// [`hourly_activity`], reused for `max_age` per database and query (kept in this process
/// only; the key is a hash, so no URL with its password is held twice).
pub async fn hourly_activity_cached(
    profile: &AppProfile,
    url: &str,
    days: u32,
    max_age: Duration,
) -> Result<Hourly> {
    let mut h = Sha256::new();
    h.update(url.as_bytes());
    h.update([0]);
    h.update(activity_sql(profile, url, days)?.as_bytes());
    let key = (<[u8; 32]>::from(h.finalize()), days);
    {
        let mut all = answers().lock().expect("activity cache lock");
        all.retain(|_, (at, _)| at.elapsed() < ACTIVITY_MAX_AGE.max(max_age));
        if let Some((at, v)) = all.get(&key) {
            if at.elapsed() < max_age {
                return Ok(v.clone());
            }
        }
    }
    let fresh: Hourly = Arc::new(hourly_activity(profile, url, days).await?);
    answers()
        .lock()
        .expect("activity cache lock")
        .insert(key, (Instant::now(), fresh.clone()));
    Ok(fresh)
}

/// Rows in `tables` now (tables that do not exist count 0).
pub async fn count_rows(url: &str, tables: &[String]) -> Result<u64> {
    let d = dialect(url)?;
    let pool = connect(url).await?;
    let mut total = 0u64;
    for t in tables {
        if !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            continue;
        }
        let quoted = match d {
            "mysql" => t
                .split('.')
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join("."),
            _ => t
                .split('.')
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join("."),
        };
        if let Ok(r) = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {quoted}"))
            .fetch_one(&pool)
            .await
        {
            let n: i64 = r.try_get("n").unwrap_or(0);
            total += n.max(0) as u64;
        }
    }
    pool.close().await;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn activity_is_reused_for_its_max_age_and_read_again_after() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/prod.db", dir.path().display());
        let profile = AppProfile::from_toml_str(
            r#"
[app]
name = "t"
[commands]
start = ["t", "serve"]
migrate = ["t", "migrate"]
[health]
path = "/health"
[activity]
sqlite = "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', at) AS collected_at FROM ev WHERE at >= (SELECT datetime(MAX(at), '-{days} days') FROM ev)"
"#,
            "t.toml",
        )
        .unwrap();
        let pool = connect(&format!("{url}?mode=rwc")).await.unwrap();
        for q in [
            "CREATE TABLE ev (at TEXT NOT NULL)",
            "INSERT INTO ev VALUES ('2027-01-04 09:10:00'), ('2027-01-04 09:50:00')",
        ] {
            sqlx::query(q).execute(&pool).await.unwrap();
        }
        let day = Duration::from_secs(86_400);
        let first = hourly_activity_cached(&profile, &url, 7, day)
            .await
            .unwrap();
        assert_eq!(first.iter().map(|(_, n)| n).sum::<u64>(), 2);
        sqlx::query("INSERT INTO ev VALUES ('2027-01-04 10:05:00')")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let again = hourly_activity_cached(&profile, &url, 7, day)
            .await
            .unwrap();
        assert_eq!(again, first, "within its max age the answer is reused");
        let fresh = hourly_activity_cached(&profile, &url, 7, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(fresh.iter().map(|(_, n)| n).sum::<u64>(), 3);
        assert_eq!(fresh.len(), 2, "two hours");
    }

    #[test]
    fn server_key_has_no_credentials() {
        assert_eq!(
            server_key("postgres://valet:s3cret@db.example.com/prod_main"),
            "postgres://db.example.com:5432"
        );
        assert_eq!(
            server_key("mariadb://root:pw@127.0.0.1:3307/x"),
            "mysql://localhost:3307"
        );
        assert_eq!(server_key("sqlite:///var/lib/x.db"), "sqlite://localhost");
    }
}
