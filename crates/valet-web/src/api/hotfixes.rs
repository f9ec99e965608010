//! Hotfix acceptance: the caller's inbox (published hotfixes offered to its PROD pairs, with
//! each pair's decision), and the customer admin's e-signed accept (filing the `HFX-N`
//! request with its slots) or decline. Another tenant's pair is a 404.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use valet_ops::hotfix::{self, AcceptInput, DeclineInput, InboxItem};
use valet_store::hotfixes::HotfixDecision;
use valet_store::requests::Request;

use super::{ApiPath, ErrorBody, JsonOrEmpty};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

/// Published hotfixes offered to (or decided for) the caller's PROD pairs, newest first.
#[utoipa::path(get, path = "/hotfixes", tag = "hotfixes",
    responses((status = 200, body = Vec<InboxItem>)))]
pub async fn inbox(
    State(st): State<AppState>,
    Authed(actor): Authed,
) -> Result<Json<Vec<InboxItem>>, ApiError> {
    Ok(Json(hotfix::inbox(&st.store, &actor).await?))
}

/// Accepts a hotfix for one pair: 201 with the `HFX-N` request; 400 naming every wrong field
/// (slots, downtime, password missing), 403 for a wrong password or a role that may not
/// decide, 404 for a pair that is not the caller's, 409 when the pair already has a decision.
#[utoipa::path(post, path = "/hotfixes/{build}/accept", tag = "hotfixes",
    params(("build" = String, Path, description = "The hotfix build, e.g. `24.3.1.1310`")),
    request_body = AcceptInput,
    responses((status = 201, body = Request, description = "The `HFX-N` request, filed with its slots"),
        (status = 400, body = ErrorBody, description = "Wrong fields (slots, downtime, password missing), each named"),
        (status = 403, body = ErrorBody, description = "A wrong password, or a role that may not decide"),
        (status = 404, body = ErrorBody, description = "No such hotfix, or a pair that is not the caller's"),
        (status = 409, body = ErrorBody, description = "The pair already has a decision")))]
pub async fn accept(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(build): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<AcceptInput>,
) -> Result<(StatusCode, Json<Request>), ApiError> {
    let (_, r) = hotfix::accept(&st.store, &actor, &build, body, st.hotfix_notice)
        .await
        .map_err(super::requests::signing)?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// Declines a hotfix for one pair, with a reason: 201 with the signed decision.
#[utoipa::path(post, path = "/hotfixes/{build}/decline", tag = "hotfixes",
    params(("build" = String, Path, description = "The hotfix build, e.g. `24.3.1.1310`")),
    request_body = DeclineInput,
    responses((status = 201, body = HotfixDecision, description = "The signed decision"),
        (status = 400, body = ErrorBody, description = "Wrong fields (reason, password missing), each named"),
        (status = 403, body = ErrorBody, description = "A wrong password, or a role that may not decide"),
        (status = 404, body = ErrorBody, description = "No such hotfix, or a pair that is not the caller's"),
        (status = 409, body = ErrorBody, description = "The pair already has a decision")))]
pub async fn decline(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(build): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<DeclineInput>,
) -> Result<(StatusCode, Json<HotfixDecision>), ApiError> {
    let d = hotfix::decline(&st.store, &actor, &build, body)
        .await
        .map_err(super::requests::signing)?;
    Ok((StatusCode::CREATED, Json(d)))
}
