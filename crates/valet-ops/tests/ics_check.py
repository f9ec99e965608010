#!/usr/bin/env python3
"""Reads .ics files the way calendar clients do and prints what it found as JSON.

Used by crates/valet-ops/tests/calendar.rs. Each file is parsed with `icalendar` and expanded
with `recurring_ical_events` over [FROM, TO). Each event's start and end are given twice, as
UTC instants:

- `start`/`end`: as `icalendar` resolves DTSTART/DTEND (for an IANA TZID it uses the system
  tz database, so this checks the local time and TZID written);
- `start_vtz`/`end_vtz`: the local time resolved with the file's own VTIMEZONE (turned into a
  tzinfo by `icalendar`), so this checks the VTIMEZONE's observances.

Usage: ics_check.py FROM TO FILE.ics [FILE.ics ...]   (FROM/TO as YYYY-MM-DD, UTC)
"""

import json
import sys
from datetime import datetime, timezone

import icalendar
import recurring_ical_events


def utc(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def vtimezones(cal):
    # lookup_tzid=False: build the tzinfo from the observances, not from the system tz database.
    return {str(tz["TZID"]): tz.to_tz(lookup_tzid=False) for tz in cal.walk("VTIMEZONE")}


def via_vtimezone(prop, zones):
    """The property's instant, reading its local time in the file's own VTIMEZONE."""
    tzid = prop.params.get("TZID")
    if tzid is None:
        return utc(prop.dt)
    local = prop.dt.replace(tzinfo=None)
    # fold=0: a repeated local time means its first occurrence (RFC 5545 3.3.5).
    return utc(local.replace(tzinfo=zones[str(tzid)], fold=0))


def text(value):
    raw = value.to_ical()
    return raw.decode() if isinstance(raw, bytes) else raw


def observances(tz):
    out = []
    for sub in tz.subcomponents:
        out.append({
            "kind": sub.name,
            "dtstart": sub["DTSTART"].dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "from": text(sub["TZOFFSETFROM"]),
            "to": text(sub["TZOFFSETTO"]),
            "name": str(sub.get("TZNAME", "")),
        })
    return out


def check(path, start, end):
    with open(path, "rb") as f:
        raw = f.read()
    cal = icalendar.Calendar.from_ical(raw)
    zones = vtimezones(cal)
    events = []
    for ev in cal.walk("VEVENT"):
        events.append({
            "uid": str(ev["UID"]),
            "sequence": int(ev.get("SEQUENCE", 0)),
            "status": str(ev.get("STATUS", "")),
            "summary": str(ev.get("SUMMARY", "")),
            "description": str(ev.get("DESCRIPTION", "")),
            "tzid": str(ev["DTSTART"].params.get("TZID", "")),
            "start": utc(ev["DTSTART"].dt),
            "end": utc(ev["DTEND"].dt),
            "start_vtz": via_vtimezone(ev["DTSTART"], zones),
            "end_vtz": via_vtimezone(ev["DTEND"], zones),
        })
    expanded = [
        {"uid": str(ev["UID"]), "start": utc(ev["DTSTART"].dt), "end": utc(ev["DTEND"].dt)}
        for ev in recurring_ical_events.of(cal).between(start, end)
    ]
    return {
        "method": str(cal.get("METHOD", "")),
        "version": str(cal.get("VERSION", "")),
        "calname": str(cal.get("X-WR-CALNAME", "")),
        "crlf_only": b"\n" not in raw.replace(b"\r\n", b""),
        "max_line_octets": max(len(line) for line in raw.split(b"\r\n")),
        "timezones": {
            str(tz["TZID"]): observances(tz) for tz in cal.walk("VTIMEZONE")
        },
        "events": events,
        "expanded": expanded,
    }


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    start = datetime.strptime(sys.argv[1], "%Y-%m-%d").replace(tzinfo=timezone.utc)
    end = datetime.strptime(sys.argv[2], "%Y-%m-%d").replace(tzinfo=timezone.utc)
    result = {path: check(path, start, end) for path in sys.argv[3:]}
    json.dump(result, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
