//! The domain of valet: releases and their build ordering, customers (tenants) and their time
//! zones, environments and their pairs, service-desk requests and their state machines, and
//! the roles people act in.
//!
//! This crate is pure: no I/O, no clock, no database. Time is passed in by the caller, so
//! every rule is unit-testable. Persistence lives in `valet-store`, HTTP in `valet-web`.

pub mod catalog;
pub mod customer;
pub mod environment;
pub mod error;
pub mod hotfix;
mod machine;
pub mod release;
pub mod request;
pub mod role;
pub mod schedule;
pub mod signature;
pub mod slot;
pub mod upgrade;
pub mod val;

pub use customer::{Customer, CustomerName, Zone};
pub use environment::{EnvRole, EnvState, Tier};
pub use error::{CoreError, FieldError};
pub use release::{Build, ReleaseKind, Version};
pub use request::{RequestKind, RequestState};
pub use role::{Actor, Permission, Role};
