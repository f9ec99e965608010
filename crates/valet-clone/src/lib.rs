//! valet-clone: the clone-and-mask engine. It copies a PostgreSQL, MariaDB or SQLite database
//! into a new one of the same engine, read in one consistent snapshot, streaming every row
//! through a masking policy (fail closed: every column must be classified), then scans the
//! target for any identifying source value and drops it if one is found.
//!
//! It knows nothing about tenants, requests or environments: it is a standalone tool that
//! `valet-ops` (and the `valet clone` command) drive through [`clone_database`].

mod array;
mod engine;
mod error;
mod key;
pub mod leak;
mod login;
mod names;
pub mod plan;
mod policy;
mod progress;
mod report;
pub mod suggest;
pub mod transform;

pub use engine::{clone_database, drop_database, redact_url, CloneOptions, DbUrl};
pub use error::CloneError;
pub use key::RunKey;
pub use policy::{ColumnRule, LeakScanSettings, Policy, TableRule};
pub use progress::{NoProgress, Progress};
pub use report::{CloneReport, LeakScanReport, PhaseReport, TableReport};

/// Suggest a policy for the database at `url` from its column names and sampled values.
pub async fn suggest_policy(url: &str) -> Result<String, CloneError> {
    let (cat, samples) = match DbUrl::parse(url)? {
        DbUrl::Sqlite(p) => tokio::task::spawn_blocking(move || engine::sqlite::inspect(&p))
            .await
            .map_err(|e| CloneError::io("SQLite worker", e))??,
        DbUrl::Postgres(u) => engine::postgres::inspect(&u).await?,
        DbUrl::MySql(u) => engine::mariadb::inspect(&u).await?,
    };
    Ok(suggest::suggest_policy(&cat, &samples))
}
