//! The VAL cycle's pages: the requests list, filing a VAL request (with every field's error
//! shown under the field), the request page (fields, live run, VAL pair, findings,
//! documents, signatures, comments, timeline, the actions the user's role may take in the
//! request's state) and the signature dialog, which shows the record being signed and asks
//! for the password again.
//!
//! Actions go through `valet_ops::val`; reads through `valet_store` with the user's actor.
//! A failed action shows the request page again with what went wrong; nothing was changed.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::{context, Value};
use serde::Deserialize;
use serde_json::json;
use valet_core::signature::Meaning;
use valet_core::val::{FindingState, ValRequestInput};
use valet_core::{EnvRole, FieldError, Permission, RequestKind, RequestState, Role, Tier};
use valet_ops::val;
use valet_store::findings::NewFinding;
use valet_store::{customers, environments, releases, requests};

use super::{base, render, urlencode, UiError, UiUser};
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/requests", get(list_page))
        .route("/requests/new", get(new_form).post(file))
        .route("/requests/{key}", get(detail_page))
        .route("/requests/{key}/sign", get(sign_form).post(sign))
        .route("/requests/{key}/comments", post(comment))
        .route("/requests/{key}/reject", post(reject))
        .route("/requests/{key}/cancel", post(cancel))
        .route("/requests/{key}/run/start", post(run_start))
        .route("/requests/{key}/run/confirm", post(run_confirm))
        .route("/requests/{key}/run/abort", post(run_abort))
        .route("/requests/{key}/close", post(close))
        .route("/requests/{key}/retry", post(retry))
        .route("/requests/{key}/extension", post(extension))
        .route("/requests/{key}/extension/approve", post(approve_extension))
        .route("/requests/{key}/findings", post(file_finding))
        .route("/findings/{key}/answer", post(answer_finding))
        .route("/findings/{key}/resolve", post(resolve_finding))
        .route("/findings/{key}/accept", post(accept_finding))
        .route("/findings/{key}/reopen", post(reopen_finding))
}

/// `2026-11-30 20:05:13 UTC`.
fn utc(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn may_file(role: Role) -> bool {
    role.may(Permission::FileRequest) || role.may(Permission::Triage)
}

// ---------------------------------------------------------------------------------------
// List

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    kind: Option<String>,
    customer: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

async fn list_page(
    State(st): State<AppState>,
    u: UiUser,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, UiError> {
    let actor = u.user.actor();
    let state = nonempty(&q.state)
        .map(str::parse::<RequestState>)
        .transpose()?;
    let kind = nonempty(&q.kind)
        .map(str::parse::<RequestKind>)
        .transpose()?;
    let vendor = !actor.role.is_customer();
    let customer = if vendor {
        nonempty(&q.customer).map(str::to_string)
    } else {
        None
    };
    let list = requests::list(
        &st.store,
        &actor,
        &requests::Filter {
            kind,
            state,
            customer_id: customer.clone(),
        },
    )
    .await?;
    let rows: Vec<Value> = list
        .iter()
        .map(|r| {
            context! {
                key => r.key, kind => r.kind.as_str(), state => r.state.as_str(),
                title => r.title, customer => r.customer_name,
                build => r.details["build"].as_str(),
                begin => r.details["begin"].as_str(), end => r.details["end"].as_str(),
                created_by => r.created_by_name, created_at => utc(r.created_at),
            }
        })
        .collect();
    let customers: Vec<Value> = if vendor {
        customers::list(&st.store, &actor)
            .await?
            .iter()
            .map(|c| context! { id => c.id, name => c.name.to_string() })
            .collect()
    } else {
        Vec::new()
    };
    let states: Vec<&str> = [
        RequestState::Submitted,
        RequestState::Triaged,
        RequestState::Approved,
        RequestState::Scheduled,
        RequestState::InProgress,
        RequestState::Failed,
        RequestState::OnHold,
        RequestState::Done,
        RequestState::Rejected,
        RequestState::Cancelled,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect();
    let kinds: Vec<&str> = [
        RequestKind::Val,
        RequestKind::Upgrade,
        RequestKind::Hotfix,
        RequestKind::ValExtension,
    ]
    .iter()
    .map(|k| k.as_str())
    .collect();
    render(
        "requests.html",
        context! { ..base(&u, "requests"), ..context! {
            requests => rows, states => states, kinds => kinds, customers => customers,
            vendor => vendor, may_file => may_file(actor.role),
            f => context! {
                state => state.map(|s| s.as_str()), kind => kind.map(|k| k.as_str()),
                customer => customer,
            },
        } },
    )
}

// ---------------------------------------------------------------------------------------
// New VAL request

/// What the form sent back, kept to show it again beside the errors.
#[derive(Debug, Default, Clone, serde::Serialize)]
struct NewValues {
    pair: String,
    build: String,
    begin: String,
    end: String,
    sso_required: bool,
    sso_url: String,
    sso_file_name: String,
    lab: String,
    purpose: String,
    refresh: String,
}

async fn new_page(
    st: &AppState,
    u: &UiUser,
    values: &NewValues,
    errors: &[FieldError],
    general: Option<String>,
) -> Result<Html<String>, UiError> {
    let actor = u.user.actor();
    if !may_file(actor.role) {
        return Err(ApiError::Forbidden("your role may not file requests".into()).into());
    }
    let names: std::collections::HashMap<String, String> = customers::list(&st.store, &actor)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name.to_string()))
        .collect();
    let envs = environments::list(&st.store, &actor, None).await?;
    let vendor = !actor.role.is_customer();
    let pair_option = |e: &environments::Environment| {
        let label = e.name.trim_end_matches("-MAIN");
        let label = if vendor {
            format!(
                "{} / {label}",
                names.get(&e.customer_id).map(String::as_str).unwrap_or("?")
            )
        } else {
            label.to_string()
        };
        context! {
            id => e.pair_id, label => label,
            build => e.current_build.map(|b| b.to_string()), state => e.state.as_str(),
        }
    };
    let prod: Vec<Value> = envs
        .iter()
        .filter(|e| e.tier == Tier::Prod && e.role == EnvRole::Main)
        .map(&pair_option)
        .collect();
    let vals: Vec<Value> = envs
        .iter()
        .filter(|e| e.tier == Tier::Val && e.role == EnvRole::Main)
        .map(&pair_option)
        .collect();
    let builds: Vec<Value> = releases::list(&st.store, &actor)
        .await?
        .iter()
        .rev()
        .filter(|r| r.published)
        .map(|r| {
            context! {
                build => r.build.to_string(), version => r.version.to_string(),
                hotfix => r.kind == valet_core::ReleaseKind::Hotfix,
                released => r.released.to_string(),
            }
        })
        .collect();
    let mut by_field = std::collections::BTreeMap::<String, Vec<String>>::new();
    let known = [
        "pair",
        "build",
        "begin",
        "end",
        "sso_metadata",
        "lab",
        "purpose",
        "refresh",
    ];
    let mut other = Vec::new();
    for e in errors {
        if known.contains(&e.field.as_str()) {
            by_field
                .entry(e.field.clone())
                .or_default()
                .push(e.message.clone());
        } else {
            other.push(format!("{}: {}", e.field, e.message));
        }
    }
    if let Some(g) = general {
        other.push(g);
    }
    render(
        "request_new.html",
        context! { ..base(u, "requests"), ..context! {
            pairs => prod, val_pairs => vals, builds => builds,
            v => Value::from_serialize(values), errors => by_field, general => other,
            today => jiff::Zoned::now().date().to_string(),
        } },
    )
}

async fn new_form(State(st): State<AppState>, u: UiUser) -> Result<Html<String>, UiError> {
    new_page(&st, &u, &NewValues::default(), &[], None).await
}

/// Reads the multipart form: text fields, and the IdP metadata file if one was chosen.
async fn read_new(mut mp: Multipart) -> Result<(NewValues, Option<String>), UiError> {
    let mut v = NewValues::default();
    let mut file: Option<String> = None;
    let bad = |e: axum::extract::multipart::MultipartError| {
        UiError::from(ApiError::BadRequest(format!("form: {e}")))
    };
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "sso_metadata_file" {
            let fname = field.file_name().unwrap_or("").to_string();
            let bytes = field.bytes().await.map_err(bad)?;
            if !bytes.is_empty() {
                v.sso_file_name = fname;
                file = Some(String::from_utf8_lossy(&bytes).into_owned());
            }
            continue;
        }
        let text = field.text().await.map_err(bad)?;
        match name.as_str() {
            "pair" => v.pair = text,
            "build" => v.build = text,
            "begin" => v.begin = text,
            "end" => v.end = text,
            "sso_required" => v.sso_required = !text.is_empty(),
            "sso_url" => v.sso_url = text,
            "lab" => v.lab = text,
            "purpose" => v.purpose = text,
            "refresh" => v.refresh = text,
            _ => {}
        }
    }
    Ok((v, file))
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

async fn file(State(st): State<AppState>, u: UiUser, mp: Multipart) -> Result<Response, UiError> {
    let (v, file) = read_new(mp).await?;
    let input = ValRequestInput {
        pair: v.pair.clone(),
        build: v.build.clone(),
        begin: v.begin.clone(),
        end: v.end.clone(),
        sso_required: v.sso_required,
        sso_metadata: file.or_else(|| opt(&v.sso_url)),
        lab: opt(&v.lab),
        purpose: opt(&v.purpose),
        refresh: opt(&v.refresh),
    };
    match val::file(&st.store, &u.user.actor(), input, st.val_rules).await {
        Ok(r) => Ok(super::redirect_done(
            &format!("/requests/{}", urlencode(&r.key)),
            "filed",
        )),
        Err(e) => {
            let (errors, general, status) = match ApiError::from(e) {
                ApiError::Fields(f) => (f, None, StatusCode::BAD_REQUEST),
                ApiError::BadRequest(m) => (Vec::new(), Some(m), StatusCode::BAD_REQUEST),
                ApiError::Conflict(m) => (Vec::new(), Some(m), StatusCode::CONFLICT),
                other => return Err(other.into()),
            };
            let page = new_page(&st, &u, &v, &errors, general).await?;
            Ok((status, page).into_response())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Request page

/// What the last action said, shown at the top of the request page.
#[derive(Debug, Default)]
struct Notice {
    error: Option<String>,
    /// What the action before this page did (from the flash cookie).
    done: Option<&'static str>,
    finding: Option<(NewFinding, Vec<FieldError>)>,
}

fn duration(ms: Option<i64>) -> Option<String> {
    let ms = ms?;
    Some(if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    })
}

/// The request's fields as label/value rows, shared by the request page and the signature
/// dialog.
fn field_rows(kind: RequestKind, d: &serde_json::Value) -> Vec<Value> {
    let s = |k: &str| d[k].as_str().map(str::to_string);
    if kind.is_prod_upgrade() {
        return [
            ("PROD pair", s("pair_label").or_else(|| s("pair_id"))),
            ("Target build", s("build")),
            (
                "Accepted downtime",
                d["downtime_minutes"]
                    .as_u64()
                    .map(|m| format!("{m} minutes")),
            ),
            ("Note", s("note")),
        ]
        .into_iter()
        .map(|(label, value)| context! { label => label, value => value })
        .collect();
    }
    let mut rows = vec![
        ("PROD pair", s("pair_label").or_else(|| s("pair_id"))),
        ("Target build", s("build")),
        ("Validation begins", s("begin")),
        ("Validation ends", s("end")),
        (
            "SSO",
            Some(if d["sso_required"] == json!(true) {
                "required".to_string()
            } else {
                "not required".to_string()
            }),
        ),
    ];
    if let Some(m) = s("sso_metadata") {
        let shown = if m.trim_start().starts_with('<') {
            format!("metadata XML ({} bytes)", m.len())
        } else {
            m
        };
        rows.push(("IdP metadata", Some(shown)));
    }
    rows.push(("Lab test environment", s("lab")));
    rows.push(("Purpose", s("purpose")));
    if let Some(r) = s("refresh_of") {
        rows.push(("Refresh of VAL pair", Some(r)));
    }
    rows.into_iter()
        .map(|(label, value)| context! { label => label, value => value })
        .collect()
}

/// One line saying what an event changed: a state move, a signature's meaning, a finding.
pub(super) fn change_of(e: &valet_store::audit::AuditEvent) -> Option<String> {
    let after = e.after.as_ref()?;
    let before = e.before.as_ref();
    let state = |v: &serde_json::Value| v["state"].as_str().map(|s| s.replace('_', " "));
    let finding = after["finding"].as_str().map(|f| format!("{f}: "));
    let prefix = match (&finding, after["step"].as_i64(), after["run"].is_string()) {
        (Some(f), _, _) => f.clone(),
        (None, Some(n), _) => format!("step {n} {}: ", after["name"].as_str().unwrap_or("")),
        (None, None, true) => "run: ".to_string(),
        _ => String::new(),
    };
    if let Some(to) = state(after) {
        return Some(match before.and_then(state) {
            Some(from) => format!("{prefix}{from} → {to}"),
            None => format!("{prefix}{to}"),
        });
    }
    if let Some(m) = after["meaning"].as_str() {
        return Some(format!("meaning: {m}"));
    }
    finding
        .zip(after["answer"].as_str())
        .map(|(f, a)| format!("{f}{a}"))
}

/// Who did it, as the timeline names them: valet's own changes (the built-in system actor,
/// recorded with the administrator's role) are valet's, done automatically.
pub(super) fn who(e: &valet_store::audit::AuditEvent) -> (&str, &str) {
    if e.actor_id == valet_core::Actor::system().user_id {
        ("valet", "automatic")
    } else {
        (&e.actor_name, &e.actor_role)
    }
}

/// Consecutive run steps of the timeline at least this many are folded into one entry.
const FOLD_STEPS: usize = 3;

/// The request's history for its timeline, oldest first. A run's step-by-step progress (the
/// worker's `run.step` events, one per step and state, which the run card also shows) is
/// folded into one entry per uninterrupted stretch, openable to every event in it; people's
/// actions between steps (a release, an abort) stay entries of their own.
fn timeline_of(history: &[valet_store::audit::AuditEvent]) -> Vec<Value> {
    let entry = |e: &valet_store::audit::AuditEvent| {
        let (actor, role) = who(e);
        context! {
            at => utc(e.at), actor => actor, role => role,
            action => e.action, reason => e.reason, change => change_of(e),
        }
    };
    let mut out = Vec::new();
    let mut rest = history;
    while let Some(first) = rest.first() {
        let steps = rest
            .iter()
            .take_while(|e| e.action == "run.step" && e.actor_id == first.actor_id)
            .count();
        if steps >= FOLD_STEPS {
            let (group, after) = rest.split_at(steps);
            let last = &group[steps - 1];
            let day = |t: jiff::Timestamp| t.strftime("%Y-%m-%d").to_string();
            let until = if day(first.at) == day(last.at) {
                last.at.strftime("%H:%M:%S UTC").to_string()
            } else {
                utc(last.at)
            };
            let (actor, role) = who(first);
            out.push(context! {
                at => utc(first.at), until => until, actor => actor,
                role => role, steps => group.iter().map(entry).collect::<Vec<_>>(),
                first_change => change_of(first), last_change => change_of(last),
            });
            rest = after;
        } else {
            out.push(entry(first));
            rest = &rest[1..];
        }
    }
    out
}

async fn detail(
    st: &AppState,
    u: &UiUser,
    key: &str,
    notice: Notice,
) -> Result<Html<String>, UiError> {
    let actor = u.user.actor();
    let view = val::view(&st.store, &actor, key).await?;
    let history = requests::history(&st.store, &actor, key).await?;
    let r = &view.request;
    let role = actor.role;
    let state = r.state;
    let d = &r.details;
    let provisioned = d["provisioned"] == json!(true);
    let signed_off = !d["signed_off"].is_null();
    let pending_extension = !d["extension_requested"].is_null();
    let triage = role.may(Permission::Triage);
    let files = role.may(Permission::FileRequest);
    let is_upgrade = r.kind.is_prod_upgrade();
    let upgrade = if is_upgrade {
        Some(super::upgrades::section(st, u, r, view.schedule.as_ref()).await?)
    } else {
        None
    };
    let open_findings: Vec<&str> = view
        .findings
        .iter()
        .filter(|f| f.state.blocks_sign_off())
        .map(|f| f.key.as_str())
        .collect();
    let run = view.runs.last();
    let live = run.is_some_and(|r| !r.state.is_final());
    let run_ctx = run.map(|run| {
        let steps: Vec<Value> = run
            .steps
            .iter()
            .map(|s| {
                context! {
                    seq => s.seq, name => s.name, env => s.env, state => s.state.as_str(),
                    attempts => s.attempts, duration => duration(s.duration_ms), log => s.log,
                }
            })
            .collect();
        // An upgrade's measured downtime per environment (maintenance on → off).
        let downtime: Vec<Value> = run
            .steps
            .iter()
            .filter(|s| {
                matches!(
                    s.name.as_str(),
                    "maintenance_off" | "rollback_maintenance_off"
                ) && s.state.as_str() == "done"
            })
            .filter_map(|s| {
                let ms = s.artifacts["downtime_ms"].as_i64()?;
                Some(context! {
                    env => s.env, text => duration(Some(ms)),
                    rolled_back => s.name.starts_with("rollback"),
                })
            })
            .collect();
        let waiting = run
            .steps
            .iter()
            .find(|s| s.name == "confirm" && s.state.as_str() == "running")
            .and_then(|s| s.env.clone());
        context! {
            id => run.id, kind => run.kind, state => run.state.as_str(), error => run.error,
            created_at => utc(run.created_at),
            started_at => run.started_at.map(utc), finished_at => run.finished_at.map(utc),
            steps => steps, downtime => downtime, waiting => waiting,
        }
    });
    let signatures: Vec<Value> = view
        .signatures
        .iter()
        .map(|s| {
            let sig = &s.signature;
            context! {
                printed_name => sig.printed_name, username => sig.username,
                meaning => sig.meaning.as_str(), statement => sig.meaning.statement(),
                utc => utc(sig.signed_at), local => sig.signed_at_local,
                reason => sig.reason, sha => sig.record_sha256,
                changed => s.changed_after_signing,
            }
        })
        .collect();
    let findings: Vec<Value> = view
        .findings
        .iter()
        .map(|f| {
            context! {
                key => f.key, title => f.title, severity => f.severity.as_str(),
                area => f.area.as_str(), steps => f.steps, state => f.state.as_str(),
                created_by => f.created_by, created_at => utc(f.created_at),
                resolution => f.resolution, closed_by => f.closed_by,
                closed_at => f.closed_at.map(utc),
                may_resolve => f.state == FindingState::Open
                    && (triage || role.may(Permission::RunJobs)),
                may_accept => f.state == FindingState::Open && files,
                may_reopen => f.state != FindingState::Open,
            }
        })
        .collect();
    // A VAL expires at the end of its last day on the customer's clock: said that way.
    let zone = customers::get(&st.store, &actor, &r.customer_id)
        .await
        .map(|c| c.zone)
        .ok();
    let expiry = |t: jiff::Timestamp| match &zone {
        Some(z) => {
            let local = t.to_zoned(z.tz());
            if local.time() == jiff::civil::Time::midnight() {
                let day = local.date().yesterday().unwrap_or(local.date());
                format!("end of {day} ({})", z.as_str())
            } else {
                format!("{} ({})", local.strftime("%Y-%m-%d %H:%M"), z.as_str())
            }
        }
        None => utc(t),
    };
    let pair: Vec<Value> = view
        .val_pair
        .iter()
        .flat_map(|p| [&p.main, &p.test])
        .map(|e| {
            context! {
                name => e.name, role => e.role.as_str(), state => e.state.as_str(),
                build => e.current_build.map(|b| b.to_string()), base_url => e.base_url,
                expires_at => e.expires_at.map(expiry),
            }
        })
        .collect();
    let timeline = timeline_of(&history);
    let comments: Vec<Value> = view
        .comments
        .iter()
        .map(|c| context! { author => c.author_name, at => utc(c.created_at), body => c.body })
        .collect();
    let documents: Vec<Value> = view
        .documents
        .iter()
        .map(|doc| {
            context! {
                id => doc.id, title => doc.title, kind => doc.kind, sha => doc.sha256,
                created_at => utc(doc.created_at),
            }
        })
        .collect();
    let actions = context! {
        approve => triage && !is_upgrade
            && matches!(state, RequestState::Submitted | RequestState::Triaged),
        reject => triage && matches!(state, RequestState::Submitted | RequestState::Triaged),
        cancel => (triage || files) && matches!(state,
            RequestState::Draft | RequestState::Submitted | RequestState::Triaged
            | RequestState::Approved | RequestState::Scheduled | RequestState::Failed
            | RequestState::OnHold),
        close => (triage || files) && !d["val_pair_id"].is_null()
            && matches!(state, RequestState::InProgress | RequestState::Failed)
            && d["closing"].is_null(),
        retry => (triage || role.may(Permission::RunJobs)) && !is_upgrade
            && state == RequestState::Failed,
        extension => files && !pending_extension && !is_upgrade && matches!(state,
            RequestState::Approved | RequestState::Scheduled | RequestState::InProgress),
        approve_extension => triage && pending_extension,
        sign_off => matches!(role, Role::CustomerAdmin | Role::Admin)
            && state == RequestState::InProgress && provisioned && !signed_off,
        file_finding => r.kind == RequestKind::Val && state == RequestState::InProgress
            && !signed_off,
    };
    let (finding_values, finding_errors) = match notice.finding {
        Some((v, errs)) => {
            let mut m = std::collections::BTreeMap::<String, Vec<String>>::new();
            for e in errs {
                m.entry(e.field).or_default().push(e.message);
            }
            (
                context! { title => v.title, severity => v.severity, area => v.area, steps => v.steps },
                m,
            )
        }
        None => (
            context! { title => "", severity => "major", area => "configuration_item", steps => "" },
            Default::default(),
        ),
    };
    render(
        "request.html",
        context! { ..base(u, "requests"), ..context! {
            r => context! {
                key => r.key, title => r.title, state => state.as_str(), kind => r.kind.as_str(),
                customer => r.customer_name, created_by => r.created_by_name,
                created_at => utc(r.created_at), updated_at => utc(r.updated_at),
                held_from => r.held_from.map(|h| h.as_str()),
            },
            fields => field_rows(r.kind, d),
            sha => view.content_sha256,
            provisioned => provisioned,
            signed_off => d["signed_off"].clone(),
            closing => d["closing"].clone(),
            closes_after => d["close_after_prod_upgrade"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(utc),
            extension => d["extension_requested"].clone(),
            run => run_ctx, live => live,
            runs_count => view.runs.len(),
            pair => pair, signatures => signatures, findings => findings,
            open_findings => open_findings, documents => documents, comments => comments,
            timeline => timeline, actions => actions,
            error => notice.error,
            done => notice.done,
            fv => finding_values, ferr => finding_errors,
            upgrade => upgrade,
        } },
    )
}

async fn detail_page(
    State(st): State<AppState>,
    u: UiUser,
    jar: axum_extra::extract::cookie::CookieJar,
    Path(key): Path<String>,
) -> Result<Response, UiError> {
    let (done, jar) = super::take_flash(jar);
    let page = detail(
        &st,
        &u,
        &key,
        Notice {
            done,
            ..Notice::default()
        },
    )
    .await?;
    Ok((jar, page).into_response())
}

/// After an action: back to the request page, or the page again with the error.
async fn after(
    st: &AppState,
    u: &UiUser,
    key: &str,
    anchor: &str,
    done: &'static str,
    outcome: Result<(), ApiError>,
) -> Result<Response, UiError> {
    match outcome {
        Ok(()) => Ok(super::redirect_done(
            &format!("/requests/{}{anchor}", urlencode(key)),
            done,
        )),
        Err(e @ (ApiError::NotFound(_) | ApiError::Unauthenticated | ApiError::Internal(_))) => {
            Err(e.into())
        }
        Err(e) => {
            let message = e.to_string();
            let status = e.into_response().status();
            let page = detail(
                st,
                u,
                key,
                Notice {
                    error: Some(message),
                    ..Default::default()
                },
            )
            .await?;
            Ok((status, page).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
}

fn required(field: &'static str, text: &str, why: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(valet_core::CoreError::Invalid {
            field,
            why: why.into(),
        }
        .into());
    }
    Ok(())
}

async fn reject(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
    Form(f): Form<ReasonForm>,
) -> Result<Response, UiError> {
    let outcome = async {
        required("reason", &f.reason, "say why the request is rejected")?;
        val::reject(&st.store, &u.user.actor(), &key, f.reason.trim()).await?;
        Ok::<(), ApiError>(())
    }
    .await;
    after(&st, &u, &key, "", "rejected", outcome).await
}

async fn cancel(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
    Form(f): Form<ReasonForm>,
) -> Result<Response, UiError> {
    let outcome = async {
        required("reason", &f.reason, "say why the request is cancelled")?;
        let actor = u.user.actor();
        if requests::get(&st.store, &actor, &key)
            .await?
            .kind
            .is_prod_upgrade()
        {
            // Releases the booking too: the calendar gets a CANCEL.
            valet_ops::upgrade::cancel(&st.store, &actor, &key, f.reason.trim()).await?;
        } else {
            val::cancel(&st.store, &actor, &key, f.reason.trim()).await?;
        }
        Ok::<(), ApiError>(())
    }
    .await;
    after(&st, &u, &key, "", "cancelled", outcome).await
}

/// Starts a booked upgrade now (PM or engineer, reason audited).
async fn run_start(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
    Form(f): Form<ReasonForm>,
) -> Result<Response, UiError> {
    let outcome = async {
        required(
            "reason",
            &f.reason,
            "say why the upgrade starts before its slot",
        )?;
        valet_ops::upgrade_run::start_now(&st.store, &u.user.actor(), &key, f.reason.trim())
            .await?;
        Ok::<(), ApiError>(())
    }
    .await;
    after(&st, &u, &key, "#run", "started", outcome).await
}

/// Releases the environment an upgrade run waits for.
async fn run_confirm(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
) -> Result<Response, UiError> {
    let outcome = async {
        valet_ops::upgrade_run::confirm(&st.store, &u.user.actor(), &key).await?;
        Ok::<(), ApiError>(())
    }
    .await;
    after(&st, &u, &key, "#run", "released", outcome).await
}

/// Aborts a running upgrade: it rolls back after its current step.
async fn run_abort(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
    Form(f): Form<ReasonForm>,
) -> Result<Response, UiError> {
    let outcome = async {
        required("reason", &f.reason, "say why the upgrade is aborted")?;
        valet_ops::upgrade_run::abort(&st.store, &u.user.actor(), &key, f.reason.trim()).await?;
        Ok::<(), ApiError>(())
    }
    .await;
    after(&st, &u, &key, "#run", "aborting", outcome).await
}

async fn close(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
    Form(f): Form<ReasonForm>,
) -> Result<Response, UiError> {
    let outcome = val::close(&st.store, &u.user.actor(), &key, f.reason.trim())
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    after(&st, &u, &key, "", "closing", outcome).await
}

async fn retry(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
) -> Result<Response, UiError> {
    let outcome = val::retry(&st.store, &u.user.actor(), &key)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    after(&st, &u, &key, "#run", "retried", outcome).await
}

#[derive(Debug, Deserialize)]
pub struct ExtensionForm {
    #[serde(default)]
    end: String,
    #[serde(default)]
    reason: String,
}

async fn extension(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
    Form(f): Form<ExtensionForm>,
) -> Result<Response, UiError> {
    let outcome = val::request_extension(&st.store, &u.user.actor(), &key, &f.end, &f.reason)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    after(&st, &u, &key, "", "extension", outcome).await
}

async fn approve_extension(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
) -> Result<Response, UiError> {
    let outcome = val::approve_extension(&st.store, &u.user.actor(), &key)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    after(&st, &u, &key, "", "extended", outcome).await
}

#[derive(Debug, Deserialize)]
pub struct CommentForm {
    #[serde(default)]
    body: String,
}

async fn comment(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
    Form(f): Form<CommentForm>,
) -> Result<Response, UiError> {
    let outcome = async {
        required("comment", &f.body, "the comment is empty")?;
        val::comment(&st.store, &u.user.actor(), &key, f.body.trim()).await?;
        Ok::<(), ApiError>(())
    }
    .await;
    after(&st, &u, &key, "#comments", "commented", outcome).await
}

async fn file_finding(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
    Form(f): Form<NewFinding>,
) -> Result<Response, UiError> {
    match val::file_finding(&st.store, &u.user.actor(), &key, f.clone()).await {
        Ok(_) => Ok(super::redirect_done(
            &format!("/requests/{}#findings", urlencode(&key)),
            "finding",
        )),
        Err(e) => match ApiError::from(e) {
            ApiError::Fields(errs) => {
                let page = detail(
                    &st,
                    &u,
                    &key,
                    Notice {
                        finding: Some((f, errs)),
                        ..Default::default()
                    },
                )
                .await?;
                Ok((StatusCode::BAD_REQUEST, page).into_response())
            }
            other => after(&st, &u, &key, "#findings", "finding", Err(other)).await,
        },
    }
}

#[derive(Debug, Deserialize)]
pub struct FindingForm {
    #[serde(default)]
    text: String,
}

async fn resolve_finding(
    st: State<AppState>,
    u: UiUser,
    key: Path<String>,
    f: Form<FindingForm>,
) -> Result<Response, UiError> {
    set_finding(st, u, key, f, FindingState::Resolved).await
}

async fn accept_finding(
    st: State<AppState>,
    u: UiUser,
    key: Path<String>,
    f: Form<FindingForm>,
) -> Result<Response, UiError> {
    set_finding(st, u, key, f, FindingState::Accepted).await
}

async fn reopen_finding(
    st: State<AppState>,
    u: UiUser,
    key: Path<String>,
    f: Form<FindingForm>,
) -> Result<Response, UiError> {
    set_finding(st, u, key, f, FindingState::Open).await
}

async fn set_finding(
    State(st): State<AppState>,
    u: UiUser,
    Path(fkey): Path<String>,
    Form(f): Form<FindingForm>,
    to: FindingState,
) -> Result<Response, UiError> {
    let actor = u.user.actor();
    let finding = valet_store::findings::get(&st.store, &actor, &fkey).await?;
    let outcome = val::set_finding(&st.store, &actor, &fkey, to, &f.text)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    after(
        &st,
        &u,
        &finding.request_key,
        "#findings",
        "finding_updated",
        outcome,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    body: String,
}

async fn answer_finding(
    State(st): State<AppState>,
    u: UiUser,
    Path(fkey): Path<String>,
    Form(f): Form<AnswerForm>,
) -> Result<Response, UiError> {
    let actor = u.user.actor();
    let finding = valet_store::findings::get(&st.store, &actor, &fkey).await?;
    let outcome = valet_ops::val::answer_finding(&st.store, &actor, &fkey, &f.body)
        .await
        .map(|_| ())
        .map_err(ApiError::from);
    let to = &finding.request_key;
    after(&st, &u, to, "#findings", "finding_answered", outcome).await
}

// ---------------------------------------------------------------------------------------
// Signature dialog

#[derive(Debug, Deserialize)]
pub struct SignQuery {
    meaning: Option<String>,
}

async fn sign_page(
    st: &AppState,
    u: &UiUser,
    key: &str,
    meaning: Meaning,
    reason: &str,
    error: Option<String>,
) -> Result<Html<String>, UiError> {
    let actor = u.user.actor();
    let r = requests::get(&st.store, &actor, key).await?;
    render(
        "sign.html",
        context! { ..base(u, "requests"), ..context! {
            r => context! {
                key => r.key, title => r.title, state => r.state.as_str(),
                customer => r.customer_name, kind => r.kind.as_str(),
            },
            fields => field_rows(r.kind, &r.details),
            sha => r.content_sha256(),
            meaning => meaning.as_str(), statement => meaning.statement(),
            signer => u.user.display_name, username => u.user.username,
            reason => reason, error => error,
        } },
    )
}

fn meaning_of(s: Option<&str>) -> Result<Meaning, UiError> {
    Ok(s.unwrap_or("approved").parse::<Meaning>()?)
}

async fn sign_form(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
    Query(q): Query<SignQuery>,
) -> Result<Html<String>, UiError> {
    let meaning = meaning_of(q.meaning.as_deref())?;
    sign_page(&st, &u, &key, meaning, "", None).await
}

#[derive(Debug, Deserialize)]
pub struct SignForm {
    meaning: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    reason: String,
}

async fn sign(
    State(st): State<AppState>,
    u: UiUser,
    Path(key): Path<String>,
    Form(f): Form<SignForm>,
) -> Result<Response, UiError> {
    let meaning = meaning_of(Some(f.meaning.as_str()))?;
    let actor = u.user.actor();
    let reason = opt(&f.reason);
    let outcome = match meaning {
        Meaning::Approved => val::approve(&st.store, &actor, &key, &f.password, reason.as_deref())
            .await
            .map(|_| ()),
        m => val::sign(&st.store, &actor, &key, &f.password, m, reason.as_deref())
            .await
            .map(|_| ()),
    };
    match outcome.map_err(ApiError::from) {
        Ok(()) => Ok(super::redirect_done(
            &format!("/requests/{}#signatures", urlencode(&key)),
            "signed",
        )),
        Err(ApiError::Unauthenticated) => {
            let page = sign_page(
                &st,
                &u,
                &key,
                meaning,
                &f.reason,
                Some(
                    "The password is wrong; nothing was signed. Enter your own password again."
                        .into(),
                ),
            )
            .await?;
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
        Err(e @ (ApiError::NotFound(_) | ApiError::Internal(_))) => Err(e.into()),
        Err(e) => {
            let message = e.to_string();
            let status = e.into_response().status();
            let page = sign_page(&st, &u, &key, meaning, &f.reason, Some(message)).await?;
            Ok((status, page).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, actor: &str, step: i64, secs: i64) -> valet_store::audit::AuditEvent {
        valet_store::audit::AuditEvent {
            seq: secs,
            at: jiff::Timestamp::from_second(1_800_000_000 + secs).unwrap(),
            actor_id: actor.into(),
            actor_name: actor.into(),
            actor_role: "vendor_engineer".into(),
            customer_id: None,
            action: action.into(),
            object_type: "run".into(),
            object_id: "r1".into(),
            before: None,
            after: Some(serde_json::json!({"step": step, "name": "smoke", "state": "done"})),
            reason: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn valets_own_changes_are_valets_not_an_administrators() {
        let mine = event("request.val_pair", "system", 0, 0);
        let t = timeline_of(&[mine, event("run.confirm", "pat.pm", 0, 1)]);
        assert_eq!(t[0].get_attr("actor").unwrap().to_string(), "valet");
        assert_eq!(t[0].get_attr("role").unwrap().to_string(), "automatic");
        assert_eq!(t[1].get_attr("actor").unwrap().to_string(), "pat.pm");
        assert_eq!(
            t[1].get_attr("role").unwrap().to_string(),
            "vendor_engineer"
        );
    }

    #[test]
    fn stretches_of_run_steps_fold_and_peoples_actions_stay_apart() {
        let mut h = vec![event("run.start", "worker", 0, 0)];
        h.extend((1..=4).map(|n| event("run.step", "worker", n, n)));
        h.push(event("run.confirm", "pat.pm", 0, 5));
        h.extend((5..=6).map(|n| event("run.step", "worker", n, n + 1)));
        h.push(event("document.create", "worker", 0, 8));
        // Ending the next day: the fold's end shows its date.
        h.push(event("run.step", "worker", 7, 9));
        h.extend((8..=9).map(|n| event("run.step", "worker", n, 86_400 + n)));
        let t = timeline_of(&h);
        let shape: Vec<(Option<String>, usize)> = t
            .iter()
            .map(|e| {
                let steps = e.get_attr("steps").unwrap();
                let n = if steps.is_undefined() {
                    0
                } else {
                    steps.len().unwrap()
                };
                (e.get_attr("action").unwrap().as_str().map(str::to_owned), n)
            })
            .collect();
        let action = |a: &str| (Some(a.to_string()), 0);
        assert_eq!(
            shape,
            vec![
                action("run.start"),
                (None, 4),
                action("run.confirm"),
                action("run.step"),
                action("run.step"),
                action("document.create"),
                (None, 3),
            ],
        );
        assert_eq!(t[1].get_attr("until").unwrap().to_string(), "08:00:04 UTC");
        assert_eq!(
            t[1].get_attr("first_change").unwrap().to_string(),
            "step 1 smoke: done"
        );
        assert_eq!(
            t[6].get_attr("until").unwrap().to_string(),
            "2027-01-16 08:00:09 UTC"
        );
    }
}
