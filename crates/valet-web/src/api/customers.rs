use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use valet_core::Customer;
use valet_store::customers;

use utoipa::ToSchema;

use super::{ApiJson, ApiPath, ErrorBody};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

/// The customers the caller may see (a customer's people: their own).
#[utoipa::path(get, path = "/customers", tag = "customers",
    responses((status = 200, body = Vec<Customer>)))]
pub async fn list(
    State(st): State<AppState>,
    Authed(actor): Authed,
) -> Result<Json<Vec<Customer>>, ApiError> {
    Ok(Json(customers::list(&st.store, &actor).await?))
}

/// One customer; another tenant is a 404.
#[utoipa::path(get, path = "/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "The customer's id")),
    responses((status = 200, body = Customer),
        (status = 404, body = ErrorBody, description = "No such customer, or another tenant")))]
pub async fn get(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Customer>, ApiError> {
    Ok(Json(customers::get(&st.store, &actor, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Acme Clinical Research", "zone": "Europe/Berlin"}))]
pub struct NewCustomer {
    /// The organisation's name (1–100 characters).
    name: String,
    /// Its IANA time zone (`Europe/Berlin`); abbreviations such as `CST` are refused.
    zone: String,
}

/// Registers a customer (administrators): 201.
#[utoipa::path(post, path = "/customers", tag = "customers", request_body = NewCustomer,
    responses((status = 201, body = Customer),
        (status = 400, body = ErrorBody, description = "A field is wrong (the zone unknown, the name empty)"),
        (status = 403, body = ErrorBody, description = "Only administrators register customers"),
        (status = 409, body = ErrorBody, description = "A customer of that name exists")))]
pub async fn create(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiJson(body): ApiJson<NewCustomer>,
) -> Result<(StatusCode, Json<Customer>), ApiError> {
    let c = customers::create(&st.store, &actor, &body.name, &body.zone).await?;
    Ok((StatusCode::CREATED, Json(c)))
}
