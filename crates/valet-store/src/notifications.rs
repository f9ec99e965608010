//! The notification outbox (one row per recipient and channel, delivered by jobs that
//! `valet-ops` enqueues) and the outbound webhook endpoints. A webhook's secret is
//! write-only: it is read back only by delivery, never listed, logged or audited.

use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;
use valet_core::{Actor, CoreError, Permission};

use crate::audit::{self, NewEvent};
use crate::requests::{ts, Request};
use crate::{new_id, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub id: String,
    pub request_id: Option<String>,
    pub customer_id: Option<String>,
    /// `email` or `webhook`.
    pub channel: String,
    /// An e-mail address, or a webhook's id.
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// Machine-readable event name, e.g. `request.approved`.
    pub event: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: jiff::Timestamp,
    pub sent_at: Option<jiff::Timestamp>,
}

const SELECT: &str =
    "SELECT id, request_id, customer_id, channel, recipient, subject, body, event, \
    state, attempts, last_error, created_at, sent_at FROM notifications";

fn from_row(row: &AnyRow) -> Result<Notification> {
    let sent: Option<i64> = row.try_get("sent_at")?;
    Ok(Notification {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        customer_id: row.try_get("customer_id")?,
        channel: row.try_get("channel")?,
        recipient: row.try_get("recipient")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        event: row.try_get("event")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        created_at: ts(row.try_get("created_at")?)?,
        sent_at: sent.map(ts).transpose()?,
    })
}

/// Records one pending notification and returns its id.
pub async fn record(
    store: &Store,
    request: Option<&Request>,
    channel: &str,
    recipient: &str,
    subject: &str,
    body: &str,
    event: &str,
) -> Result<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO notifications (id, request_id, customer_id, channel, recipient, subject, \
         body, event, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9)",
    )
    .bind(&id)
    .bind(request.map(|r| r.id.clone()))
    .bind(request.map(|r| r.customer_id.clone()))
    .bind(channel)
    .bind(recipient)
    .bind(subject)
    .bind(body)
    .bind(event)
    .bind(store.now_micros())
    .execute(store.pool())
    .await?;
    Ok(id)
}

/// Like [`record`], at most once per `once_key` (reminders): the id is derived from the key, a
/// second call with the same key records nothing and returns the same id.
#[allow(clippy::too_many_arguments)]
pub async fn record_once(
    store: &Store,
    request: Option<&Request>,
    channel: &str,
    recipient: &str,
    subject: &str,
    body: &str,
    event: &str,
    once_key: &str,
) -> Result<String> {
    use sha2::{Digest, Sha256};
    let id = format!(
        "n1-{}",
        &hex::encode(Sha256::digest(
            format!("{once_key}|{channel}|{recipient}").as_bytes()
        ))[..32]
    );
    let key = format!("{once_key}|{channel}|{recipient}");
    sqlx::query(
        "INSERT INTO notifications (id, request_id, customer_id, channel, recipient, subject, \
         body, event, state, created_at, once_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
         'pending', $9, $10) ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(request.map(|r| r.id.clone()))
    .bind(request.map(|r| r.customer_id.clone()))
    .bind(channel)
    .bind(recipient)
    .bind(subject)
    .bind(body)
    .bind(event)
    .bind(store.now_micros())
    .bind(key)
    .execute(store.pool())
    .await?;
    Ok(id)
}

/// Records a notification to one customer that concerns no request (a published hotfix), at
/// most once per `once_key` and recipient; returns its id either way.
#[allow(clippy::too_many_arguments)]
pub async fn record_for_customer(
    store: &Store,
    customer_id: &str,
    channel: &str,
    recipient: &str,
    subject: &str,
    body: &str,
    event: &str,
    once_key: &str,
) -> Result<String> {
    use sha2::{Digest, Sha256};
    let key = format!("{once_key}|{channel}|{recipient}");
    let id = format!("n1-{}", &hex::encode(Sha256::digest(key.as_bytes()))[..32]);
    sqlx::query(
        "INSERT INTO notifications (id, request_id, customer_id, channel, recipient, subject, \
         body, event, state, created_at, once_key) VALUES ($1, NULL, $2, $3, $4, $5, $6, $7, \
         'pending', $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(customer_id)
    .bind(channel)
    .bind(recipient)
    .bind(subject)
    .bind(body)
    .bind(event)
    .bind(store.now_micros())
    .bind(key)
    .execute(store.pool())
    .await?;
    Ok(id)
}

/// One notification (for delivery: no tenant check, valet's own use).
pub async fn get(store: &Store, id: &str) -> Result<Notification> {
    let row = sqlx::query(&format!("{SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("notification", id))?;
    from_row(&row)
}

/// Records the outcome of one delivery attempt.
pub async fn mark(store: &Store, id: &str, result: std::result::Result<(), &str>) -> Result<()> {
    let now = store.now_micros();
    match result {
        Ok(()) => sqlx::query(
            "UPDATE notifications SET state = 'sent', attempts = attempts + 1, sent_at = $1, \
             last_error = NULL WHERE id = $2",
        )
        .bind(now)
        .bind(id),
        Err(e) => sqlx::query(
            "UPDATE notifications SET state = 'failed', attempts = attempts + 1, last_error = $1 \
             WHERE id = $2",
        )
        .bind(e.to_string())
        .bind(id),
    }
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Notifications about a request the actor may see, newest first.
pub async fn of_request(
    store: &Store,
    actor: &Actor,
    request: &Request,
) -> Result<Vec<Notification>> {
    if !actor.sees_tenant(&request.customer_id) {
        return Err(StoreError::not_found("request", &request.key));
    }
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE request_id = $1 ORDER BY created_at DESC, id DESC"
    ))
    .bind(&request.id)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// A webhook endpoint as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: String,
    pub customer_id: Option<String>,
    pub url: String,
    pub created_at: jiff::Timestamp,
}

fn webhook_from_row(r: &AnyRow) -> Result<Webhook> {
    Ok(Webhook {
        id: r.try_get("id")?,
        customer_id: r.try_get("customer_id")?,
        url: r.try_get("url")?,
        created_at: ts(r.try_get("created_at")?)?,
    })
}

/// Registers an endpoint for one customer's events (or, with `None`, every customer's).
pub async fn add_webhook(
    store: &Store,
    actor: &Actor,
    customer_id: Option<&str>,
    url: &str,
    secret: &str,
) -> Result<Webhook> {
    actor.require(Permission::Administer, "register webhooks")?;
    let parsed = url::Url::parse(url).map_err(|e| CoreError::Invalid {
        field: "url",
        why: format!("`{url}` is not a URL ({e}); give http(s)://host/path"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(CoreError::Invalid {
            field: "url",
            why: "must be http:// or https://".into(),
        }
        .into());
    }
    if secret.len() < 16 {
        return Err(CoreError::Invalid {
            field: "secret",
            why: "at least 16 characters".into(),
        }
        .into());
    }
    let now = store.now();
    let w = Webhook {
        id: new_id(),
        customer_id: customer_id.map(str::to_string),
        url: url.to_string(),
        created_at: now,
    };
    let mut tx = store.write().await?;
    sqlx::query("INSERT INTO webhooks (id, customer_id, url, secret, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&w.id)
        .bind(customer_id)
        .bind(&w.url)
        .bind(secret)
        .bind(now.as_microsecond())
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "webhook.create",
            object_type: "webhook",
            object_id: &w.id,
            customer_id,
            before: None,
            after: Some(json!({ "url": crate::redact(url) })),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(w)
}

/// Endpoints that receive events of `customer_id`: its own and the vendor-wide ones.
pub async fn webhooks_for(store: &Store, customer_id: &str) -> Result<Vec<Webhook>> {
    let rows = sqlx::query(
        "SELECT id, customer_id, url, created_at FROM webhooks \
         WHERE customer_id IS NULL OR customer_id = $1 ORDER BY created_at",
    )
    .bind(customer_id)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(webhook_from_row).collect()
}

/// A webhook's URL and secret, for delivery only.
pub async fn webhook_secret(store: &Store, id: &str) -> Result<(String, String)> {
    let row = sqlx::query("SELECT url, secret FROM webhooks WHERE id = $1")
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("webhook", id))?;
    Ok((row.try_get("url")?, row.try_get("secret")?))
}

/// Every endpoint (for administrators), oldest first, without secrets.
pub async fn all_webhooks(store: &Store) -> Result<Vec<Webhook>> {
    let rows =
        sqlx::query("SELECT id, customer_id, url, created_at FROM webhooks ORDER BY created_at")
            .fetch_all(store.pool())
            .await?;
    rows.iter().map(webhook_from_row).collect()
}
