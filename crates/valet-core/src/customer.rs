//! Customers (tenants): a validated name and an IANA time zone.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// A customer: the tenant every customer-side object belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: String,
    pub name: CustomerName,
    pub zone: Zone,
}

/// `PartialSchema` and `ToSchema` of a type written as a string.
macro_rules! string_schema {
    ($t:ty, $what:literal, $example:literal) => {
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some($what))
                    .examples([$example])
                    .into()
            }
        }
        impl utoipa::ToSchema for $t {}
    };
}
pub(crate) use string_schema;

/// A customer's display name: 1–100 characters, no control characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerName(String);

string_schema!(
    CustomerName,
    "A customer's display name: 1–100 characters, no control characters.",
    "Acme Clinical Research"
);

impl CustomerName {
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(CoreError::Invalid {
                field: "name",
                why: "is empty; give the customer's organisation name".into(),
            });
        }
        if t.chars().count() > 100 {
            return Err(CoreError::Invalid {
                field: "name",
                why: format!("is {} characters long; at most 100", t.chars().count()),
            });
        }
        if t.chars().any(char::is_control) {
            return Err(CoreError::Invalid {
                field: "name",
                why: "contains control characters".into(),
            });
        }
        Ok(CustomerName(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CustomerName {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CustomerName::parse(&s)
    }
}

impl From<CustomerName> for String {
    fn from(n: CustomerName) -> String {
        n.0
    }
}

impl fmt::Display for CustomerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IANA time zone name known to the time-zone database (`Europe/Berlin`, `America/Chicago`).
///
/// Abbreviations such as `CST` are rejected with the zone they most likely mean, because an
/// abbreviation names an offset, not the daylight-saving rules a slot months ahead needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(String);

string_schema!(
    Zone,
    "An IANA time zone name (`Europe/Berlin`); abbreviations such as `CST` are refused.",
    "Europe/Berlin"
);

const ABBREVIATIONS: &[(&str, &str)] = &[
    ("CST", "America/Chicago"),
    ("CDT", "America/Chicago"),
    ("EST", "America/New_York"),
    ("EDT", "America/New_York"),
    ("MST", "America/Denver"),
    ("MDT", "America/Denver"),
    ("PST", "America/Los_Angeles"),
    ("PDT", "America/Los_Angeles"),
    ("CET", "Europe/Berlin"),
    ("CEST", "Europe/Berlin"),
    ("BST", "Europe/London"),
    ("IST", "Asia/Kolkata"),
    ("AEST", "Australia/Sydney"),
];

impl Zone {
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let t = s.trim();
        if let Some((_, iana)) = ABBREVIATIONS
            .iter()
            .find(|(abbr, _)| abbr.eq_ignore_ascii_case(t))
        {
            return Err(CoreError::parse(
                "time zone",
                s,
                format!("`{t}` is an abbreviation, not a zone; write the IANA name, e.g. `{iana}`"),
            ));
        }
        match jiff::tz::TimeZone::get(t) {
            Ok(tz) => Ok(Zone(tz.iana_name().unwrap_or(t).to_string())),
            Err(_) => Err(CoreError::parse(
                "time zone",
                s,
                "unknown IANA zone; write it like `Europe/Berlin` or `America/Chicago`",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The jiff time zone, for converting instants into the customer's wall clock.
    pub fn tz(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.0).expect("zone was validated when parsed")
    }
}

impl TryFrom<String> for Zone {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Zone::parse(&s)
    }
}

impl From<Zone> for String {
    fn from(z: Zone) -> String {
        z.0
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_zones_are_accepted() {
        assert_eq!(
            Zone::parse("Europe/Berlin").unwrap().as_str(),
            "Europe/Berlin"
        );
        assert_eq!(
            Zone::parse(" America/Chicago ").unwrap().as_str(),
            "America/Chicago"
        );
        assert_eq!(Zone::parse("UTC").unwrap().as_str(), "UTC");
    }

    #[test]
    fn abbreviation_is_rejected_with_the_likely_zone() {
        let e = Zone::parse("CST").unwrap_err().to_string();
        assert!(e.contains("America/Chicago"), "{e}");
    }

    #[test]
    fn unknown_zone_says_how_to_write_one() {
        let e = Zone::parse("Mars/Olympus").unwrap_err().to_string();
        assert!(e.contains("unknown IANA zone"), "{e}");
    }

    #[test]
    fn customer_names_are_trimmed_and_bounded() {
        assert_eq!(
            CustomerName::parse("  Acme Clinics ").unwrap().as_str(),
            "Acme Clinics"
        );
        assert!(CustomerName::parse("   ").is_err());
        assert!(CustomerName::parse(&"x".repeat(101)).is_err());
        assert!(CustomerName::parse("a\u{7}b").is_err());
    }
}
