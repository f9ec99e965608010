//! The HTML UI: server-rendered pages over the same store calls as the API, signed in with a
//! session cookie. Pages for environments (with version lag and instance health), the release
//! catalog with search, one release, and cumulative notes (rendered by the API's HTML format,
//! with PDF / Markdown / CSV downloads), and the VAL cycle's requests (`requests`): list,
//! filing, the request page with its live run, findings and e-signatures; and PROD upgrades
//! (`upgrades`): the request form with its slot picker, the PM's scheduling page, the schedule
//! overview; and the customers' hotfix inbox (`hotfixes`): accept or decline, e-signed.
//!
//! Every form posts a CSRF token, checked by [`csrf::guard`] before any handler runs.

pub mod csrf;
mod hotfixes;
mod reference;
mod requests;
mod upgrades;

use std::sync::OnceLock;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use minijinja::{context, Environment, Value};
use serde::Deserialize;
use valet_store::users::{self, User};
use valet_store::{customers, releases};

use crate::error::ApiError;
use crate::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "valet_session";

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        for (name, src) in [
            ("base.html", include_str!("../../templates/base.html")),
            ("login.html", include_str!("../../templates/login.html")),
            ("home.html", include_str!("../../templates/home.html")),
            (
                "releases.html",
                include_str!("../../templates/releases.html"),
            ),
            ("release.html", include_str!("../../templates/release.html")),
            ("notes.html", include_str!("../../templates/notes.html")),
            ("error.html", include_str!("../../templates/error.html")),
            ("audit.html", include_str!("../../templates/audit.html")),
            (
                "requests.html",
                include_str!("../../templates/requests.html"),
            ),
            (
                "request_new.html",
                include_str!("../../templates/request_new.html"),
            ),
            ("request.html", include_str!("../../templates/request.html")),
            ("sign.html", include_str!("../../templates/sign.html")),
            (
                "upgrade_new.html",
                include_str!("../../templates/upgrade_new.html"),
            ),
            (
                "schedule.html",
                include_str!("../../templates/schedule.html"),
            ),
            (
                "schedules.html",
                include_str!("../../templates/schedules.html"),
            ),
            (
                "hotfixes.html",
                include_str!("../../templates/hotfixes.html"),
            ),
            ("api.html", include_str!("../../templates/api.html")),
        ] {
            env.add_template(name, src).expect("templates are valid");
        }
        env.add_filter("code", code);
        env.add_filter("role", role_label);
        env.add_filter("action", action_label);
        env
    })
}

/// The cookie that tells the next page what the action before it did (read once).
pub(crate) const FLASH_COOKIE: &str = "valet_flash";

/// What a successful action did, as the page it lands on says it. The cookie carries one of
/// these codes, never text, so nothing typed or forged is shown back.
pub(crate) fn flash_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "filed" => "Request filed.",
        "signed" => "Signed: your e-signature is recorded below.",
        "rejected" => "Request rejected.",
        "cancelled" => "Request cancelled.",
        "started" => "Run queued: it starts now.",
        "released" => "Environment released: its downtime starts now.",
        "aborting" => "Abort requested: the run stops and rolls back.",
        "closing" => "Closing: the VAL pair is being torn down.",
        "retried" => "Run queued again from its first step.",
        "extension" => "Extension requested.",
        "extended" => "Extension approved.",
        "commented" => "Comment added.",
        "finding" => "Finding filed.",
        "finding_updated" => "Finding updated.",
        "finding_answered" => "Answer added to the finding.",
        "booked" => "Upgrade booked.",
        "hotfix_accepted" => "Hotfix accepted: this request schedules its upgrade.",
        _ => return None,
    })
}

/// A redirect after a successful action, carrying its code for the next page.
pub(crate) fn redirect_done(to: &str, code: &'static str) -> Response {
    let cookie = Cookie::build((FLASH_COOKIE, code))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .build();
    (CookieJar::new().add(cookie), Redirect::to(to)).into_response()
}

/// The action's message for this page, and the jar without the cookie (shown once).
pub(crate) fn take_flash(jar: CookieJar) -> (Option<&'static str>, CookieJar) {
    match jar.get(FLASH_COOKIE).map(|c| c.value().to_string()) {
        Some(code) => (
            flash_text(&code),
            jar.remove(Cookie::build(FLASH_COOKIE).path("/").build()),
        ),
        None => (None, jar),
    }
}

/// A role as people say it (`vendor_pm` → `project manager`); unknown text as it is.
fn role_label(role: &str) -> String {
    match role {
        "customer_user" => "customer user",
        "customer_admin" => "customer admin",
        "vendor_pm" => "project manager",
        "vendor_engineer" => "engineer",
        "admin" => "administrator",
        "system" => "valet",
        other => other,
    }
    .to_string()
}

/// An audit action as a phrase (`run.start_now` → `Run started before its slot`); the code
/// itself stays beside it on the pages, for whoever searches the trail by it.
fn action_label(action: &str) -> String {
    let known = match action {
        "request.create" | "request.filed" => "Request filed",
        "request.state" => "State changed",
        "request.comment" => "Comment",
        "request.attach" => "Attachment added",
        "request.watch" => "Watcher added",
        "request.unwatch" => "Watcher removed",
        "request.val_pair" => "VAL pair created",
        "request.provisioned" => "VAL provisioned",
        "request.signed_off" => "Validation signed off",
        "request.extension_requested" => "Extension requested",
        "request.extended" => "Validation extended",
        "request.closing" => "Closing started",
        "request.closure_scheduled" => "Closure scheduled",
        "signature.sign" => "E-signature",
        "finding.create" => "Finding filed",
        "finding.answer" => "Finding answered",
        "finding.state" => "Finding state changed",
        "document.create" => "Document issued",
        "run.create" => "Run queued",
        "run.start_now" => "Run started before its slot",
        "run.start" => "Run started",
        "run.step" => "Run step",
        "run.steps_added" => "Run steps added",
        "run.abort" => "Abort requested",
        "run.confirm" => "Downtime released",
        "run.finish" => "Run finished",
        "schedule.set" => "Upgrade booked",
        "schedule.cancel" => "Booking cancelled",
        "schedule.done" => "Booked upgrade done",
        "schedule.confirmation" => "Confirmation per environment set",
        "hotfix.accept" => "Hotfix accepted",
        "hotfix.decline" => "Hotfix declined",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    let words = action.replace(['.', '_'], " ");
    let mut cs = words.chars();
    match cs.next() {
        Some(c) => c.to_uppercase().chain(cs).collect(),
        None => words,
    }
}

/// Text with `backticks` shown as code: escaped, then each quoted run in `<code>`.
fn code(text: &str) -> Value {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;");
    let mut out = String::with_capacity(escaped.len());
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    Value::from_safe_string(out)
}

/// An error shown as a page: the API's status and message, inside the layout.
pub struct UiError(pub(crate) ApiError);

impl<E: Into<ApiError>> From<E> for UiError {
    fn from(e: E) -> Self {
        UiError(e.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let api = self.0.into_response();
        let status = api.status();
        let (title, message) = match status {
            StatusCode::NOT_FOUND => (
                "Not found",
                "There is nothing here, or it is not yours to see.".to_string(),
            ),
            StatusCode::FORBIDDEN => ("Not allowed", "Your role may not do this.".to_string()),
            StatusCode::BAD_REQUEST => (
                "Cannot do that",
                "The request was not understood.".to_string(),
            ),
            _ => (
                "Something went wrong",
                "valet could not complete this page; the error is logged.".to_string(),
            ),
        };
        let page = templates()
            .get_template("error.html")
            .and_then(|t| {
                t.render(context! { title => title, message => message, user => None::<()> })
            })
            .unwrap_or_else(|_| message.clone());
        (status, Html(page)).into_response()
    }
}

pub(crate) fn render(name: &str, ctx: Value) -> Result<Html<String>, UiError> {
    templates()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map(Html)
        .map_err(|e| UiError(ApiError::Internal(format!("template {name}: {e}"))))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/releases", get(releases_page))
        .route("/releases/{build}", get(release_page))
        .route("/notes", get(notes_page))
        .route("/audit", get(audit_page))
        .route("/api", get(reference::page))
        .route("/static/{file}", get(script))
        .merge(requests::router())
        .merge(upgrades::router())
        .merge(hotfixes::router())
        .route_layer(axum::middleware::from_fn(csrf::guard))
}

/// The pages' scripts, served from valet's own origin: the security policy (see
/// [`crate::CONTENT_SECURITY_POLICY`]) runs no inline script.
const SCRIPTS: &[(&str, &str)] = &[
    ("run-card.js", include_str!("../../static/run-card.js")),
    ("slot-check.js", include_str!("../../static/slot-check.js")),
];

async fn script(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match SCRIPTS.iter().find(|(name, _)| *name == file) {
        Some((_, body)) => (
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "text/javascript; charset=utf-8",
                ),
                (axum::http::header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such script").into_response(),
    }
}

/// The signed-in user of a page; without a session, a redirect to the sign-in page.
pub struct UiUser {
    pub user: User,
    pub tenant: Option<String>,
    /// The session's form token (see [`csrf`]).
    pub csrf: String,
}

impl FromRequestParts<AppState> for UiUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            Redirect::to(&format!("/login?next={}", urlencode(next))).into_response()
        };
        let Some(c) = jar.get(SESSION_COOKIE) else {
            return Err(to_login());
        };
        let user = match users::authenticate_session(&state.store, c.value()).await {
            Ok(u) => u,
            Err(_) => return Err(to_login()),
        };
        let tenant = match &user.customer_id {
            Some(id) => customers::get(&state.store, &user.actor(), id)
                .await
                .ok()
                .map(|c| c.name.to_string()),
            None => None,
        };
        Ok(UiUser {
            user,
            tenant,
            csrf: csrf::session_token(c.value()),
        })
    }
}

pub(crate) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Only local paths: never redirect a signed-in user to another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

async fn login_form(jar: CookieJar, Query(q): Query<NextQuery>) -> Result<Response, UiError> {
    let (token, cookie) = csrf::login_cookie();
    let page = render(
        "login.html",
        context! {
            next => safe_next(q.next.as_deref()), username => "", error => None::<String>,
            csrf => token,
        },
    )?;
    Ok((jar.add(cookie), page).into_response())
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(st): State<AppState>,
    jar: CookieJar,
    Form(f): Form<LoginForm>,
) -> Result<Response, UiError> {
    let next = safe_next(f.next.as_deref());
    match users::authenticate_password(&st.store, &f.username, &f.password).await {
        Ok(user) => {
            let secret = users::create_session(&st.store, &user).await?;
            let cookie = Cookie::build((SESSION_COOKIE, secret))
                .http_only(true)
                .same_site(SameSite::Strict)
                .path("/")
                .build();
            let jar = jar
                .add(cookie)
                .remove(Cookie::build(csrf::LOGIN_COOKIE).path("/login").build());
            Ok((jar, Redirect::to(&next)).into_response())
        }
        Err(valet_store::StoreError::Unauthenticated) => {
            let (token, cookie) = csrf::login_cookie();
            let page = render(
                "login.html",
                context! {
                    next => next, username => f.username,
                    error => "Unknown username or wrong password.",
                    csrf => token,
                },
            )?;
            Ok((StatusCode::UNAUTHORIZED, jar.add(cookie), page).into_response())
        }
        Err(e) => Err(ApiError::from(e).into()),
    }
}

async fn logout(State(st): State<AppState>, jar: CookieJar) -> Result<Response, UiError> {
    if let Some(c) = jar.get(SESSION_COOKIE) {
        users::end_session(&st.store, c.value()).await?;
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/").build());
    Ok((jar, Redirect::to("/login")).into_response())
}

pub(crate) fn base(u: &UiUser, page: &str) -> Value {
    context! {
        user => context! { display_name => u.user.display_name, role => u.user.role },
        tenant => u.tenant,
        page => page,
        csrf => u.csrf,
    }
}

async fn home(State(st): State<AppState>, u: UiUser) -> Result<Html<String>, UiError> {
    let actor = u.user.actor();
    let lags = releases::version_lag(&st.store, &actor, None).await?;
    let envs = valet_store::environments::list(&st.store, &actor, None).await?;
    let probes = envs.iter().map(|e| async move {
        match &e.base_url {
            Some(b) => {
                let r = tokio::time::timeout(
                    std::time::Duration::from_millis(800),
                    valet_ops::driver::probe(b, "/health"),
                )
                .await;
                (e.id.clone(), matches!(r, Ok(Ok(200))))
            }
            None => (e.id.clone(), false),
        }
    });
    let health: std::collections::HashMap<String, bool> = futures::future::join_all(probes)
        .await
        .into_iter()
        .collect();
    let mut out = Vec::new();
    for c in customers::list(&st.store, &actor).await? {
        let rows: Vec<Value> = envs
            .iter()
            .filter(|e| e.customer_id == c.id)
            .map(|e| {
                let lag = lags.iter().find(|l| l.environment_id == e.id);
                context! {
                    name => e.name, state => e.state.as_str(),
                    current => e.current_build.map(|b| b.to_string()),
                    latest => lag.and_then(|l| l.lag.latest).map(|b| b.to_string()),
                    behind => lag.map(|l| l.lag.releases_behind).unwrap_or(0),
                    days => lag.map(|l| l.lag.days_behind).unwrap_or(0),
                    hotfixes => lag.map(|l| l.lag.hotfixes_available.iter().map(|b| b.to_string()).collect::<Vec<_>>()).unwrap_or_default(),
                    base_url => e.base_url,
                    healthy => health.get(&e.id).copied().unwrap_or(false),
                }
            })
            .collect();
        out.push(context! { name => c.name.to_string(), zone => c.zone.to_string(), envs => rows });
    }
    render(
        "home.html",
        context! { ..base(&u, "home"), ..context! { customers => out } },
    )
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

async fn releases_page(
    State(st): State<AppState>,
    u: UiUser,
    Query(q): Query<SearchQuery>,
) -> Result<Html<String>, UiError> {
    let actor = u.user.actor();
    let list = releases::list(&st.store, &actor).await?;
    let query = q.q.unwrap_or_default();
    let hits = if query.trim().is_empty() {
        Vec::new()
    } else {
        releases::search(&st.store, &actor, &query, 100).await?
    };
    let rows: Vec<Value> = list
        .iter()
        .rev()
        .map(|r| {
            context! {
                version => r.version.to_string(), build => r.build.to_string(),
                kind => if r.kind == valet_core::ReleaseKind::Hotfix { "hotfix" } else { "feature" },
                released => r.released.to_string(), notes => r.notes, published => r.published,
            }
        })
        .collect();
    render(
        "releases.html",
        context! { ..base(&u, "releases"), ..context! {
            releases => rows, q => query, hits => hits,
            vendor => !actor.role.is_customer(),
        } },
    )
}

async fn release_page(
    State(st): State<AppState>,
    u: UiUser,
    Path(build): Path<String>,
) -> Result<Html<String>, UiError> {
    let actor = u.user.actor();
    let r = releases::get(&st.store, &actor, &build).await?;
    let notes = releases::notes_of(&st.store, &actor, &r.build.to_string()).await?;
    render(
        "release.html",
        context! { ..base(&u, "releases"), ..context! {
            release => context! {
                version => r.version.to_string(), build => r.build.to_string(),
                kind => if r.kind == valet_core::ReleaseKind::Hotfix { "hotfix" } else { "feature release" },
                released => r.released.to_string(), artifact_reference => r.artifact_reference,
                artifact_sha256 => r.artifact_sha256,
            },
            notes => notes,
        } },
    )
}

#[derive(Debug, Deserialize)]
pub struct NotesQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn notes_page(
    State(st): State<AppState>,
    u: UiUser,
    Query(q): Query<NotesQuery>,
) -> Result<Html<String>, UiError> {
    let actor = u.user.actor();
    let list = releases::list(&st.store, &actor).await?;
    let options: Vec<Value> = list
        .iter()
        .map(|r| context! { version => r.version.to_string(), build => r.build.to_string() })
        .collect();
    let from = q
        .from
        .or_else(|| list.first().map(|r| r.build.to_string()))
        .unwrap_or_default();
    let to =
        q.to.or_else(|| list.last().map(|r| r.build.to_string()))
            .unwrap_or_default();
    let (src, error) = if from.is_empty() || to.is_empty() {
        (None, Some("No releases are published yet.".to_string()))
    } else {
        match releases::cumulative_notes(&st.store, &actor, &from, &to).await {
            Ok(_) => (
                Some(format!(
                    "/api/v1/release-notes?from={}&to={}",
                    urlencode(&from),
                    urlencode(&to)
                )),
                None,
            ),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    render(
        "notes.html",
        context! { ..base(&u, "notes"), ..context! {
            releases => options, from => from, to => to, src => src, error => error,
        } },
    )
}

/// The audit trail the user may see, newest first; vendor roles also see whether the chain
/// verifies.
async fn audit_page(State(st): State<AppState>, u: UiUser) -> Result<Html<String>, UiError> {
    let actor = u.user.actor();
    let events = valet_store::audit::list(&st.store, &actor, None, 200).await?;
    let verdict = if actor.role.is_customer() {
        None
    } else {
        Some(valet_store::audit::verify(&st.store).await?)
    };
    let events: Vec<Value> = events
        .iter()
        .map(|e| {
            let (who, role) = requests::who(e);
            context! {
                summary => requests::change_of(e), who => who, who_role => role,
                ..Value::from_serialize(e)
            }
        })
        .collect();
    render(
        "audit.html",
        context! { ..base(&u, "audit"), ..context! { events => events, verdict => verdict } },
    )
}

#[cfg(test)]
mod tests {
    use super::{action_label, flash_text, role_label};

    #[test]
    fn only_known_flash_codes_are_shown() {
        assert_eq!(flash_text("filed"), Some("Request filed."));
        assert_eq!(flash_text("<script>alert(1)</script>"), None);
        assert_eq!(flash_text(""), None);
    }

    #[test]
    fn audit_codes_read_as_phrases_and_unknown_ones_stay_legible() {
        assert_eq!(action_label("run.start_now"), "Run started before its slot");
        assert_eq!(action_label("signature.sign"), "E-signature");
        assert_eq!(action_label("hotfix.published"), "Hotfix published");
        assert_eq!(action_label(""), "");
        assert_eq!(role_label("vendor_pm"), "project manager");
        assert_eq!(role_label("customer_admin"), "customer admin");
        assert_eq!(role_label("auditor"), "auditor");
    }
}
