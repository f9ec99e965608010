//! Customers (tenants).

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;
use valet_core::{Actor, Customer, CustomerName, Permission, Zone};

use crate::audit::{self, NewEvent};
use crate::{new_id, Result, Store, StoreError};

fn from_row(row: &AnyRow) -> Result<Customer> {
    let name: String = row.try_get("name")?;
    let zone: String = row.try_get("zone")?;
    Ok(Customer {
        id: row.try_get("id")?,
        name: CustomerName::parse(&name)?,
        zone: Zone::parse(&zone)?,
    })
}

/// Names compare case- and space-insensitively: `ACME  Research` duplicates `Acme Research`.
fn name_key(name: &CustomerName) -> String {
    name.as_str()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Creates a tenant. A name already taken (ignoring case and spacing) is a conflict and
/// nothing is written.
pub async fn create(store: &Store, actor: &Actor, name: &str, zone: &str) -> Result<Customer> {
    actor.require(Permission::Administer, "create customers")?;
    let name = CustomerName::parse(name)?;
    let zone = Zone::parse(zone)?;
    let key = name_key(&name);
    let mut tx = store.write().await?;
    let existing: Option<String> =
        sqlx::query_scalar("SELECT id FROM customers WHERE name_key = $1")
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(id) = existing {
        return Err(StoreError::Conflict(format!(
            "a customer named `{name}` already exists (id {id}); choose another name or use \
             the existing customer"
        )));
    }
    let customer = Customer {
        id: new_id(),
        name,
        zone,
    };
    let now = store.now();
    sqlx::query(
        "INSERT INTO customers (id, name, name_key, zone, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&customer.id)
    .bind(customer.name.as_str())
    .bind(&key)
    .bind(customer.zone.as_str())
    .bind(now.as_microsecond())
    .bind(now.as_microsecond())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "customer.create",
            object_type: "customer",
            object_id: &customer.id,
            customer_id: Some(&customer.id),
            before: None,
            after: Some(json!(customer)),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(customer)
}

/// Customers the actor may see, by name.
pub async fn list(store: &Store, actor: &Actor) -> Result<Vec<Customer>> {
    let rows = if actor.role.is_customer() {
        sqlx::query("SELECT id, name, zone FROM customers WHERE id = $1 ORDER BY name_key")
            .bind(actor.customer_id.clone().unwrap_or_default())
            .fetch_all(store.pool())
            .await?
    } else {
        sqlx::query("SELECT id, name, zone FROM customers ORDER BY name_key")
            .fetch_all(store.pool())
            .await?
    };
    rows.iter().map(from_row).collect()
}

/// One customer; another tenant's is `NotFound`, exactly like a missing one.
pub async fn get(store: &Store, actor: &Actor, id: &str) -> Result<Customer> {
    if !actor.sees_tenant(id) {
        return Err(StoreError::not_found("customer", id));
    }
    let row = sqlx::query("SELECT id, name, zone FROM customers WHERE id = $1")
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("customer", id))?;
    from_row(&row)
}

/// Looks a customer up by name (ignoring case and spacing), within what the actor may see.
pub async fn find_by_name(store: &Store, actor: &Actor, name: &str) -> Result<Option<Customer>> {
    let key = name_key(&CustomerName::parse(name)?);
    let row = sqlx::query("SELECT id, name, zone FROM customers WHERE name_key = $1")
        .bind(&key)
        .fetch_optional(store.pool())
        .await?;
    match row {
        Some(r) => {
            let c = from_row(&r)?;
            Ok(actor.sees_tenant(&c.id).then_some(c))
        }
        None => Ok(None),
    }
}
