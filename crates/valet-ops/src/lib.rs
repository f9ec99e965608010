//! Operations on environments: app profiles, deployment drivers (the local `process` driver
//! first), the worker that runs queued jobs, delivery of notifications (e-mail over SMTP,
//! signed webhooks) and documents. Later: provisioning and upgrade runs. Knows the store and
//! the domain; knows nothing about HTTP.

pub mod dbops;
pub mod documents;
pub mod driver;
mod error;
pub mod jobs;
pub mod lifecycle;
pub mod notify;
pub mod outbox;
pub mod proddb;
pub mod profile;
pub mod provision;
pub mod upgrade;
pub mod val;
pub mod worker;

pub use error::{OpsError, Result};
