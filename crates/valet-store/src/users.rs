//! People and their credentials: argon2id password hashes and API tokens.
//!
//! An API token is shown once at creation; only its SHA-256 is stored (tokens are long random
//! secrets, so a fast hash is enough, unlike passwords).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;
use valet_core::{Actor, CoreError, Permission, Role};

use crate::audit::{self, NewEvent};
use crate::{customers, new_id, Result, Store, StoreError};

/// A user as shown to administrators (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub role: Role,
    pub customer_id: Option<String>,
    pub disabled: bool,
}

impl User {
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.id.clone(),
            username: self.username.clone(),
            role: self.role,
            customer_id: self.customer_id.clone(),
        }
    }
}

/// What `valet user add` and the admin API provide.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub role: Role,
    pub customer_id: Option<String>,
    pub password: String,
}

/// Minimum password length (NIST SP 800-63B recommends at least 8; we ask for 12).
pub const MIN_PASSWORD: usize = 12;

const COLUMNS: &str = "id, username, display_name, email, role, customer_id, disabled";

fn from_row(row: &AnyRow) -> Result<User> {
    let role: String = row.try_get("role")?;
    let disabled: i64 = row.try_get("disabled")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        email: row.try_get("email")?,
        role: role.parse()?,
        customer_id: row.try_get("customer_id")?,
        disabled: disabled != 0,
    })
}

fn invalid(field: &'static str, why: impl Into<String>) -> StoreError {
    CoreError::Invalid {
        field,
        why: why.into(),
    }
    .into()
}

fn check_username(u: &str) -> Result<()> {
    let ok = (2..=64).contains(&u.len())
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "username",
            format!("`{u}` must be 2–64 letters, digits, `.`, `-`, `_` or `@`"),
        ))
    }
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Corrupt(format!("password hashing failed: {e}")))
}

/// Creates a user. Customer roles need a customer; vendor roles must not have one.
pub async fn create(store: &Store, actor: &Actor, new: NewUser) -> Result<User> {
    actor.require(Permission::Administer, "create users")?;
    check_username(&new.username)?;
    if new.password.chars().count() < MIN_PASSWORD {
        return Err(invalid(
            "password",
            format!("is shorter than {MIN_PASSWORD} characters"),
        ));
    }
    match (new.role.is_customer(), &new.customer_id) {
        (true, None) => {
            return Err(invalid(
                "customer",
                format!("role `{}` belongs to a customer; name one", new.role),
            ))
        }
        (false, Some(_)) => {
            return Err(invalid(
                "customer",
                format!(
                    "role `{}` is a vendor role and sees all tenants; leave the customer out",
                    new.role
                ),
            ))
        }
        (true, Some(c)) => {
            customers::get(store, actor, c).await?;
        }
        (false, None) => {}
    }
    let hash = hash_password(&new.password)?;
    let now = store.now();
    let mut tx = store.write().await?;
    let taken: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(&new.username)
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(StoreError::Conflict(format!(
            "a user named `{}` already exists; choose another username",
            new.username
        )));
    }
    let user = User {
        id: new_id(),
        username: new.username,
        display_name: new.display_name,
        email: new.email,
        role: new.role,
        customer_id: new.customer_id,
        disabled: false,
    };
    sqlx::query(
        "INSERT INTO users (id, username, display_name, email, role, customer_id,
             password_hash, disabled, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)",
    )
    .bind(&user.id)
    .bind(&user.username)
    .bind(&user.display_name)
    .bind(user.email.clone())
    .bind(user.role.as_str())
    .bind(user.customer_id.clone())
    .bind(&hash)
    .bind(now.as_microsecond())
    .bind(now.as_microsecond())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "user.create",
            object_type: "user",
            object_id: &user.id,
            customer_id: user.customer_id.as_deref(),
            before: None,
            after: Some(json!(user)),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

pub async fn get(store: &Store, id: &str) -> Result<User> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("user", id))?;
    from_row(&row)
}

pub async fn find_by_username(store: &Store, username: &str) -> Result<Option<User>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE username = $1"))
        .bind(username)
        .fetch_optional(store.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Checks a username and password; any failure is the same `Unauthenticated`, so the
/// answer does not tell which usernames exist.
pub async fn authenticate_password(store: &Store, username: &str, password: &str) -> Result<User> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, password_hash FROM users WHERE username = $1"
    ))
    .bind(username)
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else {
        // Spend the same effort as a real check.
        let _ = hash_password(password);
        return Err(StoreError::Unauthenticated);
    };
    let hash: String = row.try_get("password_hash")?;
    let user = from_row(&row)?;
    PasswordHash::new(&hash)
        .map_err(|e| StoreError::Corrupt(format!("password hash of `{username}`: {e}")))?;
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    });
    if !ok.await.unwrap_or(false) || user.disabled {
        return Err(StoreError::Unauthenticated);
    }
    Ok(user)
}

/// Prefix that makes a valet token recognisable in logs and secret scanners.
pub const TOKEN_PREFIX: &str = "valet_";

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// An API token's record (the secret itself is returned once, by [`create_token`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub user_id: String,
    pub name: String,
}

/// Issues an API token for `user_id`; the actor must be that user or an admin.
pub async fn create_token(
    store: &Store,
    actor: &Actor,
    user_id: &str,
    name: &str,
) -> Result<(TokenInfo, String)> {
    if actor.user_id != user_id {
        actor.require(Permission::Administer, "issue tokens for other users")?;
    }
    let user = get(store, user_id).await?;
    let mut raw = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(raw));
    let info = TokenInfo {
        id: new_id(),
        user_id: user.id.clone(),
        name: name.to_string(),
    };
    let now = store.now();
    let mut tx = store.write().await?;
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&info.id)
    .bind(&info.user_id)
    .bind(&info.name)
    .bind(token_hash(&secret))
    .bind(now.as_microsecond())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor,
            action: "token.create",
            object_type: "api_token",
            object_id: &info.id,
            customer_id: user.customer_id.as_deref(),
            before: None,
            after: Some(json!(info)),
            reason: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((info, secret))
}

/// The user behind a token, if the token exists, is not revoked and the user is enabled.
pub async fn authenticate_token(store: &Store, token: &str) -> Result<User> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Err(StoreError::Unauthenticated);
    }
    let hash = token_hash(token);
    let row = sqlx::query(
        "SELECT u.id, u.username, u.display_name, u.email, u.role, u.customer_id, u.disabled,
                t.id AS token_id
         FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
    )
    .bind(&hash)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::Unauthenticated)?;
    let user = from_row(&row)?;
    if user.disabled {
        return Err(StoreError::Unauthenticated);
    }
    let token_id: String = row.try_get("token_id")?;
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(store.now_micros())
        .bind(&token_id)
        .execute(store.pool())
        .await?;
    Ok(user)
}

/// How long a browser session lasts without signing in again.
pub const SESSION_HOURS: i64 = 12;

/// Opens a browser session for a user who has just authenticated; returns the cookie secret.
pub async fn create_session(store: &Store, user: &User) -> Result<String> {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let secret = hex::encode(raw);
    let now = store.now();
    let expires = now
        .checked_add(jiff::SignedDuration::from_hours(SESSION_HOURS))
        .unwrap_or(now);
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash(&secret))
    .bind(&user.id)
    .bind(now.as_microsecond())
    .bind(expires.as_microsecond())
    .execute(store.pool())
    .await?;
    Ok(secret)
}

/// The user of a live session.
pub async fn authenticate_session(store: &Store, secret: &str) -> Result<User> {
    let row = sqlx::query(&format!(
        "SELECT {} FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id_hash = $1 AND s.expires_at > $2",
        COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(token_hash(secret))
    .bind(store.now_micros())
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::Unauthenticated)?;
    let user = from_row(&row)?;
    if user.disabled {
        return Err(StoreError::Unauthenticated);
    }
    Ok(user)
}

/// Ends a session (sign-out).
pub async fn end_session(store: &Store, secret: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(token_hash(secret))
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Enabled users of one role (e.g. every `vendor_pm`, told of new requests and failures).
pub async fn with_role(store: &Store, role: Role) -> Result<Vec<User>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM users WHERE role = $1 AND disabled = 0 ORDER BY username"
    ))
    .bind(role.as_str())
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}
