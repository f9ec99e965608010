//! JSON API `/api/v1`.

mod audit;
mod customers;
mod documents;
mod environments;
mod findings;
mod hotfixes;
mod releases;
mod requests;
mod runs;
mod schedule;
mod webhooks;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;

pub(crate) use requests::signing;

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
        .route("/hotfixes", get(hotfixes::inbox))
        .route("/hotfixes/{build}/accept", post(hotfixes::accept))
        .route("/hotfixes/{build}/decline", post(hotfixes::decline))
        .route("/version-lag", get(releases::lag))
        .route("/version-lag/{customer_id}", get(releases::lag_of))
        .route("/requests", get(requests::list))
        .route("/requests/val", post(requests::create_val))
        .route("/requests/upgrade", post(schedule::create))
        .route("/slots/check", get(schedule::check_slot))
        .route(
            "/requests/{key}/schedule",
            get(schedule::assess).post(schedule::set),
        )
        .route("/requests/{key}/calendar", get(schedule::calendar))
        .route("/schedules", get(schedule::list))
        .route("/quiet", get(schedule::quiet))
        .route(
            "/calendar/feeds",
            post(schedule::create_feed).delete(schedule::revoke_feeds),
        )
        .route("/calendar/feed/{file}", get(schedule::feed))
        .route("/engineers", get(schedule::engineers))
        .route(
            "/engineers/{name}/hours",
            axum::routing::put(schedule::set_hours),
        )
        .route(
            "/engineers/{name}/exceptions",
            post(schedule::add_exception),
        )
        .route(
            "/blackouts",
            get(schedule::blackouts).post(schedule::add_blackout),
        )
        .route(
            "/blackouts/{id}",
            axum::routing::delete(schedule::remove_blackout),
        )
        .route("/requests/{key}", get(requests::get))
        .route("/requests/{key}/approve", post(requests::approve))
        .route("/requests/{key}/reject", post(requests::reject))
        .route("/requests/{key}/cancel", post(requests::cancel))
        .route("/requests/{key}/close", post(requests::close))
        .route("/requests/{key}/retry", post(requests::retry))
        .route("/requests/{key}/extension", post(requests::extension))
        .route(
            "/requests/{key}/extension/approve",
            post(requests::approve_extension),
        )
        .route("/requests/{key}/signatures", post(requests::sign))
        .route(
            "/requests/{key}/comments",
            get(requests::comments).post(requests::comment),
        )
        .route("/requests/{key}/watchers", post(requests::watch))
        .route(
            "/requests/{key}/attachments",
            get(requests::attachments)
                .post(requests::attach)
                .layer(DefaultBodyLimit::max(requests::ATTACHMENT_BODY_LIMIT)),
        )
        .route(
            "/requests/{key}/attachments/{id}",
            get(requests::attachment),
        )
        .route("/requests/{key}/history", get(requests::history))
        .route(
            "/requests/{key}/findings",
            get(findings::of_request).post(findings::file),
        )
        .route("/requests/{key}/runs", get(runs::of_request))
        .route("/requests/{key}/events", get(runs::events))
        .route("/requests/{key}/run/start", post(runs::start_upgrade))
        .route("/requests/{key}/run/abort", post(runs::abort_upgrade))
        .route("/requests/{key}/run/confirm", post(runs::confirm_upgrade))
        .route("/requests/{key}/documents", get(documents::of_request))
        .route("/findings/{key}", get(findings::get))
        .route("/findings/{key}/answer", post(findings::answer))
        .route("/findings/{key}/resolve", post(findings::resolve))
        .route("/findings/{key}/accept", post(findings::accept))
        .route("/findings/{key}/reopen", post(findings::reopen))
        .route("/runs/{id}", get(runs::get))
        .route("/documents/{id}", get(documents::download))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
}

async fn me(Authed(actor): Authed) -> Json<serde_json::Value> {
    Json(json!({
        "user_id": actor.user_id,
        "username": actor.username,
        "role": actor.role,
        "customer_id": actor.customer_id,
    }))
}

/// A JSON body that may be left out (taken as `T::default()`): a call without one gets the
/// field errors of an empty body ("signing needs your password") rather than a content-type
/// complaint.
pub struct JsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(format!(
                    "the request body is larger than this endpoint accepts ({e})"
                ))
            } else {
                ApiError::BadRequest(e.body_text())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonOrEmpty(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(JsonOrEmpty)
            .map_err(|e| ApiError::BadRequest(format!("the body is not the JSON expected: {e}")))
    }
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
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::TooLarge(
                format!("the request body is larger than this endpoint accepts ({e})"),
            )),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}
