//! The one rule all state machines share: a step is legal only if it is listed.

use std::fmt::Display;

use crate::CoreError;

pub(crate) fn step<S: Copy + PartialEq + Display>(
    object: &'static str,
    from: S,
    to: S,
    allowed: &[S],
) -> Result<S, CoreError> {
    if allowed.contains(&to) {
        return Ok(to);
    }
    let allowed = if allowed.is_empty() {
        "nothing (final state)".to_string()
    } else {
        allowed
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(CoreError::IllegalTransition {
        object,
        from: from.to_string(),
        to: to.to_string(),
        allowed,
    })
}
