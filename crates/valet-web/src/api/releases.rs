use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use valet_core::catalog::{CumulativeNotes, Note};
use valet_ops::documents::release_notes::{render, Format};
use valet_store::releases::{self, EnvironmentLag, Release, SearchHit};

use super::{ApiPath, ApiQuery, ErrorBody, JsonOrEmpty};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

/// The catalog: every release the caller may see (customers: published ones), newest first.
#[utoipa::path(get, path = "/releases", tag = "releases",
    responses((status = 200, body = Vec<Release>)))]
pub async fn list(
    State(st): State<AppState>,
    Authed(actor): Authed,
) -> Result<Json<Vec<Release>>, ApiError> {
    Ok(Json(releases::list(&st.store, &actor).await?))
}

/// A release with its notes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseWithNotes {
    pub release: Release,
    pub notes: Vec<Note>,
}

/// One release with its notes; a customer asking for an unpublished one gets a 404.
#[utoipa::path(get, path = "/releases/{build}", tag = "releases", params(("build" = String, Path, description = "The build, e.g. `24.3.0.1300`")),
    responses((status = 200, body = ReleaseWithNotes),
        (status = 400, body = ErrorBody, description = "Not a build number"),
        (status = 404, body = ErrorBody, description = "No such release")))]
pub async fn get(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(build): ApiPath<String>,
) -> Result<Json<ReleaseWithNotes>, ApiError> {
    let release = releases::get(&st.store, &actor, &build).await?;
    let notes = releases::notes_of(&st.store, &actor, &release.build.to_string()).await?;
    Ok(Json(ReleaseWithNotes { release, notes }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Name of the manifest file, used in error messages.
    file: Option<String>,
}

/// Imports one manifest: the request body is the manifest's TOML text.
#[utoipa::path(post, path = "/releases", tag = "releases", params(ImportQuery),
    request_body(content = String, content_type = "application/toml",
        description = "A release manifest (TOML), as in `examples/clinic/releases/`"),
    responses((status = 201, body = Release),
        (status = 400, body = ErrorBody, description = "The manifest is malformed: the file, line and field say where"),
        (status = 403, body = ErrorBody, description = "The role may not import releases"),
        (status = 409, body = ErrorBody, description = "The build is in the catalog already, with other contents")))]
pub async fn import(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiQuery(q): ApiQuery<ImportQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<Release>), ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the manifest must be UTF-8 TOML text".into()))?;
    let file = q.file.unwrap_or_else(|| "request body".into());
    let r = releases::import(&st.store, &actor, text, &file).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PublishBody {
    /// Why a hotfix is published (kept in the audit trail).
    reason: Option<String>,
}

/// Publishes a release to customers (a hotfix is offered to every PROD pair it applies to).
#[utoipa::path(post, path = "/releases/{build}/publish", tag = "releases", params(("build" = String, Path, description = "The build, e.g. `24.3.0.1300`")),
    request_body = PublishBody,
    responses((status = 200, body = Release),
        (status = 403, body = ErrorBody, description = "The role may not publish"),
        (status = 404, body = ErrorBody, description = "No such release"),
        (status = 409, body = ErrorBody, description = "Published already")))]
pub async fn publish(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(build): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<PublishBody>,
) -> Result<Json<Release>, ApiError> {
    let reason = body.reason;
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotesQuery {
    /// The build the customer is on (excluded).
    from: String,
    /// The build it moves to (included).
    to: String,
    /// `json` (the default), `md`, `html`, `csv` or `pdf`.
    format: Option<String>,
}

/// Cumulative notes `(from, to]`, as JSON (default), `md`, `html`, `csv` or `pdf`.
#[utoipa::path(get, path = "/release-notes", tag = "releases", params(NotesQuery),
    responses((status = 200, description = "The notes of every release after `from` up to `to`",
            content((CumulativeNotes = "application/json"), ("text/markdown; charset=utf-8"),
                ("text/html; charset=utf-8"), ("text/csv; charset=utf-8"), ("application/pdf"))),
        (status = 400, body = ErrorBody, description = "A build or the format is wrong"),
        (status = 404, body = ErrorBody, description = "No such release")))]
pub async fn notes(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiQuery(q): ApiQuery<NotesQuery>,
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words to find in notes' titles and texts.
    q: String,
    /// At most this many hits (1–500, default 50).
    limit: Option<i64>,
}

/// Full-text search of the release notes the caller may see.
#[utoipa::path(get, path = "/release-notes/search", tag = "releases", params(SearchQuery),
    responses((status = 200, body = Vec<SearchHit>),
        (status = 400, body = ErrorBody, description = "No words to search for")))]
pub async fn search(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<Vec<SearchHit>>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    Ok(Json(
        releases::search(&st.store, &actor, &q.q, limit).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LagQuery {
    /// Only this customer's environments.
    customer_id: Option<String>,
}

/// Version lag of every environment the caller may see.
#[utoipa::path(get, path = "/version-lag", tag = "releases", params(LagQuery),
    responses((status = 200, body = Vec<EnvironmentLag>),
        (status = 404, body = ErrorBody, description = "No such customer, or another tenant")))]
pub async fn lag(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiQuery(q): ApiQuery<LagQuery>,
) -> Result<Json<Vec<EnvironmentLag>>, ApiError> {
    Ok(Json(
        releases::version_lag(&st.store, &actor, q.customer_id.as_deref()).await?,
    ))
}

/// Version lag of one customer's environments; another tenant's is a 404.
#[utoipa::path(get, path = "/version-lag/{customer_id}", tag = "releases",
    params(("customer_id" = String, Path, description = "The customer's id")),
    responses((status = 200, body = Vec<EnvironmentLag>),
        (status = 404, body = ErrorBody, description = "No such customer, or another tenant")))]
pub async fn lag_of(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(customer_id): ApiPath<String>,
) -> Result<Json<Vec<EnvironmentLag>>, ApiError> {
    Ok(Json(
        releases::version_lag(&st.store, &actor, Some(&customer_id)).await?,
    ))
}
