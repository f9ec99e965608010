//! The VAL cycle's workflow: filing, approval (e-signed), provisioning scheduled as a run,
//! findings and sign-off (e-signed), extension, closure and teardown. The web API and the
//! CLI (through the API) call these; each step is a store transaction with its audit events,
//! followed by notifications to the request's watchers.

use serde::Serialize;
use serde_json::json;
use valet_core::signature::{Meaning, Signature};
use valet_core::val::{check_sign_off, FindingState, ValRequestInput, ValRules};
use valet_core::{Actor, CoreError, EnvState, Permission, RequestKind, RequestState, Role, Tier};
use valet_store::environments::{self, MemberSpec, NewPair, Pair};
use valet_store::findings::{self, Finding};
use valet_store::requests::{self, Attachment, Comment, Request, Watcher};
use valet_store::runs::{self, NewStep, Run, RunState};
use valet_store::signatures::{self, ToSign};
use valet_store::{documents, Store, StoreError};

use crate::error::{OpsError, Result};
use crate::outbox::announce;

/// The steps of a provisioning run, in order. `carry_over` steps exist only for a refresh.
pub fn provisioning_steps(refresh: bool) -> Vec<NewStep> {
    let mut s = Vec::new();
    let step = |name: &str, env: Option<&str>| NewStep {
        name: name.to_string(),
        env: env.map(str::to_string),
    };
    for env in ["MAIN", "TEST"] {
        s.push(step("clone", Some(env)));
    }
    if refresh {
        for env in ["MAIN", "TEST"] {
            s.push(step("carry_over", Some(env)));
        }
    }
    for env in ["MAIN", "TEST"] {
        s.push(step("migrate", Some(env)));
    }
    for env in ["MAIN", "TEST"] {
        s.push(step("configure", Some(env)));
    }
    for env in ["MAIN", "TEST"] {
        s.push(step("start", Some(env)));
    }
    s.push(step("iq_report", None));
    if refresh {
        s.push(step("retire_old_pair", None));
    }
    s.push(step("notify", None));
    s
}

/// The steps of a teardown run.
pub fn teardown_steps() -> Vec<NewStep> {
    ["MAIN", "TEST"]
        .iter()
        .map(|env| NewStep {
            name: "destroy".into(),
            env: Some(env.to_string()),
        })
        .chain(std::iter::once(NewStep {
            name: "notify".into(),
            env: None,
        }))
        .collect()
}

/// Files a VAL request and tells its watchers and the vendor's PMs.
pub async fn file(
    store: &Store,
    actor: &Actor,
    input: ValRequestInput,
    rules: ValRules,
) -> Result<Request> {
    let r = requests::create_val(store, actor, input, rules).await?;
    announce(
        store,
        &r,
        "request.filed",
        &format!("{} filed: {}", r.key, r.title),
        &format!(
            "{} filed {}.\n\n{}\n\nPM: approve it (signed) to start provisioning.",
            actor.username, r.key, r.title
        ),
        true,
    )
    .await?;
    Ok(r)
}

/// The PM's approval, e-signed (`approved`): the password is checked again, the request moves
/// to `approved`, the VAL pair is registered and its provisioning run queued (`scheduled`).
pub async fn approve(
    store: &Store,
    actor: &Actor,
    key: &str,
    password: &str,
    comment: Option<&str>,
) -> Result<Request> {
    actor.require(Permission::Triage, "approve requests")?;
    let signer = signatures::reauthenticate(store, actor, password).await?;
    let zone = signatures::zone_of(store, &signer).await?;
    let now = store.now();
    let mut tx = store.write().await?;
    let mut r = requests::get(store, actor, key).await?;
    if r.kind != RequestKind::Val {
        return Err(OpsError::Payload(format!("{} is not a VAL request", r.key)));
    }
    if r.state == RequestState::Submitted {
        requests::transition_in(&mut tx, now, actor, key, RequestState::Triaged, None).await?;
    }
    r = requests::transition_in(&mut tx, now, actor, key, RequestState::Approved, comment).await?;
    signatures::sign_in(
        &mut tx,
        now,
        &signer,
        &zone,
        ToSign {
            object_type: "request",
            object_id: &r.key,
            customer_id: Some(&r.customer_id),
            record_sha256: &r.content_sha256(),
            meaning: Meaning::Approved,
            reason: comment,
        },
    )
    .await?;
    tx.commit().await?;
    let r = schedule_provisioning(store, actor, &r.key).await?;
    announce(
        store,
        &r,
        "request.approved",
        &format!("{} approved; provisioning queued", r.key),
        &format!(
            "{} approved {} (e-signed). The VAL pair is being provisioned; you will be told when it is ready.",
            signer.display_name, r.key
        ),
        false,
    )
    .await?;
    Ok(r)
}

/// When a validation period ending on `end` is over: the end of that day on the customer's
/// wall clock (the start of the next), so the customer has the whole of its last day. `None`
/// only for a date at the end of the calendar.
pub async fn period_end(
    store: &Store,
    customer_id: &str,
    end: jiff::civil::Date,
) -> Result<Option<jiff::Timestamp>> {
    let customer = valet_store::customers::get(store, &Actor::system(), customer_id).await?;
    Ok(end
        .tomorrow()
        .and_then(|next| next.to_zoned(customer.zone.tz()))
        .map(|z| z.timestamp())
        .ok())
}

/// Registers the request's VAL pair (once) and queues a provisioning run unless one is queued
/// or running; the request moves to `scheduled`. Idempotent: safe to call again after a crash.
pub async fn schedule_provisioning(store: &Store, actor: &Actor, key: &str) -> Result<Request> {
    let r = requests::get(store, actor, key).await?;
    let val = r.val()?;
    let system = Actor::system();
    match r.details["val_pair_id"].as_str() {
        Some(p) => {
            environments::pair(store, &system, p).await?;
        }
        None => {
            let expires = period_end(store, &r.customer_id, val.end).await?;
            let pair = environments::create_pair(
                store,
                &system,
                NewPair {
                    customer_id: r.customer_id.clone(),
                    tier: Tier::Val,
                    label: Some(r.key.clone()),
                    build: None,
                    state: Some(EnvState::Requested),
                    main: MemberSpec::default(),
                    test: MemberSpec::default(),
                    request_id: Some(r.id.clone()),
                    expires_at: expires,
                },
            )
            .await?;
            let now = store.now();
            let mut tx = store.write().await?;
            requests::update_details_in(
                &mut tx,
                now,
                &system,
                &r.key,
                json!({ "val_pair_id": pair.pair_id }),
                "request.val_pair",
                None,
            )
            .await?;
            tx.commit().await?;
        }
    }
    let r = requests::get(store, actor, key).await?;
    let existing = runs::of_request(store, &system, &r).await?;
    let live = existing
        .iter()
        .find(|x| x.kind == "provision" && matches!(x.state, RunState::Queued | RunState::Running));
    let run_id = match live {
        Some(run) => run.id.clone(),
        None => {
            let now = store.now();
            let mut tx = store.write().await?;
            let id = runs::create_in(
                &mut tx,
                now,
                actor,
                &r,
                "provision",
                &provisioning_steps(val.refresh_of.is_some()),
            )
            .await?;
            if r.state != RequestState::Scheduled {
                requests::transition_in(&mut tx, now, actor, key, RequestState::Scheduled, None)
                    .await?;
            }
            tx.commit().await?;
            id
        }
    };
    let job = crate::jobs::enqueue(
        store,
        crate::jobs::JobKind::Provision,
        &json!({ "run_id": run_id }),
        crate::jobs::EnqueueOptions {
            customer_id: Some(r.customer_id.clone()),
            dedupe_key: Some(format!("run:{run_id}")),
            // A run resumes where it stopped, so a worker dying mid-run costs nothing but an attempt.
            max_attempts: 20,
            ..Default::default()
        },
    )
    .await?;
    runs::set_job(store, &run_id, &job.id).await?;
    Ok(requests::get(store, actor, key).await?)
}

/// A failed provisioning is tried again (after a fix): a new run from the first step.
pub async fn retry(store: &Store, actor: &Actor, key: &str) -> Result<Request> {
    let r = requests::get(store, actor, key).await?;
    if r.state != RequestState::Failed {
        return Err(CoreError::IllegalTransition {
            object: "request",
            from: r.state.to_string(),
            to: "scheduled".into(),
            allowed: "only a `failed` request is retried".into(),
        }
        .into());
    }
    schedule_provisioning(store, actor, key).await
}

/// Rejects (PM) a request with a reason.
pub async fn reject(store: &Store, actor: &Actor, key: &str, reason: &str) -> Result<Request> {
    let r = requests::transition(store, actor, key, RequestState::Rejected, Some(reason)).await?;
    announce(
        store,
        &r,
        "request.rejected",
        &format!("{} rejected", r.key),
        &format!("{} rejected {}: {reason}", actor.username, r.key),
        false,
    )
    .await?;
    Ok(r)
}

/// Cancels a request before its VAL runs (the requester or a PM), with a reason.
pub async fn cancel(store: &Store, actor: &Actor, key: &str, reason: &str) -> Result<Request> {
    let r = requests::transition(store, actor, key, RequestState::Cancelled, Some(reason)).await?;
    if let Some(p) = r.details["val_pair_id"].as_str() {
        queue_teardown(store, &Actor::system(), &r, p).await?;
    }
    announce(
        store,
        &r,
        "request.cancelled",
        &format!("{} cancelled", r.key),
        &format!("{} cancelled {}: {reason}", actor.username, r.key),
        false,
    )
    .await?;
    Ok(r)
}

/// Comments on a request and tells its watchers.
pub async fn comment(store: &Store, actor: &Actor, key: &str, body: &str) -> Result<Comment> {
    let c = requests::comment(store, actor, key, body).await?;
    let r = requests::get(store, actor, key).await?;
    announce(
        store,
        &r,
        "request.comment",
        &format!("{}: new comment by {}", r.key, actor.username),
        body,
        false,
    )
    .await?;
    Ok(c)
}

/// A customer asks for a later end of validation; a PM approves it with [`approve_extension`].
pub async fn request_extension(
    store: &Store,
    actor: &Actor,
    key: &str,
    new_end: &str,
    reason: &str,
) -> Result<Request> {
    let r = requests::get(store, actor, key).await?;
    if !(actor.role.may(Permission::FileRequest) || actor.role.may(Permission::Triage)) {
        return Err(CoreError::Forbidden {
            role: actor.role.to_string(),
            action: "ask for an extension (a customer admin does)".into(),
        }
        .into());
    }
    let val = r.val()?;
    let end: jiff::civil::Date = new_end.trim().parse().map_err(|_| CoreError::Invalid {
        field: "end",
        why: format!("`{new_end}` is not a date; write YYYY-MM-DD"),
    })?;
    if end <= val.end {
        return Err(CoreError::Invalid {
            field: "end",
            why: format!("{end} is not after the current end {}", val.end),
        }
        .into());
    }
    if reason.trim().is_empty() {
        return Err(CoreError::Invalid {
            field: "reason",
            why: "say why validation needs longer".into(),
        }
        .into());
    }
    let now = store.now();
    let mut tx = store.write().await?;
    let r = requests::update_details_in(
        &mut tx,
        now,
        actor,
        key,
        json!({ "extension_requested": { "end": end, "reason": reason, "by": actor.username } }),
        "request.extension_requested",
        Some(reason),
    )
    .await?;
    tx.commit().await?;
    announce(
        store,
        &r,
        "request.extension_requested",
        &format!("{}: extension to {end} requested", r.key),
        &format!(
            "{} asks to extend validation to {end}: {reason}",
            actor.username
        ),
        true,
    )
    .await?;
    Ok(r)
}

/// The PM approves a pending extension: the end date and the pair's expiry move.
pub async fn approve_extension(store: &Store, actor: &Actor, key: &str) -> Result<Request> {
    actor.require(Permission::Triage, "approve extensions")?;
    let r = requests::get(store, actor, key).await?;
    let Some(end) = r.details["extension_requested"]["end"]
        .as_str()
        .and_then(|s| s.parse::<jiff::civil::Date>().ok())
    else {
        return Err(CoreError::Invalid {
            field: "extension",
            why: format!("{} has no pending extension request", r.key),
        }
        .into());
    };
    let now = store.now();
    let mut tx = store.write().await?;
    let r = requests::update_details_in(
        &mut tx,
        now,
        actor,
        key,
        json!({ "end": end, "extension_requested": null }),
        "request.extended",
        None,
    )
    .await?;
    tx.commit().await?;
    if let Some(p) = r.details["val_pair_id"].as_str() {
        let expires = period_end(store, &r.customer_id, end).await?;
        let pair = environments::pair(store, &Actor::system(), p).await?;
        for env in [&pair.main, &pair.test] {
            environments::update(
                store,
                &Actor::system(),
                &env.id,
                environments::EnvUpdate {
                    expires_at: expires,
                    ..Default::default()
                },
                Some("validation extended"),
            )
            .await?;
        }
    }
    if r.details["provisioned"] == json!(true) {
        // New reminders and closure for the new end; the old ones find the end moved and
        // do nothing.
        crate::lifecycle::schedule_expiry(store, &r).await?;
    }
    announce(
        store,
        &r,
        "request.extended",
        &format!("{}: validation extended to {end}", r.key),
        &format!(
            "{} approved the extension of {} to {end}.",
            actor.username, r.key
        ),
        false,
    )
    .await?;
    Ok(r)
}

/// Signs the request with `meaning` after checking the password again.
pub async fn sign(
    store: &Store,
    actor: &Actor,
    key: &str,
    password: &str,
    meaning: Meaning,
    reason: Option<&str>,
) -> Result<Signature> {
    if meaning == Meaning::Validated {
        return sign_off(store, actor, key, password, reason).await;
    }
    let signer = signatures::reauthenticate(store, actor, password).await?;
    let zone = signatures::zone_of(store, &signer).await?;
    let r = requests::get(store, actor, key).await?;
    let now = store.now();
    let mut tx = store.write().await?;
    let s = signatures::sign_in(
        &mut tx,
        now,
        &signer,
        &zone,
        ToSign {
            object_type: "request",
            object_id: &r.key,
            customer_id: Some(&r.customer_id),
            record_sha256: &r.content_sha256(),
            meaning,
            reason,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(s)
}

/// The customer admin's validation sign-off (`validated`), e-signed; refused while any
/// finding is open or before the VAL pair runs.
pub async fn sign_off(
    store: &Store,
    actor: &Actor,
    key: &str,
    password: &str,
    reason: Option<&str>,
) -> Result<Signature> {
    if actor.role != Role::CustomerAdmin && actor.role != Role::Admin {
        return Err(CoreError::Forbidden {
            role: actor.role.to_string(),
            action: "sign the validation sign-off (a customer admin does)".into(),
        }
        .into());
    }
    let signer = signatures::reauthenticate(store, actor, password).await?;
    let zone = signatures::zone_of(store, &signer).await?;
    let r = requests::get(store, actor, key).await?;
    if r.state != RequestState::InProgress || r.details["provisioned"] != json!(true) {
        return Err(CoreError::IllegalTransition {
            object: "request",
            from: r.state.to_string(),
            to: "signed off".into(),
            allowed: "sign-off once the VAL pair is provisioned and running".into(),
        }
        .into());
    }
    let open: Vec<String> = findings::of_request(store, actor, key)
        .await?
        .into_iter()
        .filter(|f| f.state.blocks_sign_off())
        .map(|f| f.key)
        .collect();
    check_sign_off(&open)?;
    let now = store.now();
    let mut tx = store.write().await?;
    let s = signatures::sign_in(
        &mut tx,
        now,
        &signer,
        &zone,
        ToSign {
            object_type: "request",
            object_id: &r.key,
            customer_id: Some(&r.customer_id),
            record_sha256: &r.content_sha256(),
            meaning: Meaning::Validated,
            reason,
        },
    )
    .await?;
    requests::update_details_in(
        &mut tx,
        now,
        actor,
        key,
        json!({ "signed_off": { "by": signer.display_name, "at": now, "signature": s.id } }),
        "request.signed_off",
        reason,
    )
    .await?;
    tx.commit().await?;
    announce(
        store,
        &r,
        "request.signed_off",
        &format!("{}: validation signed off", r.key),
        &format!(
            "{} signed off validation of {} (build {}).",
            signer.display_name,
            r.key,
            r.details["build"].as_str().unwrap_or_default()
        ),
        true,
    )
    .await?;
    Ok(s)
}

/// Files a finding and tells the watchers and PMs.
pub async fn file_finding(
    store: &Store,
    actor: &Actor,
    key: &str,
    new: findings::NewFinding,
) -> Result<Finding> {
    let f = findings::create(store, actor, key, new).await?;
    let r = requests::get(store, actor, key).await?;
    announce(
        store,
        &r,
        "finding.filed",
        &format!("{}: finding {} ({}) filed", r.key, f.key, f.severity),
        &format!("{}\n\n{}", f.title, f.steps),
        true,
    )
    .await?;
    Ok(f)
}

/// Answers a finding (a comment on it) and tells the watchers.
pub async fn answer_finding(
    store: &Store,
    actor: &Actor,
    finding: &str,
    body: &str,
) -> Result<Finding> {
    let f = findings::answer(store, actor, finding, body).await?;
    let r = requests::get(store, actor, &f.request_key).await?;
    announce(
        store,
        &r,
        "finding.answer",
        &format!("{}: {} answered finding {}", r.key, actor.username, f.key),
        body,
        false,
    )
    .await?;
    Ok(f)
}

/// Resolves, accepts or reopens a finding and tells the watchers.
pub async fn set_finding(
    store: &Store,
    actor: &Actor,
    finding: &str,
    to: FindingState,
    text: &str,
) -> Result<Finding> {
    let f = findings::set_state(store, actor, finding, to, text).await?;
    let r = requests::get(store, actor, &f.request_key).await?;
    announce(
        store,
        &r,
        "finding.state",
        &format!("{}: finding {} is {}", r.key, f.key, f.state),
        text,
        false,
    )
    .await?;
    Ok(f)
}

async fn queue_teardown(store: &Store, actor: &Actor, r: &Request, pair_id: &str) -> Result<()> {
    let existing = runs::of_request(store, &Actor::system(), r).await?;
    if existing
        .iter()
        .any(|x| x.kind == "teardown" && x.state != RunState::Failed)
    {
        return Ok(());
    }
    let now = store.now();
    let mut tx = store.write().await?;
    let run_id = runs::create_in(&mut tx, now, actor, r, "teardown", &teardown_steps()).await?;
    tx.commit().await?;
    let job = crate::jobs::enqueue(
        store,
        crate::jobs::JobKind::Teardown,
        &json!({ "run_id": run_id, "pair_id": pair_id }),
        crate::jobs::EnqueueOptions {
            customer_id: Some(r.customer_id.clone()),
            dedupe_key: Some(format!("run:{run_id}")),
            max_attempts: 20,
            ..Default::default()
        },
    )
    .await?;
    runs::set_job(store, &run_id, &job.id).await?;
    Ok(())
}

/// Closes a VAL: its pair is torn down (instances stopped, databases dropped, files removed;
/// documents and audit trail kept) and the request is `done`. By a PM, the customer admin, or
/// valet itself at expiry.
pub async fn close(store: &Store, actor: &Actor, key: &str, reason: &str) -> Result<Request> {
    if !(actor.role.may(Permission::Triage) || actor.role.may(Permission::FileRequest)) {
        return Err(CoreError::Forbidden {
            role: actor.role.to_string(),
            action: "close a VAL".into(),
        }
        .into());
    }
    if reason.trim().is_empty() {
        return Err(CoreError::Invalid {
            field: "reason",
            why: "say why the VAL is closed".into(),
        }
        .into());
    }
    let r = requests::get(store, actor, key).await?;
    let Some(pair) = r.details["val_pair_id"].as_str().map(str::to_string) else {
        return Err(CoreError::Invalid {
            field: "request",
            why: format!("{} has no VAL pair to close; cancel it instead", r.key),
        }
        .into());
    };
    if !matches!(r.state, RequestState::InProgress | RequestState::Failed) {
        return Err(CoreError::IllegalTransition {
            object: "request",
            from: r.state.to_string(),
            to: "closed".into(),
            allowed: "a VAL is closed while it is in progress (provisioned) or failed".into(),
        }
        .into());
    }
    let now = store.now();
    let mut tx = store.write().await?;
    requests::update_details_in(
        &mut tx,
        now,
        actor,
        key,
        json!({ "closing": { "by": actor.username, "at": now, "reason": reason } }),
        "request.closing",
        Some(reason),
    )
    .await?;
    tx.commit().await?;
    queue_teardown(store, &Actor::system(), &r, &pair).await?;
    let r = requests::get(store, actor, key).await?;
    announce(
        store,
        &r,
        "request.closing",
        &format!("{}: VAL is being closed", r.key),
        &format!("{} closes {}: {reason}", actor.username, r.key),
        false,
    )
    .await?;
    Ok(r)
}

/// The hook the PROD upgrade calls after a successful upgrade of a customer's PROD pair to
/// `build`: every live VAL of that customer validated on `build` is scheduled to close 14
/// days after `at`. Returns the keys scheduled.
pub async fn prod_upgraded(
    store: &Store,
    customer_id: &str,
    build: valet_core::Build,
    at: jiff::Timestamp,
) -> Result<Vec<String>> {
    let system = Actor::system();
    let list = requests::list(
        store,
        &system,
        &requests::Filter {
            kind: Some(RequestKind::Val),
            state: Some(RequestState::InProgress),
            customer_id: Some(customer_id.to_string()),
        },
    )
    .await?;
    let close_at = at
        .checked_add(jiff::SignedDuration::from_hours(14 * 24))
        .unwrap_or(at);
    let mut out = Vec::new();
    for r in list {
        if r.val()?.build != build {
            continue;
        }
        let now = store.now();
        let mut tx = store.write().await?;
        requests::update_details_in(
            &mut tx,
            now,
            &system,
            &r.key,
            json!({ "close_after_prod_upgrade": close_at }),
            "request.closure_scheduled",
            Some("PROD upgraded to the validated build; VAL closes 14 days later"),
        )
        .await?;
        tx.commit().await?;
        crate::jobs::enqueue(
            store,
            crate::jobs::JobKind::Close,
            &json!({ "request": r.key, "reason": "14 days after the PROD upgrade" }),
            crate::jobs::EnqueueOptions {
                customer_id: Some(r.customer_id.clone()),
                dedupe_key: Some(format!("close:{}:{}", r.key, close_at.as_second())),
                run_at: Some(close_at),
                ..Default::default()
            },
        )
        .await?;
        out.push(r.key);
    }
    Ok(out)
}

/// A signature as shown on a record: with whether the record changed since.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShownSignature {
    #[serde(flatten)]
    pub signature: Signature,
    pub changed_after_signing: bool,
}

/// Everything the request page and `valet request show` display.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    pub request: Request,
    pub content_sha256: String,
    pub signatures: Vec<ShownSignature>,
    pub runs: Vec<Run>,
    pub findings: Vec<Finding>,
    pub documents: Vec<documents::Document>,
    pub comments: Vec<Comment>,
    pub watchers: Vec<Watcher>,
    pub attachments: Vec<Attachment>,
    pub val_pair: Option<Pair>,
    /// An upgrade request's booked slot.
    pub schedule: Option<valet_store::schedules::Schedule>,
}

/// The whole request as `actor` may see it; another tenant's is `NotFound`.
pub async fn view(store: &Store, actor: &Actor, key: &str) -> Result<RequestView> {
    let request = requests::get(store, actor, key).await?;
    let sha = request.content_sha256();
    let mut signatures: Vec<ShownSignature> = signatures::of(store, "request", &request.key)
        .await?
        .into_iter()
        .map(|s| ShownSignature {
            changed_after_signing: s.changed_after_signing(&sha),
            signature: s,
        })
        .collect();
    // A hotfix request stands on the customer's signed acceptance: shown with its own (checked
    // unchanged by `acceptance_signatures`).
    for s in crate::hotfix::acceptance_signatures(store, &request).await? {
        signatures.push(ShownSignature {
            changed_after_signing: false,
            signature: s,
        });
    }
    let val_pair = match request.details["val_pair_id"].as_str() {
        Some(p) => match environments::pair(store, actor, p).await {
            Ok(p) => Some(p),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    Ok(RequestView {
        runs: runs::of_request(store, actor, &request).await?,
        findings: findings::of_request(store, actor, key).await?,
        documents: documents::of_request(store, actor, key).await?,
        comments: requests::comments(store, actor, key).await?,
        watchers: requests::watchers(store, actor, key).await?,
        attachments: requests::attachments(store, actor, key).await?,
        content_sha256: sha,
        signatures,
        val_pair,
        schedule: valet_store::schedules::of_request(store, actor, key).await?,
        request,
    })
}
