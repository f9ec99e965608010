use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use valet_core::Customer;
use valet_store::customers;

use super::ApiJson;
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

pub async fn list(
    State(st): State<AppState>,
    Authed(actor): Authed,
) -> Result<Json<Vec<Customer>>, ApiError> {
    Ok(Json(customers::list(&st.store, &actor).await?))
}

pub async fn get(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(id): Path<String>,
) -> Result<Json<Customer>, ApiError> {
    Ok(Json(customers::get(&st.store, &actor, &id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    name: String,
    zone: String,
}

pub async fn create(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiJson(body): ApiJson<NewCustomer>,
) -> Result<(StatusCode, Json<Customer>), ApiError> {
    let c = customers::create(&st.store, &actor, &body.name, &body.zone).await?;
    Ok((StatusCode::CREATED, Json(c)))
}
