//! Announcing a request's change: one outbox row per recipient (watchers by e-mail, the
//! vendor's PMs when they must act, the customer's webhook endpoints), each delivered by its
//! own `notify.deliver` job so that a failed delivery is retried without repeating the others.

use std::collections::BTreeSet;

use serde_json::json;
use valet_core::Role;
use valet_store::notifications;
use valet_store::requests::{self, Request};
use valet_store::{users, Store};

use crate::error::Result;

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
    announce_to(store, request, event, subject, body, tell_pms, &[], None).await
}

/// [`announce`] to the extra addresses `also` too, and with `once` at most once per key and
/// recipient (reminders): a repeated call (a job run again after a crash, a second worker)
/// records and sends nothing new.
#[allow(clippy::too_many_arguments)]
pub async fn announce_to(
    store: &Store,
    request: &Request,
    event: &str,
    subject: &str,
    body: &str,
    tell_pms: bool,
    also: &[String],
    once: Option<&str>,
) -> Result<Vec<String>> {
    let mut to: BTreeSet<String> = also
        .iter()
        .filter(|e| !e.trim().is_empty())
        .cloned()
        .collect();
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
        ids.push(record(store, request, "email", &addr, subject, body, event, once).await?);
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
            record(
                store,
                request,
                "webhook",
                &hook.id,
                subject,
                &payload.to_string(),
                event,
                once,
            )
            .await?,
        );
    }
    for id in &ids {
        crate::jobs::enqueue(
            store,
            crate::jobs::JobKind::Notify,
            &json!({ "notification_id": id }),
            crate::jobs::EnqueueOptions {
                customer_id: Some(request.customer_id.clone()),
                dedupe_key: Some(format!("notify:{id}")),
                max_attempts: 8,
                ..Default::default()
            },
        )
        .await?;
    }
    Ok(ids)
}

/// Tells one customer about something that concerns no request yet (a published hotfix):
/// an e-mail to each address in `to`, and `webhook` (a JSON event) to each of the customer's
/// webhooks; at most once per `once` key and recipient. Returns the notification ids.
#[allow(clippy::too_many_arguments)]
pub async fn announce_customer(
    store: &Store,
    customer_id: &str,
    event: &str,
    subject: &str,
    body: &str,
    to: &[String],
    webhook: &serde_json::Value,
    once: &str,
) -> Result<Vec<String>> {
    let to: BTreeSet<&String> = to.iter().filter(|e| !e.trim().is_empty()).collect();
    let mut ids = Vec::new();
    for addr in to {
        ids.push(
            notifications::record_for_customer(
                store,
                customer_id,
                "email",
                addr,
                subject,
                body,
                event,
                once,
            )
            .await?,
        );
    }
    for hook in notifications::webhooks_for(store, customer_id).await? {
        ids.push(
            notifications::record_for_customer(
                store,
                customer_id,
                "webhook",
                &hook.id,
                subject,
                &webhook.to_string(),
                event,
                once,
            )
            .await?,
        );
    }
    for id in &ids {
        crate::jobs::enqueue(
            store,
            crate::jobs::JobKind::Notify,
            &json!({ "notification_id": id }),
            crate::jobs::EnqueueOptions {
                customer_id: Some(customer_id.to_string()),
                dedupe_key: Some(format!("notify:{id}")),
                max_attempts: 8,
                ..Default::default()
            },
        )
        .await?;
    }
    Ok(ids)
}

#[allow(clippy::too_many_arguments)]
async fn record(
    store: &Store,
    request: &Request,
    channel: &str,
    recipient: &str,
    subject: &str,
    body: &str,
    event: &str,
    once: Option<&str>,
) -> Result<String> {
    Ok(match once {
        Some(key) => {
            notifications::record_once(
                store,
                Some(request),
                channel,
                recipient,
                subject,
                body,
                event,
                key,
            )
            .await?
        }
        None => {
            notifications::record(
                store,
                Some(request),
                channel,
                recipient,
                subject,
                body,
                event,
            )
            .await?
        }
    })
}

/// Delivers one outbox row: an e-mail through `smtp`, or a signed webhook. A failure is
/// recorded on the row and returned, so the job queue retries it with backoff; a row already
/// sent is not sent again.
pub async fn deliver(
    store: &Store,
    id: &str,
    smtp: Option<&crate::notify::SmtpConfig>,
) -> Result<()> {
    let n = notifications::get(store, id).await?;
    if n.state == "sent" {
        return Ok(());
    }
    let outcome = match n.channel.as_str() {
        "email" => match smtp {
            Some(cfg) => {
                crate::notify::send_email(
                    cfg,
                    &crate::notify::Email {
                        to: vec![n.recipient.clone()],
                        subject: format!("[valet] {}", n.subject),
                        text_body: n.body.clone(),
                        html_body: None,
                    },
                )
                .await
            }
            None => Err(crate::error::OpsError::SmtpConfig(
                "no SMTP server configured; set VALET_SMTP_URL=smtp://host:port?from=valet@example.com".into(),
            )),
        },
        "webhook" => {
            let (url, secret) = notifications::webhook_secret(store, &n.recipient).await?;
            let mut event: serde_json::Value =
                serde_json::from_str(&n.body).unwrap_or_else(|_| json!({ "subject": n.subject }));
            event["id"] = json!(n.id);
            crate::notify::deliver_webhook(
                &url,
                secret.as_bytes(),
                &event,
                store.now().as_second(),
            )
            .await
            .map(|_| ())
        }
        other => Err(crate::error::OpsError::Payload(format!(
            "unknown notification channel `{other}`"
        ))),
    };
    match outcome {
        Ok(()) => {
            notifications::mark(store, id, Ok(())).await?;
            Ok(())
        }
        Err(e) => {
            notifications::mark(store, id, Err(&e.to_string())).await?;
            Err(e)
        }
    }
}
