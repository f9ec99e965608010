//! What a PROD upgrade request must say: the PROD pair, the target build (by default the one the
//! customer validated and signed off in its latest VAL), the downtime the customer accepts, and
//! one or more time slots, one preferred.
//!
//! Pure: the caller passes "now", the pair's facts, the validated build and the catalog's view
//! of the target.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::schedule::Notice;
use crate::slot::{parse_slot, parse_slots, Slot, SlotWarning};
use crate::{Build, CoreError};

/// An upgrade request as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"pair": "Acme Clinical Research/PROD", "build": "24.3.0.1300", "slots": ["2027-03-15 09:00-10:00 Europe/Berlin", "2027-03-16 2pm-3pm CET"], "preferred": 2, "downtime_minutes": 30, "note": "Avoid the month-end data lock"}))]
pub struct UpgradeRequestInput {
    /// The PROD pair (its id, or `Customer/PROD`).
    #[serde(default)]
    pub pair: String,
    /// Target build; empty means the validated build.
    #[serde(default)]
    pub build: Option<String>,
    /// Slots as text, e.g. `2027-01-11 09:00-10:00 America/Chicago`.
    #[serde(default)]
    pub slots: Vec<String>,
    /// 1-based index of the preferred slot (default the first).
    #[serde(default)]
    pub preferred: Option<usize>,
    /// Downtime the customer can accept, minutes.
    #[serde(default)]
    pub downtime_minutes: Option<u64>,
    #[serde(default)]
    pub note: Option<String>,
}

/// What the store knows about the input's references.
#[derive(Debug, Clone)]
pub struct UpgradeContext {
    pub now: Timestamp,
    /// The pair exists and the requester may see it: (is PROD, current build).
    pub pair: Option<(bool, Option<Build>)>,
    /// The build validated and signed off in the customer's latest VAL of this pair, with the
    /// VAL request's key.
    pub validated: Option<(Build, String)>,
    /// The requested build as the catalog knows it: (build, published). `None` when not given
    /// or unknown (see `build_given`).
    pub target: Option<(Build, bool)>,
    pub notice_days: u32,
}

/// A checked upgrade request (the request's `details`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpgradeRequest {
    pub pair_id: String,
    pub build: Build,
    /// The validated build and the VAL that validated it, when there is one.
    pub validated_build: Option<Build>,
    pub validated_in: Option<String>,
    /// The build is not the validated one: scheduling needs a PM override with a reason.
    pub needs_build_override: bool,
    pub downtime_minutes: u64,
    pub slots: Vec<Slot>,
    pub notice_days: u32,
    pub note: Option<String>,
}

impl UpgradeRequest {
    pub fn preferred(&self) -> Option<(usize, &Slot)> {
        self.slots
            .iter()
            .enumerate()
            .find(|(_, s)| s.preferred)
            .map(|(i, s)| (i + 1, s))
    }
}

impl UpgradeRequestInput {
    /// Checks every field; all problems are reported together. Slots with less notice than
    /// required are accepted with a `short_notice` warning (the PM may override).
    pub fn check(&self, ctx: &UpgradeContext) -> Result<UpgradeRequest, CoreError> {
        let mut errs = Vec::new();
        let pair = self.pair.trim();
        match (&ctx.pair, pair.is_empty()) {
            (_, true) => errs.push(FieldError::new(
                "pair",
                "is required; pick the PROD pair to upgrade",
            )),
            (None, false) => errs.push(FieldError::new(
                "pair",
                format!(
                    "`{pair}` is not a PROD pair of yours; list them with GET /api/v1/environments"
                ),
            )),
            (Some((false, _)), false) => errs.push(FieldError::new(
                "pair",
                "is not a PROD pair; only PROD is upgraded this way",
            )),
            _ => {}
        }
        let given = self
            .build
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty());
        let build = match (given, &ctx.target, &ctx.validated) {
            (None, _, Some((v, _))) => Some(*v),
            (None, _, None) => {
                errs.push(FieldError::new(
                    "build",
                    "no VAL of this pair has been signed off yet: give the target build, or \
                     validate one first",
                ));
                None
            }
            (Some(b), None, _) => {
                errs.push(FieldError::new(
                    "build",
                    format!("`{b}` is not in the release catalog; see GET /api/v1/releases"),
                ));
                None
            }
            (Some(_), Some((b, false)), _) => {
                errs.push(FieldError::new(
                    "build",
                    format!("{b} is not published yet; pick a published build"),
                ));
                None
            }
            (Some(_), Some((b, true)), _) => Some(*b),
        };
        if let (Some(b), Some((_, Some(cur)))) = (build, &ctx.pair) {
            if b <= *cur {
                errs.push(FieldError::new(
                    "build",
                    format!("PROD already runs {cur}; pick a newer build than that"),
                ));
            }
        }
        let downtime = match self.downtime_minutes {
            Some(m) if (1..=24 * 60).contains(&m) => m,
            Some(m) => {
                errs.push(FieldError::new(
                    "downtime_minutes",
                    format!("{m} minutes: give the downtime you accept, 1 to 1440 minutes"),
                ));
                0
            }
            None => {
                errs.push(FieldError::new(
                    "downtime_minutes",
                    "is required: how many minutes of downtime can you accept?",
                ));
                0
            }
        };
        let mut slots = Vec::new();
        match parse_slots(&self.slots, self.preferred) {
            Ok(s) => slots = s,
            Err(list) => {
                for (f, m) in list {
                    errs.push(FieldError::new(f, m));
                }
                // Still check the slots that were read, so every problem shows at once.
                for t in &self.slots {
                    if let Ok(s) = parse_slot(t) {
                        if s.start <= ctx.now {
                            errs.push(FieldError::new(
                                slot_field(&self.slots, t),
                                format!("`{}` is in the past; give a future slot", s.input),
                            ));
                        }
                    }
                }
            }
        }
        for s in slots.iter_mut() {
            if s.start <= ctx.now {
                errs.push(FieldError::new(
                    slot_field(&self.slots, &s.input),
                    format!("`{}` is in the past; give a future slot", s.input),
                ));
                continue;
            }
            let n = Notice::of(ctx.now, s.start, ctx.notice_days);
            if !n.ok {
                s.warnings.push(SlotWarning {
                    code: "short_notice".into(),
                    message: n.describe(),
                    instants: vec![],
                });
            }
        }
        errs.sort_by_key(|e| field_order(&e.field));
        if !errs.is_empty() {
            return Err(CoreError::Fields(errs));
        }
        let build = build.expect("checked");
        let validated = ctx.validated.as_ref();
        Ok(UpgradeRequest {
            pair_id: pair.to_string(),
            build,
            validated_build: validated.map(|v| v.0),
            validated_in: validated.map(|v| v.1.clone()),
            needs_build_override: validated.is_none_or(|v| v.0 != build),
            downtime_minutes: downtime,
            slots,
            notice_days: ctx.notice_days,
            note: self
                .note
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string),
        })
    }
}

/// `slots[k]` of the slot typed as `text` (1-based).
fn slot_field(all: &[String], text: &str) -> String {
    let i = all
        .iter()
        .position(|t| t.trim() == text.trim())
        .unwrap_or(0);
    format!("slots[{}]", i + 1)
}

/// Form order of the fields, so errors read top to bottom.
fn field_order(field: &str) -> (u8, String) {
    let rank = match field.split('[').next().unwrap_or(field) {
        "pair" => 0,
        "build" => 1,
        "downtime_minutes" => 2,
        "slots" => 3,
        "preferred" => 4,
        _ => 5,
    };
    (rank, field.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Build {
        s.parse().unwrap()
    }

    fn ctx() -> UpgradeContext {
        UpgradeContext {
            now: "2027-01-01T12:00:00Z".parse().unwrap(),
            pair: Some((true, Some(b("24.2.0.1187")))),
            validated: Some((b("24.3.0.1300"), "VAL-4".into())),
            target: None,
            notice_days: 21,
        }
    }

    fn input() -> UpgradeRequestInput {
        UpgradeRequestInput {
            pair: "p1".into(),
            build: None,
            slots: vec![
                "2027-02-01 09:00-10:00 America/Chicago".into(),
                "2027-02-02 14:00-16:00 America/Chicago".into(),
            ],
            preferred: Some(2),
            downtime_minutes: Some(30),
            note: None,
        }
    }

    #[test]
    fn defaults_to_the_validated_build() {
        let u = input().check(&ctx()).unwrap();
        assert_eq!(u.build, b("24.3.0.1300"));
        assert!(!u.needs_build_override);
        assert_eq!(u.preferred().unwrap().0, 2);
        assert!(u.slots.iter().all(|s| s.warnings.is_empty()));
    }

    #[test]
    fn another_build_needs_an_override() {
        let mut c = ctx();
        c.target = Some((b("24.3.1.1310"), true));
        let mut i = input();
        i.build = Some("24.3.1".into());
        let u = i.check(&c).unwrap();
        assert!(u.needs_build_override);
        c.target = Some((b("24.3.1.1310"), false));
        let e = i.check(&c).unwrap_err().to_string();
        assert!(e.contains("not published"), "{e}");
    }

    #[test]
    fn short_notice_is_a_warning_not_an_error() {
        let mut i = input();
        i.slots = vec!["2027-01-20 09:00-10:00 UTC".into()];
        i.preferred = None;
        let u = i.check(&ctx()).unwrap();
        assert_eq!(u.slots[0].warnings[0].code, "short_notice");
        // Exactly 21 days: enough.
        i.slots = vec!["2027-01-22 12:00-13:00 UTC".into()];
        assert!(i.check(&ctx()).unwrap().slots[0].warnings.is_empty());
    }

    #[test]
    fn every_error_at_once() {
        let i = UpgradeRequestInput {
            pair: String::new(),
            build: None,
            slots: vec![
                "2027-03-14 02:30-03:30 America/Chicago".into(),
                "2026-01-01 09:00-10:00 UTC".into(),
            ],
            preferred: None,
            downtime_minutes: Some(0),
            note: None,
        };
        let mut c = ctx();
        c.pair = None;
        c.validated = None;
        let CoreError::Fields(errs) = i.check(&c).unwrap_err() else {
            panic!()
        };
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["pair", "build", "downtime_minutes", "slots[1]", "slots[2]"]
        );
        assert!(errs[3].message.contains("does not exist"));
        assert!(errs[4].message.contains("in the past"));
    }

    #[test]
    fn build_must_be_newer_than_prod() {
        let mut c = ctx();
        c.validated = Some((b("24.2.0.1187"), "VAL-1".into()));
        let e = input().check(&c).unwrap_err().to_string();
        assert!(e.contains("already runs"), "{e}");
    }
}
