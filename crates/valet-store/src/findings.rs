//! Findings filed against a VAL during validation: customers file them, vendor engineers and
//! PMs answer and resolve them, and a customer admin may accept one as it is (with a reason)
//! so that sign-off can go ahead. Every change is audited on the request.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;
use valet_core::val::{FindingArea, FindingState, Severity};
use valet_core::{Actor, CoreError, FieldError, Permission, RequestKind};

use crate::audit::{self, NewEvent};
use crate::requests::{self, ts};
use crate::{new_id, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    pub id: String,
    pub key: String,
    pub request_key: String,
    pub customer_id: String,
    pub title: String,
    pub severity: Severity,
    pub area: FindingArea,
    pub steps: String,
    pub state: FindingState,
    pub created_by: String,
    pub created_at: jiff::Timestamp,
    pub resolution: Option<String>,
    pub closed_by: Option<String>,
    pub closed_at: Option<jiff::Timestamp>,
    pub comments: Vec<requests::Comment>,
}

/// What a customer files.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"title": "Consent widget missing", "severity": "minor", "area": "configuration_item", "steps": "Open the dashboard as a site monitor"}))]
pub struct NewFinding {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub area: String,
    #[serde(default)]
    pub steps: String,
}

const SELECT: &str = "SELECT f.id, f.key, q.key AS request_key, f.customer_id, f.title, \
    f.severity, f.area, f.steps, f.state, f.created_name, f.created_at, f.resolution, \
    f.closed_by, f.closed_at FROM findings f JOIN requests q ON q.id = f.request_id";

fn from_row(row: &AnyRow) -> Result<Finding> {
    let severity: String = row.try_get("severity")?;
    let area: String = row.try_get("area")?;
    let state: String = row.try_get("state")?;
    let closed_at: Option<i64> = row.try_get("closed_at")?;
    Ok(Finding {
        id: row.try_get("id")?,
        key: row.try_get("key")?,
        request_key: row.try_get("request_key")?,
        customer_id: row.try_get("customer_id")?,
        title: row.try_get("title")?,
        severity: severity.parse()?,
        area: area.parse()?,
        steps: row.try_get("steps")?,
        state: state.parse()?,
        created_by: row.try_get("created_name")?,
        created_at: ts(row.try_get("created_at")?)?,
        resolution: row.try_get("resolution")?,
        closed_by: row.try_get("closed_by")?,
        closed_at: closed_at.map(ts).transpose()?,
        comments: Vec::new(),
    })
}

/// Files a finding against a VAL request; every wrong field is reported at once.
pub async fn create(
    store: &Store,
    actor: &Actor,
    request_key: &str,
    new: NewFinding,
) -> Result<Finding> {
    if !(actor.role.may(Permission::FileRequest)
        || actor.role.may(Permission::Triage)
        || actor.role.may(Permission::RunJobs))
    {
        return Err(CoreError::Forbidden {
            role: actor.role.to_string(),
            action: "file a finding (a customer admin or the vendor does)".into(),
        }
        .into());
    }
    let mut errs = Vec::new();
    let title = new.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        errs.push(FieldError::new(
            "title",
            "give a short title (1–200 characters)",
        ));
    }
    let severity = new
        .severity
        .parse::<Severity>()
        .map_err(|e| errs.push(FieldError::new("severity", e.to_string())))
        .ok();
    let area = new
        .area
        .parse::<FindingArea>()
        .map_err(|e| errs.push(FieldError::new("area", e.to_string())))
        .ok();
    if new.steps.trim().is_empty() {
        errs.push(FieldError::new(
            "steps",
            "say how to reproduce it: the steps, what you expected and what happened",
        ));
    }
    let now = store.now();
    let mut tx = store.write().await?;
    let r = requests::get_in(&mut tx, actor, request_key).await?;
    if r.kind != RequestKind::Val {
        errs.push(FieldError::new(
            "request",
            format!(
                "{} is not a VAL request; findings are filed against a VAL",
                r.key
            ),
        ));
    }
    if !errs.is_empty() {
        return Err(CoreError::Fields(errs).into());
    }
    let n = requests::next_number(&mut tx, "finding").await?;
    let key = format!("F-{n}");
    let id = new_id();
    sqlx::query(
        "INSERT INTO findings (id, key, request_id, customer_id, title, severity, area, steps, \
         state, created_by, created_name, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $12)",
    )
    .bind(&id)
    .bind(&key)
    .bind(&r.id)
    .bind(&r.customer_id)
    .bind(title)
    .bind(severity.expect("checked").as_str())
    .bind(area.expect("checked").as_str())
    .bind(new.steps.trim())
    .bind(&actor.user_id)
    .bind(&actor.username)
    .bind(now.as_microsecond())
    .bind(now.as_microsecond())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "finding.create",
            object_type: "request",
            object_id: &r.key,
            customer_id: Some(&r.customer_id),
            before: None,
            after: Some(
                json!({ "finding": key, "title": title, "severity": severity, "area": area }),
            ),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    get(store, actor, &key).await
}

/// One finding with its comments; another tenant's is `NotFound`.
pub async fn get(store: &Store, actor: &Actor, key: &str) -> Result<Finding> {
    let row = sqlx::query(&format!("{SELECT} WHERE f.key = $1 OR f.id = $2"))
        .bind(key.trim().to_ascii_uppercase())
        .bind(key.trim())
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("finding", key))?;
    let mut f = from_row(&row)?;
    if !actor.sees_tenant(&f.customer_id) {
        return Err(StoreError::not_found("finding", key));
    }
    let rows = sqlx::query(
        "SELECT id, author_id, author_name, body, created_at FROM finding_comments \
         WHERE finding_id = $1 ORDER BY created_at, id",
    )
    .bind(&f.id)
    .fetch_all(store.pool())
    .await?;
    f.comments = rows
        .iter()
        .map(requests::Comment::from_row)
        .collect::<Result<_>>()?;
    Ok(f)
}

/// Findings of a request, in filing order.
pub async fn of_request(store: &Store, actor: &Actor, request_key: &str) -> Result<Vec<Finding>> {
    let r = requests::get(store, actor, request_key).await?;
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE f.request_id = $1 ORDER BY f.created_at, f.key"
    ))
    .bind(&r.id)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Answers a finding (a comment on it), audited.
pub async fn answer(store: &Store, actor: &Actor, key: &str, body: &str) -> Result<Finding> {
    let f = get(store, actor, key).await?;
    if body.trim().is_empty() {
        return Err(CoreError::Invalid {
            field: "body",
            why: "the answer is empty".into(),
        }
        .into());
    }
    let now = store.now();
    let mut tx = store.write().await?;
    sqlx::query(
        "INSERT INTO finding_comments (id, finding_id, author_id, author_name, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(&f.id)
    .bind(&actor.user_id)
    .bind(&actor.username)
    .bind(body.trim())
    .bind(now.as_microsecond())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "finding.answer",
            object_type: "request",
            object_id: &f.request_key,
            customer_id: Some(&f.customer_id),
            before: None,
            after: Some(json!({ "finding": f.key, "answer": body.trim() })),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    get(store, actor, key).await
}

/// Moves a finding: `resolved` by the vendor (Triage or RunJobs) with a resolution text;
/// `accepted` as it is by a customer admin with a reason; `open` again by either side.
pub async fn set_state(
    store: &Store,
    actor: &Actor,
    key: &str,
    to: FindingState,
    text: &str,
) -> Result<Finding> {
    let f = get(store, actor, key).await?;
    let allowed = match to {
        FindingState::Resolved => {
            actor.role.may(Permission::Triage) || actor.role.may(Permission::RunJobs)
        }
        FindingState::Accepted => actor.role.may(Permission::FileRequest),
        FindingState::Open => true,
    };
    if !allowed {
        return Err(CoreError::Forbidden {
            role: actor.role.to_string(),
            action: format!("mark a finding `{to}`"),
        }
        .into());
    }
    if text.trim().is_empty() {
        return Err(CoreError::Invalid {
            field: match to {
                FindingState::Accepted => "reason",
                _ => "resolution",
            },
            why: match to {
                FindingState::Resolved => "say what was done to resolve it".into(),
                FindingState::Accepted => "accepting an open finding needs a reason".into(),
                FindingState::Open => "say why it is reopened".into(),
            },
        }
        .into());
    }
    let state = f.state.transition(to)?;
    let now = store.now();
    let mut tx = store.write().await?;
    let closed = state != FindingState::Open;
    sqlx::query(
        "UPDATE findings SET state = $1, resolution = $2, closed_by = $3, closed_at = $4, \
         updated_at = $5 WHERE id = $6",
    )
    .bind(state.as_str())
    .bind(text.trim())
    .bind(closed.then(|| actor.username.clone()))
    .bind(closed.then(|| now.as_microsecond()))
    .bind(now.as_microsecond())
    .bind(&f.id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "finding.state",
            object_type: "request",
            object_id: &f.request_key,
            customer_id: Some(&f.customer_id),
            before: Some(json!({ "finding": f.key, "state": f.state })),
            after: Some(json!({ "finding": f.key, "state": state })),
            reason: Some(text.trim()),
        },
    )
    .await?;
    tx.commit().await?;
    get(store, actor, key).await
}
