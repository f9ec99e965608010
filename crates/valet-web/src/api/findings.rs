//! Findings filed against a VAL during validation: filed, answered, resolved, accepted and
//! reopened through `valet_ops::val` (which tells the watchers).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use valet_core::val::FindingState;
use valet_ops::val;
use valet_store::findings::{self, Finding, NewFinding};

use super::requests::visible;
use super::{ApiJson, JsonOrEmpty};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

/// The request's findings, in filing order.
pub async fn of_request(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
) -> Result<Json<Vec<Finding>>, ApiError> {
    Ok(Json(findings::of_request(&st.store, &actor, &key).await?))
}

/// Files a finding; 201, or a 400 naming every wrong field.
pub async fn file(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
    ApiJson(new): ApiJson<NewFinding>,
) -> Result<(StatusCode, Json<Finding>), ApiError> {
    visible(&st, &actor, &key).await?;
    let f = val::file_finding(&st.store, &actor, &key, new).await?;
    Ok((StatusCode::CREATED, Json(f)))
}

/// One finding with its comments.
pub async fn get(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
) -> Result<Json<Finding>, ApiError> {
    Ok(Json(findings::get(&st.store, &actor, &key).await?))
}

#[derive(Debug, Default, Deserialize)]
pub struct AnswerBody {
    #[serde(default)]
    body: String,
}

/// Answers a finding (a comment on it).
pub async fn answer(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
    JsonOrEmpty(body): JsonOrEmpty<AnswerBody>,
) -> Result<Json<Finding>, ApiError> {
    Ok(Json(
        valet_ops::val::answer_finding(&st.store, &actor, &key, &body.body).await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct TextBody {
    #[serde(default)]
    text: String,
}

async fn set(
    st: AppState,
    actor: valet_core::Actor,
    key: String,
    to: FindingState,
    text: String,
) -> Result<Json<Finding>, ApiError> {
    findings::get(&st.store, &actor, &key).await?;
    Ok(Json(
        val::set_finding(&st.store, &actor, &key, to, &text).await?,
    ))
}

/// The vendor resolved it (`text` says how).
pub async fn resolve(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
    JsonOrEmpty(body): JsonOrEmpty<TextBody>,
) -> Result<Json<Finding>, ApiError> {
    set(st, actor, key, FindingState::Resolved, body.text).await
}

/// A customer admin accepts it as it is (`text` says why).
pub async fn accept(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
    JsonOrEmpty(body): JsonOrEmpty<TextBody>,
) -> Result<Json<Finding>, ApiError> {
    set(st, actor, key, FindingState::Accepted, body.text).await
}

/// Opens it again (`text` says why).
pub async fn reopen(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
    JsonOrEmpty(body): JsonOrEmpty<TextBody>,
) -> Result<Json<Finding>, ApiError> {
    set(st, actor, key, FindingState::Open, body.text).await
}
