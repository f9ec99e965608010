//! The environment's configuration: the `system_settings` rows `clinic configure` writes
//! (environment name, banner text, SSO, lab endpoint) and the configuration report it prints
//! for valet's IQ report. The customer's own configuration (saved reports and dashboards)
//! lives in `report_definitions` and `dashboard_definitions`; it is only counted here.

use std::fmt;
use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Connection, Executor};

use crate::db::{self, DbUrl, Engine};
use crate::release::{self, ReleaseInfo};
use crate::{schema, Error};

/// `system_settings` keys written by `clinic configure`. Each run replaces all of them, so
/// a setting left out is removed (a VAL cloned from PROD keeps neither PROD's SSO nor its
/// lab endpoint unless they are given again).
pub mod keys {
    pub const ENVIRONMENT_NAME: &str = "environment_name";
    pub const BANNER: &str = "banner";
    pub const SSO_ENABLED: &str = "sso_enabled";
    pub const SSO_METADATA: &str = "sso_metadata";
    pub const SSO_METADATA_SHA256: &str = "sso_metadata_sha256";
    pub const LAB_ENDPOINT: &str = "lab_endpoint";
    /// Every key `configure` owns.
    pub const ALL: &[&str] = &[
        ENVIRONMENT_NAME,
        BANNER,
        SSO_ENABLED,
        SSO_METADATA,
        SSO_METADATA_SHA256,
        LAB_ENDPOINT,
    ];
}

/// What `clinic configure` sets. Empty or blank optional values count as not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub env_name: String,
    /// Banner text shown after the environment name; `None` for the default of the
    /// environment's kind (see [`default_banner`]).
    pub banner: Option<String>,
    /// Where the SSO identity provider's metadata comes from: a file path or an
    /// `http(s)://` URL. `None` disables SSO.
    pub sso_metadata: Option<String>,
    /// The lab system's endpoint (free text, e.g. an HL7 host:port or URL).
    pub lab: Option<String>,
}

/// The SSO identity provider's metadata as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsoMetadata {
    /// A file, by absolute path, with the SHA-256 of its content (lowercase hex).
    File { path: String, sha256: String },
    /// A URL; not fetched, so no checksum.
    Url(String),
}

impl SsoMetadata {
    /// Reads a file (to checksum it) or takes a URL as given.
    pub fn resolve(source: &str) -> anyhow::Result<SsoMetadata> {
        let source = source.trim();
        if source.starts_with("https://") || source.starts_with("http://") {
            return Ok(SsoMetadata::Url(source.to_string()));
        }
        let path = Path::new(source);
        let content = std::fs::read(path).with_context(|| {
            format!(
                "cannot read the SSO metadata file `{source}`; give a readable file or an \
                 https:// URL"
            )
        })?;
        let absolute = std::fs::canonicalize(path)
            .with_context(|| format!("cannot resolve the SSO metadata path `{source}`"))?;
        Ok(SsoMetadata::File {
            path: absolute.display().to_string(),
            sha256: hex::encode(Sha256::digest(&content)),
        })
    }

    fn source(&self) -> &str {
        match self {
            SsoMetadata::File { path, .. } => path,
            SsoMetadata::Url(url) => url,
        }
    }
}

/// The banner text for an environment without a `banner` setting, by the kind its name
/// says: `VAL…` validation, `PROD…` production, anything else a test environment.
pub fn default_banner(env_name: &str) -> &'static str {
    let upper = env_name.to_uppercase();
    if upper.starts_with("VAL") {
        "VAL — not for clinical use"
    } else if upper.starts_with("PROD") {
        "production"
    } else {
        "test environment — not for clinical use"
    }
}

/// What an environment is configured as, printed by `clinic configure` as `key: value`
/// lines (see its `Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationReport {
    pub env_name: String,
    /// The banner text users see after the environment name.
    pub banner: String,
    /// True when the text comes from the `banner` setting, false for the default.
    pub banner_is_setting: bool,
    pub sso: Option<SsoMetadata>,
    pub lab: Option<String>,
    pub report_definitions: i64,
    pub dashboard_definitions: i64,
    pub release: &'static ReleaseInfo,
}

impl fmt::Display for ConfigurationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "environment_name: {}", self.env_name)?;
        writeln!(f, "banner: {}", self.banner)?;
        writeln!(
            f,
            "banner_source: {}",
            if self.banner_is_setting {
                "setting"
            } else {
                "default"
            }
        )?;
        writeln!(f, "sso_enabled: {}", self.sso.is_some())?;
        match &self.sso {
            None => writeln!(f, "sso_metadata: (none)")?,
            Some(sso) => {
                writeln!(f, "sso_metadata: {}", sso.source())?;
                if let SsoMetadata::File { sha256, .. } = sso {
                    writeln!(f, "sso_metadata_sha256: {sha256}")?;
                }
            }
        }
        writeln!(
            f,
            "lab_endpoint: {}",
            self.lab.as_deref().unwrap_or("(none)")
        )?;
        writeln!(f, "report_definitions: {}", self.report_definitions)?;
        writeln!(f, "dashboard_definitions: {}", self.dashboard_definitions)?;
        writeln!(f, "schema_release: {}", self.release.version)?;
        write!(f, "schema_build: {}", self.release.build)
    }
}

/// Writes the settings (replacing every key `configure` owns, in one transaction; running it
/// twice gives the same rows) and reports the configuration that results.
pub async fn configure(url: &str, settings: &Settings) -> anyhow::Result<ConfigurationReport> {
    let db = DbUrl::parse(url)?;
    let env_name = settings.env_name.trim();
    anyhow::ensure!(
        !env_name.is_empty(),
        "the environment name is empty; give --env-name, e.g. VAL-ACME"
    );
    let sso = given(&settings.sso_metadata)
        .map(SsoMetadata::resolve)
        .transpose()?;
    let mut rows: Vec<(&str, String)> = vec![
        (keys::ENVIRONMENT_NAME, env_name.to_string()),
        (keys::SSO_ENABLED, sso.is_some().to_string()),
    ];
    if let Some(banner) = given(&settings.banner) {
        rows.push((keys::BANNER, banner.to_string()));
    }
    if let Some(sso) = &sso {
        rows.push((keys::SSO_METADATA, sso.source().to_string()));
        if let SsoMetadata::File { sha256, .. } = sso {
            rows.push((keys::SSO_METADATA_SHA256, sha256.clone()));
        }
    }
    if let Some(lab) = given(&settings.lab) {
        rows.push((keys::LAB_ENDPOINT, lab.to_string()));
    }

    let mut conn = db.connect().await?;
    check_schema(db.engine, &mut conn).await?;
    write(db.engine, &mut conn, &rows)
        .await
        .with_context(|| format!("writing system_settings of {}", db.redacted()))?;
    let report = report_on(db.engine, &mut conn).await?;
    conn.close().await.ok();
    Ok(report)
}

/// The configuration of the database at `url`, read only.
pub async fn report(url: &str) -> anyhow::Result<ConfigurationReport> {
    let db = DbUrl::parse(url)?;
    let mut conn = db.connect().await?;
    check_schema(db.engine, &mut conn).await?;
    let report = report_on(db.engine, &mut conn).await?;
    conn.close().await.ok();
    Ok(report)
}

/// The `banner` setting, if the database has one.
pub(crate) async fn banner_setting(
    engine: Engine,
    conn: &mut AnyConnection,
) -> anyhow::Result<Option<String>> {
    setting(engine, conn, keys::BANNER).await
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Refuses an empty database and one made before the configuration tables existed.
async fn check_schema(engine: Engine, conn: &mut AnyConnection) -> anyhow::Result<()> {
    if schema::current_on(engine, conn).await?.is_none() {
        return Err(Error::NoSchema {
            wanted: release::latest().version.into(),
        }
        .into());
    }
    let tables = db::tables(engine, conn).await?;
    for table in [
        "system_settings",
        "report_definitions",
        "dashboard_definitions",
    ] {
        anyhow::ensure!(
            tables.iter().any(|t| t == table),
            "the database has no {table} table: it was created by a clinic build older than \
             the configuration tables; create it again with this build (`clinic gen` or \
             `clinic migrate`)"
        );
    }
    Ok(())
}

/// The `key` column, quoted (a reserved word in MySQL).
fn key_column(engine: Engine) -> &'static str {
    match engine {
        Engine::Mysql => "`key`",
        Engine::Sqlite | Engine::Postgres => "\"key\"",
    }
}

/// Bind parameter number `n` (from 1) in the engine's syntax.
fn param(engine: Engine, n: usize) -> String {
    match engine {
        Engine::Postgres => format!("${n}"),
        Engine::Sqlite | Engine::Mysql => "?".into(),
    }
}

async fn write(
    engine: Engine,
    conn: &mut AnyConnection,
    rows: &[(&str, String)],
) -> anyhow::Result<()> {
    let key = key_column(engine);
    let owned: Vec<String> = keys::ALL.iter().map(|k| format!("'{k}'")).collect();
    let delete = format!(
        "DELETE FROM system_settings WHERE {key} IN ({})",
        owned.join(", ")
    );
    let insert = format!(
        "INSERT INTO system_settings ({key}, value) VALUES ({}, {})",
        param(engine, 1),
        param(engine, 2)
    );
    let mut tx = conn.begin().await?;
    tx.execute(sqlx::raw_sql(&delete)).await?;
    for (k, v) in rows {
        sqlx::query(&insert)
            .bind(*k)
            .bind(v.as_str())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn setting(
    engine: Engine,
    conn: &mut AnyConnection,
    name: &str,
) -> anyhow::Result<Option<String>> {
    let sql = format!(
        "SELECT {} FROM system_settings WHERE {} = {}",
        engine.text("value"),
        key_column(engine),
        param(engine, 1)
    );
    let value: Option<Option<String>> = sqlx::query_scalar(&sql)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(value.flatten().filter(|v| !v.is_empty()))
}

async fn report_on(
    engine: Engine,
    conn: &mut AnyConnection,
) -> anyhow::Result<ConfigurationReport> {
    let release = schema::current_on(engine, conn)
        .await?
        .context("the database has no clinic schema")?;
    let env_name = setting(engine, conn, keys::ENVIRONMENT_NAME)
        .await?
        .unwrap_or_default();
    let banner = setting(engine, conn, keys::BANNER).await?;
    let sso = match setting(engine, conn, keys::SSO_METADATA).await? {
        None => None,
        Some(source) => Some(
            match setting(engine, conn, keys::SSO_METADATA_SHA256).await? {
                Some(sha256) => SsoMetadata::File {
                    path: source,
                    sha256,
                },
                None => SsoMetadata::Url(source),
            },
        ),
    };
    let lab = setting(engine, conn, keys::LAB_ENDPOINT).await?;
    let count = |table: &'static str| format!("SELECT COUNT(*) FROM {table}");
    let report_definitions: i64 = sqlx::query_scalar(&count("report_definitions"))
        .fetch_one(&mut *conn)
        .await?;
    let dashboard_definitions: i64 = sqlx::query_scalar(&count("dashboard_definitions"))
        .fetch_one(&mut *conn)
        .await?;
    Ok(ConfigurationReport {
        banner_is_setting: banner.is_some(),
        banner: banner.unwrap_or_else(|| default_banner(&env_name).to_string()),
        env_name,
        sso,
        lab,
        report_definitions,
        dashboard_definitions,
        release,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_banner_follows_the_environment_kind() {
        assert_eq!(default_banner("VAL-ACME"), "VAL — not for clinical use");
        assert_eq!(default_banner("val-test"), "VAL — not for clinical use");
        assert_eq!(default_banner("PROD-MAIN"), "production");
        assert_eq!(
            default_banner("DEV"),
            "test environment — not for clinical use"
        );
    }

    #[test]
    fn sso_metadata_file_is_checksummed_and_url_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idp.xml");
        std::fs::write(&path, "abc").unwrap();
        match SsoMetadata::resolve(&path.display().to_string()).unwrap() {
            SsoMetadata::File { path: p, sha256 } => {
                assert!(Path::new(&p).is_absolute(), "{p}");
                assert_eq!(
                    sha256,
                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            SsoMetadata::resolve("https://idp.example/metadata").unwrap(),
            SsoMetadata::Url("https://idp.example/metadata".into())
        );
        let err = format!(
            "{:#}",
            SsoMetadata::resolve(&dir.path().join("missing.xml").display().to_string())
                .unwrap_err()
        );
        assert!(
            err.contains("missing.xml") && err.contains("https:// URL"),
            "{err}"
        );
    }
}
