//! The VAL cycle's rules: what a VAL request must say, when validation may begin and end,
//! findings filed during validation and when sign-off may happen.
//!
//! Pure: the caller passes "today", the PROD pair's build and what the catalog knows of the
//! target build, so every rule is unit-testable.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::environment::string_enum;
use crate::error::FieldError;
use crate::{Build, CoreError};

/// A VAL pair is a fresh clone (`new`), or replaces an existing VAL pair of the customer,
/// carrying its configuration tables over (`refresh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValKind {
    New,
    Refresh,
}
string_enum!(ValKind, "VAL request kind", { New => "new", Refresh => "refresh" });

/// What a customer asks for when requesting a VAL pair, as typed (strings are parsed here so
/// that every field's error can be reported at once).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"pair": "01a2347c-e810-7586-b349-830173d1acd7", "build": "24.3", "begin": "2027-01-04", "end": "2027-03-05", "sso_required": false, "lab": "https://lab.example.com/hl7", "purpose": "Validate 24.3 before the March upgrade"}))]
pub struct ValRequestInput {
    /// The PROD pair to clone (its pair id).
    #[serde(default)]
    pub pair: String,
    /// Target build or version (`24.3` or `24.3.0.1300`).
    #[serde(default)]
    pub build: String,
    /// First and last day of validation, `YYYY-MM-DD`.
    #[serde(default)]
    pub begin: String,
    #[serde(default)]
    pub end: String,
    #[serde(default)]
    pub sso_required: bool,
    /// IdP metadata: an `https://` URL, or the XML itself (uploaded file).
    #[serde(default)]
    pub sso_metadata: Option<String>,
    /// Lab test environment details (endpoint, contact); optional.
    #[serde(default)]
    pub lab: Option<String>,
    #[serde(default)]
    pub purpose: Option<String>,
    /// For a refresh: the VAL pair (its pair id) whose configuration is carried over.
    #[serde(default)]
    pub refresh: Option<String>,
}

/// What the catalog and the environments say about the input's references.
#[derive(Debug, Clone)]
pub struct ValContext {
    pub today: Date,
    /// The PROD pair exists and the requester may see it; its current build.
    pub pair: Option<PairFacts>,
    /// The target build as the catalog knows it: (build, published).
    pub target: Option<(Build, bool)>,
    /// For a refresh: whether the named VAL pair exists, is the customer's, and is active.
    pub refresh: Option<RefreshFacts>,
    pub rules: ValRules,
}

#[derive(Debug, Clone)]
pub struct PairFacts {
    pub is_prod: bool,
    pub current_build: Option<Build>,
}

#[derive(Debug, Clone)]
pub struct RefreshFacts {
    pub found: bool,
    pub is_val: bool,
    pub live: bool,
}

/// Configurable limits of a VAL request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValRules {
    /// Longest validation period, in days (default 183: six months).
    pub max_days: i64,
}

impl Default for ValRules {
    fn default() -> Self {
        ValRules { max_days: 183 }
    }
}

/// A checked VAL request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValRequest {
    pub kind: ValKind,
    pub pair_id: String,
    pub build: Build,
    pub begin: Date,
    pub end: Date,
    pub sso_required: bool,
    pub sso_metadata: Option<String>,
    pub lab: Option<String>,
    pub purpose: Option<String>,
    /// The VAL pair a refresh replaces.
    pub refresh_of: Option<String>,
}

fn blank(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn parse_date(field: &str, s: &str, errs: &mut Vec<FieldError>) -> Option<Date> {
    let t = s.trim();
    if t.is_empty() {
        errs.push(FieldError::new(
            field,
            "is required; give a date as YYYY-MM-DD",
        ));
        return None;
    }
    match t.parse::<Date>() {
        Ok(d) => Some(d),
        Err(_) => {
            errs.push(FieldError::new(
                field,
                format!("`{t}` is not a date; write it as YYYY-MM-DD, e.g. 2027-01-11"),
            ));
            None
        }
    }
}

impl ValRequestInput {
    /// Checks every field against the rules; all problems are reported together.
    pub fn check(&self, ctx: &ValContext) -> Result<ValRequest, CoreError> {
        let mut errs = Vec::new();
        let pair = self.pair.trim();
        if pair.is_empty() {
            errs.push(FieldError::new(
                "pair",
                "is required; pick the PROD pair to clone",
            ));
        }
        match (&ctx.pair, pair.is_empty()) {
            (None, false) => errs.push(FieldError::new(
                "pair",
                format!(
                    "`{pair}` is not a PROD pair of yours; list them with GET /api/v1/environments"
                ),
            )),
            (Some(p), false) if !p.is_prod => errs.push(FieldError::new(
                "pair",
                "is a VAL pair; a VAL is cloned from PROD (use `refresh` to replace a VAL pair)",
            )),
            _ => {}
        }
        let build = match (&ctx.target, self.build.trim()) {
            (_, "") => {
                errs.push(FieldError::new(
                    "build",
                    "is required; give the target build or version",
                ));
                None
            }
            (None, b) => {
                errs.push(FieldError::new(
                    "build",
                    format!("`{b}` is not in the release catalog; see GET /api/v1/releases"),
                ));
                None
            }
            (Some((b, false)), _) => {
                errs.push(FieldError::new(
                    "build",
                    format!(
                        "{b} is not published yet; ask the vendor's PM, or pick a published build"
                    ),
                ));
                None
            }
            (Some((b, true)), _) => {
                if let Some(cur) = ctx.pair.as_ref().and_then(|p| p.current_build.as_ref()) {
                    if b < cur {
                        errs.push(FieldError::new(
                            "build",
                            format!("{b} is older than PROD's build {cur}; pick {cur} or newer"),
                        ));
                    }
                }
                Some(*b)
            }
        };
        let begin = parse_date("begin", &self.begin, &mut errs);
        let end = parse_date("end", &self.end, &mut errs);
        if let Some(b) = begin {
            if b < ctx.today {
                errs.push(FieldError::new(
                    "begin",
                    format!(
                        "{b} is in the past; validation can begin {} at the earliest",
                        ctx.today
                    ),
                ));
            }
        }
        if let (Some(b), Some(e)) = (begin, end) {
            if e <= b {
                errs.push(FieldError::new(
                    "end",
                    format!("{e} is not after the begin date {b}"),
                ));
            } else {
                // Default largest unit of `until` between dates is days.
                let days = b.until(e).map(|s| s.get_days() as i64).unwrap_or(i64::MAX);
                if days > ctx.rules.max_days {
                    errs.push(FieldError::new(
                        "end",
                        format!(
                            "validation would last {days} days; at most {} are allowed (end by {})",
                            ctx.rules.max_days,
                            b.checked_add(jiff::Span::new().days(ctx.rules.max_days))
                                .unwrap_or(b)
                        ),
                    ));
                }
            }
        }
        let sso_metadata = blank(&self.sso_metadata);
        if self.sso_required && sso_metadata.is_none() {
            errs.push(FieldError::new(
                "sso_metadata",
                "SSO is required, so the identity provider's metadata is too: upload the XML file or give its https:// URL",
            ));
        }
        if let Some(m) = &sso_metadata {
            let t = m.trim_start();
            if !(t.starts_with("https://") || t.starts_with("http://") || t.starts_with('<')) {
                errs.push(FieldError::new(
                    "sso_metadata",
                    "is neither a URL nor SAML metadata XML; give the https:// URL or the file",
                ));
            }
        }
        let refresh_of = blank(&self.refresh);
        if let Some(r) = &refresh_of {
            match &ctx.refresh {
                Some(f) if f.found && f.is_val && f.live => {}
                Some(f) if f.found && !f.is_val => errs.push(FieldError::new(
                    "refresh",
                    "names a PROD pair; a refresh replaces one of your VAL pairs",
                )),
                Some(f) if f.found && !f.live => errs.push(FieldError::new(
                    "refresh",
                    "that VAL pair is no longer running; request a new VAL instead",
                )),
                _ => errs.push(FieldError::new(
                    "refresh",
                    format!("`{r}` is not a VAL pair of yours"),
                )),
            }
        }
        for (field, v, max) in [
            ("lab", &self.lab, 2000usize),
            ("purpose", &self.purpose, 2000),
        ] {
            if let Some(t) = v {
                if t.chars().count() > max {
                    errs.push(FieldError::new(
                        field,
                        format!("is longer than {max} characters"),
                    ));
                }
            }
        }
        if !errs.is_empty() {
            return Err(CoreError::Fields(errs));
        }
        Ok(ValRequest {
            kind: if refresh_of.is_some() {
                ValKind::Refresh
            } else {
                ValKind::New
            },
            pair_id: pair.to_string(),
            build: build.expect("checked"),
            begin: begin.expect("checked"),
            end: end.expect("checked"),
            sso_required: self.sso_required,
            sso_metadata,
            lab: blank(&self.lab),
            purpose: blank(&self.purpose),
            refresh_of,
        })
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    Critical,
    Major,
    Minor,
}
string_enum!(Severity as "FindingSeverity", "severity", { Critical => "critical", Major => "major", Minor => "minor" });

/// What a finding is about (the process: configured items and integrations are the
/// customer's to validate; product defects are the vendor's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingArea {
    ConfigurationItem,
    Integration,
    ProductDefect,
}
string_enum!(FindingArea, "finding area", {
    ConfigurationItem => "configuration_item",
    Integration => "integration",
    ProductDefect => "product_defect",
});

/// A finding's life: filed `open`; the vendor `resolved` it; or a customer admin `accepted`
/// it as it is (with a reason) so sign-off can go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingState {
    Open,
    Resolved,
    Accepted,
}
string_enum!(FindingState, "finding state", {
    Open => "open",
    Resolved => "resolved",
    Accepted => "accepted",
});

impl FindingState {
    pub fn next(&self) -> &'static [FindingState] {
        match self {
            FindingState::Open => &[FindingState::Resolved, FindingState::Accepted],
            FindingState::Resolved => &[FindingState::Open],
            FindingState::Accepted => &[FindingState::Open],
        }
    }

    pub fn transition(self, to: FindingState) -> Result<FindingState, CoreError> {
        crate::machine::step("finding", self, to, self.next())
    }

    /// Open findings block sign-off.
    pub fn blocks_sign_off(&self) -> bool {
        *self == FindingState::Open
    }
}

/// Sign-off is refused while any finding is open; lists them.
pub fn check_sign_off(open_findings: &[String]) -> Result<(), CoreError> {
    if open_findings.is_empty() {
        Ok(())
    } else {
        Err(CoreError::Invalid {
            field: "findings",
            why: format!(
                "{} still open ({}); resolve them, or a customer admin accepts each with a reason",
                open_findings.len(),
                open_findings.join(", ")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn ctx() -> ValContext {
        ValContext {
            today: date(2026, 11, 30),
            pair: Some(PairFacts {
                is_prod: true,
                current_build: Some("24.2.1.1201".parse().unwrap()),
            }),
            target: Some(("24.3.0.1300".parse().unwrap(), true)),
            refresh: None,
            rules: ValRules::default(),
        }
    }

    fn input() -> ValRequestInput {
        ValRequestInput {
            pair: "p1".into(),
            build: "24.3".into(),
            begin: "2026-12-07".into(),
            end: "2027-03-05".into(),
            ..Default::default()
        }
    }

    fn fields(e: CoreError) -> Vec<String> {
        match e {
            CoreError::Fields(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("expected field errors, got {other}"),
        }
    }

    #[test]
    fn a_complete_request_passes() {
        let r = input().check(&ctx()).unwrap();
        assert_eq!(r.kind, ValKind::New);
        assert_eq!(r.build.to_string(), "24.3.0.1300");
        assert_eq!(r.end, date(2027, 3, 5));
    }

    #[test]
    fn every_wrong_field_is_reported_at_once() {
        let mut c = ctx();
        c.target = Some(("24.3.0.1300".parse().unwrap(), false));
        c.pair = None;
        let i = ValRequestInput {
            pair: "nope".into(),
            build: "24.3".into(),
            begin: "2026-11-01".into(),
            end: "2026-10-01".into(),
            sso_required: true,
            ..Default::default()
        };
        let f = fields(i.check(&c).unwrap_err());
        assert_eq!(f, vec!["pair", "build", "begin", "end", "sso_metadata"]);
    }

    #[test]
    fn older_build_than_prod_is_refused() {
        let mut c = ctx();
        c.target = Some(("24.2.0.1187".parse().unwrap(), true));
        let e = input().check(&c).unwrap_err();
        assert!(
            e.to_string()
                .contains("older than PROD's build 24.2.1.1201"),
            "{e}"
        );
    }

    #[test]
    fn validation_longer_than_the_limit_is_refused() {
        let mut i = input();
        i.end = "2027-12-31".into();
        let e = i.check(&ctx()).unwrap_err();
        assert!(e.to_string().contains("at most 183"), "{e}");
        let mut c = ctx();
        c.rules.max_days = 400;
        assert!(i.check(&c).is_ok());
    }

    #[test]
    fn sso_needs_metadata_url_or_xml() {
        let mut i = input();
        i.sso_required = true;
        i.sso_metadata = Some("https://idp.example.com/metadata".into());
        assert!(i.check(&ctx()).is_ok());
        i.sso_metadata = Some("<EntityDescriptor/>".into());
        assert!(i.check(&ctx()).is_ok());
        i.sso_metadata = Some("idp".into());
        assert_eq!(fields(i.check(&ctx()).unwrap_err()), vec!["sso_metadata"]);
    }

    #[test]
    fn refresh_must_name_a_live_val_pair() {
        let mut i = input();
        i.refresh = Some("v1".into());
        let mut c = ctx();
        assert_eq!(fields(i.check(&c).unwrap_err()), vec!["refresh"]);
        c.refresh = Some(RefreshFacts {
            found: true,
            is_val: true,
            live: true,
        });
        assert_eq!(i.check(&c).unwrap().kind, ValKind::Refresh);
    }

    #[test]
    fn open_findings_block_sign_off() {
        assert!(check_sign_off(&[]).is_ok());
        let e = check_sign_off(&["F-1".into()]).unwrap_err();
        assert!(e.to_string().contains("F-1"), "{e}");
        assert!(FindingState::Open.blocks_sign_off());
        assert!(FindingState::Accepted
            .transition(FindingState::Resolved)
            .is_err());
    }
}
