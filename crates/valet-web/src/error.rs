//! The one place errors become HTTP responses.
//!
//! 400 for bad input (with the field and how to fix it), 401, 403, 404 (also for another
//! tenant's objects, indistinguishable from missing ones), 409 for conflicts and illegal state
//! changes, 413 for bodies over a limit, 500 with a correlation id and no internals.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use valet_core::CoreError;
use valet_store::StoreError;

use crate::api::{ErrorBody, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// Bad input in named fields: a 400 whose body lists each field and its message.
    #[error("{}", valet_core::CoreError::Fields(.0.clone()))]
    Fields(Vec<valet_core::FieldError>),
    #[error("sign in: send `Authorization: Bearer <API token>` or HTTP basic credentials")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A body over the endpoint's size limit (413).
    #[error("{0}")]
    TooLarge(String),
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Unauthenticated => ApiError::Unauthenticated,
            StoreError::Core(c) => c.into(),
            StoreError::Manifest(_) => ApiError::BadRequest(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<valet_ops::OpsError> for ApiError {
    fn from(e: valet_ops::OpsError) -> Self {
        match e {
            valet_ops::OpsError::Store(s) => s.into(),
            valet_ops::OpsError::Core(c) => c.into(),
            valet_ops::OpsError::Payload(m) => ApiError::BadRequest(m),
            e @ valet_ops::OpsError::HotfixNotAccepted { .. } => ApiError::Conflict(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Forbidden { .. } => ApiError::Forbidden(e.to_string()),
            CoreError::IllegalTransition { .. } => ApiError::Conflict(e.to_string()),
            CoreError::Parse { .. } => ApiError::BadRequest(e.to_string()),
            CoreError::Invalid { field, why } => {
                ApiError::Fields(vec![valet_core::FieldError::new(field, why)])
            }
            CoreError::Fields(f) => ApiError::Fields(f),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest(_) | ApiError::Fields(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::BadRequest)
            }
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        };
        let mut body = ErrorBody {
            error: code,
            message: self.to_string(),
            fields: None,
            correlation_id: None,
        };
        match &self {
            ApiError::Internal(detail) => {
                let id = uuid::Uuid::new_v4().simple().to_string();
                tracing::error!(correlation_id = %id, error = %detail, "request failed");
                body.message = format!("internal error; quote {id} when reporting it");
                body.correlation_id = Some(id);
            }
            ApiError::Fields(f) => body.fields = Some(f.clone()),
            _ => {}
        }
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"valet\", charset=\"UTF-8\""),
            );
        }
        resp
    }
}
