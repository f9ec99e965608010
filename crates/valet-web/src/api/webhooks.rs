//! Outbound webhook endpoints (admin): registered with a secret that is never returned.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use valet_core::Permission;
use valet_store::notifications::{self, Webhook};

use utoipa::ToSchema;

use super::{ApiJson, ErrorBody};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.com/valet", "secret": "at least sixteen characters"}))]
pub struct NewWebhook {
    /// The tenant whose events it receives; none for every tenant's.
    #[serde(default)]
    customer_id: Option<String>,
    url: String,
    /// HMAC key of the `Valet-Signature` header (at least 16 characters).
    secret: String,
}

/// Registers a webhook (administrators): 201; the secret is never shown again.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, body = Webhook),
        (status = 400, body = ErrorBody, description = "A field is wrong (the URL, a short secret)"),
        (status = 403, body = ErrorBody, description = "Only administrators register webhooks"),
        (status = 404, body = ErrorBody, description = "No such customer")))]
pub async fn create(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiJson(body): ApiJson<NewWebhook>,
) -> Result<(StatusCode, Json<Webhook>), ApiError> {
    if let Some(c) = &body.customer_id {
        valet_store::customers::get(&st.store, &actor, c).await?;
    }
    let w = notifications::add_webhook(
        &st.store,
        &actor,
        body.customer_id.as_deref(),
        &body.url,
        &body.secret,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(w)))
}

/// Every webhook (administrators), without secrets.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, body = Vec<Webhook>),
        (status = 403, body = ErrorBody, description = "Only administrators list webhooks")))]
pub async fn list(
    State(st): State<AppState>,
    Authed(actor): Authed,
) -> Result<Json<Vec<Webhook>>, ApiError> {
    actor.require(Permission::Administer, "list webhooks")?;
    Ok(Json(notifications::all_webhooks(&st.store).await?))
}
