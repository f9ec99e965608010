//! Service-desk requests (VAL first): creation with the domain's checks, the state machine,
//! comments, watchers, attachments and history. Every change is audited with its actor in the
//! same transaction; a customer-side actor sees only its own tenant's requests (others are
//! `NotFound`, exactly like missing ones).

use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;
use valet_core::val::{PairFacts, RefreshFacts, ValContext, ValRequest, ValRequestInput, ValRules};
use valet_core::{Actor, CoreError, EnvState, Permission, RequestKind, RequestState, Tier};

use crate::audit::{self, canonical_json, NewEvent};
use crate::{customers, environments, new_id, releases, Result, Store, StoreError, Tx};

/// A request as shown to people and the API.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Request {
    pub id: String,
    pub key: String,
    pub kind: RequestKind,
    pub customer_id: String,
    pub customer_name: String,
    pub state: RequestState,
    pub held_from: Option<RequestState>,
    pub title: String,
    /// The kind's fields; for VAL a [`ValRequest`] plus `pair_label` and the VAL pair's id
    /// once provisioned (`val_pair_id`).
    pub details: Value,
    pub created_by: String,
    pub created_by_name: String,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
}

impl Request {
    /// The VAL fields of a VAL request.
    pub fn val(&self) -> Result<ValRequest> {
        if self.kind != RequestKind::Val {
            return Err(StoreError::Conflict(format!(
                "{} is {} request, not a VAL request: only a VAL has validation dates to \
                 extend or a VAL pair to provision",
                self.key,
                match self.kind {
                    RequestKind::Upgrade => "an upgrade",
                    RequestKind::Hotfix => "a hotfix",
                    _ => "another kind of",
                }
            )));
        }
        serde_json::from_value(self.details.clone())
            .map_err(|e| StoreError::Corrupt(format!("details of {}: {e}", self.key)))
    }

    /// SHA-256 of the record's canonical content: what a signature is bound to. Timestamps of
    /// bookkeeping and the state are not content; the fields the requester asked for are.
    pub fn content_sha256(&self) -> String {
        let content = json!({
            "key": self.key,
            "kind": self.kind,
            "customer_id": self.customer_id,
            "title": self.title,
            "details": content_details(&self.details),
        });
        hex::encode(Sha256::digest(canonical_json(&content).as_bytes()))
    }
}

/// Keys of `details` that valet writes while working on a request (bookkeeping, not what the
/// requester asked for): a signature stays valid when they change.
const BOOKKEEPING: [&str; 11] = [
    "val_pair_id",
    "signed_off",
    "provisioned",
    "extension_requested",
    "closing",
    "close_after_prod_upgrade",
    "confirm_each_environment",
    "confirmed",
    "abort_requested",
    "started_early",
    "failure",
];

/// Details without valet's bookkeeping.
fn content_details(d: &Value) -> Value {
    let mut d = d.clone();
    if let Some(o) = d.as_object_mut() {
        for k in BOOKKEEPING {
            o.remove(k);
        }
    }
    d
}

pub(crate) fn ts(micros: i64) -> Result<jiff::Timestamp> {
    jiff::Timestamp::from_microsecond(micros)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {micros}: {e}")))
}

const SELECT: &str = "SELECT r.id, r.key, r.kind, r.customer_id, c.name AS customer_name, \
    r.state, r.held_from, r.title, r.details, r.created_by, u.display_name AS created_by_name, \
    r.created_at, r.updated_at \
    FROM requests r JOIN customers c ON c.id = r.customer_id JOIN users u ON u.id = r.created_by";

fn from_row(row: &AnyRow) -> Result<Request> {
    let kind: String = row.try_get("kind")?;
    let state: String = row.try_get("state")?;
    let held: Option<String> = row.try_get("held_from")?;
    let details: String = row.try_get("details")?;
    Ok(Request {
        id: row.try_get("id")?,
        key: row.try_get("key")?,
        kind: kind.parse()?,
        customer_id: row.try_get("customer_id")?,
        customer_name: row.try_get("customer_name")?,
        state: state.parse()?,
        held_from: held.map(|h| h.parse()).transpose()?,
        title: row.try_get("title")?,
        details: serde_json::from_str(&details)
            .map_err(|e| StoreError::Corrupt(format!("request details: {e}")))?,
        created_by: row.try_get("created_by")?,
        created_by_name: row.try_get("created_by_name")?,
        created_at: ts(row.try_get("created_at")?)?,
        updated_at: ts(row.try_get("updated_at")?)?,
    })
}

/// Bumps the counter of `kind` inside `tx` and returns the next number.
pub(crate) async fn next_number(tx: &mut Tx, kind: &str) -> Result<i64> {
    let row =
        sqlx::query("UPDATE request_counters SET last = last + 1 WHERE kind = $1 RETURNING last")
            .bind(kind)
            .fetch_optional(&mut **tx)
            .await?;
    if let Some(r) = row {
        return Ok(r.try_get("last")?);
    }
    sqlx::query("INSERT INTO request_counters (kind, last) VALUES ($1, 1)")
        .bind(kind)
        .execute(&mut **tx)
        .await?;
    Ok(1)
}

/// What a new request is.
pub(crate) struct NewRequest<'a> {
    pub kind: RequestKind,
    pub customer_id: &'a str,
    pub title: &'a str,
    pub details: &'a Value,
}

/// Writes a new request inside `tx`: its key from the kind's counter, the request in
/// `submitted`, the requester as first watcher, and the `request.create` audit event (with
/// `extra` merged into its after-image). Returns (id, key).
pub(crate) async fn insert_in(
    tx: &mut Tx,
    now: jiff::Timestamp,
    actor: &Actor,
    new: NewRequest<'_>,
    extra: Value,
) -> Result<(String, String)> {
    let NewRequest {
        kind,
        customer_id,
        title,
        details,
    } = new;
    let n = next_number(tx, kind.as_str()).await?;
    let key = kind.key(n as u64);
    let id = new_id();
    sqlx::query(
        "INSERT INTO requests (id, key, kind, customer_id, state, held_from, title, details, \
         created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, 'submitted', NULL, $5, $6, \
         $7, $8, $9)",
    )
    .bind(&id)
    .bind(&key)
    .bind(kind.as_str())
    .bind(customer_id)
    .bind(title)
    .bind(details.to_string())
    .bind(&actor.user_id)
    .bind(now.as_microsecond())
    .bind(now.as_microsecond())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO request_watchers (request_id, user_id, created_at) VALUES ($1, $2, $3)",
    )
    .bind(&id)
    .bind(&actor.user_id)
    .bind(now.as_microsecond())
    .execute(&mut **tx)
    .await?;
    let mut after = json!({ "key": key, "kind": kind.as_str(), "state": "submitted", "title": title, "details": details });
    if let (Some(a), Some(x)) = (after.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            a.insert(k.clone(), v.clone());
        }
    }
    audit::append(
        tx,
        now,
        NewEvent {
            actor,
            action: "request.create",
            object_type: "request",
            object_id: &key,
            customer_id: Some(customer_id),
            before: None,
            after: Some(after),
            reason: None,
        },
    )
    .await?;
    Ok((id, key))
}

/// Resolves a pair reference: a pair id, or `Customer name/LABEL` (e.g. `Acme/PROD`), to the
/// pair's Main environment, within what the actor may see.
pub async fn resolve_pair(
    store: &Store,
    actor: &Actor,
    reference: &str,
) -> Result<Option<environments::Environment>> {
    let r = reference.trim();
    if r.is_empty() {
        return Ok(None);
    }
    let all = environments::list(store, actor, None).await?;
    if let Some(e) = all
        .iter()
        .find(|e| e.pair_id == r && e.role == valet_core::EnvRole::Main)
    {
        return Ok(Some(e.clone()));
    }
    let Some((cust, label)) = r.rsplit_once('/') else {
        return Ok(None);
    };
    let Some(c) = customers::find_by_name(store, actor, cust)
        .await
        .ok()
        .flatten()
    else {
        return Ok(None);
    };
    let name = format!("{}-MAIN", label.trim().to_ascii_uppercase());
    Ok(all
        .into_iter()
        .find(|e| e.customer_id == c.id && e.name.eq_ignore_ascii_case(&name)))
}

/// Files a VAL request: checks every field (all errors at once), refuses a duplicate of an
/// open request for the same pair and build, and writes the request, the requester as its
/// first watcher and the audit event in one transaction.
pub async fn create_val(
    store: &Store,
    actor: &Actor,
    input: ValRequestInput,
    rules: ValRules,
) -> Result<Request> {
    if !(actor.role.may(Permission::FileRequest) || actor.role.may(Permission::Triage)) {
        return Err(CoreError::Forbidden {
            role: actor.role.to_string(),
            action: "file a VAL request".into(),
        }
        .into());
    }
    let today = store.now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let main = resolve_pair(store, actor, &input.pair).await?;
    let target = match input.build.trim() {
        "" => None,
        b => match releases::get(store, actor, b).await {
            Ok(r) => Some((r.build, r.published)),
            Err(StoreError::NotFound { .. }) | Err(StoreError::Core(_)) => None,
            Err(e) => return Err(e),
        },
    };
    let refresh_env = match input.refresh.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => resolve_pair(store, actor, r).await?,
        _ => None,
    };
    let ctx = ValContext {
        today,
        pair: main.as_ref().map(|e| PairFacts {
            is_prod: e.tier == Tier::Prod,
            current_build: e.current_build,
        }),
        target,
        refresh: input.refresh.as_ref().map(|_| RefreshFacts {
            found: refresh_env.is_some(),
            is_val: refresh_env.as_ref().is_some_and(|e| e.tier == Tier::Val),
            live: refresh_env
                .as_ref()
                .is_some_and(|e| matches!(e.state, EnvState::Active | EnvState::Maintenance)),
        }),
        rules,
    };
    let mut checked_input = input.clone();
    if let Some(m) = &main {
        checked_input.pair = m.pair_id.clone();
    }
    if let Some(r) = &refresh_env {
        checked_input.refresh = Some(r.pair_id.clone());
    }
    let mut val = checked_input.check(&ctx)?;
    let main = main.expect("checked");
    if let (Some(r), Some(_)) = (&refresh_env, &val.refresh_of) {
        if r.customer_id != main.customer_id {
            return Err(CoreError::Fields(vec![valet_core::FieldError::new(
                "refresh",
                "that VAL pair belongs to another customer than the PROD pair",
            )])
            .into());
        }
        val.refresh_of = Some(r.pair_id.clone());
    }
    let customer = customers::get(store, actor, &main.customer_id).await?;
    let label = main.name.trim_end_matches("-MAIN").to_string();
    let mut details = serde_json::to_value(&val).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    details["pair_label"] = json!(label);
    let now = store.now();
    let mut tx = store.write().await?;
    // A second identical request while the first is open is a duplicate, not a new need;
    // a refresh of the first one's VAL pair is not (it replaces that pair).
    let open: Vec<(String, String)> = sqlx::query_as(
        "SELECT key, details FROM requests WHERE customer_id = $1 AND kind = 'val' \
         AND state NOT IN ('done', 'rejected', 'cancelled', 'failed')",
    )
    .bind(&customer.id)
    .fetch_all(&mut *tx)
    .await?;
    for (key, d) in open {
        let d: Value = serde_json::from_str(&d).unwrap_or(Value::Null);
        let replaced = val
            .refresh_of
            .as_deref()
            .is_some_and(|p| d["val_pair_id"] == json!(p));
        if d["pair_id"] == json!(val.pair_id) && d["build"] == json!(val.build) && !replaced {
            return Err(StoreError::Conflict(format!(
                "{key} already asks for a VAL of this pair on {}; comment on it or cancel it first",
                val.build
            )));
        }
    }
    let title = format!(
        "VAL of {} {label} on {} ({} → {})",
        customer.name.as_str(),
        val.build,
        val.begin,
        val.end
    );
    let (_, key) = insert_in(
        &mut tx,
        now,
        actor,
        NewRequest {
            kind: RequestKind::Val,
            customer_id: &customer.id,
            title: &title,
            details: &details,
        },
        json!({}),
    )
    .await?;
    tx.commit().await?;
    get(store, actor, &key).await
}

/// Filters of [`list`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub kind: Option<RequestKind>,
    pub state: Option<RequestState>,
    pub customer_id: Option<String>,
}

/// Requests the actor may see, newest first.
pub async fn list(store: &Store, actor: &Actor, f: &Filter) -> Result<Vec<Request>> {
    let mut sql = format!("{SELECT} WHERE 1 = 1");
    let mut binds: Vec<String> = Vec::new();
    if actor.role.is_customer() {
        binds.push(actor.customer_id.clone().unwrap_or_default());
        sql.push_str(&format!(" AND r.customer_id = ${}", binds.len()));
    }
    if let Some(c) = &f.customer_id {
        binds.push(c.clone());
        sql.push_str(&format!(" AND r.customer_id = ${}", binds.len()));
    }
    if let Some(k) = f.kind {
        binds.push(k.as_str().into());
        sql.push_str(&format!(" AND r.kind = ${}", binds.len()));
    }
    if let Some(s) = f.state {
        binds.push(s.as_str().into());
        sql.push_str(&format!(" AND r.state = ${}", binds.len()));
    }
    sql.push_str(" ORDER BY r.created_at DESC, r.key DESC");
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = q.bind(b);
    }
    q.fetch_all(store.pool())
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// One request by key (`VAL-3`) or id; another tenant's is `NotFound`.
pub async fn get(store: &Store, actor: &Actor, key: &str) -> Result<Request> {
    let row = sqlx::query(&format!("{SELECT} WHERE r.key = $1 OR r.id = $2"))
        .bind(key.trim().to_ascii_uppercase())
        .bind(key.trim())
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("request", key))?;
    let r = from_row(&row)?;
    if !actor.sees_tenant(&r.customer_id) {
        return Err(StoreError::not_found("request", key));
    }
    Ok(r)
}

/// Reads a request inside a write transaction (locks it on PostgreSQL).
pub(crate) async fn get_in(tx: &mut Tx, actor: &Actor, key: &str) -> Result<Request> {
    let row = sqlx::query(&format!("{SELECT} WHERE r.key = $1 OR r.id = $2"))
        .bind(key.trim().to_ascii_uppercase())
        .bind(key.trim())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::not_found("request", key))?;
    let r = from_row(&row)?;
    if !actor.sees_tenant(&r.customer_id) {
        return Err(StoreError::not_found("request", key));
    }
    Ok(r)
}

/// One step of the request's state machine inside `tx`, audited.
pub async fn transition_in(
    tx: &mut Tx,
    now: jiff::Timestamp,
    actor: &Actor,
    key: &str,
    to: RequestState,
    reason: Option<&str>,
) -> Result<Request> {
    let before = get_in(tx, actor, key).await?;
    let flow = valet_core::request::RequestFlow {
        state: before.state,
        held_from: before.held_from,
    }
    .transition(to, actor)?;
    sqlx::query("UPDATE requests SET state = $1, held_from = $2, updated_at = $3 WHERE id = $4")
        .bind(flow.state.as_str())
        .bind(flow.held_from.map(|h| h.as_str()))
        .bind(now.as_microsecond())
        .bind(&before.id)
        .execute(&mut **tx)
        .await?;
    audit::append(
        tx,
        now,
        NewEvent {
            actor,
            action: "request.state",
            object_type: "request",
            object_id: &before.key,
            customer_id: Some(&before.customer_id),
            before: Some(json!({ "state": before.state })),
            after: Some(json!({ "state": flow.state })),
            reason,
        },
    )
    .await?;
    Ok(Request {
        state: flow.state,
        held_from: flow.held_from,
        updated_at: now,
        ..before
    })
}

/// One step of the request's state machine, audited; an illegal step changes nothing.
pub async fn transition(
    store: &Store,
    actor: &Actor,
    key: &str,
    to: RequestState,
    reason: Option<&str>,
) -> Result<Request> {
    if matches!(
        to,
        RequestState::Rejected | RequestState::Cancelled | RequestState::OnHold
    ) && reason.is_none_or(|r| r.trim().is_empty())
    {
        return Err(CoreError::Invalid {
            field: "reason",
            why: format!("moving a request to `{to}` needs a reason; say why"),
        }
        .into());
    }
    let now = store.now();
    let mut tx = store.write().await?;
    let r = transition_in(&mut tx, now, actor, key, to, reason).await?;
    tx.commit().await?;
    Ok(r)
}

/// Replaces keys of the request's details inside `tx`, audited (before/after of those keys).
pub async fn update_details_in(
    tx: &mut Tx,
    now: jiff::Timestamp,
    actor: &Actor,
    key: &str,
    patch: Value,
    action: &str,
    reason: Option<&str>,
) -> Result<Request> {
    let before = get_in(tx, actor, key).await?;
    let mut details = before.details.clone();
    let mut old = serde_json::Map::new();
    if let (Some(d), Some(p)) = (details.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            old.insert(k.clone(), d.get(k).cloned().unwrap_or(Value::Null));
            d.insert(k.clone(), v.clone());
        }
    }
    sqlx::query("UPDATE requests SET details = $1, updated_at = $2 WHERE id = $3")
        .bind(details.to_string())
        .bind(now.as_microsecond())
        .bind(&before.id)
        .execute(&mut **tx)
        .await?;
    audit::append(
        tx,
        now,
        NewEvent {
            actor,
            action,
            object_type: "request",
            object_id: &before.key,
            customer_id: Some(&before.customer_id),
            before: Some(Value::Object(old)),
            after: Some(patch),
            reason,
        },
    )
    .await?;
    Ok(Request {
        details,
        updated_at: now,
        ..before
    })
}

/// A comment on a request.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Comment {
    pub id: String,
    pub author_id: String,
    pub author_name: String,
    pub body: String,
    pub created_at: jiff::Timestamp,
}

impl Comment {
    /// A row of `request_comments` or `finding_comments`.
    pub(crate) fn from_row(row: &AnyRow) -> Result<Comment> {
        Ok(Comment {
            id: row.try_get("id")?,
            author_id: row.try_get("author_id")?,
            author_name: row.try_get("author_name")?,
            body: row.try_get("body")?,
            created_at: ts(row.try_get("created_at")?)?,
        })
    }
}

/// Adds a comment (anyone who sees the request may comment), audited.
pub async fn comment(store: &Store, actor: &Actor, key: &str, body: &str) -> Result<Comment> {
    let body = body.trim();
    if body.is_empty() {
        return Err(CoreError::Invalid {
            field: "body",
            why: "the comment is empty".into(),
        }
        .into());
    }
    let now = store.now();
    let mut tx = store.write().await?;
    let r = get_in(&mut tx, actor, key).await?;
    let c = Comment {
        id: new_id(),
        author_id: actor.user_id.clone(),
        author_name: actor.username.clone(),
        body: body.to_string(),
        created_at: now,
    };
    sqlx::query(
        "INSERT INTO request_comments (id, request_id, author_id, author_name, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&c.id)
    .bind(&r.id)
    .bind(&c.author_id)
    .bind(&c.author_name)
    .bind(&c.body)
    .bind(now.as_microsecond())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "request.comment",
            object_type: "request",
            object_id: &r.key,
            customer_id: Some(&r.customer_id),
            before: None,
            after: Some(json!({ "comment": c.body })),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(c)
}

pub async fn comments(store: &Store, actor: &Actor, key: &str) -> Result<Vec<Comment>> {
    let r = get(store, actor, key).await?;
    let rows = sqlx::query(
        "SELECT id, author_id, author_name, body, created_at FROM request_comments \
         WHERE request_id = $1 ORDER BY created_at, id",
    )
    .bind(&r.id)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(Comment::from_row).collect()
}

/// A watcher: who is told of every change.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Watcher {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
}

/// Adds (or, with `watch = false`, removes) `user_id` as a watcher. People add themselves;
/// vendor roles may add anyone who may see the request.
pub async fn set_watch(
    store: &Store,
    actor: &Actor,
    key: &str,
    user_id: &str,
    watch: bool,
) -> Result<()> {
    let now = store.now();
    let mut tx = store.write().await?;
    let r = get_in(&mut tx, actor, key).await?;
    if user_id != actor.user_id && actor.role.is_customer() {
        return Err(CoreError::Forbidden {
            role: actor.role.to_string(),
            action: "change another person's watching".into(),
        }
        .into());
    }
    let user = crate::users::get(store, user_id).await?;
    if !user.actor().sees_tenant(&r.customer_id) {
        return Err(CoreError::Invalid {
            field: "user",
            why: format!(
                "{} cannot see {}; only people who can see it may watch it",
                user.username, r.key
            ),
        }
        .into());
    }
    sqlx::query("DELETE FROM request_watchers WHERE request_id = $1 AND user_id = $2")
        .bind(&r.id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if watch {
        sqlx::query(
            "INSERT INTO request_watchers (request_id, user_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(&r.id)
        .bind(user_id)
        .bind(now.as_microsecond())
        .execute(&mut *tx)
        .await?;
    }
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: if watch {
                "request.watch"
            } else {
                "request.unwatch"
            },
            object_type: "request",
            object_id: &r.key,
            customer_id: Some(&r.customer_id),
            before: None,
            after: Some(json!({ "user": user.username })),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Watchers of a request, by username.
pub async fn watchers(store: &Store, actor: &Actor, key: &str) -> Result<Vec<Watcher>> {
    let r = get(store, actor, key).await?;
    watchers_of(store, &r.id).await
}

pub(crate) async fn watchers_of(store: &Store, request_id: &str) -> Result<Vec<Watcher>> {
    let rows = sqlx::query(
        "SELECT u.id, u.username, u.display_name, u.email FROM request_watchers w \
         JOIN users u ON u.id = w.user_id WHERE w.request_id = $1 ORDER BY u.username",
    )
    .bind(request_id)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Watcher {
                user_id: row.try_get("id")?,
                username: row.try_get("username")?,
                display_name: row.try_get("display_name")?,
                email: row.try_get("email")?,
            })
        })
        .collect()
}

/// An attachment's record (its content is read with [`attachment_content`]).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Attachment {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_by: String,
    pub created_at: jiff::Timestamp,
}

/// Largest attachment kept in the store.
pub const MAX_ATTACHMENT: usize = 8 * 1024 * 1024;

/// Attaches a file to a request, audited with its name, size and SHA-256.
pub async fn attach(
    store: &Store,
    actor: &Actor,
    key: &str,
    name: &str,
    content_type: &str,
    content: &[u8],
) -> Result<Attachment> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 || name.contains(['/', '\\']) {
        return Err(CoreError::Invalid {
            field: "name",
            why: "give the file's name (at most 200 characters, no path)".into(),
        }
        .into());
    }
    if content.len() > MAX_ATTACHMENT {
        return Err(CoreError::Invalid {
            field: "file",
            why: format!("{} bytes; at most {MAX_ATTACHMENT} are kept", content.len()),
        }
        .into());
    }
    let now = store.now();
    let mut tx = store.write().await?;
    let r = get_in(&mut tx, actor, key).await?;
    let a = Attachment {
        id: new_id(),
        name: name.to_string(),
        content_type: content_type.to_string(),
        size: content.len() as i64,
        sha256: hex::encode(Sha256::digest(content)),
        created_by: actor.username.clone(),
        created_at: now,
    };
    sqlx::query(
        "INSERT INTO attachments (id, request_id, name, content_type, size, sha256, content_b64, \
         created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&a.id)
    .bind(&r.id)
    .bind(&a.name)
    .bind(&a.content_type)
    .bind(a.size)
    .bind(&a.sha256)
    .bind(base64::engine::general_purpose::STANDARD.encode(content))
    .bind(&a.created_by)
    .bind(now.as_microsecond())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "request.attach",
            object_type: "request",
            object_id: &r.key,
            customer_id: Some(&r.customer_id),
            before: None,
            after: Some(json!({ "attachment": a.name, "size": a.size, "sha256": a.sha256 })),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(a)
}

pub async fn attachments(store: &Store, actor: &Actor, key: &str) -> Result<Vec<Attachment>> {
    let r = get(store, actor, key).await?;
    let rows = sqlx::query(
        "SELECT id, name, content_type, size, sha256, created_by, created_at FROM attachments \
         WHERE request_id = $1 ORDER BY created_at, id",
    )
    .bind(&r.id)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Attachment {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                content_type: row.try_get("content_type")?,
                size: row.try_get("size")?,
                sha256: row.try_get("sha256")?,
                created_by: row.try_get("created_by")?,
                created_at: ts(row.try_get("created_at")?)?,
            })
        })
        .collect()
}

/// An attachment's bytes, if the actor may see its request.
pub async fn attachment_content(
    store: &Store,
    actor: &Actor,
    key: &str,
    attachment_id: &str,
) -> Result<(Attachment, Vec<u8>)> {
    let r = get(store, actor, key).await?;
    let row = sqlx::query(
        "SELECT id, name, content_type, size, sha256, created_by, created_at, content_b64 \
         FROM attachments WHERE request_id = $1 AND id = $2",
    )
    .bind(&r.id)
    .bind(attachment_id)
    .fetch_optional(store.pool())
    .await?
    .ok_or_else(|| StoreError::not_found("attachment", attachment_id))?;
    let b64: String = row.try_get("content_b64")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| StoreError::Corrupt(format!("attachment: {e}")))?;
    Ok((
        Attachment {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            content_type: row.try_get("content_type")?,
            size: row.try_get("size")?,
            sha256: row.try_get("sha256")?,
            created_by: row.try_get("created_by")?,
            created_at: ts(row.try_get("created_at")?)?,
        },
        bytes,
    ))
}

/// The request's history: its audit events (and those of its runs, findings, signatures and
/// documents, which name the request key as object), oldest first.
pub async fn history(store: &Store, actor: &Actor, key: &str) -> Result<Vec<audit::AuditEvent>> {
    let r = get(store, actor, key).await?;
    let mut ev = audit::list(store, actor, Some(("request", &r.key)), 1000).await?;
    ev.reverse();
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(details: Value) -> Request {
        Request {
            id: "r1".into(),
            key: "VAL-1".into(),
            kind: RequestKind::Val,
            customer_id: "c1".into(),
            customer_name: "Alpha".into(),
            state: RequestState::Submitted,
            held_from: None,
            title: "VAL".into(),
            details,
            created_by: "u1".into(),
            created_by_name: "U".into(),
            created_at: jiff::Timestamp::UNIX_EPOCH,
            updated_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn bookkeeping_does_not_change_the_signed_content_but_the_end_date_does() {
        let signed = request(json!({ "build": "24.3.0.1300", "end": "2027-03-01" }));
        let worked = request(json!({
            "build": "24.3.0.1300",
            "end": "2027-03-01",
            "val_pair_id": "p1",
            "provisioned": true,
            "extension_requested": null,
            "closing": { "by": "pm" },
        }));
        assert_eq!(signed.content_sha256(), worked.content_sha256());
        let extended = request(json!({ "build": "24.3.0.1300", "end": "2027-04-01" }));
        assert_ne!(signed.content_sha256(), extended.content_sha256());
    }
}
