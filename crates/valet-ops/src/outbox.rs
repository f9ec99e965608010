//! Announcing a request's change: one outbox row per recipient (watchers by e-mail, the
//! vendor's PMs when they must act, the customer's webhook endpoints), each delivered by its
//! own `notify.deliver` job so that a failed delivery is retried without repeating the others.

use std::collections::BTreeSet;

use serde_json::json;
use valet_core::Role;
use valet_store::notifications;
use valet_store::queue::{self, NewJob};
use valet_store::requests::{self, Request};
use valet_store::{users, Store};

use crate::error::Result;

/// Job kind string of one delivery.
pub const DELIVER_JOB: &str = "notify.deliver";

/// Tells the request's watchers (and, with `tell_pms`, every vendor PM) and the customer's
/// webhooks about `event`. Returns the notification ids queued.
pub async fn announce(
    store: &Store,
    request: &Request,
    event: &str,
    subject: &str,
    body: &str,
    tell_pms: bool,
) -> Result<Vec<String>> {
    let mut to: BTreeSet<String> = BTreeSet::new();
    for w in requests::watchers(store, &valet_core::Actor::system(), &request.key).await? {
        if let Some(e) = w.email.filter(|e| !e.trim().is_empty()) {
            to.insert(e);
        }
    }
    if tell_pms {
        for u in users::with_role(store, Role::VendorPm).await? {
            if let Some(e) = u.email.filter(|e| !e.trim().is_empty()) {
                to.insert(e);
            }
        }
    }
    let mut ids = Vec::new();
    for addr in to {
        ids.push(
            notifications::record(store, Some(request), "email", &addr, subject, body, event)
                .await?,
        );
    }
    let payload = json!({
        "event": event,
        "request": request.key,
        "kind": request.kind,
        "state": request.state,
        "customer_id": request.customer_id,
        "subject": subject,
    });
    for hook in notifications::webhooks_for(store, &request.customer_id).await? {
        ids.push(
            notifications::record(
                store,
                Some(request),
                "webhook",
                &hook.id,
                subject,
                &payload.to_string(),
                event,
            )
            .await?,
        );
    }
    for id in &ids {
        let mut job = NewJob::new(DELIVER_JOB, json!({ "notification_id": id }));
        job.customer_id = Some(request.customer_id.clone());
        job.dedupe_key = Some(format!("notify:{id}"));
        job.max_attempts = 8;
        queue::enqueue(store, job).await?;
    }
    Ok(ids)
}
