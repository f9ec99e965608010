//! PROD upgrades: filing, the PM's assessment and booking, the quiet-time heatmap, calendars
//! (per request and per-user feeds), engineers' availability, blackouts and freezes. Each
//! handler passes the caller's actor down, so another tenant's data is a 404.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use valet_core::schedule::{ExceptionKind, WorkingHours};
use valet_core::slot::parse_slot;
use valet_core::upgrade::UpgradeRequestInput;
use valet_core::FieldError;
use valet_ops::documents::heatmap;
use valet_ops::upgrade::{self, Assessment, SetSchedule};
use valet_store::requests::{self, Request};
use valet_store::schedules::{self, Blackout, Exception, Schedule};
use valet_store::users;

use super::{ApiJson, JsonOrEmpty};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

/// Files an upgrade request: 201, a 400 naming every wrong field, or 409 for a duplicate.
pub async fn create(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiJson(input): ApiJson<UpgradeRequestInput>,
) -> Result<(StatusCode, Json<Request>), ApiError> {
    let r = upgrade::file(&st.store, &actor, input).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[derive(Debug, Default, Deserialize)]
pub struct SlotCheckQuery {
    slot: Option<String>,
    /// The viewer's zone to show the slot in as well.
    view: Option<String>,
    /// Days of notice to check against (default: the caller's customer's).
    notice_days: Option<u32>,
}

/// Reads one slot as the request form types it: the instant, DST and abbreviation warnings,
/// the notice it gives from now. For the form's live feedback; changes nothing.
pub async fn check_slot(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Query(q): Query<SlotCheckQuery>,
) -> Result<Json<Value>, ApiError> {
    let text = q.slot.unwrap_or_default();
    let notice_days = match (q.notice_days, &actor.customer_id) {
        (Some(d), _) => d,
        (None, Some(c)) => schedules::notice_days(&st.store, c).await?,
        (None, None) => valet_core::schedule::DEFAULT_NOTICE_DAYS,
    };
    match parse_slot(&text) {
        Ok(s) => {
            let notice = valet_core::schedule::Notice::of(st.store.now(), s.start, notice_days);
            let view = q.view.filter(|v| !v.trim().is_empty());
            Ok(Json(json!({
                "ok": true,
                "slot": s,
                "display": s.display(),
                "display_utc": s.display_in("UTC"),
                "display_view": view.as_deref().map(|v| s.display_in(v)),
                "notice": notice,
                "notice_text": notice.describe(),
                "past": s.start <= st.store.now(),
            })))
        }
        Err(e) => Ok(Json(json!({ "ok": false, "error": e }))),
    }
}

async fn upgrade_request(
    st: &AppState,
    actor: &valet_core::Actor,
    key: &str,
) -> Result<Request, ApiError> {
    let r = requests::get(&st.store, actor, key).await?;
    if !r.kind.is_prod_upgrade() {
        return Err(ApiError::NotFound(format!(
            "{key} is not an upgrade or hotfix request"
        )));
    }
    Ok(r)
}

#[derive(Debug, Default, Deserialize)]
pub struct AssessQuery {
    engineer: Option<String>,
    #[serde(default)]
    alternatives: Option<bool>,
}

/// The PM's view of an upgrade request: every slot with notice, conflicts and quiet-time
/// score, the suggestion, alternatives (`?alternatives=true`), expected downtime, booking.
pub async fn assess(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
    Query(q): Query<AssessQuery>,
) -> Result<Json<Assessment>, ApiError> {
    upgrade_request(&st, &actor, &key).await?;
    let engineer = q
        .engineer
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    Ok(Json(
        upgrade::assess(
            &st.store,
            &actor,
            st.profile.as_deref(),
            &key,
            engineer,
            q.alternatives.unwrap_or(false),
        )
        .await?,
    ))
}

/// Books (or reschedules) a slot: 200 with the booking, 409 listing blocking conflicts, 403
/// for a wrong password on an override.
pub async fn set(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<SetSchedule>,
) -> Result<Json<Schedule>, ApiError> {
    upgrade_request(&st, &actor, &key).await?;
    upgrade::set(&st.store, &actor, &key, body)
        .await
        .map(Json)
        .map_err(super::requests::signing)
}

fn ics(body: String, name: &str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "text/calendar; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.ics\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// The request's calendar entry (`METHOD:CANCEL` once cancelled).
pub async fn calendar(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    upgrade_request(&st, &actor, &key).await?;
    let body = upgrade::calendar_of(&st.store, &actor, &key, st.base_url.as_deref()).await?;
    Ok(ics(body, &key))
}

/// Creates a calendar feed for the caller: its URL, shown once.
pub async fn create_feed(
    State(st): State<AppState>,
    Authed(actor): Authed,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let secret = schedules::create_feed(&st.store, &actor).await?;
    let path = format!("/api/v1/calendar/feed/{secret}.ics");
    let url = st
        .base_url
        .as_deref()
        .map(|b| format!("{}{path}", b.trim_end_matches('/')))
        .unwrap_or_else(|| path.clone());
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "url": url, "path": path, "note": "keep this URL secret; revoke it with DELETE /api/v1/calendar/feeds" }),
        ),
    ))
}

/// Revokes every calendar feed of the caller.
pub async fn revoke_feeds(
    State(st): State<AppState>,
    Authed(actor): Authed,
) -> Result<Json<Value>, ApiError> {
    let n = schedules::revoke_feeds(&st.store, &actor).await?;
    Ok(Json(json!({ "revoked": n })))
}

/// A calendar feed, authenticated by the secret in its URL (calendar apps send no
/// credentials); unknown or revoked is 404.
pub async fn feed(
    State(st): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let secret = file.strip_suffix(".ics").unwrap_or(&file);
    let user = schedules::feed_user(&st.store, secret)
        .await
        .map_err(|_| ApiError::NotFound("no such calendar feed".into()))?;
    let body = upgrade::feed(&st.store, &user, st.base_url.as_deref()).await?;
    Ok(ics(body, "valet-upgrades"))
}

#[derive(Debug, Default, Deserialize)]
pub struct QuietQuery {
    pair: Option<String>,
    /// An upgrade request whose slots are drawn (its pair is used when `pair` is absent).
    request: Option<String>,
    weeks: Option<u32>,
    format: Option<String>,
    #[serde(default)]
    alternatives: Option<bool>,
    /// The engineer whose availability the alternatives respect (as on the PM's page).
    engineer: Option<String>,
}

/// The quiet-time heatmap of a PROD pair (weekday × hour, customer's zone) as JSON, CSV or
/// SVG, with an upgrade request's slots drawn on it.
pub async fn quiet(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Query(q): Query<QuietQuery>,
) -> Result<Response, ApiError> {
    let profile = st
        .profile
        .clone()
        .ok_or_else(|| ApiError::BadRequest("this server has no app profile configured".into()))?;
    let assessment = match q.request.as_deref().filter(|r| !r.trim().is_empty()) {
        Some(key) => {
            upgrade_request(&st, &actor, key).await?;
            Some(
                upgrade::assess(
                    &st.store,
                    &actor,
                    Some(&profile),
                    key,
                    q.engineer
                        .as_deref()
                        .map(str::trim)
                        .filter(|e| !e.is_empty()),
                    q.alternatives.unwrap_or(false),
                )
                .await?,
            )
        }
        None => None,
    };
    let pair = match (&q.pair, &assessment) {
        (Some(p), _) if !p.trim().is_empty() => p.clone(),
        (_, Some(a)) => {
            let r = requests::get(&st.store, &actor, &a.request).await?;
            r.details["pair_id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
        _ => {
            return Err(ApiError::Fields(vec![FieldError::new(
                "pair",
                "give the PROD pair (`pair=`) or an upgrade request (`request=`)",
            )]))
        }
    };
    let weeks = q.weeks.unwrap_or(8);
    let h = upgrade::histogram(&st.store, &actor, &profile, &pair, weeks).await?;
    let (map, marks) = upgrade::heatmap_of(&h, assessment.as_ref());
    let format = q.format.as_deref().unwrap_or("json");
    Ok(match format {
        "json" => Json(heatmap::render_json(&map, &marks)).into_response(),
        "csv" => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            heatmap::render_csv(&map),
        )
            .into_response(),
        "svg" => (
            [(header::CONTENT_TYPE, "image/svg+xml")],
            heatmap::render_svg(
                &map,
                &marks,
                &format!(
                    "Data-collection activity, last {weeks} weeks ({})",
                    assessment
                        .as_ref()
                        .map(|a| a.request.clone())
                        .unwrap_or_else(|| pair.clone())
                ),
            ),
        )
            .into_response(),
        other => {
            return Err(ApiError::Fields(vec![FieldError::new(
                "format",
                format!("`{other}`: use json, csv or svg"),
            )]))
        }
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
}

fn instant(
    field: &str,
    v: &Option<String>,
    default: jiff::Timestamp,
) -> Result<jiff::Timestamp, FieldError> {
    match v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(t) => t
            .parse::<jiff::Timestamp>()
            .or_else(|_| {
                t.parse::<jiff::civil::Date>()
                    .map_err(|e| e.to_string())
                    .and_then(|d| {
                        d.to_zoned(jiff::tz::TimeZone::UTC)
                            .map(|z| z.timestamp())
                            .map_err(|e| e.to_string())
                    })
            })
            .map_err(|_| {
                FieldError::new(
                    field,
                    format!("`{t}` is not a date (YYYY-MM-DD) or an instant (…Z)"),
                )
            }),
    }
}

/// Booked upgrades overlapping `[from, to)` (default: the next 8 weeks) the caller may see.
pub async fn list(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Vec<Schedule>>, ApiError> {
    let now = st.store.now();
    let from = instant("from", &q.from, now).map_err(|e| ApiError::Fields(vec![e]))?;
    let to = instant(
        "to",
        &q.to,
        from.checked_add(jiff::SignedDuration::from_hours(24 * 56))
            .unwrap_or(from),
    )
    .map_err(|e| ApiError::Fields(vec![e]))?;
    Ok(Json(schedules::list(&st.store, &actor, from, to).await?))
}

/// Vendor engineers with their hours and exceptions (vendor roles only).
pub async fn engineers(
    State(st): State<AppState>,
    Authed(actor): Authed,
) -> Result<Json<Vec<Value>>, ApiError> {
    vendor_only(&actor)?;
    let mut out = Vec::new();
    for u in schedules::engineers(&st.store).await? {
        let (hours, recorded) = schedules::hours(&st.store, &u.id).await?;
        out.push(json!({
            "username": u.username,
            "display_name": u.display_name,
            "zone": hours.zone,
            "hours": hours.describe(),
            "hours_recorded": recorded,
            "exceptions": schedules::exceptions(&st.store, &u.id).await?,
        }));
    }
    Ok(Json(out))
}

fn vendor_only(actor: &valet_core::Actor) -> Result<(), ApiError> {
    if actor.role.is_customer() {
        return Err(ApiError::NotFound("no such endpoint for customers".into()));
    }
    Ok(())
}

async fn engineer_named(st: &AppState, name: &str) -> Result<users::User, ApiError> {
    Ok(schedules::engineer_user(&st.store, name).await?)
}

#[derive(Debug, Deserialize)]
pub struct HoursBody {
    zone: String,
    /// e.g. `Mon-Fri 08:00-18:00; Sat 09:00-12:00`
    hours: String,
}

/// Records an engineer's weekly hours (the engineer, or a PM).
pub async fn set_hours(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<HoursBody>,
) -> Result<Json<Value>, ApiError> {
    vendor_only(&actor)?;
    let user = engineer_named(&st, &name).await?;
    let hours = WorkingHours::parse(body.zone.trim(), &body.hours)
        .map_err(|e| ApiError::Fields(vec![FieldError::new("hours", e)]))?;
    schedules::set_hours(&st.store, &actor, &user, &hours).await?;
    Ok(Json(
        json!({ "username": user.username, "zone": hours.zone, "hours": hours.describe() }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ExceptionBody {
    kind: String,
    start: String,
    end: String,
    #[serde(default)]
    note: String,
}

/// Adds leave or on-call time for an engineer.
pub async fn add_exception(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<ExceptionBody>,
) -> Result<(StatusCode, Json<Exception>), ApiError> {
    vendor_only(&actor)?;
    let user = engineer_named(&st, &name).await?;
    let mut errs = Vec::new();
    let kind = body
        .kind
        .parse::<ExceptionKind>()
        .map_err(|e| errs.push(FieldError::new("kind", e.to_string())))
        .ok();
    let now = st.store.now();
    let start = instant("start", &Some(body.start.clone()), now)
        .map_err(|e| errs.push(e))
        .ok();
    let end = instant("end", &Some(body.end.clone()), now)
        .map_err(|e| errs.push(e))
        .ok();
    let (Some(kind), Some(start), Some(end)) = (kind, start, end) else {
        return Err(ApiError::Fields(errs));
    };
    let e = schedules::add_exception(&st.store, &actor, &user, kind, start, end, body.note.trim())
        .await?;
    Ok((StatusCode::CREATED, Json(e)))
}

#[derive(Debug, Default, Deserialize)]
pub struct BlackoutQuery {
    /// The customer (id or name), as `POST /blackouts` takes it.
    customer: Option<String>,
}

/// The id of the customer named or identified by `c` (another tenant's is not found).
async fn customer_id(
    st: &AppState,
    actor: &valet_core::Actor,
    c: &str,
) -> Result<String, ApiError> {
    Ok(
        match valet_store::customers::find_by_name(&st.store, actor, c).await? {
            Some(found) => found.id,
            None => valet_store::customers::get(&st.store, actor, c).await?.id,
        },
    )
}

/// Blackouts and freezes the caller may see.
pub async fn blackouts(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Query(q): Query<BlackoutQuery>,
) -> Result<Json<Vec<Blackout>>, ApiError> {
    let customer = match q
        .customer
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(c) => Some(customer_id(&st, &actor, c).await?),
        None => None,
    };
    Ok(Json(
        schedules::blackouts(&st.store, &actor, customer.as_deref()).await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct BlackoutBody {
    /// The customer (id or name); absent for a vendor freeze. A customer's own admin may
    /// leave it out: their tenant is used.
    customer: Option<String>,
    #[serde(default)]
    freeze: bool,
    start: String,
    end: String,
    reason: String,
}

/// Adds a customer's blackout period or (vendor PM, `freeze: true`) a vendor freeze.
pub async fn add_blackout(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiJson(body): ApiJson<BlackoutBody>,
) -> Result<(StatusCode, Json<Blackout>), ApiError> {
    let now = st.store.now();
    let mut errs = Vec::new();
    let start = instant("start", &Some(body.start.clone()), now)
        .map_err(|e| errs.push(e))
        .ok();
    let end = instant("end", &Some(body.end.clone()), now)
        .map_err(|e| errs.push(e))
        .ok();
    let (Some(start), Some(end)) = (start, end) else {
        return Err(ApiError::Fields(errs));
    };
    let customer = if body.freeze {
        None
    } else {
        match body
            .customer
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            Some(c) => Some(customer_id(&st, &actor, c).await?),
            None => match &actor.customer_id {
                Some(c) => Some(c.clone()),
                None => {
                    return Err(ApiError::Fields(vec![FieldError::new(
                        "customer",
                        "name the customer, or set `freeze: true` for a vendor-wide freeze",
                    )]))
                }
            },
        }
    };
    let b = schedules::add_blackout(
        &st.store,
        &actor,
        customer.as_deref(),
        start,
        end,
        &body.reason,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(b)))
}

/// Removes a blackout or freeze.
pub async fn remove_blackout(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(id): Path<String>,
    JsonOrEmpty(_body): JsonOrEmpty<Value>,
) -> Result<StatusCode, ApiError> {
    schedules::remove_blackout(&st.store, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
