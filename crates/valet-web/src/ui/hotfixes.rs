//! The hotfix inbox: each published hotfix offered to the customer's PROD pairs, with its
//! notes, and per pair either the decision on record or the two e-signed forms — accept (with
//! slots like the upgrade form's, and the downtime accepted) or decline (with a reason).
//!
//! Actions go through `valet_ops::hotfix`, as the API's do.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::{context, Value};
use valet_core::Role;
use valet_ops::hotfix::{self, AcceptInput, DeclineInput};

use super::upgrades::UpgradeValues;
use super::{base, render, urlencode, UiError, UiUser};
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hotfixes", get(inbox))
        .route("/hotfixes/{build}/accept", post(accept))
        .route("/hotfixes/{build}/decline", post(decline))
}

/// An error shown above the form it came from.
struct Failed {
    build: String,
    pair: String,
    messages: Vec<String>,
    /// What was typed into the accept form, shown again (the password is not).
    values: Option<UpgradeValues>,
    /// What was typed as the reason for declining.
    reason: String,
}

/// A form field as its label names it, for messages shown above the form.
fn label_of(field: &str) -> &str {
    match field {
        "slots" => "Slots",
        "preferred" => "Preferred slot",
        "downtime_minutes" => "Downtime you can accept",
        "note" => "Note",
        "reason" => "Why not",
        "password" => "Your password",
        "pair" => "PROD pair",
        other => other,
    }
}

async fn page(st: &AppState, u: &UiUser, failed: Option<Failed>) -> Result<Html<String>, UiError> {
    let actor = u.user.actor();
    let items = hotfix::inbox(&st.store, &actor).await?;
    let today = st.store.now().strftime("%Y-%m-%d").to_string();
    let zone = super::upgrades::viewer_zone(st, u).await;
    render(
        "hotfixes.html",
        context! { ..base(u, "hotfixes"), ..context! {
            items => Value::from_serialize(&items),
            decides => actor.role == Role::CustomerAdmin,
            notice => Value::from_serialize(st.hotfix_notice),
            today => today, zone => zone,
            failed_build => failed.as_ref().map(|f| f.build.clone()),
            failed_pair => failed.as_ref().map(|f| f.pair.clone()),
            failed_values => failed.as_ref().and_then(|f| f.values.clone()).map(|v| Value::from_serialize(&v)),
            failed_reason => failed.as_ref().map(|f| f.reason.clone()),
            failed => failed.map(|f| f.messages).unwrap_or_default(),
        } },
    )
}

async fn inbox(State(st): State<AppState>, u: UiUser) -> Result<Html<String>, UiError> {
    page(&st, &u, None).await
}

fn field(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The outcome of a decision: back to the request (accepted) or the inbox, or the page again
/// with what was wrong.
async fn after(
    st: &AppState,
    u: &UiUser,
    build: &str,
    pair: &str,
    typed: (Option<UpgradeValues>, String),
    outcome: Result<String, ApiError>,
) -> Result<Response, UiError> {
    let e = match outcome {
        Ok(to) if to.starts_with("/requests/") => {
            return Ok(super::redirect_done(&to, "hotfix_accepted"))
        }
        Ok(to) => return Ok(Redirect::to(&to).into_response()),
        Err(e) => e,
    };
    let (messages, status) = match e {
        ApiError::Fields(f) => (
            f.iter()
                .map(|f| format!("{}: {}", label_of(&f.field), f.message))
                .collect(),
            StatusCode::BAD_REQUEST,
        ),
        ApiError::BadRequest(m) => (vec![m], StatusCode::BAD_REQUEST),
        ApiError::Forbidden(m) => (vec![m], StatusCode::FORBIDDEN),
        ApiError::Conflict(m) => (vec![m], StatusCode::CONFLICT),
        other => return Err(other.into()),
    };
    let failed = Failed {
        build: build.to_string(),
        pair: pair.to_string(),
        messages,
        values: typed.0,
        reason: typed.1,
    };
    Ok((status, page(st, u, Some(failed)).await?).into_response())
}

async fn accept(
    State(st): State<AppState>,
    u: UiUser,
    Path(build): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, UiError> {
    let v = UpgradeValues::from_form(&fields);
    let filled: Vec<(usize, String)> = v
        .slots
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.is_blank())
        .map(|(i, r)| (i, r.text()))
        .collect();
    let preferred = filled
        .iter()
        .position(|(i, _)| i + 1 == v.preferred)
        .map(|k| k + 1);
    let input = AcceptInput {
        pair: v.pair.clone(),
        password: Some(field(&fields, "password")),
        slots: filled.into_iter().map(|(_, t)| t).collect(),
        preferred,
        downtime_minutes: v.downtime_minutes.trim().parse().ok(),
        note: Some(v.note.clone()),
    };
    let outcome = hotfix::accept(&st.store, &u.user.actor(), &build, input, st.hotfix_notice)
        .await
        .map(|(_, r)| format!("/requests/{}", urlencode(&r.key)))
        .map_err(crate::api::signing);
    after(
        &st,
        &u,
        &build,
        &v.pair,
        (Some(v.clone()), String::new()),
        outcome,
    )
    .await
}

async fn decline(
    State(st): State<AppState>,
    u: UiUser,
    Path(build): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, UiError> {
    let pair = field(&fields, "pair");
    let input = DeclineInput {
        pair: pair.clone(),
        password: Some(field(&fields, "password")),
        reason: field(&fields, "reason"),
    };
    let typed = (None, input.reason.clone());
    let outcome = hotfix::decline(&st.store, &u.user.actor(), &build, input)
        .await
        .map(|_| "/hotfixes".to_string())
        .map_err(crate::api::signing);
    after(&st, &u, &build, &pair, typed, outcome).await
}
