//! PROD upgrades: filing, the PM's assessment and booking, the quiet-time heatmap, calendars
//! (per request and per-user feeds), engineers' availability, blackouts and freezes. Each
//! handler passes the caller's actor down, so another tenant's data is a 404.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use valet_core::schedule::Notice;
use valet_core::schedule::{ExceptionKind, WorkingHours};
use valet_core::slot::parse_slot;
use valet_core::slot::Slot;
use valet_core::upgrade::UpgradeRequestInput;
use valet_core::FieldError;
use valet_ops::documents::heatmap;
use valet_ops::upgrade::{self, Assessment, SetSchedule};
use valet_store::requests::{self, Request};
use valet_store::schedules::{self, Blackout, Exception, Schedule};
use valet_store::users;

use super::{ApiJson, ApiPath, ApiQuery, ErrorBody, JsonOrEmpty};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

/// Files an upgrade request: 201, a 400 naming every wrong field, or 409 for a duplicate.
#[utoipa::path(post, path = "/requests/upgrade", tag = "schedule", request_body = UpgradeRequestInput,
    responses((status = 201, body = Request),
        (status = 400, body = ErrorBody, description = "Wrong fields (a slot in an unknown zone, too little notice, …), each named"),
        (status = 403, body = ErrorBody, description = "The role may not file upgrade requests"),
        (status = 404, body = ErrorBody, description = "No such pair, or another tenant's"),
        (status = 409, body = ErrorBody, description = "The same upgrade is requested already")))]
pub async fn create(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiJson(input): ApiJson<UpgradeRequestInput>,
) -> Result<(StatusCode, Json<Request>), ApiError> {
    let r = upgrade::file(&st.store, &actor, input).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotCheckQuery {
    /// The slot as typed: `2026-12-12 22:00-02:00 Europe/Berlin`.
    slot: Option<String>,
    /// The viewer's zone to show the slot in as well.
    view: Option<String>,
    /// Days of notice to check against (default: the caller's customer's).
    notice_days: Option<u32>,
}

/// Reads one slot as the request form types it: the instant, DST and abbreviation warnings,
/// the notice it gives from now. For the form's live feedback; changes nothing.
#[utoipa::path(get, path = "/slots/check", tag = "schedule", params(SlotCheckQuery),
    responses((status = 200, body = SlotReading)))]
pub async fn check_slot(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiQuery(q): ApiQuery<SlotCheckQuery>,
) -> Result<Json<SlotReading>, ApiError> {
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
            Ok(Json(SlotReading::Read {
                ok: true,
                display: s.display(),
                display_utc: s.display_in("UTC"),
                display_view: view.as_deref().map(|v| s.display_in(v)),
                notice_text: notice.describe(),
                past: s.start <= st.store.now(),
                notice,
                slot: Box::new(s),
            }))
        }
        Err(error) => Ok(Json(SlotReading::Unread { ok: false, error })),
    }
}

/// A slot as the reader understood it, or why it could not.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SlotReading {
    Read {
        /// `true`.
        ok: bool,
        slot: Box<Slot>,
        /// The slot in its own zone.
        display: String,
        display_utc: String,
        /// The slot in the `view` zone, when one was asked for.
        display_view: Option<String>,
        notice: Notice,
        notice_text: String,
        /// The slot starts before now.
        past: bool,
    },
    Unread {
        /// `false`.
        ok: bool,
        /// What is wrong with the text and how to write it.
        error: String,
    },
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

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssessQuery {
    /// The engineer whose availability counts (default: any).
    engineer: Option<String>,
    /// Also suggest alternative slots.
    #[serde(default)]
    alternatives: Option<bool>,
}

/// The PM's view of an upgrade request: every slot with notice, conflicts and quiet-time
/// score, the suggestion, alternatives (`?alternatives=true`), expected downtime, booking.
#[utoipa::path(get, path = "/requests/{key}/schedule", tag = "schedule", params(("key" = String, Path, description = "The upgrade or hotfix request's key, e.g. `UPG-3`"), AssessQuery),
    responses((status = 200, body = Assessment), (status = 404, body = ErrorBody, description = "No such upgrade request, or another tenant's")))]
pub async fn assess(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    ApiQuery(q): ApiQuery<AssessQuery>,
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
#[utoipa::path(post, path = "/requests/{key}/schedule", tag = "schedule", params(("key" = String, Path, description = "The upgrade or hotfix request's key, e.g. `UPG-3`")),
    request_body = SetSchedule,
    responses((status = 200, body = Schedule),
        (status = 400, body = ErrorBody, description = "Wrong fields, each named"),
        (status = 403, body = ErrorBody, description = "A wrong password on an override, or not a PM"),
        (status = 404, body = ErrorBody, description = "No such upgrade request, or another tenant's"),
        (status = 409, body = ErrorBody, description = "Blocking conflicts, each listed")))]
pub async fn set(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
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
#[utoipa::path(get, path = "/requests/{key}/calendar", tag = "schedule", params(("key" = String, Path, description = "The upgrade or hotfix request's key, e.g. `UPG-3`")),
    responses((status = 200, description = "An iCalendar file", content(("text/calendar; charset=utf-8"))),
        (status = 409, body = ErrorBody, description = "Not booked yet: no calendar entry"),
        (status = 404, body = ErrorBody, description = "No such upgrade request, or another tenant's")))]
pub async fn calendar(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<Response, ApiError> {
    upgrade_request(&st, &actor, &key).await?;
    let body = upgrade::calendar_of(&st.store, &actor, &key, st.base_url.as_deref()).await?;
    Ok(ics(body, &key))
}

/// Creates a calendar feed for the caller: its URL, shown once.
#[utoipa::path(post, path = "/calendar/feeds", tag = "schedule",
    responses((status = 201, body = FeedCreated)))]
pub async fn create_feed(
    State(st): State<AppState>,
    Authed(actor): Authed,
) -> Result<(StatusCode, Json<FeedCreated>), ApiError> {
    let secret = schedules::create_feed(&st.store, &actor).await?;
    let path = format!("/api/v1/calendar/feed/{secret}.ics");
    let url = st
        .base_url
        .as_deref()
        .map(|b| format!("{}{path}", b.trim_end_matches('/')))
        .unwrap_or_else(|| path.clone());
    Ok((
        StatusCode::CREATED,
        Json(FeedCreated {
            url,
            path,
            note: "keep this URL secret; revoke it with DELETE /api/v1/calendar/feeds",
        }),
    ))
}

/// A new calendar feed: its URL is shown only now.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedCreated {
    /// The feed's URL, for a calendar app (absolute when the server knows its address).
    pub url: String,
    pub path: String,
    pub note: &'static str,
}

/// How many feeds were revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedsRevoked {
    pub revoked: u64,
}

/// Revokes every calendar feed of the caller.
#[utoipa::path(delete, path = "/calendar/feeds", tag = "schedule",
    responses((status = 200, body = FeedsRevoked)))]
pub async fn revoke_feeds(
    State(st): State<AppState>,
    Authed(actor): Authed,
) -> Result<Json<FeedsRevoked>, ApiError> {
    let revoked = schedules::revoke_feeds(&st.store, &actor).await?;
    Ok(Json(FeedsRevoked { revoked }))
}

/// A calendar feed, authenticated by the secret in its URL (calendar apps send no
/// credentials); unknown or revoked is 404.
#[utoipa::path(get, path = "/calendar/feed/{file}", tag = "schedule", security(()),
    params(("file" = String, Path, description = "`<secret>.ics`, as `POST /calendar/feeds` gave it")),
    responses((status = 200, description = "The caller's booked upgrades as iCalendar",
            content(("text/calendar; charset=utf-8"))),
        (status = 404, body = ErrorBody, description = "No such feed, or revoked")))]
pub async fn feed(
    State(st): State<AppState>,
    ApiPath(file): ApiPath<String>,
) -> Result<Response, ApiError> {
    let secret = file.strip_suffix(".ics").unwrap_or(&file);
    let user = schedules::feed_user(&st.store, secret)
        .await
        .map_err(|_| ApiError::NotFound("no such calendar feed".into()))?;
    let body = upgrade::feed(&st.store, &user, st.base_url.as_deref()).await?;
    Ok(ics(body, "valet-upgrades"))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuietQuery {
    /// The PROD pair (its id).
    pair: Option<String>,
    /// An upgrade request whose slots are drawn (its pair is used when `pair` is absent).
    request: Option<String>,
    /// Weeks of activity to count (default 8).
    weeks: Option<u32>,
    /// `json` (the default), `csv` or `svg`.
    format: Option<String>,
    /// Also draw the alternative slots.
    #[serde(default)]
    alternatives: Option<bool>,
    /// The engineer whose availability the alternatives respect (as on the PM's page).
    engineer: Option<String>,
}

/// The quiet-time heatmap of a PROD pair (weekday × hour, customer's zone) as JSON, CSV or
/// SVG, with an upgrade request's slots drawn on it.
#[utoipa::path(get, path = "/quiet", tag = "schedule", params(QuietQuery),
    responses((status = 200, description = "The heatmap",
            content((serde_json::Value = "application/json"), ("text/csv; charset=utf-8"), ("image/svg+xml"))),
        (status = 400, body = ErrorBody, description = "No pair or request given, an unknown format, or no app profile on this server"),
        (status = 404, body = ErrorBody, description = "No such pair or request, or another tenant's")))]
pub async fn quiet(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiQuery(q): ApiQuery<QuietQuery>,
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

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// `YYYY-MM-DD` or an instant (default: now).
    from: Option<String>,
    /// `YYYY-MM-DD` or an instant (default: 8 weeks after `from`).
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
#[utoipa::path(get, path = "/schedules", tag = "schedule", params(RangeQuery),
    responses((status = 200, body = Vec<Schedule>),
        (status = 400, body = ErrorBody, description = "`from` or `to` is not a date")))]
pub async fn list(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiQuery(q): ApiQuery<RangeQuery>,
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
#[utoipa::path(get, path = "/engineers", tag = "schedule",
    responses((status = 200, body = Vec<EngineerView>),
        (status = 404, body = ErrorBody, description = "Customers have no such endpoint")))]
pub async fn engineers(
    State(st): State<AppState>,
    Authed(actor): Authed,
) -> Result<Json<Vec<EngineerView>>, ApiError> {
    vendor_only(&actor)?;
    let mut out = Vec::new();
    for u in schedules::engineers(&st.store).await? {
        let (hours, recorded) = schedules::hours(&st.store, &u.id).await?;
        out.push(EngineerView {
            hours: hours.describe(),
            zone: hours.zone,
            hours_recorded: recorded,
            exceptions: schedules::exceptions(&st.store, &u.id).await?,
            username: u.username,
            display_name: u.display_name,
        });
    }
    Ok(Json(out))
}

/// An engineer with their weekly hours and exceptions.
#[derive(Debug, Serialize, ToSchema)]
pub struct EngineerView {
    pub username: String,
    pub display_name: String,
    /// The zone their hours are in.
    pub zone: String,
    /// e.g. `Mon-Fri 08:00-18:00`.
    pub hours: String,
    /// `false`: no hours recorded, the default is assumed.
    pub hours_recorded: bool,
    pub exceptions: Vec<Exception>,
}

/// An engineer's hours as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoursSet {
    pub username: String,
    pub zone: String,
    pub hours: String,
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

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"zone": "Europe/Berlin", "hours": "Mon-Fri 08:00-18:00; Sat 09:00-12:00"}))]
pub struct HoursBody {
    /// The IANA zone the hours are in.
    zone: String,
    /// e.g. `Mon-Fri 08:00-18:00; Sat 09:00-12:00`
    hours: String,
}

/// Records an engineer's weekly hours (the engineer, or a PM).
#[utoipa::path(put, path = "/engineers/{name}/hours", tag = "schedule",
    params(("name" = String, Path, description = "The engineer's username")),
    request_body = HoursBody,
    responses((status = 200, body = HoursSet),
        (status = 400, body = ErrorBody, description = "The hours or the zone cannot be read"),
        (status = 403, body = ErrorBody, description = "Neither the engineer nor a PM"),
        (status = 404, body = ErrorBody, description = "No such engineer (customers: no such endpoint)")))]
pub async fn set_hours(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<HoursBody>,
) -> Result<Json<HoursSet>, ApiError> {
    vendor_only(&actor)?;
    let user = engineer_named(&st, &name).await?;
    let hours = WorkingHours::parse(body.zone.trim(), &body.hours)
        .map_err(|e| ApiError::Fields(vec![FieldError::new("hours", e)]))?;
    schedules::set_hours(&st.store, &actor, &user, &hours).await?;
    Ok(Json(HoursSet {
        hours: hours.describe(),
        username: user.username,
        zone: hours.zone,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"kind": "leave", "start": "2027-01-04", "end": "2027-01-08", "note": "Holiday"}))]
pub struct ExceptionBody {
    /// `leave` or `on_call`.
    kind: String,
    /// `YYYY-MM-DD` or an instant.
    start: String,
    /// `YYYY-MM-DD` or an instant.
    end: String,
    #[serde(default)]
    note: String,
}

/// Adds leave or on-call time for an engineer.
#[utoipa::path(post, path = "/engineers/{name}/exceptions", tag = "schedule",
    params(("name" = String, Path, description = "The engineer's username")),
    request_body = ExceptionBody,
    responses((status = 201, body = Exception),
        (status = 400, body = ErrorBody, description = "Wrong fields, each named"),
        (status = 403, body = ErrorBody, description = "Neither the engineer nor a PM"),
        (status = 404, body = ErrorBody, description = "No such engineer (customers: no such endpoint)")))]
pub async fn add_exception(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(name): ApiPath<String>,
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

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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
#[utoipa::path(get, path = "/blackouts", tag = "schedule", params(BlackoutQuery),
    responses((status = 200, body = Vec<Blackout>),
        (status = 404, body = ErrorBody, description = "No such customer, or another tenant")))]
pub async fn blackouts(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiQuery(q): ApiQuery<BlackoutQuery>,
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

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"customer": "Acme Clinical Research", "start": "2026-12-21", "end": "2027-01-04", "reason": "Year-end database lock"}))]
pub struct BlackoutBody {
    /// The customer (id or name); absent for a vendor freeze. A customer's own admin may
    /// leave it out: their tenant is used.
    customer: Option<String>,
    #[serde(default)]
    freeze: bool,
    /// `YYYY-MM-DD` or an instant.
    start: String,
    /// `YYYY-MM-DD` or an instant.
    end: String,
    reason: String,
}

/// Adds a customer's blackout period or (vendor PM, `freeze: true`) a vendor freeze.
#[utoipa::path(post, path = "/blackouts", tag = "schedule", request_body = BlackoutBody,
    responses((status = 201, body = Blackout),
        (status = 400, body = ErrorBody, description = "Wrong fields, each named"),
        (status = 403, body = ErrorBody, description = "The role may not add it (a freeze: PMs only)"),
        (status = 404, body = ErrorBody, description = "No such customer, or another tenant")))]
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
#[utoipa::path(delete, path = "/blackouts/{id}", tag = "schedule",
    params(("id" = String, Path, description = "The blackout's id")),
    responses((status = 204, description = "Removed"),
        (status = 403, body = ErrorBody, description = "The role may not remove it"),
        (status = 404, body = ErrorBody, description = "No such blackout, or another tenant's")))]
pub async fn remove_blackout(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(id): ApiPath<String>,
    JsonOrEmpty(_body): JsonOrEmpty<Value>,
) -> Result<StatusCode, ApiError> {
    schedules::remove_blackout(&st.store, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
