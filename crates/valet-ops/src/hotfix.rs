//! Hotfix acceptance: publishing a hotfix tells every customer with an eligible PROD pair
//! (same release line, older build); the customer's admin reads its notes and accepts or
//! declines it per pair with an e-signature; an acceptance files an `HFX-N` request that is
//! scheduled like any upgrade ([`crate::upgrade::assess`], [`crate::upgrade::set`]).
//!
//! A hotfix is never applied without an acceptance on record: [`acceptance_for`] is the one
//! check every path that schedules or runs an HFX request makes first.

use serde::{Deserialize, Serialize};
use serde_json::json;
use valet_core::catalog::Note;
use valet_core::hotfix::{eligible, Decision, HotfixNotice};
use valet_core::upgrade::UpgradeRequestInput;
use valet_core::{
    Actor, Build, CoreError, EnvRole, FieldError, ReleaseKind, RequestKind, Role, Tier,
};
use valet_store::hotfixes::{self, Acceptance, HotfixDecision};
use valet_store::releases::{self, Release};
use valet_store::requests::Request;
use valet_store::{customers, environments, signatures, users, Store};

use crate::error::{OpsError, Result};
use crate::outbox::{announce, announce_customer};

/// Publishes a release (see [`releases::publish`]); a hotfix is then announced to every
/// customer it is offered to. Returns the release and how many customers were told. Every
/// publishing path (API, UI, `valet release publish`) comes through here.
pub async fn publish(
    store: &Store,
    actor: &Actor,
    build: &str,
    reason: Option<&str>,
    base_url: Option<&str>,
) -> Result<(Release, usize)> {
    let r = releases::publish(store, actor, build, reason).await?;
    let told = if r.kind == ReleaseKind::Hotfix {
        notify_published(store, &r, base_url).await?
    } else {
        0
    };
    Ok((r, told))
}

/// The PROD pairs (Main environments) of one customer that are offered `build`.
async fn eligible_pairs(
    store: &Store,
    customer_id: &str,
    build: Build,
) -> Result<Vec<environments::Environment>> {
    Ok(
        environments::list(store, &Actor::system(), Some(customer_id))
            .await?
            .into_iter()
            .filter(|e| {
                e.tier == Tier::Prod
                    && e.role == EnvRole::Main
                    && e.state != valet_core::EnvState::Destroyed
                    && eligible(e.current_build, build)
            })
            .collect(),
    )
}

fn summary(notes: &[Note]) -> String {
    notes
        .iter()
        .map(|n| {
            format!(
                "  - {} [{}, {}; validation impact {}] {}",
                n.key, n.category, n.area, n.validation_impact, n.title
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Tells each customer with an eligible PROD pair about hotfix `r`: one notification per
/// customer (its admins by e-mail, its webhooks), at most once per hotfix and customer.
/// Returns how many customers were told.
pub async fn notify_published(store: &Store, r: &Release, base_url: Option<&str>) -> Result<usize> {
    let system = Actor::system();
    let notes = releases::notes_of(store, &system, &r.build.to_string()).await?;
    let severity = r.severity.unwrap_or_default();
    let link = format!("{}/hotfixes", base_url.unwrap_or("").trim_end_matches('/'));
    let admins = users::with_role(store, Role::CustomerAdmin).await?;
    let mut told = 0;
    for c in customers::list(store, &system).await? {
        let pairs = eligible_pairs(store, &c.id, r.build).await?;
        if pairs.is_empty() {
            continue;
        }
        let labels: Vec<String> = pairs
            .iter()
            .map(|e| {
                format!(
                    "{} (runs {})",
                    e.name.trim_end_matches("-MAIN"),
                    e.current_build.map(|b| b.to_string()).unwrap_or_default()
                )
            })
            .collect();
        let subject = format!("Hotfix {} ({severity}) is available for review", r.build);
        let body = format!(
            "Hotfix {} of release {} ({severity} severity) is published for {}.\n\
             It is offered to: {}.\n\nWhat it fixes:\n{}\n\n\
             A hotfix is never applied automatically: review its notes and accept (with the \
             slots you propose) or decline it for each PROD pair, e-signed, at {link}\n\
             (API: GET /api/v1/hotfixes; CLI: valet hotfix list).",
            r.build,
            r.version,
            c.name.as_str(),
            labels.join(", "),
            summary(&notes)
        );
        let to: Vec<String> = admins
            .iter()
            .filter(|u| u.customer_id.as_deref() == Some(c.id.as_str()))
            .filter_map(|u| u.email.clone())
            .collect();
        let webhook = json!({
            "event": "hotfix.published",
            "build": r.build.to_string(),
            "version": r.version.to_string(),
            "severity": severity,
            "customer_id": c.id,
            "pairs": pairs.iter().map(|e| &e.pair_id).collect::<Vec<_>>(),
            "subject": subject,
            "url": link,
        });
        announce_customer(
            store,
            &c.id,
            "hotfix.published",
            &subject,
            &body,
            &to,
            &webhook,
            &format!("hotfix.published:{}:{}", r.build, c.id),
        )
        .await?;
        told += 1;
    }
    Ok(told)
}

/// One PROD pair's standing on one hotfix.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxPair {
    pub pair_id: String,
    pub pair: String,
    pub customer_id: String,
    pub customer: String,
    pub current_build: Option<Build>,
    /// `undecided`, `accepted` or `declined`.
    pub state: String,
    pub decision: Option<HotfixDecision>,
}

/// One hotfix in a customer's inbox, with its notes and the pairs it concerns.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxItem {
    pub release: Release,
    pub notes: Vec<Note>,
    pub pairs: Vec<InboxPair>,
}

/// The hotfix inbox of `actor`: every published hotfix offered to (or decided for) a PROD
/// pair the actor may see, newest first, each pair with its decision.
pub async fn inbox(store: &Store, actor: &Actor) -> Result<Vec<InboxItem>> {
    let decisions = hotfixes::list(store, actor, None).await?;
    let mains: Vec<environments::Environment> = environments::list(store, actor, None)
        .await?
        .into_iter()
        .filter(|e| {
            e.tier == Tier::Prod
                && e.role == EnvRole::Main
                && e.state != valet_core::EnvState::Destroyed
        })
        .collect();
    let names: Vec<(String, String)> = customers::list(store, actor)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name.to_string()))
        .collect();
    let mut out = Vec::new();
    let mut all = releases::list(store, actor).await?;
    all.reverse();
    for r in all
        .into_iter()
        .filter(|r| r.published && r.kind == ReleaseKind::Hotfix)
    {
        let mut pairs = Vec::new();
        for e in &mains {
            let decision = decisions
                .iter()
                .find(|d| d.build == r.build && d.pair_id == e.pair_id)
                .cloned();
            if decision.is_none() && !eligible(e.current_build, r.build) {
                continue;
            }
            pairs.push(InboxPair {
                pair_id: e.pair_id.clone(),
                pair: e.name.trim_end_matches("-MAIN").to_string(),
                customer_id: e.customer_id.clone(),
                customer: names
                    .iter()
                    .find(|(id, _)| *id == e.customer_id)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default(),
                current_build: e.current_build,
                state: decision
                    .as_ref()
                    .map(|d| d.decision.as_str())
                    .unwrap_or("undecided")
                    .to_string(),
                decision,
            });
        }
        if pairs.is_empty() {
            continue;
        }
        let notes = releases::notes_of(store, actor, &r.build.to_string()).await?;
        out.push(InboxItem {
            release: r,
            notes,
            pairs,
        });
    }
    Ok(out)
}

/// An acceptance as the customer's admin sends it: the pair, the password (the acceptance is
/// e-signed), and the slots and downtime of the hotfix's upgrade.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"pair": "Acme Clinical Research/PROD", "password": "the signer's own password", "slots": ["2027-01-11 09:00-10:00 Europe/Berlin"], "downtime_minutes": 15}))]
pub struct AcceptInput {
    #[serde(default)]
    pub pair: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub slots: Vec<String>,
    /// 1-based index of the preferred slot (default the first).
    #[serde(default)]
    pub preferred: Option<usize>,
    #[serde(default)]
    pub downtime_minutes: Option<u64>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A decline: the pair, the password and why.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"pair": "Acme Clinical Research/PROD", "password": "the signer's own password", "reason": "The fixed report is not used by our studies"}))]
pub struct DeclineInput {
    #[serde(default)]
    pub pair: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub reason: String,
}

async fn signer(
    store: &Store,
    actor: &Actor,
    password: Option<&str>,
) -> Result<(users::User, String)> {
    let user = signatures::reauthenticate(store, actor, password.unwrap_or("")).await?;
    let zone = signatures::zone_of(store, &user).await?;
    Ok((user, zone))
}

/// Accepts hotfix `build` for one PROD pair (the customer's admin, e-signed with meaning
/// `accepted`) and files its `HFX-N` request with the slots given, in one transaction; the
/// vendor's PMs are told. Slots are checked first (every error at once): a wrong slot records
/// nothing. The notice the slots need comes from the hotfix's severity (`notice`).
pub async fn accept(
    store: &Store,
    actor: &Actor,
    build: &str,
    input: AcceptInput,
    notice: HotfixNotice,
) -> Result<(HotfixDecision, Request)> {
    let offer = hotfixes::offer(store, actor, build, &input.pair).await?;
    let (user, zone) = signer(store, actor, input.password.as_deref()).await?;
    let (d, r) = hotfixes::decide(
        store,
        &user,
        &zone,
        &offer,
        Decision::Accepted,
        None,
        Some(Acceptance {
            input: UpgradeRequestInput {
                pair: input.pair,
                build: None,
                slots: input.slots,
                preferred: input.preferred,
                downtime_minutes: input.downtime_minutes,
                note: input.note,
            },
            notice,
        }),
    )
    .await?;
    let r = r.ok_or_else(|| OpsError::Payload("the acceptance filed no request".into()))?;
    let u = crate::upgrade::details(&r)?;
    let slots: Vec<String> = u
        .slots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "  {}. {}{}",
                i + 1,
                s.display(),
                if s.preferred { " (preferred)" } else { "" }
            )
        })
        .collect();
    announce(
        store,
        &r,
        "hotfix.accepted",
        &format!("{} filed: hotfix {} accepted", r.key, d.build),
        &format!(
            "{} accepted hotfix {} for {} (e-signed {}), accepting {} minutes of downtime; \
             {} days of notice apply ({} severity).\nSlots:\n{}",
            d.signer_name,
            d.build,
            offer.label,
            d.signed_at_local,
            u.downtime_minutes,
            u.notice_days,
            offer.release.severity.unwrap_or_default(),
            slots.join("\n")
        ),
        true,
    )
    .await?;
    Ok((d, r))
}

/// Declines hotfix `build` for one PROD pair (the customer's admin, e-signed with meaning
/// `declined`, with a reason). The decision is final; version lag stops counting the hotfix.
pub async fn decline(
    store: &Store,
    actor: &Actor,
    build: &str,
    input: DeclineInput,
) -> Result<HotfixDecision> {
    let offer = hotfixes::offer(store, actor, build, &input.pair).await?;
    // What is missing is said at once, before the password is checked.
    let mut missing = Vec::new();
    if input.reason.trim().is_empty() {
        missing.push(FieldError::new(
            "reason",
            "declining a hotfix needs a reason; say why it is not wanted",
        ));
    }
    if input.password.as_deref().unwrap_or("").is_empty() {
        missing.push(FieldError::new(
            "password",
            "signing needs your password entered again",
        ));
    }
    if !missing.is_empty() {
        return Err(CoreError::Fields(missing).into());
    }
    let (user, zone) = signer(store, actor, input.password.as_deref()).await?;
    let (d, _) = hotfixes::decide(
        store,
        &user,
        &zone,
        &offer,
        Decision::Declined,
        Some(&input.reason),
        None,
    )
    .await?;
    Ok(d)
}

/// The e-signatures of the customer's acceptance a hotfix request stands on, once
/// [`acceptance_for`] has checked them against the record they were bound to; none for another
/// kind of request or without a valid acceptance on record.
pub async fn acceptance_signatures(
    store: &Store,
    request: &Request,
) -> Result<Vec<valet_core::signature::Signature>> {
    if request.kind != RequestKind::Hotfix {
        return Ok(Vec::new());
    }
    match acceptance_for(store, request).await {
        Ok(d) => Ok(signatures::of(store, "hotfix_decision", &d.id).await?),
        Err(OpsError::HotfixNotAccepted { .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The customer's signed acceptance of the hotfix an `HFX-N` request applies. Call it before
/// anything schedules or runs the request: it refuses unless an `accepted` decision for the
/// request's (hotfix build, pair) is on record, filed this request, was signed with meaning
/// `accepted` by an admin of the request's customer, and still matches what was signed.
pub async fn acceptance_for(store: &Store, request: &Request) -> Result<HotfixDecision> {
    let refuse = |why: String| OpsError::HotfixNotAccepted {
        key: request.key.clone(),
        why,
    };
    if request.kind != RequestKind::Hotfix {
        return Err(refuse(format!(
            "it is a {} request, not a hotfix request",
            request.kind
        )));
    }
    let Some((build, pair_id)) = hotfixes::request_fields(request) else {
        return Err(refuse("its details name no hotfix build and pair".into()));
    };
    let Some(d) = hotfixes::get(store, build, &pair_id).await? else {
        return Err(refuse(format!(
            "no decision on hotfix {build} for pair {pair_id} is on record"
        )));
    };
    if d.decision != Decision::Accepted || d.meaning != valet_core::signature::Meaning::Accepted {
        return Err(refuse(format!(
            "hotfix {build} was {} for this pair by {}",
            d.decision, d.signer_name
        )));
    }
    if d.request_key.as_deref() != Some(request.key.as_str()) {
        return Err(refuse(format!(
            "the acceptance of hotfix {build} on record filed {}, not this request",
            d.request_key.as_deref().unwrap_or("no request")
        )));
    }
    if d.signer_role != Role::CustomerAdmin
        || d.signer_customer_id.as_deref() != Some(request.customer_id.as_str())
        || d.customer_id != request.customer_id
    {
        return Err(refuse(format!(
            "the acceptance was not signed by an admin of {}",
            request.customer_name
        )));
    }
    let release = releases::get(store, &Actor::system(), &build.to_string()).await?;
    let sha = hotfixes::record_sha256(
        build,
        &release.artifact_sha256,
        &pair_id,
        &d.customer_id,
        d.decision,
        d.reason.as_deref(),
    );
    if sha != d.record_sha256 {
        return Err(refuse(
            "the decision on record was changed after it was signed".into(),
        ));
    }
    Ok(d)
}
