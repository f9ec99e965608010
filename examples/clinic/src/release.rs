//! The releases of the clinic app, oldest first, and lookups by version or build number.

use crate::Error;

/// One shipped release of the clinic app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReleaseInfo {
    /// Marketing version, e.g. `24.2.1`.
    pub version: &'static str,
    /// Full build number, e.g. `24.2.1.1201`.
    pub build: &'static str,
    /// `feature` or `hotfix`.
    pub kind: &'static str,
    /// Release date, `YYYY-MM-DD`.
    pub released: &'static str,
}

/// Every release, oldest first; the schema migrations follow this order.
pub const RELEASES: &[ReleaseInfo] = &[
    ReleaseInfo {
        version: "24.1",
        build: "24.1.0.1042",
        kind: "feature",
        released: "2024-03-04",
    },
    ReleaseInfo {
        version: "24.2",
        build: "24.2.0.1187",
        kind: "feature",
        released: "2024-06-10",
    },
    ReleaseInfo {
        version: "24.2.1",
        build: "24.2.1.1201",
        kind: "hotfix",
        released: "2024-07-01",
    },
    ReleaseInfo {
        version: "24.3",
        build: "24.3.0.1300",
        kind: "feature",
        released: "2024-10-14",
    },
];

/// The newest release.
pub fn latest() -> &'static ReleaseInfo {
    RELEASES.last().expect("at least one release")
}

/// The release with this version (`24.2.1`) or build number (`24.2.1.1201`).
pub fn find(version_or_build: &str) -> Option<&'static ReleaseInfo> {
    let wanted = version_or_build.trim();
    RELEASES
        .iter()
        .find(|r| r.version == wanted || r.build == wanted)
}

/// Like [`find`], but an unknown release is an error that lists the known ones.
pub fn require(version_or_build: &str) -> Result<&'static ReleaseInfo, Error> {
    find(version_or_build).ok_or_else(|| Error::UnknownRelease {
        given: version_or_build.to_string(),
        known: RELEASES
            .iter()
            .map(|r| format!("{} ({})", r.version, r.build))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

impl ReleaseInfo {
    /// Position in [`RELEASES`]; later releases have larger positions.
    pub fn position(&self) -> usize {
        RELEASES
            .iter()
            .position(|r| r.build == self.build)
            .expect("a ReleaseInfo comes from RELEASES")
    }

    /// True when this release is `other` or newer.
    pub fn at_least(&self, other_version: &str) -> bool {
        let other = find(other_version).expect("a known release version");
        self.position() >= other.position()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_accepts_version_or_build() {
        assert_eq!(find("24.2.1").unwrap().build, "24.2.1.1201");
        assert_eq!(find("24.3.0.1300").unwrap().version, "24.3");
        assert!(find("24.4").is_none());
        assert!(find("24").is_none());
    }

    #[test]
    fn latest_is_24_3() {
        assert_eq!(latest().version, "24.3");
        assert_eq!(latest().build, "24.3.0.1300");
    }

    #[test]
    fn releases_are_ordered_by_date_and_build() {
        for pair in RELEASES.windows(2) {
            assert!(pair[0].released < pair[1].released);
            let n = |b: &str| -> Vec<u32> { b.split('.').map(|p| p.parse().unwrap()).collect() };
            assert!(n(pair[0].build) < n(pair[1].build));
            assert!(pair[1].build.starts_with(pair[1].version));
        }
        assert_eq!(find("24.2.1").unwrap().kind, "hotfix");
    }

    #[test]
    fn unknown_release_error_lists_known_ones() {
        let msg = require("25.1").unwrap_err().to_string();
        assert!(msg.contains("unknown release `25.1`"), "{msg}");
        assert!(msg.contains("24.2.1 (24.2.1.1201)"), "{msg}");
    }

    #[test]
    fn at_least_follows_release_order() {
        let r = find("24.2.1").unwrap();
        assert!(r.at_least("24.1") && r.at_least("24.2") && r.at_least("24.2.1"));
        assert!(!r.at_least("24.3"));
    }
}
