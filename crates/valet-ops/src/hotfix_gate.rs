//! The one check every path that applies a hotfix goes through: no accepted decision on
//! record, no hotfix. Fails closed until hotfix acceptance is recorded.

use valet_store::requests::Request;
use valet_store::Store;

use crate::error::{OpsError, Result};

/// Refuses unless the hotfix request's build was accepted for its pair, e-signed by a
/// customer admin.
pub async fn require_acceptance(_store: &Store, r: &Request) -> Result<()> {
    Err(OpsError::Payload(format!(
        "{}: no hotfix acceptance on record for this pair; a hotfix is never applied without one",
        r.key
    )))
}
