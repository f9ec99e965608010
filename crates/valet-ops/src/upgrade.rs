//! The PROD upgrade request and its scheduling: filing (`UPG-N` with time-zoned slots), the
//! PM's assessment (notice, engineer availability, conflicts, quiet time, expected downtime),
//! booking a slot (overrides need a reason and an e-signature), cancelling, and the reminders
//! at T-21d, T-7d, T-1d, T-1h, start and end.
//!
//! Reminders are jobs with a dedupe key per (request, SEQUENCE, label), so booking twice does
//! not queue twice; each reminder's notifications carry a once-key, so a reminder job run
//! again (a worker killed after sending, a second worker) records and sends nothing new. A
//! reminder of an older SEQUENCE (the upgrade was rescheduled) or of a cancelled upgrade does
//! nothing.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use valet_core::schedule::{
    self, conflicts, estimate_downtime, Conflict, ConflictKind, DowntimeEstimate, DryRunEnv,
    Histogram, Notice, ScheduleFacts, DEFAULT_FIXED_SECONDS,
};
use valet_core::signature::Meaning;
use valet_core::slot::{display_range, parse_slot, Slot};
use valet_core::upgrade::{UpgradeRequest, UpgradeRequestInput};
use valet_core::{Actor, CoreError, EnvRole, Permission, RequestKind, RequestState};
use valet_store::requests::{self, Request};
use valet_store::schedules::{self, Booking, Schedule};
use valet_store::signatures::{self, ToSign};
use valet_store::{customers, environments, runs, users, Store, StoreError};

use crate::error::{OpsError, Result};
use crate::jobs::{self, EnqueueOptions, JobKind};
use crate::outbox::{announce, announce_to};
use crate::proddb;
use crate::profile::AppProfile;

/// The upgrade fields of a PROD upgrade (`UPG-N`) or accepted hotfix (`HFX-N`) request: both
/// have the same shape and are scheduled and run the same way.
pub fn details(r: &Request) -> Result<UpgradeRequest> {
    if !r.kind.is_prod_upgrade() {
        return Err(OpsError::Payload(format!(
            "{} is not an upgrade or hotfix request",
            r.key
        )));
    }
    serde_json::from_value(r.details.clone())
        .map_err(|e| OpsError::Payload(format!("details of {}: {e}", r.key)))
}

/// Files an upgrade request and tells the vendor's PMs.
pub async fn file(store: &Store, actor: &Actor, input: UpgradeRequestInput) -> Result<Request> {
    let r = schedules::create_upgrade(store, actor, input).await?;
    let u = details(&r)?;
    let customer = customers::get(store, &Actor::system(), &r.customer_id).await?;
    let zone = customer.zone.to_string();
    let slots: Vec<String> = u
        .slots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "  {}. {}{}\n     = {}",
                i + 1,
                s.display(),
                if s.preferred { " (preferred)" } else { "" },
                s.display_in(&zone)
            )
        })
        .collect();
    announce(
        store,
        &r,
        "request.filed",
        &format!("{} filed: {}", r.key, r.title),
        &format!(
            "{} asks to upgrade {} to {} (accepts {} minutes of downtime).\nSlots:\n{}\n{}",
            r.created_by_name,
            r.details["pair_label"].as_str().unwrap_or("PROD"),
            u.build,
            u.downtime_minutes,
            slots.join("\n"),
            if u.needs_build_override {
                "This build is not the one validated in the customer's VAL: scheduling needs a PM override."
            } else {
                ""
            }
        ),
        true,
    )
    .await?;
    Ok(r)
}

/// The customer's zone and PROD Main/Test database URLs of an upgrade's pair.
struct PairDb {
    zone: String,
    main_url: Option<String>,
    test_url: Option<String>,
}

async fn pair_db(store: &Store, actor: &Actor, pair_ref: &str) -> Result<(String, PairDb)> {
    let main = requests::resolve_pair(store, actor, pair_ref)
        .await?
        .ok_or_else(|| StoreError::not_found("pair", pair_ref))?;
    let system = Actor::system();
    let pair = environments::pair(store, &system, &main.pair_id).await?;
    let customer = customers::get(store, &system, &main.customer_id).await?;
    Ok((
        main.pair_id.clone(),
        PairDb {
            zone: customer.zone.to_string(),
            main_url: environments::database_url(store, &system, &pair.main.id).await?,
            test_url: environments::database_url(store, &system, &pair.test.id).await?,
        },
    ))
}

/// The quiet-time histogram of a PROD pair's Main database: the last `weeks` weeks of
/// data-collection activity in the customer's zone.
pub async fn histogram(
    store: &Store,
    actor: &Actor,
    profile: &AppProfile,
    pair_ref: &str,
    weeks: u32,
) -> Result<Histogram> {
    if !(1..=52).contains(&weeks) {
        return Err(CoreError::Invalid {
            field: "weeks",
            why: format!("{weeks}; give 1 to 52"),
        }
        .into());
    }
    let (_, db) = pair_db(store, actor, pair_ref).await?;
    let url = db.main_url.ok_or_else(|| {
        OpsError::Payload("the PROD Main environment has no database registered".into())
    })?;
    let hourly =
        proddb::hourly_activity_cached(profile, &url, weeks * 7, proddb::ACTIVITY_MAX_AGE).await?;
    Histogram::fold(&db.zone, weeks, &hourly).map_err(OpsError::Payload)
}

/// The expected downtime of an upgrade from its VAL dry run (the VAL that validated the
/// build, else the newest provisioned VAL of the pair on that build).
pub async fn downtime(store: &Store, r: &Request) -> Result<DowntimeEstimate> {
    let u = details(r)?;
    let system = Actor::system();
    let vals = requests::list(
        store,
        &system,
        &requests::Filter {
            kind: Some(RequestKind::Val),
            customer_id: Some(r.customer_id.clone()),
            ..Default::default()
        },
    )
    .await?;
    let val = vals
        .iter()
        .find(|v| {
            Some(&v.key) == u.validated_in.as_ref() && v.val().is_ok_and(|x| x.build == u.build)
        })
        .or_else(|| {
            vals.iter().find(|v| {
                v.details["pair_id"] == json!(u.pair_id)
                    && v.val().is_ok_and(|x| x.build == u.build)
                    && v.details["provisioned"] == json!(true)
            })
        });
    let mut dry = Vec::new();
    if let Some(v) = val {
        let all = runs::of_request(store, &system, v).await?;
        if let Some(run) = all
            .iter()
            .find(|x| x.kind == "provision" && x.state == runs::RunState::Succeeded)
        {
            let (_, db) = pair_db(store, &system, &u.pair_id).await?;
            for (role, url) in [("MAIN", &db.main_url), ("TEST", &db.test_url)] {
                let step = |name: &str| {
                    run.steps
                        .iter()
                        .find(|s| s.name == name && s.env.as_deref() == Some(role))
                };
                let Some(mig) = step("migrate") else { continue };
                let migrate_ms = mig.artifacts["total_ms"]
                    .as_u64()
                    .unwrap_or(mig.duration_ms.unwrap_or(0).max(0) as u64);
                let start_ms = step("start")
                    .and_then(|s| s.duration_ms)
                    .unwrap_or(0)
                    .max(0) as u64;
                // The biggest tables of the clone stand for the data the migrations touch.
                let mut tables: Vec<(String, u64)> = step("clone")
                    .and_then(|s| s.artifacts["masking"]["tables"].as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|t| Some((t["table"].as_str()?.to_string(), t["rows"].as_u64()?)))
                    .collect();
                tables.sort_by_key(|t| std::cmp::Reverse(t.1));
                tables.truncate(3);
                let rows_at_clone: u64 = tables.iter().map(|t| t.1).sum();
                let rows_now = match url {
                    Some(url) if rows_at_clone > 0 => {
                        let names: Vec<String> = tables.iter().map(|t| t.0.clone()).collect();
                        proddb::count_rows(url, &names)
                            .await
                            .unwrap_or(rows_at_clone)
                    }
                    _ => rows_at_clone,
                };
                dry.push(DryRunEnv {
                    role: role.into(),
                    migrate_ms,
                    start_ms,
                    rows_at_clone,
                    rows_now,
                });
            }
        }
    }
    if dry.is_empty() {
        if let Some((source, measured)) = last_measured_downtime(store, r, &u.pair_id).await? {
            return Ok(valet_core::schedule::estimate_from_last_upgrade(
                &measured,
                &source,
                Some(u.downtime_minutes),
            ));
        }
    }
    Ok(estimate_downtime(
        &dry,
        DEFAULT_FIXED_SECONDS,
        Some(u.downtime_minutes),
    ))
}

/// The downtime per environment (role, ms) the pair's last successful PROD upgrade or hotfix
/// run other than `r`'s measured, with the request it came from (`UPG-1 to 24.3.0.1300`).
async fn last_measured_downtime(
    store: &Store,
    r: &Request,
    pair_id: &str,
) -> Result<Option<(String, Vec<(String, u64)>)>> {
    let system = Actor::system();
    let earlier = requests::list(
        store,
        &system,
        &requests::Filter {
            customer_id: Some(r.customer_id.clone()),
            ..Default::default()
        },
    )
    .await?;
    for other in earlier.iter().filter(|x| {
        x.kind.is_prod_upgrade() && x.key != r.key && x.details["pair_id"] == json!(pair_id)
    }) {
        let all = runs::of_request(store, &system, other).await?;
        let Some(run) = all
            .iter()
            .find(|x| x.kind == "upgrade" && x.state == runs::RunState::Succeeded)
        else {
            continue;
        };
        let measured = crate::upgrade_run::measured_downtime(run);
        if !measured.is_empty() {
            let build = other.details["build"].as_str().unwrap_or("?");
            return Ok(Some((format!("{} to {build}", other.key), measured)));
        }
    }
    Ok(None)
}

/// One proposed slot as the PM sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlotCheck {
    /// 1-based.
    pub index: usize,
    pub slot: Slot,
    /// In the slot's own zone, the customer's zone and UTC.
    pub display: String,
    pub display_customer: String,
    pub display_utc: String,
    pub notice: Notice,
    /// Expected data-collection events during the slot (lower is quieter).
    pub score: Option<f64>,
    pub conflicts: Vec<Conflict>,
    pub feasible: bool,
}

/// A window valet proposes instead of the customer's slots.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Window {
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
    pub display_customer: String,
    pub score: f64,
}

/// Everything a PM needs to pick a slot.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Assessment {
    pub request: String,
    pub customer_zone: String,
    pub engineer: Option<String>,
    pub slots: Vec<SlotCheck>,
    /// The quietest feasible slot (1-based), if any is feasible.
    pub suggested: Option<usize>,
    /// Up to three feasible windows quieter than the suggestion (on request).
    pub alternatives: Vec<Window>,
    pub downtime: DowntimeEstimate,
    pub histogram: Option<Histogram>,
    /// Why there is no histogram (no activity query, database unreachable).
    pub activity_error: Option<String>,
    pub schedule: Option<Schedule>,
}

/// The facts a slot of `r` is checked against, with `engineer` (username) if given.
async fn facts(
    store: &Store,
    r: &Request,
    u: &UpgradeRequest,
    engineer: Option<&str>,
    server_key: &str,
) -> Result<ScheduleFacts> {
    let system = Actor::system();
    let engineer = match engineer {
        Some(name) => {
            let user = schedules::engineer_user(store, name).await?;
            Some(schedules::engineer(store, &user, &r.id).await?)
        }
        None => None,
    };
    let all = schedules::blackouts(store, &system, Some(&r.customer_id)).await?;
    let period = |b: &schedules::Blackout| schedule::Period {
        start: b.start,
        end: b.end,
        label: b.reason.clone(),
    };
    Ok(ScheduleFacts {
        now: Some(store.now()),
        submitted: Some(r.created_at),
        notice_days: u.notice_days,
        engineer,
        blackouts: all
            .iter()
            .filter(|b| b.kind == "blackout" && b.customer_id.as_deref() == Some(&r.customer_id))
            .map(period)
            .collect(),
        freezes: all
            .iter()
            .filter(|b| b.kind == "freeze")
            .map(period)
            .collect(),
        same_server: schedules::server_bookings(store, server_key, &r.id).await?,
        unvalidated_build: u.needs_build_override.then(|| match &u.validated_build {
            Some(v) => format!(
                "{} is not the validated build ({v}, signed off in {})",
                u.build,
                u.validated_in.as_deref().unwrap_or("the VAL")
            ),
            None => format!(
                "{} was not validated in a signed-off VAL of this pair",
                u.build
            ),
        }),
    })
}

async fn server_key_of(store: &Store, pair_id: &str) -> Result<String> {
    let (_, db) = pair_db(store, &Actor::system(), pair_id).await?;
    Ok(db
        .main_url
        .as_deref()
        .map(proddb::server_key)
        .unwrap_or_else(|| format!("pair://{pair_id}")))
}

/// Checks every proposed slot of `key` (with `engineer`, or the booked one), scores them by
/// quiet time, suggests the quietest feasible one and, with `alternatives`, up to three
/// quieter feasible windows in the four weeks after the notice period.
pub async fn assess(
    store: &Store,
    actor: &Actor,
    profile: Option<&AppProfile>,
    key: &str,
    engineer: Option<&str>,
    alternatives: bool,
) -> Result<Assessment> {
    let r = requests::get(store, actor, key).await?;
    let u = details(&r)?;
    let booked = schedules::of_request(store, actor, key).await?;
    let engineer = engineer.map(str::to_string).or_else(|| {
        booked
            .as_ref()
            .filter(|s| s.state == "scheduled")
            .map(|s| s.engineer.clone())
    });
    let server = server_key_of(store, &u.pair_id).await?;
    let facts = facts(store, &r, &u, engineer.as_deref(), &server).await?;
    let customer = customers::get(store, &Actor::system(), &r.customer_id).await?;
    let zone = customer.zone.to_string();
    let (histogram, activity_error) = match profile {
        Some(p) => match histogram(store, &Actor::system(), p, &u.pair_id, 8).await {
            Ok(h) => (Some(h), None),
            Err(e) => (None, Some(e.to_string())),
        },
        None => (None, Some("no app profile configured".into())),
    };
    let overridden = overrides_of(booked.as_ref());
    let mut slots = Vec::new();
    for (i, s) in u.slots.iter().enumerate() {
        let c = conflicts(s.start, s.end, &facts, &overridden);
        let feasible = c.iter().all(|c| !c.blocking);
        slots.push(SlotCheck {
            index: i + 1,
            display: s.display(),
            display_customer: s.display_in(&zone),
            display_utc: s.display_in("UTC"),
            notice: Notice::of(r.created_at, s.start, u.notice_days),
            score: histogram.as_ref().map(|h| round2(h.score(s.start, s.end))),
            conflicts: c,
            feasible,
            slot: s.clone(),
        });
    }
    let suggested = slots
        .iter()
        .filter(|s| s.feasible)
        .min_by(|a, b| {
            a.score
                .unwrap_or(0.0)
                .total_cmp(&b.score.unwrap_or(0.0))
                .then(b.slot.preferred.cmp(&a.slot.preferred))
                .then(a.index.cmp(&b.index))
        })
        .map(|s| s.index);
    let mut alt = Vec::new();
    if let (true, Some(h)) = (alternatives, &histogram) {
        let best = suggested
            .and_then(|i| slots[i - 1].score)
            .unwrap_or(f64::INFINITY);
        let minutes = u
            .slots
            .iter()
            .find(|s| s.preferred)
            .map(|s| s.minutes())
            .unwrap_or(60);
        let from = r
            .created_at
            .checked_add(jiff::SignedDuration::from_hours(
                24 * i64::from(u.notice_days),
            ))
            .unwrap_or(r.created_at)
            .max(store.now());
        let to = from
            .checked_add(jiff::SignedDuration::from_hours(24 * 28))
            .unwrap_or(from);
        for (s, e, score) in schedule::quiet_windows(h, from, to, minutes) {
            if alt.len() == 3 || score >= best {
                break;
            }
            // The build conflict is the same for every window: it rules none of them out.
            if conflicts(s, e, &facts, &[ConflictKind::UnvalidatedBuild])
                .iter()
                .all(|c| !c.blocking)
            {
                alt.push(Window {
                    start: s,
                    end: e,
                    display_customer: display_range(s, e, &customer.zone.tz(), &zone),
                    score: round2(score),
                });
            }
        }
    }
    Ok(Assessment {
        request: r.key.clone(),
        customer_zone: zone,
        engineer,
        slots,
        suggested,
        alternatives: alt,
        downtime: downtime(store, &r).await?,
        histogram,
        activity_error,
        schedule: booked,
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn overrides_of(s: Option<&Schedule>) -> Vec<ConflictKind> {
    s.and_then(|s| s.overrides.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|o| o["kind"].as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A PM's override of one conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Override {
    pub kind: ConflictKind,
    pub reason: String,
}

/// What a PM decides when booking.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"slot": 2, "engineer": "eddie", "confirm": false}))]
pub struct SetSchedule {
    /// The request's slot (1-based) …
    #[serde(default)]
    pub slot: Option<usize>,
    /// … or another window, written like a slot (e.g. a suggested alternative).
    #[serde(default)]
    pub window: Option<String>,
    pub engineer: String,
    #[serde(default)]
    pub overrides: Vec<Override>,
    /// Needed (the PM's password) when anything is overridden: the override is e-signed.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    /// Each environment's downtime starts only when an engineer releases it (`run confirm`).
    #[serde(default)]
    pub confirm: bool,
}

/// Books a slot (or reschedules): every conflict must be absent or overridden with a reason;
/// overrides are e-signed with the PM's password. The request moves to `scheduled`, the
/// calendar SEQUENCE is raised on a reschedule, reminders are queued and everyone is told.
pub async fn set(store: &Store, actor: &Actor, key: &str, s: SetSchedule) -> Result<Schedule> {
    actor.require(Permission::Triage, "schedule upgrades")?;
    let r = requests::get(store, actor, key).await?;
    let u = details(&r)?;
    if r.kind == RequestKind::Hotfix {
        crate::hotfix::acceptance_for(store, &r).await?;
    }
    if !matches!(
        r.state,
        RequestState::Submitted
            | RequestState::Triaged
            | RequestState::Approved
            | RequestState::Scheduled
    ) {
        return Err(CoreError::Invalid {
            field: "state",
            why: format!(
                "{} is {}; only an open upgrade request can be scheduled",
                r.key, r.state
            ),
        }
        .into());
    }
    let (index, slot) = match (&s.slot, s.window.as_deref().map(str::trim)) {
        (Some(i), None) => match u.slots.get(i.wrapping_sub(1)) {
            Some(slot) => (*i as i64, slot.clone()),
            None => {
                return Err(CoreError::Invalid {
                    field: "slot",
                    why: format!(
                        "{} has slots 1 to {}; slot {i} does not exist",
                        r.key,
                        u.slots.len()
                    ),
                }
                .into())
            }
        },
        (None, Some(w)) if !w.is_empty() => (
            0,
            parse_slot(w).map_err(|why| CoreError::Invalid {
                field: "window",
                why,
            })?,
        ),
        _ => {
            return Err(CoreError::Invalid {
                field: "slot",
                why: "give either the number of one of the request's slots or another window"
                    .into(),
            }
            .into())
        }
    };
    let engineer = schedules::engineer_user(store, s.engineer.trim()).await?;
    let server = server_key_of(store, &u.pair_id).await?;
    let facts = facts(store, &r, &u, Some(&engineer.username), &server).await?;
    for o in &s.overrides {
        if o.reason.trim().is_empty() {
            return Err(CoreError::Invalid {
                field: "overrides",
                why: format!("overriding `{}` needs a reason", o.kind),
            }
            .into());
        }
    }
    let kinds: Vec<ConflictKind> = s.overrides.iter().map(|o| o.kind).collect();
    let found = conflicts(slot.start, slot.end, &facts, &kinds);
    let blocking: Vec<&Conflict> = found.iter().filter(|c| c.blocking).collect();
    if !blocking.is_empty() {
        let list: Vec<String> = blocking
            .iter()
            .map(|c| format!("{} ({})", c.message, c.kind))
            .collect();
        let can: Vec<&str> = blocking
            .iter()
            .filter(|c| c.kind.overridable())
            .map(|c| c.kind.as_str())
            .collect();
        return Err(StoreError::Conflict(format!(
            "{} cannot be booked: {}.{}",
            slot.display(),
            list.join("; "),
            if can.is_empty() {
                " Pick another slot.".to_string()
            } else {
                format!(
                    " Pick another slot, or override ({}) with a reason and your password.",
                    can.join(", ")
                )
            }
        ))
        .into());
    }
    // Only overrides of conflicts that exist are kept (and signed).
    let used: Vec<&Override> = s
        .overrides
        .iter()
        .filter(|o| found.iter().any(|c| c.kind == o.kind))
        .collect();
    let signer = if used.is_empty() {
        None
    } else {
        let password = s.password.as_deref().unwrap_or("");
        if password.is_empty() {
            return Err(CoreError::Invalid {
                field: "password",
                why: "an override is e-signed: enter your password again".into(),
            }
            .into());
        }
        Some(signatures::reauthenticate(store, actor, password).await?)
    };
    let downtime = downtime(store, &r).await?;
    let now = store.now();
    let mut tx = store.write().await?;
    let mut state = r.state;
    if state == RequestState::Scheduled {
        requests::transition_in(
            &mut tx,
            now,
            actor,
            key,
            RequestState::Approved,
            Some("rescheduling"),
        )
        .await?;
        state = RequestState::Approved;
    }
    if state == RequestState::Submitted {
        requests::transition_in(&mut tx, now, actor, key, RequestState::Triaged, None).await?;
        state = RequestState::Triaged;
    }
    if state == RequestState::Triaged {
        requests::transition_in(&mut tx, now, actor, key, RequestState::Approved, None).await?;
    }
    let overrides = json!(used
        .iter()
        .map(|o| json!({ "kind": o.kind, "reason": o.reason.trim() }))
        .collect::<Vec<_>>());
    let sequence = schedules::book_in(
        &mut tx,
        now,
        actor,
        &r,
        &Booking {
            slot_index: index,
            start: slot.start,
            end: slot.end,
            zone: slot.zone.clone(),
            engineer_id: engineer.id.clone(),
            server_key: server,
            overrides: overrides.clone(),
            downtime: serde_json::to_value(&downtime).unwrap_or(Value::Null),
        },
    )
    .await?;
    requests::transition_in(
        &mut tx,
        now,
        actor,
        key,
        RequestState::Scheduled,
        s.comment.as_deref(),
    )
    .await?;
    let r = requests::update_details_in(
        &mut tx,
        now,
        actor,
        key,
        json!({ "confirm_each_environment": s.confirm }),
        "schedule.confirmation",
        None,
    )
    .await?;
    if let Some(signer) = &signer {
        let zone = signatures::zone_of(store, signer).await?;
        let reason = used
            .iter()
            .map(|o| format!("{}: {}", o.kind, o.reason.trim()))
            .collect::<Vec<_>>()
            .join("; ");
        let record = json!({ "request": r.content_sha256(), "slot": [slot.start, slot.end, slot.zone], "engineer": engineer.username, "overrides": overrides, "sequence": sequence });
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            valet_store::audit::canonical_json(&record).as_bytes(),
        ));
        signatures::sign_in(
            &mut tx,
            now,
            signer,
            &zone,
            ToSign {
                object_type: "schedule",
                object_id: &r.key,
                customer_id: Some(&r.customer_id),
                record_sha256: &sha,
                meaning: Meaning::Approved,
                reason: Some(&format!("schedule override: {reason}")),
            },
        )
        .await?;
    }
    tx.commit().await?;
    let booked = schedules::of_request(store, actor, key)
        .await?
        .ok_or_else(|| StoreError::not_found("schedule", key))?;
    queue_reminders(store, &r, &booked).await?;
    crate::upgrade_run::queue_at_slot(store, &r, &booked).await?;
    let customer = customers::get(store, &Actor::system(), &r.customer_id).await?;
    let verb = if sequence == 0 {
        "scheduled"
    } else {
        "rescheduled"
    };
    announce_to(
        store,
        &r,
        &format!("upgrade.{verb}"),
        &format!("{} {verb}: {}", r.key, slot.display()),
        &format!(
            "{} is {verb} for {}\n  = {} (customer's zone)\n  = {}\nEngineer: {}. Expected downtime {}–{} minutes (accepted: {}).{}",
            r.key,
            slot.display(),
            slot.display_in(customer.zone.as_str()),
            slot.display_in("UTC"),
            engineer.display_name,
            downtime.low_minutes,
            downtime.high_minutes,
            u.downtime_minutes,
            if used.is_empty() {
                String::new()
            } else {
                format!(
                    "\nOverrides (e-signed): {}",
                    used.iter().map(|o| format!("{} — {}", o.kind, o.reason.trim())).collect::<Vec<_>>().join("; ")
                )
            }
        ),
        true,
        &engineer.email.clone().into_iter().collect::<Vec<_>>(),
        None,
    )
    .await?;
    Ok(booked)
}

/// Cancels an upgrade request (the customer's admin or a PM), with its booking: the calendar
/// gets a CANCEL with a raised SEQUENCE, pending reminders do nothing.
pub async fn cancel(store: &Store, actor: &Actor, key: &str, reason: &str) -> Result<Request> {
    if reason.trim().is_empty() {
        return Err(CoreError::Invalid {
            field: "reason",
            why: "cancelling needs a reason; say why".into(),
        }
        .into());
    }
    let r = requests::get(store, actor, key).await?;
    details(&r)?;
    let now = store.now();
    let mut tx = store.write().await?;
    let seq = schedules::cancel_in(&mut tx, now, actor, &r, reason).await?;
    let r = requests::transition_in(
        &mut tx,
        now,
        actor,
        key,
        RequestState::Cancelled,
        Some(reason),
    )
    .await?;
    tx.commit().await?;
    let engineer = match schedules::of_request(store, &Actor::system(), key).await? {
        Some(s) => users::get(store, &s.engineer_id)
            .await?
            .email
            .into_iter()
            .collect(),
        None => vec![],
    };
    announce_to(
        store,
        &r,
        "upgrade.cancelled",
        &format!("{} cancelled", r.key),
        &format!(
            "{} was cancelled by {}: {reason}{}",
            r.key,
            actor.username,
            if seq.is_some() {
                "\nThe booked slot is released; calendars receive a cancellation."
            } else {
                ""
            }
        ),
        true,
        &engineer,
        None,
    )
    .await?;
    Ok(r)
}

/// Queues the reminders of a booking that are still ahead (one job per label and SEQUENCE).
pub async fn queue_reminders(store: &Store, r: &Request, s: &Schedule) -> Result<usize> {
    let now = store.now();
    let mut n = 0;
    for (label, at) in schedule::reminders(s.start, s.end) {
        if at < now {
            continue;
        }
        jobs::enqueue(
            store,
            JobKind::UpgradeRemind,
            &json!({ "request": r.key, "sequence": s.sequence, "label": label }),
            EnqueueOptions {
                customer_id: Some(r.customer_id.clone()),
                dedupe_key: Some(format!("upg.remind:{}:{}:{label}", r.id, s.sequence)),
                max_attempts: 8,
                run_at: Some(at),
            },
        )
        .await?;
        n += 1;
    }
    Ok(n)
}

/// Sends one reminder (job `upg.remind`): nothing when the upgrade was rescheduled since
/// (another SEQUENCE) or cancelled; at most once per recipient otherwise.
pub async fn remind(store: &Store, payload: &Value) -> Result<usize> {
    let key = payload["request"].as_str().unwrap_or_default();
    let label = payload["label"].as_str().unwrap_or_default();
    let sequence = payload["sequence"].as_i64().unwrap_or(-1);
    let system = Actor::system();
    let r = requests::get(store, &system, key).await?;
    let Some(s) = schedules::of_request(store, &system, key).await? else {
        return Ok(0);
    };
    if s.state != "scheduled" || s.sequence != sequence {
        return Ok(0);
    }
    let customer = customers::get(store, &system, &r.customer_id).await?;
    let when = display_range(s.start, s.end, &tz(&s.zone), &s.zone);
    let (subject, lead) = match label {
        "start" => (format!("{} starts now", r.key), "starts now".to_string()),
        "end" => (
            format!("{} window ends", r.key),
            "has reached the end of its window".to_string(),
        ),
        l => (
            format!("{} in {}: {when}", r.key, l.trim_start_matches("T-")),
            format!("is due in {}", l.trim_start_matches("T-")),
        ),
    };
    let engineer = users::get(store, &s.engineer_id).await?;
    let ids = announce_to(
        store,
        &r,
        &format!("upgrade.reminder.{label}"),
        &subject,
        &format!(
            "{} ({}) {lead}.\nWindow: {when}\n  = {} (customer's zone)\nEngineer: {}",
            r.key,
            r.title,
            display_range(s.start, s.end, &customer.zone.tz(), customer.zone.as_str()),
            engineer.display_name
        ),
        true,
        &engineer.email.into_iter().collect::<Vec<_>>(),
        Some(&format!("upg.remind:{}:{}:{label}", r.id, s.sequence)),
    )
    .await?;
    Ok(ids.len())
}

fn tz(zone: &str) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC)
}

/// The environments of the pair an upgrade touches (for views): Main and Test with builds.
pub async fn pair_builds(
    store: &Store,
    pair_id: &str,
) -> Result<Vec<(EnvRole, Option<valet_core::Build>)>> {
    let p = environments::pair(store, &Actor::system(), pair_id).await?;
    Ok(vec![
        (p.main.role, p.main.current_build),
        (p.test.role, p.test.current_build),
    ])
}

/// The calendar event of a booked upgrade: UID stable per request, SEQUENCE as booked,
/// cancelled when the booking is.
pub async fn calendar_event(
    store: &Store,
    s: &Schedule,
    base_url: Option<&str>,
) -> Result<crate::documents::calendar::CalEvent> {
    use crate::documents::calendar::{CalEvent, EventStatus};
    let system = Actor::system();
    let r = requests::get(store, &system, &s.request_key).await?;
    let engineer = users::get(store, &s.engineer_id).await?;
    let pm = users::get(store, &s.pm_id).await?;
    let low = s.downtime["low_minutes"].as_u64();
    let high = s.downtime["high_minutes"].as_u64();
    let mut description = format!(
        "{}\nCustomer: {}\nEngineer: {}\nPM: {}",
        r.title, s.customer_name, engineer.display_name, pm.display_name
    );
    if let (Some(l), Some(h)) = (low, high) {
        description.push_str(&format!("\nExpected downtime: {l}–{h} minutes"));
    }
    let url = base_url.map(|b| format!("{}/requests/{}", b.trim_end_matches('/'), r.key));
    if let Some(u) = &url {
        description.push_str(&format!("\n{u}"));
    }
    let person = |u: &users::User| u.email.clone().map(|e| (u.display_name.clone(), e));
    Ok(CalEvent {
        uid: format!("{}@valet", r.id),
        sequence: s.sequence.max(0) as u32,
        start: s.start,
        end: s.end,
        zone: s.zone.clone(),
        summary: format!(
            "{}: {} PROD {}",
            r.key,
            s.customer_name,
            if r.kind == RequestKind::Hotfix {
                "hotfix"
            } else {
                "upgrade"
            }
        ),
        description,
        location: None,
        url,
        status: if s.state == "cancelled" {
            EventStatus::Cancelled
        } else {
            EventStatus::Confirmed
        },
        organizer: person(&pm),
        attendees: person(&engineer).into_iter().collect(),
        stamp: s.updated_at,
    })
}

/// The `.ics` of one upgrade request: PUBLISH while booked, CANCEL once cancelled.
pub async fn calendar_of(
    store: &Store,
    actor: &Actor,
    key: &str,
    base_url: Option<&str>,
) -> Result<String> {
    use crate::documents::calendar::{render_ics, Method};
    let s = schedules::of_request(store, actor, key)
        .await?
        .ok_or_else(|| {
            StoreError::Conflict(format!(
                "{key} is not scheduled yet, so it has no calendar entry"
            ))
        })?;
    let ev = calendar_event(store, &s, base_url).await?;
    let method = if s.state == "cancelled" {
        Method::Cancel
    } else {
        Method::Publish
    };
    Ok(render_ics(method, &format!("valet {key}"), &[ev]))
}

/// A user's calendar feed: every upgrade they may see from 30 days ago on (a customer's
/// feed holds only its own tenant's), cancelled ones marked so.
pub async fn feed(store: &Store, user: &users::User, base_url: Option<&str>) -> Result<String> {
    use crate::documents::calendar::{render_ics, Method};
    let actor = user.actor();
    let now = store.now();
    let from = now
        .checked_sub(jiff::SignedDuration::from_hours(24 * 30))
        .unwrap_or(now);
    let to = now
        .checked_add(jiff::SignedDuration::from_hours(24 * 800))
        .unwrap_or(now);
    let mut events = Vec::new();
    for s in schedules::list(store, &actor, from, to).await? {
        events.push(calendar_event(store, &s, base_url).await?);
    }
    Ok(render_ics(
        Method::Publish,
        &format!("valet upgrades ({})", user.username),
        &events,
    ))
}

/// The heatmap of a histogram with the slots of `a` (an assessment) drawn on it.
pub fn heatmap_of(
    h: &Histogram,
    a: Option<&Assessment>,
) -> (
    crate::documents::heatmap::Heatmap,
    Vec<crate::documents::heatmap::SlotMark>,
) {
    use crate::documents::heatmap::{Heatmap, SlotKind, SlotMark};
    let map = Heatmap {
        zone: h.zone.clone(),
        weeks: h.weeks,
        cells: h.cells,
    };
    let mut marks = Vec::new();
    if let Some(a) = a {
        let chosen = a
            .schedule
            .as_ref()
            .filter(|s| s.state == "scheduled")
            .map(|s| (s.start, s.end));
        for c in &a.slots {
            let (weekday, start_minute, minutes) = h.place(c.slot.start, c.slot.end);
            let is_chosen = chosen == Some((c.slot.start, c.slot.end));
            marks.push(SlotMark {
                label: format!(
                    "slot {}{}{}",
                    c.index,
                    if c.slot.preferred { " (preferred)" } else { "" },
                    if is_chosen { " — booked" } else { "" }
                ),
                weekday,
                start_minute,
                minutes,
                kind: if is_chosen {
                    SlotKind::Chosen
                } else if c.slot.preferred {
                    SlotKind::Preferred
                } else {
                    SlotKind::Proposed
                },
                score: c.score,
            });
        }
        for (i, w) in a.alternatives.iter().enumerate() {
            let (weekday, start_minute, minutes) = h.place(w.start, w.end);
            marks.push(SlotMark {
                label: format!("alternative {}", i + 1),
                weekday,
                start_minute,
                minutes,
                kind: SlotKind::Suggested,
                score: Some(w.score),
            });
        }
    }
    (map, marks)
}
