//! Scheduling a PROD upgrade: the notice rule, engineers' availability, conflicts with other
//! upgrades, blackouts and freezes, quiet-time scoring and the expected downtime.
//!
//! Pure: the caller gathers the facts (other bookings, hours, periods, the activity histogram)
//! and passes "now"; every rule is unit-tested at its edges.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use crate::environment::string_enum;

/// Days of notice a customer must give between filing an upgrade and its slot (default 21).
pub const DEFAULT_NOTICE_DAYS: u32 = 21;

/// How much notice a slot gives, counted from the request's submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notice {
    pub required_days: u32,
    /// Whole hours between submission and the slot's start.
    pub hours: i64,
    pub ok: bool,
}

impl Notice {
    pub fn of(submitted: Timestamp, start: Timestamp, required_days: u32) -> Notice {
        let secs = start.as_second() - submitted.as_second();
        Notice {
            required_days,
            hours: secs.div_euclid(3600),
            ok: secs >= i64::from(required_days) * 86_400,
        }
    }

    pub fn describe(&self) -> String {
        let days = self.hours.div_euclid(24);
        let hours = self.hours.rem_euclid(24);
        if self.ok {
            format!(
                "{days} days {hours} h of notice (at least {} required)",
                self.required_days
            )
        } else {
            format!(
                "only {days} days {hours} h of notice; at least {} days are required — pick a \
                 later slot or ask the PM for an override",
                self.required_days
            )
        }
    }
}

/// One `[start, end)` span of minutes in a local day (`end` may be 1440).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DaySpan {
    pub start_minute: u16,
    pub end_minute: u16,
}

/// An engineer's weekly working hours in their own zone, Monday first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkingHours {
    pub zone: String,
    pub days: [Vec<DaySpan>; 7],
}

impl WorkingHours {
    /// The vendor's default: Monday–Friday 08:00–18:00 in the engineer's zone.
    pub fn default_in(zone: &str) -> WorkingHours {
        let day = vec![DaySpan {
            start_minute: 8 * 60,
            end_minute: 18 * 60,
        }];
        WorkingHours {
            zone: zone.to_string(),
            days: [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day,
                vec![],
                vec![],
            ],
        }
    }

    /// Reads `Mon-Fri 08:00-18:00; Sat 09:00-12:00` (day names or ranges, spans separated by
    /// commas, groups by semicolons).
    pub fn parse(zone: &str, text: &str) -> Result<WorkingHours, String> {
        TimeZone::get(zone).map_err(|_| format!("`{zone}` is not a known IANA time zone"))?;
        let mut days: [Vec<DaySpan>; 7] = Default::default();
        for group in text.split(';').map(str::trim).filter(|g| !g.is_empty()) {
            let (which, spans) = group.split_once(char::is_whitespace).ok_or_else(|| {
                format!("`{group}`: write a day range and hours, e.g. `Mon-Fri 08:00-18:00`")
            })?;
            let idx = day_range(which)?;
            for span in spans.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (a, b) = span
                    .split_once('-')
                    .ok_or_else(|| format!("`{span}` is not a span such as 08:00-18:00"))?;
                let s = minute_of(a)?;
                let e = minute_of(b)?;
                if e <= s {
                    return Err(format!(
                        "`{span}`: the end must be after the start (use 24:00 for midnight)"
                    ));
                }
                for &d in &idx {
                    days[d].push(DaySpan {
                        start_minute: s,
                        end_minute: e,
                    });
                }
            }
        }
        Ok(WorkingHours {
            zone: zone.to_string(),
            days,
        })
    }

    /// `Mon 08:00-18:00; Tue 08:00-18:00; …` (only days with hours).
    pub fn describe(&self) -> String {
        const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let parts: Vec<String> = self
            .days
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(i, spans)| {
                let s: Vec<String> = spans
                    .iter()
                    .map(|d| format!("{}-{}", hhmm(d.start_minute), hhmm(d.end_minute)))
                    .collect();
                format!("{} {}", NAMES[i], s.join(","))
            })
            .collect();
        parts.join("; ")
    }

    /// Working intervals (as instants) on the local dates that `[from, to)` touches.
    fn intervals(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp)> {
        let Ok(tz) = TimeZone::get(&self.zone) else {
            return vec![];
        };
        let mut out = Vec::new();
        let first = from
            .to_zoned(tz.clone())
            .date()
            .yesterday()
            .unwrap_or(Date::MIN);
        let last = to.to_zoned(tz.clone()).date();
        let mut d = first;
        while d <= last {
            let wd = d.weekday().to_monday_zero_offset() as usize;
            for span in &self.days[wd] {
                let s = local(d, span.start_minute, &tz);
                let e = local(d, span.end_minute, &tz);
                if let (Some(s), Some(e)) = (s, e) {
                    out.push((s, e));
                }
            }
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
        out
    }
}

fn hhmm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn local(d: Date, minute: u16, tz: &TimeZone) -> Option<Timestamp> {
    let (d, minute) = if minute >= 1440 {
        (d.tomorrow().ok()?, minute - 1440)
    } else {
        (d, minute)
    };
    let t = Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).ok()?;
    tz.to_ambiguous_timestamp(d.to_datetime(t))
        .compatible()
        .ok()
}

fn minute_of(t: &str) -> Result<u16, String> {
    let (h, m) = t
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("`{t}` is not a time such as 08:00"))?;
    let h: u16 = h.parse().map_err(|_| format!("`{t}` is not a time"))?;
    let m: u16 = m.parse().map_err(|_| format!("`{t}` is not a time"))?;
    if h > 24 || m > 59 || (h == 24 && m > 0) {
        return Err(format!("`{t}` is not a time of day"));
    }
    Ok(h * 60 + m)
}

fn day_range(text: &str) -> Result<Vec<usize>, String> {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let idx = |s: &str| {
        let l = s.trim().to_ascii_lowercase();
        NAMES
            .iter()
            .position(|n| l.starts_with(n))
            .ok_or_else(|| format!("`{s}` is not a weekday (Mon…Sun)"))
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (idx(a)?, idx(b)?);
            if b < a {
                return Err(format!("`{text}`: write ranges Monday-first, e.g. Mon-Fri"));
            }
            Ok((a..=b).collect())
        }
        None => Ok(vec![idx(text)?]),
    }
}

/// An exception to an engineer's hours: leave removes availability, on-call adds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExceptionKind {
    Leave,
    OnCall,
}
string_enum!(ExceptionKind, "availability exception", { Leave => "leave", OnCall => "on_call" });

/// A period with a reason: an engineer's exception, a customer's blackout, a vendor freeze,
/// another upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Period {
    pub start: Timestamp,
    pub end: Timestamp,
    /// What it is: `leave`, `on_call`, the blackout's reason, the other upgrade's key.
    pub label: String,
}

impl Period {
    pub fn overlaps(&self, start: Timestamp, end: Timestamp) -> bool {
        self.start < end && start < self.end
    }
}

/// What the scheduler knows about one engineer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Engineer {
    pub username: String,
    pub hours: WorkingHours,
    pub leave: Vec<Period>,
    pub on_call: Vec<Period>,
    /// Upgrades this engineer is already assigned to (label = request key).
    pub bookings: Vec<Period>,
}

impl Engineer {
    /// Whether `[start, end)` lies inside working hours or on-call time and outside leave.
    pub fn works(&self, start: Timestamp, end: Timestamp) -> bool {
        if self.leave.iter().any(|p| p.overlaps(start, end)) {
            return false;
        }
        let mut spans = self.hours.intervals(start, end);
        spans.extend(self.on_call.iter().map(|p| (p.start, p.end)));
        covered(start, end, spans)
    }
}

/// Whether the union of `spans` covers `[start, end)`.
fn covered(start: Timestamp, end: Timestamp, mut spans: Vec<(Timestamp, Timestamp)>) -> bool {
    spans.sort();
    let mut reach = start;
    for (s, e) in spans {
        if s > reach {
            if s >= end {
                break;
            }
            continue;
        }
        if e > reach {
            reach = e;
        }
        if reach >= end {
            return true;
        }
    }
    reach >= end
}

/// Why a slot cannot simply be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictKind {
    /// The slot has begun or is over.
    Past,
    ShortNotice,
    /// The engineer does not work then (hours, leave).
    EngineerUnavailable,
    EngineerDoubleBooked,
    /// The customer's own blackout period (e.g. a study start).
    Blackout,
    /// A vendor-wide change freeze.
    Freeze,
    /// Another upgrade on the same database server overlaps.
    SameServer,
    /// The target build is not the one validated in the customer's VAL.
    UnvalidatedBuild,
}
string_enum!(ConflictKind, "conflict", {
    Past => "past",
    ShortNotice => "short_notice",
    EngineerUnavailable => "engineer_unavailable",
    EngineerDoubleBooked => "engineer_double_booked",
    Blackout => "blackout",
    Freeze => "freeze",
    SameServer => "same_server",
    UnvalidatedBuild => "unvalidated_build",
});

impl ConflictKind {
    /// A slot in the past cannot be overridden; every other conflict can, with a reason.
    pub fn overridable(&self) -> bool {
        !matches!(self, ConflictKind::Past)
    }
}

/// One conflict of a slot, in words a PM can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conflict {
    pub kind: ConflictKind,
    pub message: String,
    /// Whether it blocks booking: true unless overridden (with a reason).
    pub blocking: bool,
}

/// Everything a slot is checked against.
#[derive(Debug, Clone, Default)]
pub struct ScheduleFacts {
    pub now: Option<Timestamp>,
    pub submitted: Option<Timestamp>,
    pub notice_days: u32,
    pub engineer: Option<Engineer>,
    pub blackouts: Vec<Period>,
    pub freezes: Vec<Period>,
    /// Other scheduled upgrades on the same database server (label = request key).
    pub same_server: Vec<Period>,
    /// Set when the target build is not the customer's validated one (the message).
    pub unvalidated_build: Option<String>,
}

/// Every conflict of `[start, end)`; those whose kind is in `overridden` do not block.
pub fn conflicts(
    start: Timestamp,
    end: Timestamp,
    facts: &ScheduleFacts,
    overridden: &[ConflictKind],
) -> Vec<Conflict> {
    let mut out = Vec::new();
    let mut push = |kind: ConflictKind, message: String| {
        let blocking = !(kind.overridable() && overridden.contains(&kind));
        out.push(Conflict {
            kind,
            message,
            blocking,
        });
    };
    if let Some(now) = facts.now {
        if start <= now {
            push(
                ConflictKind::Past,
                format!("the slot began at {start}, which is not in the future"),
            );
        }
    }
    if let Some(sub) = facts.submitted {
        let n = Notice::of(sub, start, facts.notice_days);
        if !n.ok {
            push(ConflictKind::ShortNotice, n.describe());
        }
    }
    if let Some(e) = &facts.engineer {
        if !e.works(start, end) {
            let why = match e.leave.iter().find(|p| p.overlaps(start, end)) {
                Some(p) => format!("is on {} from {} to {}", p.label, p.start, p.end),
                None => format!(
                    "does not work then (hours in {}: {})",
                    e.hours.zone,
                    e.hours.describe()
                ),
            };
            push(
                ConflictKind::EngineerUnavailable,
                format!("{} {why}", e.username),
            );
        }
        for b in e.bookings.iter().filter(|b| b.overlaps(start, end)) {
            push(
                ConflictKind::EngineerDoubleBooked,
                format!(
                    "{} is already booked for {} ({} – {})",
                    e.username, b.label, b.start, b.end
                ),
            );
        }
    }
    for b in facts.blackouts.iter().filter(|b| b.overlaps(start, end)) {
        push(
            ConflictKind::Blackout,
            format!(
                "the customer's blackout \"{}\" ({} – {})",
                b.label, b.start, b.end
            ),
        );
    }
    for f in facts.freezes.iter().filter(|f| f.overlaps(start, end)) {
        push(
            ConflictKind::Freeze,
            format!(
                "the vendor freeze \"{}\" ({} – {})",
                f.label, f.start, f.end
            ),
        );
    }
    for o in facts.same_server.iter().filter(|o| o.overlaps(start, end)) {
        push(
            ConflictKind::SameServer,
            format!(
                "{} upgrades another database on the same server ({} – {})",
                o.label, o.start, o.end
            ),
        );
    }
    if let Some(m) = &facts.unvalidated_build {
        push(ConflictKind::UnvalidatedBuild, m.clone());
    }
    out
}

/// Data-collection activity folded into an hour-of-week histogram in one zone: the average
/// number of events in each local hour, Monday first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Histogram {
    pub zone: String,
    pub weeks: u32,
    pub cells: [[f64; 24]; 7],
}

impl Histogram {
    /// Folds per-UTC-hour counts (as the database aggregated them) into local hours of week.
    /// Done here rather than in SQL so that every engine (SQLite has no zones; MariaDB's zone
    /// tables are often not loaded) gets the same, DST-correct answer.
    pub fn fold(zone: &str, weeks: u32, hourly: &[(Timestamp, u64)]) -> Result<Histogram, String> {
        let tz = TimeZone::get(zone).map_err(|_| format!("`{zone}` is not a known IANA zone"))?;
        let mut cells = [[0f64; 24]; 7];
        for (t, n) in hourly {
            let z = t.to_zoned(tz.clone());
            let wd = z.weekday().to_monday_zero_offset() as usize;
            cells[wd][z.hour() as usize] += *n as f64;
        }
        let w = f64::from(weeks.max(1));
        for row in &mut cells {
            for c in row.iter_mut() {
                *c /= w;
            }
        }
        Ok(Histogram {
            zone: zone.to_string(),
            weeks,
            cells,
        })
    }

    pub fn max(&self) -> f64 {
        self.cells
            .iter()
            .flat_map(|r| r.iter())
            .copied()
            .fold(0.0, f64::max)
    }

    pub fn total(&self) -> f64 {
        self.cells.iter().flat_map(|r| r.iter()).sum()
    }

    /// Expected events during `[start, end)`: each local hour it touches weighted by the
    /// fraction of that hour inside the window.
    pub fn score(&self, start: Timestamp, end: Timestamp) -> f64 {
        let Ok(tz) = TimeZone::get(&self.zone) else {
            return 0.0;
        };
        let mut total = 0.0;
        let mut t = start;
        while t < end {
            let z = t.to_zoned(tz.clone());
            let into_hour = i64::from(z.minute()) * 60 + i64::from(z.second());
            let next = t
                .checked_add((3600 - into_hour).seconds())
                .unwrap_or(end)
                .min(end);
            let frac = (next.as_second() - t.as_second()) as f64 / 3600.0;
            let wd = z.weekday().to_monday_zero_offset() as usize;
            total += self.cells[wd][z.hour() as usize] * frac;
            t = next;
        }
        total
    }

    /// Where `[start, end)` falls in this histogram's zone: (weekday Monday = 0, start minute,
    /// minutes), for drawing it on the heatmap.
    pub fn place(&self, start: Timestamp, end: Timestamp) -> (usize, u32, u32) {
        let tz = TimeZone::get(&self.zone).unwrap_or(TimeZone::UTC);
        let z = start.to_zoned(tz);
        (
            z.weekday().to_monday_zero_offset() as usize,
            u32::from(z.hour() as u8) * 60 + u32::from(z.minute() as u8),
            ((end.as_second() - start.as_second()) / 60).max(0) as u32,
        )
    }
}

/// Windows of `minutes` starting on the hour between `from` and `to` (in the histogram's
/// zone, for alternatives to the proposed slots), quietest first, ties earliest first.
pub fn quiet_windows(
    hist: &Histogram,
    from: Timestamp,
    to: Timestamp,
    minutes: i64,
) -> Vec<(Timestamp, Timestamp, f64)> {
    let mut out = Vec::new();
    let step = 3600;
    let first = from.as_second().div_euclid(step) * step
        + if from.as_second() % step == 0 {
            0
        } else {
            step
        };
    let mut s = first;
    while s + minutes * 60 <= to.as_second() {
        if let (Ok(a), Ok(b)) = (
            Timestamp::from_second(s),
            Timestamp::from_second(s + minutes * 60),
        ) {
            out.push((a, b, hist.score(a, b)));
        }
        s += step;
    }
    out.sort_by(|x, y| x.2.total_cmp(&y.2).then(x.0.cmp(&y.0)));
    out
}

/// What the VAL dry run measured for one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DryRunEnv {
    /// `MAIN` or `TEST`.
    pub role: String,
    /// Migrations to the target build, as timed in the VAL run.
    pub migrate_ms: u64,
    /// Start of the instance until healthy, as timed in the VAL run.
    pub start_ms: u64,
    /// Rows copied into VAL (the data the migrations ran over).
    pub rows_at_clone: u64,
    /// Rows in PROD now (same tables), for scaling.
    pub rows_now: u64,
}

/// The runbook's fixed steps per environment (maintenance on/off, backup set-up, deploy,
/// smoke checks), seconds.
pub const DEFAULT_FIXED_SECONDS: u64 = 45;

/// Expected downtime of one PROD upgrade, per environment and overall, with its basis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DowntimeEstimate {
    /// The longest environment's range, minutes (rounded up).
    pub low_minutes: u64,
    pub high_minutes: u64,
    pub per_env: Vec<EnvDowntime>,
    /// What the customer accepts, minutes.
    pub accepted_minutes: Option<u64>,
    /// `within`, `may_exceed` or `exceeds` the accepted downtime; `unknown` without a dry run.
    pub verdict: String,
    pub basis: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnvDowntime {
    pub role: String,
    pub growth: f64,
    pub low_seconds: u64,
    pub high_seconds: u64,
}

/// Downtime from the dry run: migrations scaled by the data growth since the clone, plus the
/// start and the fixed steps; the high end adds half again for variance (a busier server,
/// the backup). Environments are upgraded one after the other, so each has its own downtime.
pub fn estimate_downtime(
    dry: &[DryRunEnv],
    fixed_seconds: u64,
    accepted_minutes: Option<u64>,
) -> DowntimeEstimate {
    let per_env: Vec<EnvDowntime> = dry
        .iter()
        .map(|d| {
            let growth = if d.rows_at_clone == 0 {
                1.0
            } else {
                (d.rows_now as f64 / d.rows_at_clone as f64).max(1.0)
            };
            let low =
                (d.migrate_ms as f64 * growth + d.start_ms as f64) / 1000.0 + fixed_seconds as f64;
            EnvDowntime {
                role: d.role.clone(),
                growth: (growth * 1000.0).round() / 1000.0,
                low_seconds: low.ceil() as u64,
                high_seconds: (low * 1.5).ceil() as u64,
            }
        })
        .collect();
    let basis = if per_env.is_empty() {
        "no VAL dry run of this build for this pair: run a VAL cycle first to measure it".into()
    } else {
        format!(
            "VAL dry run's migrations scaled by data growth, plus start-up and {fixed_seconds} s \
             of fixed runbook steps per environment; high = 1.5 × low"
        )
    };
    judged(per_env, accepted_minutes, basis)
}

/// Downtime when no VAL dry run of the build exists (a hotfix never has one): each
/// environment's downtime as measured by the pair's last PROD upgrade (`measured`: role and
/// milliseconds from maintenance on to off), `source` naming that upgrade; high = 1.5 × low.
pub fn estimate_from_last_upgrade(
    measured: &[(String, u64)],
    source: &str,
    accepted_minutes: Option<u64>,
) -> DowntimeEstimate {
    let per_env = measured
        .iter()
        .map(|(role, ms)| {
            let low = (*ms as f64 / 1000.0).max(1.0);
            EnvDowntime {
                role: role.clone(),
                growth: 1.0,
                low_seconds: low.ceil() as u64,
                high_seconds: (low * 1.5).ceil() as u64,
            }
        })
        .collect();
    let basis = format!(
        "no VAL dry run of this build: the downtime the pair's last PROD upgrade ({source}) \
         measured per environment; high = 1.5 × low"
    );
    judged(per_env, accepted_minutes, basis)
}

/// The estimate's range in minutes and its verdict against what the customer accepts.
fn judged(
    per_env: Vec<EnvDowntime>,
    accepted_minutes: Option<u64>,
    basis: String,
) -> DowntimeEstimate {
    let low = per_env.iter().map(|e| e.low_seconds).max().unwrap_or(0);
    let high = per_env.iter().map(|e| e.high_seconds).max().unwrap_or(0);
    let low_minutes = low.div_ceil(60);
    let high_minutes = high.div_ceil(60);
    let verdict = match (per_env.is_empty(), accepted_minutes) {
        (true, _) => "unknown",
        (false, None) => "within",
        (false, Some(a)) if high_minutes <= a => "within",
        (false, Some(a)) if low_minutes <= a => "may_exceed",
        _ => "exceeds",
    };
    DowntimeEstimate {
        low_minutes,
        high_minutes,
        per_env,
        accepted_minutes,
        verdict: verdict.into(),
        basis,
    }
}

/// The instants of an upgrade's reminders: T-21d, T-7d, T-1d, T-1h, start and end.
pub fn reminders(start: Timestamp, end: Timestamp) -> Vec<(&'static str, Timestamp)> {
    let mut out = Vec::new();
    for (label, hours) in [
        ("T-21d", 21 * 24),
        ("T-7d", 7 * 24),
        ("T-1d", 24),
        ("T-1h", 1),
    ] {
        if let Ok(t) = start.checked_sub((hours as i64).hours()) {
            out.push((label, t));
        }
    }
    out.push(("start", start));
    out.push(("end", end));
    out
}

/// Weekday names Monday first, as the heatmap and CSV show them.
pub const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The weekday of a jiff weekday, Monday = 0.
pub fn weekday_index(w: Weekday) -> usize {
    w.to_monday_zero_offset() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn period(a: &str, b: &str, label: &str) -> Period {
        Period {
            start: ts(a),
            end: ts(b),
            label: label.into(),
        }
    }

    #[test]
    fn notice_at_its_edge() {
        let sub = ts("2027-01-01T12:00:00Z");
        assert!(Notice::of(sub, ts("2027-01-22T12:00:00Z"), 21).ok);
        let short = Notice::of(sub, ts("2027-01-22T11:59:59Z"), 21);
        assert!(!short.ok);
        assert!(
            short.describe().contains("only 20 days 23 h"),
            "{}",
            short.describe()
        );
        assert!(Notice::of(sub, ts("2027-01-08T12:00:00Z"), 7).ok);
        assert!(Notice::of(sub, ts("2027-01-01T12:00:00Z"), 0).ok);
    }

    #[test]
    fn default_hours_in_the_engineers_zone() {
        let e = Engineer {
            username: "eng".into(),
            hours: WorkingHours::default_in("Europe/Berlin"),
            leave: vec![],
            on_call: vec![],
            bookings: vec![],
        };
        // Monday 2027-01-11 08:00–18:00 Berlin = 07:00–17:00Z.
        assert!(e.works(ts("2027-01-11T07:00:00Z"), ts("2027-01-11T17:00:00Z")));
        assert!(!e.works(ts("2027-01-11T06:59:00Z"), ts("2027-01-11T08:00:00Z")));
        assert!(!e.works(ts("2027-01-11T16:30:00Z"), ts("2027-01-11T17:01:00Z")));
        // Saturday.
        assert!(!e.works(ts("2027-01-16T09:00:00Z"), ts("2027-01-16T10:00:00Z")));
        // In summer Berlin is UTC+2: 08:00 local = 06:00Z.
        assert!(e.works(ts("2027-07-05T06:00:00Z"), ts("2027-07-05T07:00:00Z")));
    }

    #[test]
    fn leave_and_on_call() {
        let mut e = Engineer {
            username: "eng".into(),
            hours: WorkingHours::default_in("UTC"),
            leave: vec![period(
                "2027-01-11T00:00:00Z",
                "2027-01-12T00:00:00Z",
                "leave",
            )],
            on_call: vec![period(
                "2027-01-16T00:00:00Z",
                "2027-01-17T00:00:00Z",
                "on_call",
            )],
            bookings: vec![],
        };
        assert!(!e.works(ts("2027-01-11T09:00:00Z"), ts("2027-01-11T10:00:00Z")));
        assert!(e.works(ts("2027-01-12T09:00:00Z"), ts("2027-01-12T10:00:00Z")));
        // Saturday on call: available; Sunday not.
        assert!(e.works(ts("2027-01-16T22:00:00Z"), ts("2027-01-16T23:00:00Z")));
        assert!(!e.works(ts("2027-01-17T09:00:00Z"), ts("2027-01-17T10:00:00Z")));
        // A window running from working hours into on-call time is covered by both.
        e.on_call.push(period(
            "2027-01-12T18:00:00Z",
            "2027-01-12T20:00:00Z",
            "on_call",
        ));
        assert!(e.works(ts("2027-01-12T17:00:00Z"), ts("2027-01-12T19:00:00Z")));
        assert!(!e.works(ts("2027-01-12T17:00:00Z"), ts("2027-01-12T20:30:00Z")));
    }

    #[test]
    fn working_hours_parse_and_describe() {
        let h = WorkingHours::parse(
            "America/Chicago",
            "Mon-Thu 07:00-15:00; Fri 07:00-12:00, 13:00-15:00",
        )
        .unwrap();
        assert_eq!(h.days[4].len(), 2);
        assert!(h.days[5].is_empty());
        assert_eq!(
            h.describe(),
            "Mon 07:00-15:00; Tue 07:00-15:00; Wed 07:00-15:00; Thu 07:00-15:00; Fri 07:00-12:00,13:00-15:00"
        );
        assert!(WorkingHours::parse("UTC", "Fri-Mon 08:00-10:00").is_err());
        assert!(WorkingHours::parse("UTC", "Mon 10:00-09:00").is_err());
        assert!(WorkingHours::parse("Nowhere/City", "Mon 10:00-11:00").is_err());
    }

    #[test]
    fn conflicts_listed_and_overridden() {
        let facts = ScheduleFacts {
            now: Some(ts("2027-01-01T00:00:00Z")),
            submitted: Some(ts("2027-01-01T00:00:00Z")),
            notice_days: 21,
            engineer: Some(Engineer {
                username: "eng".into(),
                hours: WorkingHours::default_in("UTC"),
                leave: vec![],
                on_call: vec![],
                bookings: vec![period(
                    "2027-01-11T09:30:00Z",
                    "2027-01-11T11:00:00Z",
                    "UPG-1",
                )],
            }),
            blackouts: vec![period(
                "2027-01-11T00:00:00Z",
                "2027-01-12T00:00:00Z",
                "study start",
            )],
            freezes: vec![period(
                "2027-01-10T00:00:00Z",
                "2027-01-11T09:00:00Z",
                "year-end",
            )],
            same_server: vec![period(
                "2027-01-11T09:59:00Z",
                "2027-01-11T12:00:00Z",
                "UPG-2",
            )],
            unvalidated_build: None,
        };
        let c = conflicts(
            ts("2027-01-11T09:00:00Z"),
            ts("2027-01-11T10:00:00Z"),
            &facts,
            &[],
        );
        let kinds: Vec<ConflictKind> = c.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            vec![
                ConflictKind::ShortNotice,
                ConflictKind::EngineerDoubleBooked,
                ConflictKind::Blackout,
                ConflictKind::SameServer
            ]
        );
        // The freeze ended exactly when the slot starts: no conflict (half-open periods).
        assert!(c.iter().all(|c| c.blocking));
        let c = conflicts(
            ts("2027-01-11T09:00:00Z"),
            ts("2027-01-11T10:00:00Z"),
            &facts,
            &[ConflictKind::Blackout, ConflictKind::ShortNotice],
        );
        assert!(
            !c.iter()
                .find(|c| c.kind == ConflictKind::Blackout)
                .unwrap()
                .blocking
        );
        assert!(
            c.iter()
                .find(|c| c.kind == ConflictKind::SameServer)
                .unwrap()
                .blocking
        );
        // A slot in the past blocks even when "overridden".
        let c = conflicts(
            ts("2026-12-31T09:00:00Z"),
            ts("2026-12-31T10:00:00Z"),
            &facts,
            &[ConflictKind::Past],
        );
        assert!(
            c.iter()
                .find(|c| c.kind == ConflictKind::Past)
                .unwrap()
                .blocking
        );
    }

    #[test]
    fn histogram_folds_into_local_hours_across_dst() {
        // 10 events at 08:00Z on a winter Monday (09:00 Berlin) and on a summer Monday
        // (10:00 Berlin).
        let h = Histogram::fold(
            "Europe/Berlin",
            2,
            &[
                (ts("2027-01-11T08:00:00Z"), 10),
                (ts("2027-07-05T08:00:00Z"), 10),
            ],
        )
        .unwrap();
        assert_eq!(h.cells[0][9], 5.0);
        assert_eq!(h.cells[0][10], 5.0);
        assert_eq!(h.total(), 10.0);
        assert_eq!(h.max(), 5.0);
    }

    #[test]
    fn score_weights_partial_hours() {
        let mut cells = [[0.0; 24]; 7];
        cells[0][9] = 10.0;
        cells[0][10] = 20.0;
        let h = Histogram {
            zone: "UTC".into(),
            weeks: 1,
            cells,
        };
        // Monday 2027-01-11 09:30–10:30: half of 10 plus half of 20.
        assert_eq!(
            h.score(ts("2027-01-11T09:30:00Z"), ts("2027-01-11T10:30:00Z")),
            15.0
        );
        assert_eq!(
            h.score(ts("2027-01-11T11:00:00Z"), ts("2027-01-11T12:00:00Z")),
            0.0
        );
        let w = quiet_windows(
            &h,
            ts("2027-01-11T08:10:00Z"),
            ts("2027-01-11T12:00:00Z"),
            60,
        );
        // Windows start on the hour: 09, 10, 11; the quietest (11:00, score 0) first.
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].0, ts("2027-01-11T11:00:00Z"));
        assert_eq!(w[2].2, 20.0);
        assert_eq!(
            h.place(ts("2027-01-11T09:30:00Z"), ts("2027-01-11T10:30:00Z")),
            (0, 570, 60)
        );
    }

    #[test]
    fn downtime_scaled_by_growth_and_compared() {
        let dry = vec![
            DryRunEnv {
                role: "MAIN".into(),
                migrate_ms: 60_000,
                start_ms: 3_000,
                rows_at_clone: 1_000,
                rows_now: 1_500,
            },
            DryRunEnv {
                role: "TEST".into(),
                migrate_ms: 1_000,
                start_ms: 3_000,
                rows_at_clone: 0,
                rows_now: 10,
            },
        ];
        let e = estimate_downtime(&dry, 45, Some(5));
        // MAIN: 60 s × 1.5 + 3 s + 45 s = 138 s → 3 min; high 207 s → 4 min.
        assert_eq!(e.per_env[0].low_seconds, 138);
        assert_eq!(e.per_env[0].high_seconds, 207);
        assert_eq!((e.low_minutes, e.high_minutes), (3, 4));
        assert_eq!(e.verdict, "within");
        assert_eq!(estimate_downtime(&dry, 45, Some(3)).verdict, "may_exceed");
        assert_eq!(estimate_downtime(&dry, 45, Some(2)).verdict, "exceeds");
        assert_eq!(estimate_downtime(&[], 45, Some(2)).verdict, "unknown");
    }

    #[test]
    fn downtime_from_the_last_upgrade_when_no_dry_run_exists() {
        let measured = [("TEST".to_string(), 4_200), ("MAIN".to_string(), 95_000)];
        let e = estimate_from_last_upgrade(&measured, "UPG-1 to 24.3", Some(2));
        // MAIN: 95 s → 2 min; high 143 s → 3 min: may exceed the 2 minutes accepted.
        assert_eq!(e.per_env[1].low_seconds, 95);
        assert_eq!(e.per_env[1].high_seconds, 143);
        assert_eq!((e.low_minutes, e.high_minutes), (2, 3));
        assert_eq!(e.verdict, "may_exceed");
        assert!(e.basis.contains("UPG-1 to 24.3"), "{}", e.basis);
        assert_eq!(
            estimate_from_last_upgrade(&measured, "UPG-1", Some(3)).verdict,
            "within"
        );
        // A sub-second measurement counts as a second, never as no downtime.
        let quick = estimate_from_last_upgrade(&[("MAIN".into(), 300)], "UPG-1", Some(1));
        assert_eq!((quick.per_env[0].low_seconds, quick.low_minutes), (1, 1));
    }

    #[test]
    fn six_reminders() {
        let r = reminders(ts("2027-02-01T09:00:00Z"), ts("2027-02-01T10:00:00Z"));
        let labels: Vec<&str> = r.iter().map(|(l, _)| *l).collect();
        assert_eq!(labels, ["T-21d", "T-7d", "T-1d", "T-1h", "start", "end"]);
        assert_eq!(r[0].1, ts("2027-01-11T09:00:00Z"));
        assert_eq!(r[3].1, ts("2027-02-01T08:00:00Z"));
    }
}
