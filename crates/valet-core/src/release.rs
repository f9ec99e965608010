//! Releases: versions (`24.2`, `24.2.1`) and builds (`24.2.0.1187`) and their ordering.
//!
//! A build is four numbers `major.minor.patch.build`; builds order numerically, part by part,
//! so `24.2.0.1187 < 24.2.1.1201 < 24.3.0.1300` and `24.10.0.1 > 24.9.0.1`. A version is the
//! build without its build number and with a zero patch left out (`24.2.0.1187` is `24.2`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// A release line's version: `major.minor` or `major.minor.patch` (a hotfix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// A build: the exact artifact, `major.minor.patch.build`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Build {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    pub build: u32,
}

/// Feature releases bring new functionality; hotfixes only fix, and are never pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseKind {
    Feature,
    Hotfix,
}

fn parse_parts(what: &'static str, s: &str, min: usize, max: usize) -> Result<Vec<u32>, CoreError> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(CoreError::parse(what, s, "it is empty"));
    }
    let parts: Vec<&str> = trimmed.split('.').collect();
    if parts.len() < min || parts.len() > max {
        let shape = if what == "build" {
            "four numbers like `24.2.0.1187`"
        } else {
            "two or three numbers like `24.2` or `24.2.1`"
        };
        return Err(CoreError::parse(what, s, format!("expected {shape}")));
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CoreError::parse(
                    what,
                    s,
                    format!("part {} (`{p}`) is not a number", i + 1),
                ));
            }
            p.parse::<u32>()
                .map_err(|_| CoreError::parse(what, s, format!("part {} is too large", i + 1)))
        })
        .collect()
}

impl FromStr for Version {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let p = parse_parts("version", s, 2, 3)?;
        Ok(Version {
            major: p[0],
            minor: p[1],
            patch: p.get(2).copied().unwrap_or(0),
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patch == 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

impl FromStr for Build {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let p = parse_parts("build", s, 4, 4)?;
        Ok(Build {
            major: p[0],
            minor: p[1],
            patch: p[2],
            build: p[3],
        })
    }
}

impl fmt::Display for Build {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}.{}",
            self.major, self.minor, self.patch, self.build
        )
    }
}

impl Build {
    /// The version this build belongs to (`24.2.1.1201` → `24.2.1`).
    pub fn version(&self) -> Version {
        Version {
            major: self.major,
            minor: self.minor,
            patch: self.patch,
        }
    }

    /// A hotfix build is one with a non-zero patch number.
    pub fn kind(&self) -> ReleaseKind {
        if self.patch == 0 {
            ReleaseKind::Feature
        } else {
            ReleaseKind::Hotfix
        }
    }

    /// A key that sorts like the build, for storing in a text column (`00024.00002.00000.01187`).
    pub fn sort_key(&self) -> String {
        format!(
            "{:010}.{:010}.{:010}.{:010}",
            self.major, self.minor, self.patch, self.build
        )
    }
}

macro_rules! serde_via_str {
    ($t:ty, $what:literal, $example:literal) => {
        crate::customer::string_schema!($t, $what, $example);
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_via_str!(
    Version,
    "A version: major.minor.patch (`24.3.1`).",
    "24.3.1"
);
serde_via_str!(
    Build,
    "A build: major.minor.patch.build (`24.3.0.1300`); a non-zero patch is a hotfix.",
    "24.3.0.1300"
);

/// Builds strictly after `from` and up to and including `to`, in order: the releases whose
/// notes a customer on `from` must read before moving to `to`.
pub fn builds_between<'a>(builds: &'a [Build], from: &Build, to: &Build) -> Vec<&'a Build> {
    let mut out: Vec<&Build> = builds.iter().filter(|b| *b > from && *b <= to).collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(s: &str) -> Build {
        s.parse().unwrap()
    }

    #[test]
    fn clinic_builds_order_as_released() {
        assert!(b("24.2.0.1187") < b("24.2.1.1201"));
        assert!(b("24.2.1.1201") < b("24.3.0.1300"));
        assert!(b("24.9.0.1") < b("24.10.0.1"), "numeric, not lexical");
    }

    #[test]
    fn build_maps_to_version_and_kind() {
        assert_eq!(b("24.2.1.1201").version().to_string(), "24.2.1");
        assert_eq!(b("24.2.0.1187").version().to_string(), "24.2");
        assert_eq!(b("24.2.1.1201").kind(), ReleaseKind::Hotfix);
        assert_eq!(b("24.3.0.1300").kind(), ReleaseKind::Feature);
    }

    #[test]
    fn malformed_builds_say_what_is_wrong() {
        let e = "24.2.x.1".parse::<Build>().unwrap_err().to_string();
        assert!(e.contains("part 3 (`x`) is not a number"), "{e}");
        let e = "24.2".parse::<Build>().unwrap_err().to_string();
        assert!(e.contains("four numbers"), "{e}");
        assert!("".parse::<Version>().is_err());
        assert!("24..1".parse::<Version>().is_err());
        assert!("-1.2".parse::<Version>().is_err());
    }

    #[test]
    fn builds_between_is_half_open() {
        let all: Vec<Build> = ["24.1.0.1042", "24.2.0.1187", "24.2.1.1201", "24.3.0.1300"]
            .iter()
            .map(|s| b(s))
            .collect();
        let got: Vec<String> = builds_between(&all, &all[0], &all[3])
            .iter()
            .map(|b| b.to_string())
            .collect();
        assert_eq!(got, ["24.2.0.1187", "24.2.1.1201", "24.3.0.1300"]);
        assert!(builds_between(&all, &all[3], &all[0]).is_empty());
    }

    fn arb_build() -> impl Strategy<Value = Build> {
        (0u32..100, 0u32..20, 0u32..5, 0u32..10_000).prop_map(|(a, b, c, d)| Build {
            major: a,
            minor: b,
            patch: c,
            build: d,
        })
    }

    proptest! {
        #[test]
        fn build_display_parse_roundtrip(x in arb_build()) {
            prop_assert_eq!(x.to_string().parse::<Build>().unwrap(), x);
        }

        #[test]
        fn sort_key_orders_like_builds(x in arb_build(), y in arb_build()) {
            prop_assert_eq!(x.cmp(&y), x.sort_key().cmp(&y.sort_key()));
        }

        #[test]
        fn build_order_is_lexicographic_on_numbers(x in arb_build(), y in arb_build()) {
            let a = (x.major, x.minor, x.patch, x.build);
            let c = (y.major, y.minor, y.patch, y.build);
            prop_assert_eq!(x.cmp(&y), a.cmp(&c));
        }

        #[test]
        fn version_order_follows_build_order(x in arb_build(), y in arb_build()) {
            if x.version() < y.version() {
                prop_assert!(x < y);
            }
        }

        #[test]
        fn parser_never_panics(s in "\\PC{0,20}") {
            let _ = s.parse::<Build>();
            let _ = s.parse::<Version>();
        }
    }
}
