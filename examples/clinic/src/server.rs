//! The clinic HTTP server: `/health`, `/version`, a home page with the environment banner
//! and counts, and a small JSON API. At start it checks that the database schema is at the
//! release it runs, prints a `key: value` banner ending in `ready: true`, and stops
//! gracefully when the `shutdown` future completes.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use sqlx::{AnyPool, Row};

use crate::db::{self, DbUrl, Engine};
use crate::release::{self, ReleaseInfo};
use crate::{configuration, maintenance, schema, Error};

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub db_url: String,
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free port; the banner
    /// shows the one chosen).
    pub listen: String,
    /// Release this server runs (version or build); the database must be at it.
    pub release: String,
    /// Environment name shown in the banner and on every page, e.g. `VAL-ACME`.
    pub env_name: String,
    /// Directory holding the maintenance flag file.
    pub state_dir: PathBuf,
}

struct AppState {
    pool: AnyPool,
    engine: Engine,
    release: &'static ReleaseInfo,
    env_name: String,
    state_dir: PathBuf,
}

type Shared = Arc<AppState>;

/// Checks the database, binds, prints the banner and serves until `shutdown` completes.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db = DbUrl::parse(&config.db_url)?;
    let release = release::require(&config.release)?;
    let pool = db.pool(5).await?;
    let db_release = {
        let mut conn = pool.acquire().await?;
        schema::current_on(db.engine, &mut conn)
            .await
            .with_context(|| format!("reading the schema release of {}", db.redacted()))?
    };
    match db_release {
        None => {
            return Err(Error::NoSchema {
                wanted: release.version.into(),
            }
            .into())
        }
        Some(r) if r.build != release.build => {
            return Err(Error::ReleaseMismatch {
                db: r.version.into(),
                wanted: release.version.into(),
            }
            .into())
        }
        Some(_) => {}
    }
    let db_version = db::server_version(db.engine, &pool).await?;
    let banner_text = {
        let mut conn = pool.acquire().await?;
        configuration::banner_setting(db.engine, &mut conn)
            .await
            .with_context(|| format!("reading the banner setting of {}", db.redacted()))?
            .unwrap_or_else(|| configuration::default_banner(&config.env_name).to_string())
    };
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another process using the port? choose another \
                 with --listen",
                config.listen
            )
        })?;
    let local = listener.local_addr()?;

    let state = Arc::new(AppState {
        pool,
        engine: db.engine,
        release,
        env_name: config.env_name.clone(),
        state_dir: config.state_dir.clone(),
    });
    let app = router(state);

    let started_at = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())?;
    let banner = [
        ("app", "clinic".to_string()),
        ("release", release.version.to_string()),
        ("build", release.build.to_string()),
        ("rust", env!("CLINIC_RUSTC_VERSION").to_string()),
        ("sqlx", "0.8".to_string()),
        ("db_engine", db.engine.name().to_string()),
        ("db_version", db_version),
        ("env", config.env_name.clone()),
        ("banner", banner_text),
        ("listen", local.to_string()),
        ("pid", std::process::id().to_string()),
        ("state_dir", config.state_dir.display().to_string()),
        ("started_at", started_at.to_string()),
        ("ready", "true".to_string()),
    ];
    {
        let mut out = std::io::stdout().lock();
        for (key, value) in banner {
            writeln!(out, "{key}: {value}")?;
        }
        out.flush()?;
    }
    tracing::info!(%local, release = release.version, "serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("server failed")?;
    tracing::info!("stopped");
    Ok(())
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/health", get(health))
        .route("/version", get(version))
        .route("/api/volunteers", get(volunteers))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            maintenance_guard,
        ))
        .with_state(state)
}

/// While maintenance is on, everything but `/health` and `/version` answers 503.
async fn maintenance_guard(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/health" || path == "/version" {
        return next.run(req).await;
    }
    let Some(message) = maintenance::status(&state.state_dir) else {
        return next.run(req).await;
    };
    let text = format!("Down for maintenance: {message}");
    if path.starts_with("/api/") {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "maintenance", "message": text })),
        )
            .into_response();
    }
    let banner = banner_setting(&state).await;
    let body = page(
        &state,
        banner.as_deref(),
        "Down for maintenance",
        &format!("<div class=\"maintenance\">{}</div>", escape(&text)),
    );
    (StatusCode::SERVICE_UNAVAILABLE, Html(body)).into_response()
}

async fn health(State(state): State<Shared>) -> Response {
    match maintenance::status(&state.state_dir) {
        Some(message) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "maintenance",
                "message": message,
                "release": state.release.version,
                "env": state.env_name,
            })),
        )
            .into_response(),
        None => Json(json!({
            "status": "ok",
            "release": state.release.version,
            "env": state.env_name,
        }))
        .into_response(),
    }
}

async fn version(State(state): State<Shared>) -> Result<Response, AppError> {
    let mut conn = state.pool.acquire().await?;
    let db_release = schema::current_on(state.engine, &mut conn).await?;
    Ok(Json(json!({
        "app": "clinic",
        "release": state.release.version,
        "build": state.release.build,
        "db_release": db_release.map(|r| r.version),
        "env": state.env_name,
    }))
    .into_response())
}

async fn count(state: &AppState, table: &str) -> Result<i64, AppError> {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    Ok(sqlx::query_scalar(&sql).fetch_one(&state.pool).await?)
}

async fn home(State(state): State<Shared>) -> Result<Html<String>, AppError> {
    let volunteers = count(&state, "volunteers").await?;
    let studies = count(&state, "studies").await?;
    let events = count(&state, "events").await?;
    let body = format!(
        "<table>\
         <tr><th>Volunteers</th><td id=\"volunteers\">{volunteers}</td></tr>\
         <tr><th>Studies</th><td id=\"studies\">{studies}</td></tr>\
         <tr><th>Events</th><td id=\"events\">{events}</td></tr>\
         </table>\
         <p class=\"meta\">release {} (build {}) on {}</p>",
        state.release.version,
        state.release.build,
        state.engine.name()
    );
    let banner = banner_setting(&state).await;
    Ok(Html(page(&state, banner.as_deref(), "Clinic", &body)))
}

#[derive(Debug, Deserialize)]
struct VolunteerQuery {
    limit: Option<u32>,
}

async fn volunteers(
    State(state): State<Shared>,
    Query(q): Query<VolunteerQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    let limit = q.limit.unwrap_or(20).clamp(1, 500);
    let e = state.engine;
    let phone = if state.release.at_least("24.2") {
        e.text("phone")
    } else {
        "NULL".to_string()
    };
    let sql = format!(
        "SELECT id, {}, {}, {}, {}, {}, {}, {}, {phone}, {}, {}, {} \
         FROM volunteers ORDER BY id LIMIT {limit}",
        e.text("subject_no"),
        e.text("first_name"),
        e.text("last_name"),
        e.text("initials"),
        e.iso_date("date_of_birth"),
        e.text("sex"),
        e.text("email"),
        e.text("city"),
        e.text("country"),
        e.iso_timestamp("created_at"),
    );
    let rows = sqlx::query(&sql).fetch_all(&state.pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(json!({
            "id": r.try_get::<i64, _>(0)?,
            "subject_no": r.try_get::<String, _>(1)?,
            "first_name": r.try_get::<String, _>(2)?,
            "last_name": r.try_get::<String, _>(3)?,
            "initials": r.try_get::<String, _>(4)?,
            "date_of_birth": r.try_get::<String, _>(5)?,
            "sex": r.try_get::<String, _>(6)?,
            "email": r.try_get::<String, _>(7)?,
            "phone": r.try_get::<Option<String>, _>(8)?,
            "city": r.try_get::<Option<String>, _>(9)?,
            "country": r.try_get::<String, _>(10)?,
            "created_at": r.try_get::<String, _>(11)?,
        }));
    }
    Ok(Json(serde_json::Value::Array(out)))
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found\n",
    )
        .into_response()
}

/// The `banner` setting of `clinic configure`, read on every page so a change shows without a
/// restart. A database that cannot say (an error is logged) gets the default banner, which for
/// a VAL environment already warns "not for clinical use".
async fn banner_setting(state: &AppState) -> Option<String> {
    let read = async {
        let mut conn = state.pool.acquire().await?;
        configuration::banner_setting(state.engine, &mut conn).await
    };
    match read.await {
        Ok(banner) => banner,
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "cannot read the banner setting");
            None
        }
    }
}

/// The environment banner: red for validation environments (name starts with `VAL`), green
/// for production (`PROD…`), amber for anything else. The colour follows the name; the text
/// after the name is the `banner` setting when set, else the default of the kind.
fn env_banner(env: &str, setting: Option<&str>) -> String {
    let upper = env.to_uppercase();
    let class = if upper.starts_with("VAL") {
        "val"
    } else if upper.starts_with("PROD") {
        "prod"
    } else {
        "test"
    };
    let text = setting.unwrap_or_else(|| configuration::default_banner(env));
    format!(
        "<div class=\"env env-{class}\">{}</div>",
        escape(&format!("{env}: {text}"))
    )
}

fn page(state: &AppState, banner: Option<&str>, title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title} — {env}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:0}}\
         .env{{padding:.6em 1em;color:#fff;font-weight:bold}}\
         .env-val{{background:#b00020}}.env-prod{{background:#1b5e20}}\
         .env-test{{background:#b26a00}}\
         .maintenance{{margin:2em 1em;padding:1em;border:2px solid #b26a00;font-size:1.3em}}\
         main{{padding:1em}}th{{text-align:left;padding-right:2em}}.meta{{color:#555}}\
         </style></head><body>{banner}<main><h1>{title}</h1>{body}</main></body></html>\n",
        title = escape(title),
        env = escape(&state.env_name),
        banner = env_banner(&state.env_name, banner),
    )
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A failure inside a handler: logged in full, answered with a bare 500.
struct AppError(anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for AppError {
    fn from(e: E) -> Self {
        AppError(e.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        tracing::error!(error = format!("{:#}", self.0), "request failed");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": "internal error; see the server log" })),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_banner_is_red_for_validation() {
        let b = env_banner("VAL-ACME", None);
        assert!(
            b.contains("env-val") && b.contains("VAL-ACME: VAL — not for clinical use"),
            "{b}"
        );
        assert!(env_banner("prod-eu", None).contains("env-prod"));
        assert!(env_banner("dev", None).contains("env-test"));
        assert!(env_banner("<x>", None).contains("&lt;x&gt;"));
    }

    #[test]
    fn banner_setting_replaces_the_text_but_not_the_colour() {
        let b = env_banner("VAL-ACME", Some("Validation of 24.3 <ACME>"));
        assert!(b.contains("env-val"), "{b}");
        assert!(
            b.contains("VAL-ACME: Validation of 24.3 &lt;ACME&gt;"),
            "{b}"
        );
        assert!(!b.contains("not for clinical use"), "{b}");
    }
}
