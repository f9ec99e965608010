//! Operations on environments: app profiles, deployment drivers (the local `process` driver
//! first), and the worker that runs queued jobs. Later: provisioning and upgrade runs,
//! notifications and documents. Knows the store and the domain; knows nothing about HTTP.

pub mod documents;
pub mod driver;
mod error;
pub mod jobs;
pub mod profile;
pub mod worker;

pub use error::{OpsError, Result};
