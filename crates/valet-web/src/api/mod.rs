//! JSON API `/api/v1`.

mod audit;
mod customers;
mod documents;
mod environments;
mod findings;
mod hotfixes;
mod openapi;
mod releases;
mod requests;
mod runs;
mod schedule;
mod webhooks;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use valet_core::Role;

pub use openapi::{finish, ApiDoc, ErrorBody, ErrorCode};
pub(crate) use requests::signing;

use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

/// The API's routes with their OpenAPI description, to be nested at `/api/v1`. Every route is
/// registered through `routes!`, which takes its path and method from the handler's
/// `#[utoipa::path]`: what the document says is what the server routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(customers::list, customers::create))
        .routes(routes!(customers::get))
        .routes(routes!(environments::list, environments::create))
        .routes(routes!(environments::get))
        .routes(routes!(audit::list))
        .routes(routes!(releases::list, releases::import))
        .routes(routes!(releases::get))
        .routes(routes!(releases::publish))
        .routes(routes!(releases::notes))
        .routes(routes!(releases::search))
        .routes(routes!(hotfixes::inbox))
        .routes(routes!(hotfixes::accept))
        .routes(routes!(hotfixes::decline))
        .routes(routes!(releases::lag))
        .routes(routes!(releases::lag_of))
        .routes(routes!(requests::list))
        .routes(routes!(requests::create_val))
        .routes(routes!(schedule::create))
        .routes(routes!(schedule::check_slot))
        .routes(routes!(schedule::assess, schedule::set))
        .routes(routes!(schedule::calendar))
        .routes(routes!(schedule::list))
        .routes(routes!(schedule::quiet))
        .routes(routes!(schedule::create_feed, schedule::revoke_feeds))
        .routes(routes!(schedule::feed))
        .routes(routes!(schedule::engineers))
        .routes(routes!(schedule::set_hours))
        .routes(routes!(schedule::add_exception))
        .routes(routes!(schedule::blackouts, schedule::add_blackout))
        .routes(routes!(schedule::remove_blackout))
        .routes(routes!(requests::get))
        .routes(routes!(requests::approve))
        .routes(routes!(requests::reject))
        .routes(routes!(requests::cancel))
        .routes(routes!(requests::close))
        .routes(routes!(requests::retry))
        .routes(routes!(requests::extension))
        .routes(routes!(requests::approve_extension))
        .routes(routes!(requests::sign))
        .routes(routes!(requests::comments, requests::comment))
        .routes(routes!(requests::watch))
        .routes(
            routes!(requests::attachments, requests::attach)
                .layer(DefaultBodyLimit::max(requests::ATTACHMENT_BODY_LIMIT)),
        )
        .routes(routes!(requests::attachment))
        .routes(routes!(requests::history))
        .routes(routes!(findings::of_request, findings::file))
        .routes(routes!(runs::of_request))
        .routes(routes!(runs::events))
        .routes(routes!(runs::start_upgrade))
        .routes(routes!(runs::abort_upgrade))
        .routes(routes!(runs::confirm_upgrade))
        .routes(routes!(documents::of_request))
        .routes(routes!(findings::get))
        .routes(routes!(findings::answer))
        .routes(routes!(findings::resolve))
        .routes(routes!(findings::accept))
        .routes(routes!(findings::reopen))
        .routes(routes!(runs::get))
        .routes(routes!(documents::download))
        .routes(routes!(webhooks::list, webhooks::create))
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user_id: String,
    pub username: String,
    pub role: Role,
    /// The caller's tenant; none for the vendor's people.
    pub customer_id: Option<String>,
}

/// The caller: user, role and tenant.
#[utoipa::path(get, path = "/me", tag = "me", responses((status = 200, body = Me)))]
async fn me(Authed(actor): Authed) -> Json<Me> {
    Json(Me {
        user_id: actor.user_id,
        username: actor.username,
        role: actor.role,
        customer_id: actor.customer_id,
    })
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
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(JsonOrEmpty)
            .map_err(|e| {
                let at = e.path().to_string();
                let why = e.into_inner();
                ApiError::BadRequest(if at == "." {
                    format!("the body is not the JSON expected: {why}")
                } else {
                    format!("the body is not the JSON expected: `{at}`: {why}")
                })
            })
    }
}

/// A query string whose parse errors become a 400 (the error body, not axum's plain text)
/// saying which parameter was wrong.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "{}; check the query string's parameters",
                    e.body_text()
                ))
            })
    }
}

/// Path parameters whose parse errors (a segment that is not UTF-8 once decoded) become a 400
/// with the error body, not axum's plain text.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e| ApiError::BadRequest(format!("{}; check the URL's path", e.body_text())))
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
