use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use valet_ops::documents::release_notes::{render, Format};
use valet_store::releases::{self, EnvironmentLag, Release, SearchHit};

use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

pub async fn list(
    State(st): State<AppState>,
    Authed(actor): Authed,
) -> Result<Json<Vec<Release>>, ApiError> {
    Ok(Json(releases::list(&st.store, &actor).await?))
}

pub async fn get(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(build): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let r = releases::get(&st.store, &actor, &build).await?;
    let notes = releases::notes_of(&st.store, &actor, &r.build.to_string()).await?;
    Ok(Json(serde_json::json!({ "release": r, "notes": notes })))
}

#[derive(Debug, Deserialize)]
pub struct ImportQuery {
    /// Name of the manifest file, used in error messages.
    file: Option<String>,
}

/// Imports one manifest: the request body is the manifest's TOML text.
pub async fn import(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<Release>), ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the manifest must be UTF-8 TOML text".into()))?;
    let file = q.file.unwrap_or_else(|| "request body".into());
    let r = releases::import(&st.store, &actor, text, &file).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[derive(Debug, Default, Deserialize)]
pub struct PublishBody {
    reason: Option<String>,
}

pub async fn publish(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(build): Path<String>,
    body: Option<Json<PublishBody>>,
) -> Result<Json<Release>, ApiError> {
    let reason = body.and_then(|Json(b)| b.reason);
    let (r, _) = valet_ops::hotfix::publish(
        &st.store,
        &actor,
        &build,
        reason.as_deref(),
        st.base_url.as_deref(),
    )
    .await?;
    Ok(Json(r))
}

#[derive(Debug, Deserialize)]
pub struct NotesQuery {
    from: String,
    to: String,
    format: Option<String>,
}

/// Cumulative notes `(from, to]`, as JSON (default), `md`, `html`, `csv` or `pdf`.
pub async fn notes(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Query(q): Query<NotesQuery>,
) -> Result<Response, ApiError> {
    let format: Format = q
        .format
        .as_deref()
        .unwrap_or("json")
        .parse()
        .map_err(ApiError::BadRequest)?;
    let notes = releases::cumulative_notes(&st.store, &actor, &q.from, &q.to).await?;
    let audience = match &actor.customer_id {
        Some(c) => Some(
            valet_store::customers::get(&st.store, &actor, c)
                .await?
                .name
                .to_string(),
        ),
        None => None,
    };
    let bytes = render(&notes, audience.as_deref(), format).map_err(ApiError::Internal)?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], bytes).into_response())
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: String,
    limit: Option<i64>,
}

pub async fn search(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Vec<SearchHit>>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    Ok(Json(
        releases::search(&st.store, &actor, &q.q, limit).await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct LagQuery {
    customer_id: Option<String>,
}

/// Version lag of every environment the caller may see.
pub async fn lag(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Query(q): Query<LagQuery>,
) -> Result<Json<Vec<EnvironmentLag>>, ApiError> {
    Ok(Json(
        releases::version_lag(&st.store, &actor, q.customer_id.as_deref()).await?,
    ))
}

/// Version lag of one customer's environments; another tenant's is a 404.
pub async fn lag_of(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(customer_id): Path<String>,
) -> Result<Json<Vec<EnvironmentLag>>, ApiError> {
    Ok(Json(
        releases::version_lag(&st.store, &actor, Some(&customer_id)).await?,
    ))
}
