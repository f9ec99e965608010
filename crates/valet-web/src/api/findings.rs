//! Findings filed against a VAL during validation: filed, answered, resolved, accepted and
//! reopened through `valet_ops::val` (which tells the watchers).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use valet_core::val::FindingState;
use valet_ops::val;
use valet_store::findings::{self, Finding, NewFinding};

use super::requests::visible;
use utoipa::ToSchema;

use super::{ApiJson, ApiPath, ErrorBody, JsonOrEmpty};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

/// The request's findings, in filing order.
#[utoipa::path(get, path = "/requests/{key}/findings", tag = "findings", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    responses((status = 200, body = Vec<Finding>), (status = 404, body = ErrorBody, description = "No such request, or another tenant's")))]
pub async fn of_request(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Vec<Finding>>, ApiError> {
    Ok(Json(findings::of_request(&st.store, &actor, &key).await?))
}

/// Files a finding; 201, or a 400 naming every wrong field.
#[utoipa::path(post, path = "/requests/{key}/findings", tag = "findings", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    request_body = NewFinding,
    responses((status = 201, body = Finding),
        (status = 400, body = ErrorBody, description = "Wrong fields, each named"),
        (status = 403, body = ErrorBody, description = "The role may not file findings"),
        (status = 404, body = ErrorBody, description = "No such request, or another tenant's"),
        (status = 409, body = ErrorBody, description = "The request is not in validation")))]
pub async fn file(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    ApiJson(new): ApiJson<NewFinding>,
) -> Result<(StatusCode, Json<Finding>), ApiError> {
    visible(&st, &actor, &key).await?;
    let f = val::file_finding(&st.store, &actor, &key, new).await?;
    Ok((StatusCode::CREATED, Json(f)))
}

/// One finding with its comments.
#[utoipa::path(get, path = "/findings/{key}", tag = "findings", params(("key" = String, Path, description = "The finding's key, e.g. `VAL-12-F3`")),
    responses((status = 200, body = Finding),
        (status = 404, body = ErrorBody, description = "No such finding, or another tenant's")))]
pub async fn get(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Finding>, ApiError> {
    Ok(Json(findings::get(&st.store, &actor, &key).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AnswerBody {
    /// The answer (a comment on the finding).
    #[serde(default)]
    body: String,
}

/// Answers a finding (a comment on it).
#[utoipa::path(post, path = "/findings/{key}/answer", tag = "findings", params(("key" = String, Path, description = "The finding's key, e.g. `VAL-12-F3`")),
    request_body = AnswerBody,
    responses((status = 200, body = Finding),
        (status = 400, body = ErrorBody, description = "An empty answer"),
        (status = 404, body = ErrorBody, description = "No such finding, or another tenant's")))]
pub async fn answer(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<AnswerBody>,
) -> Result<Json<Finding>, ApiError> {
    Ok(Json(
        valet_ops::val::answer_finding(&st.store, &actor, &key, &body.body).await?,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TextBody {
    /// How it was resolved, or why it is accepted or reopened.
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
#[utoipa::path(post, path = "/findings/{key}/resolve", tag = "findings", params(("key" = String, Path, description = "The finding's key, e.g. `VAL-12-F3`")),
    request_body = TextBody,
    responses((status = 200, body = Finding),
        (status = 400, body = ErrorBody, description = "The text is missing"),
        (status = 403, body = ErrorBody, description = "The role may not do this"),
        (status = 404, body = ErrorBody, description = "No such finding, or another tenant's"),
        (status = 409, body = ErrorBody, description = "The finding's state does not allow it")))]
pub async fn resolve(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<TextBody>,
) -> Result<Json<Finding>, ApiError> {
    set(st, actor, key, FindingState::Resolved, body.text).await
}

/// A customer admin accepts it as it is (`text` says why).
#[utoipa::path(post, path = "/findings/{key}/accept", tag = "findings", params(("key" = String, Path, description = "The finding's key, e.g. `VAL-12-F3`")),
    request_body = TextBody,
    responses((status = 200, body = Finding),
        (status = 400, body = ErrorBody, description = "The text is missing"),
        (status = 403, body = ErrorBody, description = "The role may not do this"),
        (status = 404, body = ErrorBody, description = "No such finding, or another tenant's"),
        (status = 409, body = ErrorBody, description = "The finding's state does not allow it")))]
pub async fn accept(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<TextBody>,
) -> Result<Json<Finding>, ApiError> {
    set(st, actor, key, FindingState::Accepted, body.text).await
}

/// Opens it again (`text` says why).
#[utoipa::path(post, path = "/findings/{key}/reopen", tag = "findings", params(("key" = String, Path, description = "The finding's key, e.g. `VAL-12-F3`")),
    request_body = TextBody,
    responses((status = 200, body = Finding),
        (status = 400, body = ErrorBody, description = "The text is missing"),
        (status = 403, body = ErrorBody, description = "The role may not do this"),
        (status = 404, body = ErrorBody, description = "No such finding, or another tenant's"),
        (status = 409, body = ErrorBody, description = "The finding's state does not allow it")))]
pub async fn reopen(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<TextBody>,
) -> Result<Json<Finding>, ApiError> {
    set(st, actor, key, FindingState::Open, body.text).await
}
