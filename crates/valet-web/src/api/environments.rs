use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use valet_store::environments::{self, Environment, NewPair, Pair};

use super::ApiJson;
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    customer_id: Option<String>,
}

pub async fn list(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Environment>>, ApiError> {
    Ok(Json(
        environments::list(&st.store, &actor, q.customer_id.as_deref()).await?,
    ))
}

pub async fn get(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(id): Path<String>,
) -> Result<Json<Environment>, ApiError> {
    Ok(Json(environments::get(&st.store, &actor, &id).await?))
}

/// Registers a Main + Test pair (`201` with both members).
pub async fn create(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiJson(body): ApiJson<NewPair>,
) -> Result<(StatusCode, Json<Pair>), ApiError> {
    let pair = environments::create_pair(&st.store, &actor, body).await?;
    Ok((StatusCode::CREATED, Json(pair)))
}
