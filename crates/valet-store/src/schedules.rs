//! PROD upgrade requests and their schedules: filing (`UPG-N`), the chosen slot with its
//! engineer and calendar SEQUENCE, engineers' hours and exceptions, customers' blackouts and
//! vendor freezes, per-user calendar feeds and a customer's notice period.
//!
//! Every change is audited in its transaction. Customer-side actors see only their own
//! tenant's schedules and blackouts (others are `NotFound`); vendor freezes are visible to all.

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;
use valet_core::schedule::{Engineer, ExceptionKind, Period, WorkingHours, DEFAULT_NOTICE_DAYS};
use valet_core::upgrade::{UpgradeContext, UpgradeRequestInput};
use valet_core::{Actor, Build, CoreError, Permission, RequestKind, Role, Tier};

use crate::audit::{self, NewEvent};
use crate::requests::{self, ts, Request};
use crate::users::{self, User};
use crate::{customers, new_id, releases, Result, Store, StoreError, Tx};

/// The booked slot of an upgrade request.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    pub request_id: String,
    pub request_key: String,
    pub customer_id: String,
    pub customer_name: String,
    /// 1-based index of the request's slot; 0 when the PM chose another window.
    pub slot_index: i64,
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
    pub zone: String,
    pub engineer_id: String,
    pub engineer: String,
    pub engineer_name: String,
    pub pm_id: String,
    pub pm_name: String,
    pub server_key: String,
    pub sequence: i64,
    /// `scheduled`, `cancelled` or `done`.
    pub state: String,
    /// Conflicts the PM overrode: `[{kind, reason}]`.
    pub overrides: Value,
    /// The downtime estimate when it was booked.
    pub downtime: Value,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
}

const SELECT: &str = "SELECT s.request_id, r.key AS request_key, s.customer_id, \
    c.name AS customer_name, s.slot_index, s.start_at, s.end_at, s.zone, s.engineer_id, \
    e.username AS engineer, e.display_name AS engineer_name, s.pm_id, p.display_name AS pm_name, \
    s.server_key, s.sequence, s.state, s.overrides, s.downtime, s.created_at, s.updated_at \
    FROM schedules s JOIN requests r ON r.id = s.request_id \
    JOIN customers c ON c.id = s.customer_id JOIN users e ON e.id = s.engineer_id \
    JOIN users p ON p.id = s.pm_id";

fn from_row(row: &AnyRow) -> Result<Schedule> {
    let json = |k: &str| -> Result<Value> {
        let t: String = row.try_get(k)?;
        serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("schedule {k}: {e}")))
    };
    Ok(Schedule {
        request_id: row.try_get("request_id")?,
        request_key: row.try_get("request_key")?,
        customer_id: row.try_get("customer_id")?,
        customer_name: row.try_get("customer_name")?,
        slot_index: row.try_get("slot_index")?,
        start: ts(row.try_get("start_at")?)?,
        end: ts(row.try_get("end_at")?)?,
        zone: row.try_get("zone")?,
        engineer_id: row.try_get("engineer_id")?,
        engineer: row.try_get("engineer")?,
        engineer_name: row.try_get("engineer_name")?,
        pm_id: row.try_get("pm_id")?,
        pm_name: row.try_get("pm_name")?,
        server_key: row.try_get("server_key")?,
        sequence: row.try_get("sequence")?,
        state: row.try_get("state")?,
        overrides: json("overrides")?,
        downtime: json("downtime")?,
        created_at: ts(row.try_get("created_at")?)?,
        updated_at: ts(row.try_get("updated_at")?)?,
    })
}

/// Days of notice `customer_id` must give (its own setting, else 21).
pub async fn notice_days(store: &Store, customer_id: &str) -> Result<u32> {
    let v: Option<Option<i64>> =
        sqlx::query_scalar("SELECT notice_days FROM customers WHERE id = $1")
            .bind(customer_id)
            .fetch_optional(store.pool())
            .await?;
    Ok(v.flatten()
        .map(|d| d.clamp(0, 365) as u32)
        .unwrap_or(DEFAULT_NOTICE_DAYS))
}

/// Sets a customer's notice period (vendor PM or admin), audited.
pub async fn set_notice_days(
    store: &Store,
    actor: &Actor,
    customer_id: &str,
    days: u32,
) -> Result<()> {
    actor.require(Permission::Triage, "set a customer's notice period")?;
    if days > 365 {
        return Err(CoreError::Invalid {
            field: "notice_days",
            why: format!("{days} days; give 0 to 365"),
        }
        .into());
    }
    let before = notice_days(store, customer_id).await?;
    let customer = customers::get(store, actor, customer_id).await?;
    let now = store.now();
    let mut tx = store.write().await?;
    sqlx::query("UPDATE customers SET notice_days = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(days))
        .bind(now.as_microsecond())
        .bind(&customer.id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "customer.notice_days",
            object_type: "customer",
            object_id: &customer.id,
            customer_id: Some(&customer.id),
            before: Some(json!({ "notice_days": before })),
            after: Some(json!({ "notice_days": days })),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The build validated and signed off in the customer's latest VAL of `pair_id`, with that
/// VAL's key.
pub async fn validated_build(store: &Store, pair_id: &str) -> Result<Option<(Build, String)>> {
    let list = requests::list(
        store,
        &Actor::system(),
        &requests::Filter {
            kind: Some(RequestKind::Val),
            ..Default::default()
        },
    )
    .await?;
    // Newest first.
    for r in list {
        if r.details["pair_id"] == json!(pair_id) && !r.details["signed_off"].is_null() {
            if let Ok(v) = r.val() {
                return Ok(Some((v.build, r.key)));
            }
        }
    }
    Ok(None)
}

/// Files a PROD upgrade request: every field checked at once, slots read in their zones
/// (short notice is a warning the PM resolves), a duplicate open upgrade of the same pair
/// refused; request, first watcher and audit event in one transaction.
pub async fn create_upgrade(
    store: &Store,
    actor: &Actor,
    input: UpgradeRequestInput,
) -> Result<Request> {
    if !(actor.role.may(Permission::FileRequest) || actor.role.may(Permission::Triage)) {
        return Err(CoreError::Forbidden {
            role: actor.role.to_string(),
            action: "file an upgrade request".into(),
        }
        .into());
    }
    let main = requests::resolve_pair(store, actor, &input.pair).await?;
    let target = match input.build.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(b) => match releases::get(store, actor, b).await {
            Ok(r) => Some((r.build, r.published)),
            Err(StoreError::NotFound { .. }) | Err(StoreError::Core(_)) => None,
            Err(e) => return Err(e),
        },
    };
    let (validated, notice) = match &main {
        Some(m) => (
            validated_build(store, &m.pair_id).await?,
            notice_days(store, &m.customer_id).await?,
        ),
        None => (None, DEFAULT_NOTICE_DAYS),
    };
    let ctx = UpgradeContext {
        now: store.now(),
        pair: main
            .as_ref()
            .map(|e| (e.tier == Tier::Prod, e.current_build)),
        validated,
        target,
        notice_days: notice,
    };
    let mut checked = input.clone();
    if let Some(m) = &main {
        checked.pair = m.pair_id.clone();
    }
    let upgrade = checked.check(&ctx)?;
    let main = main.expect("checked");
    if valet_core::hotfix::eligible(main.current_build, upgrade.build) {
        // A hotfix of the pair's own line is taken only through its signed acceptance.
        return Err(CoreError::Invalid {
            field: "build",
            why: format!(
                "{} is a hotfix of this pair's release line: accept it (e-signed) with \
                 POST /api/v1/hotfixes/{}/accept or `valet hotfix accept`, not as an upgrade",
                upgrade.build, upgrade.build
            ),
        }
        .into());
    }
    let customer = customers::get(store, actor, &main.customer_id).await?;
    let label = main.name.trim_end_matches("-MAIN").to_string();
    let mut details =
        serde_json::to_value(&upgrade).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    details["pair_label"] = json!(label);
    let now = store.now();
    let mut tx = store.write().await?;
    let open: Vec<(String, String)> = sqlx::query_as(
        "SELECT key, details FROM requests WHERE customer_id = $1 AND kind = 'upgrade' \
         AND state NOT IN ('done', 'rejected', 'cancelled')",
    )
    .bind(&customer.id)
    .fetch_all(&mut *tx)
    .await?;
    for (key, d) in open {
        let d: Value = serde_json::from_str(&d).unwrap_or(Value::Null);
        if d["pair_id"] == json!(upgrade.pair_id) {
            return Err(StoreError::Conflict(format!(
                "{key} is already an open upgrade request for this pair; comment on it to \
                 change its slots, or cancel it first"
            )));
        }
    }
    let title = format!(
        "Upgrade {} {label} to {}",
        customer.name.as_str(),
        upgrade.build
    );
    let (_, key) = requests::insert_in(
        &mut tx,
        now,
        actor,
        requests::NewRequest {
            kind: RequestKind::Upgrade,
            customer_id: &customer.id,
            title: &title,
            details: &details,
        },
        json!({}),
    )
    .await?;
    tx.commit().await?;
    requests::get(store, actor, &key).await
}

/// The schedule of request `key`, if it has one (tenant-scoped like the request).
pub async fn of_request(store: &Store, actor: &Actor, key: &str) -> Result<Option<Schedule>> {
    let r = requests::get(store, actor, key).await?;
    let row = sqlx::query(&format!("{SELECT} WHERE s.request_id = $1"))
        .bind(&r.id)
        .fetch_optional(store.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Schedules overlapping `[from, to)` the actor may see (all states), by start.
pub async fn list(
    store: &Store,
    actor: &Actor,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
) -> Result<Vec<Schedule>> {
    let mut sql = format!("{SELECT} WHERE s.start_at < $1 AND s.end_at > $2");
    if actor.role.is_customer() {
        sql.push_str(" AND s.customer_id = $3");
    }
    sql.push_str(" ORDER BY s.start_at, r.key");
    let mut q = sqlx::query(&sql)
        .bind(to.as_microsecond())
        .bind(from.as_microsecond());
    if actor.role.is_customer() {
        q = q.bind(actor.customer_id.clone().unwrap_or_default());
    }
    q.fetch_all(store.pool())
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Other live bookings of an engineer (label = request key), excluding `except_request`.
pub async fn engineer_bookings(
    store: &Store,
    engineer_id: &str,
    except_request: &str,
) -> Result<Vec<Period>> {
    live_bookings(store, "engineer_id", engineer_id, except_request).await
}

/// Other live upgrades on the same database server, excluding `except_request`.
pub async fn server_bookings(
    store: &Store,
    server_key: &str,
    except_request: &str,
) -> Result<Vec<Period>> {
    live_bookings(store, "server_key", server_key, except_request).await
}

/// Booked (not cancelled or done) slots whose `column` is `value`, but `except_request`'s.
async fn live_bookings(
    store: &Store,
    column: &'static str,
    value: &str,
    except_request: &str,
) -> Result<Vec<Period>> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT r.key, s.start_at, s.end_at FROM schedules s JOIN requests r ON r.id = s.request_id \
         WHERE s.{column} = $1 AND s.state = 'scheduled' AND s.request_id <> $2"
    ))
    .bind(value)
    .bind(except_request)
    .fetch_all(store.pool())
    .await?;
    periods(rows)
}

fn periods(rows: Vec<(String, i64, i64)>) -> Result<Vec<Period>> {
    rows.into_iter()
        .map(|(label, s, e)| {
            Ok(Period {
                start: ts(s)?,
                end: ts(e)?,
                label,
            })
        })
        .collect()
}

/// What booking a slot writes.
#[derive(Debug, Clone)]
pub struct Booking {
    pub slot_index: i64,
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
    pub zone: String,
    pub engineer_id: String,
    pub server_key: String,
    pub overrides: Value,
    pub downtime: Value,
}

/// Books (or rebooks) the request's slot inside `tx`: a first booking has SEQUENCE 0, every
/// rebooking raises it. Audited as `schedule.set` with before and after.
pub async fn book_in(
    tx: &mut Tx,
    now: jiff::Timestamp,
    actor: &Actor,
    request: &Request,
    b: &Booking,
) -> Result<i64> {
    let prev: Option<(i64, i64, i64, String, String)> = sqlx::query_as(
        "SELECT sequence, start_at, end_at, engineer_id, state FROM schedules WHERE request_id = $1",
    )
    .bind(&request.id)
    .fetch_optional(&mut **tx)
    .await?;
    let sequence = match &prev {
        Some((seq, ..)) => seq + 1,
        None => 0,
    };
    if prev.is_some() {
        sqlx::query(
            "UPDATE schedules SET slot_index = $1, start_at = $2, end_at = $3, zone = $4, \
             engineer_id = $5, pm_id = $6, server_key = $7, sequence = $8, state = 'scheduled', \
             overrides = $9, downtime = $10, updated_at = $11 WHERE request_id = $12",
        )
        .bind(b.slot_index)
        .bind(b.start.as_microsecond())
        .bind(b.end.as_microsecond())
        .bind(&b.zone)
        .bind(&b.engineer_id)
        .bind(&actor.user_id)
        .bind(&b.server_key)
        .bind(sequence)
        .bind(b.overrides.to_string())
        .bind(b.downtime.to_string())
        .bind(now.as_microsecond())
        .bind(&request.id)
        .execute(&mut **tx)
        .await?;
    } else {
        sqlx::query(
            "INSERT INTO schedules (request_id, customer_id, slot_index, start_at, end_at, zone, \
             engineer_id, pm_id, server_key, sequence, state, overrides, downtime, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'scheduled', $11, $12, \
             $13, $13)",
        )
        .bind(&request.id)
        .bind(&request.customer_id)
        .bind(b.slot_index)
        .bind(b.start.as_microsecond())
        .bind(b.end.as_microsecond())
        .bind(&b.zone)
        .bind(&b.engineer_id)
        .bind(&actor.user_id)
        .bind(&b.server_key)
        .bind(sequence)
        .bind(b.overrides.to_string())
        .bind(b.downtime.to_string())
        .bind(now.as_microsecond())
        .execute(&mut **tx)
        .await?;
    }
    audit::append(
        tx,
        now,
        NewEvent {
            actor,
            action: "schedule.set",
            object_type: "request",
            object_id: &request.key,
            customer_id: Some(&request.customer_id),
            before: prev.as_ref().map(|(seq, s, e, eng, st)| {
                json!({ "sequence": seq, "start": s, "end": e, "engineer_id": eng, "state": st })
            }),
            after: Some(json!({
                "sequence": sequence,
                "slot": b.slot_index,
                "start": b.start,
                "end": b.end,
                "zone": b.zone,
                "engineer_id": b.engineer_id,
                "overrides": b.overrides,
            })),
            reason: None,
        },
    )
    .await?;
    Ok(sequence)
}

/// Cancels the request's booking inside `tx` (SEQUENCE raised for the CANCEL); `None` when it
/// had none.
pub async fn cancel_in(
    tx: &mut Tx,
    now: jiff::Timestamp,
    actor: &Actor,
    request: &Request,
    reason: &str,
) -> Result<Option<i64>> {
    let seq: Option<i64> = sqlx::query_scalar(
        "UPDATE schedules SET state = 'cancelled', sequence = sequence + 1, updated_at = $1 \
         WHERE request_id = $2 AND state = 'scheduled' RETURNING sequence",
    )
    .bind(now.as_microsecond())
    .bind(&request.id)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(s) = seq {
        audit::append(
            tx,
            now,
            NewEvent {
                actor,
                action: "schedule.cancel",
                object_type: "request",
                object_id: &request.key,
                customer_id: Some(&request.customer_id),
                before: Some(json!({ "state": "scheduled" })),
                after: Some(json!({ "state": "cancelled", "sequence": s })),
                reason: Some(reason),
            },
        )
        .await?;
    }
    Ok(seq)
}

/// Marks the request's booking done inside `tx` (the upgrade ran), audited.
pub async fn mark_done_in(
    tx: &mut Tx,
    now: jiff::Timestamp,
    actor: &Actor,
    request: &Request,
) -> Result<()> {
    let n = sqlx::query(
        "UPDATE schedules SET state = 'done', updated_at = $1 WHERE request_id = $2 AND state = 'scheduled'",
    )
    .bind(now.as_microsecond())
    .bind(&request.id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n > 0 {
        audit::append(
            tx,
            now,
            NewEvent {
                actor,
                action: "schedule.done",
                object_type: "request",
                object_id: &request.key,
                customer_id: Some(&request.customer_id),
                before: Some(json!({ "state": "scheduled" })),
                after: Some(json!({ "state": "done" })),
                reason: None,
            },
        )
        .await?;
    }
    Ok(())
}

/// Vendor engineers (the people upgrades are assigned to).
pub async fn engineers(store: &Store) -> Result<Vec<User>> {
    users::with_role(store, Role::VendorEngineer).await
}

/// An engineer by username, for scheduling: must be an active vendor engineer.
pub async fn engineer_user(store: &Store, username: &str) -> Result<User> {
    let u = users::find_by_username(store, username)
        .await?
        .filter(|u| !u.disabled && u.role == Role::VendorEngineer)
        .ok_or_else(|| {
            StoreError::Core(CoreError::Invalid {
                field: "engineer",
                why: format!(
                    "`{username}` is not an active vendor engineer; list them with `valet engineer list`"
                ),
            })
        })?;
    Ok(u)
}

/// The engineer's zone: their own, else UTC.
async fn user_zone(store: &Store, user_id: &str) -> Result<String> {
    let z: Option<Option<String>> = sqlx::query_scalar("SELECT zone FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(store.pool())
        .await?;
    Ok(z.flatten().unwrap_or_else(|| "UTC".into()))
}

/// An engineer's weekly hours: recorded ones, else the vendor default in their zone.
pub async fn hours(store: &Store, user_id: &str) -> Result<(WorkingHours, bool)> {
    let row: Option<String> =
        sqlx::query_scalar("SELECT hours FROM engineer_hours WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(store.pool())
            .await?;
    match row {
        Some(h) => Ok((
            serde_json::from_str(&h)
                .map_err(|e| StoreError::Corrupt(format!("engineer hours: {e}")))?,
            true,
        )),
        None => Ok((
            WorkingHours::default_in(&user_zone(store, user_id).await?),
            false,
        )),
    }
}

/// Records an engineer's weekly hours (the engineer themself, a PM or an admin).
pub async fn set_hours(
    store: &Store,
    actor: &Actor,
    engineer: &User,
    hours: &WorkingHours,
) -> Result<()> {
    may_edit_availability(actor, engineer)?;
    let (before, _) = self::hours(store, &engineer.id).await?;
    let now = store.now();
    let text = serde_json::to_string(hours).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut tx = store.write().await?;
    sqlx::query("DELETE FROM engineer_hours WHERE user_id = $1")
        .bind(&engineer.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO engineer_hours (user_id, zone, hours, updated_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&engineer.id)
    .bind(&hours.zone)
    .bind(&text)
    .bind(now.as_microsecond())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "engineer.hours",
            object_type: "user",
            object_id: &engineer.username,
            customer_id: None,
            before: Some(json!({ "zone": before.zone, "hours": before.describe() })),
            after: Some(json!({ "zone": hours.zone, "hours": hours.describe() })),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn may_edit_availability(actor: &Actor, engineer: &User) -> Result<()> {
    if actor.user_id == engineer.id || actor.role.may(Permission::Triage) {
        Ok(())
    } else {
        Err(CoreError::Forbidden {
            role: actor.role.to_string(),
            action: format!("record {}'s availability", engineer.username),
        }
        .into())
    }
}

/// An engineer's leave or on-call period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Exception {
    pub id: String,
    pub kind: String,
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
    pub note: String,
}

/// Adds leave or on-call time for an engineer.
pub async fn add_exception(
    store: &Store,
    actor: &Actor,
    engineer: &User,
    kind: ExceptionKind,
    start: jiff::Timestamp,
    end: jiff::Timestamp,
    note: &str,
) -> Result<Exception> {
    may_edit_availability(actor, engineer)?;
    if end <= start {
        return Err(CoreError::Invalid {
            field: "end",
            why: "must be after the start".into(),
        }
        .into());
    }
    let id = new_id();
    let now = store.now();
    let mut tx = store.write().await?;
    sqlx::query(
        "INSERT INTO engineer_exceptions (id, user_id, kind, start_at, end_at, note, created_by, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&engineer.id)
    .bind(kind.as_str())
    .bind(start.as_microsecond())
    .bind(end.as_microsecond())
    .bind(note)
    .bind(&actor.user_id)
    .bind(now.as_microsecond())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "engineer.exception",
            object_type: "user",
            object_id: &engineer.username,
            customer_id: None,
            before: None,
            after: Some(json!({ "id": id, "kind": kind.as_str(), "start": start, "end": end, "note": note })),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Exception {
        id,
        kind: kind.as_str().into(),
        start,
        end,
        note: note.into(),
    })
}

/// An engineer's exceptions, by start.
pub async fn exceptions(store: &Store, user_id: &str) -> Result<Vec<Exception>> {
    let rows: Vec<(String, String, i64, i64, String)> = sqlx::query_as(
        "SELECT id, kind, start_at, end_at, note FROM engineer_exceptions WHERE user_id = $1 \
         ORDER BY start_at",
    )
    .bind(user_id)
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(|(id, kind, s, e, note)| {
            Ok(Exception {
                id,
                kind,
                start: ts(s)?,
                end: ts(e)?,
                note,
            })
        })
        .collect()
}

/// Everything the scheduler needs about one engineer, bookings other than `except_request`.
pub async fn engineer(store: &Store, user: &User, except_request: &str) -> Result<Engineer> {
    let (hours, _) = hours(store, &user.id).await?;
    let ex = exceptions(store, &user.id).await?;
    let pick = |k: &str| -> Vec<Period> {
        ex.iter()
            .filter(|e| e.kind == k)
            .map(|e| Period {
                start: e.start,
                end: e.end,
                label: if e.note.is_empty() {
                    k.replace('_', "-")
                } else {
                    format!("{} ({})", k.replace('_', "-"), e.note)
                },
            })
            .collect()
    };
    Ok(Engineer {
        username: user.username.clone(),
        hours,
        leave: pick("leave"),
        on_call: pick("on_call"),
        bookings: engineer_bookings(store, &user.id, except_request).await?,
    })
}

/// A customer's blackout period or a vendor freeze (no customer).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Blackout {
    pub id: String,
    pub customer_id: Option<String>,
    /// `blackout` (a customer's) or `freeze` (the vendor's).
    pub kind: String,
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
    pub reason: String,
}

/// Adds a customer's blackout (its admin, a PM) or, without a customer, a vendor freeze (PM).
pub async fn add_blackout(
    store: &Store,
    actor: &Actor,
    customer_id: Option<&str>,
    start: jiff::Timestamp,
    end: jiff::Timestamp,
    reason: &str,
) -> Result<Blackout> {
    let kind = match customer_id {
        Some(c) => {
            if !(actor.role.may(Permission::Triage)
                || (actor.role.may(Permission::FileRequest) && actor.sees_tenant(c)))
            {
                return Err(CoreError::Forbidden {
                    role: actor.role.to_string(),
                    action: "add a blackout period".into(),
                }
                .into());
            }
            customers::get(store, actor, c).await?;
            "blackout"
        }
        None => {
            actor.require(Permission::Triage, "add a vendor freeze")?;
            "freeze"
        }
    };
    if end <= start {
        return Err(CoreError::Invalid {
            field: "end",
            why: "must be after the start".into(),
        }
        .into());
    }
    if reason.trim().is_empty() {
        return Err(CoreError::Invalid {
            field: "reason",
            why: "is required (e.g. \"study XYZ starts\")".into(),
        }
        .into());
    }
    let id = new_id();
    let now = store.now();
    let mut tx = store.write().await?;
    sqlx::query(
        "INSERT INTO blackouts (id, customer_id, kind, start_at, end_at, reason, created_by, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(customer_id)
    .bind(kind)
    .bind(start.as_microsecond())
    .bind(end.as_microsecond())
    .bind(reason.trim())
    .bind(&actor.user_id)
    .bind(now.as_microsecond())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "blackout.add",
            object_type: kind,
            object_id: &id,
            customer_id,
            before: None,
            after: Some(json!({ "start": start, "end": end, "reason": reason.trim() })),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Blackout {
        id,
        customer_id: customer_id.map(str::to_string),
        kind: kind.into(),
        start,
        end,
        reason: reason.trim().into(),
    })
}

/// Blackouts and freezes the actor may see: a customer its own blackouts and every freeze;
/// the vendor everything (or one customer's with `customer_id`).
pub async fn blackouts(
    store: &Store,
    actor: &Actor,
    customer_id: Option<&str>,
) -> Result<Vec<Blackout>> {
    let scope = if actor.role.is_customer() {
        Some(actor.customer_id.clone().unwrap_or_default())
    } else {
        customer_id.map(str::to_string)
    };
    let rows: Vec<(String, Option<String>, String, i64, i64, String)> = match &scope {
        Some(c) => {
            sqlx::query_as(
                "SELECT id, customer_id, kind, start_at, end_at, reason FROM blackouts \
                 WHERE customer_id = $1 OR customer_id IS NULL ORDER BY start_at",
            )
            .bind(c)
            .fetch_all(store.pool())
            .await?
        }
        None => {
            sqlx::query_as(
                "SELECT id, customer_id, kind, start_at, end_at, reason FROM blackouts \
                 ORDER BY start_at",
            )
            .fetch_all(store.pool())
            .await?
        }
    };
    rows.into_iter()
        .map(|(id, customer_id, kind, s, e, reason)| {
            Ok(Blackout {
                id,
                customer_id,
                kind,
                start: ts(s)?,
                end: ts(e)?,
                reason,
            })
        })
        .collect()
}

/// Removes a blackout or freeze (whoever may add it), audited.
pub async fn remove_blackout(store: &Store, actor: &Actor, id: &str) -> Result<()> {
    let all = blackouts(store, actor, None).await?;
    let b = all
        .into_iter()
        .find(|b| b.id == id)
        .ok_or_else(|| StoreError::not_found("blackout", id))?;
    let allowed = match &b.customer_id {
        Some(c) => {
            actor.role.may(Permission::Triage)
                || (actor.role.may(Permission::FileRequest) && actor.sees_tenant(c))
        }
        None => actor.role.may(Permission::Triage),
    };
    if !allowed {
        return Err(CoreError::Forbidden {
            role: actor.role.to_string(),
            action: format!("remove this {}", b.kind),
        }
        .into());
    }
    let now = store.now();
    let mut tx = store.write().await?;
    sqlx::query("DELETE FROM blackouts WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "blackout.remove",
            object_type: &b.kind,
            object_id: id,
            customer_id: b.customer_id.as_deref(),
            before: Some(json!({ "start": b.start, "end": b.end, "reason": b.reason })),
            after: None,
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Creates a calendar feed for the actor; returns the secret (shown once; only its hash is
/// kept).
pub async fn create_feed(store: &Store, actor: &Actor) -> Result<String> {
    let secret = format!("cal_{}", hex::encode(rand_bytes()));
    let id = new_id();
    let now = store.now();
    let mut tx = store.write().await?;
    sqlx::query(
        "INSERT INTO calendar_feeds (id, user_id, secret_sha256, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&id)
    .bind(&actor.user_id)
    .bind(hex::encode(Sha256::digest(secret.as_bytes())))
    .bind(now.as_microsecond())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "calendar.feed_create",
            object_type: "calendar_feed",
            object_id: &id,
            customer_id: actor.customer_id.as_deref(),
            before: None,
            after: Some(json!({ "user": actor.username })),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(secret)
}

fn rand_bytes() -> [u8; 24] {
    // UUIDv4s come from the OS's CSPRNG; two of them give 244 random bits.
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    let mut out = [0u8; 24];
    out[..16].copy_from_slice(a.as_bytes());
    out[16..].copy_from_slice(&b.as_bytes()[..8]);
    out
}

/// Revokes every calendar feed of the actor; returns how many.
pub async fn revoke_feeds(store: &Store, actor: &Actor) -> Result<u64> {
    let now = store.now();
    let mut tx = store.write().await?;
    let n = sqlx::query(
        "UPDATE calendar_feeds SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now.as_microsecond())
    .bind(&actor.user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "calendar.feed_revoke",
            object_type: "user",
            object_id: &actor.username,
            customer_id: actor.customer_id.as_deref(),
            before: None,
            after: Some(json!({ "revoked": n })),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// The user a feed secret belongs to; a revoked or unknown secret is `NotFound`.
pub async fn feed_user(store: &Store, secret: &str) -> Result<User> {
    let user_id: Option<String> = sqlx::query_scalar(
        "SELECT user_id FROM calendar_feeds WHERE secret_sha256 = $1 AND revoked_at IS NULL",
    )
    .bind(hex::encode(Sha256::digest(secret.as_bytes())))
    .fetch_optional(store.pool())
    .await?;
    let id = user_id.ok_or_else(|| StoreError::not_found("calendar feed", "…"))?;
    let u = users::get(store, &id).await?;
    if u.disabled {
        return Err(StoreError::not_found("calendar feed", "…"));
    }
    Ok(u)
}
