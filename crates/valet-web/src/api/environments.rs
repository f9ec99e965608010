use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use valet_store::environments::{self, Environment, NewPair, Pair};

use utoipa::IntoParams;

use super::{ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this customer's environments.
    customer_id: Option<String>,
}

/// The environments the caller may see.
#[utoipa::path(get, path = "/environments", tag = "environments", params(ListQuery),
    responses((status = 200, body = Vec<Environment>)))]
pub async fn list(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<Environment>>, ApiError> {
    Ok(Json(
        environments::list(&st.store, &actor, q.customer_id.as_deref()).await?,
    ))
}

/// One environment; another tenant's is a 404.
#[utoipa::path(get, path = "/environments/{id}", tag = "environments",
    params(("id" = String, Path, description = "The environment's id")),
    responses((status = 200, body = Environment),
        (status = 404, body = ErrorBody, description = "No such environment, or another tenant's")))]
pub async fn get(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Environment>, ApiError> {
    Ok(Json(environments::get(&st.store, &actor, &id).await?))
}

/// Registers a Main + Test pair (`201` with both members).
#[utoipa::path(post, path = "/environments", tag = "environments", request_body = NewPair,
    responses((status = 201, body = Pair),
        (status = 400, body = ErrorBody, description = "A field is wrong; each is named"),
        (status = 403, body = ErrorBody, description = "The role may not register environments"),
        (status = 404, body = ErrorBody, description = "No such customer"),
        (status = 409, body = ErrorBody, description = "The names are taken")))]
pub async fn create(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiJson(body): ApiJson<NewPair>,
) -> Result<(StatusCode, Json<Pair>), ApiError> {
    let pair = environments::create_pair(&st.store, &actor, body).await?;
    Ok((StatusCode::CREATED, Json(pair)))
}
