//! The .ics files valet writes, read back by Python's `icalendar` and expanded with
//! `recurring_ical_events` (both installed by `scripts/setup`), as calendar clients would.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jiff::Timestamp;
use serde_json::Value;
use valet_ops::documents::calendar::{render_ics, CalEvent, EventStatus, Method};

const CHECKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ics_check.py");

/// True when python3 has both packages; otherwise prints a loud SKIPPED line (a failure with
/// `CI=true`).
fn checker_available() -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import icalendar, recurring_ical_events"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let missing = match probe {
        Err(e) => Some(format!("python3 cannot be run ({e})")),
        Ok(o) if !o.status.success() => Some(format!(
            "python3 lacks icalendar or recurring_ical_events ({})",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Ok(_) => None,
    };
    match missing {
        None => true,
        Some(why) => {
            valet_testkit::skipped(
                &format!(".ics checker unavailable: {why}"),
                "Run scripts/setup (pip install icalendar recurring_ical_events)",
            );
            false
        }
    }
}

/// Runs the checker over the files and returns its JSON, keyed by file path.
fn check(from: &str, to: &str, files: &[PathBuf]) -> Value {
    let out = Command::new("python3")
        .arg(CHECKER)
        .args([from, to])
        .args(files)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "ics_check.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("checker prints JSON")
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn upgrade(uid: &str, zone: &str, start: &str, end: &str) -> CalEvent {
    CalEvent {
        uid: uid.into(),
        sequence: 0,
        start: ts(start),
        end: ts(end),
        zone: zone.into(),
        summary: format!("PROD upgrade {uid}"),
        description: "Upgrade to 24.3; expected downtime 20–35 min,\nbanner from T-1h".into(),
        location: Some("PROD Main + Test".into()),
        url: Some("https://valet.example/requests/UPG-7".into()),
        status: EventStatus::Confirmed,
        organizer: Some(("Pat PM".into(), "pm@vendor.example".into())),
        attendees: vec![("Doe, Jane".into(), "jane@clinic.example".into())],
        stamp: ts("2026-12-01T10:00:00Z"),
    }
}

fn write(dir: &Path, name: &str, ics: String) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, ics).unwrap();
    path
}

fn events<'a>(report: &'a Value, file: &Path) -> &'a Vec<Value> {
    report[file.to_str().unwrap()]["events"].as_array().unwrap()
}

fn event<'a>(report: &'a Value, file: &Path, uid: &str) -> &'a Value {
    events(report, file)
        .iter()
        .find(|e| e["uid"] == uid)
        .unwrap_or_else(|| panic!("{uid} not in {}", file.display()))
}

/// The event starts and ends at these UTC instants, read both through the TZID and through the
/// file's own VTIMEZONE.
fn assert_instants(e: &Value, start: &str, end: &str) {
    assert_eq!(e["start"], start, "{e}");
    assert_eq!(e["end"], end, "{e}");
    assert_eq!(e["start_vtz"], start, "VTIMEZONE disagrees: {e}");
    assert_eq!(e["end_vtz"], end, "VTIMEZONE disagrees: {e}");
}

fn expanded_uids(report: &Value, file: &Path) -> Vec<String> {
    let mut uids: Vec<String> = report[file.to_str().unwrap()]["expanded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["uid"].as_str().unwrap().to_string())
        .collect();
    uids.sort();
    uids
}

#[test]
fn invitation_reschedule_and_cancellation_read_back_in_python_icalendar() {
    if !checker_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = upgrade(
        "UPG-7@valet",
        "America/Chicago",
        "2027-01-11T15:00:00Z",
        "2027-01-11T16:00:00Z",
    );
    let mut moved = upgrade(
        "UPG-7@valet",
        "America/Chicago",
        "2027-01-18T15:00:00Z",
        "2027-01-18T16:30:00Z",
    );
    moved.sequence = 1;
    let mut cancelled = moved.clone();
    cancelled.sequence = 2;
    cancelled.status = EventStatus::Cancelled;

    let published = write(
        dir.path(),
        "published.ics",
        render_ics(Method::Publish, "Acme upgrades", &[first]),
    );
    let rescheduled = write(
        dir.path(),
        "rescheduled.ics",
        render_ics(Method::Request, "Acme upgrades", &[moved]),
    );
    let cancel = write(
        dir.path(),
        "cancel.ics",
        render_ics(Method::Cancel, "Acme upgrades", &[cancelled]),
    );
    let files = [published.clone(), rescheduled.clone(), cancel.clone()];
    let report = check("2027-01-01", "2027-02-01", &files);

    for f in &files {
        let r = &report[f.to_str().unwrap()];
        assert_eq!(r["version"], "2.0");
        assert_eq!(r["calname"], "Acme upgrades");
        assert_eq!(r["crlf_only"], true);
        assert!(r["max_line_octets"].as_u64().unwrap() <= 75, "{r}");
        assert_eq!(events(&report, f).len(), 1);
        assert_eq!(expanded_uids(&report, f), ["UPG-7@valet"]);
    }

    assert_eq!(report[published.to_str().unwrap()]["method"], "PUBLISH");
    let e = event(&report, &published, "UPG-7@valet");
    // 2027-01-11 09:00 America/Chicago (CST, -06:00).
    assert_instants(e, "2027-01-11T15:00:00Z", "2027-01-11T16:00:00Z");
    assert_eq!(e["tzid"], "America/Chicago");
    assert_eq!(e["sequence"], 0);
    assert_eq!(e["status"], "CONFIRMED");
    assert_eq!(
        e["description"],
        "Upgrade to 24.3; expected downtime 20–35 min,\nbanner from T-1h"
    );

    assert_eq!(report[rescheduled.to_str().unwrap()]["method"], "REQUEST");
    let e = event(&report, &rescheduled, "UPG-7@valet");
    assert_instants(e, "2027-01-18T15:00:00Z", "2027-01-18T16:30:00Z");
    assert_eq!(e["sequence"], 1);
    assert_eq!(e["status"], "CONFIRMED");

    assert_eq!(report[cancel.to_str().unwrap()]["method"], "CANCEL");
    let e = event(&report, &cancel, "UPG-7@valet");
    assert_eq!(e["sequence"], 2);
    assert_eq!(e["status"], "CANCELLED");
}

#[test]
fn feed_with_three_zones_and_dst_change_days_reads_back_in_python_icalendar() {
    if !checker_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cancelled = upgrade(
        "UPG-4@valet",
        "America/Chicago",
        "2027-02-01T15:00:00Z",
        "2027-02-01T16:00:00Z",
    );
    cancelled.status = EventStatus::Cancelled;
    let feed = [
        // 2027-01-11 09:00–10:00 America/Chicago.
        upgrade(
            "UPG-7@valet",
            "America/Chicago",
            "2027-01-11T15:00:00Z",
            "2027-01-11T16:00:00Z",
        ),
        // Berlin springs forward at 02:00 on 2027-03-28: 01:00 CET to 05:00 CEST is 3 hours.
        upgrade(
            "UPG-8@valet",
            "Europe/Berlin",
            "2027-03-28T00:00:00Z",
            "2027-03-28T03:00:00Z",
        ),
        // Sydney falls back at 03:00 on 2027-04-04: 02:30 happens twice; this is the second
        // (+10:00), which valet must write in UTC.
        upgrade(
            "UPG-9@valet",
            "Australia/Sydney",
            "2027-04-03T16:30:00Z",
            "2027-04-03T18:00:00Z",
        ),
        // The first 02:30 (+11:00) of the same night.
        upgrade(
            "UPG-10@valet",
            "Australia/Sydney",
            "2027-04-03T15:30:00Z",
            "2027-04-03T16:00:00Z",
        ),
        // Sydney in July (southern winter, +10:00).
        upgrade(
            "UPG-11@valet",
            "Australia/Sydney",
            "2027-07-05T23:00:00Z",
            "2027-07-06T01:00:00Z",
        ),
        cancelled,
    ];
    let path = write(
        dir.path(),
        "feed.ics",
        render_ics(Method::Publish, "All upgrades", &feed),
    );
    let report = check("2027-01-01", "2028-01-01", std::slice::from_ref(&path));
    let r = &report[path.to_str().unwrap()];
    assert_eq!(r["method"], "PUBLISH");
    assert_eq!(r["crlf_only"], true);
    assert_eq!(
        r["timezones"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["America/Chicago", "Australia/Sydney", "Europe/Berlin"]
    );
    let sydney = r["timezones"]["Australia/Sydney"].as_array().unwrap();
    assert!(sydney.contains(&serde_json::json!({
        "kind": "STANDARD", "dtstart": "2027-04-04T03:00:00",
        "from": "+1100", "to": "+1000", "name": "AEST",
    })));

    for e in &feed {
        let got = event(&report, &path, &e.uid);
        assert_instants(got, &e.start.to_string(), &e.end.to_string());
    }
    assert_eq!(
        event(&report, &path, "UPG-8@valet")["tzid"],
        "Europe/Berlin"
    );
    assert_eq!(
        event(&report, &path, "UPG-10@valet")["tzid"],
        "Australia/Sydney"
    );
    assert_eq!(event(&report, &path, "UPG-9@valet")["tzid"], "");
    assert_eq!(event(&report, &path, "UPG-4@valet")["status"], "CANCELLED");
    assert_eq!(event(&report, &path, "UPG-7@valet")["status"], "CONFIRMED");

    assert_eq!(
        expanded_uids(&report, &path),
        [
            "UPG-10@valet",
            "UPG-11@valet",
            "UPG-4@valet",
            "UPG-7@valet",
            "UPG-8@valet",
            "UPG-9@valet"
        ]
    );
    // A range holding only the Berlin night expands to that event alone.
    let night = check("2027-03-27", "2027-03-29", std::slice::from_ref(&path));
    assert_eq!(expanded_uids(&night, &path), ["UPG-8@valet"]);
}
