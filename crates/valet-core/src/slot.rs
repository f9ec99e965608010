//! Time slots as people write them: `2027-01-11 09:00-10:00 America/Chicago`, `2027-01-11
//! 2pm-4pm CST`, `2027-01-11T09:00/2027-01-11T10:00 Europe/Berlin`.
//!
//! A slot is stored as two UTC instants plus the IANA zone it was written in. Reading it is
//! strict where a guess would move an upgrade by an hour:
//! - an IANA zone is taken as written; `UTC`, `GMT` and `Z` are UTC;
//! - a zone abbreviation (`CST`, `CET`, …) is resolved to one IANA zone only with a warning that
//!   names the zone and the UTC offset applied on that day; an abbreviation with several common
//!   meanings (`IST`, `BST`, …) is refused, listing them;
//! - a local time that does not exist (the hour skipped when clocks go forward) is refused;
//! - a local time that happens twice (the hour repeated when clocks go back) is accepted with a
//!   warning giving both instants; the earlier is used unless the input carries an offset.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

/// A slot once read: `[start, end)` as instants, the zone it was written in, and what the
/// reader had to assume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Slot {
    pub start: Timestamp,
    pub end: Timestamp,
    /// IANA zone name the slot was written in (after resolving an abbreviation).
    pub zone: String,
    #[serde(default)]
    pub preferred: bool,
    /// The text as the customer typed it.
    pub input: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<SlotWarning>,
}

/// Something the reader assumed that a person should confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlotWarning {
    /// `abbreviation`, `dst_overlap` or `next_day`.
    pub code: String,
    pub message: String,
    /// For `dst_overlap`: both instants the repeated local time denotes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instants: Vec<Timestamp>,
}

impl Slot {
    pub fn minutes(&self) -> i64 {
        (self.end.as_second() - self.start.as_second()) / 60
    }

    pub fn tz(&self) -> TimeZone {
        TimeZone::get(&self.zone).unwrap_or(TimeZone::UTC)
    }

    /// `Mon 2027-01-11 09:00–10:00 America/Chicago (UTC−06:00)` in the slot's own zone.
    pub fn display(&self) -> String {
        display_range(self.start, self.end, &self.tz(), &self.zone)
    }

    /// The same slot in a viewer's zone, e.g. `Mon 2027-01-11 16:00–17:00 Europe/Berlin`.
    pub fn display_in(&self, zone: &str) -> String {
        match TimeZone::get(zone) {
            Ok(tz) => display_range(self.start, self.end, &tz, zone),
            Err(_) => self.display(),
        }
    }
}

/// `Mon 2027-01-11 09:00–10:00 America/Chicago (UTC−06:00)`; an end on another day shows
/// its date.
pub fn display_range(start: Timestamp, end: Timestamp, tz: &TimeZone, zone: &str) -> String {
    let s = start.to_zoned(tz.clone());
    let e = end.to_zoned(tz.clone());
    let end_text = if s.date() == e.date() {
        e.strftime("%H:%M").to_string()
    } else {
        e.strftime("%a %Y-%m-%d %H:%M").to_string()
    };
    let offset = offset_text(s.offset());
    if offset == "UTC" && (zone == "UTC" || zone == "Etc/UTC" || zone == "GMT") {
        return format!("{}–{} {zone}", s.strftime("%a %Y-%m-%d %H:%M"), end_text);
    }
    format!(
        "{}–{} {} ({})",
        s.strftime("%a %Y-%m-%d %H:%M"),
        end_text,
        zone,
        offset
    )
}

/// `UTC+01:00`, `UTC−06:00`, `UTC+05:30`, `UTC`.
pub fn offset_text(o: Offset) -> String {
    let secs = o.seconds();
    if secs == 0 {
        return "UTC".into();
    }
    let sign = if secs < 0 { '−' } else { '+' };
    let a = secs.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// Abbreviations read as one zone (with a warning), and those refused as ambiguous.
const ABBREVIATIONS: &[(&str, &str, &str)] = &[
    ("CST", "America/Chicago", "US Central Time"),
    ("CDT", "America/Chicago", "US Central Time"),
    ("CT", "America/Chicago", "US Central Time"),
    ("EST", "America/New_York", "US Eastern Time"),
    ("EDT", "America/New_York", "US Eastern Time"),
    ("ET", "America/New_York", "US Eastern Time"),
    ("MST", "America/Denver", "US Mountain Time"),
    ("MDT", "America/Denver", "US Mountain Time"),
    ("MT", "America/Denver", "US Mountain Time"),
    ("PST", "America/Los_Angeles", "US Pacific Time"),
    ("PDT", "America/Los_Angeles", "US Pacific Time"),
    ("PT", "America/Los_Angeles", "US Pacific Time"),
    ("AKST", "America/Anchorage", "Alaska Time"),
    ("HST", "Pacific/Honolulu", "Hawaii Time"),
    ("CET", "Europe/Berlin", "Central European Time"),
    ("CEST", "Europe/Berlin", "Central European Time"),
    ("MEZ", "Europe/Berlin", "Central European Time"),
    ("WET", "Europe/Lisbon", "Western European Time"),
    ("WEST", "Europe/Lisbon", "Western European Time"),
    ("EET", "Europe/Helsinki", "Eastern European Time"),
    ("EEST", "Europe/Helsinki", "Eastern European Time"),
    ("JST", "Asia/Tokyo", "Japan Standard Time"),
    ("AEST", "Australia/Sydney", "Australian Eastern Time"),
    ("AEDT", "Australia/Sydney", "Australian Eastern Time"),
    ("NZST", "Pacific/Auckland", "New Zealand Time"),
    ("NZDT", "Pacific/Auckland", "New Zealand Time"),
];

const AMBIGUOUS: &[(&str, &str)] = &[
    (
        "IST",
        "India (Asia/Kolkata), Ireland (Europe/Dublin) or Israel (Asia/Jerusalem)",
    ),
    (
        "BST",
        "British Summer Time (Europe/London) or Bangladesh (Asia/Dhaka)",
    ),
    ("AST", "Atlantic (America/Halifax) or Arabia (Asia/Riyadh)"),
    (
        "SST",
        "Samoa (Pacific/Pago_Pago) or Singapore (Asia/Singapore)",
    ),
    ("CAT", "Central Africa (Africa/Maputo) or others"),
    ("ECT", "Ecuador (America/Guayaquil) or Eastern Caribbean"),
    (
        "GST",
        "Gulf (Asia/Dubai) or South Georgia (Atlantic/South_Georgia)",
    ),
    ("MSK", "Moscow (Europe/Moscow); give the IANA zone"),
];

/// The zone a slot names: its IANA name and a warning when it was an abbreviation.
fn resolve_zone(text: &str, on: Date) -> Result<(String, TimeZone, Option<SlotWarning>), String> {
    let t = text.trim().trim_start_matches('[').trim_end_matches(']');
    if t.is_empty() {
        return Err(
            "no time zone: end the slot with an IANA zone such as America/Chicago or \
                    Europe/Berlin"
                .into(),
        );
    }
    let upper = t.to_ascii_uppercase();
    if matches!(upper.as_str(), "UTC" | "GMT" | "Z" | "ETC/UTC") {
        return Ok(("UTC".into(), TimeZone::UTC, None));
    }
    if let Some((_, which)) = AMBIGUOUS.iter().find(|(a, _)| *a == upper) {
        return Err(format!(
            "`{t}` is ambiguous: it may mean {which}; give the IANA zone instead"
        ));
    }
    if let Some((abbr, zone, long)) = ABBREVIATIONS.iter().find(|(a, _, _)| *a == upper) {
        let tz = TimeZone::get(zone).map_err(|e| format!("zone {zone}: {e}"))?;
        let noon = on.to_datetime(Time::constant(12, 0, 0, 0));
        let offset = tz
            .to_ambiguous_zoned(noon)
            .compatible()
            .map(|z| z.offset())
            .unwrap_or(Offset::UTC);
        let warning = SlotWarning {
            code: "abbreviation".into(),
            message: format!(
                "`{abbr}` read as {long}, zone {zone}: {} on {on}; give `{zone}` to confirm, \
                 or another IANA zone",
                offset_text(offset)
            ),
            instants: vec![],
        };
        return Ok((zone.to_string(), tz, Some(warning)));
    }
    if t.starts_with('+')
        || t.starts_with('-')
        || upper.starts_with("UTC+")
        || upper.starts_with("UTC-")
    {
        return Err(format!(
            "`{t}` is a fixed offset, which does not follow daylight saving time; give the \
             IANA zone of the place (e.g. America/Chicago)"
        ));
    }
    if !t.contains('/') {
        return Err(format!(
            "`{t}` is not an IANA time zone; write it as Region/City, e.g. America/Chicago, \
             Europe/Berlin, Asia/Kolkata"
        ));
    }
    match TimeZone::get(t) {
        Ok(tz) => Ok((tz.iana_name().unwrap_or(t).to_string(), tz, None)),
        Err(_) => Err(format!(
            "`{t}` is not a known IANA time zone; check the spelling (e.g. America/Chicago, \
             Europe/Berlin)"
        )),
    }
}

/// Reads one slot. The error says what was wrong and what a valid slot looks like.
pub fn parse_slot(text: &str) -> Result<Slot, String> {
    let input = text.trim();
    if input.is_empty() {
        return Err(format!("empty slot; {EXAMPLE}"));
    }
    let parts = split_slot(input)?;
    let (zone, tz, zone_warning) = resolve_zone(&parts.zone, parts.date)?;
    let mut warnings: Vec<SlotWarning> = zone_warning.into_iter().collect();
    let start_dt = parts.date.to_datetime(parts.start);
    let mut end_date = parts.end_date.unwrap_or(parts.date);
    if parts.end_date.is_none() && parts.end <= parts.start {
        end_date = end_date.checked_add(1.day()).map_err(|e| e.to_string())?;
        warnings.push(SlotWarning {
            code: "next_day".into(),
            message: format!(
                "ends at {} on the next day ({end_date})",
                parts.end.strftime("%H:%M")
            ),
            instants: vec![],
        });
    }
    let end_dt = end_date.to_datetime(parts.end);
    let start = instant(start_dt, &tz, &zone, "start", &mut warnings)?;
    let end = instant(end_dt, &tz, &zone, "end", &mut warnings)?;
    // The abbreviation's warning names the offset of the instant actually used (on a day
    // the clocks change, noon's offset may differ from the slot's).
    if let Some(w) = warnings.iter_mut().find(|w| w.code == "abbreviation") {
        let used = offset_text(start.to_zoned(tz.clone()).offset());
        if let Some((head, _)) = w.message.split_once(": UTC") {
            let tail = w.message.split_once(" on ").map(|(_, t)| t).unwrap_or("");
            w.message = format!("{head}: {used} on {tail}");
        }
    }
    if end <= start {
        return Err(format!(
            "the slot ends ({end_dt}) before it begins ({start_dt}); {EXAMPLE}"
        ));
    }
    let minutes = (end.as_second() - start.as_second()) / 60;
    if minutes < 15 {
        return Err(format!(
            "the slot is {minutes} minutes long; give at least 15 minutes"
        ));
    }
    if minutes > 24 * 60 {
        return Err(format!(
            "the slot is {} hours long; a slot is at most 24 hours — give several slots instead",
            minutes / 60
        ));
    }
    Ok(Slot {
        start,
        end,
        zone,
        preferred: false,
        input: input.to_string(),
        warnings,
    })
}

const EXAMPLE: &str =
    "write a slot as `2027-01-11 09:00-10:00 America/Chicago` (date, start–end, IANA zone)";

/// A local date-time in a zone as one instant: a gap is refused, an overlap warned about.
fn instant(
    dt: DateTime,
    tz: &TimeZone,
    zone: &str,
    which: &str,
    warnings: &mut Vec<SlotWarning>,
) -> Result<Timestamp, String> {
    let amb = tz.to_ambiguous_timestamp(dt);
    match amb.offset() {
        AmbiguousOffset::Unambiguous { offset } => offset
            .to_timestamp(dt)
            .map_err(|e| format!("{which} {dt}: {e}")),
        AmbiguousOffset::Gap { before, after } => Err(format!(
            "the {which} {} does not exist in {zone}: clocks go forward from {} to {} that \
             night (the hour is skipped); pick a time outside the skipped hour",
            dt.strftime("%Y-%m-%d %H:%M"),
            offset_text(before),
            offset_text(after)
        )),
        AmbiguousOffset::Fold { before, after } => {
            let first = before.to_timestamp(dt).map_err(|e| e.to_string())?;
            let second = after.to_timestamp(dt).map_err(|e| e.to_string())?;
            warnings.push(SlotWarning {
                code: "dst_overlap".into(),
                message: format!(
                    "the {which} {} happens twice in {zone} (clocks go back that night): first \
                     at {first} ({}), again at {second} ({}); the first is used — to mean the \
                     second, write the slot in UTC (the {which} is {} UTC)",
                    dt.strftime("%Y-%m-%d %H:%M"),
                    offset_text(before),
                    offset_text(after),
                    second.to_zoned(TimeZone::UTC).strftime("%H:%M")
                ),
                instants: vec![first, second],
            });
            Ok(first)
        }
    }
}

struct SlotParts {
    date: Date,
    start: Time,
    end_date: Option<Date>,
    end: Time,
    zone: String,
}

/// Splits `DATE START-END ZONE`, `DATETHH:MM/HH:MM ZONE`, `DATETHH:MM/DATETHH:MM ZONE`.
fn split_slot(input: &str) -> Result<SlotParts, String> {
    // ISO 8601 interval: `2027-01-11T09:00/2027-01-11T10:00 Zone` or `…T09:00/10:00 Zone`,
    // the zone also as an RFC 9557 suffix `[America/Chicago]`.
    let normalised = input.replace(['–', '—'], "-");
    let (head, zone) = match normalised.rfind(char::is_whitespace) {
        Some(i)
            if normalised.contains('T')
                && normalised.contains('/')
                && !normalised[..i].contains(' ') =>
        {
            (
                normalised[..i].trim().to_string(),
                normalised[i..].trim().to_string(),
            )
        }
        _ => (normalised.clone(), String::new()),
    };
    if head.contains('/') && head.contains('T') && !head.contains(' ') {
        let (head, zone) = if zone.is_empty() {
            match head.find('[') {
                Some(i) => (head[..i].to_string(), head[i..].replace(['[', ']'], "")),
                None => (head.clone(), String::new()),
            }
        } else {
            (head.replace(['[', ']'], ""), zone)
        };
        let (a, b) = head.split_once('/').ok_or_else(|| EXAMPLE.to_string())?;
        let a = a.split('[').next().unwrap_or(a);
        let b = b.split('[').next().unwrap_or(b);
        let start: DateTime = a
            .parse()
            .map_err(|_| format!("`{a}` is not a date and time such as 2027-01-11T09:00"))?;
        let (end_date, end) = if b.contains('T') {
            let e: DateTime = b
                .parse()
                .map_err(|_| format!("`{b}` is not a date and time such as 2027-01-11T10:00"))?;
            (Some(e.date()), e.time())
        } else {
            (None, parse_time(b)?)
        };
        return Ok(SlotParts {
            date: start.date(),
            start: start.time(),
            end_date,
            end,
            zone,
        });
    }
    // Human form: [Weekday] DATE TIME-TIME ZONE (the range may be spaced: `9:00 - 10:00`,
    // `9am to 10am`).
    let mut words: Vec<String> = normalised
        .split_whitespace()
        .map(|w| w.trim_end_matches(',').to_string())
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() < 3 {
        return Err(format!("`{input}` is incomplete; {EXAMPLE}"));
    }
    let weekday = parse_weekday(&words[0]);
    if weekday.is_some() {
        words.remove(0);
    }
    let date: Date = words[0]
        .parse()
        .map_err(|_| format!("`{}` is not a date as YYYY-MM-DD; {EXAMPLE}", words[0]))?;
    if let Some(wd) = weekday {
        if date.weekday() != wd {
            return Err(format!(
                "{date} is a {:?}, not a {wd:?}; check the date",
                date.weekday()
            ));
        }
    }
    let rest = words[1..].join(" ");
    let rest = rest.replace(" - ", "-").replace(" to ", "-");
    let mut it = rest.split_whitespace();
    let range = it.next().ok_or_else(|| EXAMPLE.to_string())?;
    let zone = it.collect::<Vec<_>>().join(" ");
    let (a, b) = range
        .split_once('-')
        .ok_or_else(|| format!("`{range}` is not a time range such as 09:00-10:00"))?;
    let mut start_text = a.to_string();
    // `9-11am`: the end's am/pm applies to the start too.
    if !has_meridiem(a) && has_meridiem(b) && !a.contains(':') {
        start_text.push_str(&b[b.len() - 2..]);
    }
    Ok(SlotParts {
        date,
        start: parse_time(&start_text)?,
        end_date: None,
        end: parse_time(b)?,
        zone,
    })
}

fn has_meridiem(t: &str) -> bool {
    let l = t.to_ascii_lowercase();
    l.ends_with("am") || l.ends_with("pm")
}

fn parse_weekday(w: &str) -> Option<jiff::civil::Weekday> {
    use jiff::civil::Weekday::*;
    let l = w.trim_end_matches(',').to_ascii_lowercase();
    let all = [
        ("mon", Monday),
        ("tue", Tuesday),
        ("wed", Wednesday),
        ("thu", Thursday),
        ("fri", Friday),
        ("sat", Saturday),
        ("sun", Sunday),
    ];
    if l.len() < 3 || l.chars().any(|c| !c.is_ascii_alphabetic()) {
        return None;
    }
    all.iter().find(|(p, _)| l.starts_with(p)).map(|(_, d)| *d)
}

/// `09:00`, `9:00`, `9`, `9am`, `9:30pm`, `14:00`, `12am` (midnight), `12pm` (noon).
fn parse_time(t: &str) -> Result<Time, String> {
    let l = t.trim().to_ascii_lowercase();
    let bad = || format!("`{t}` is not a time such as 09:00 or 2pm");
    let (body, meridiem) = if let Some(b) = l.strip_suffix("am") {
        (b.trim(), Some(false))
    } else if let Some(b) = l.strip_suffix("pm") {
        (b.trim(), Some(true))
    } else {
        (l.as_str(), None)
    };
    let (h, m) = match body.split_once(':') {
        Some((h, m)) => (h, m),
        None => (body, "0"),
    };
    let mut hour: i8 = h.parse().map_err(|_| bad())?;
    let minute: i8 = m.parse().map_err(|_| bad())?;
    if !(0..60).contains(&minute) {
        return Err(bad());
    }
    match meridiem {
        Some(pm) => {
            if !(1..=12).contains(&hour) {
                return Err(bad());
            }
            hour = match (hour, pm) {
                (12, false) => 0,
                (12, true) => 12,
                (h, true) => h + 12,
                (h, false) => h,
            };
        }
        None => {
            if !(0..=24).contains(&hour) || (hour == 24 && minute != 0) {
                return Err(bad());
            }
            if hour == 24 {
                // `22:00-24:00`: the end of the day, read as 00:00 of the next.
                hour = 0;
            }
        }
    }
    Time::new(hour, minute, 0, 0).map_err(|_| bad())
}

/// Reads every slot of a request; `preferred` is the 1-based index of the preferred one
/// (the first when not given). Errors are per slot: `slots[2]: …`.
pub fn parse_slots(
    texts: &[String],
    preferred: Option<usize>,
) -> Result<Vec<Slot>, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let mut slots = Vec::new();
    if texts.is_empty() {
        errors.push((
            "slots".to_string(),
            format!("give at least one slot; {EXAMPLE}"),
        ));
    }
    for (i, t) in texts.iter().enumerate() {
        match parse_slot(t) {
            Ok(s) => slots.push(s),
            Err(e) => errors.push((format!("slots[{}]", i + 1), e)),
        }
    }
    let pref = preferred.unwrap_or(1);
    if !texts.is_empty() && (pref == 0 || pref > texts.len()) {
        errors.push((
            "preferred".to_string(),
            format!(
                "slot {pref} does not exist; give a number from 1 to {}",
                texts.len()
            ),
        ));
    }
    for (i, a) in slots.iter().enumerate() {
        for b in &slots[i + 1..] {
            if a.start == b.start && a.end == b.end {
                errors.push((
                    "slots".to_string(),
                    format!("`{}` and `{}` are the same slot", a.input, b.input),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if let Some(s) = slots.get_mut(pref - 1) {
        s.preferred = true;
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn human_form_in_chicago() {
        let s = parse_slot("2027-01-11 09:00-10:00 America/Chicago").unwrap();
        assert_eq!(s.start, ts("2027-01-11T15:00:00Z"));
        assert_eq!(s.end, ts("2027-01-11T16:00:00Z"));
        assert_eq!(s.zone, "America/Chicago");
        assert!(s.warnings.is_empty());
        assert_eq!(s.minutes(), 60);
    }

    #[test]
    fn chicago_slot_shown_to_a_berlin_viewer() {
        let s = parse_slot("2027-01-11 09:00-10:00 America/Chicago").unwrap();
        assert_eq!(
            s.display_in("Europe/Berlin"),
            "Mon 2027-01-11 16:00–17:00 Europe/Berlin (UTC+01:00)"
        );
        assert_eq!(
            s.display(),
            "Mon 2027-01-11 09:00–10:00 America/Chicago (UTC−06:00)"
        );
    }

    #[test]
    fn iso_interval_forms() {
        let a = parse_slot("2027-01-11T09:00/2027-01-11T10:30 Europe/Berlin").unwrap();
        assert_eq!(a.start, ts("2027-01-11T08:00:00Z"));
        assert_eq!(a.end, ts("2027-01-11T09:30:00Z"));
        let b = parse_slot("2027-01-11T09:00/10:30 Europe/Berlin").unwrap();
        assert_eq!((a.start, a.end), (b.start, b.end));
        let c = parse_slot("2027-01-11T09:00/10:30[Europe/Berlin]").unwrap();
        assert_eq!((a.start, a.end), (c.start, c.end));
    }

    #[test]
    fn am_pm_weekday_and_dashes() {
        let s = parse_slot("Monday 2027-01-11 2pm–4pm America/Chicago").unwrap();
        assert_eq!(s.start, ts("2027-01-11T20:00:00Z"));
        assert_eq!(s.end, ts("2027-01-11T22:00:00Z"));
        let t = parse_slot("2027-01-11 9-11am America/Chicago").unwrap();
        assert_eq!(t.start, ts("2027-01-11T15:00:00Z"));
        let u = parse_slot("2027-01-11 9:00 - 10:00 America/Chicago").unwrap();
        assert_eq!(u.start, ts("2027-01-11T15:00:00Z"));
        let e = parse_slot("Tuesday 2027-01-11 2pm-4pm America/Chicago").unwrap_err();
        assert!(e.contains("not a Tuesday"), "{e}");
    }

    #[test]
    fn abbreviation_resolved_with_a_warning_naming_zone_and_offset() {
        let s = parse_slot("2027-07-05 09:00-10:00 CST").unwrap();
        assert_eq!(s.zone, "America/Chicago");
        // In July Chicago is on daylight time: the offset applied is −05:00 and says so.
        assert_eq!(s.start, ts("2027-07-05T14:00:00Z"));
        assert_eq!(s.warnings[0].code, "abbreviation");
        assert!(s.warnings[0].message.contains("America/Chicago"));
        assert!(
            s.warnings[0].message.contains("UTC−05:00"),
            "{}",
            s.warnings[0].message
        );
        let c = parse_slot("2027-01-11 09:00-10:00 CET").unwrap();
        assert_eq!(c.zone, "Europe/Berlin");
        assert!(c.warnings[0].message.contains("UTC+01:00"));
    }

    #[test]
    fn abbreviation_on_a_dst_day_names_the_offset_used() {
        // 02:30 on 2027-10-31 in Berlin is first CEST (+02:00): the warning says so, not
        // noon's +01:00.
        let s = parse_slot("2027-10-31 02:30-03:30 CET").unwrap();
        let w = s
            .warnings
            .iter()
            .find(|w| w.code == "abbreviation")
            .unwrap();
        assert!(
            w.message.contains("UTC+02:00 on 2027-10-31"),
            "{}",
            w.message
        );
        let o = s.warnings.iter().find(|w| w.code == "dst_overlap").unwrap();
        assert!(
            o.message.contains("(the start is 01:30 UTC)"),
            "{}",
            o.message
        );
        assert_eq!(s.display_in("UTC"), "Sun 2027-10-31 00:30–02:30 UTC");
    }

    #[test]
    fn ambiguous_abbreviation_refused() {
        let e = parse_slot("2027-01-11 09:00-10:00 IST").unwrap_err();
        assert!(e.contains("ambiguous") && e.contains("Asia/Kolkata"), "{e}");
    }

    #[test]
    fn unknown_zone_and_offsets_refused() {
        assert!(parse_slot("2027-01-11 09:00-10:00 Mars/Olympus")
            .unwrap_err()
            .contains("not a known IANA time zone"));
        assert!(parse_slot("2027-01-11 09:00-10:00 +02:00")
            .unwrap_err()
            .contains("fixed offset"));
        assert!(
            parse_slot("2027-01-11 09:00-10:00")
                .unwrap_err()
                .contains("incomplete")
                || parse_slot("2027-01-11 09:00-10:00").is_err()
        );
        assert!(parse_slot("2027-01-11 09:00-10:00 Chicago")
            .unwrap_err()
            .contains("Region/City"));
    }

    #[test]
    fn dst_gap_in_chicago_refused() {
        let e = parse_slot("2027-03-14 02:30-03:30 America/Chicago").unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        assert!(e.contains("UTC−06:00") && e.contains("UTC−05:00"), "{e}");
    }

    #[test]
    fn dst_overlap_in_berlin_flagged_with_both_instants() {
        let s = parse_slot("2027-10-31 02:30-04:00 Europe/Berlin").unwrap();
        let w = s.warnings.iter().find(|w| w.code == "dst_overlap").unwrap();
        assert_eq!(
            w.instants,
            vec![ts("2027-10-31T00:30:00Z"), ts("2027-10-31T01:30:00Z")]
        );
        assert_eq!(s.start, ts("2027-10-31T00:30:00Z"));
        // 02:30 CEST to 04:00 CET is two and a half hours.
        assert_eq!(s.minutes(), 150);
    }

    #[test]
    fn dst_overlap_in_sydney_flagged() {
        let s = parse_slot("2027-04-04 02:30-03:30 Australia/Sydney").unwrap();
        let w = s.warnings.iter().find(|w| w.code == "dst_overlap").unwrap();
        // AEDT (+11) first, then AEST (+10).
        assert_eq!(
            w.instants,
            vec![ts("2027-04-03T15:30:00Z"), ts("2027-04-03T16:30:00Z")]
        );
    }

    #[test]
    fn range_past_midnight_ends_next_day() {
        let s = parse_slot("2027-01-11 23:00-01:00 Europe/Berlin").unwrap();
        assert_eq!(s.minutes(), 120);
        assert!(s.warnings.iter().any(|w| w.code == "next_day"));
        let t = parse_slot("2027-01-11 22:00-24:00 Europe/Berlin").unwrap();
        assert_eq!(t.minutes(), 120);
    }

    #[test]
    fn bad_times_and_lengths() {
        assert!(parse_slot("2027-01-11 25:00-26:00 UTC").is_err());
        assert!(parse_slot("2027-01-11 09:00-09:05 UTC")
            .unwrap_err()
            .contains("at least 15 minutes"));
        assert!(parse_slot("2027-02-30 09:00-10:00 UTC")
            .unwrap_err()
            .contains("not a date"));
        assert!(parse_slot("").is_err());
    }

    #[test]
    fn several_slots_one_preferred() {
        let texts = vec![
            "2027-01-11 09:00-10:00 America/Chicago".to_string(),
            "2027-01-11 14:00-16:00 America/Chicago".to_string(),
        ];
        let slots = parse_slots(&texts, Some(2)).unwrap();
        assert!(!slots[0].preferred && slots[1].preferred);
        let errs = parse_slots(&texts, Some(3)).unwrap_err();
        assert_eq!(errs[0].0, "preferred");
        let errs = parse_slots(
            &["2027-01-11 09:00-10:00 IST".to_string(), texts[0].clone()],
            None,
        )
        .unwrap_err();
        assert_eq!(errs[0].0, "slots[1]");
    }
}
