//! A VAL pair's life after provisioning: reminders to the watchers 7 days and 1 day before
//! validation ends, and closure at the end (or 14 days after the PROD upgrade). Each is a job
//! with a `run_at`; a job whose date no longer matches the request (an extension moved the
//! end) does nothing, and the extension queues new ones.

use serde_json::json;
use valet_store::requests::Request;
use valet_store::Store;

use crate::error::Result;

/// Days before the end of validation at which watchers are reminded.
pub const REMIND_DAYS: [i64; 2] = [7, 1];

/// Queues the reminders and the closure at the end of `request`'s validation period.
pub async fn schedule_expiry(store: &Store, request: &Request) -> Result<()> {
    let val = request.val()?;
    let Some(end) = crate::val::period_end(store, &request.customer_id, val.end).await? else {
        return Ok(());
    };
    for days in REMIND_DAYS {
        let at = end
            .checked_sub(jiff::SignedDuration::from_hours(days * 24))
            .unwrap_or(end);
        crate::jobs::enqueue(
            store,
            crate::jobs::JobKind::Remind,
            &json!({ "request": request.key, "end": val.end, "days": days }),
            crate::jobs::EnqueueOptions {
                customer_id: Some(request.customer_id.clone()),
                dedupe_key: Some(format!("remind:{}:{}:{days}", request.key, val.end)),
                run_at: Some(at),
                ..Default::default()
            },
        )
        .await?;
    }
    crate::jobs::enqueue(
        store,
        crate::jobs::JobKind::Close,
        &json!({ "request": request.key, "end": val.end, "reason": "validation period ended" }),
        crate::jobs::EnqueueOptions {
            customer_id: Some(request.customer_id.clone()),
            dedupe_key: Some(format!("close:{}:{}", request.key, val.end)),
            run_at: Some(end),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// The actor of changes valet makes on its own schedule (expiry).
fn scheduler() -> valet_core::Actor {
    valet_core::Actor {
        user_id: "system".into(),
        username: "valet scheduler".into(),
        role: valet_core::Role::Admin,
        customer_id: None,
    }
}

/// Whether a scheduled job still applies: the request is live and its end date is the one
/// the job was queued for (an extension queues new jobs).
async fn still_due(store: &Store, payload: &serde_json::Value) -> Result<Option<Request>> {
    let Some(key) = payload["request"].as_str() else {
        return Ok(None);
    };
    let r = valet_store::requests::get(store, &scheduler(), key).await?;
    if r.state != valet_core::RequestState::InProgress || r.details.get("closing").is_some() {
        return Ok(None);
    }
    if let Some(end) = payload.get("end") {
        if r.details["end"] != *end {
            return Ok(None);
        }
    }
    Ok(Some(r))
}

/// Closes a VAL whose time has come (end of validation, or 14 days after the PROD upgrade).
pub async fn close_due(store: &Store, payload: &serde_json::Value) -> Result<()> {
    if let Some(r) = still_due(store, payload).await? {
        let reason = payload["reason"]
            .as_str()
            .unwrap_or("validation period ended");
        crate::val::close(store, &scheduler(), &r.key, reason).await?;
    }
    Ok(())
}

/// Reminds the watchers that validation ends soon.
pub async fn remind(store: &Store, payload: &serde_json::Value) -> Result<()> {
    if let Some(r) = still_due(store, payload).await? {
        let days = payload["days"].as_i64().unwrap_or(0);
        crate::outbox::announce(
            store,
            &r,
            "request.expiring",
            &format!("{}: validation ends in {days} day(s)", r.key),
            &format!(
                "Validation of {} ends on {}; the VAL pair is then torn down. Ask for an extension on the request if you need longer.",
                r.key, r.details["end"].as_str().unwrap_or_default()
            ),
            false,
        )
        .await?;
    }
    Ok(())
}
