//! Runs of a request (provisioning, teardown) with their steps, and the request's live event
//! stream.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures::Stream;
use valet_core::{Actor, RequestState};
use valet_store::requests;
use valet_store::runs::{self, Run};
use valet_store::Store;

use utoipa::ToSchema;

use super::{ApiPath, ErrorBody};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

/// How often the event stream looks at the store.
const POLL: Duration = Duration::from_millis(500);

/// The request's runs, newest first, with their steps.
#[utoipa::path(get, path = "/requests/{key}/runs", tag = "runs", params(("key" = String, Path, description = "The request's key, e.g. `UPG-3`")),
    responses((status = 200, body = Vec<Run>), (status = 404, body = ErrorBody, description = "No such request, or another tenant's")))]
pub async fn of_request(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Vec<Run>>, ApiError> {
    let r = requests::get(&st.store, &actor, &key).await?;
    Ok(Json(runs::of_request(&st.store, &actor, &r).await?))
}

/// One run with its steps.
#[utoipa::path(get, path = "/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses((status = 200, body = Run),
        (status = 404, body = ErrorBody, description = "No such run, or another tenant's")))]
pub async fn get(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(runs::get(&st.store, &actor, &id).await?))
}

/// Server-sent events of a request: `run` with the latest run whenever it changed, `request`
/// with the request whenever its state changed (both sent once at the start). The stream
/// polls the store and ends when the client goes away, or with an `error` event when the
/// request can no longer be read.
#[utoipa::path(get, path = "/requests/{key}/events", tag = "runs", params(("key" = String, Path, description = "The request's key, e.g. `UPG-3`")),
    responses((status = 200, description = "A stream of server-sent events: `run` (data: a Run), \
            `request` (data: a Request), `error` (data: `{\"message\": …}`)",
            content(("text/event-stream"))), (status = 404, body = ErrorBody, description = "No such request, or another tenant's")))]
pub async fn events(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let r = requests::get(&st.store, &actor, &key).await?;
    let watch = Watch {
        store: st.store.clone(),
        actor,
        key: r.key,
        last_run: None,
        last_state: None,
        pending: VecDeque::new(),
        first: true,
        done: false,
    };
    let stream = futures::stream::unfold(watch, |mut w| async move {
        loop {
            if let Some(ev) = w.pending.pop_front() {
                return Some((Ok(ev), w));
            }
            if w.done {
                return None;
            }
            if !w.first {
                tokio::time::sleep(POLL).await;
            }
            w.first = false;
            w.poll().await;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(5))))
}

/// What the event stream last sent.
struct Watch {
    store: Store,
    actor: Actor,
    key: String,
    last_run: Option<String>,
    last_state: Option<RequestState>,
    pending: VecDeque<Event>,
    first: bool,
    done: bool,
}

impl Watch {
    async fn poll(&mut self) {
        if let Err(e) = self.look().await {
            let message = match e {
                ApiError::Internal(detail) => {
                    tracing::error!(request = %self.key, error = %detail, "event stream");
                    "internal error; reload to try again".to_string()
                }
                other => other.to_string(),
            };
            let data = serde_json::json!({ "message": message }).to_string();
            self.pending
                .push_back(Event::default().event("error").data(data));
            self.done = true;
        }
    }

    async fn look(&mut self) -> Result<(), ApiError> {
        let r = requests::get(&self.store, &self.actor, &self.key).await?;
        let list = runs::of_request(&self.store, &self.actor, &r).await?;
        if let Some(latest) = list.first() {
            let json = to_json(latest)?;
            if self.last_run.as_ref() != Some(&json) {
                self.pending
                    .push_back(Event::default().event("run").data(&json));
                self.last_run = Some(json);
            }
        }
        if self.last_state != Some(r.state) {
            self.last_state = Some(r.state);
            self.pending
                .push_back(Event::default().event("request").data(to_json(&r)?));
        }
        Ok(())
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|e| ApiError::Internal(format!("serialise event: {e}")))
}

/// Starts a booked upgrade now instead of at its slot (a PM or an engineer, with a reason,
/// audited): 202, the run is queued.
#[utoipa::path(post, path = "/requests/{key}/run/start", tag = "runs", params(("key" = String, Path, description = "The request's key, e.g. `UPG-3`")),
    request_body = super::requests::ReasonBody,
    responses((status = 202, body = RunQueued),
        (status = 400, body = ErrorBody, description = "No reason given"),
        (status = 403, body = ErrorBody, description = "Only a PM or an engineer may start an upgrade"),
        (status = 404, body = ErrorBody, description = "No such request, or another tenant's"),
        (status = 409, body = ErrorBody, description = "The upgrade is not booked, or runs already")))]
pub async fn start_upgrade(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    super::JsonOrEmpty(body): super::JsonOrEmpty<super::requests::ReasonBody>,
) -> Result<(axum::http::StatusCode, Json<RunQueued>), ApiError> {
    requests::get(&st.store, &actor, &key).await?;
    valet_ops::upgrade_run::start_now(&st.store, &actor, &key, &body.reason).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(RunQueued {
            request: key,
            queued: true,
        }),
    ))
}

/// An upgrade run was queued.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct RunQueued {
    pub request: String,
    pub queued: bool,
}

/// An abort was asked for: the run stops after its current step and rolls back.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct AbortRequested {
    pub request: String,
    pub abort_requested: bool,
}

/// An environment was released to go on.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Released {
    pub request: String,
    /// The environment that goes on (its name).
    pub released: String,
}

/// Aborts a running upgrade: it stops after the current step and rolls back.
#[utoipa::path(post, path = "/requests/{key}/run/abort", tag = "runs", params(("key" = String, Path, description = "The request's key, e.g. `UPG-3`")),
    request_body = super::requests::ReasonBody,
    responses((status = 200, body = AbortRequested),
        (status = 400, body = ErrorBody, description = "No reason given"),
        (status = 403, body = ErrorBody, description = "The role may not abort an upgrade"),
        (status = 404, body = ErrorBody, description = "No such request, or another tenant's"),
        (status = 409, body = ErrorBody, description = "No upgrade run is running")))]
pub async fn abort_upgrade(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    super::JsonOrEmpty(body): super::JsonOrEmpty<super::requests::ReasonBody>,
) -> Result<Json<AbortRequested>, ApiError> {
    requests::get(&st.store, &actor, &key).await?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::Fields(vec![valet_core::FieldError::new(
            "reason",
            "aborting an upgrade needs a reason",
        )]));
    }
    valet_ops::upgrade_run::abort(&st.store, &actor, &key, &body.reason).await?;
    Ok(Json(AbortRequested {
        request: key,
        abort_requested: true,
    }))
}

/// Releases the next environment of an upgrade run that waits for an engineer's confirmation.
#[utoipa::path(post, path = "/requests/{key}/run/confirm", tag = "runs", params(("key" = String, Path, description = "The request's key, e.g. `UPG-3`")),
    responses((status = 200, body = Released),
        (status = 403, body = ErrorBody, description = "The role may not confirm"),
        (status = 404, body = ErrorBody, description = "No such request, or another tenant's"),
        (status = 409, body = ErrorBody, description = "The run waits for no confirmation")))]
pub async fn confirm_upgrade(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Released>, ApiError> {
    requests::get(&st.store, &actor, &key).await?;
    let released = valet_ops::upgrade_run::confirm(&st.store, &actor, &key).await?;
    Ok(Json(Released {
        request: key,
        released,
    }))
}
