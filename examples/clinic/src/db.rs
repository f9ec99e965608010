//! Database URLs and connections. The app reaches all three engines through `sqlx::any`;
//! where their SQL differs, the engine-specific text lives next to the query.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor};
use std::str::FromStr;

use crate::Error;

/// The database engines the clinic app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
    /// MySQL or MariaDB (both spoken to with the MySQL protocol).
    Mysql,
}

impl Engine {
    /// Name used in file paths and profiles: `sqlite`, `postgres`, `mysql`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
        }
    }

    /// SQL that casts `expr` to a string the `Any` driver can decode on this engine.
    /// MySQL sends `TEXT` values (and `CAST(… AS CHAR)` of them) as blobs, which `Any`
    /// cannot read as strings; a cast to `CHAR(16000)` arrives as `VARCHAR` (values longer
    /// than 16 000 characters would be cut; the clinic has none).
    pub fn text(self, expr: &str) -> String {
        match self {
            Engine::Sqlite => format!("CAST({expr} AS TEXT)"),
            Engine::Postgres => format!("CAST({expr} AS TEXT)"),
            Engine::Mysql => format!("CAST({expr} AS CHAR(16000))"),
        }
    }

    /// SQL that renders a UTC timestamp column as `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn iso_timestamp(self, col: &str) -> String {
        match self {
            Engine::Sqlite => format!("strftime('%Y-%m-%dT%H:%M:%SZ', {col})"),
            Engine::Postgres => {
                format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
            }
            Engine::Mysql => format!("DATE_FORMAT({col}, '%Y-%m-%dT%H:%i:%sZ')"),
        }
    }

    /// SQL that renders a date column as `YYYY-MM-DD`.
    pub fn iso_date(self, col: &str) -> String {
        match self {
            Engine::Sqlite => format!("CAST({col} AS TEXT)"),
            Engine::Postgres => format!("to_char({col}, 'YYYY-MM-DD')"),
            Engine::Mysql => format!("DATE_FORMAT({col}, '%Y-%m-%d')"),
        }
    }
}

/// A database URL checked and rewritten for sqlx: `mariadb://` becomes `mysql://`, and a
/// SQLite URL gets `mode=rwc` (create the file if missing) unless it names a mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbUrl {
    pub engine: Engine,
    /// The URL handed to sqlx.
    pub url: String,
}

impl DbUrl {
    /// Parses a URL with one of the schemes `sqlite:`, `postgres://`, `postgresql://`,
    /// `mysql://`, `mariadb://`.
    pub fn parse(url: &str) -> Result<DbUrl, Error> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("sqlite:") {
            if rest.is_empty() || rest == "//" {
                return Err(Error::UnsupportedUrl { url: url.into() });
            }
            let url = if rest.contains("mode=") {
                url.to_string()
            } else if rest.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            return Ok(DbUrl {
                engine: Engine::Sqlite,
                url,
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbUrl {
                engine: Engine::Postgres,
                url: url.into(),
            });
        }
        if url.starts_with("mysql://") {
            return Ok(DbUrl {
                engine: Engine::Mysql,
                url: url.into(),
            });
        }
        if let Some(rest) = url.strip_prefix("mariadb://") {
            return Ok(DbUrl {
                engine: Engine::Mysql,
                url: format!("mysql://{rest}"),
            });
        }
        Err(Error::UnsupportedUrl { url: redact(url) })
    }

    /// The URL with any password replaced by `***`, for messages and logs.
    pub fn redacted(&self) -> String {
        redact(&self.url)
    }

    fn options(&self) -> anyhow::Result<AnyConnectOptions> {
        sqlx::any::install_default_drivers();
        let opts = AnyConnectOptions::from_str(&self.url)
            .map_err(|e| anyhow::anyhow!("invalid database URL {}: {e}", self.redacted()))?;
        Ok(opts.disable_statement_logging())
    }

    /// Opens one connection.
    pub async fn connect(&self) -> anyhow::Result<AnyConnection> {
        let opts = self.options()?;
        let mut conn = AnyConnection::connect_with(&opts)
            .await
            .map_err(|e| self.connect_error(e))?;
        self.prepare_session(&mut conn).await?;
        Ok(conn)
    }

    /// Opens a pool of up to `max` connections.
    pub async fn pool(&self, max: u32) -> anyhow::Result<AnyPool> {
        let opts = self.options()?;
        let engine = self.engine;
        AnyPoolOptions::new()
            .max_connections(max)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    session_sql(engine, conn).await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await
            .map_err(|e| self.connect_error(e))
    }

    fn connect_error(&self, e: sqlx::Error) -> anyhow::Error {
        let hint = match self.engine {
            Engine::Sqlite => "check that the file's directory exists and is writable",
            Engine::Postgres | Engine::Mysql => {
                "check that the server is running, the database exists and the user may log in"
            }
        };
        anyhow::anyhow!("cannot connect to {}: {e}; {hint}", self.redacted())
    }

    async fn prepare_session(&self, conn: &mut AnyConnection) -> anyhow::Result<()> {
        session_sql(self.engine, conn)
            .await
            .map_err(|e| anyhow::anyhow!("cannot prepare session on {}: {e}", self.redacted()))
    }
}

/// Session settings every connection gets: UTC for PostgreSQL and MySQL, so timestamp
/// literals and `NOW()` mean UTC.
async fn session_sql(engine: Engine, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    let sql = match engine {
        Engine::Sqlite => return Ok(()),
        Engine::Postgres => "SET TIME ZONE 'UTC'",
        Engine::Mysql => "SET time_zone = '+00:00'",
    };
    conn.execute(sqlx::raw_sql(sql)).await?;
    Ok(())
}

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &authority[..colon],
            &url[scheme_end + at..]
        ),
        _ => url.to_string(),
    }
}

/// Names of the tables in the connection's current database (or schema), sorted.
pub async fn tables(engine: Engine, conn: &mut AnyConnection) -> anyhow::Result<Vec<String>> {
    let sql = match engine {
        Engine::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        Engine::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             ORDER BY 1"
        }
        Engine::Mysql => {
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1"
        }
    };
    Ok(sqlx::query_scalar::<_, String>(sql)
        .fetch_all(&mut *conn)
        .await?)
}

/// The server's version string (`select version()` / `select sqlite_version()`).
pub async fn server_version(engine: Engine, pool: &AnyPool) -> anyhow::Result<String> {
    let sql = match engine {
        Engine::Sqlite => "SELECT sqlite_version()",
        Engine::Postgres | Engine::Mysql => "SELECT version()",
    };
    Ok(sqlx::query_scalar::<_, String>(sql).fetch_one(pool).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_the_file_unless_a_mode_is_given() {
        let u = DbUrl::parse("sqlite://data/clinic.db").unwrap();
        assert_eq!(u.engine, Engine::Sqlite);
        assert_eq!(u.url, "sqlite://data/clinic.db?mode=rwc");
        let u = DbUrl::parse("sqlite:///tmp/x.db?mode=ro").unwrap();
        assert_eq!(u.url, "sqlite:///tmp/x.db?mode=ro");
        let u = DbUrl::parse("sqlite:x.db?cache=shared").unwrap();
        assert_eq!(u.url, "sqlite:x.db?cache=shared&mode=rwc");
    }

    #[test]
    fn mariadb_scheme_maps_to_mysql() {
        let u = DbUrl::parse("mariadb://root@127.0.0.1:3306/clinic").unwrap();
        assert_eq!(u.engine, Engine::Mysql);
        assert_eq!(u.url, "mysql://root@127.0.0.1:3306/clinic");
        let u = DbUrl::parse("postgresql://u@h/db").unwrap();
        assert_eq!(u.engine, Engine::Postgres);
    }

    #[test]
    fn unknown_schemes_are_rejected_with_the_accepted_ones_named() {
        let e = DbUrl::parse("oracle://scott:tiger@h/db")
            .unwrap_err()
            .to_string();
        assert!(e.contains("oracle://scott:***@h/db"), "{e}");
        assert!(e.contains("sqlite://PATH"), "{e}");
        assert!(DbUrl::parse("sqlite:").is_err());
    }

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("mysql://root@h/db"), "mysql://root@h/db");
        assert_eq!(redact("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
    }
}
