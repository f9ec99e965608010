//! App profiles: how valet operates a managed app (start, migrate, maintenance on/off,
//! generate sample data), where its health and version endpoints are, and the SQL that reads
//! its data-collection activity. A profile is a TOML file shipped with the app, e.g.
//! `examples/clinic/valet-app.toml`.
//!
//! Commands are argv arrays (never shell strings) with placeholders `{bin}`, `{db_url}`,
//! `{listen}`, `{release}`, `{env_name}`, `{state_dir}`; an unknown placeholder is an error
//! when the profile is loaded, not when an upgrade is half-way.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{OpsError, Result};

pub const PLACEHOLDERS: &[&str] = &[
    "bin",
    "db_url",
    "listen",
    "release",
    "env_name",
    "state_dir",
];

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AppProfile {
    pub app: AppSection,
    pub commands: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub health: Endpoint,
    #[serde(default)]
    pub version: Option<Endpoint>,
    #[serde(default)]
    pub activity: Option<toml::Value>,
    /// The app's configuration tables, carried over by a VAL refresh.
    #[serde(default)]
    pub configuration: Option<ConfigurationSection>,
}

/// `[configuration]`: what a VAL refresh carries over from the old VAL.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigurationSection {
    /// Tables copied whole from the old VAL into the fresh clone (plain SQL identifiers).
    pub tables: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AppSection {
    pub name: String,
    #[serde(flatten)]
    pub extra: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Endpoint {
    pub path: String,
    #[serde(flatten)]
    pub extra: BTreeMap<String, toml::Value>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint {
            path: "/health".into(),
            extra: BTreeMap::new(),
        }
    }
}

/// Values for the placeholders of one environment.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    /// The program (and leading arguments) that `{bin}` expands to.
    pub bin: Vec<String>,
    pub db_url: String,
    pub listen: String,
    pub release: String,
    pub env_name: String,
    pub state_dir: String,
}

impl AppProfile {
    pub fn load(path: &Path) -> Result<AppProfile> {
        let text = std::fs::read_to_string(path).map_err(|e| OpsError::Profile {
            path: path.display().to_string(),
            why: format!("cannot read it: {e}"),
        })?;
        AppProfile::from_toml_str(&text, &path.display().to_string())
    }

    pub fn from_toml_str(text: &str, origin: &str) -> Result<AppProfile> {
        let profile: AppProfile = toml::from_str(text).map_err(|e| OpsError::Profile {
            path: origin.to_string(),
            why: e.to_string(),
        })?;
        for (name, argv) in &profile.commands {
            if argv.is_empty() {
                return Err(OpsError::Profile {
                    path: origin.to_string(),
                    why: format!("command `{name}` is empty; give the program and its arguments"),
                });
            }
            for arg in argv {
                for ph in placeholders_in(arg) {
                    if !PLACEHOLDERS.contains(&ph) {
                        return Err(OpsError::Profile {
                            path: origin.to_string(),
                            why: format!(
                                "command `{name}` uses unknown placeholder `{{{ph}}}`; known: {}",
                                PLACEHOLDERS
                                    .iter()
                                    .map(|p| format!("{{{p}}}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        });
                    }
                }
            }
        }
        if !profile.commands.contains_key("start") {
            return Err(OpsError::Profile {
                path: origin.to_string(),
                why: "no `start` command in [commands]; valet needs it to run the app".into(),
            });
        }
        Ok(profile)
    }

    /// The argv of command `name` with placeholders filled in.
    pub fn argv(&self, name: &str, vars: &Vars) -> Result<Vec<String>> {
        let template = self.commands.get(name).ok_or_else(|| OpsError::Profile {
            path: self.app.name.clone(),
            why: format!("the profile has no `{name}` command"),
        })?;
        let mut out = Vec::new();
        for arg in template {
            if arg == "{bin}" {
                out.extend(vars.bin.iter().cloned());
                continue;
            }
            out.push(
                arg.replace("{bin}", vars.bin.first().map(String::as_str).unwrap_or(""))
                    .replace("{db_url}", &vars.db_url)
                    .replace("{listen}", &vars.listen)
                    .replace("{release}", &vars.release)
                    .replace("{env_name}", &vars.env_name)
                    .replace("{state_dir}", &vars.state_dir),
            );
        }
        Ok(out)
    }
}

fn placeholders_in(arg: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = arg;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                out.push(&after[..end]);
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
        [app]
        name = "clinic"
        [commands]
        start = ["{bin}", "serve", "--db", "{db_url}", "--listen", "{listen}"]
        migrate = ["{bin}", "migrate", "--db", "{db_url}", "--to", "{release}"]
        [health]
        path = "/health"
    "#;

    #[test]
    fn bin_expands_to_several_arguments() {
        let p = AppProfile::from_toml_str(SAMPLE, "sample").unwrap();
        let vars = Vars {
            bin: vec!["/usr/bin/valet".into(), "clinic".into()],
            db_url: "sqlite://x.db".into(),
            listen: "127.0.0.1:1".into(),
            ..Vars::default()
        };
        assert_eq!(
            p.argv("start", &vars).unwrap(),
            vec![
                "/usr/bin/valet",
                "clinic",
                "serve",
                "--db",
                "sqlite://x.db",
                "--listen",
                "127.0.0.1:1"
            ]
        );
    }

    #[test]
    fn unknown_placeholder_is_rejected_at_load() {
        let bad = SAMPLE.replace("{listen}", "{port}");
        let err = AppProfile::from_toml_str(&bad, "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.toml") && err.contains("{port}"), "{err}");
    }

    #[test]
    fn missing_start_and_malformed_toml_are_reported() {
        let err = AppProfile::from_toml_str("[app]\nname='x'\n[commands]\n", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("start"), "{err}");
        let err = AppProfile::from_toml_str("[app\nname=", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.toml"), "{err}");
    }
}
