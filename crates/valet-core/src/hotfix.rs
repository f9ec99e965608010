//! Hotfix acceptance rules: which PROD pairs a hotfix is offered to (same release line, older
//! build), the customer's decision on it, and the notice an accepted hotfix's upgrade needs,
//! by the hotfix's severity.
//!
//! A hotfix is never pushed: the customer's admin reads its notes and accepts or declines it
//! for each PROD pair, with an e-signature; only an accepted hotfix becomes an `HFX-N` request.

use serde::{Deserialize, Serialize};

use crate::environment::string_enum;
use crate::release::{Build, ReleaseKind};

/// How urgent a hotfix is; it sets how much notice its upgrade needs. A manifest without
/// `severity` is `normal`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    #[default]
    Normal,
    High,
    Critical,
}
string_enum!(Severity as "HotfixSeverity", "severity", {
    Normal => "normal",
    High => "high",
    Critical => "critical",
});

/// Days of notice an accepted hotfix's upgrade needs, per severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HotfixNotice {
    pub critical: u32,
    pub high: u32,
    pub normal: u32,
}

impl Default for HotfixNotice {
    /// Critical 1 day, high 7 days, normal the 21 days of any upgrade.
    fn default() -> Self {
        HotfixNotice {
            critical: 1,
            high: 7,
            normal: 21,
        }
    }
}

impl HotfixNotice {
    pub fn days(&self, severity: Severity) -> u32 {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Normal => self.normal,
        }
    }

    /// Each value within 0 to 365 days.
    pub fn check(&self) -> Result<(), String> {
        for (name, d) in [
            ("critical", self.critical),
            ("high", self.high),
            ("normal", self.normal),
        ] {
            if d > 365 {
                return Err(format!(
                    "hotfix_notice_days.{name} = {d}: give 0 to 365 days"
                ));
            }
        }
        Ok(())
    }
}

/// A customer's answer to a hotfix for one PROD pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Accepted,
    Declined,
}
string_enum!(Decision, "hotfix decision", {
    Accepted => "accepted",
    Declined => "declined",
});

/// Whether a PROD pair on `current` is offered `hotfix`: the hotfix is on the pair's release
/// line (same `major.minor`) and newer than what the pair runs. A pair with no recorded build
/// is offered nothing: valet cannot tell its line.
pub fn eligible(current: Option<Build>, hotfix: Build) -> bool {
    match current {
        Some(c) => {
            hotfix.kind() == ReleaseKind::Hotfix
                && c.major == hotfix.major
                && c.minor == hotfix.minor
                && c < hotfix
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Build {
        s.parse().unwrap()
    }

    #[test]
    fn only_older_builds_of_the_same_line_are_offered_a_hotfix() {
        let h = b("24.2.1.1201");
        assert!(eligible(Some(b("24.2.0.1187")), h));
        assert!(!eligible(Some(b("24.2.1.1201")), h), "already on it");
        assert!(!eligible(Some(b("24.2.2.1250")), h), "newer");
        assert!(!eligible(Some(b("24.1.0.1042")), h), "another line");
        assert!(!eligible(Some(b("24.3.0.1300")), h), "another line");
        assert!(!eligible(None, h));
        assert!(
            !eligible(Some(b("24.1.0.1042")), b("24.2.0.1187")),
            "a feature release is no hotfix"
        );
    }

    #[test]
    fn notice_follows_severity_and_defaults_to_normal() {
        let n = HotfixNotice::default();
        assert_eq!(n.days(Severity::Critical), 1);
        assert_eq!(n.days(Severity::High), 7);
        assert_eq!(n.days(Severity::default()), 21);
        assert!(n.check().is_ok());
        let bad = HotfixNotice { high: 400, ..n };
        assert!(bad.check().unwrap_err().contains("high"));
        assert_eq!("CRITICAL".parse::<Severity>().unwrap(), Severity::Critical);
        let e = "urgent".parse::<Severity>().unwrap_err().to_string();
        assert!(e.contains("normal, high, critical"), "{e}");
    }
}
