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
