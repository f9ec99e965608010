//! The clinic app: the sample application valet manages in its demo and tests. A small
//! clinical-research unit's system — volunteers, studies, enrolments, data-collection
//! events and audit tables that copy personal data — with releases
//! `24.1 → 24.2 → 24.2.1 (hotfix) → 24.3`, forward migrations for SQLite, PostgreSQL and
//! MariaDB/MySQL, a deterministic data generator and an HTTP server with health, version
//! and maintenance mode. `clinic configure` writes the environment's settings (name, banner,
//! SSO, lab endpoint); saved reports and dashboards are the customer's configuration, which
//! `clinic config export` and `clinic config import` carry from one database to another.
//!
//! It knows nothing about valet: valet drives it through the commands and queries in
//! `valet-app.toml`, like any third-party app.

pub mod cli;
pub mod configuration;
pub mod db;
mod error;
pub mod gen;
pub mod maintenance;
pub mod release;
pub mod schema;
pub mod server;
pub mod transfer;

pub use error::Error;
