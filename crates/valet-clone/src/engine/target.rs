//! What the server engines (PostgreSQL, MariaDB) share about a target database: the marks it
//! carries while a clone is written and once the clone passed its leak scan, the states valet
//! finds it in, when valet refuses to write over it, and how a clone ends with it. How the
//! state is read, the mark written and the database dropped is each engine's own
//! ([`TargetDatabase`]). SQLite writes a side file and renames it into place instead.

use crate::error::CloneError;

/// The comment of a target while valet writes it (and after a clone that was killed).
pub(crate) const MARK_INCOMPLETE: &str = "valet-clone: incomplete";
/// The comment of a target whose clone passed the leak scan.
pub(crate) const MARK_COMPLETE: &str = "valet-clone: complete";

/// What a target database holds before a clone.
#[derive(Debug, PartialEq)]
pub(crate) enum TargetState {
    /// No such database.
    Missing,
    /// A database without tables (made by someone for valet to fill).
    Empty,
    /// A clone that did not finish.
    Incomplete,
    /// A clone that passed its leak scan.
    Complete,
    /// Tables that valet did not write.
    Occupied,
}

impl TargetState {
    /// The state a database's comment marks, or `None` when it carries no mark of valet's
    /// (then its tables tell).
    pub(crate) fn marked(comment: Option<&str>) -> Option<TargetState> {
        match comment {
            Some(c) if c.starts_with(MARK_INCOMPLETE) => Some(TargetState::Incomplete),
            Some(c) if c.starts_with(MARK_COMPLETE) => Some(TargetState::Complete),
            _ => None,
        }
    }
}

/// The comment that marks a target with `mark` now: `valet-clone: complete (unix time 17…)`.
pub(crate) fn mark_comment(mark: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{mark} (unix time {now})")
}

/// A target database on a server: what differs between the engines.
pub(crate) trait TargetDatabase {
    /// The database's name, for messages.
    fn name(&self) -> &str;

    /// What the database holds now.
    async fn state(&self) -> Result<TargetState, CloneError>;

    /// Mark the clone complete: it passed its leak scan.
    async fn mark_complete(&self) -> Result<(), CloneError>;

    /// Drop the database after a failed clone (a failure to drop it is logged).
    async fn drop_db(&self);

    /// An error when the target holds a completed clone or someone else's tables and
    /// `replace` was not asked for.
    fn refuse(&self, state: &TargetState, replace: bool) -> Result<(), CloneError> {
        match state {
            TargetState::Complete if !replace => Err(CloneError::TargetExists(format!(
                "target database `{}` holds a completed clone; pass --replace to overwrite it",
                self.name()
            ))),
            TargetState::Occupied if !replace => Err(CloneError::TargetExists(format!(
                "target database `{}` already holds tables that valet did not write; pass --replace to overwrite it",
                self.name()
            ))),
            _ => Ok(()),
        }
    }
}

/// The end of a clone that wrote `target`: marked complete when everything was `written`,
/// else dropped, and the error returned.
pub(crate) async fn complete_or_drop(
    target: &impl TargetDatabase,
    written: Result<(), CloneError>,
) -> Result<(), CloneError> {
    match written {
        Ok(()) => target.mark_complete().await,
        Err(e) => {
            target.drop_db().await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_name_the_state_and_carry_the_time() {
        let m = mark_comment(MARK_COMPLETE);
        assert!(m.starts_with("valet-clone: complete (unix time "), "{m}");
        assert_eq!(TargetState::marked(Some(&m)), Some(TargetState::Complete));
        assert_eq!(
            TargetState::marked(Some(&mark_comment(MARK_INCOMPLETE))),
            Some(TargetState::Incomplete)
        );
        assert_eq!(TargetState::marked(Some("a database of ours")), None);
        assert_eq!(TargetState::marked(None), None);
    }
}
