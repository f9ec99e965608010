//! Backups, restores and table checksums of a managed app's database (SQLite only in this
//! first slice; PostgreSQL and MariaDB follow with engine-native methods).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::error::{OpsError, Result};

/// Where a backup of one database lives and how it was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    pub engine: String,
    pub method: String,
    pub location: String,
    pub bytes: Option<u64>,
    pub took_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSum {
    pub rows: u64,
    pub sha256: String,
    pub columns: Vec<String>,
}

pub type Checksums = BTreeMap<String, TableSum>;

fn sqlite_path(url: &str) -> Result<String> {
    url.strip_prefix("sqlite://")
        .map(|p| p.split('?').next().unwrap_or(p).to_string())
        .ok_or_else(|| OpsError::Payload("only SQLite databases are supported yet".into()))
}

async fn pool(url: &str) -> Result<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    Ok(sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?)
}

pub async fn backup(url: &str, dir: &Path, label: &str) -> Result<Backup> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(dir)?;
    let target = dir.join(format!("{label}.db"));
    let _ = std::fs::remove_file(&target);
    let p = pool(url).await?;
    sqlx::query(&format!(
        "VACUUM INTO '{}'",
        target.display().to_string().replace('\'', "''")
    ))
    .execute(&p)
    .await?;
    p.close().await;
    Ok(Backup {
        engine: "sqlite".into(),
        method: "vacuum-into".into(),
        location: target.display().to_string(),
        bytes: std::fs::metadata(&target).ok().map(|m| m.len()),
        took_ms: started.elapsed().as_millis() as u64,
    })
}

pub async fn restore(url: &str, backup: &Backup) -> Result<()> {
    let path = sqlite_path(url)?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
    std::fs::copy(&backup.location, &path)?;
    Ok(())
}

pub async fn verify_restorable(_url: &str, backup: &Backup, expected: &Checksums) -> Result<()> {
    let got = table_checksums(&format!("sqlite://{}", backup.location)).await?;
    if &got != expected {
        return Err(OpsError::Payload(format!(
            "the backup at {} does not match the database",
            backup.location
        )));
    }
    Ok(())
}

pub async fn drop_backup(_url: &str, backup: &Backup) -> Result<()> {
    let _ = std::fs::remove_file(&backup.location);
    Ok(())
}

pub async fn table_checksums(url: &str) -> Result<Checksums> {
    use sha2::{Digest, Sha256};
    let p = pool(url).await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&p)
    .await?;
    let mut out = BTreeMap::new();
    for t in tables {
        let cols: Vec<(String, String)> = sqlx::query(&format!("PRAGMA table_info(\"{t}\")"))
            .fetch_all(&p)
            .await?
            .iter()
            .map(|r| {
                (
                    r.try_get::<String, _>("name").unwrap_or_default(),
                    r.try_get::<String, _>("type").unwrap_or_default(),
                )
            })
            .collect();
        let expr = cols
            .iter()
            .map(|(c, _)| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || ',' || ");
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT {expr} AS r FROM \"{t}\" ORDER BY 1"))
                .fetch_all(&p)
                .await?;
        let mut h = Sha256::new();
        for r in &rows {
            h.update(r.as_bytes());
            h.update(b"\n");
        }
        out.insert(
            t,
            TableSum {
                rows: rows.len() as u64,
                sha256: hex::encode(h.finalize()),
                columns: cols.iter().map(|(c, ty)| format!("{c} {ty}")).collect(),
            },
        );
    }
    p.close().await;
    Ok(out)
}
