//! The masking policy: which transformer applies to each column of each table, read from TOML.
//!
//! ```toml
//! version = 1
//! [leak_scan]
//! min_length = 4
//! [tables.volunteers]
//! subject = "id"
//! [tables.volunteers.columns]
//! id = "keep"
//! first_name = "first_name"
//! email = { transformer = "email" }
//! ```
//! See `docs/policy.md` for the reference.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::error::CloneError;
use crate::transform::{parse_transformer, Transformer};

/// A parsed policy, with where each rule came from so errors can point at the line.
#[derive(Debug, Clone)]
pub struct Policy {
    /// File name (or other origin) used in error messages.
    pub origin: String,
    /// Hex sha256 of the policy text, recorded in the report.
    pub sha256: String,
    pub tables: Vec<TableRule>,
    pub leak_scan: LeakScanSettings,
}

/// Rules of one table.
#[derive(Debug, Clone)]
pub struct TableRule {
    /// Schema as written, when the key was `schema.table`.
    pub schema: Option<String>,
    pub name: String,
    /// Column whose value identifies the data subject (e.g. `volunteers.id`).
    pub subject: Option<String>,
    pub columns: Vec<ColumnRule>,
    /// The table may be missing from the source (an app's older releases lack it).
    pub optional: bool,
    pub line: usize,
}

/// Rule of one column.
#[derive(Debug, Clone)]
pub struct ColumnRule {
    pub name: String,
    pub transformer: Transformer,
    /// Whether source values of this column are looked for by the leak scan.
    pub leak_scan: bool,
    /// The column may be missing from the source table.
    pub optional: bool,
    /// Column naming the person this column is about, when it is not the table's subject
    /// (`volunteer_audit.changed_by`: a staff login in a table about volunteers).
    pub subject: Option<String>,
    pub line: usize,
}

/// Tuning of the leak scan.
#[derive(Debug, Clone)]
pub struct LeakScanSettings {
    /// Normalised values shorter than this are not scanned (too short to identify anyone).
    pub min_length: usize,
    /// A value found in at least this many source rows of one column is common (a frequent
    /// first name, "none") and cannot identify anyone alone, so it is not scanned.
    pub common_threshold: u32,
}

impl Default for LeakScanSettings {
    fn default() -> Self {
        LeakScanSettings {
            min_length: 4,
            common_threshold: 20,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[allow(dead_code)]
    version: Option<i64>,
    leak_scan: Option<RawLeakScan>,
    #[serde(default)]
    tables: BTreeMap<String, RawTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLeakScan {
    min_length: Option<usize>,
    common_threshold: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    subject: Option<String>,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    columns: BTreeMap<String, Spanned<toml::Value>>,
}

/// Position of byte `offset` as a 1-based line number.
pub(crate) fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// Split a policy table key into optional schema and table, honouring double quotes:
/// `volunteers`, `public.volunteers`, `"My Schema"."Mixed.Case"`.
pub(crate) fn split_table_key(key: &str) -> Result<(Option<String>, String), String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = key.chars().peekable();
    let mut quoted_part = false;
    while let Some(c) = chars.next() {
        if c == '"' && cur.is_empty() && !quoted_part {
            quoted_part = true;
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        cur.push('"');
                    }
                    Some('"') => break,
                    Some(ch) => cur.push(ch),
                    None => return Err(format!("unterminated quote in table name `{key}`")),
                }
            }
        } else if c == '.' {
            parts.push(std::mem::take(&mut cur));
            quoted_part = false;
        } else if quoted_part {
            return Err(format!("unexpected `{c}` after a quoted name in `{key}`"));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    match parts.len() {
        1 if !parts[0].is_empty() => Ok((None, parts.remove(0))),
        2 if !parts[0].is_empty() && !parts[1].is_empty() => {
            let t = parts.remove(1);
            Ok((Some(parts.remove(0)), t))
        }
        _ => Err(format!(
            "table name `{key}` must be `table` or `schema.table` (quote names containing dots)"
        )),
    }
}

impl Policy {
    /// Read and parse a policy file.
    pub fn load(path: impl AsRef<Path>) -> Result<Policy, CloneError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| CloneError::Policy {
            origin: path.display().to_string(),
            line: None,
            message: format!("cannot read the policy file: {e}"),
        })?;
        Policy::from_toml_str(&text, &path.display().to_string())
    }

    /// Parse a policy from TOML text; `origin` names it in error messages.
    pub fn from_toml_str(src: &str, origin: &str) -> Result<Policy, CloneError> {
        let err = |line: Option<usize>, message: String| CloneError::Policy {
            origin: origin.to_string(),
            line,
            message,
        };
        let raw: RawPolicy = toml::from_str(src).map_err(|e| {
            let line = e.span().map(|s| line_of(src, s.start));
            err(line, e.message().trim().to_string())
        })?;
        let defaults = LeakScanSettings::default();
        let leak_scan = match raw.leak_scan {
            Some(l) => LeakScanSettings {
                min_length: l.min_length.unwrap_or(defaults.min_length),
                common_threshold: l.common_threshold.unwrap_or(defaults.common_threshold),
            },
            None => defaults,
        };
        let mut tables = Vec::new();
        for (key, table) in raw.tables {
            let first_col = table
                .columns
                .values()
                .map(|v| line_of(src, v.span().start))
                .min();
            let line = table_line(src, &key).or(first_col).unwrap_or(1);
            let (schema, name) = split_table_key(&key).map_err(|m| err(Some(line), m))?;
            let mut columns = Vec::new();
            for (col, value) in table.columns {
                let cline = line_of(src, value.span().start);
                let v = value.into_inner();
                let (leak_scan, v) =
                    take_flag(v, "leak_scan", true).map_err(|m| err(Some(cline), m))?;
                let (optional, v) =
                    take_flag(v, "optional", false).map_err(|m| err(Some(cline), m))?;
                let (subject, v) = take_subject(v).map_err(|m| err(Some(cline), m))?;
                let transformer = parse_transformer(&v)
                    .map_err(|m| err(Some(cline), format!("column `{key}.{col}`: {m}")))?;
                columns.push(ColumnRule {
                    name: col,
                    transformer,
                    leak_scan,
                    optional,
                    subject,
                    line: cline,
                });
            }
            tables.push(TableRule {
                schema,
                name,
                subject: table.subject,
                columns,
                optional: table.optional,
                line,
            });
        }
        for t in &tables {
            if let Some(s) = &t.subject {
                if !t.columns.iter().any(|c| &c.name == s) {
                    return Err(err(
                        Some(t.line),
                        format!(
                            "table `{}`: subject column `{s}` is not listed in its columns",
                            t.name
                        ),
                    ));
                }
            }
            for c in &t.columns {
                if let Some(s) = &c.subject {
                    if !t.columns.iter().any(|o| &o.name == s) {
                        return Err(err(
                            Some(c.line),
                            format!(
                                "column `{}.{}`: subject column `{s}` is not listed in the table",
                                t.name, c.name
                            ),
                        ));
                    }
                }
                for dep in c.transformer.row_dependencies() {
                    if !t.columns.iter().any(|o| o.name == dep) {
                        return Err(err(
                            Some(c.line),
                            format!(
                                "column `{}.{}` refers to column `{dep}`, which is not listed in the table",
                                t.name, c.name
                            ),
                        ));
                    }
                }
            }
        }
        Ok(Policy {
            origin: origin.to_string(),
            sha256: hex::encode(Sha256::digest(src.as_bytes())),
            tables,
            leak_scan,
        })
    }
}

/// Line of the first `[tables.KEY…]` header (or dotted key) naming this table.
fn table_line(src: &str, key: &str) -> Option<usize> {
    let bare = key.replace('"', "");
    src.lines()
        .position(|l| {
            let l = l.trim_start();
            l.starts_with("[tables.") && l.replace(['"', '\''], "").contains(&bare)
        })
        .map(|i| i + 1)
}

/// Remove a boolean column option that is not a transformer option (`leak_scan`, `optional`).
fn take_flag(v: toml::Value, name: &str, default: bool) -> Result<(bool, toml::Value), String> {
    match v {
        toml::Value::Table(mut t) => match t.remove(name) {
            None => Ok((default, toml::Value::Table(t))),
            Some(toml::Value::Boolean(b)) => Ok((b, toml::Value::Table(t))),
            Some(_) => Err(format!("`{name}` must be true or false")),
        },
        other => Ok((default, other)),
    }
}

/// Remove the column option `subject = "column"` (not a transformer option).
fn take_subject(v: toml::Value) -> Result<(Option<String>, toml::Value), String> {
    match v {
        toml::Value::Table(mut t) => match t.remove("subject") {
            None => Ok((None, toml::Value::Table(t))),
            Some(toml::Value::String(s)) => Ok((Some(s), toml::Value::Table(t))),
            Some(_) => Err("`subject` must be a column name".into()),
        },
        other => Ok((None, other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_keys_split_on_unquoted_dots() {
        assert_eq!(split_table_key("t").unwrap(), (None, "t".into()));
        assert_eq!(
            split_table_key("s.t").unwrap(),
            (Some("s".into()), "t".into())
        );
        assert_eq!(
            split_table_key("\"My.S\".\"Ta\"\"b\"").unwrap(),
            (Some("My.S".into()), "Ta\"b".into())
        );
        assert!(split_table_key("a.b.c").is_err());
    }

    #[test]
    fn unknown_transformer_names_file_and_line() {
        let src = "[tables.v.columns]\nid = \"keep\"\nname = \"scramble\"\n";
        let e = Policy::from_toml_str(src, "p.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.toml:3: "), "{e}");
        assert!(e.contains("unknown transformer `scramble`"), "{e}");
    }

    #[test]
    fn unknown_option_is_an_error_with_line() {
        let src = "[tables.v.columns]\nid = \"keep\"\n\nname = { transformer = \"first_name\", colour = 1 }\n";
        let e = Policy::from_toml_str(src, "p.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.toml:4: "), "{e}");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn syntax_error_has_line() {
        let src = "[tables.v.columns]\nid = \n";
        let e = Policy::from_toml_str(src, "p.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.toml:2"), "{e}");
    }

    #[test]
    fn subject_must_be_listed() {
        let src = "[tables.v]\nsubject = \"vid\"\n[tables.v.columns]\nid = \"keep\"\n";
        let e = Policy::from_toml_str(src, "p.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("subject column `vid`"), "{e}");
    }

    #[test]
    fn column_subject_must_be_listed() {
        let src = "[tables.v.columns]\nid = \"keep\"\nby = { transformer = \"username\", subject = \"who\" }\n";
        let e = Policy::from_toml_str(src, "p.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.toml:3: "), "{e}");
        assert!(e.contains("subject column `who`"), "{e}");
        let src = "[tables.v.columns]\nid = \"keep\"\nby = { transformer = \"username\", subject = \"by\" }\n";
        let p = Policy::from_toml_str(src, "p.toml").unwrap();
        let by = p.tables[0].columns.iter().find(|c| c.name == "by").unwrap();
        assert_eq!(by.subject.as_deref(), Some("by"));
    }

    #[test]
    fn review_is_found_inside_other_specs() {
        let src = "[tables.v.columns]\nid = \"keep\"\nf = \"keep\"\nx = { transformer = \"switch\", on = \"f\", default = \"null\", cases = { a = { transformer = \"review\", reason = \"why\" } } }\n";
        let p = Policy::from_toml_str(src, "p.toml").unwrap();
        let x = p.tables[0].columns.iter().find(|c| c.name == "x").unwrap();
        assert_eq!(x.transformer.review_reason(), Some("why"));
    }

    #[test]
    fn hash_is_of_the_text() {
        let a = Policy::from_toml_str("[tables.v.columns]\nid = \"keep\"\n", "a").unwrap();
        let b = Policy::from_toml_str("[tables.v.columns]\nid = 'keep'\n", "a").unwrap();
        assert_ne!(a.sha256, b.sha256);
        assert_eq!(a.tables[0].columns[0].transformer, Transformer::Keep);
    }
}
