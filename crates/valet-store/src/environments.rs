//! Environments, created and listed as Main + Test pairs.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;
use valet_core::{Actor, Build, EnvRole, EnvState, Permission, Tier};

use crate::audit::{self, NewEvent};
use crate::{customers, new_id, redact, Result, Store, StoreError};

/// One environment as the API shows it. The database URL is shown without its password.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Environment {
    pub id: String,
    pub customer_id: String,
    pub pair_id: String,
    pub name: String,
    pub tier: Tier,
    pub role: EnvRole,
    pub state: EnvState,
    pub current_build: Option<Build>,
    pub database: Option<String>,
    pub base_url: Option<String>,
    pub expires_at: Option<jiff::Timestamp>,
    /// The VAL request that provisioned this environment.
    pub request_id: Option<String>,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
}

/// Where one member of a pair lives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberSpec {
    #[serde(default)]
    pub database_url: Option<String>,
    #[serde(default)]
    pub base_url: Option<String>,
}

/// A pair to register: PROD pairs exist before valet; VAL pairs are provisioned by valet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"customer_id": "01a2347c-e5a3-703d-ac41-c23851aac239", "tier": "PROD", "build": "24.2.1.1201", "main": {"database_url": "postgres://app@db.example.com/clinic", "base_url": "https://acme.example.com"}, "test": {"database_url": "postgres://app@db.example.com/clinic_test", "base_url": "https://acme-test.example.com"}}))]
pub struct NewPair {
    pub customer_id: String,
    pub tier: Tier,
    /// Prefix of both names (`PROD` gives `PROD-MAIN`, `PROD-TEST`); defaults to the tier.
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub build: Option<String>,
    /// Initial state; defaults to `active` for PROD (it exists) and `requested` for VAL.
    #[serde(default)]
    pub state: Option<EnvState>,
    #[serde(default)]
    pub main: MemberSpec,
    #[serde(default)]
    pub test: MemberSpec,
    /// The VAL request a VAL pair is provisioned for.
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub expires_at: Option<jiff::Timestamp>,
}

/// The two environments of a pair.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Pair {
    pub pair_id: String,
    pub main: Environment,
    pub test: Environment,
}

const COLUMNS: &str = "id, customer_id, pair_id, name, tier, role, state, current_build, \
                       database_url, base_url, expires_at, created_at, updated_at, request_id";

fn ts(micros: i64) -> Result<jiff::Timestamp> {
    jiff::Timestamp::from_microsecond(micros)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {micros}: {e}")))
}

fn from_row(row: &AnyRow) -> Result<Environment> {
    let tier: String = row.try_get("tier")?;
    let role: String = row.try_get("role")?;
    let state: String = row.try_get("state")?;
    let build: Option<String> = row.try_get("current_build")?;
    let db: Option<String> = row.try_get("database_url")?;
    let expires: Option<i64> = row.try_get("expires_at")?;
    Ok(Environment {
        id: row.try_get("id")?,
        customer_id: row.try_get("customer_id")?,
        pair_id: row.try_get("pair_id")?,
        name: row.try_get("name")?,
        tier: tier.parse()?,
        role: role.parse()?,
        state: state.parse()?,
        current_build: build.map(|b| b.parse()).transpose()?,
        database: db.map(|u| redact(&u)),
        base_url: row.try_get("base_url")?,
        expires_at: expires.map(ts).transpose()?,
        request_id: row.try_get("request_id")?,
        created_at: ts(row.try_get("created_at")?)?,
        updated_at: ts(row.try_get("updated_at")?)?,
    })
}

fn check_label(label: &str) -> Result<()> {
    let ok = !label.is_empty()
        && label.len() <= 40
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(valet_core::CoreError::Invalid {
            field: "label",
            why: format!(
                "`{label}` must be 1–40 letters, digits, `-` or `_` (it becomes part of the \
                 environment names, e.g. `{label}-MAIN`)"
            ),
        }
        .into())
    }
}

/// Registers a Main + Test pair for a customer; both rows and their audit events are
/// written in one transaction, or nothing is.
pub async fn create_pair(store: &Store, actor: &Actor, new: NewPair) -> Result<Pair> {
    actor.require(Permission::ManageEnvironments, "register environments")?;
    // Checks tenant visibility too: another tenant's customer is simply not found.
    let customer = customers::get(store, actor, &new.customer_id).await?;
    let label = new.label.clone().unwrap_or_else(|| new.tier.to_string());
    check_label(&label)?;
    let build: Option<Build> = new.build.as_deref().map(str::parse).transpose()?;
    let state = new.state.unwrap_or(match new.tier {
        Tier::Prod => EnvState::Active,
        Tier::Val => EnvState::Requested,
    });
    let pair_id = new_id();
    let now = store.now();
    let mut tx = store.write().await?;
    let mut made = Vec::with_capacity(2);
    for (role, spec) in [(EnvRole::Main, &new.main), (EnvRole::Test, &new.test)] {
        let name = format!("{label}-{role}");
        let taken: Option<String> =
            sqlx::query_scalar("SELECT id FROM environments WHERE customer_id = $1 AND name = $2")
                .bind(&customer.id)
                .bind(&name)
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "customer `{}` already has an environment named `{name}`; choose another label",
                customer.name
            )));
        }
        let id = new_id();
        sqlx::query(&format!(
            "INSERT INTO environments ({COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&id)
        .bind(&customer.id)
        .bind(&pair_id)
        .bind(&name)
        .bind(new.tier.as_str())
        .bind(role.as_str())
        .bind(state.as_str())
        .bind(build.map(|b| b.to_string()))
        .bind(spec.database_url.clone())
        .bind(spec.base_url.clone())
        .bind(new.expires_at.map(|t| t.as_microsecond()))
        .bind(now.as_microsecond())
        .bind(now.as_microsecond())
        .bind(new.request_id.clone())
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM environments WHERE id = $1"))
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
        let env = from_row(&row)?;
        audit::append(
            &mut tx,
            now,
            NewEvent {
                actor,
                action: "environment.create",
                object_type: "environment",
                object_id: &id,
                customer_id: Some(&customer.id),
                before: None,
                after: Some(json!(env)),
                reason: None,
            },
        )
        .await?;
        made.push(env);
    }
    tx.commit().await?;
    let test = made.pop().expect("two members");
    let main = made.pop().expect("two members");
    Ok(Pair {
        pair_id,
        main,
        test,
    })
}

/// Environments the actor may see, optionally of one customer, by customer then name.
pub async fn list(
    store: &Store,
    actor: &Actor,
    customer_id: Option<&str>,
) -> Result<Vec<Environment>> {
    let scope = if actor.role.is_customer() {
        Some(actor.customer_id.clone().unwrap_or_default())
    } else {
        None
    };
    if let (Some(own), Some(asked)) = (&scope, customer_id) {
        if own != asked {
            return Ok(Vec::new());
        }
    }
    let filter = scope.or(customer_id.map(str::to_string));
    let rows = match filter {
        Some(c) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM environments WHERE customer_id = $1 \
                 ORDER BY customer_id, name"
            ))
            .bind(c)
            .fetch_all(store.pool())
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM environments ORDER BY customer_id, name"
            ))
            .fetch_all(store.pool())
            .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// One environment; another tenant's is `NotFound`.
pub async fn get(store: &Store, actor: &Actor, id: &str) -> Result<Environment> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM environments WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("environment", id))?;
    let env = from_row(&row)?;
    if !actor.sees_tenant(&env.customer_id) {
        return Err(StoreError::not_found("environment", id));
    }
    Ok(env)
}

/// The full database URL (with credentials) for valet's own use, never for display.
pub async fn database_url(store: &Store, actor: &Actor, id: &str) -> Result<Option<String>> {
    actor.require(Permission::RunJobs, "read environment database credentials")?;
    let url: Option<Option<String>> =
        sqlx::query_scalar("SELECT database_url FROM environments WHERE id = $1")
            .bind(id)
            .fetch_optional(store.pool())
            .await?;
    url.ok_or_else(|| StoreError::not_found("environment", id))
}

/// Moves an environment along its life cycle; an illegal step is an error and changes nothing.
pub async fn set_state(
    store: &Store,
    actor: &Actor,
    id: &str,
    to: EnvState,
    reason: Option<&str>,
) -> Result<Environment> {
    actor.require(Permission::ManageEnvironments, "change environment state")?;
    let mut tx = store.write().await?;
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM environments WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found("environment", id))?;
    let before = from_row(&row)?;
    if !actor.sees_tenant(&before.customer_id) {
        return Err(StoreError::not_found("environment", id));
    }
    let state = before.state.transition(to)?;
    let now = store.now();
    sqlx::query("UPDATE environments SET state = $1, updated_at = $2 WHERE id = $3")
        .bind(state.as_str())
        .bind(now.as_microsecond())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let after = Environment {
        state,
        updated_at: now,
        ..before.clone()
    };
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "environment.state",
            object_type: "environment",
            object_id: id,
            customer_id: Some(&before.customer_id),
            before: Some(json!({ "state": before.state })),
            after: Some(json!({ "state": after.state })),
            reason,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Records where a started instance answers and what it printed at start-up (its runtime
/// versions and environment: evidence for the IQ report).
pub async fn record_start(
    store: &Store,
    actor: &Actor,
    id: &str,
    base_url: &str,
    banner: &std::collections::BTreeMap<String, String>,
) -> Result<Environment> {
    actor.require(Permission::RunJobs, "record instance starts")?;
    let now = store.now();
    let mut tx = store.write().await?;
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM environments WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found("environment", id))?;
    let before = from_row(&row)?;
    sqlx::query("UPDATE environments SET base_url = $1, updated_at = $2 WHERE id = $3")
        .bind(base_url)
        .bind(now.as_microsecond())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "environment.started",
            object_type: "environment",
            object_id: id,
            customer_id: Some(&before.customer_id),
            before: Some(json!({ "base_url": before.base_url })),
            after: Some(json!({ "base_url": base_url, "startup": banner })),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Environment {
        base_url: Some(base_url.to_string()),
        updated_at: now,
        ..before
    })
}

/// Changes to a (VAL) environment's record made while operating it.
#[derive(Debug, Clone, Default)]
pub struct EnvUpdate {
    pub build: Option<Build>,
    /// The full URL (with credentials); stored, shown only redacted.
    pub database_url: Option<String>,
    pub base_url: Option<String>,
    /// How the deployment driver runs it (JSON; no secrets).
    pub deploy: Option<serde_json::Value>,
    pub expires_at: Option<jiff::Timestamp>,
}

/// Applies `u` to environment `id`, audited (the database URL only redacted).
pub async fn update(
    store: &Store,
    actor: &Actor,
    id: &str,
    u: EnvUpdate,
    reason: Option<&str>,
) -> Result<Environment> {
    actor.require(Permission::ManageEnvironments, "change environments")?;
    let now = store.now();
    let mut tx = store.write().await?;
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM environments WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found("environment", id))?;
    let before = from_row(&row)?;
    if !actor.sees_tenant(&before.customer_id) {
        return Err(StoreError::not_found("environment", id));
    }
    let mut after = json!({});
    if let Some(b) = u.build {
        sqlx::query("UPDATE environments SET current_build = $1 WHERE id = $2")
            .bind(b.to_string())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        after["current_build"] = json!(b);
    }
    if let Some(d) = &u.database_url {
        sqlx::query("UPDATE environments SET database_url = $1 WHERE id = $2")
            .bind(d)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        after["database"] = json!(redact(d));
    }
    if let Some(b) = &u.base_url {
        sqlx::query("UPDATE environments SET base_url = $1 WHERE id = $2")
            .bind(b)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        after["base_url"] = json!(b);
    }
    if let Some(d) = &u.deploy {
        sqlx::query("UPDATE environments SET deploy_json = $1 WHERE id = $2")
            .bind(d.to_string())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        after["deploy"] = d.clone();
    }
    if let Some(e) = u.expires_at {
        sqlx::query("UPDATE environments SET expires_at = $1 WHERE id = $2")
            .bind(e.as_microsecond())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        after["expires_at"] = json!(e);
    }
    sqlx::query("UPDATE environments SET updated_at = $1 WHERE id = $2")
        .bind(now.as_microsecond())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "environment.update",
            object_type: "environment",
            object_id: id,
            customer_id: Some(&before.customer_id),
            before: None,
            after: Some(after),
            reason,
        },
    )
    .await?;
    tx.commit().await?;
    get(store, actor, id).await
}

/// How the deployment driver runs an environment, as recorded by [`update`].
pub async fn deploy_spec(store: &Store, id: &str) -> Result<Option<serde_json::Value>> {
    let d: Option<Option<String>> =
        sqlx::query_scalar("SELECT deploy_json FROM environments WHERE id = $1")
            .bind(id)
            .fetch_optional(store.pool())
            .await?;
    d.flatten()
        .map(|t| {
            serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("deploy spec: {e}")))
        })
        .transpose()
}

/// The two members of a pair (Main first) the actor may see.
pub async fn pair(store: &Store, actor: &Actor, pair_id: &str) -> Result<Pair> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM environments WHERE pair_id = $1 ORDER BY role"
    ))
    .bind(pair_id)
    .fetch_all(store.pool())
    .await?;
    let envs: Vec<Environment> = rows.iter().map(from_row).collect::<Result<_>>()?;
    let main = envs.iter().find(|e| e.role == EnvRole::Main).cloned();
    let test = envs.iter().find(|e| e.role == EnvRole::Test).cloned();
    match (main, test) {
        (Some(main), Some(test)) if actor.sees_tenant(&main.customer_id) => Ok(Pair {
            pair_id: pair_id.to_string(),
            main,
            test,
        }),
        _ => Err(StoreError::not_found("pair", pair_id)),
    }
}
