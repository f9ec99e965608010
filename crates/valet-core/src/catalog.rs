//! The release catalog's rules: manifests (one TOML file per build), their validation, and
//! cumulative notes — everything between a customer's build and a target build, grouped so
//! that what needs the customer's own validation comes first.
//!
//! Parsing is all-or-nothing: a manifest with any error yields no release, and every error
//! names the file, the line and the field.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::environment::string_enum;
use crate::hotfix::Severity;
use crate::release::{Build, ReleaseKind, Version};
use crate::CoreError;

/// What kind of change a note describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoteCategory {
    Feature,
    Improvement,
    Fix,
    Security,
    Regulatory,
}
string_enum!(NoteCategory, "note category", {
    Feature => "feature",
    Improvement => "improvement",
    Fix => "fix",
    Security => "security",
    Regulatory => "regulatory",
});

impl NoteCategory {
    pub fn heading(&self) -> &'static str {
        match self {
            NoteCategory::Feature => "New features",
            NoteCategory::Improvement => "Improvements",
            NoteCategory::Fix => "Fixes",
            NoteCategory::Security => "Security",
            NoteCategory::Regulatory => "Regulatory",
        }
    }
}

/// How much of the customer's own validation a change calls for. Orders `none < low < high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValidationImpact {
    None,
    Low,
    High,
}
string_enum!(ValidationImpact, "validation impact", {
    None => "none",
    Low => "low",
    High => "high",
});

/// One release-note item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Note {
    /// Tracker key, e.g. `APP-3199`.
    pub key: String,
    pub category: NoteCategory,
    /// Functional area, e.g. `Volunteers`, `Data collection`.
    pub area: String,
    pub title: String,
    pub text: String,
    pub validation_impact: ValidationImpact,
}

/// A release as its manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: Version,
    pub build: Build,
    pub kind: ReleaseKind,
    pub released: jiff::civil::Date,
    pub artifact: Artifact,
    /// Path of the migration bundle, relative to the artifact.
    pub migrations: String,
    /// How urgent a hotfix is (sets its upgrade's notice); `normal` when not given. Only a
    /// hotfix may say.
    #[serde(default)]
    pub severity: Severity,
    pub notes: Vec<Note>,
    /// Line of the `build` field in the file, for errors found later (duplicates, ordering).
    #[serde(skip)]
    pub build_line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub reference: String,
    pub sha256: String,
}

/// A manifest problem: where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {why}")]
pub struct ManifestError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub why: String,
}

// The raw shape of the file, with spans so errors can point at lines.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    version: Spanned<String>,
    build: Spanned<String>,
    kind: Spanned<String>,
    released: Spanned<String>,
    artifact: Spanned<RawArtifact>,
    migrations: Spanned<String>,
    severity: Option<Spanned<String>>,
    #[serde(default)]
    notes: Vec<Spanned<RawNote>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArtifact {
    reference: Spanned<String>,
    sha256: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNote {
    key: Option<Spanned<String>>,
    category: Spanned<String>,
    area: Spanned<String>,
    title: Spanned<String>,
    text: Spanned<String>,
    validation_impact: Spanned<String>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Whether `key` looks like a tracker key: letters, a dash, digits (`APP-3199`).
pub fn is_tracker_key(key: &str) -> bool {
    match key.split_once('-') {
        Some((p, n)) => {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                && p.starts_with(|c: char| c.is_ascii_uppercase())
                && !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

impl Manifest {
    /// Parses and validates one manifest. `file` is used in error messages only.
    pub fn parse(text: &str, file: &str) -> Result<Manifest, ManifestError> {
        let err = |offset: usize, field: &str, why: String| ManifestError {
            file: file.to_string(),
            line: line_of(text, offset),
            field: field.to_string(),
            why,
        };
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let msg = e.message().trim().to_string();
            let field = msg
                .split('`')
                .nth(1)
                .filter(|_| msg.contains("field"))
                .unwrap_or("manifest")
                .to_string();
            err(offset, &field, msg)
        })?;
        let parse = |s: &Spanned<String>, field: &str| -> Result<String, ManifestError> {
            let v = s.get_ref().trim().to_string();
            if v.is_empty() {
                return Err(err(s.span().start, field, "is empty".into()));
            }
            Ok(v)
        };
        let version: Version = parse(&raw.version, "version")?
            .parse()
            .map_err(|e: CoreError| err(raw.version.span().start, "version", e.to_string()))?;
        let build: Build = parse(&raw.build, "build")?
            .parse()
            .map_err(|e: CoreError| err(raw.build.span().start, "build", e.to_string()))?;
        if build.version() != version {
            return Err(err(
                raw.build.span().start,
                "build",
                format!(
                    "build {build} belongs to version {}, not {version}",
                    build.version()
                ),
            ));
        }
        let kind: ReleaseKind = match raw.kind.get_ref().trim() {
            "feature" => ReleaseKind::Feature,
            "hotfix" => ReleaseKind::Hotfix,
            other => {
                return Err(err(
                    raw.kind.span().start,
                    "kind",
                    format!("`{other}` is not a kind; use `feature` or `hotfix`"),
                ))
            }
        };
        if kind != build.kind() {
            return Err(err(
                raw.kind.span().start,
                "kind",
                format!(
                    "build {build} is a {} build (a hotfix has a non-zero third number)",
                    match build.kind() {
                        ReleaseKind::Feature => "feature",
                        ReleaseKind::Hotfix => "hotfix",
                    }
                ),
            ));
        }
        let released: jiff::civil::Date = raw.released.get_ref().trim().parse().map_err(|e| {
            err(
                raw.released.span().start,
                "released",
                format!(
                    "`{}` is not a date like 2024-06-10: {e}",
                    raw.released.get_ref()
                ),
            )
        })?;
        let art = raw.artifact.get_ref();
        let reference = parse(&art.reference, "artifact.reference")?;
        let sha = match &art.sha256 {
            None => {
                return Err(err(
                    raw.artifact.span().start,
                    "artifact.sha256",
                    "is missing; give the artifact's SHA-256 checksum (64 hex digits)".into(),
                ))
            }
            Some(s) => {
                let v = s.get_ref().trim().to_ascii_lowercase();
                if v.len() != 64 || !v.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(err(
                        s.span().start,
                        "artifact.sha256",
                        format!(
                            "`{}` is not a SHA-256 checksum (64 hex digits)",
                            s.get_ref()
                        ),
                    ));
                }
                v
            }
        };
        let migrations = parse(&raw.migrations, "migrations")?;
        let severity = match &raw.severity {
            None => Severity::default(),
            Some(s) if kind == ReleaseKind::Feature => {
                return Err(err(
                    s.span().start,
                    "severity",
                    "only a hotfix has a severity; remove it from this feature release".into(),
                ))
            }
            Some(s) => s
                .get_ref()
                .parse()
                .map_err(|e: CoreError| err(s.span().start, "severity", e.to_string()))?,
        };
        let mut notes = Vec::with_capacity(raw.notes.len());
        let mut seen = std::collections::HashSet::new();
        for (i, n) in raw.notes.iter().enumerate() {
            let at = n.span().start;
            let n = n.get_ref();
            let f = |name: &str| format!("notes[{}].{name}", i + 1);
            let key = match &n.key {
                None => {
                    return Err(err(
                        at,
                        &f("key"),
                        "is missing; every note needs its tracker key, e.g. APP-3199".into(),
                    ))
                }
                Some(k) => k,
            };
            let key_v = key.get_ref().trim().to_string();
            if !is_tracker_key(&key_v) {
                return Err(err(
                    key.span().start,
                    &f("key"),
                    format!("`{key_v}` is not a tracker key like APP-3199"),
                ));
            }
            if !seen.insert(key_v.clone()) {
                return Err(err(
                    key.span().start,
                    &f("key"),
                    format!("`{key_v}` appears twice in this release"),
                ));
            }
            let category = NoteCategory::from_str(n.category.get_ref())
                .map_err(|e| err(n.category.span().start, &f("category"), e.to_string()))?;
            let impact =
                ValidationImpact::from_str(n.validation_impact.get_ref()).map_err(|e| {
                    err(
                        n.validation_impact.span().start,
                        &f("validation_impact"),
                        e.to_string(),
                    )
                })?;
            notes.push(Note {
                key: key_v,
                category,
                area: parse(&n.area, &f("area"))?,
                title: parse(&n.title, &f("title"))?,
                text: n.text.get_ref().trim().to_string(),
                validation_impact: impact,
            });
        }
        Ok(Manifest {
            version,
            build,
            kind,
            released,
            artifact: Artifact {
                reference,
                sha256: sha,
            },
            migrations,
            severity,
            notes,
            build_line: line_of(text, raw.build.span().start),
        })
    }

    /// Checks the manifest against the builds already in the catalog: no duplicate, and a
    /// build orders after every existing build of the same `major.minor` line.
    pub fn check_against(&self, existing: &[Build]) -> Result<(), CoreError> {
        if existing.contains(&self.build) {
            return Err(CoreError::Invalid {
                field: "build",
                why: format!("build {} is already in the catalog", self.build),
            });
        }
        let line: Vec<&Build> = existing
            .iter()
            .filter(|b| b.major == self.build.major && b.minor == self.build.minor)
            .collect();
        if let Some(prev) = line.iter().max() {
            if self.build.patch <= prev.patch || self.build.build <= prev.build {
                return Err(CoreError::Invalid {
                    field: "build",
                    why: format!(
                        "build {} does not order after {prev}, the latest build of line {}.{}; \
                         a later build of a line needs a higher patch and build number",
                        self.build, self.build.major, self.build.minor
                    ),
                });
            }
        }
        Ok(())
    }
}

/// A note with the release it came with, as cumulative notes list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReleasedNote {
    pub build: Build,
    pub version: Version,
    #[serde(flatten)]
    pub note: Note,
}

/// Notes of one functional area within a category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AreaGroup {
    pub area: String,
    pub notes: Vec<ReleasedNote>,
}

/// One category's notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CategorySection {
    pub category: NoteCategory,
    pub heading: &'static str,
    pub areas: Vec<AreaGroup>,
}

/// The release a cumulative-notes document covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CoveredRelease {
    pub build: Build,
    pub version: Version,
    pub kind: ReleaseKind,
    pub released: jiff::civil::Date,
}

/// Everything a customer on `from` reads before moving to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CumulativeNotes {
    pub from: Build,
    pub to: Build,
    pub releases: Vec<CoveredRelease>,
    /// Items with validation impact `high` or `low`: the customer's validation scope.
    pub needs_validation: Vec<ReleasedNote>,
    pub sections: Vec<CategorySection>,
    /// The fixed reminder about the customer's own configuration items.
    pub configuration_items: &'static str,
}

/// The fixed section every cumulative-notes document carries.
pub const CONFIGURATION_ITEMS: &str = "Your reports, dashboards, data exports, API clients, \
laboratory and device interfaces and other integrations are configuration items of your own \
system. They are not covered by the vendor's release testing: assess and, where affected, \
re-validate them against this release in your VAL environment before the production upgrade.";

fn impact_order(a: &ReleasedNote, b: &ReleasedNote) -> std::cmp::Ordering {
    b.note
        .validation_impact
        .cmp(&a.note.validation_impact)
        .then(a.build.cmp(&b.build))
        .then(a.note.key.cmp(&b.note.key))
}

impl CumulativeNotes {
    /// Groups the notes of the releases in `(from, to]` (callers pass exactly those):
    /// categories in their fixed order; within one, areas with the highest impact first (then
    /// by name); within an area, highest impact first, then oldest build, then key.
    pub fn build(from: Build, to: Build, releases: Vec<(CoveredRelease, Vec<Note>)>) -> Self {
        let mut all: Vec<ReleasedNote> = Vec::new();
        let mut covered = Vec::new();
        for (r, notes) in releases {
            debug_assert!(r.build > from && r.build <= to);
            for note in notes {
                all.push(ReleasedNote {
                    build: r.build,
                    version: r.version,
                    note,
                });
            }
            covered.push(r);
        }
        covered.sort_by_key(|r| r.build);
        let mut needs: Vec<ReleasedNote> = all
            .iter()
            .filter(|n| n.note.validation_impact > ValidationImpact::None)
            .cloned()
            .collect();
        needs.sort_by(impact_order);
        let mut sections = Vec::new();
        for &category in NoteCategory::ALL {
            let mut areas: Vec<AreaGroup> = Vec::new();
            for n in all.iter().filter(|n| n.note.category == category) {
                match areas.iter_mut().find(|a| a.area == n.note.area) {
                    Some(a) => a.notes.push(n.clone()),
                    None => areas.push(AreaGroup {
                        area: n.note.area.clone(),
                        notes: vec![n.clone()],
                    }),
                }
            }
            if areas.is_empty() {
                continue;
            }
            for a in &mut areas {
                a.notes.sort_by(impact_order);
            }
            areas.sort_by(|a, b| {
                let top = |g: &AreaGroup| g.notes[0].note.validation_impact;
                top(b).cmp(&top(a)).then(a.area.cmp(&b.area))
            });
            sections.push(CategorySection {
                category,
                heading: category.heading(),
                areas,
            });
        }
        CumulativeNotes {
            from,
            to,
            releases: covered,
            needs_validation: needs,
            sections,
            configuration_items: CONFIGURATION_ITEMS,
        }
    }

    /// Every note, in document order.
    pub fn notes(&self) -> impl Iterator<Item = &ReleasedNote> {
        self.sections
            .iter()
            .flat_map(|s| s.areas.iter())
            .flat_map(|a| a.notes.iter())
    }
}

/// How far one environment is behind the latest published build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Lag {
    pub current: Option<Build>,
    pub latest: Option<Build>,
    /// Published feature releases after the current build.
    pub releases_behind: usize,
    /// Days since the first published build after the current one came out (0 if current).
    pub days_behind: i64,
    /// Published hotfix builds after the current build that the customer has neither
    /// accepted nor declined for this environment (never applied automatically).
    pub hotfixes_available: Vec<Build>,
}

/// Computes the lag of an environment on `current` against the published releases, on `today`.
/// Hotfixes in `decided` (accepted or declined for this environment) are not counted: an
/// accepted one is on its way as a request, a declined one was refused on purpose.
pub fn lag(
    current: Option<Build>,
    published: &[(Build, jiff::civil::Date)],
    decided: &[Build],
    today: jiff::civil::Date,
) -> Lag {
    let mut published: Vec<(Build, jiff::civil::Date)> = published.to_vec();
    published.sort();
    let latest = published.last().map(|(b, _)| *b);
    let newer: Vec<&(Build, jiff::civil::Date)> = match current {
        Some(c) => published.iter().filter(|(b, _)| *b > c).collect(),
        None => published.iter().collect(),
    };
    let releases_behind = newer
        .iter()
        .filter(|(b, _)| b.kind() == ReleaseKind::Feature)
        .count();
    let days_behind = newer
        .iter()
        .map(|(_, d)| *d)
        .min()
        .map(|d| i64::from((today - d).get_days()).max(0))
        .unwrap_or(0);
    Lag {
        current,
        latest,
        releases_behind,
        days_behind,
        hotfixes_available: newer
            .iter()
            .filter(|(b, _)| b.kind() == ReleaseKind::Hotfix && !decided.contains(b))
            .map(|(b, _)| *b)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOD: &str = r#"
version = "24.2.1"
build = "24.2.1.1201"
kind = "hotfix"
released = "2024-07-01"
migrations = "migrations/24.2.1"

[artifact]
reference = "registry.example/clinic:24.2.1.1201"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

[[notes]]
key = "APP-3301"
category = "fix"
area = "Data collection"
title = "ECG timestamps kept their zone"
text = "Events collected across the DST change kept the wrong offset."
validation_impact = "high"
"#;

    fn b(s: &str) -> Build {
        s.parse().unwrap()
    }

    #[test]
    fn good_manifest_parses() {
        let m = Manifest::parse(GOOD, "24.2.1.toml").unwrap();
        assert_eq!(m.build, b("24.2.1.1201"));
        assert_eq!(m.kind, ReleaseKind::Hotfix);
        assert_eq!(m.notes.len(), 1);
        assert_eq!(m.notes[0].validation_impact, ValidationImpact::High);
    }

    fn error_of(text: &str) -> ManifestError {
        Manifest::parse(text, "m.toml").unwrap_err()
    }

    #[test]
    fn missing_checksum_names_file_line_and_field() {
        let e = error_of(&GOOD.replace(
            "sha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\n",
            "",
        ));
        assert_eq!(e.field, "artifact.sha256");
        assert_eq!(e.file, "m.toml");
        assert!(e.line >= 8, "{e}");
        assert!(e.to_string().starts_with("m.toml:"), "{e}");
    }

    #[test]
    fn unknown_category_and_missing_key_point_at_the_note() {
        let e = error_of(&GOOD.replace("category = \"fix\"", "category = \"bugfix\""));
        assert_eq!(e.field, "notes[1].category");
        assert_eq!(e.line, 14);
        assert!(
            e.why
                .contains("feature, improvement, fix, security, regulatory"),
            "{e}"
        );
        let e = error_of(&GOOD.replace("key = \"APP-3301\"\n", ""));
        assert_eq!(e.field, "notes[1].key");
        let e = error_of(&GOOD.replace("APP-3301", "fixes the ECG"));
        assert!(e.why.contains("tracker key"), "{e}");
    }

    #[test]
    fn kind_and_version_must_match_the_build() {
        let e = error_of(&GOOD.replace("kind = \"hotfix\"", "kind = \"feature\""));
        assert_eq!(e.field, "kind");
        let e = error_of(&GOOD.replace("version = \"24.2.1\"", "version = \"24.3\""));
        assert_eq!(e.field, "build");
        let e = error_of(&GOOD.replace("2024-07-01", "2024-13-01"));
        assert_eq!(e.field, "released");
        let e = error_of(&format!("{GOOD}\nfoo = 1\n"));
        assert!(e.why.contains("foo"), "{e}");
    }

    #[test]
    fn later_build_of_a_line_must_order_after_its_predecessor() {
        let m = Manifest::parse(GOOD, "m").unwrap();
        assert!(m.check_against(&[b("24.2.0.1187")]).is_ok());
        assert!(m.check_against(&[b("24.2.1.1201")]).is_err(), "duplicate");
        let e = m
            .check_against(&[b("24.2.0.1250")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not order after 24.2.0.1250"), "{e}");
        assert!(
            m.check_against(&[b("24.3.0.1100")]).is_ok(),
            "other lines do not matter"
        );
    }

    fn note(key: &str, cat: NoteCategory, area: &str, imp: ValidationImpact) -> Note {
        Note {
            key: key.into(),
            category: cat,
            area: area.into(),
            title: key.into(),
            text: String::new(),
            validation_impact: imp,
        }
    }

    fn rel(s: &str) -> CoveredRelease {
        let build = b(s);
        CoveredRelease {
            build,
            version: build.version(),
            kind: build.kind(),
            released: jiff::civil::date(2024, 1, 1),
        }
    }

    #[test]
    fn cumulative_notes_group_by_category_then_area_highest_impact_first() {
        use NoteCategory::*;
        use ValidationImpact::*;
        let notes = CumulativeNotes::build(
            b("24.1.0.1042"),
            b("24.3.0.1300"),
            vec![
                (
                    rel("24.2.0.1187"),
                    vec![
                        note("APP-1", Feature, "Studies", Low),
                        note("APP-2", Fix, "Volunteers", None),
                        note("APP-3", Feature, "Volunteers", High),
                    ],
                ),
                (
                    rel("24.3.0.1300"),
                    vec![
                        note("APP-4", Feature, "Studies", High),
                        note("APP-5", Feature, "Audit", None),
                    ],
                ),
            ],
        );
        let cats: Vec<_> = notes.sections.iter().map(|s| s.category).collect();
        assert_eq!(cats, vec![Feature, Fix]);
        let areas: Vec<_> = notes.sections[0]
            .areas
            .iter()
            .map(|a| a.area.as_str())
            .collect();
        assert_eq!(areas, vec!["Studies", "Volunteers", "Audit"]);
        let studies: Vec<_> = notes.sections[0].areas[0]
            .notes
            .iter()
            .map(|n| n.note.key.as_str())
            .collect();
        assert_eq!(studies, vec!["APP-4", "APP-1"]);
        let needs: Vec<_> = notes
            .needs_validation
            .iter()
            .map(|n| n.note.key.as_str())
            .collect();
        assert_eq!(needs, vec!["APP-3", "APP-4", "APP-1"]);
        assert_eq!(notes.notes().count(), 5);
        assert!(notes.configuration_items.contains("integrations"));
    }

    #[test]
    fn lag_counts_feature_releases_days_and_hotfixes() {
        let d = |m, dd| jiff::civil::date(2024, m, dd);
        let published = [
            (b("24.1.0.1042"), d(3, 4)),
            (b("24.2.0.1187"), d(6, 10)),
            (b("24.2.1.1201"), d(7, 1)),
            (b("24.3.0.1300"), d(10, 14)),
        ];
        let l = lag(Some(b("24.1.0.1042")), &published, &[], d(10, 20));
        assert_eq!(l.latest, Some(b("24.3.0.1300")));
        assert_eq!(l.releases_behind, 2);
        assert_eq!(l.days_behind, 132);
        assert_eq!(l.hotfixes_available, vec![b("24.2.1.1201")]);
        let l = lag(Some(b("24.3.0.1300")), &published, &[], d(10, 20));
        assert_eq!((l.releases_behind, l.days_behind), (0, 0));
        assert!(l.hotfixes_available.is_empty());
    }

    #[test]
    fn lag_counts_only_hotfixes_neither_accepted_nor_declined() {
        let d = |m, dd| jiff::civil::date(2024, m, dd);
        let published = [
            (b("24.2.0.1187"), d(6, 10)),
            (b("24.2.1.1201"), d(7, 1)),
            (b("24.2.2.1220"), d(8, 1)),
        ];
        let cur = Some(b("24.2.0.1187"));
        let open = lag(cur, &published, &[], d(9, 1));
        assert_eq!(
            open.hotfixes_available,
            vec![b("24.2.1.1201"), b("24.2.2.1220")]
        );
        let l = lag(cur, &published, &[b("24.2.1.1201")], d(9, 1));
        assert_eq!(l.hotfixes_available, vec![b("24.2.2.1220")]);
        let l = lag(
            cur,
            &published,
            &[b("24.2.1.1201"), b("24.2.2.1220")],
            d(9, 1),
        );
        assert!(l.hotfixes_available.is_empty());
        assert_eq!(l.days_behind, open.days_behind, "days behind are unchanged");
    }

    #[test]
    fn severity_is_optional_for_hotfixes_and_refused_for_features() {
        let m = Manifest::parse(GOOD, "m").unwrap();
        assert_eq!(m.severity, Severity::Normal);
        let with = GOOD.replace(
            "kind = \"hotfix\"\n",
            "kind = \"hotfix\"\nseverity = \"critical\"\n",
        );
        assert_eq!(
            Manifest::parse(&with, "m").unwrap().severity,
            Severity::Critical
        );
        let e = error_of(&with.replace("\"critical\"", "\"urgent\""));
        assert_eq!((e.field.as_str(), e.line), ("severity", 5));
        let feature = "version = \"24.3\"\nbuild = \"24.3.0.1300\"\nkind = \"feature\"\nseverity = \"high\"\nreleased = \"2024-10-14\"\nmigrations = \"m\"\n[artifact]\nreference = \"r\"\nsha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\n";
        let e = error_of(feature);
        assert_eq!(e.field, "severity");
        assert!(e.why.contains("only a hotfix"), "{e}");
    }

    proptest! {
        #[test]
        fn cumulative_notes_keep_every_note_exactly_once(
            specs in proptest::collection::vec((0usize..5, 0usize..3, 0usize..3, 0usize..3), 0..40)
        ) {
            let cats = NoteCategory::ALL;
            let imps = ValidationImpact::ALL;
            let areas = ["A", "B", "C"];
            let builds = ["24.2.0.1187", "24.2.1.1201", "24.3.0.1300"];
            let mut rels: Vec<(CoveredRelease, Vec<Note>)> =
                builds.iter().map(|s| (rel(s), Vec::new())).collect();
            for (i, (c, a, imp, r)) in specs.iter().enumerate() {
                rels[*r].1.push(note(&format!("APP-{i}"), cats[*c], areas[*a], imps[*imp]));
            }
            let out = CumulativeNotes::build(b("24.1.0.1"), b("24.3.0.1300"), rels);
            let mut keys: Vec<String> = out.notes().map(|n| n.note.key.clone()).collect();
            keys.sort();
            let mut want: Vec<String> = (0..specs.len()).map(|i| format!("APP-{i}")).collect();
            want.sort();
            prop_assert_eq!(keys, want);
            for s in &out.sections {
                for a in &s.areas {
                    for w in a.notes.windows(2) {
                        prop_assert!(w[0].note.validation_impact >= w[1].note.validation_impact);
                    }
                }
                for w in s.areas.windows(2) {
                    prop_assert!(w[0].notes[0].note.validation_impact >= w[1].notes[0].note.validation_impact);
                }
            }
        }
    }
}
