//! Test support shared by the workspace's integration tests: a throw-away database per test
//! on the real servers of the machine (PostgreSQL, MariaDB) or in a temporary SQLite file.
//!
//! Policy for unreachable servers: with `CI=true` a test that needs a server and cannot reach
//! it fails; elsewhere it prints a loud `SKIPPED` line and the test returns early.
//! Server addresses come from `VALET_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and `VALET_TEST_MARIADB_URL` (default
//! `mysql://root@127.0.0.1:3306/mysql`).
//!
//! This crate is for tests only; nothing in the product depends on it.

pub mod smtp;

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

/// Which server a [`TestDb`] lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    MariaDb,
    Sqlite,
}

/// A database created for one test and dropped when the value is dropped.
#[derive(Debug)]
pub struct TestDb {
    /// Connection URL of the new database.
    pub url: String,
    /// Database name (server engines) or file path (SQLite).
    pub name: String,
    pub engine: Engine,
    admin_url: String,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name(tag: &str) -> String {
    let tag: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(24)
        .collect();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let r = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("vt_{tag}_{}_{n}_{r}", std::process::id())
}

/// True when running in CI, where an unreachable server is a failure rather than a skip.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// A test that cannot run here because `what` is missing: with `CI=true` it fails; otherwise it
/// says so loudly on stderr (straight to the stream: the harness hides a passing test's
/// `eprintln!`) and, when `VALET_SKIPPED_LOG` names a file (`scripts/test` sets it), adds a
/// line `test name: what` there, so that the test command lists every skipped test at its
/// end. `fix` tells the reader how to make it run.
pub fn skipped(what: &str, fix: &str) {
    if in_ci() {
        panic!("{what} in CI; {fix}");
    }
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!! SKIPPED: {test}: {what}; this test did not run. {fix}, or set CI=true to \
         make this a failure.\n"
    );
    if let Ok(log) = std::env::var("VALET_SKIPPED_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{test}: {what}");
        }
    }
}

fn unreachable(engine: &str, url: &str, err: &dyn std::fmt::Display) {
    skipped(
        &format!("{engine} at {url} is unreachable ({err})"),
        "Start the server",
    );
}

/// Admin URL of the PostgreSQL server used by tests.
pub fn pg_admin_url() -> String {
    std::env::var("VALET_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Admin URL of the MariaDB server used by tests.
pub fn mariadb_admin_url() -> String {
    std::env::var("VALET_TEST_MARIADB_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into())
}

fn replace_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], db);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl TestDb {
    /// A fresh PostgreSQL database, or `None` (after a loud notice) when the server is
    /// unreachable outside CI.
    pub async fn postgres(tag: &str) -> Option<TestDb> {
        let admin = pg_admin_url();
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => {
                unreachable("PostgreSQL", &admin, &e);
                return None;
            }
        };
        let name = unique_name(tag);
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .expect("create test database on PostgreSQL");
        let _ = conn.close().await;
        Some(TestDb {
            url: replace_db(&admin, &name),
            name,
            engine: Engine::Postgres,
            admin_url: admin,
            _dir: None,
        })
    }

    /// A fresh MariaDB database, or `None` (after a loud notice) when the server is
    /// unreachable outside CI.
    pub async fn mariadb(tag: &str) -> Option<TestDb> {
        let admin = mariadb_admin_url();
        let mut conn = match sqlx::MySqlConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => {
                unreachable("MariaDB", &admin, &e);
                return None;
            }
        };
        let name = unique_name(tag);
        sqlx::raw_sql(&format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        ))
        .execute(&mut conn)
        .await
        .expect("create test database on MariaDB");
        let _ = conn.close().await;
        Some(TestDb {
            url: replace_db(&admin, &name),
            name,
            engine: Engine::MariaDb,
            admin_url: admin,
            _dir: None,
        })
    }

    /// A fresh SQLite database file in its own temporary directory (`sqlite://…?mode=rwc`).
    pub fn sqlite(tag: &str) -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join(format!("{}.db", unique_name(tag)));
        let name = path.display().to_string();
        TestDb {
            url: format!("sqlite://{name}?mode=rwc"),
            name,
            engine: Engine::Sqlite,
            admin_url: String::new(),
            _dir: Some(dir),
        }
    }

    /// Another, empty database on the same server (or directory), e.g. a clone target.
    /// It is dropped with the returned value.
    pub async fn sibling(&self, tag: &str) -> TestDb {
        match self.engine {
            Engine::Postgres => TestDb::postgres(tag).await.expect("server was reachable"),
            Engine::MariaDb => TestDb::mariadb(tag).await.expect("server was reachable"),
            Engine::Sqlite => TestDb::sqlite(tag),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (engine, admin, name) = (self.engine, self.admin_url.clone(), self.name.clone());
        if engine == Engine::Sqlite {
            return;
        }
        // Drop runs inside a test's runtime; use a thread with its own runtime.
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                match engine {
                    Engine::Postgres => {
                        if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                            let _ = sqlx::raw_sql(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .execute(&mut c)
                            .await;
                        }
                    }
                    Engine::MariaDb => {
                        if let Ok(mut c) = sqlx::MySqlConnection::connect(&admin).await {
                            let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{name}`"))
                                .execute(&mut c)
                                .await;
                        }
                    }
                    Engine::Sqlite => {}
                }
            });
        });
        let _ = handle.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_db_keeps_credentials_and_query() {
        assert_eq!(
            replace_db("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(
            replace_db("mysql://root@127.0.0.1:3306", "db"),
            "mysql://root@127.0.0.1:3306/db"
        );
    }

    #[tokio::test]
    async fn postgres_database_is_created_and_dropped() {
        let Some(db) = TestDb::postgres("kit").await else {
            return;
        };
        let name = db.name.clone();
        let mut c = sqlx::PgConnection::connect(&db.url)
            .await
            .expect("connect new db");
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(one, 1);
        c.close().await.unwrap();
        drop(db);
        let mut admin = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert_eq!(n, 0, "test database must be dropped");
    }

    #[tokio::test]
    async fn mariadb_database_is_created_and_dropped() {
        let Some(db) = TestDb::mariadb("kit").await else {
            return;
        };
        let name = db.name.clone();
        drop(db);
        let mut admin = sqlx::MySqlConnection::connect(&mariadb_admin_url())
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?",
        )
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
        assert_eq!(n, 0, "test database must be dropped");
    }
}
