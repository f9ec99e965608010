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
    /// Several fields of one input are wrong; every one is listed so a form can mark them all.
    #[error("{}", FieldError::join(.0))]
    Fields(Vec<FieldError>),
}

/// One wrong field of an input: which, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    fn join(all: &[FieldError]) -> String {
        all.iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
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
