//! Shared test support: a database per test on each engine, table dumps that compare
//! across engines, and `spawn_app` that starts the real `clinic serve` on a free port.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use clinic::db::{DbUrl, Engine};
use sqlx::{AnyConnection, Connection, Row};
use valet_testkit::TestDb;

/// The engines every behaviour is checked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    Sqlite,
    Postgres,
    MariaDb,
}

/// A fresh database, or `None` when the server is unreachable outside CI (testkit has
/// already printed a loud SKIPPED line).
pub async fn fresh(on: On, tag: &str) -> Option<TestDb> {
    match on {
        On::Sqlite => Some(TestDb::sqlite(tag)),
        On::Postgres => TestDb::postgres(tag).await,
        On::MariaDb => TestDb::mariadb(tag).await,
    }
}

pub async fn connect(url: &str) -> (Engine, AnyConnection) {
    let db = DbUrl::parse(url).expect("test URL parses");
    let conn = db.connect().await.expect("connect to the test database");
    (db.engine, conn)
}

/// Runs a query returning one integer.
pub async fn scalar(url: &str, sql: &str) -> i64 {
    let (_, mut conn) = connect(url).await;
    let n: i64 = sqlx::query_scalar(sql)
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
    n
}

/// Runs a query returning strings (one column).
pub async fn strings(url: &str, sql: &str) -> Vec<String> {
    let (_, mut conn) = connect(url).await;
    let v: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
    v
}

pub async fn tables(url: &str) -> Vec<String> {
    let (engine, mut conn) = connect(url).await;
    let t = clinic::db::tables(engine, &mut conn).await.unwrap();
    conn.close().await.ok();
    t
}

pub async fn columns(url: &str, table: &str) -> Vec<String> {
    let (engine, _) = connect(url).await;
    let sql = match engine {
        Engine::Sqlite => format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
        Engine::Postgres => format!(
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}' \
             ORDER BY ordinal_position"
        ),
        Engine::Mysql => format!(
            "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = '{table}' \
             ORDER BY ordinal_position"
        ),
    };
    strings(url, &sql).await
}

/// True when an index of that name exists.
pub async fn has_index(url: &str, name: &str) -> bool {
    let (engine, _) = connect(url).await;
    let sql = match engine {
        Engine::Sqlite => {
            format!("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = '{name}'")
        }
        Engine::Postgres => format!(
            "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() \
             AND indexname = '{name}'"
        ),
        Engine::Mysql => format!(
            "SELECT COUNT(*) FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND index_name = '{name}'"
        ),
    };
    scalar(url, &sql).await > 0
}

/// One table's rows, every column rendered as text, in a form equal across engines:
/// PostgreSQL's `+00` on timestamps is dropped and `value_num` is read as a number.
pub type TableDump = Vec<Vec<Option<String>>>;

/// Every table, every column, every row, ordered by id (or by all columns).
pub async fn dump(url: &str) -> BTreeMap<String, (Vec<String>, TableDump)> {
    let mut out = BTreeMap::new();
    for table in tables(url).await {
        let cols = columns(url, &table).await;
        out.insert(
            table.clone(),
            (cols.clone(), dump_table(url, &table, &cols).await),
        );
    }
    out
}

pub async fn dump_table(url: &str, table: &str, cols: &[String]) -> TableDump {
    let (engine, mut conn) = connect(url).await;
    let quoted: Vec<String> = cols
        .iter()
        .map(|c| match engine {
            Engine::Mysql => format!("`{c}`"),
            _ => format!("\"{c}\""),
        })
        .collect();
    let select: Vec<String> = quoted.iter().map(|c| engine.text(c)).collect();
    // Qualified, so PostgreSQL orders by the column and not by its text cast (named "id").
    let order = if cols.iter().any(|c| c == "id") {
        format!("{table}.id")
    } else {
        (1..=cols.len())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sql = format!("SELECT {} FROM {table} ORDER BY {order}", select.join(", "));
    let rows = sqlx::query(&sql)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
    rows.iter()
        .map(|r| {
            cols.iter()
                .enumerate()
                .map(|(i, col)| {
                    let v: Option<String> = r.try_get(i).unwrap();
                    v.map(|v| normalize(col, v))
                })
                .collect()
        })
        .collect()
}

fn normalize(col: &str, v: String) -> String {
    if col == "value_num" {
        let n: f64 = v.parse().unwrap_or_else(|_| panic!("value_num {v}"));
        return format!("{n}");
    }
    let b = v.as_bytes();
    let looks_like_ts = b.len() == 22 && b[4] == b'-' && b[10] == b' ' && v.ends_with("+00");
    if looks_like_ts {
        return v[..19].to_string();
    }
    v
}

/// The clinic binary built for these tests.
pub fn clinic_bin() -> &'static str {
    env!("CARGO_BIN_EXE_clinic")
}

/// Runs `clinic` with arguments; returns (success, stdout, stderr).
pub fn run_clinic(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(clinic_bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run clinic");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running `clinic serve`, killed when dropped.
pub struct App {
    pub child: Child,
    pub base_url: String,
    pub banner: BTreeMap<String, String>,
    pub state_dir: PathBuf,
    pub client: reqwest::Client,
}

impl App {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .expect("request to clinic")
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("clinic did not stop within 10 s of SIGTERM");
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `clinic serve` on a free port (port 0; the banner says which) and waits for
/// `ready: true`.
pub fn spawn_app(db_url: &str, release: &str, env_name: &str, state_dir: &Path) -> App {
    let mut child = Command::new(clinic_bin())
        .args([
            "serve",
            "--db",
            db_url,
            "--listen",
            "127.0.0.1:0",
            "--release",
            release,
            "--env-name",
            env_name,
            "--state-dir",
        ])
        .arg(state_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn clinic serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = BTreeMap::new();
    loop {
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                panic!("clinic serve printed no `ready: true` within 30 s ({e}); banner so far: {banner:?}");
            }
        };
        if let Some((k, v)) = line.split_once(": ") {
            banner.insert(k.to_string(), v.to_string());
        }
        if line == "ready: true" {
            break;
        }
    }
    let base_url = format!("http://{}", banner["listen"]);
    App {
        child,
        base_url,
        banner,
        state_dir: state_dir.to_path_buf(),
        client: reqwest::Client::new(),
    }
}
