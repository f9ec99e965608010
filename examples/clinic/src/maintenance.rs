//! Maintenance mode: while the file `<state-dir>/maintenance` exists, the server answers
//! 503 with the file's text as the banner. valet switches it on before an upgrade and off
//! after; anyone with shell access can do the same with `clinic maintenance on|off`.

use std::io;
use std::path::{Path, PathBuf};

/// Name of the flag file inside the state directory.
pub const FILE: &str = "maintenance";

/// Message used when none is given.
pub const DEFAULT_MESSAGE: &str = "scheduled maintenance";

/// Path of the flag file.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// Switches maintenance on with `message` (creating the state directory if needed).
pub fn enable(state_dir: &Path, message: &str) -> io::Result<PathBuf> {
    std::fs::create_dir_all(state_dir)?;
    let p = path(state_dir);
    std::fs::write(&p, format!("{}\n", message.trim()))?;
    Ok(p)
}

/// Switches maintenance off; returns whether it was on.
pub fn disable(state_dir: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path(state_dir)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The maintenance message when maintenance is on, `None` when it is off.
pub fn status(state_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path(state_dir)).ok()?;
    let text = text.trim();
    Some(if text.is_empty() {
        DEFAULT_MESSAGE.to_string()
    } else {
        text.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_and_off_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        assert_eq!(status(&state), None);
        enable(&state, "upgrade to 24.3 until 07:00 UTC").unwrap();
        assert_eq!(
            status(&state).as_deref(),
            Some("upgrade to 24.3 until 07:00 UTC")
        );
        assert!(disable(&state).unwrap());
        assert_eq!(status(&state), None);
        assert!(!disable(&state).unwrap());
    }

    #[test]
    fn an_empty_flag_file_still_means_maintenance() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), "").unwrap();
        assert_eq!(status(dir.path()).as_deref(), Some(DEFAULT_MESSAGE));
    }
}
