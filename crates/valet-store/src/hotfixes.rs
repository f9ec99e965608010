//! Hotfix decisions: a customer admin's e-signed acceptance or decline of one hotfix for one
//! PROD pair. An acceptance files the `HFX-N` request (shaped like an upgrade request) in the
//! same transaction as the signature, the decision and their audit events; a decline records
//! its reason. One decision per (hotfix, pair), never changed: a second is a conflict.
//!
//! Customer-side actors see their own tenant's decisions only; another tenant's pair is
//! `NotFound`, exactly like a missing one.

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;
use valet_core::hotfix::{eligible, Decision, HotfixNotice, Severity};
use valet_core::signature::Meaning;
use valet_core::upgrade::{UpgradeContext, UpgradeRequestInput};
use valet_core::{Actor, Build, CoreError, ReleaseKind, RequestKind, Role, Tier};

use crate::audit::{self, canonical_json, NewEvent};
use crate::environments::Environment;
use crate::releases::{self, Release};
use crate::requests::{self, ts, Request};
use crate::signatures::{self, ToSign};
use crate::users::User;
use crate::{customers, new_id, Result, Store, StoreError};

/// A recorded decision with its signature's facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HotfixDecision {
    pub id: String,
    pub build: Build,
    pub pair_id: String,
    pub customer_id: String,
    pub decision: Decision,
    pub reason: Option<String>,
    /// The HFX request an acceptance filed.
    pub request_key: Option<String>,
    pub signature_id: String,
    pub meaning: Meaning,
    /// SHA-256 of the decision record the signature is bound to.
    pub record_sha256: String,
    pub signer_id: String,
    pub signer: String,
    pub signer_name: String,
    /// The signer's role now (a decision counts only when a customer admin signed it).
    pub signer_role: Role,
    pub signer_customer_id: Option<String>,
    pub signed_at_local: String,
    pub decided_at: jiff::Timestamp,
}

const SELECT: &str = "SELECT d.id, d.build, d.pair_id, d.customer_id, d.decision, d.reason, \
    r.key AS request_key, d.signature_id, s.meaning, s.record_sha256, s.signer_id, \
    u.username AS signer, u.display_name AS signer_name, u.role AS signer_role, \
    u.customer_id AS signer_customer_id, s.signed_at_local, d.decided_at \
    FROM hotfix_decisions d JOIN signatures s ON s.id = d.signature_id \
    JOIN users u ON u.id = s.signer_id LEFT JOIN requests r ON r.id = d.request_id";

fn from_row(row: &AnyRow) -> Result<HotfixDecision> {
    let build: String = row.try_get("build")?;
    let decision: String = row.try_get("decision")?;
    let meaning: String = row.try_get("meaning")?;
    let role: String = row.try_get("signer_role")?;
    Ok(HotfixDecision {
        id: row.try_get("id")?,
        build: build.parse()?,
        pair_id: row.try_get("pair_id")?,
        customer_id: row.try_get("customer_id")?,
        decision: decision.parse()?,
        reason: row.try_get("reason")?,
        request_key: row.try_get("request_key")?,
        signature_id: row.try_get("signature_id")?,
        meaning: meaning.parse()?,
        record_sha256: row.try_get("record_sha256")?,
        signer_id: row.try_get("signer_id")?,
        signer: row.try_get("signer")?,
        signer_name: row.try_get("signer_name")?,
        signer_role: role.parse()?,
        signer_customer_id: row.try_get("signer_customer_id")?,
        signed_at_local: row.try_get("signed_at_local")?,
        decided_at: ts(row.try_get("decided_at")?)?,
    })
}

/// SHA-256 of what a decision's signature is bound to: the hotfix (build and artifact
/// checksum), the pair, the decision and its reason.
pub fn record_sha256(
    build: Build,
    artifact_sha256: &str,
    pair_id: &str,
    customer_id: &str,
    decision: Decision,
    reason: Option<&str>,
) -> String {
    let record = json!({
        "object": "hotfix_decision",
        "build": build.to_string(),
        "artifact_sha256": artifact_sha256,
        "pair_id": pair_id,
        "customer_id": customer_id,
        "decision": decision.as_str(),
        "reason": reason,
    });
    hex::encode(Sha256::digest(canonical_json(&record).as_bytes()))
}

/// The decision on `build` for `pair_id`, if any (valet's own use: no tenant check).
pub async fn get(store: &Store, build: Build, pair_id: &str) -> Result<Option<HotfixDecision>> {
    let row = sqlx::query(&format!("{SELECT} WHERE d.build = $1 AND d.pair_id = $2"))
        .bind(build.to_string())
        .bind(pair_id)
        .fetch_optional(store.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Decisions the actor may see (optionally of one customer), newest first.
pub async fn list(
    store: &Store,
    actor: &Actor,
    customer_id: Option<&str>,
) -> Result<Vec<HotfixDecision>> {
    let scope = if actor.role.is_customer() {
        Some(actor.customer_id.clone().unwrap_or_default())
    } else {
        customer_id.map(str::to_string)
    };
    let rows = match scope {
        Some(c) => {
            sqlx::query(&format!(
                "{SELECT} WHERE d.customer_id = $1 ORDER BY d.decided_at DESC, d.id"
            ))
            .bind(c)
            .fetch_all(store.pool())
            .await?
        }
        None => {
            sqlx::query(&format!("{SELECT} ORDER BY d.decided_at DESC, d.id"))
                .fetch_all(store.pool())
                .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// `(pair id, hotfix build)` of every decision of one customer, for version lag.
pub async fn decided(store: &Store, customer_id: &str) -> Result<Vec<(String, Build)>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT pair_id, build FROM hotfix_decisions WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_all(store.pool())
            .await?;
    rows.into_iter().map(|(p, b)| Ok((p, b.parse()?))).collect()
}

/// A hotfix offered to one PROD pair, checked: the actor is the pair's customer admin, the
/// build is a published hotfix of the pair's release line, newer than the pair's build.
#[derive(Debug, Clone)]
pub struct Offer {
    pub release: Release,
    pub main: Environment,
    /// `PROD`, from the Main environment's name.
    pub label: String,
}

/// Checks that `actor` may decide on hotfix `build` for `pair_ref` (a pair id or `Acme/PROD`).
pub async fn offer(store: &Store, actor: &Actor, build: &str, pair_ref: &str) -> Result<Offer> {
    if actor.role != Role::CustomerAdmin {
        return Err(CoreError::Forbidden {
            role: actor.role.to_string(),
            action: "accept or decline a hotfix (the customer's admin decides; a hotfix is \
                     never pushed)"
                .into(),
        }
        .into());
    }
    let release = releases::get(store, actor, build).await?;
    if release.kind != ReleaseKind::Hotfix {
        return Err(CoreError::Invalid {
            field: "build",
            why: format!(
                "{} is a feature release, not a hotfix; file an upgrade request for it",
                release.build
            ),
        }
        .into());
    }
    if pair_ref.trim().is_empty() {
        return Err(CoreError::Invalid {
            field: "pair",
            why: "is required; name the PROD pair this decision is for".into(),
        }
        .into());
    }
    let main = requests::resolve_pair(store, actor, pair_ref)
        .await?
        .ok_or_else(|| StoreError::not_found("pair", pair_ref.trim()))?;
    if main.tier != Tier::Prod {
        return Err(CoreError::Invalid {
            field: "pair",
            why: "is not a PROD pair; hotfixes are decided for PROD only".into(),
        }
        .into());
    }
    if !eligible(main.current_build, release.build) {
        return Err(CoreError::Invalid {
            field: "pair",
            why: match main.current_build {
                Some(c) => format!(
                    "runs {c}; hotfix {} is for older builds of line {}.{} only",
                    release.build, release.build.major, release.build.minor
                ),
                None => "has no recorded build, so no hotfix is offered to it".into(),
            },
        }
        .into());
    }
    let label = main.name.trim_end_matches("-MAIN").to_string();
    Ok(Offer {
        release,
        main,
        label,
    })
}

/// What an acceptance files besides the decision.
#[derive(Debug, Clone)]
pub struct Acceptance {
    /// Slots, downtime and note of the hotfix's upgrade (`pair` and `build` are taken from the
    /// offer).
    pub input: UpgradeRequestInput,
    /// Days of notice per severity.
    pub notice: HotfixNotice,
}

/// Records a decision by `signer` (already re-authenticated) on the checked `offer`: the
/// signature, the decision, for an acceptance the `HFX-N` request, and their audit events, in
/// one transaction. A decline needs a reason. A second decision is a conflict.
pub async fn decide(
    store: &Store,
    signer: &User,
    zone: &str,
    offer: &Offer,
    decision: Decision,
    reason: Option<&str>,
    acceptance: Option<Acceptance>,
) -> Result<(HotfixDecision, Option<Request>)> {
    let actor = signer.actor();
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if decision == Decision::Declined && reason.is_none() {
        return Err(CoreError::Invalid {
            field: "reason",
            why: "declining a hotfix needs a reason; say why it is not wanted".into(),
        }
        .into());
    }
    let build = offer.release.build;
    let customer = customers::get(store, &actor, &offer.main.customer_id).await?;
    let severity = offer.release.severity.unwrap_or(Severity::Normal);
    let now = store.now();
    // The request's details, checked before anything is written.
    let filed = match (&acceptance, decision) {
        (Some(a), Decision::Accepted) => {
            let mut input = a.input.clone();
            input.pair = offer.main.pair_id.clone();
            input.build = Some(build.to_string());
            let ctx = UpgradeContext {
                now,
                pair: Some((true, offer.main.current_build)),
                validated: None,
                target: Some((build, true)),
                notice_days: a.notice.days(severity),
            };
            let mut u = input.check(&ctx)?;
            // The customer's signed acceptance stands for validation of a hotfix.
            u.needs_build_override = false;
            let mut details =
                serde_json::to_value(&u).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            details["pair_label"] = json!(offer.label);
            details["severity"] = json!(severity);
            Some(details)
        }
        (None, Decision::Accepted) => {
            return Err(CoreError::Invalid {
                field: "slots",
                why: "accepting a hotfix files its upgrade: give slots and downtime".into(),
            }
            .into())
        }
        (_, Decision::Declined) => None,
    };
    let sha = record_sha256(
        build,
        &offer.release.artifact_sha256,
        &offer.main.pair_id,
        &customer.id,
        decision,
        reason,
    );
    let mut tx = store.write().await?;
    let existing: Option<(String, i64)> = sqlx::query_as(
        "SELECT decision, decided_at FROM hotfix_decisions WHERE build = $1 AND pair_id = $2",
    )
    .bind(build.to_string())
    .bind(&offer.main.pair_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((d, at)) = existing {
        return Err(StoreError::Conflict(format!(
            "hotfix {build} was already {d} for {} on {}; a decision is final",
            offer.label,
            ts(at)?.strftime("%Y-%m-%d %H:%M UTC")
        )));
    }
    let decision_id = new_id();
    let mut request_id = None;
    let mut request_key = None;
    if let Some(details) = &filed {
        let title = format!(
            "Hotfix {} {} to {build}",
            customer.name.as_str(),
            offer.label
        );
        let (id, key) = requests::insert_in(
            &mut tx,
            now,
            &actor,
            requests::NewRequest {
                kind: RequestKind::Hotfix,
                customer_id: &customer.id,
                title: &title,
                details,
            },
            json!({ "hotfix_decision": decision_id }),
        )
        .await?;
        request_id = Some(id);
        request_key = Some(key);
    }
    let signature = signatures::sign_in(
        &mut tx,
        now,
        signer,
        zone,
        ToSign {
            object_type: "hotfix_decision",
            object_id: &decision_id,
            customer_id: Some(&customer.id),
            record_sha256: &sha,
            meaning: match decision {
                Decision::Accepted => Meaning::Accepted,
                Decision::Declined => Meaning::Declined,
            },
            reason,
        },
    )
    .await?;
    sqlx::query(
        "INSERT INTO hotfix_decisions (id, build, pair_id, customer_id, decision, signature_id, \
         reason, request_id, decided_by, decided_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&decision_id)
    .bind(build.to_string())
    .bind(&offer.main.pair_id)
    .bind(&customer.id)
    .bind(decision.as_str())
    .bind(&signature.id)
    .bind(reason)
    .bind(&request_id)
    .bind(&actor.user_id)
    .bind(now.as_microsecond())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor: &actor,
            action: match decision {
                Decision::Accepted => "hotfix.accept",
                Decision::Declined => "hotfix.decline",
            },
            object_type: "hotfix_decision",
            object_id: &decision_id,
            customer_id: Some(&customer.id),
            before: None,
            after: Some(json!({
                "build": build.to_string(), "pair_id": offer.main.pair_id, "pair": offer.label,
                "decision": decision, "signature": signature.id, "request": request_key,
                "severity": severity,
            })),
            reason,
        },
    )
    .await?;
    tx.commit().await?;
    let d = get(store, build, &offer.main.pair_id)
        .await?
        .ok_or_else(|| StoreError::not_found("hotfix decision", &decision_id))?;
    let r = match &request_key {
        Some(k) => Some(requests::get(store, &actor, k).await?),
        None => None,
    };
    Ok((d, r))
}

/// The decision details an HFX request carries, for views: `None` for other kinds.
pub fn request_fields(r: &Request) -> Option<(Build, String)> {
    if r.kind != RequestKind::Hotfix {
        return None;
    }
    let build = r.details["build"].as_str()?.parse().ok()?;
    let pair = r.details["pair_id"].as_str()?.to_string();
    Some((build, pair))
}
