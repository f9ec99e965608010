use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use valet_store::audit::{self, AuditEvent};

use utoipa::IntoParams;

use super::{ApiQuery, ErrorBody};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// With `object_id`: only events of this object (`request`, `environment`, …).
    object_type: Option<String>,
    /// With `object_type`: the object's id or key.
    object_id: Option<String>,
    /// At most this many events (1–1000, default 100).
    limit: Option<i64>,
}

/// Audit events the caller may see (a customer sees its own tenant's), newest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEvent>),
        (status = 400, body = ErrorBody, description = "Only one of `object_type` and `object_id` given")))]
pub async fn list(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    let object = match (&q.object_type, &q.object_id) {
        (Some(t), Some(id)) => Some((t.as_str(), id.as_str())),
        (None, None) => None,
        _ => {
            return Err(ApiError::BadRequest(
                "give both `object_type` and `object_id`, or neither".into(),
            ))
        }
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(audit::list(&st.store, &actor, object, limit).await?))
}
