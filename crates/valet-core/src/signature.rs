//! Electronic signatures (21 CFR Part 11 §11.50, §11.70, §11.200).
//!
//! A signature names the signer (printed name and username), the time (UTC, plus the signer's
//! own zone), the meaning, and the SHA-256 of the signed record's canonical content. It is
//! bound to that hash: when the record changes, its current hash no longer matches and every
//! place showing the signature says "changed after signing". Re-authentication (the password
//! entered again) is the caller's duty; an API token alone never signs.

use serde::{Deserialize, Serialize};

use crate::environment::string_enum;

/// What a signature means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Meaning {
    Approved,
    Validated,
    Reviewed,
    Responsibility,
    Accepted,
    Declined,
}
string_enum!(Meaning, "signature meaning", {
    Approved => "approved",
    Validated => "validated",
    Reviewed => "reviewed",
    Responsibility => "responsibility",
    Accepted => "accepted",
    Declined => "declined",
});

impl Meaning {
    /// The sentence printed under a signature.
    pub fn statement(&self) -> &'static str {
        match self {
            Meaning::Approved => "I approve this record.",
            Meaning::Validated => "I confirm that validation of this record is complete.",
            Meaning::Reviewed => "I have reviewed this record.",
            Meaning::Responsibility => "I take responsibility for this record.",
            Meaning::Accepted => "I accept this record.",
            Meaning::Declined => "I decline this record.",
        }
    }
}

/// A recorded signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Signature {
    pub id: String,
    pub object_type: String,
    pub object_id: String,
    pub signer_id: String,
    pub username: String,
    /// The signer's full printed name (§11.50 a.1).
    pub printed_name: String,
    pub meaning: Meaning,
    pub signed_at: jiff::Timestamp,
    /// The signer's IANA zone and the local time there (§11.50 a.2).
    pub signer_zone: String,
    pub signed_at_local: String,
    /// SHA-256 of the record's canonical content when it was signed (§11.70).
    pub record_sha256: String,
    pub reason: Option<String>,
}

impl Signature {
    /// The signing time as the signer saw it, e.g. `2026-11-30 21:05:13 CET (Europe/Berlin)`.
    pub fn local_time(at: jiff::Timestamp, zone: &str) -> String {
        match jiff::tz::TimeZone::get(zone) {
            Ok(tz) => {
                let z = at.to_zoned(tz);
                let shown = z.strftime("%Y-%m-%d %H:%M:%S %Z").to_string();
                if shown.ends_with(&format!(" {zone}")) {
                    shown // `… UTC`, not `… UTC (UTC)`
                } else {
                    format!("{shown} ({zone})")
                }
            }
            Err(_) => format!("{} (UTC)", at.strftime("%Y-%m-%d %H:%M:%S")),
        }
    }

    /// Whether the record's content has changed since it was signed.
    pub fn changed_after_signing(&self, current_sha256: &str) -> bool {
        self.record_sha256 != current_sha256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_names_the_zone() {
        let at: jiff::Timestamp = "2026-11-30T20:05:13Z".parse().unwrap();
        assert_eq!(
            Signature::local_time(at, "Europe/Berlin"),
            "2026-11-30 21:05:13 CET (Europe/Berlin)"
        );
        assert!(Signature::local_time(at, "Nowhere/Else").ends_with("(UTC)"));
        assert_eq!(
            Signature::local_time(at, "UTC"),
            format!("{} UTC", at.strftime("%Y-%m-%d %H:%M:%S"))
        );
    }

    #[test]
    fn meanings_parse_and_print() {
        assert_eq!("Validated".parse::<Meaning>().unwrap(), Meaning::Validated);
        assert!("signed".parse::<Meaning>().is_err());
        assert!(Meaning::Approved.statement().contains("approve"));
    }
}
