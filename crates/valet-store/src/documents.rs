//! Controlled documents (IQ reports): stored once, immutable, with their content SHA-256
//! recorded in the audit trail when they are made.

use base64::Engine;
use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;
use valet_core::Actor;

use crate::audit::{self, NewEvent};
use crate::requests::{self, ts, Request};
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Document {
    pub id: String,
    pub request_key: String,
    pub customer_id: String,
    pub kind: String,
    pub title: String,
    pub sha256: String,
    pub created_by: String,
    pub created_at: jiff::Timestamp,
}

const SELECT: &str =
    "SELECT d.id, q.key AS request_key, d.customer_id, d.kind, d.title, d.sha256, \
    d.created_by, d.created_at FROM documents d JOIN requests q ON q.id = d.request_id";

fn from_row(row: &AnyRow) -> Result<Document> {
    Ok(Document {
        id: row.try_get("id")?,
        request_key: row.try_get("request_key")?,
        customer_id: row.try_get("customer_id")?,
        kind: row.try_get("kind")?,
        title: row.try_get("title")?,
        sha256: row.try_get("sha256")?,
        created_by: row.try_get("created_by")?,
        created_at: ts(row.try_get("created_at")?)?,
    })
}

/// The next document id for `request` and `kind`, e.g. `IQ-VAL-3-2`.
pub async fn next_id(store: &Store, request: &Request, kind: &str) -> Result<String> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM documents WHERE request_id = $1 AND kind = $2")
            .bind(&request.id)
            .bind(kind)
            .fetch_one(store.pool())
            .await?;
    Ok(format!(
        "{}-{}-{}",
        kind.to_ascii_uppercase(),
        request.key,
        n + 1
    ))
}

/// Stores a rendered document; its id, kind and SHA-256 go into the audit trail. Storing the
/// same id again returns the stored one unchanged (a resumed run does not make a second).
#[allow(clippy::too_many_arguments)]
pub async fn store_document(
    store: &Store,
    actor: &Actor,
    request: &Request,
    id: &str,
    kind: &str,
    title: &str,
    sha256: &str,
    html: &str,
    pdf: &[u8],
) -> Result<Document> {
    let now = store.now();
    let mut tx = store.write().await?;
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM documents WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        sqlx::query(
            "INSERT INTO documents (id, request_id, customer_id, kind, title, sha256, html, \
             pdf_b64, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(&request.id)
        .bind(&request.customer_id)
        .bind(kind)
        .bind(title)
        .bind(sha256)
        .bind(html)
        .bind(base64::engine::general_purpose::STANDARD.encode(pdf))
        .bind(&actor.username)
        .bind(now.as_microsecond())
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            now,
            NewEvent {
                actor,
                action: "document.create",
                object_type: "request",
                object_id: &request.key,
                customer_id: Some(&request.customer_id),
                before: None,
                after: Some(
                    json!({ "document": id, "kind": kind, "title": title, "sha256": sha256 }),
                ),
                reason: None,
            },
        )
        .await?;
    }
    tx.commit().await?;
    get(store, actor, id).await
}

/// A document's record; another tenant's is `NotFound`.
pub async fn get(store: &Store, actor: &Actor, id: &str) -> Result<Document> {
    let row = sqlx::query(&format!("{SELECT} WHERE d.id = $1"))
        .bind(id.trim().to_ascii_uppercase())
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("document", id))?;
    let d = from_row(&row)?;
    if !actor.sees_tenant(&d.customer_id) {
        return Err(StoreError::not_found("document", id));
    }
    Ok(d)
}

/// Documents of a request, newest first.
pub async fn of_request(store: &Store, actor: &Actor, key: &str) -> Result<Vec<Document>> {
    let r = requests::get(store, actor, key).await?;
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE d.request_id = $1 ORDER BY d.created_at DESC, d.id DESC"
    ))
    .bind(&r.id)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Which rendering to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Pdf,
}

/// A document's content in one format.
pub async fn content(
    store: &Store,
    actor: &Actor,
    id: &str,
    format: Format,
) -> Result<(Document, Vec<u8>)> {
    let d = get(store, actor, id).await?;
    let col = match format {
        Format::Html => "html",
        Format::Pdf => "pdf_b64",
    };
    let text: String = sqlx::query_scalar(&format!("SELECT {col} FROM documents WHERE id = $1"))
        .bind(&d.id)
        .fetch_one(store.pool())
        .await?;
    let bytes = match format {
        Format::Html => text.into_bytes(),
        Format::Pdf => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| StoreError::Corrupt(format!("document {}: {e}", d.id)))?,
    };
    Ok((d, bytes))
}
