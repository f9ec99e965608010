//! valet's HTTP face: the JSON API under `/api/v1`, the HTML UI, authentication, and
//! the one mapping of errors to HTTP statuses. Handlers are thin: they authenticate, call
//! `valet-store` with the caller's actor (which scopes every query to the caller's tenant),
//! and serialise. No SQL here.

pub mod api;
pub mod auth;
pub mod error;
pub mod ui;

use std::future::Future;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use valet_core::val::ValRules;
use valet_store::Store;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    /// Limits a VAL request is checked against (longest validation period).
    pub val_rules: ValRules,
    /// The managed app's profile (its activity query feeds the quiet-time heatmap).
    pub profile: Option<std::sync::Arc<valet_ops::profile::AppProfile>>,
    /// The address people reach this server at, for links in calendars and e-mails.
    pub base_url: Option<String>,
    /// Days of notice an accepted hotfix's upgrade needs, per severity.
    pub hotfix_notice: valet_core::hotfix::HotfixNotice,
}

impl AppState {
    /// State over `store` with the default rules.
    pub fn new(store: Store) -> AppState {
        AppState {
            store,
            val_rules: ValRules::default(),
            profile: None,
            base_url: None,
            hotfix_notice: Default::default(),
        }
    }
}

/// The whole application: `/healthz`, `/api/v1` with its OpenAPI document, and the UI.
pub fn app(state: AppState) -> Router {
    let (api, doc) = api_parts();
    let doc = std::sync::Arc::new(document_json(&doc));
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .merge(api)
        .route(
            "/api/v1/openapi.json",
            get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    doc.as_str().to_owned(),
                )
            }),
        )
        .merge(ui::router())
        .fallback(not_found);
    with_security_headers(routes)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The API's router at `/api/v1` and its OpenAPI document, from the same handlers.
pub(crate) fn api_parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi;
    let (router, mut doc) =
        utoipa_axum::router::OpenApiRouter::with_openapi(api::ApiDoc::openapi())
            .nest("/api/v1", api::router())
            .split_for_parts();
    api::finish(&mut doc);
    (router, doc)
}

/// The OpenAPI 3.1 document of `/api/v1` (served at `/api/v1/openapi.json`), as JSON.
pub fn openapi_json() -> String {
    document_json(&api_parts().1)
}

fn document_json(doc: &utoipa::openapi::OpenApi) -> String {
    // Plain data with string keys: serialising it cannot fail.
    doc.to_pretty_json()
        .expect("the OpenAPI document serialises")
}

/// What a browser may do with valet's responses: scripts and everything else only from
/// valet's own origin (no inline script: an injected `<script>` does not run), framed only by
/// valet's own pages (the release notes), forms posted only to valet (no clickjacking of a
/// signature dialog, no form sent elsewhere); no content sniffing, no referrer to other sites.
/// Inline styles stay allowed (the templates use them; they run no code).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

/// `router` setting [`CONTENT_SECURITY_POLICY`] and its companions on every response that
/// does not set them itself. A PDF shown in the browser (the release notes' PDF link) gets no
/// policy: the browser's own viewer runs under the document's policy, and `object-src 'none'`
/// keeps Chrome's from loading it.
fn with_security_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    use axum::http::header;
    let set = |name, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let policy = |r: &axum::http::Response<axum::body::Body>| {
        let pdf = r
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"application/pdf"));
        (!pdf).then(|| HeaderValue::from_static(CONTENT_SECURITY_POLICY))
    };
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            policy,
        ))
        .layer(set(header::X_FRAME_OPTIONS, "SAMEORIGIN"))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::REFERRER_POLICY, "same-origin"))
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz(State(st): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    match st.store.schema_version().await {
        Ok(v) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "schema_version": v })),
        ),
        Err(e) => {
            tracing::error!(error = %e, "health check: state database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "message": "state database unreachable" })),
            )
        }
    }
}

/// An unknown address: the API's JSON error under `/api/` or for a client that does not
/// ask for HTML; the UI's page for a browser.
async fn not_found(
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let browser = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let missing = error::ApiError::NotFound("no such endpoint; the API lives under /api/v1".into());
    if browser && !uri.path().starts_with("/api/") {
        ui::UiError(missing).into_response()
    } else {
        missing.into_response()
    }
}
