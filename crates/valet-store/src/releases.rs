//! The release catalog: import of manifests (all-or-nothing per file), publishing, cumulative
//! notes between two builds, full-text search over notes, and version lag per environment.
//!
//! Customer-side actors see published releases only; an unpublished build is `NotFound` to
//! them exactly like a missing one.

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;
use valet_core::catalog::{
    self, CoveredRelease, CumulativeNotes, Lag, Manifest, ManifestError, Note,
};
use valet_core::hotfix::Severity;
use valet_core::{Actor, Build, CoreError, Permission, ReleaseKind, Tier};

use crate::audit::{self, NewEvent};
use crate::{customers, environments, new_id, Backend, Result, Store, StoreError};

/// A release as the catalog holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Release {
    pub build: Build,
    pub version: valet_core::Version,
    pub kind: ReleaseKind,
    pub released: jiff::civil::Date,
    pub artifact_reference: String,
    pub artifact_sha256: String,
    pub migrations: String,
    pub source_file: String,
    pub published: bool,
    pub published_at: Option<jiff::Timestamp>,
    pub notes: usize,
    /// A hotfix's severity (`normal` when its manifest gave none); `None` for a feature release.
    pub severity: Option<Severity>,
}

const COLUMNS: &str = "r.build, r.version, r.kind, r.released_on, r.artifact_ref, \
    r.artifact_sha256, r.migrations, r.source_file, r.published_at, r.severity, \
    (SELECT COUNT(*) FROM release_notes n WHERE n.build = r.build) AS notes";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn from_row(row: &AnyRow) -> Result<Release> {
    let build: String = row.try_get("build")?;
    let build: Build = build.parse()?;
    let kind: String = row.try_get("kind")?;
    let released: String = row.try_get("released_on")?;
    let published_at: Option<i64> = row.try_get("published_at")?;
    let notes: i64 = row.try_get("notes")?;
    let severity: Option<String> = row.try_get("severity")?;
    let severity = match (kind.as_str(), severity) {
        ("hotfix", Some(s)) => Some(s.parse()?),
        ("hotfix", None) => Some(Severity::default()),
        _ => None,
    };
    Ok(Release {
        build,
        version: build.version(),
        kind: if kind == "hotfix" {
            ReleaseKind::Hotfix
        } else {
            ReleaseKind::Feature
        },
        released: released.parse().map_err(|e| corrupt("release date", e))?,
        artifact_reference: row.try_get("artifact_ref")?,
        artifact_sha256: row.try_get("artifact_sha256")?,
        migrations: row.try_get("migrations")?,
        source_file: row.try_get("source_file")?,
        published: published_at.is_some(),
        published_at: published_at
            .map(jiff::Timestamp::from_microsecond)
            .transpose()
            .map_err(|e| corrupt("publish time", e))?,
        notes: notes as usize,
        severity,
    })
}

fn kind_str(k: ReleaseKind) -> &'static str {
    match k {
        ReleaseKind::Feature => "feature",
        ReleaseKind::Hotfix => "hotfix",
    }
}

/// Imports one manifest file's text. Any problem — parse error, duplicate build, a build that
/// does not order after its line's latest — imports nothing and names file, line and field.
pub async fn import(store: &Store, actor: &Actor, text: &str, file: &str) -> Result<Release> {
    actor.require(Permission::PublishRelease, "import releases")?;
    let m = Manifest::parse(text, file)?;
    let mut tx = store.write().await?;
    let existing: Vec<String> = sqlx::query_scalar("SELECT build FROM releases")
        .fetch_all(&mut *tx)
        .await?;
    let existing: Vec<Build> = existing
        .iter()
        .map(|b| b.parse())
        .collect::<std::result::Result<_, _>>()?;
    if let Err(e) = m.check_against(&existing) {
        let why = match e {
            CoreError::Invalid { why, .. } => why,
            other => other.to_string(),
        };
        return Err(ManifestError {
            file: file.to_string(),
            line: m.build_line,
            field: "build".into(),
            why,
        }
        .into());
    }
    let now = store.now();
    sqlx::query(
        "INSERT INTO releases (build, version, sort_key, kind, released_on, artifact_ref,
             artifact_sha256, migrations, source_file, manifest_sha256, created_at, severity)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(m.build.to_string())
    .bind(m.version.to_string())
    .bind(m.build.sort_key())
    .bind(kind_str(m.kind))
    .bind(m.released.to_string())
    .bind(&m.artifact.reference)
    .bind(&m.artifact.sha256)
    .bind(&m.migrations)
    .bind(file)
    .bind(hex::encode(Sha256::digest(text.as_bytes())))
    .bind(now.as_microsecond())
    .bind((m.kind == ReleaseKind::Hotfix).then(|| m.severity.as_str()))
    .execute(&mut *tx)
    .await?;
    for (i, n) in m.notes.iter().enumerate() {
        let id = new_id();
        sqlx::query(
            "INSERT INTO release_notes (id, build, position, tracker_key, category, area,
                 title, body, validation_impact)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(m.build.to_string())
        .bind(i as i64)
        .bind(&n.key)
        .bind(n.category.as_str())
        .bind(&n.area)
        .bind(&n.title)
        .bind(&n.text)
        .bind(n.validation_impact.as_str())
        .execute(&mut *tx)
        .await?;
        if store.backend() == Backend::Sqlite {
            sqlx::query(
                "INSERT INTO release_notes_fts (note_id, tracker_key, area, title, body)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id)
            .bind(&n.key)
            .bind(&n.area)
            .bind(&n.title)
            .bind(&n.text)
            .execute(&mut *tx)
            .await?;
        }
    }
    let build = m.build.to_string();
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "release.import",
            object_type: "release",
            object_id: &build,
            customer_id: None,
            before: None,
            after: Some(json!({
                "build": build, "kind": kind_str(m.kind), "released": m.released,
                "artifact": m.artifact, "notes": m.notes.len(), "source_file": file,
            })),
            reason: None,
        },
    )
    .await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM releases r WHERE r.build = $1"
    ))
    .bind(&build)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    from_row(&row)
}

/// Makes a release visible to customers. Publishing twice is a conflict.
pub async fn publish(
    store: &Store,
    actor: &Actor,
    build: &str,
    reason: Option<&str>,
) -> Result<Release> {
    actor.require(Permission::PublishRelease, "publish releases")?;
    let build: Build = build.parse()?;
    let key = build.to_string();
    let now = store.now();
    let mut tx = store.write().await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM releases r WHERE r.build = $1"
    ))
    .bind(&key)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::not_found("release", &key))?;
    let before = from_row(&row)?;
    if before.published {
        return Err(StoreError::Conflict(format!(
            "release {key} is already published"
        )));
    }
    sqlx::query("UPDATE releases SET published_at = $1, published_by = $2 WHERE build = $3")
        .bind(now.as_microsecond())
        .bind(&actor.username)
        .bind(&key)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "release.publish",
            object_type: "release",
            object_id: &key,
            customer_id: None,
            before: Some(json!({ "published": false })),
            after: Some(json!({ "published": true })),
            reason,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Release {
        published: true,
        published_at: Some(now),
        ..before
    })
}

fn visibility(actor: &Actor) -> &'static str {
    if actor.role.is_customer() {
        " AND r.published_at IS NOT NULL"
    } else {
        ""
    }
}

/// Releases the actor may see, oldest build first.
pub async fn list(store: &Store, actor: &Actor) -> Result<Vec<Release>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM releases r WHERE 1 = 1{} ORDER BY r.sort_key",
        visibility(actor)
    ))
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Resolves a build (`24.2.0.1187`) or a version (`24.2`) to a release the actor may see.
pub async fn get(store: &Store, actor: &Actor, build_or_version: &str) -> Result<Release> {
    let all = list(store, actor).await?;
    let wanted = build_or_version.trim();
    if let Ok(b) = wanted.parse::<Build>() {
        return all
            .into_iter()
            .find(|r| r.build == b)
            .ok_or_else(|| StoreError::not_found("release", wanted));
    }
    let v: valet_core::Version = wanted.parse()?;
    all.into_iter()
        .filter(|r| r.version == v)
        .max_by_key(|r| r.build)
        .ok_or_else(|| StoreError::not_found("release", wanted))
}

fn note_from_row(row: &AnyRow) -> Result<Note> {
    let category: String = row.try_get("category")?;
    let impact: String = row.try_get("validation_impact")?;
    Ok(Note {
        key: row.try_get("tracker_key")?,
        category: category.parse()?,
        area: row.try_get("area")?,
        title: row.try_get("title")?,
        text: row.try_get("body")?,
        validation_impact: impact.parse()?,
    })
}

/// The notes of one release, in manifest order.
pub async fn notes_of(store: &Store, actor: &Actor, build: &str) -> Result<Vec<Note>> {
    let r = get(store, actor, build).await?;
    let rows = sqlx::query(
        "SELECT tracker_key, category, area, title, body, validation_impact
         FROM release_notes WHERE build = $1 ORDER BY position",
    )
    .bind(r.build.to_string())
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(note_from_row).collect()
}

/// Every note of every visible release in `(from, to]`, grouped for reading. `from` may be
/// any build (a customer's current one) or a catalog version; `to` must be a visible release.
pub async fn cumulative_notes(
    store: &Store,
    actor: &Actor,
    from: &str,
    to: &str,
) -> Result<CumulativeNotes> {
    let to = get(store, actor, to).await?.build;
    let from: Build = match from.trim().parse::<Build>() {
        Ok(b) => b,
        Err(_) => get(store, actor, from).await?.build,
    };
    if from >= to {
        return Err(CoreError::Invalid {
            field: "from",
            why: format!(
                "build {from} is not before {to}; notes run from an older build to a newer one"
            ),
        }
        .into());
    }
    let mut covered = Vec::new();
    for r in list(store, actor).await? {
        if r.build > from && r.build <= to {
            let notes = notes_of(store, actor, &r.build.to_string()).await?;
            covered.push((
                CoveredRelease {
                    build: r.build,
                    version: r.version,
                    kind: r.kind,
                    released: r.released,
                },
                notes,
            ));
        }
    }
    Ok(CumulativeNotes::build(from, to, covered))
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    pub build: Build,
    #[serde(flatten)]
    pub note: Note,
}

/// Full-text search over the notes of visible releases (words, or a tracker key).
pub async fn search(
    store: &Store,
    actor: &Actor,
    query: &str,
    limit: i64,
) -> Result<Vec<SearchHit>> {
    let words: Vec<String> = query
        .split_whitespace()
        // Quotes would end the FTS phrase; control characters (a NUL) no engine stores.
        .map(|w| {
            w.chars()
                .filter(|c| *c != '"' && !c.is_control())
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Err(CoreError::Invalid {
            field: "q",
            why: "is empty; give words or a tracker key such as APP-3199".into(),
        }
        .into());
    }
    let vis = visibility(actor);
    let rows = match store.backend() {
        Backend::Sqlite => {
            // Each word a quoted phrase (so `APP-3199` and punctuation are literal), all must match.
            let fts: Vec<String> = words.iter().map(|w| format!("\"{w}\"*")).collect();
            sqlx::query(&format!(
                "SELECT n.build, n.tracker_key, n.category, n.area, n.title, n.body,
                        n.validation_impact
                 FROM release_notes_fts f
                 JOIN release_notes n ON n.id = f.note_id
                 JOIN releases r ON r.build = n.build
                 WHERE release_notes_fts MATCH $1{vis}
                 ORDER BY bm25(release_notes_fts), r.sort_key DESC, n.tracker_key
                 LIMIT $2"
            ))
            .bind(fts.join(" "))
            .bind(limit)
            .fetch_all(store.pool())
            .await?
        }
        Backend::Postgres => {
            sqlx::query(&format!(
                "SELECT n.build, n.tracker_key, n.category, n.area, n.title, n.body,
                        n.validation_impact
                 FROM release_notes n
                 JOIN releases r ON r.build = n.build
                 WHERE (n.search @@ plainto_tsquery('english', $1) OR upper(n.tracker_key) = upper($2)){vis}
                 ORDER BY ts_rank(n.search, plainto_tsquery('english', $3)) DESC, r.sort_key DESC,
                          n.tracker_key
                 LIMIT $4"
            ))
            .bind(words.join(" "))
            .bind(query.trim())
            .bind(words.join(" "))
            .bind(limit)
            .fetch_all(store.pool())
            .await?
        }
    };
    rows.iter()
        .map(|r| {
            let build: String = r.try_get("build")?;
            Ok(SearchHit {
                build: build.parse()?,
                note: note_from_row(r)?,
            })
        })
        .collect()
}

/// Version lag of one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EnvironmentLag {
    pub customer_id: String,
    pub customer: String,
    pub environment_id: String,
    pub environment: String,
    pub tier: Tier,
    #[serde(flatten)]
    pub lag: Lag,
}

/// Lag of every environment the actor may see (optionally of one customer; another
/// tenant's customer is `NotFound`). Destroyed environments are left out. A hotfix the
/// customer accepted or declined for a PROD pair is not counted for that pair's environments.
pub async fn version_lag(
    store: &Store,
    actor: &Actor,
    customer_id: Option<&str>,
) -> Result<Vec<EnvironmentLag>> {
    let customers = match customer_id {
        Some(id) => vec![customers::get(store, actor, id).await?],
        None => customers::list(store, actor).await?,
    };
    let published: Vec<(Build, jiff::civil::Date)> = list(store, actor)
        .await?
        .into_iter()
        .filter(|r| r.published)
        .map(|r| (r.build, r.released))
        .collect();
    let now = store.now();
    let mut out = Vec::new();
    for c in customers {
        let today = now.to_zoned(c.zone.tz()).date();
        let decided = crate::hotfixes::decided(store, &c.id).await?;
        for e in environments::list(store, actor, Some(&c.id)).await? {
            if e.state == valet_core::EnvState::Destroyed {
                continue;
            }
            let decided: Vec<Build> = decided
                .iter()
                .filter(|(pair, _)| *pair == e.pair_id)
                .map(|(_, b)| *b)
                .collect();
            out.push(EnvironmentLag {
                customer_id: c.id.clone(),
                customer: c.name.to_string(),
                environment_id: e.id.clone(),
                environment: e.name.clone(),
                tier: e.tier,
                lag: catalog::lag(e.current_build, &published, &decided, today),
            });
        }
    }
    Ok(out)
}
