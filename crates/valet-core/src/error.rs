//! The one error type of the domain: each variant is something a caller can act on.

use thiserror::Error;

/// What a domain rule rejected, with enough detail to tell a person how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    #[error("`{input}` is not a valid {what}: {why}")]
    Parse {
        what: &'static str,
        input: String,
        why: String,
    },
    #[error("{object} cannot go from `{from}` to `{to}`; allowed from `{from}`: {allowed}")]
    IllegalTransition {
        object: &'static str,
        from: String,
        to: String,
        allowed: String,
    },
    #[error("role `{role}` may not {action}")]
    Forbidden { role: String, action: String },
    #[error("{field}: {why}")]
    Invalid { field: &'static str, why: String },
}

impl CoreError {
    pub(crate) fn parse(what: &'static str, input: &str, why: impl Into<String>) -> Self {
        CoreError::Parse {
            what,
            input: input.to_string(),
            why: why.into(),
        }
    }
}
