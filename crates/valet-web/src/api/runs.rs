//! Runs of a request (provisioning, teardown) with their steps, and the request's live event
//! stream.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures::Stream;
use valet_core::{Actor, RequestState};
use valet_store::requests;
use valet_store::runs::{self, Run};
use valet_store::Store;

use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

/// How often the event stream looks at the store.
const POLL: Duration = Duration::from_millis(500);

/// The request's runs, newest first, with their steps.
pub async fn of_request(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
) -> Result<Json<Vec<Run>>, ApiError> {
    let r = requests::get(&st.store, &actor, &key).await?;
    Ok(Json(runs::of_request(&st.store, &actor, &r).await?))
}

/// One run with its steps.
pub async fn get(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(runs::get(&st.store, &actor, &id).await?))
}

/// Server-sent events of a request: `run` with the latest run whenever it changed, `request`
/// with the request whenever its state changed (both sent once at the start). The stream
/// polls the store and ends when the client goes away, or with an `error` event when the
/// request can no longer be read.
pub async fn events(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
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

#[derive(Debug, Default, serde::Deserialize)]
pub struct ReasonBody {
    #[serde(default)]
    reason: String,
}

/// Starts a booked upgrade now instead of at its slot (a PM or an engineer, with a reason,
/// audited): 202, the run is queued.
pub async fn start_upgrade(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
    super::JsonOrEmpty(body): super::JsonOrEmpty<ReasonBody>,
) -> Result<(axum::http::StatusCode, Json<serde_json::Value>), ApiError> {
    requests::get(&st.store, &actor, &key).await?;
    valet_ops::upgrade_run::start_now(&st.store, &actor, &key, &body.reason).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(serde_json::json!({ "request": key, "queued": true })),
    ))
}

/// Aborts a running upgrade: it stops after the current step and rolls back.
pub async fn abort_upgrade(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
    super::JsonOrEmpty(body): super::JsonOrEmpty<ReasonBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    requests::get(&st.store, &actor, &key).await?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::Fields(vec![valet_core::FieldError::new(
            "reason",
            "aborting an upgrade needs a reason",
        )]));
    }
    valet_ops::upgrade_run::abort(&st.store, &actor, &key, &body.reason).await?;
    Ok(Json(
        serde_json::json!({ "request": key, "abort_requested": true }),
    ))
}

/// Releases the next environment of an upgrade run that waits for an engineer's confirmation.
pub async fn confirm_upgrade(
    State(st): State<AppState>,
    Authed(actor): Authed,
    Path(key): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    requests::get(&st.store, &actor, &key).await?;
    let env = valet_ops::upgrade_run::confirm(&st.store, &actor, &key).await?;
    Ok(Json(serde_json::json!({ "request": key, "released": env })))
}
