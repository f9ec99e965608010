//! The hash-chained audit trail.
//!
//! Every state change appends one event in the same transaction as the change. Event `n`
//! stores the hash of event `n-1` and its own hash: SHA-256 over a canonical encoding of all
//! its fields (JSON objects with sorted keys) plus the previous hash. `audit_head` holds the
//! last sequence number and hash; appending updates it first, which serialises concurrent
//! writers, and lets [`verify`] notice events cut from the end of the chain.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;
use valet_core::Actor;

use crate::{Result, Store, StoreError, Tx};

/// The hash the first event links to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a state change says about itself.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub actor: &'a Actor,
    /// Dotted verb, e.g. `customer.create`, `environment.state`.
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: &'a str,
    /// The tenant the object belongs to, if any: customer users see these events.
    pub customer_id: Option<&'a str>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub reason: Option<&'a str>,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: jiff::Timestamp,
    pub actor_id: String,
    pub actor_name: String,
    pub actor_role: String,
    pub customer_id: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub reason: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// JSON text with object keys sorted at every level, independent of how the value was built.
pub fn canonical_json(v: &Value) -> String {
    // Keys are sorted here rather than trusting the map type, so the encoding stays stable
    // even if a dependency turns on serde_json's `preserve_order`.
    let mut out = String::new();
    write_sorted(v, &mut out);
    out
}

fn write_sorted(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_sorted(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Fields as stored (JSON already canonical text), the input of the hash.
struct Stored<'a> {
    seq: i64,
    at: i64,
    actor_id: &'a str,
    actor_name: &'a str,
    actor_role: &'a str,
    customer_id: Option<&'a str>,
    action: &'a str,
    object_type: &'a str,
    object_id: &'a str,
    before_json: Option<&'a str>,
    after_json: Option<&'a str>,
    reason: Option<&'a str>,
    prev_hash: &'a str,
}

impl Stored<'_> {
    /// SHA-256 over a length-prefixed encoding of every field, then the previous hash.
    /// Length prefixes make the encoding unambiguous (no field can borrow another's bytes).
    fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"valet-audit-v1\n");
        let mut field = |name: &str, v: Option<&str>| {
            h.update(name.as_bytes());
            match v {
                None => h.update(b"=null\n"),
                Some(s) => {
                    h.update(format!("={}:", s.len()).as_bytes());
                    h.update(s.as_bytes());
                    h.update(b"\n");
                }
            }
        };
        field("seq", Some(&self.seq.to_string()));
        field("at", Some(&self.at.to_string()));
        field("actor_id", Some(self.actor_id));
        field("actor_name", Some(self.actor_name));
        field("actor_role", Some(self.actor_role));
        field("customer_id", self.customer_id);
        field("action", Some(self.action));
        field("object_type", Some(self.object_type));
        field("object_id", Some(self.object_id));
        field("before", self.before_json);
        field("after", self.after_json);
        field("reason", self.reason);
        field("prev_hash", Some(self.prev_hash));
        hex::encode(h.finalize())
    }
}

/// Appends an event inside the caller's transaction; returns its sequence number.
pub async fn append(tx: &mut Tx, at: jiff::Timestamp, ev: NewEvent<'_>) -> Result<i64> {
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut **tx)
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev_hash: String = head.try_get("hash")?;
    let before_json = ev.before.as_ref().map(canonical_json);
    let after_json = ev.after.as_ref().map(canonical_json);
    let role = ev.actor.role.to_string();
    let at = at.as_microsecond();
    let stored = Stored {
        seq,
        at,
        actor_id: &ev.actor.user_id,
        actor_name: &ev.actor.username,
        actor_role: &role,
        customer_id: ev.customer_id,
        action: ev.action,
        object_type: ev.object_type,
        object_id: ev.object_id,
        before_json: before_json.as_deref(),
        after_json: after_json.as_deref(),
        reason: ev.reason,
        prev_hash: &prev_hash,
    };
    let hash = stored.hash();
    sqlx::query(
        "INSERT INTO audit_events (seq, at, actor_id, actor_name, actor_role, customer_id,
             action, object_type, object_id, before_json, after_json, reason, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(seq)
    .bind(at)
    .bind(stored.actor_id)
    .bind(stored.actor_name)
    .bind(stored.actor_role)
    .bind(stored.customer_id)
    .bind(stored.action)
    .bind(stored.object_type)
    .bind(stored.object_id)
    .bind(stored.before_json)
    .bind(stored.after_json)
    .bind(stored.reason)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
    Ok(seq)
}

/// Result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// Every link holds; `events` were checked and the chain ends in `head`.
    Ok { events: i64, head: String },
    /// The first broken link: the event at `seq` and what is wrong with it.
    Broken { seq: i64, problem: String },
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Ok { events, head } => {
                write!(f, "OK: {events} audit events, chain intact, head {head}")
            }
            Verdict::Broken { seq, problem } => {
                write!(f, "BROKEN at event {seq}: {problem}")
            }
        }
    }
}

const SELECT: &str = "SELECT seq, at, actor_id, actor_name, actor_role, customer_id, action,
        object_type, object_id, before_json, after_json, reason, prev_hash, hash
     FROM audit_events";

/// Walks the chain from the first event and reports the first broken link.
pub async fn verify(store: &Store) -> Result<Verdict> {
    use futures::TryStreamExt;
    let sql = format!("{SELECT} ORDER BY seq");
    let mut rows = sqlx::query(&sql).fetch(store.pool());
    let mut expected_seq = 1i64;
    let mut prev_hash = GENESIS.to_string();
    while let Some(row) = rows.try_next().await? {
        let seq: i64 = row.try_get("seq")?;
        if seq != expected_seq {
            return Ok(Verdict::Broken {
                seq: expected_seq,
                problem: if seq > expected_seq {
                    format!(
                        "event {expected_seq} is missing (the next stored event is {seq}): \
                         events were deleted or renumbered"
                    )
                } else {
                    format!("event number {seq} appears out of order")
                },
            });
        }
        let s = StoredOwned::from_row(&row)?;
        if s.prev_hash != prev_hash {
            return Ok(Verdict::Broken {
                seq,
                problem: "its link to the previous event does not match: events were \
                          reordered, replaced or deleted before it"
                    .into(),
            });
        }
        if s.as_stored().hash() != s.hash {
            return Ok(Verdict::Broken {
                seq,
                problem: "its content does not match its hash: the event was edited after \
                          it was written"
                    .into(),
            });
        }
        prev_hash = s.hash;
        expected_seq += 1;
    }
    drop(rows);
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(store.pool())
        .await?;
    let head_seq: i64 = head.try_get("seq")?;
    let head_hash: String = head.try_get("hash")?;
    let last = expected_seq - 1;
    if head_seq != last || head_hash != prev_hash {
        return Ok(Verdict::Broken {
            seq: last + 1,
            problem: format!(
                "the chain ends at event {last} but its head records event {head_seq}: \
                 events were deleted from the end, or the head was altered"
            ),
        });
    }
    Ok(Verdict::Ok {
        events: last,
        head: prev_hash,
    })
}

struct StoredOwned {
    seq: i64,
    at: i64,
    actor_id: String,
    actor_name: String,
    actor_role: String,
    customer_id: Option<String>,
    action: String,
    object_type: String,
    object_id: String,
    before_json: Option<String>,
    after_json: Option<String>,
    reason: Option<String>,
    prev_hash: String,
    hash: String,
}

impl StoredOwned {
    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(StoredOwned {
            seq: row.try_get("seq")?,
            at: row.try_get("at")?,
            actor_id: row.try_get("actor_id")?,
            actor_name: row.try_get("actor_name")?,
            actor_role: row.try_get("actor_role")?,
            customer_id: row.try_get("customer_id")?,
            action: row.try_get("action")?,
            object_type: row.try_get("object_type")?,
            object_id: row.try_get("object_id")?,
            before_json: row.try_get("before_json")?,
            after_json: row.try_get("after_json")?,
            reason: row.try_get("reason")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }

    fn as_stored(&self) -> Stored<'_> {
        Stored {
            seq: self.seq,
            at: self.at,
            actor_id: &self.actor_id,
            actor_name: &self.actor_name,
            actor_role: &self.actor_role,
            customer_id: self.customer_id.as_deref(),
            action: &self.action,
            object_type: &self.object_type,
            object_id: &self.object_id,
            before_json: self.before_json.as_deref(),
            after_json: self.after_json.as_deref(),
            reason: self.reason.as_deref(),
            prev_hash: &self.prev_hash,
        }
    }

    fn into_event(self) -> Result<AuditEvent> {
        let json = |s: Option<String>| -> Result<Option<Value>> {
            s.map(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| StoreError::Corrupt(format!("audit event JSON: {e}")))
            })
            .transpose()
        };
        Ok(AuditEvent {
            seq: self.seq,
            at: jiff::Timestamp::from_microsecond(self.at)
                .map_err(|e| StoreError::Corrupt(format!("audit event time: {e}")))?,
            actor_id: self.actor_id,
            actor_name: self.actor_name,
            actor_role: self.actor_role,
            customer_id: self.customer_id,
            action: self.action,
            object_type: self.object_type,
            object_id: self.object_id,
            before: json(self.before_json)?,
            after: json(self.after_json)?,
            reason: self.reason,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// Events visible to `actor`, newest first: a customer-side actor sees only its tenant's.
pub async fn list(
    store: &Store,
    actor: &Actor,
    object: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<AuditEvent>> {
    let mut sql = format!("{SELECT} WHERE 1 = 1");
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if actor.role.is_customer() {
        sql.push_str(&format!(" AND customer_id = {}", next()));
    }
    if object.is_some() {
        sql.push_str(&format!(
            " AND object_type = {} AND object_id = {}",
            next(),
            next()
        ));
    }
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", next()));
    let mut q = sqlx::query(&sql);
    if actor.role.is_customer() {
        q = q.bind(actor.customer_id.clone().unwrap_or_default());
    }
    if let Some((t, id)) = object {
        q = q.bind(t.to_string()).bind(id.to_string());
    }
    let rows = q.bind(limit).fetch_all(store.pool()).await?;
    rows.iter()
        .map(|r| StoredOwned::from_row(r)?.into_event())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"y": [ {"d": 1, "c": 2} ], "x": null}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":null,"y":[{"c":2,"d":1}]},"b":1}"#
        );
    }

    fn sample(prev: &str) -> StoredOwned {
        StoredOwned {
            seq: 1,
            at: 1,
            actor_id: "u".into(),
            actor_name: "ann".into(),
            actor_role: "admin".into(),
            customer_id: None,
            action: "customer.create".into(),
            object_type: "customer".into(),
            object_id: "c1".into(),
            before_json: None,
            after_json: Some("{}".into()),
            reason: None,
            prev_hash: prev.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn hash_depends_on_every_field_and_on_the_previous_hash() {
        let base = sample(GENESIS);
        let h = base.as_stored().hash();
        let mut other = sample(GENESIS);
        other.reason = Some(String::new());
        assert_ne!(other.as_stored().hash(), h, "null and empty reason differ");
        let mut other = sample(GENESIS);
        other.actor_name = "an".into();
        other.actor_role = "nadmin".into();
        assert_ne!(other.as_stored().hash(), h, "fields cannot borrow bytes");
        let other = sample(&"1".repeat(64));
        assert_ne!(other.as_stored().hash(), h);
        assert_eq!(sample(GENESIS).as_stored().hash(), h, "deterministic");
    }
}
