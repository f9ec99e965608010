//! JSON API `/api/v1`.

mod audit;
mod customers;
mod environments;
mod releases;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/customers", get(customers::list).post(customers::create))
        .route("/customers/{id}", get(customers::get))
        .route(
            "/environments",
            get(environments::list).post(environments::create),
        )
        .route("/environments/{id}", get(environments::get))
        .route("/audit", get(audit::list))
        .route("/releases", get(releases::list).post(releases::import))
        .route("/releases/{build}", get(releases::get))
        .route("/releases/{build}/publish", post(releases::publish))
        .route("/release-notes", get(releases::notes))
        .route("/release-notes/search", get(releases::search))
        .route("/version-lag", get(releases::lag))
        .route("/version-lag/{customer_id}", get(releases::lag_of))
}

async fn me(Authed(actor): Authed) -> Json<serde_json::Value> {
    Json(json!({
        "user_id": actor.user_id,
        "username": actor.username,
        "role": actor.role,
        "customer_id": actor.customer_id,
    }))
}

/// A JSON body whose parse errors become a 400 saying what was wrong.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(e @ JsonRejection::MissingJsonContentType(_)) => Err(ApiError::BadRequest(
                format!("{e}; send the body as JSON with `Content-Type: application/json`"),
            )),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}
