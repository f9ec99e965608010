//! Configuration: flags > `VALET_…` environment variables > `valet.toml` > defaults.
//!
//! Flags and environment variables are handled by clap (each flag names its variable);
//! `valet.toml` (or the file named by `--config`) fills in what neither gave. Unknown keys in
//! the file are errors, so a typo does not silently fall back to a default.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

/// The keys `valet.toml` may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub log: Option<String>,
    /// Longest validation period of a VAL request, in days (default 183: six months).
    pub val_max_days: Option<i64>,
    /// Days of notice an accepted hotfix's upgrade needs, per severity:
    /// `hotfix_notice_days = { critical = 1, high = 7, normal = 21 }` (the defaults).
    pub hotfix_notice_days: Option<valet_core::hotfix::HotfixNotice>,
}

/// Reads the config file: the one named explicitly must exist; `./valet.toml` is optional.
pub fn load_file(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
    let (path, required) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from("valet.toml"), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(FileConfig::default())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    parse(&text, &path)
}

/// Parses config text; errors name the file, line and column in one line.
pub fn parse(text: &str, path: &Path) -> anyhow::Result<FileConfig> {
    match toml::from_str::<FileConfig>(text) {
        Ok(c) => Ok(c),
        Err(e) => {
            let at = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
                    format!(":{line}:{col}")
                })
                .unwrap_or_default();
            bail!(
                "{}{at}: {}; fix the file or pass --config with another one (keys: data_dir, \
                 database_url, listen, log, val_max_days, hotfix_notice_days)",
                path.display(),
                e.message()
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

/// The resolved settings every command uses.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub listen: String,
    pub val_rules: valet_core::val::ValRules,
    pub hotfix_notice: valet_core::hotfix::HotfixNotice,
}

impl Settings {
    pub fn resolve(
        data_dir: Option<PathBuf>,
        database_url: Option<String>,
        listen: Option<String>,
        file: &FileConfig,
    ) -> anyhow::Result<Settings> {
        let data_dir = data_dir
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("valet-data"));
        let database_url = database_url
            .or_else(|| file.database_url.clone())
            .unwrap_or_else(|| format!("sqlite://{}/valet.db", data_dir.display()));
        // Check the scheme before anything touches the disk.
        valet_store::Backend::of_url(&database_url)?;
        let listen = listen
            .or_else(|| file.listen.clone())
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let mut val_rules = valet_core::val::ValRules::default();
        let max_days = match std::env::var("VALET_VAL_MAX_DAYS") {
            Ok(v) if !v.trim().is_empty() => Some(v.trim().parse::<i64>().map_err(|_| {
                anyhow::anyhow!("VALET_VAL_MAX_DAYS=`{v}`: give a whole number of days, e.g. 183")
            })?),
            _ => file.val_max_days,
        };
        if let Some(d) = max_days {
            if !(1..=3660).contains(&d) {
                bail!("val_max_days = {d}: give between 1 and 3660 days (default 183, six months)");
            }
            val_rules.max_days = d;
        }
        let hotfix_notice = file.hotfix_notice_days.unwrap_or_default();
        hotfix_notice.check().map_err(anyhow::Error::msg)?;
        Ok(Settings {
            data_dir,
            database_url,
            listen,
            val_rules,
            hotfix_notice,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_file_is_one_line_with_position() {
        let err = parse("listen = \"x\"\ndata_dir = = 3\n", Path::new("valet.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("valet.toml:2:"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn hotfix_notice_days_default_and_can_be_set_per_severity() {
        let s = Settings::resolve(None, None, None, &FileConfig::default()).unwrap();
        assert_eq!(s.hotfix_notice, valet_core::hotfix::HotfixNotice::default());
        let file = parse(
            "hotfix_notice_days = { critical = 0, high = 3 }\n",
            Path::new("f"),
        )
        .unwrap();
        let s = Settings::resolve(None, None, None, &file).unwrap();
        assert_eq!(
            (
                s.hotfix_notice.critical,
                s.hotfix_notice.high,
                s.hotfix_notice.normal
            ),
            (0, 3, 21)
        );
        let file = parse("hotfix_notice_days = { high = 900 }\n", Path::new("f")).unwrap();
        let e = Settings::resolve(None, None, None, &file)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hotfix_notice_days.high"), "{e}");
        assert!(parse("hotfix_notice_days = { urgent = 1 }\n", Path::new("f")).is_err());
    }

    #[test]
    fn unknown_key_is_an_error() {
        let err = parse("databse_url = \"sqlite://x\"\n", Path::new("valet.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("databse_url"), "{err}");
    }

    #[test]
    fn flags_beat_file_and_defaults_follow_data_dir() {
        let file = parse(
            "listen = \"0.0.0.0:9\"\ndata_dir = \"/srv/v\"\n",
            Path::new("f"),
        )
        .unwrap();
        let s = Settings::resolve(None, None, Some("127.0.0.1:1".into()), &file).unwrap();
        assert_eq!(s.listen, "127.0.0.1:1");
        assert_eq!(s.database_url, "sqlite:///srv/v/valet.db");
        assert!(Settings::resolve(None, Some("mongodb://x".into()), None, &file).is_err());
    }
}
