//! PROD upgrades in the UI: the upgrade request form (slot rows with a zone each, checked live
//! by `GET /api/v1/slots/check` and again by the server), the upgrade part of the request page,
//! the PM's scheduling page (assessment, quiet-time heatmap, a week calendar of the engineer's
//! hours and bookings, the booking form with e-signed overrides) and the schedule overview.
//!
//! Actions go through `valet_ops::upgrade`; every time is shown with its zone: the viewer's
//! (their own, else their customer's) beside the slot's own.

use std::collections::{BTreeMap, HashSet};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};
use valet_core::schedule::{Conflict, Notice, Period, DEFAULT_NOTICE_DAYS};
use valet_core::signature::Meaning;
use valet_core::slot::{display_range, offset_text, parse_slot, Slot, SlotWarning};
use valet_core::upgrade::UpgradeRequestInput;
use valet_core::{Actor, EnvRole, FieldError, Permission, RequestState, Tier};
use valet_ops::upgrade::{self, Assessment, Override, SetSchedule};
use valet_store::requests::Request;
use valet_store::schedules::{self, Schedule};
use valet_store::{customers, environments, releases, signatures};

use super::{base, render, urlencode, UiError, UiUser};
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/requests/new-upgrade", get(new_form).post(file))
        .route("/requests/{key}/schedule", get(schedule_page).post(book))
        .route("/schedule", get(overview))
}

/// Zones offered by the slot picker's zone field (any IANA zone may be typed).
const COMMON_ZONES: &[&str] = &[
    "UTC",
    "America/Chicago",
    "America/New_York",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/Toronto",
    "Europe/London",
    "Europe/Lisbon",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Zurich",
    "Europe/Helsinki",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
];

/// The zone times are shown in to this user: their own, else their customer's, else UTC.
pub(super) async fn viewer_zone(st: &AppState, u: &UiUser) -> String {
    signatures::zone_of(&st.store, &u.user)
        .await
        .unwrap_or_else(|_| "UTC".into())
}

fn tz_of(zone: &str) -> TimeZone {
    TimeZone::get(zone).unwrap_or(TimeZone::UTC)
}

/// `Mon 2027-01-11 09:00 Europe/Berlin (UTC+01:00)`.
fn instant_in(t: Timestamp, zone: &str) -> String {
    let z = t.to_zoned(tz_of(zone));
    format!(
        "{} {zone} ({})",
        z.strftime("%a %Y-%m-%d %H:%M"),
        offset_text(z.offset())
    )
}

fn warning_ctx(w: &SlotWarning, view: &str) -> Value {
    context! {
        code => w.code, message => w.message,
        instants => w.instants.iter().map(|t| format!("{} = {}", instant_in(*t, view), t.strftime("%Y-%m-%d %H:%M UTC"))).collect::<Vec<_>>(),
    }
}

// ---------------------------------------------------------------------------------------
// The upgrade request form

/// One row of the slot picker as typed.
#[derive(Debug, Default, Clone, Serialize)]
pub(super) struct SlotRow {
    pub(super) date: String,
    pub(super) start: String,
    pub(super) end: String,
    pub(super) zone: String,
}

impl SlotRow {
    pub(super) fn is_blank(&self) -> bool {
        [&self.date, &self.start, &self.end]
            .iter()
            .all(|s| s.trim().is_empty())
    }

    /// The slot as the reader takes it: `2027-01-11 09:00-10:00 America/Chicago`.
    pub(super) fn text(&self) -> String {
        format!(
            "{} {}-{} {}",
            self.date.trim(),
            self.start.trim(),
            self.end.trim(),
            self.zone.trim()
        )
        .trim()
        .to_string()
    }
}

/// What the form sent back, kept to show it again beside the errors.
#[derive(Debug, Default, Clone, Serialize)]
pub(super) struct UpgradeValues {
    pub(super) pair: String,
    pub(super) build: String,
    pub(super) downtime_minutes: String,
    /// 1-based row of the preferred slot.
    pub(super) preferred: usize,
    pub(super) note: String,
    pub(super) slots: Vec<SlotRow>,
}

impl UpgradeValues {
    pub(super) fn from_form(fields: &[(String, String)]) -> UpgradeValues {
        let mut v = UpgradeValues::default();
        let (mut dates, mut starts, mut ends, mut zones) = (vec![], vec![], vec![], vec![]);
        for (k, val) in fields {
            match k.as_str() {
                "pair" => v.pair = val.clone(),
                "build" => v.build = val.clone(),
                "downtime_minutes" => v.downtime_minutes = val.clone(),
                "preferred" => v.preferred = val.trim().parse().unwrap_or(0),
                "note" => v.note = val.clone(),
                "slot_date" => dates.push(val.clone()),
                "slot_start" => starts.push(val.clone()),
                "slot_end" => ends.push(val.clone()),
                "slot_zone" => zones.push(val.clone()),
                _ => {}
            }
        }
        let n = dates.len().max(starts.len()).max(ends.len());
        let at = |v: &Vec<String>, i: usize| v.get(i).cloned().unwrap_or_default();
        v.slots = (0..n)
            .map(|i| SlotRow {
                date: at(&dates, i),
                start: at(&starts, i),
                end: at(&ends, i),
                zone: at(&zones, i),
            })
            .collect();
        v
    }
}

/// What the slot reader says about one typed slot: the same facts the live check shows.
fn row_check(text: &str, now: Timestamp, notice_days: u32, view: &str) -> Value {
    match parse_slot(text) {
        Ok(s) => {
            let notice = Notice::of(now, s.start, notice_days);
            context! {
                ok => true, display => s.display(), display_view => s.display_in(view),
                display_utc => s.display_in("UTC"), notice_text => notice.describe(),
                notice_ok => notice.ok, past => s.start <= now,
                warnings => s.warnings.iter().map(|w| warning_ctx(w, view)).collect::<Vec<_>>(),
            }
        }
        Err(e) => context! { ok => false, error => e },
    }
}

async fn notice_days_of(st: &AppState, actor: &Actor) -> Result<u32, UiError> {
    Ok(match &actor.customer_id {
        Some(c) => schedules::notice_days(&st.store, c).await?,
        None => DEFAULT_NOTICE_DAYS,
    })
}

async fn new_page(
    st: &AppState,
    u: &UiUser,
    values: &UpgradeValues,
    errors: &[FieldError],
    general: Option<String>,
) -> Result<Html<String>, UiError> {
    let actor = u.user.actor();
    if !(actor.role.may(Permission::FileRequest) || actor.role.may(Permission::Triage)) {
        return Err(ApiError::Forbidden("your role may not file requests".into()).into());
    }
    let view = viewer_zone(st, u).await;
    let all_customers = customers::list(&st.store, &actor).await?;
    let vendor = !actor.role.is_customer();
    let own_zone = match &actor.customer_id {
        Some(c) => all_customers
            .iter()
            .find(|x| &x.id == c)
            .map(|x| x.zone.to_string()),
        None => None,
    }
    .unwrap_or_else(|| view.clone());
    let envs = environments::list(&st.store, &actor, None).await?;
    let pairs: Vec<Value> = envs
        .iter()
        .filter(|e| e.tier == Tier::Prod && e.role == EnvRole::Main)
        .map(|e| {
            let c = all_customers.iter().find(|c| c.id == e.customer_id);
            let label = e.name.trim_end_matches("-MAIN");
            let label = match (vendor, c) {
                (true, Some(c)) => format!("{} / {label}", c.name),
                _ => label.to_string(),
            };
            context! {
                id => e.pair_id, label => label,
                build => e.current_build.map(|b| b.to_string()),
                zone => c.map(|c| c.zone.to_string()),
            }
        })
        .collect();
    let builds: Vec<Value> = releases::list(&st.store, &actor)
        .await?
        .iter()
        .rev()
        .filter(|r| r.published)
        .map(|r| context! { build => r.build.to_string(), version => r.version.to_string() })
        .collect();

    let mut v = values.clone();
    if v.slots.iter().all(|r| !r.is_blank()) {
        v.slots.push(SlotRow::default());
    }
    while v.slots.len() < 2 {
        v.slots.push(SlotRow::default());
    }
    for r in v.slots.iter_mut() {
        if r.zone.trim().is_empty() {
            r.zone = own_zone.clone();
        }
    }
    if v.preferred == 0 || v.preferred > v.slots.len() {
        v.preferred = 1;
    }
    // `slots[k]` names the k-th filled row; map it back to the row it came from.
    let filled: Vec<usize> = v
        .slots
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.is_blank())
        .map(|(i, _)| i)
        .collect();
    let mut row_errors: Vec<Vec<String>> = vec![Vec::new(); v.slots.len()];
    let mut by_field = BTreeMap::<String, Vec<String>>::new();
    let mut other = Vec::new();
    for e in errors {
        let row = e
            .field
            .strip_prefix("slots[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|k| filled.get(k.wrapping_sub(1)).copied());
        match row {
            Some(i) => row_errors[i].push(e.message.clone()),
            None if [
                "pair",
                "build",
                "downtime_minutes",
                "note",
                "slots",
                "preferred",
            ]
            .contains(&e.field.as_str()) =>
            {
                by_field
                    .entry(e.field.clone())
                    .or_default()
                    .push(e.message.clone())
            }
            None => other.push(format!("{}: {}", e.field, e.message)),
        }
    }
    if let Some(g) = general {
        other.push(g);
    }
    let now = st.store.now();
    let notice_days = notice_days_of(st, &actor).await?;
    let rows: Vec<Value> = v
        .slots
        .iter()
        .enumerate()
        .map(|(i, r)| {
            context! {
                n => i + 1, date => r.date, start => r.start, end => r.end, zone => r.zone,
                errors => row_errors[i],
                // A slot the reader refuses is already said by the row's error.
                check => (!r.is_blank() && !values.slots.is_empty())
                    .then(|| row_check(&r.text(), now, notice_days, &view))
                    .filter(|c| row_errors[i].is_empty() || c.get_attr("ok").is_ok_and(|ok| ok.is_true())),
            }
        })
        .collect();
    render(
        "upgrade_new.html",
        context! { ..base(u, "requests"), ..context! {
            pairs => pairs, builds => builds, zones => COMMON_ZONES, view_zone => view,
            own_zone => own_zone, notice_days => notice_days,
            any_row_error => row_errors.iter().any(|e| !e.is_empty()),
            v => Value::from_serialize(&v), rows => rows, errors => by_field, general => other,
            today => now.to_zoned(tz_of(&own_zone)).date().to_string(),
        } },
    )
}

async fn new_form(State(st): State<AppState>, u: UiUser) -> Result<Html<String>, UiError> {
    new_page(&st, &u, &UpgradeValues::default(), &[], None).await
}

async fn file(
    State(st): State<AppState>,
    u: UiUser,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, UiError> {
    let v = UpgradeValues::from_form(&fields);
    let filled: Vec<(usize, &SlotRow)> = v
        .slots
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.is_blank())
        .collect();
    let preferred = filled
        .iter()
        .position(|(i, _)| i + 1 == v.preferred)
        .map(|k| k + 1);
    let minutes = v.downtime_minutes.trim();
    let (downtime, downtime_error) = match minutes.parse::<u64>() {
        Ok(m) => (Some(m), None),
        Err(_) if minutes.is_empty() => (None, None),
        Err(_) => (
            None,
            Some(FieldError::new(
                "downtime_minutes",
                format!("`{minutes}` is not a number of minutes; give e.g. 90"),
            )),
        ),
    };
    let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let input = UpgradeRequestInput {
        pair: v.pair.clone(),
        build: opt(&v.build),
        slots: filled.iter().map(|(_, r)| r.text()).collect(),
        preferred,
        downtime_minutes: downtime,
        note: opt(&v.note),
    };
    // A number that is not one is sent as missing (so the request is refused) and its own
    // message replaces "is required".
    let err = match upgrade::file(&st.store, &u.user.actor(), input).await {
        Ok(r) => {
            return Ok(super::redirect_done(
                &format!("/requests/{}", urlencode(&r.key)),
                "filed",
            ))
        }
        Err(e) => {
            let mut e = ApiError::from(e);
            if let (ApiError::Fields(list), Some(own)) = (&mut e, downtime_error) {
                list.retain(|f| f.field != "downtime_minutes");
                list.push(own);
            }
            e
        }
    };
    let (errors, general, status) = match err {
        ApiError::Fields(f) => (f, None, StatusCode::BAD_REQUEST),
        ApiError::BadRequest(m) => (Vec::new(), Some(m), StatusCode::BAD_REQUEST),
        ApiError::Conflict(m) => (Vec::new(), Some(m), StatusCode::CONFLICT),
        other => return Err(other.into()),
    };
    let page = new_page(&st, &u, &v, &errors, general).await?;
    Ok((status, page).into_response())
}

// ---------------------------------------------------------------------------------------
// The upgrade part of the request page

fn slot_ctx(i: usize, s: &Slot, view: &str, customer_zone: &str) -> Value {
    context! {
        n => i + 1, preferred => s.preferred, input => s.input, zone => s.zone,
        display => s.display(), display_view => s.display_in(view),
        display_customer => s.display_in(customer_zone), display_utc => s.display_in("UTC"),
        warnings => s.warnings.iter().map(|w| warning_ctx(w, view)).collect::<Vec<_>>(),
    }
}

fn booking_ctx(s: &Schedule, view: &str) -> Value {
    let tz = tz_of(&s.zone);
    let overrides: Vec<Value> = s
        .overrides
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|o| context! { kind => o["kind"].as_str(), reason => o["reason"].as_str() })
        .collect();
    context! {
        state => s.state, slot_index => s.slot_index, sequence => s.sequence,
        display => display_range(s.start, s.end, &tz, &s.zone),
        display_view => display_range(s.start, s.end, &tz_of(view), view),
        display_utc => display_range(s.start, s.end, &TimeZone::UTC, "UTC"),
        engineer => s.engineer, engineer_name => s.engineer_name, pm_name => s.pm_name,
        overrides => overrides,
        low => s.downtime["low_minutes"].as_u64(), high => s.downtime["high_minutes"].as_u64(),
        downtime_known => s.downtime["verdict"].as_str().is_some_and(|v| v != "unknown"),
        downtime_basis => s.downtime["basis"].as_str(),
        updated_at => s.updated_at.strftime("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// The upgrade section of the request page (for an upgrade request).
pub(super) async fn section(
    st: &AppState,
    u: &UiUser,
    r: &Request,
    schedule: Option<&Schedule>,
) -> Result<Value, UiError> {
    let d = upgrade::details(r)?;
    let view = viewer_zone(st, u).await;
    let customer = customers::get(&st.store, &Actor::system(), &r.customer_id).await?;
    let czone = customer.zone.to_string();
    let role = u.user.actor().role;
    let open = matches!(
        r.state,
        RequestState::Submitted
            | RequestState::Triaged
            | RequestState::Approved
            | RequestState::Scheduled
    );
    // Overrides are e-signed on the schedule (request keys are unique across tenants).
    let signed: Vec<Value> = signatures::of(&st.store, "schedule", &r.key)
        .await?
        .iter()
        .map(|s| {
            context! {
                printed_name => s.printed_name, username => s.username,
                meaning => s.meaning.as_str(), statement => s.meaning.statement(),
                utc => s.signed_at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
                local => s.signed_at_local, reason => s.reason,
            }
        })
        .collect();
    Ok(context! {
        view_zone => view, customer_zone => czone, override_signatures => signed,
        pair => r.details["pair_label"].as_str().unwrap_or(&d.pair_id),
        build => d.build.to_string(),
        validated_build => d.validated_build.map(|b| b.to_string()),
        validated_in => d.validated_in,
        needs_override => d.needs_build_override,
        hotfix => r.kind == valet_core::request::RequestKind::Hotfix,
        downtime_minutes => d.downtime_minutes, notice_days => d.notice_days, note => d.note,
        slots => d.slots.iter().enumerate().map(|(i, s)| slot_ctx(i, s, &view, &czone)).collect::<Vec<_>>(),
        booking => schedule.map(|s| booking_ctx(s, &view)),
        may_schedule => role.may(Permission::Triage) && open,
        may_run => role.may(Permission::Triage) || role.may(Permission::RunJobs),
    })
}

// ---------------------------------------------------------------------------------------
// The PM's scheduling page

#[derive(Debug, Default, Deserialize)]
pub struct ScheduleQuery {
    engineer: Option<String>,
    alternatives: Option<String>,
    /// Any date of the week the calendar shows (`YYYY-MM-DD`, viewer's zone).
    week: Option<String>,
}

/// What the booking form sent back, kept when the page is shown again.
#[derive(Debug, Default, Clone, Serialize)]
struct BookValues {
    choice: String,
    window: String,
    engineer: String,
    overrides: Vec<String>,
    reasons: BTreeMap<String, String>,
    comment: String,
    /// Each environment's downtime waits for an engineer's release.
    confirm: bool,
}

impl BookValues {
    fn from_form(fields: &[(String, String)]) -> BookValues {
        let mut v = BookValues::default();
        for (k, val) in fields {
            match k.as_str() {
                "choice" => v.choice = val.clone(),
                "window" => v.window = val.clone(),
                "engineer" => v.engineer = val.clone(),
                "override" => v.overrides.push(val.clone()),
                "comment" => v.comment = val.clone(),
                "confirm" => v.confirm = val == "on" || val == "true",
                k => {
                    if let Some(kind) = k.strip_prefix("reason_") {
                        v.reasons.insert(kind.to_string(), val.clone());
                    }
                }
            }
        }
        v
    }
}

fn conflict_ctx(c: &Conflict) -> Value {
    context! {
        kind => c.kind.as_str(), message => c.message, blocking => c.blocking,
        overridable => c.kind.overridable(),
    }
}

/// A window as the slot reader takes it back: `2027-01-11T09:00/2027-01-11T10:00 Zone`.
fn window_text(start: Timestamp, end: Timestamp, zone: &str) -> String {
    let tz = tz_of(zone);
    format!(
        "{}/{} {zone}",
        start.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M"),
        end.to_zoned(tz).strftime("%Y-%m-%dT%H:%M")
    )
}

/// One hour cell of the week calendar.
#[derive(Debug, Serialize)]
struct Cell {
    work: bool,
    items: Vec<(String, String, bool)>,
}

struct CalendarFacts<'a> {
    engineer: Option<&'a valet_core::schedule::Engineer>,
    blackouts: &'a [schedules::Blackout],
    slots: &'a [Slot],
    booking: Option<&'a Schedule>,
}

/// A week (Monday first) of hour cells in `zone`: the engineer's working time shaded, their
/// other bookings and leave, blackouts, freezes, the request's slots and its booking. A label
/// is written in the first hour of its span only.
fn week_grid(monday: Date, zone: &str, f: &CalendarFacts) -> Vec<Value> {
    let tz = tz_of(zone);
    let mut days = Vec::new();
    for d in 0..7 {
        let Ok(date) = monday.checked_add(jiff::Span::new().days(d)) else {
            break;
        };
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut cells = Vec::new();
        for h in 0..24 {
            let start = match date
                .at(h, 0, 0, 0)
                .to_zoned(tz.clone())
                .map(|z| z.timestamp())
            {
                Ok(t) => t,
                Err(_) => continue,
            };
            let end = start + SignedDuration::from_hours(1);
            let mut items: Vec<(String, String)> = Vec::new();
            let hit = |p: &Period| p.overlaps(start, end);
            if let Some(e) = f.engineer {
                for p in e.bookings.iter().filter(|p| hit(p)) {
                    items.push(("booking".into(), format!("{} (other upgrade)", p.label)));
                }
                for p in e.leave.iter().filter(|p| hit(p)) {
                    items.push(("leave".into(), p.label.clone()));
                }
            }
            for b in f
                .blackouts
                .iter()
                .filter(|b| b.start < end && start < b.end)
            {
                items.push((b.kind.clone(), format!("{}: {}", b.kind, b.reason)));
            }
            for (i, s) in f.slots.iter().enumerate() {
                if s.start < end && start < s.end {
                    let chosen = f.booking.is_some_and(|b| {
                        b.state == "scheduled" && b.start == s.start && b.end == s.end
                    });
                    items.push((
                        if chosen {
                            "chosen"
                        } else if s.preferred {
                            "preferred"
                        } else {
                            "slot"
                        }
                        .into(),
                        format!(
                            "slot {}{}",
                            i + 1,
                            if chosen {
                                " — booked"
                            } else if s.preferred {
                                " (preferred)"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
            }
            if let Some(b) = f
                .booking
                .filter(|b| b.state == "scheduled" && b.slot_index == 0)
            {
                if b.start < end && start < b.end {
                    items.push(("chosen".into(), "booked window".into()));
                }
            }
            let shown: Vec<(String, String, bool)> = items
                .iter()
                .map(|(c, l)| {
                    (
                        c.clone(),
                        l.clone(),
                        !seen.contains(&(c.clone(), l.clone())),
                    )
                })
                .collect();
            seen = items.into_iter().collect();
            cells.push(Cell {
                work: f.engineer.is_some_and(|e| e.works(start, end)),
                items: shown,
            });
        }
        days.push(context! {
            label => date.strftime("%a %m-%d").to_string(), date => date.to_string(),
            cells => Value::from_serialize(&cells),
        });
    }
    days
}

fn monday_of(d: Date) -> Date {
    let back = i64::from(d.weekday().to_monday_zero_offset());
    d.checked_sub(jiff::Span::new().days(back)).unwrap_or(d)
}

async fn schedule_view(
    st: &AppState,
    u: &UiUser,
    key: &str,
    q: &ScheduleQuery,
    form: Option<&BookValues>,
    error: Option<String>,
) -> Result<Html<String>, UiError> {
    let actor = u.user.actor();
    if !actor.role.may(Permission::Triage) {
        return Err(ApiError::Forbidden("only the vendor's PM schedules upgrades".into()).into());
    }
    let r = valet_store::requests::get(&st.store, &actor, key).await?;
    if !r.kind.is_prod_upgrade() {
        return Err(
            ApiError::NotFound(format!("{key} is not an upgrade or hotfix request")).into(),
        );
    }
    let d = upgrade::details(&r)?;
    let view = viewer_zone(st, u).await;
    let engineers = schedules::engineers(&st.store).await?;
    let booked = schedules::of_request(&st.store, &actor, key).await?;
    let wanted = form
        .map(|f| f.engineer.trim().to_string())
        .filter(|e| !e.is_empty())
        .or_else(|| q.engineer.clone().filter(|e| !e.trim().is_empty()))
        .or_else(|| {
            booked
                .as_ref()
                .filter(|s| s.state == "scheduled")
                .map(|s| s.engineer.clone())
        })
        .or_else(|| engineers.first().map(|e| e.username.clone()));
    let alternatives = q.alternatives.as_deref().is_some_and(|a| !a.is_empty());
    let a: Assessment = upgrade::assess(
        &st.store,
        &actor,
        st.profile.as_deref(),
        key,
        wanted.as_deref(),
        alternatives,
    )
    .await?;
    let engineer_user = engineers
        .iter()
        .find(|e| Some(&e.username) == a.engineer.as_ref());
    let engineer = match engineer_user {
        Some(e) => Some(schedules::engineer(&st.store, e, &r.id).await?),
        None => None,
    };
    let (hours_text, engineer_zone) = match engineer_user {
        Some(e) => {
            let (h, recorded) = schedules::hours(&st.store, &e.id).await?;
            (
                Some(format!(
                    "{}{}",
                    h.describe(),
                    if recorded { "" } else { " (vendor default)" }
                )),
                Some(h.zone),
            )
        }
        None => (None, None),
    };
    let blackouts = schedules::blackouts(&st.store, &actor, Some(&r.customer_id)).await?;
    let vtz = tz_of(&view);
    let slots: Vec<Value> = a
        .slots
        .iter()
        .map(|c| {
            context! {
                n => c.index, preferred => c.slot.preferred, display => c.display,
                display_customer => c.display_customer, display_utc => c.display_utc,
                display_view => c.slot.display_in(&view),
                notice => c.notice.describe(), notice_ok => c.notice.ok,
                score => c.score, feasible => c.feasible,
                suggested => a.suggested == Some(c.index),
                conflicts => c.conflicts.iter().map(conflict_ctx).collect::<Vec<_>>(),
                warnings => c.slot.warnings.iter().map(|w| warning_ctx(w, &view)).collect::<Vec<_>>(),
            }
        })
        .collect();
    let alts: Vec<Value> = a
        .alternatives
        .iter()
        .enumerate()
        .map(|(i, w)| {
            context! {
                n => i + 1, display_customer => w.display_customer,
                display_view => display_range(w.start, w.end, &vtz, &view), score => w.score,
                window => window_text(w.start, w.end, &a.customer_zone),
            }
        })
        .collect();
    // Every conflict kind of any slot, with the slots it concerns, for the override boxes.
    let mut kinds: BTreeMap<String, (Vec<usize>, String)> = BTreeMap::new();
    for c in &a.slots {
        for x in c.conflicts.iter().filter(|x| x.kind.overridable()) {
            let e = kinds
                .entry(x.kind.as_str().to_string())
                .or_insert_with(|| (Vec::new(), x.message.clone()));
            e.0.push(c.index);
        }
    }
    let overrides: Vec<Value> = kinds
        .iter()
        .map(|(k, (slots, message))| {
            context! {
                kind => k, slots => slots, message => message,
                checked => form.is_some_and(|f| f.overrides.contains(k)),
                reason => form.and_then(|f| f.reasons.get(k).cloned()).unwrap_or_default(),
            }
        })
        .collect();

    // The week calendar, in the viewer's zone.
    let anchor = q
        .week
        .as_deref()
        .and_then(|w| w.trim().parse::<Date>().ok())
        .or_else(|| {
            booked
                .as_ref()
                .filter(|s| s.state == "scheduled")
                .map(|s| s.start)
                .or_else(|| d.preferred().map(|(_, s)| s.start))
                .map(|t| t.to_zoned(vtz.clone()).date())
        })
        .unwrap_or_else(|| st.store.now().to_zoned(vtz.clone()).date());
    let monday = monday_of(anchor);
    let days = week_grid(
        monday,
        &view,
        &CalendarFacts {
            engineer: engineer.as_ref(),
            blackouts: &blackouts,
            slots: &d.slots,
            booking: booked.as_ref(),
        },
    );
    let shift = |w: i64| {
        monday
            .checked_add(jiff::Span::new().weeks(w))
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    let slot_weeks: Vec<Value> = d
        .slots
        .iter()
        .enumerate()
        .map(|(i, s)| context! { n => i + 1, week => monday_of(s.start.to_zoned(vtz.clone()).date()).to_string() })
        .collect();

    let choice = form
        .map(|f| f.choice.clone())
        .filter(|c| !c.is_empty())
        .or_else(|| {
            booked
                .as_ref()
                .filter(|s| s.state == "scheduled" && s.slot_index > 0)
                .map(|s| s.slot_index.to_string())
        })
        .or_else(|| a.suggested.map(|s| s.to_string()))
        .unwrap_or_else(|| "1".into());
    // Drawn from this assessment (inline), so its alternatives are the ones for this engineer.
    let heatmap_svg = a.histogram.as_ref().map(|h| {
        let (map, marks) = upgrade::heatmap_of(h, Some(&a));
        valet_ops::documents::heatmap::render_svg(
            &map,
            &marks,
            &format!(
                "Data-collection activity, last {} weeks ({})",
                h.weeks, a.request
            ),
        )
    });
    let dt = &a.downtime;
    render(
        "schedule.html",
        context! { ..base(u, "schedule"), ..context! {
            r => context! {
                key => r.key, title => r.title, state => r.state.as_str(), customer => r.customer_name,
            },
            view_zone => view, customer_zone => a.customer_zone,
            build => d.build.to_string(), needs_override => d.needs_build_override,
            validated_build => d.validated_build.map(|b| b.to_string()),
            engineers => engineers.iter().map(|e| context! { username => e.username, name => e.display_name }).collect::<Vec<_>>(),
            engineer => a.engineer, hours => hours_text, engineer_zone => engineer_zone,
            slots => slots, suggested => a.suggested, alternatives => alts,
            show_alternatives => alternatives,
            downtime => context! {
                low => dt.low_minutes, high => dt.high_minutes, accepted => dt.accepted_minutes,
                verdict => dt.verdict, basis => dt.basis,
            },
            activity_error => a.activity_error,
            heatmap_svg => heatmap_svg,
            booking => a.schedule.as_ref().map(|s| booking_ctx(s, &view)),
            week => context! {
                days => days, monday => monday.to_string(), prev => shift(-1), next => shift(1),
                slot_weeks => slot_weeks,
            },
            hours_of_day => (0..24).map(|h| format!("{h:02}:00")).collect::<Vec<_>>(),
            overrides => overrides,
            f => context! {
                choice => choice,
                window => form.map(|f| f.window.clone()).unwrap_or_default(),
                comment => form.map(|f| f.comment.clone()).unwrap_or_default(),
                confirm => form.map(|f| f.confirm).unwrap_or_else(|| {
                    r.details["confirm_each_environment"] == serde_json::json!(true)
                }),
            },
            // Only an open request can be booked; once its run started (or it ended) the page
            // shows what was booked without offering to book again.
            bookable => matches!(
                r.state,
                RequestState::Submitted
                    | RequestState::Triaged
                    | RequestState::Approved
                    | RequestState::Scheduled
            ),
            statement => Meaning::Approved.statement(),
            signer => u.user.display_name, username => u.user.username,
            error => error,
        } },
    )
}

async fn schedule_page(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
    Query(q): Query<ScheduleQuery>,
) -> Result<Html<String>, UiError> {
    schedule_view(&st, &u, &key, &q, None, None).await
}

async fn book(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, UiError> {
    let f = BookValues::from_form(&fields);
    let (slot, window) = match f.choice.trim() {
        "window" => (None, Some(f.window.trim().to_string())),
        c => match c.strip_prefix("w:") {
            Some(w) => (None, Some(w.to_string())),
            None => (c.parse::<usize>().ok(), None),
        },
    };
    let mut overrides = Vec::new();
    let mut bad = Vec::new();
    for k in &f.overrides {
        match k.parse() {
            Ok(kind) => overrides.push(Override {
                kind,
                reason: f.reasons.get(k).cloned().unwrap_or_default(),
            }),
            Err(_) => bad.push(k.clone()),
        }
    }
    let password = fields
        .iter()
        .find(|(k, _)| k == "password")
        .map(|(_, p)| p.clone())
        .filter(|p| !p.is_empty());
    let outcome = if bad.is_empty() {
        upgrade::set(
            &st.store,
            &u.user.actor(),
            &key,
            SetSchedule {
                slot,
                window,
                engineer: f.engineer.clone(),
                overrides,
                password,
                comment: Some(f.comment.trim().to_string()).filter(|c| !c.is_empty()),
                confirm: f.confirm,
            },
        )
        .await
        .map(|_| ())
        .map_err(ApiError::from)
    } else {
        Err(ApiError::BadRequest(format!(
            "unknown conflict kinds: {}",
            bad.join(", ")
        )))
    };
    let q = ScheduleQuery {
        engineer: Some(f.engineer.clone()),
        ..Default::default()
    };
    match outcome {
        Ok(()) => Ok(super::redirect_done(
            &format!("/requests/{}#upgrade", urlencode(&key)),
            "booked",
        )),
        Err(e @ (ApiError::NotFound(_) | ApiError::Internal(_))) => Err(e.into()),
        Err(ApiError::Unauthenticated) => {
            let page = schedule_view(
                &st,
                &u,
                &key,
                &q,
                Some(&f),
                Some(
                    "The password is wrong; nothing was booked. Enter your own password again."
                        .into(),
                ),
            )
            .await?;
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
        Err(e) => {
            let message = match &e {
                ApiError::Fields(list) => list
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            };
            let status = e.into_response().status();
            let page = schedule_view(&st, &u, &key, &q, Some(&f), Some(message)).await?;
            Ok((status, page).into_response())
        }
    }
}

// ---------------------------------------------------------------------------------------
// The schedule overview

#[derive(Debug, Default, Deserialize)]
pub struct OverviewQuery {
    /// The month the calendar shows (`YYYY-MM`, viewer's zone); default: this month.
    month: Option<String>,
}

async fn overview(
    State(st): State<AppState>,
    u: UiUser,
    Query(q): Query<OverviewQuery>,
) -> Result<Html<String>, UiError> {
    let actor = u.user.actor();
    let view = viewer_zone(&st, &u).await;
    let vtz = tz_of(&view);
    let now = st.store.now();
    let to = now + SignedDuration::from_hours(24 * 7 * 8);
    let list = schedules::list(&st.store, &actor, now, to).await?;
    let mut weeks: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for s in &list {
        let monday = monday_of(s.start.to_zoned(vtz.clone()).date());
        weeks.entry(monday.to_string()).or_default().push(context! {
            key => s.request_key, customer => s.customer_name,
            ..booking_ctx(s, &view)
        });
    }
    let weeks: Vec<Value> = weeks
        .into_iter()
        .map(|(monday, items)| {
            let m: Date = monday.parse().unwrap_or_default();
            let sunday = m
                .checked_add(jiff::Span::new().days(6))
                .unwrap_or(m)
                .to_string();
            context! {
                label => format!("Week {} · {} – {}", m.iso_week_date().week(), monday, sunday),
                items => items,
            }
        })
        .collect();
    render(
        "schedules.html",
        context! { ..base(&u, "schedule"), ..context! {
            month => month_calendar(&st, &actor, &view, q.month.as_deref()).await?,
            weeks => weeks, view_zone => view, vendor => !actor.role.is_customer(),
            from => now.to_zoned(vtz.clone()).date().to_string(),
            to => to.to_zoned(vtz).date().to_string(),
        } },
    )
}

/// The month calendar of the overview, in the viewer's zone: booked upgrades, the blackouts
/// and freezes the viewer may see and, for the vendor, engineers' leave and on-call time.
/// `month` is `YYYY-MM`; anything else shows this month with a note saying so.
async fn month_calendar(
    st: &AppState,
    actor: &Actor,
    view: &str,
    month: Option<&str>,
) -> Result<Value, UiError> {
    let vtz = tz_of(view);
    let today = st.store.now().to_zoned(vtz.clone()).date();
    let asked = month.map(str::trim).filter(|m| !m.is_empty());
    let parsed = asked.and_then(|m| format!("{m}-01").parse::<Date>().ok());
    let note = match (asked, parsed) {
        (Some(m), None) => Some(format!(
            "`{m}` is not a month; give it as YYYY-MM (e.g. {}). Showing this month.",
            today.strftime("%Y-%m")
        )),
        _ => None,
    };
    let first = parsed.unwrap_or_else(|| today.first_of_month());
    let grid_start = monday_of(first);
    let last = first.last_of_month();
    let weeks = i64::from(last.since(grid_start).map_or(0, |d| d.get_days()) / 7 + 1).clamp(4, 6);
    let day = |n: i64| {
        grid_start
            .checked_add(jiff::Span::new().days(n))
            .unwrap_or(grid_start)
    };
    let midnight = |d: Date| {
        d.to_zoned(vtz.clone())
            .map(|z| z.timestamp())
            .unwrap_or_else(|_| st.store.now())
    };
    let (from, to) = (midnight(grid_start), midnight(day(weeks * 7)));

    // What the calendar shows.
    struct Fact {
        start: Timestamp,
        end: Timestamp,
        kind: &'static str,
        label: String,
        title: String,
        href: Option<String>,
    }
    let mut facts: Vec<Fact> = Vec::new();
    for s in schedules::list(&st.store, actor, from, to).await? {
        if s.state == "cancelled" {
            continue;
        }
        let at = s.start.to_zoned(vtz.clone()).strftime("%H:%M").to_string();
        let who = if actor.role.is_customer() {
            String::new()
        } else {
            format!(" · {}", s.customer_name)
        };
        facts.push(Fact {
            start: s.start,
            end: s.end,
            kind: if s.state == "done" { "done" } else { "booked" },
            label: format!("{at} {}", s.request_key),
            title: format!(
                "{}{who} · {} · engineer {} · {}",
                s.request_key,
                display_range(s.start, s.end, &vtz, view),
                s.engineer_name,
                s.state
            ),
            href: Some(format!("/requests/{}", s.request_key)),
        });
    }
    let names: BTreeMap<String, String> = customers::list(&st.store, actor)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c.name.to_string()))
        .collect();
    for b in schedules::blackouts(&st.store, actor, None).await? {
        if b.end <= from || b.start >= to {
            continue;
        }
        let whose = b
            .customer_id
            .as_ref()
            .and_then(|c| names.get(c))
            .map(|n| format!("{n}: "))
            .unwrap_or_default();
        let kind = if b.kind == "freeze" {
            "freeze"
        } else {
            "blackout"
        };
        facts.push(Fact {
            start: b.start,
            end: b.end,
            kind,
            label: format!("{whose}{}", b.reason),
            title: format!("{kind} · {whose}{}", b.reason),
            href: None,
        });
    }
    if !actor.role.is_customer() {
        for e in schedules::engineers(&st.store).await? {
            for x in schedules::exceptions(&st.store, &e.id).await? {
                if x.end <= from || x.start >= to {
                    continue;
                }
                let what = x.kind.replace('_', " ");
                facts.push(Fact {
                    start: x.start,
                    end: x.end,
                    kind: if x.kind == "leave" { "leave" } else { "oncall" },
                    label: format!("{}: {what}", e.display_name),
                    title: format!("{} ({}) {what} {}", e.display_name, e.username, x.note),
                    href: None,
                });
            }
        }
    }

    let rows: Vec<Value> = (0..weeks)
        .map(|w| {
            let days: Vec<Value> = (0..7)
                .map(|d| {
                    let date = day(w * 7 + d);
                    let (a, b) = (midnight(date), midnight(day(w * 7 + d + 1)));
                    let items: Vec<Value> = facts
                        .iter()
                        .filter(|f| f.start < b && f.end > a)
                        .map(|f| {
                            context! { kind => f.kind, label => f.label, title => f.title, href => f.href }
                        })
                        .collect();
                    context! {
                        date => date.to_string(), day => date.day(),
                        other => date.month() != first.month(), today => date == today,
                        items => items,
                    }
                })
                .collect();
            context! { week => day(w * 7).iso_week_date().week(), days => days }
        })
        .collect();
    let shift = |m: i64| {
        first
            .checked_add(jiff::Span::new().months(m))
            .map(|d| d.strftime("%Y-%m").to_string())
            .unwrap_or_default()
    };
    Ok(context! {
        label => first.strftime("%B %Y").to_string(),
        rows => rows, prev => shift(-1), next => shift(1),
        this => today.strftime("%Y-%m").to_string(), note => note,
    })
}
