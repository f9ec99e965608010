//! Hotfix acceptance: the caller's inbox (published hotfixes offered to its PROD pairs, with
//! each pair's decision), and the customer admin's e-signed accept (filing the `HFX-N`
//! request with its slots) or decline. Another tenant's pair is a 404.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use valet_ops::hotfix::{self, AcceptInput, DeclineInput, InboxItem};
use valet_store::hotfixes::HotfixDecision;
use valet_store::requests::Request;

use super::JsonOrEmpty;
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

/// Published hotfixes offered to (or decided for) the caller's PROD pairs, newest first.
pub async fn inbox(
    State(st): State<AppState>,
    Authed(actor): Authed,
) -> Result<Json<Vec<InboxItem>>, ApiError> {
    Ok(Json(hotfix::inbox(&st.store, &actor).await?))
}

/// Accepts a hotfix for one pair: 201 with the `HFX-N` request; 400 naming every wrong field
/// (slots, downtime, password missing), 403 for a wrong password or a role that may not
/// decide, 404 for a pair that is not the caller's, 409 when the pair already has a decision.
pub async fn accept(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(build): Path<String>,
    JsonOrEmpty(body): JsonOrEmpty<AcceptInput>,
) -> Result<(StatusCode, Json<Request>), ApiError> {
    let (_, r) = hotfix::accept(&st.store, &actor, &build, body, st.hotfix_notice)
        .await
        .map_err(super::requests::signing)?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// Declines a hotfix for one pair, with a reason: 201 with the signed decision.
pub async fn decline(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(build): Path<String>,
    JsonOrEmpty(body): JsonOrEmpty<DeclineInput>,
) -> Result<(StatusCode, Json<HotfixDecision>), ApiError> {
    let d = hotfix::decline(&st.store, &actor, &build, body)
        .await
        .map_err(super::requests::signing)?;
    Ok((StatusCode::CREATED, Json(d)))
}
