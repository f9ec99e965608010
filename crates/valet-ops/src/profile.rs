//! App profiles: how valet operates a managed app (start, migrate, maintenance on/off,
//! generate sample data), where its health and version endpoints are, and the SQL that reads
//! its data-collection activity. A profile is a TOML file shipped with the app, e.g.
//! `examples/clinic/valet-app.toml`.
//!
//! Commands are argv arrays (never shell strings) with placeholders `{bin}`, `{db_url}`,
//! `{listen}`, `{release}`, `{env_name}`, `{state_dir}` and the optional `{banner}`,
//! `{sso_metadata}`, `{lab}`; an unknown placeholder is an error when the profile is loaded,
//! not when an upgrade is half-way.
//!
//! Optional arguments: an argv element that is exactly one optional placeholder (e.g.
//! `"{lab}"`) whose value is empty is dropped, together with the element before it when that
//! one is a flag (starts with `-` and holds no placeholder). So `"--lab", "{lab}"` vanishes
//! for an environment without a lab endpoint instead of passing `--lab ""`.
//!
//! `[configuration] tables` names the app's configuration tables (saved reports,
//! dashboards): what a VAL refresh copies from the old VAL into the fresh clone.

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
    "banner",
    "sso_metadata",
    "lab",
];

/// Placeholders that may be empty; see the module documentation for how an empty one drops
/// its argument.
pub const OPTIONAL_PLACEHOLDERS: &[&str] = &["banner", "sso_metadata", "lab"];

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
    /// How an upgrade checks the app's data.
    #[serde(default)]
    pub upgrade: Option<UpgradeSection>,
}

/// `[upgrade]`: what the upgrade runbook must know about the app's data.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpgradeSection {
    /// Tables a migration writes without reshaping them (the app's own record of applied
    /// migrations): excluded from the "untouched tables are identical" smoke check.
    #[serde(default)]
    pub bookkeeping_tables: Vec<String>,
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
    /// Banner text; empty for the app's default.
    pub banner: String,
    /// SSO identity provider metadata (file path or URL); empty without SSO.
    pub sso_metadata: String,
    /// Lab system endpoint; empty without one.
    pub lab: String,
}

impl Vars {
    fn value(&self, placeholder: &str) -> Option<&str> {
        Some(match placeholder {
            "db_url" => &self.db_url,
            "listen" => &self.listen,
            "release" => &self.release,
            "env_name" => &self.env_name,
            "state_dir" => &self.state_dir,
            "banner" => &self.banner,
            "sso_metadata" => &self.sso_metadata,
            "lab" => &self.lab,
            _ => return None,
        })
    }
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
        if let Some(config) = &profile.configuration {
            for table in &config.tables {
                let plain = !table.is_empty()
                    && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !table.starts_with(|c: char| c.is_ascii_digit());
                if !plain {
                    return Err(OpsError::Profile {
                        path: origin.to_string(),
                        why: format!(
                            "[configuration] tables: `{table}` is not a plain table name \
                             (letters, digits and `_`, not starting with a digit)"
                        ),
                    });
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

    /// The argv of command `name` with placeholders filled in; an empty optional
    /// placeholder drops its argument (and the flag before it), see the module docs.
    pub fn argv(&self, name: &str, vars: &Vars) -> Result<Vec<String>> {
        let template = self.commands.get(name).ok_or_else(|| OpsError::Profile {
            path: self.app.name.clone(),
            why: format!("the profile has no `{name}` command"),
        })?;
        let mut out: Vec<String> = Vec::new();
        for (i, arg) in template.iter().enumerate() {
            if arg == "{bin}" {
                out.extend(vars.bin.iter().cloned());
                continue;
            }
            if let Some(ph) = sole_placeholder(arg) {
                if OPTIONAL_PLACEHOLDERS.contains(&ph) && vars.value(ph).is_some_and(str::is_empty)
                {
                    let prev_is_flag = i > 0 && {
                        let prev = &template[i - 1];
                        prev.starts_with('-') && placeholders_in(prev).is_empty()
                    };
                    if prev_is_flag {
                        out.pop();
                    }
                    continue;
                }
            }
            out.push(fill(arg, vars));
        }
        Ok(out)
    }

    /// The configuration tables a VAL refresh carries over (none without `[configuration]`).
    pub fn configuration_tables(&self) -> &[String] {
        self.configuration
            .as_ref()
            .map_or(&[], |c| c.tables.as_slice())
    }
}

/// `arg` with every known placeholder replaced, in one pass (a value that itself holds
/// `{…}` is not expanded again). `{bin}` inside a longer argument is the program alone.
fn fill(arg: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        match name {
            "bin" => out.push_str(vars.bin.first().map(String::as_str).unwrap_or("")),
            _ => match vars.value(name) {
                Some(value) => out.push_str(value),
                None => out.push_str(&rest[start..start + end + 2]),
            },
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The placeholder name when `arg` is exactly one placeholder, like `{lab}`.
fn sole_placeholder(arg: &str) -> Option<&str> {
    let inner = arg.strip_prefix('{')?.strip_suffix('}')?;
    (!inner.contains(['{', '}'])).then_some(inner)
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

    const CONFIGURE: &str = r#"
        [app]
        name = "clinic"
        [commands]
        start = ["{bin}", "serve"]
        configure = [
            "{bin}", "configure", "--env-name", "{env_name}",
            "--banner", "{banner}", "--sso-metadata", "{sso_metadata}", "--lab={lab}", "{lab}",
        ]
        [configuration]
        tables = ["report_definitions", "dashboard_definitions"]
    "#;

    #[test]
    fn empty_optional_placeholder_drops_its_flag_and_value() {
        let p = AppProfile::from_toml_str(CONFIGURE, "p.toml").unwrap();
        let vars = Vars {
            bin: vec!["clinic".into()],
            env_name: "VAL-ACME".into(),
            sso_metadata: "/etc/idp.xml".into(),
            ..Vars::default()
        };
        // `--lab={lab}` is not a lone placeholder: it stays, with an empty value.
        assert_eq!(
            p.argv("configure", &vars).unwrap(),
            vec![
                "clinic",
                "configure",
                "--env-name",
                "VAL-ACME",
                "--sso-metadata",
                "/etc/idp.xml",
                "--lab="
            ]
        );
        let vars = Vars {
            banner: "Validation 24.3".into(),
            lab: "hl7.lab.example:2575".into(),
            sso_metadata: String::new(),
            ..vars
        };
        assert_eq!(
            p.argv("configure", &vars).unwrap(),
            vec![
                "clinic",
                "configure",
                "--env-name",
                "VAL-ACME",
                "--banner",
                "Validation 24.3",
                "--lab=hl7.lab.example:2575",
                "hl7.lab.example:2575"
            ]
        );
    }

    #[test]
    fn empty_required_placeholder_is_passed_as_an_empty_argument() {
        let p = AppProfile::from_toml_str(SAMPLE, "sample").unwrap();
        let vars = Vars {
            bin: vec!["clinic".into()],
            ..Vars::default()
        };
        assert_eq!(
            p.argv("migrate", &vars).unwrap(),
            vec!["clinic", "migrate", "--db", "", "--to", ""]
        );
    }

    #[test]
    fn values_are_not_expanded_twice() {
        let p = AppProfile::from_toml_str(SAMPLE, "sample").unwrap();
        let vars = Vars {
            bin: vec!["clinic".into()],
            db_url: "sqlite:///tmp/{listen}.db".into(),
            listen: "127.0.0.1:1".into(),
            ..Vars::default()
        };
        assert_eq!(
            p.argv("start", &vars).unwrap()[3],
            "sqlite:///tmp/{listen}.db"
        );
    }

    #[test]
    fn configuration_tables_are_read_and_checked() {
        let p = AppProfile::from_toml_str(CONFIGURE, "p.toml").unwrap();
        assert_eq!(
            p.configuration,
            Some(ConfigurationSection {
                tables: vec!["report_definitions".into(), "dashboard_definitions".into()]
            })
        );
        assert_eq!(p.configuration_tables().len(), 2);
        let none = AppProfile::from_toml_str(SAMPLE, "sample").unwrap();
        assert!(none.configuration.is_none() && none.configuration_tables().is_empty());
        let bad = CONFIGURE.replace("\"dashboard_definitions\"", "\"x; DROP TABLE y\"");
        let err = AppProfile::from_toml_str(&bad, "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x; DROP TABLE y"), "{err}");
    }

    #[test]
    fn the_clinic_profile_configures_without_optional_settings() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/clinic/valet-app.toml");
        let p = AppProfile::load(&path).unwrap();
        assert_eq!(
            p.configuration_tables(),
            ["report_definitions", "dashboard_definitions"]
        );
        let vars = Vars {
            bin: vec!["clinic".into()],
            db_url: "sqlite:///tmp/v.db".into(),
            env_name: "VAL-ACME".into(),
            ..Vars::default()
        };
        assert_eq!(
            p.argv("configure", &vars).unwrap(),
            vec![
                "clinic",
                "configure",
                "--db",
                "sqlite:///tmp/v.db",
                "--env-name",
                "VAL-ACME"
            ]
        );
    }

    #[test]
    fn the_clinic_profile_fills_placeholders_inside_an_argument() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/clinic/valet-app.toml");
        let p = AppProfile::load(&path).unwrap();
        let vars = Vars {
            bin: vec!["valet".into(), "clinic".into()],
            db_url: "sqlite:///tmp/new.db".into(),
            state_dir: "/var/lib/valet/envs/v2/state".into(),
            ..Vars::default()
        };
        assert_eq!(
            p.argv("config_export", &vars).unwrap(),
            [
                "valet",
                "clinic",
                "config",
                "export",
                "--db",
                "sqlite:///tmp/new.db"
            ]
        );
        assert_eq!(
            p.argv("config_import", &vars).unwrap(),
            [
                "valet",
                "clinic",
                "config",
                "import",
                "--db",
                "sqlite:///tmp/new.db",
                "--file",
                "/var/lib/valet/envs/v2/state/carry-over.json"
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
