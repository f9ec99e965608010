//! iCalendar (RFC 5545) documents for scheduled upgrades: one invitation, its reschedules and
//! its cancellation, and per-user feeds.
//!
//! The serializer is written by hand rather than with the `icalendar` crate: that crate has no
//! VTIMEZONE component with STANDARD/DAYLIGHT observances (only free-form `Other` components
//! and properties), so the part that needs care would have been hand-built anyway, and the rest
//! (escaping, folding, CRLF) is a few dozen lines that are easier to check here than through
//! another crate's choices.
//!
//! Time zones come from jiff's tz database: for every zone used by an event, a VTIMEZONE lists
//! each transition (one STANDARD or DAYLIGHT observance per transition, no RRULE) from one year
//! before the earliest event to one year after the latest, plus the last transition before that
//! window so that the window's start is covered too.

use std::collections::BTreeMap;

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// The METHOD property of the VCALENDAR (RFC 5546 iTIP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A feed or a file to import: no reply expected.
    Publish,
    /// An invitation (new or rescheduled) to the attendees.
    Request,
    /// The event is off. Every event is written `STATUS:CANCELLED` whatever its own status.
    Cancel,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Publish => "PUBLISH",
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
        }
    }
}

/// The STATUS property of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    Confirmed,
    Cancelled,
}

/// One upgrade window as a calendar event.
#[derive(Debug, Clone, PartialEq)]
pub struct CalEvent {
    /// Stable across reschedules, e.g. `UPG-7@valet`.
    pub uid: String,
    /// Raised by the caller on each reschedule.
    pub sequence: u32,
    pub start: Timestamp,
    pub end: Timestamp,
    /// IANA zone of the slot: DTSTART/DTEND are local times with `TZID=zone`. A zone jiff does
    /// not know is written as UTC times (`...Z`) without a VTIMEZONE, so the instants stay right.
    pub zone: String,
    pub summary: String,
    /// Free text; newlines, commas and semicolons are escaped.
    pub description: String,
    pub location: Option<String>,
    pub url: Option<String>,
    pub status: EventStatus,
    /// (name, email)
    pub organizer: Option<(String, String)>,
    /// (name, email)
    pub attendees: Vec<(String, String)>,
    /// DTSTAMP and LAST-MODIFIED.
    pub stamp: Timestamp,
}

/// One VCALENDAR with every event (a feed has many, an invitation one). `name` becomes
/// X-WR-CALNAME.
pub fn render_ics(method: Method, name: &str, events: &[CalEvent]) -> String {
    let mut out = Ics::default();
    out.line("BEGIN:VCALENDAR");
    out.line("VERSION:2.0");
    out.line(&format!(
        "PRODID:-//valet//valet {}//EN",
        env!("CARGO_PKG_VERSION")
    ));
    out.line("CALSCALE:GREGORIAN");
    out.line(&format!("METHOD:{}", method.as_str()));
    out.line(&format!("X-WR-CALNAME:{}", escape_text(name)));

    let zones = zones_of(events);
    if let Some((first, last)) = span_of(events) {
        let year = SignedDuration::from_hours(24 * 366);
        let from = first.checked_sub(year).unwrap_or(Timestamp::MIN);
        let until = last.checked_add(year).unwrap_or(Timestamp::MAX);
        for (id, tz) in &zones {
            write_vtimezone(&mut out, id, tz, from, until);
        }
    }

    for e in events {
        write_event(&mut out, method, e, &zones);
    }
    out.line("END:VCALENDAR");
    out.0
}

/// The output being built: content lines, folded and CRLF-terminated.
#[derive(Default)]
struct Ics(String);

impl Ics {
    fn line(&mut self, content: &str) {
        fold_into(&mut self.0, content);
    }
}

/// Folds one content line at 75 octets (RFC 5545 §3.1): a continuation starts with a space,
/// which counts toward its 75, and a line never breaks inside a UTF-8 sequence.
fn fold_into(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

/// Escapes a TEXT value (RFC 5545 §3.3.11); line breaks of any style become `\n`, other
/// control characters (which TEXT does not allow) are dropped.
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value (e.g. CN), always quoted; `"`, newlines and `^` follow RFC 6868.
fn param_value(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '^' => out.push_str("^^"),
            '"' => out.push_str("^'"),
            '\n' => out.push_str("^n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A URI value (URL, mailto:): not TEXT-escaped, but control characters (which could end the
/// line and inject properties) are dropped.
fn uri_value(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// The zones the events use, by the TZID written (jiff's canonical IANA name when it has one).
/// Zones jiff does not know are left out: their events are written in UTC.
fn zones_of(events: &[CalEvent]) -> BTreeMap<String, TimeZone> {
    let mut zones = BTreeMap::new();
    for e in events {
        if let Ok(tz) = TimeZone::get(&e.zone) {
            zones.insert(tzid(&e.zone, &tz), tz);
        }
    }
    zones
}

fn tzid(zone: &str, tz: &TimeZone) -> String {
    tz.iana_name().unwrap_or(zone).to_string()
}

fn span_of(events: &[CalEvent]) -> Option<(Timestamp, Timestamp)> {
    let first = events.iter().map(|e| e.start.min(e.end)).min()?;
    let last = events.iter().map(|e| e.start.max(e.end)).max()?;
    Some((first, last))
}

fn write_vtimezone(out: &mut Ics, id: &str, tz: &TimeZone, from: Timestamp, until: Timestamp) {
    out.line("BEGIN:VTIMEZONE");
    out.line(&format!("TZID:{}", escape_text(id)));
    let within: Vec<_> = tz
        .following(from)
        .take_while(|t| t.timestamp() <= until)
        .collect();
    if within.is_empty() {
        let info = tz.to_offset_info(from);
        let epoch = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);
        write_observance(
            out,
            false,
            epoch,
            info.offset(),
            info.offset(),
            info.abbreviation(),
        );
    } else {
        let lead_in = tz.preceding(from).next();
        for t in lead_in.iter().chain(within.iter()) {
            let before = t
                .timestamp()
                .checked_sub(SignedDuration::from_secs(1))
                .map(|ts| tz.to_offset(ts))
                .unwrap_or(t.offset());
            write_observance(
                out,
                t.dst().is_dst(),
                before.to_datetime(t.timestamp()),
                before,
                t.offset(),
                t.abbreviation(),
            );
        }
    }
    out.line("END:VTIMEZONE");
}

/// One STANDARD or DAYLIGHT sub-component; `start` is local time in the `from` offset.
fn write_observance(
    out: &mut Ics,
    daylight: bool,
    start: DateTime,
    from: Offset,
    to: Offset,
    name: &str,
) {
    let kind = if daylight { "DAYLIGHT" } else { "STANDARD" };
    out.line(&format!("BEGIN:{kind}"));
    out.line(&format!("DTSTART:{}", local(start)));
    out.line(&format!("TZOFFSETFROM:{}", utc_offset(from)));
    out.line(&format!("TZOFFSETTO:{}", utc_offset(to)));
    if !name.is_empty() {
        out.line(&format!("TZNAME:{}", escape_text(name)));
    }
    out.line(&format!("END:{kind}"));
}

fn write_event(out: &mut Ics, method: Method, e: &CalEvent, zones: &BTreeMap<String, TimeZone>) {
    let cancelled = method == Method::Cancel || e.status == EventStatus::Cancelled;
    out.line("BEGIN:VEVENT");
    out.line(&format!("UID:{}", escape_text(&e.uid)));
    out.line(&format!("SEQUENCE:{}", e.sequence));
    out.line(&format!("DTSTAMP:{}", utc(e.stamp)));
    out.line(&format!("LAST-MODIFIED:{}", utc(e.stamp)));
    let tz = TimeZone::get(&e.zone)
        .ok()
        .map(|tz| (tzid(&e.zone, &tz), tz))
        .filter(|(id, _)| zones.contains_key(id));
    out.line(&date_time("DTSTART", e.start, tz.as_ref()));
    out.line(&date_time("DTEND", e.end, tz.as_ref()));
    out.line(&format!("SUMMARY:{}", escape_text(&e.summary)));
    if !e.description.is_empty() {
        out.line(&format!("DESCRIPTION:{}", escape_text(&e.description)));
    }
    if let Some(l) = &e.location {
        out.line(&format!("LOCATION:{}", escape_text(l)));
    }
    if let Some(u) = &e.url {
        out.line(&format!("URL:{}", uri_value(u)));
    }
    out.line(if cancelled {
        "STATUS:CANCELLED"
    } else {
        "STATUS:CONFIRMED"
    });
    out.line("TRANSP:OPAQUE");
    if let Some((name, email)) = &e.organizer {
        out.line(&format!(
            "ORGANIZER;CN={}:mailto:{}",
            param_value(name),
            uri_value(email)
        ));
    }
    for (name, email) in &e.attendees {
        let rsvp = if method == Method::Request {
            ";RSVP=TRUE"
        } else {
            ""
        };
        out.line(&format!(
            "ATTENDEE;CN={};ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION{rsvp}:mailto:{}",
            param_value(name),
            uri_value(email)
        ));
    }
    out.line("END:VEVENT");
}

/// `NAME;TZID=zone:local` — or `NAME:utcZ` when the zone is unknown or the local time would
/// name the wrong instant: a local time that occurs twice means its first occurrence
/// (RFC 5545 §3.3.5), so an instant in the second one can only be written in UTC.
fn date_time(name: &str, at: Timestamp, tz: Option<&(String, TimeZone)>) -> String {
    if let Some((id, tz)) = tz {
        let dt = tz.to_datetime(at);
        let first = tz.to_ambiguous_timestamp(dt).earlier().ok();
        if first == Some(at) {
            return format!("{name};TZID={}:{}", param_text(id), local(dt));
        }
    }
    format!("{name}:{}", utc(at))
}

/// A TZID parameter value: IANA names need no quoting; anything else is quoted.
fn param_text(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c))
    {
        s.to_string()
    } else {
        param_value(s)
    }
}

fn local(dt: DateTime) -> String {
    dt.strftime("%Y%m%dT%H%M%S").to_string()
}

fn utc(ts: Timestamp) -> String {
    ts.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// `+HHMM`, or `+HHMMSS` for the odd historical offset with seconds.
fn utc_offset(o: Offset) -> String {
    let secs = o.seconds();
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    if s == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn event(zone: &str, start: &str, end: &str) -> CalEvent {
        CalEvent {
            uid: "UPG-7@valet".into(),
            sequence: 0,
            start: ts(start),
            end: ts(end),
            zone: zone.into(),
            summary: "PROD upgrade to 24.3".into(),
            description: String::new(),
            location: None,
            url: None,
            status: EventStatus::Confirmed,
            organizer: None,
            attendees: vec![],
            stamp: ts("2026-12-01T10:00:00Z"),
        }
    }

    /// Unfolded content lines.
    fn lines(ics: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for raw in ics.split("\r\n") {
            if let Some(rest) = raw.strip_prefix(' ') {
                out.last_mut().unwrap().push_str(rest);
            } else if !raw.is_empty() {
                out.push(raw.to_string());
            }
        }
        out
    }

    /// The sub-components named `kind` (e.g. STANDARD), each as its lines without BEGIN/END.
    fn components(ics: &str, kind: &str) -> Vec<Vec<String>> {
        let mut found = Vec::new();
        let mut current: Option<Vec<String>> = None;
        for l in lines(ics) {
            if l == format!("BEGIN:{kind}") {
                current = Some(Vec::new());
            } else if l == format!("END:{kind}") {
                found.push(current.take().unwrap());
            } else if let Some(c) = current.as_mut() {
                c.push(l);
            }
        }
        found
    }

    /// The observance with this DTSTART, as (kind, from, to, name).
    fn observance(ics: &str, dtstart: &str) -> (String, String, String, String) {
        for kind in ["STANDARD", "DAYLIGHT"] {
            for c in components(ics, kind) {
                if c.contains(&format!("DTSTART:{dtstart}")) {
                    let get = |p: &str| {
                        c.iter()
                            .find_map(|l| l.strip_prefix(&format!("{p}:")))
                            .unwrap()
                            .to_string()
                    };
                    return (
                        kind.to_string(),
                        get("TZOFFSETFROM"),
                        get("TZOFFSETTO"),
                        get("TZNAME"),
                    );
                }
            }
        }
        panic!("no observance starts at {dtstart} in\n{ics}");
    }

    fn obs(kind: &str, from: &str, to: &str, name: &str) -> (String, String, String, String) {
        (kind.into(), from.into(), to.into(), name.into())
    }

    #[test]
    fn text_escapes_backslash_semicolon_comma_and_newlines() {
        assert_eq!(
            escape_text("a\\b;c,d\ne\r\nf\rg"),
            "a\\\\b\\;c\\,d\\ne\\nf\\ng"
        );
        assert_eq!(escape_text("bell\u{7}less\ttab"), "bellless\ttab");
    }

    #[test]
    fn parameter_values_are_quoted_with_rfc6868_escapes() {
        assert_eq!(param_value("Doe, Jane"), "\"Doe, Jane\"");
        assert_eq!(param_value("a \"b\" ^c\nd"), "\"a ^'b^' ^^c^nd\"");
    }

    #[test]
    fn description_is_escaped_in_the_event() {
        let mut e = event(
            "America/Chicago",
            "2027-01-11T15:00:00Z",
            "2027-01-11T16:00:00Z",
        );
        e.description = "Steps: stop; migrate, start\nDowntime 20\\30 min".into();
        let ics = render_ics(Method::Publish, "valet", &[e]);
        assert!(lines(&ics).contains(
            &"DESCRIPTION:Steps: stop\\; migrate\\, start\\nDowntime 20\\\\30 min".into()
        ));
    }

    #[test]
    fn long_lines_fold_at_75_octets_with_crlf() {
        let mut out = String::new();
        fold_into(&mut out, &"x".repeat(200));
        let parts: Vec<&str> = out.strip_suffix("\r\n").unwrap().split("\r\n").collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].len(), 75);
        assert_eq!(parts[1].len(), 75);
        assert!(parts[1].starts_with(' ') && parts[2].starts_with(' '));
        assert_eq!(parts.concat().replace(' ', ""), "x".repeat(200));
    }

    #[test]
    fn folding_never_splits_a_multibyte_character() {
        // 74 ASCII octets, then "é" (2 octets) would end at octet 76: it moves to the next line.
        let content = format!("{}é{}", "a".repeat(74), "€".repeat(40));
        let mut out = String::new();
        fold_into(&mut out, &content);
        let parts: Vec<&str> = out.strip_suffix("\r\n").unwrap().split("\r\n").collect();
        assert_eq!(parts[0], "a".repeat(74));
        assert!(parts[1].starts_with(" é"));
        for p in &parts {
            assert!(p.len() <= 75, "{} octets: {p}", p.len());
        }
        let unfolded: String = parts
            .iter()
            .enumerate()
            .map(|(i, p)| if i == 0 { *p } else { &p[1..] })
            .collect();
        assert_eq!(unfolded, content);
    }

    #[test]
    fn every_line_of_a_calendar_ends_in_crlf_and_fits_75_octets() {
        let mut e = event(
            "America/Chicago",
            "2027-01-11T15:00:00Z",
            "2027-01-11T16:00:00Z",
        );
        e.description = "Résumé of the upgrade — ünïcödé ".repeat(10);
        let ics = render_ics(Method::Request, "Upgrades", &[e]);
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        assert!(!ics.replace("\r\n", "").contains('\n'));
        for l in ics.split("\r\n") {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
    }

    #[test]
    fn calendar_header_names_version_method_and_calendar() {
        let e = event(
            "America/Chicago",
            "2027-01-11T15:00:00Z",
            "2027-01-11T16:00:00Z",
        );
        let l = lines(&render_ics(Method::Publish, "Acme, upgrades", &[e]));
        assert_eq!(l[0], "BEGIN:VCALENDAR");
        for want in [
            "VERSION:2.0",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "X-WR-CALNAME:Acme\\, upgrades",
        ] {
            assert!(l.contains(&want.to_string()), "missing {want}");
        }
        assert!(l.iter().any(|x| x.starts_with("PRODID:-//valet//")));
    }

    #[test]
    fn event_times_are_local_in_the_slot_zone() {
        let e = event(
            "America/Chicago",
            "2027-01-11T15:00:00Z",
            "2027-01-11T16:00:00Z",
        );
        let l = lines(&render_ics(Method::Publish, "valet", &[e]));
        assert!(l.contains(&"DTSTART;TZID=America/Chicago:20270111T090000".into()));
        assert!(l.contains(&"DTEND;TZID=America/Chicago:20270111T100000".into()));
        assert!(l.contains(&"DTSTAMP:20261201T100000Z".into()));
        assert!(l.contains(&"STATUS:CONFIRMED".into()));
    }

    #[test]
    fn chicago_vtimezone_has_the_2027_transitions() {
        let e = event(
            "America/Chicago",
            "2027-01-11T15:00:00Z",
            "2027-01-11T16:00:00Z",
        );
        let ics = render_ics(Method::Publish, "valet", &[e]);
        assert_eq!(components(&ics, "VTIMEZONE").len(), 1);
        assert!(lines(&ics).contains(&"TZID:America/Chicago".into()));
        assert_eq!(
            observance(&ics, "20270314T020000"),
            obs("DAYLIGHT", "-0600", "-0500", "CDT")
        );
        assert_eq!(
            observance(&ics, "20271107T020000"),
            obs("STANDARD", "-0500", "-0600", "CST")
        );
        // One year before the event, and the lead-in before that.
        observance(&ics, "20260308T020000");
        observance(&ics, "20251102T020000");
    }

    #[test]
    fn vtimezone_covers_a_year_either_side_of_the_events() {
        let early = event(
            "America/Chicago",
            "2027-06-01T15:00:00Z",
            "2027-06-01T16:00:00Z",
        );
        let late = event(
            "America/Chicago",
            "2029-06-01T15:00:00Z",
            "2029-06-01T16:00:00Z",
        );
        let ics = render_ics(Method::Publish, "feed", &[late, early]);
        let starts: Vec<String> = ["STANDARD", "DAYLIGHT"]
            .iter()
            .flat_map(|k| components(&ics, k))
            .map(|c| c.iter().find(|l| l.starts_with("DTSTART:")).unwrap()[8..12].to_string())
            .collect();
        for year in ["2026", "2027", "2028", "2029", "2030"] {
            assert!(starts.iter().any(|s| s == year), "no {year} in {starts:?}");
        }
        assert!(!starts.iter().any(|s| s == "2031"));
    }

    #[test]
    fn berlin_vtimezone_has_cest_and_cet() {
        let e = event(
            "Europe/Berlin",
            "2027-05-03T06:00:00Z",
            "2027-05-03T07:00:00Z",
        );
        let ics = render_ics(Method::Publish, "valet", &[e]);
        assert_eq!(
            observance(&ics, "20270328T020000"),
            obs("DAYLIGHT", "+0100", "+0200", "CEST")
        );
        assert_eq!(
            observance(&ics, "20271031T030000"),
            obs("STANDARD", "+0200", "+0100", "CET")
        );
    }

    #[test]
    fn sydney_vtimezone_has_southern_hemisphere_daylight_time() {
        let e = event(
            "Australia/Sydney",
            "2027-06-01T00:00:00Z",
            "2027-06-01T01:00:00Z",
        );
        let ics = render_ics(Method::Publish, "valet", &[e]);
        assert_eq!(
            observance(&ics, "20270404T030000"),
            obs("STANDARD", "+1100", "+1000", "AEST")
        );
        assert_eq!(
            observance(&ics, "20271003T020000"),
            obs("DAYLIGHT", "+1000", "+1100", "AEDT")
        );
    }

    #[test]
    fn zones_without_transitions_get_one_standard_observance() {
        for (zone, offset, name) in [("Asia/Kolkata", "+0530", "IST"), ("UTC", "+0000", "UTC")] {
            let e = event(zone, "2027-01-11T04:00:00Z", "2027-01-11T05:00:00Z");
            let ics = render_ics(Method::Publish, "valet", &[e]);
            assert_eq!(components(&ics, "STANDARD").len(), 1, "{zone}");
            assert!(components(&ics, "DAYLIGHT").is_empty(), "{zone}");
            assert_eq!(
                observance(&ics, "19700101T000000"),
                obs("STANDARD", offset, offset, name)
            );
        }
    }

    #[test]
    fn one_vtimezone_per_distinct_zone() {
        let a = event(
            "America/Chicago",
            "2027-01-11T15:00:00Z",
            "2027-01-11T16:00:00Z",
        );
        let b = event(
            "Europe/Berlin",
            "2027-01-12T08:00:00Z",
            "2027-01-12T09:00:00Z",
        );
        let c = event(
            "America/Chicago",
            "2027-02-11T15:00:00Z",
            "2027-02-11T16:00:00Z",
        );
        let ics = render_ics(Method::Publish, "feed", &[a, b, c]);
        let ids: Vec<String> = lines(&ics)
            .into_iter()
            .filter(|l| l.starts_with("TZID:"))
            .collect();
        assert_eq!(ids, ["TZID:America/Chicago", "TZID:Europe/Berlin"]);
        assert_eq!(components(&ics, "VEVENT").len(), 3);
    }

    #[test]
    fn second_occurrence_of_a_repeated_hour_is_written_in_utc() {
        // Sydney 2027-04-04 02:30 happens twice; 16:30Z is the second (+10:00) one.
        let first = event(
            "Australia/Sydney",
            "2027-04-03T15:30:00Z",
            "2027-04-03T16:00:00Z",
        );
        let second = event(
            "Australia/Sydney",
            "2027-04-03T16:30:00Z",
            "2027-04-03T17:00:00Z",
        );
        let l = lines(&render_ics(Method::Publish, "valet", &[first, second]));
        assert!(l.contains(&"DTSTART;TZID=Australia/Sydney:20270404T023000".into()));
        assert!(l.contains(&"DTSTART:20270403T163000Z".into()));
        assert!(l.contains(&"DTEND;TZID=Australia/Sydney:20270404T030000".into()));
    }

    #[test]
    fn unknown_zone_falls_back_to_utc_times_without_vtimezone() {
        let e = event(
            "Mars/Olympus_Mons",
            "2027-01-11T15:00:00Z",
            "2027-01-11T16:00:00Z",
        );
        let ics = render_ics(Method::Publish, "valet", &[e]);
        assert!(components(&ics, "VTIMEZONE").is_empty());
        assert!(lines(&ics).contains(&"DTSTART:20270111T150000Z".into()));
    }

    #[test]
    fn cancel_method_marks_every_event_cancelled() {
        let mut e = event(
            "America/Chicago",
            "2027-01-11T15:00:00Z",
            "2027-01-11T16:00:00Z",
        );
        e.sequence = 2;
        let l = lines(&render_ics(Method::Cancel, "valet", &[e]));
        assert!(l.contains(&"METHOD:CANCEL".into()));
        assert!(l.contains(&"STATUS:CANCELLED".into()));
        assert!(l.contains(&"SEQUENCE:2".into()));
    }

    #[test]
    fn cancelled_event_in_a_feed_keeps_publish() {
        let mut e = event(
            "America/Chicago",
            "2027-01-11T15:00:00Z",
            "2027-01-11T16:00:00Z",
        );
        e.status = EventStatus::Cancelled;
        let l = lines(&render_ics(Method::Publish, "feed", &[e]));
        assert!(l.contains(&"METHOD:PUBLISH".into()));
        assert!(l.contains(&"STATUS:CANCELLED".into()));
    }

    #[test]
    fn organizer_and_attendees_are_mailto_with_quoted_names() {
        let mut e = event(
            "America/Chicago",
            "2027-01-11T15:00:00Z",
            "2027-01-11T16:00:00Z",
        );
        e.organizer = Some(("Pat PM".into(), "pm@vendor.example".into()));
        e.attendees = vec![("Doe, Jane".into(), "jane@clinic.example".into())];
        e.url = Some("https://valet.example/requests/UPG-7\r\nX-EVIL:1".into());
        let l = lines(&render_ics(Method::Request, "valet", &[e]));
        assert!(l.contains(&"ORGANIZER;CN=\"Pat PM\":mailto:pm@vendor.example".into()));
        assert!(l.contains(
            &"ATTENDEE;CN=\"Doe, Jane\";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:jane@clinic.example"
                .into()
        ));
        assert!(l.contains(&"URL:https://valet.example/requests/UPG-7X-EVIL:1".into()));
        assert!(!l.iter().any(|x| x.starts_with("X-EVIL")));
    }

    #[test]
    fn offsets_with_seconds_keep_them() {
        assert_eq!(
            utc_offset(Offset::from_seconds(-(5 * 3600 + 50 * 60 + 36)).unwrap()),
            "-055036"
        );
        assert_eq!(
            utc_offset(Offset::from_seconds(5 * 3600 + 30 * 60).unwrap()),
            "+0530"
        );
        assert_eq!(utc_offset(Offset::UTC), "+0000");
    }
}
