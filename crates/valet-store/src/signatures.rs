//! Electronic signatures: stored bound to the SHA-256 of the signed record, written in the
//! same transaction as the change they authorise, and only after the signer entered their
//! password again ([`reauthenticate`]): a session or an API token alone never signs.

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;
use valet_core::signature::{Meaning, Signature};
use valet_core::{Actor, CoreError};

use crate::audit::{self, NewEvent};
use crate::requests::ts;
use crate::users::{self, User};
use crate::{customers, new_id, Result, Store, StoreError, Tx};

/// Checks the actor's password again (21 CFR 11.200: both components at each signing in a
/// session that is not continuous). A wrong password is `Unauthenticated` and signs nothing.
pub async fn reauthenticate(store: &Store, actor: &Actor, password: &str) -> Result<User> {
    if password.is_empty() {
        return Err(CoreError::Invalid {
            field: "password",
            why: "signing needs your password entered again".into(),
        }
        .into());
    }
    let user = users::authenticate_password(store, &actor.username, password).await?;
    if user.id != actor.user_id {
        return Err(StoreError::Unauthenticated);
    }
    Ok(user)
}

/// The zone a signer's local time is shown in: their own, else their tenant's, else UTC.
pub async fn zone_of(store: &Store, user: &User) -> Result<String> {
    let own: Option<Option<String>> = sqlx::query_scalar("SELECT zone FROM users WHERE id = $1")
        .bind(&user.id)
        .fetch_optional(store.pool())
        .await?;
    if let Some(Some(z)) = own {
        return Ok(z);
    }
    if let Some(c) = &user.customer_id {
        if let Ok(c) = customers::get(store, &user.actor(), c).await {
            return Ok(c.zone.to_string());
        }
    }
    Ok("UTC".into())
}

/// What to sign.
#[derive(Debug, Clone)]
pub struct ToSign<'a> {
    pub object_type: &'a str,
    /// The record's human key (`VAL-3`) or id.
    pub object_id: &'a str,
    pub customer_id: Option<&'a str>,
    pub record_sha256: &'a str,
    pub meaning: Meaning,
    pub reason: Option<&'a str>,
}

/// Records a signature by `signer` (already re-authenticated) inside `tx`, audited.
pub async fn sign_in(
    tx: &mut Tx,
    now: jiff::Timestamp,
    signer: &User,
    zone: &str,
    what: ToSign<'_>,
) -> Result<Signature> {
    let s = Signature {
        id: new_id(),
        object_type: what.object_type.to_string(),
        object_id: what.object_id.to_string(),
        signer_id: signer.id.clone(),
        username: signer.username.clone(),
        printed_name: signer.display_name.clone(),
        meaning: what.meaning,
        signed_at: now,
        signer_zone: zone.to_string(),
        signed_at_local: Signature::local_time(now, zone),
        record_sha256: what.record_sha256.to_string(),
        reason: what.reason.map(str::to_string),
    };
    sqlx::query(
        "INSERT INTO signatures (id, object_type, object_id, customer_id, signer_id, username, \
         printed_name, meaning, signed_at, signer_zone, signed_at_local, record_sha256, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&s.id)
    .bind(&s.object_type)
    .bind(&s.object_id)
    .bind(what.customer_id)
    .bind(&s.signer_id)
    .bind(&s.username)
    .bind(&s.printed_name)
    .bind(s.meaning.as_str())
    .bind(now.as_microsecond())
    .bind(&s.signer_zone)
    .bind(&s.signed_at_local)
    .bind(&s.record_sha256)
    .bind(&s.reason)
    .execute(&mut **tx)
    .await?;
    audit::append(
        tx,
        now,
        NewEvent {
            actor: &signer.actor(),
            action: "signature.sign",
            object_type: what.object_type,
            object_id: what.object_id,
            customer_id: what.customer_id,
            before: None,
            after: Some(json!({
                "signature": s.id, "printed_name": s.printed_name, "meaning": s.meaning,
                "record_sha256": s.record_sha256, "signed_at_local": s.signed_at_local,
            })),
            reason: what.reason,
        },
    )
    .await?;
    Ok(s)
}

fn from_row(row: &AnyRow) -> Result<Signature> {
    let meaning: String = row.try_get("meaning")?;
    Ok(Signature {
        id: row.try_get("id")?,
        object_type: row.try_get("object_type")?,
        object_id: row.try_get("object_id")?,
        signer_id: row.try_get("signer_id")?,
        username: row.try_get("username")?,
        printed_name: row.try_get("printed_name")?,
        meaning: meaning.parse()?,
        signed_at: ts(row.try_get("signed_at")?)?,
        signer_zone: row.try_get("signer_zone")?,
        signed_at_local: row.try_get("signed_at_local")?,
        record_sha256: row.try_get("record_sha256")?,
        reason: row.try_get("reason")?,
    })
}

/// Signatures on one record, oldest first. The caller has checked the actor may see it.
pub async fn of(store: &Store, object_type: &str, object_id: &str) -> Result<Vec<Signature>> {
    let rows = sqlx::query(
        "SELECT id, object_type, object_id, signer_id, username, printed_name, meaning, \
         signed_at, signer_zone, signed_at_local, record_sha256, reason FROM signatures \
         WHERE object_type = $1 AND object_id = $2 ORDER BY signed_at, id",
    )
    .bind(object_type)
    .bind(object_id)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}
