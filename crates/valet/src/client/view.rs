//! What the API answers, as this client reads it (lenient: fields it does not know are
//! ignored, missing ones are empty), and how it is shown to people.

use std::fmt::Write as _;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Request {
    pub key: String,
    pub kind: String,
    pub customer_name: String,
    pub state: String,
    pub held_from: Option<String>,
    pub title: String,
    pub details: Value,
    pub created_by_name: String,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Signature {
    pub username: String,
    pub printed_name: String,
    pub meaning: String,
    pub signed_at: Option<Timestamp>,
    pub signed_at_local: String,
    pub record_sha256: String,
    pub reason: Option<String>,
    pub changed_after_signing: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Run {
    pub id: String,
    pub request_key: String,
    pub kind: String,
    pub state: String,
    pub error: Option<String>,
    pub created_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Step {
    pub seq: i64,
    pub name: String,
    pub env: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub duration_ms: Option<i64>,
    pub log: String,
    pub artifacts: serde_json::Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Finding {
    pub key: String,
    pub request_key: String,
    pub title: String,
    pub severity: String,
    pub area: String,
    pub steps: String,
    pub state: String,
    pub created_by: String,
    pub created_at: Option<Timestamp>,
    pub resolution: Option<String>,
    pub closed_by: Option<String>,
    pub closed_at: Option<Timestamp>,
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Comment {
    pub author_name: String,
    pub body: String,
    pub created_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Document {
    pub id: String,
    pub request_key: String,
    pub kind: String,
    pub title: String,
    pub sha256: String,
    pub created_by: String,
    pub created_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Attachment {
    pub name: String,
    pub size: i64,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Watcher {
    pub username: String,
}

/// `GET /requests/{key}`: the request with everything around it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RequestView {
    pub request: Request,
    pub content_sha256: String,
    pub signatures: Vec<Signature>,
    pub runs: Vec<Run>,
    pub findings: Vec<Finding>,
    pub documents: Vec<Document>,
    pub comments: Vec<Comment>,
    pub watchers: Vec<Watcher>,
    pub attachments: Vec<Attachment>,
    pub val_pair: Option<Value>,
}

/// A time as the reader's clock shows it, to the second.
pub fn time(t: Option<Timestamp>, tz: &TimeZone) -> String {
    match t {
        Some(t) => t
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        None => "-".into(),
    }
}

/// A duration for people: `850ms`, `12.3s`, `4m 05s`, `1h 02m`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m {:02}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h {:02}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

fn span_ms(from: Option<Timestamp>, to: Option<Timestamp>) -> Option<i64> {
    let (a, b) = (from?, to?);
    Some(b.as_millisecond() - a.as_millisecond())
}

/// A step's time: recorded, else from its start and end.
pub fn step_ms(s: &Step) -> Option<i64> {
    s.duration_ms
        .or_else(|| span_ms(s.started_at, s.finished_at))
}

/// A run's total: start to end when finished, else the steps so far.
pub fn run_total_ms(r: &Run) -> Option<i64> {
    span_ms(r.started_at, r.finished_at).or_else(|| {
        let done: Vec<i64> = r.steps.iter().filter_map(step_ms).collect();
        (!done.is_empty()).then(|| done.iter().sum())
    })
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn indent(out: &mut String, text: &str, by: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "{by}{line}");
    }
}

/// The VAL details in the order a reader wants them; other keys after, by name.
fn details(out: &mut String, d: &Value, tz: &TimeZone) {
    let Some(map) = d.as_object() else { return };
    let known: &[(&str, &str)] = &[
        ("kind", "VAL kind"),
        ("pair_label", "PROD pair"),
        ("pair_id", "PROD pair id"),
        ("build", "target build"),
        ("begin", "validation from"),
        ("end", "validation to"),
        ("sso_required", "SSO required"),
        ("sso_metadata", "SSO metadata"),
        ("lab", "lab"),
        ("purpose", "purpose"),
        ("refresh_of", "refresh of"),
        ("val_pair_id", "VAL pair"),
        ("provisioned", "provisioned"),
        ("signed_off", "signed off"),
        ("close_after_prod_upgrade", "closes"),
    ];
    // A time written by valet reads in the reader's zone; anything else as it is.
    let shown = |v: &Value| match v {
        Value::String(s) => s
            .parse::<Timestamp>()
            .map(|t| time(Some(t), tz))
            .unwrap_or_else(|_| s.clone()),
        other => scalar(other),
    };
    for (k, label) in known {
        let Some(v) = map.get(*k) else { continue };
        if v.is_null() {
            continue;
        }
        let text = match (*k, v) {
            ("sso_metadata", Value::String(s)) if !s.trim_start().starts_with("http") => {
                format!("IdP XML, {} bytes", s.len())
            }
            ("signed_off", Value::Object(o)) => format!(
                "by {} at {}",
                o.get("by").map(scalar).unwrap_or_default(),
                o.get("at").map(&shown).unwrap_or_default()
            ),
            ("close_after_prod_upgrade", _) => {
                format!("{} (after the PROD upgrade to its build)", shown(v))
            }
            _ => shown(v),
        };
        let _ = writeln!(out, "  {label:<16} {text}");
    }
    for (k, v) in map {
        if known.iter().any(|(name, _)| name == k) || v.is_null() {
            continue;
        }
        let _ = writeln!(out, "  {:<16} {}", k.replace('_', " "), shown(v));
    }
}

/// One run: header, then a line per step with state, attempts and time.
pub fn run(out: &mut String, r: &Run, tz: &TimeZone) {
    let total = run_total_ms(r).map(duration).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "run {}  {}  {}  started {}  finished {}  total {total}",
        r.id,
        r.kind,
        r.state.to_uppercase(),
        time(r.started_at, tz),
        time(r.finished_at, tz),
    );
    if let Some(e) = &r.error {
        let _ = writeln!(out, "  error: {e}");
    }
    for s in &r.steps {
        let _ = writeln!(
            out,
            "  {:>2}. {:<24} {:<12} {:<8} {} attempt{}  {}",
            s.seq,
            s.name,
            s.env.as_deref().unwrap_or("-"),
            s.state,
            s.attempts,
            if s.attempts == 1 { "" } else { "s" },
            step_ms(s).map(duration).unwrap_or_else(|| "-".into()),
        );
    }
    // An upgrade's measured downtime per environment (maintenance on → off).
    for s in r.steps.iter().filter(|s| {
        matches!(
            s.name.as_str(),
            "maintenance_off" | "rollback_maintenance_off"
        ) && s.state == "done"
    }) {
        if let Some(ms) = s.artifacts["downtime_ms"].as_i64() {
            let _ = writeln!(
                out,
                "  downtime {}: {}{}",
                s.env.as_deref().unwrap_or("-"),
                duration(ms),
                if s.name.starts_with("rollback") {
                    " (rolled back)"
                } else {
                    ""
                }
            );
        }
    }
}

/// One finding, in a line.
pub fn finding_line(f: &Finding) -> String {
    format!(
        "{:<6} {:<9} {:<8} {:<18} {}",
        f.key, f.state, f.severity, f.area, f.title
    )
}

/// One finding with its steps, resolution and comments.
pub fn finding(f: &Finding, tz: &TimeZone) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} on {}: {}", f.key, f.request_key, f.title);
    let _ = writeln!(out, "  state      {}", f.state);
    let _ = writeln!(out, "  severity   {}", f.severity);
    let _ = writeln!(out, "  area       {}", f.area);
    let _ = writeln!(
        out,
        "  filed      {} by {}",
        time(f.created_at, tz),
        f.created_by
    );
    if let Some(r) = &f.resolution {
        let _ = writeln!(
            out,
            "  {:<10} {} by {}: {r}",
            f.state,
            time(f.closed_at, tz),
            f.closed_by.as_deref().unwrap_or("-")
        );
    }
    let _ = writeln!(out, "  steps to reproduce:");
    indent(&mut out, &f.steps, "    ");
    comments(&mut out, &f.comments, tz);
    out
}

fn comments(out: &mut String, cs: &[Comment], tz: &TimeZone) {
    if cs.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nComments");
    for c in cs {
        let _ = writeln!(out, "  {} {}:", time(c.created_at, tz), c.author_name);
        indent(out, &c.body, "    ");
    }
}

/// One document, in a line.
pub fn document_line(d: &Document, tz: &TimeZone) -> String {
    format!(
        "{:<14} {:<4} {}  sha256 {}  {}",
        d.id,
        d.kind,
        time(d.created_at, tz),
        d.sha256,
        d.title
    )
}

/// One request, in a line of `request list`.
pub fn request_line(r: &Request) -> String {
    format!(
        "{:<8} {:<12} {:<14} {:<24} {}",
        r.key, r.state, r.kind, r.customer_name, r.title
    )
}

/// `valet request show`: fields, state, signatures, runs, findings, documents, comments.
pub fn request(v: &RequestView, tz: &TimeZone) -> String {
    let r = &v.request;
    let mut out = String::new();
    let _ = writeln!(out, "{}  {}", r.key, r.title);
    let held = r
        .held_from
        .as_deref()
        .map(|h| format!(" (held from {h})"))
        .unwrap_or_default();
    let _ = writeln!(out, "  {:<16} {}{held}", "state", r.state);
    let _ = writeln!(out, "  {:<16} {}", "kind", r.kind);
    let _ = writeln!(out, "  {:<16} {}", "customer", r.customer_name);
    let _ = writeln!(
        out,
        "  {:<16} {} by {}",
        "filed",
        time(r.created_at, tz),
        r.created_by_name
    );
    let _ = writeln!(out, "  {:<16} {}", "updated", time(r.updated_at, tz));
    details(&mut out, &r.details, tz);
    let _ = writeln!(out, "  {:<16} {}", "content sha256", v.content_sha256);
    if !v.watchers.is_empty() {
        let names: Vec<&str> = v.watchers.iter().map(|w| w.username.as_str()).collect();
        let _ = writeln!(out, "  {:<16} {}", "watchers", names.join(", "));
    }

    let _ = writeln!(out, "\nSignatures");
    if v.signatures.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for s in &v.signatures {
        let when = if s.signed_at_local.is_empty() {
            time(s.signed_at, tz)
        } else {
            s.signed_at_local.clone()
        };
        let changed = if s.changed_after_signing {
            "  CHANGED AFTER SIGNING"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:<14} {} ({})  {when}{changed}",
            s.meaning, s.printed_name, s.username
        );
        if let Some(reason) = &s.reason {
            let _ = writeln!(out, "    reason: {reason}");
        }
        if s.changed_after_signing {
            let _ = writeln!(
                out,
                "    signed content sha256 {} differs from the current {}",
                s.record_sha256, v.content_sha256
            );
        }
    }

    if !v.runs.is_empty() {
        let _ = writeln!(out, "\nRuns (latest first)");
        for r in &v.runs {
            run(&mut out, r, tz);
        }
    }
    if !v.findings.is_empty() {
        let _ = writeln!(out, "\nFindings");
        for f in &v.findings {
            let _ = writeln!(out, "  {}", finding_line(f));
        }
    }
    if !v.documents.is_empty() {
        let _ = writeln!(out, "\nDocuments");
        for d in &v.documents {
            let _ = writeln!(out, "  {}", document_line(d, tz));
        }
    }
    if !v.attachments.is_empty() {
        let _ = writeln!(out, "\nAttachments");
        for a in &v.attachments {
            let _ = writeln!(out, "  {}  {} bytes  sha256 {}", a.name, a.size, a.sha256);
        }
    }
    comments(&mut out, &v.comments, tz);
    out
}

// ---- PROD upgrades and their scheduling ----

/// A slot as the server read it (`details.slots[]`, `slots[].slot`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Slot {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub zone: String,
    pub preferred: bool,
    pub input: String,
    pub warnings: Vec<SlotWarning>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlotWarning {
    pub code: String,
    pub message: String,
    pub instants: Vec<Timestamp>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Notice {
    pub required_days: u32,
    pub hours: i64,
    pub ok: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Conflict {
    pub kind: String,
    pub message: String,
    pub blocking: bool,
}

/// One proposed slot as the PM sees it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlotCheck {
    pub index: usize,
    pub slot: Slot,
    pub display: String,
    pub display_customer: String,
    pub display_utc: String,
    pub notice: Notice,
    pub score: Option<f64>,
    pub conflicts: Vec<Conflict>,
    pub feasible: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Window {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub display_customer: String,
    pub score: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Downtime {
    pub low_minutes: u64,
    pub high_minutes: u64,
    pub accepted_minutes: Option<u64>,
    pub verdict: String,
    pub basis: String,
}

/// A booked upgrade.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Schedule {
    pub request_key: String,
    pub customer_name: String,
    pub slot_index: i64,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub zone: String,
    pub engineer: String,
    pub engineer_name: String,
    pub pm_name: String,
    pub sequence: i64,
    pub state: String,
    pub overrides: Value,
}

/// `GET /requests/{key}/schedule`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Assessment {
    pub request: String,
    pub customer_zone: String,
    pub engineer: Option<String>,
    pub slots: Vec<SlotCheck>,
    pub suggested: Option<usize>,
    pub alternatives: Vec<Window>,
    pub downtime: Downtime,
    pub activity_error: Option<String>,
    pub schedule: Option<Schedule>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Engineer {
    pub username: String,
    pub display_name: String,
    pub zone: String,
    pub hours: String,
    pub hours_recorded: bool,
    pub exceptions: Vec<Exception>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Exception {
    pub id: String,
    pub kind: String,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub note: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Blackout {
    pub id: String,
    pub customer_id: Option<String>,
    pub kind: String,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub reason: String,
}

/// The reader's zone: its IANA name when the system has one.
pub fn zone_name(tz: &TimeZone) -> String {
    tz.iana_name().unwrap_or("local time").to_string()
}

/// `[start, end)` in `tz`, as valet shows slots: `Mon 2027-01-11 09:00–10:00 America/Chicago
/// (UTC−06:00)`.
pub fn range(start: Option<Timestamp>, end: Option<Timestamp>, tz: &TimeZone) -> String {
    match (start, end) {
        (Some(s), Some(e)) => valet_core::slot::display_range(s, e, tz, &zone_name(tz)),
        _ => "-".into(),
    }
}

/// `[start, end)` in the zone named `zone` (UTC when the name is unknown to this client).
fn range_in(start: Option<Timestamp>, end: Option<Timestamp>, zone: &str) -> String {
    match (start, end, TimeZone::get(zone)) {
        (Some(s), Some(e), Ok(tz)) => valet_core::slot::display_range(s, e, &tz, zone),
        _ => range(start, end, &TimeZone::UTC),
    }
}

/// Whether the reader's clock shows `zone`'s local time (then one display is enough).
fn same_zone(zone: &str, tz: &TimeZone) -> bool {
    tz.iana_name() == Some(zone)
}

/// Days and hours of notice: `23 d 4 h`.
pub fn notice(n: &Notice) -> String {
    let text = format!("{} d {} h", n.hours.div_euclid(24), n.hours.rem_euclid(24));
    if n.ok {
        text
    } else {
        format!("{text} SHORT (needs {} d)", n.required_days)
    }
}

/// Every warning of a slot, each on its own line under `by`; a DST overlap lists both
/// instants in the reader's zone and UTC.
fn slot_warnings(out: &mut String, s: &Slot, tz: &TimeZone, by: &str) {
    for w in &s.warnings {
        let _ = writeln!(out, "{by}warning ({}): {}", w.code, w.message);
        for (i, t) in w.instants.iter().enumerate() {
            let label = if i == 0 { "first " } else { "second" };
            let _ = writeln!(
                out,
                "{by}  {label} {}  = {}",
                time(Some(*t), tz),
                time(Some(*t), &TimeZone::UTC)
            );
        }
    }
}

/// After `request upgrade`: the request and each slot as read, in its own zone and the
/// reader's, with every warning (abbreviation, DST overlap, short notice).
pub fn upgrade_filed(r: &Request, tz: &TimeZone) -> String {
    let mut out = String::new();
    let d = &r.details;
    let _ = writeln!(out, "{}  {} (state {})", r.key, r.title, r.state);
    let _ = writeln!(out, "  {:<18} {}", "target build", scalar(&d["build"]));
    if d["needs_build_override"] == Value::Bool(true) {
        let _ = writeln!(
            out,
            "  {:<18} not the build validated in a signed-off VAL of this pair{}; the PM must \
             override `unvalidated_build` to schedule it",
            "",
            match d["validated_build"].as_str() {
                Some(v) => format!(" ({v})"),
                None => String::new(),
            }
        );
    }
    let _ = writeln!(
        out,
        "  {:<18} {} minutes",
        "downtime accepted",
        scalar(&d["downtime_minutes"])
    );
    let _ = writeln!(
        out,
        "  {:<18} {} days",
        "notice required",
        scalar(&d["notice_days"])
    );
    let slots: Vec<Slot> = serde_json::from_value(d["slots"].clone()).unwrap_or_default();
    let _ = writeln!(out, "Slots as read:");
    for (i, s) in slots.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {}{}",
            i + 1,
            range_in(s.start, s.end, &s.zone),
            if s.preferred { "  (preferred)" } else { "" }
        );
        let _ = writeln!(out, "     typed  {}", s.input);
        if !same_zone(&s.zone, tz) {
            let _ = writeln!(out, "     = {}", range(s.start, s.end, tz));
        }
        slot_warnings(&mut out, s, tz, "     ");
    }
    out
}

fn overrides_text(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|o| format!("{} — {}", scalar(&o["kind"]), scalar(&o["reason"])))
                .collect()
        })
        .unwrap_or_default()
}

/// A booking: the slot in its zone and the reader's, engineer, SEQUENCE, overrides.
pub fn schedule(out: &mut String, s: &Schedule, tz: &TimeZone, by: &str) {
    let which = if s.slot_index > 0 {
        format!("slot {}", s.slot_index)
    } else {
        "another window".to_string()
    };
    let _ = writeln!(
        out,
        "{by}{} {} ({which}): {}",
        s.request_key,
        s.state,
        range_in(s.start, s.end, &s.zone)
    );
    if !same_zone(&s.zone, tz) {
        let _ = writeln!(out, "{by}  = {}", range(s.start, s.end, tz));
    }
    let _ = writeln!(
        out,
        "{by}  engineer {} ({}), booked by {}, SEQUENCE {}",
        s.engineer_name, s.engineer, s.pm_name, s.sequence
    );
    for o in overrides_text(&s.overrides) {
        let _ = writeln!(out, "{by}  override (e-signed): {o}");
    }
}

/// One booking in a line of `schedule list`, in the slot's zone and the reader's.
pub fn schedule_line(s: &Schedule, tz: &TimeZone) -> String {
    let mut line = format!(
        "{:<8} {:<10} {:<24} {}",
        s.request_key,
        s.state,
        s.customer_name,
        range_in(s.start, s.end, &s.zone)
    );
    if !same_zone(&s.zone, tz) {
        let _ = write!(line, "  = {}", range(s.start, s.end, tz));
    }
    let _ = write!(line, "  engineer {}  SEQUENCE {}", s.engineer, s.sequence);
    line
}

/// A window as `valet schedule set --window` reads it, in `zone`.
pub fn window_arg(w: &Window, zone: &str) -> Option<String> {
    let tz = TimeZone::get(zone).ok()?;
    let s = w.start?.to_zoned(tz.clone());
    let e = w.end?.to_zoned(tz);
    Some(format!(
        "{} {}-{} {zone}",
        s.date(),
        s.strftime("%H:%M"),
        e.strftime("%H:%M")
    ))
}

fn pad(text: &str, width: usize) -> String {
    let n = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(n)))
}

/// `valet schedule suggest`: each slot (in its zone and the customer's) with notice, quiet-time
/// score, conflicts and feasibility; the suggestion, alternatives, expected downtime and the
/// current booking.
pub fn assessment(a: &Assessment, tz: &TimeZone) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} slot{}; customer's zone {}; engineer {}",
        a.request,
        a.slots.len(),
        if a.slots.len() == 1 { "" } else { "s" },
        a.customer_zone,
        a.engineer
            .as_deref()
            .unwrap_or("none given (pass --engineer U to check availability)")
    );
    let head = [
        "#".to_string(),
        "pref".into(),
        "slot (its zone)".into(),
        "customer's zone".into(),
        "notice".into(),
        "activity".into(),
        "feasible".into(),
    ];
    let rows: Vec<[String; 7]> = a
        .slots
        .iter()
        .map(|c| {
            [
                c.index.to_string(),
                if c.slot.preferred { "*" } else { "" }.into(),
                c.display.clone(),
                c.display_customer.clone(),
                notice(&c.notice),
                c.score.map(|s| format!("{s:.2}")).unwrap_or("-".into()),
                if c.feasible { "yes" } else { "NO" }.into(),
            ]
        })
        .collect();
    let mut widths = head.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 7]| {
        let parts: Vec<String> = cells.iter().zip(widths).map(|(c, w)| pad(c, w)).collect();
        format!("  {}", parts.join("  ").trim_end())
    };
    let _ = writeln!(out, "{}", line(&head));
    for (c, r) in a.slots.iter().zip(&rows) {
        let _ = writeln!(out, "{}", line(r));
        for k in &c.conflicts {
            let _ = writeln!(
                out,
                "       {} {}: {}",
                if k.blocking {
                    "BLOCKING  "
                } else {
                    "overridden"
                },
                k.kind,
                k.message
            );
        }
        slot_warnings(&mut out, &c.slot, tz, "       ");
    }
    if a.slots.iter().any(|c| c.score.is_some()) {
        let _ = writeln!(
            out,
            "  activity: data-collection events expected during the slot (lower is quieter)"
        );
    }
    match a.suggested {
        Some(i) => {
            let _ = writeln!(out, "\nSuggested: slot {i} (the quietest feasible)");
        }
        None => {
            let _ = writeln!(
                out,
                "\nSuggested: none; no slot is feasible as it stands: override a conflict \
                 (--override KIND=REASON) or book another --window"
            );
        }
    }
    if !a.alternatives.is_empty() {
        let _ = writeln!(out, "Alternatives (quieter feasible windows):");
        for w in &a.alternatives {
            let _ = writeln!(
                out,
                "  {}  activity {:.2}{}",
                w.display_customer,
                w.score,
                window_arg(w, &a.customer_zone)
                    .map(|arg| format!("  (--window '{arg}')"))
                    .unwrap_or_default()
            );
        }
    }
    if let Some(e) = &a.activity_error {
        let _ = writeln!(out, "Quiet time: not scored ({e})");
    }
    let d = &a.downtime;
    let accepted = d
        .accepted_minutes
        .map(|m| m.to_string())
        .unwrap_or_else(|| "none".into());
    if d.verdict == "unknown" {
        let _ = writeln!(
            out,
            "Expected downtime: unknown ({accepted} minutes accepted)"
        );
    } else {
        let _ = writeln!(
            out,
            "Expected downtime: {}–{} minutes vs {accepted} accepted: {}",
            d.low_minutes, d.high_minutes, d.verdict
        );
    }
    if !d.basis.is_empty() {
        let _ = writeln!(out, "  basis: {}", d.basis);
    }
    match &a.schedule {
        Some(s) => {
            let _ = writeln!(out, "Booking:");
            schedule(&mut out, s, tz, "  ");
        }
        None => {
            let _ = writeln!(out, "Booking: none yet");
        }
    }
    out
}

/// One engineer: hours in their zone (recorded or the vendor's default), then exceptions.
pub fn engineer(out: &mut String, e: &Engineer, tz: &TimeZone) {
    let _ = writeln!(
        out,
        "{:<16} {:<24} {:<20} {}{}",
        e.username,
        e.display_name,
        e.zone,
        e.hours,
        if e.hours_recorded {
            ""
        } else {
            "  (vendor default)"
        }
    );
    for x in &e.exceptions {
        let _ = writeln!(
            out,
            "  {:<8} {} → {}  {}",
            x.kind,
            time(x.start, tz),
            time(x.end, tz),
            x.note
        );
    }
}

/// One blackout or freeze, in a line.
pub fn blackout_line(b: &Blackout, tz: &TimeZone) -> String {
    format!(
        "{:<36} {:<8} {:<36} {} → {}  {}",
        b.id,
        b.kind,
        b.customer_id.as_deref().unwrap_or("(all customers)"),
        time(b.start, tz),
        time(b.end, tz),
        b.reason
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `RequestView` as the API serialises it (field names of valet-ops' `RequestView`).
    const SAMPLE: &str = r#"{
      "request": {"id":"r1","key":"VAL-3","kind":"val","customer_id":"c1",
        "customer_name":"Acme Research","state":"in_progress","held_from":null,
        "title":"VAL of PROD-1 at 24.3.0.1300",
        "details":{"kind":"new","pair_id":"p1","pair_label":"PROD-1","build":"24.3.0.1300",
          "begin":"2027-01-04","end":"2027-03-01","sso_required":true,
          "sso_metadata":"<EntityDescriptor/>","lab":null,"purpose":"24.3 cycle",
          "refresh_of":null,"val_pair_id":"VAL-3","provisioned":true,
          "signed_off":{"at":"2027-02-20T09:30:00.123456789Z","by":"Carla Customer","signature":"s9"},
          "close_after_prod_upgrade":"2027-03-15T10:00:00.5Z","extension_requested":"later"},
        "created_by":"u1","created_by_name":"Carla Customer",
        "created_at":"2026-11-30T20:05:13Z","updated_at":"2026-12-01T08:00:00Z"},
      "content_sha256":"bbbb",
      "signatures":[{"id":"s1","object_type":"request","object_id":"VAL-3","signer_id":"u2",
        "username":"pm.paula","printed_name":"Paula PM","meaning":"approved",
        "signed_at":"2026-11-30T21:00:00Z","signer_zone":"Europe/Berlin",
        "signed_at_local":"2026-11-30 22:00:00 CET (Europe/Berlin)","record_sha256":"aaaa",
        "reason":null,"changed_after_signing":true}],
      "runs":[{"id":"run-1","request_id":"r1","request_key":"VAL-3","customer_id":"c1",
        "kind":"provision","state":"succeeded","job_id":"j1","error":null,
        "created_at":"2026-11-30T21:00:01Z","started_at":"2026-11-30T21:00:02Z",
        "finished_at":"2026-11-30T21:04:14Z",
        "steps":[{"seq":1,"name":"snapshot","env":"PROD-1-MAIN","state":"done","attempts":1,
          "started_at":"2026-11-30T21:00:02Z","finished_at":"2026-11-30T21:00:14Z",
          "duration_ms":12300,"log":"ok","artifacts":{}},
          {"seq":2,"name":"leak_scan","env":null,"state":"done","attempts":2,
          "started_at":null,"finished_at":null,"duration_ms":850,"log":"","artifacts":{}}]}],
      "findings":[{"id":"f1","key":"F-1","request_key":"VAL-3","customer_id":"c1",
        "title":"Dashboard totals off","severity":"major","area":"configuration_item",
        "steps":"open the dashboard","state":"open","created_by":"Carla Customer",
        "created_at":"2026-12-01T09:00:00Z","resolution":null,"closed_by":null,
        "closed_at":null,"comments":[]}],
      "documents":[{"id":"IQ-VAL-3-1","request_key":"VAL-3","customer_id":"c1","kind":"iq",
        "title":"IQ report VAL-3","sha256":"cccc","created_by":"worker",
        "created_at":"2026-11-30T21:04:10Z"}],
      "comments":[{"id":"k1","author_id":"u1","author_name":"Carla Customer",
        "body":"Please hurry.\nThanks","created_at":"2026-11-30T20:06:00Z"}],
      "watchers":[{"user_id":"u1","username":"carla","display_name":"Carla","email":null}],
      "attachments":[],
      "val_pair":null
    }"#;

    #[test]
    fn request_view_shows_every_section() {
        let v: RequestView = serde_json::from_str(SAMPLE).unwrap();
        let text = request(&v, &TimeZone::UTC);
        for want in [
            "VAL-3  VAL of PROD-1 at 24.3.0.1300",
            "state            in_progress",
            "customer         Acme Research",
            "filed            2026-11-30 20:05:13 UTC by Carla Customer",
            "PROD pair        PROD-1",
            "target build     24.3.0.1300",
            "validation to    2027-03-01",
            "SSO metadata     IdP XML, 19 bytes",
            "approved       Paula PM (pm.paula)  2026-11-30 22:00:00 CET (Europe/Berlin)  CHANGED AFTER SIGNING",
            "signed content sha256 aaaa differs from the current bbbb",
            "run run-1  provision  SUCCEEDED",
            "total 4m 12s",
            " 1. snapshot                 PROD-1-MAIN  done     1 attempt  12.3s",
            " 2. leak_scan                -            done     2 attempts  850ms",
            "F-1    open      major    configuration_item Dashboard totals off",
            "IQ-VAL-3-1",
            "2026-11-30 20:06:00 UTC Carla Customer:\n    Please hurry.\n    Thanks",
            "watchers         carla",
            "signed off       by Carla Customer at 2027-02-20 09:30:00 UTC",
            "closes           2027-03-15 10:00:00 UTC (after the PROD upgrade to its build)",
            "extension requested later",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains("lab "), "null details are left out:\n{text}");
    }

    #[test]
    fn unchanged_signature_is_not_flagged() {
        let mut v: RequestView = serde_json::from_str(SAMPLE).unwrap();
        v.signatures[0].changed_after_signing = false;
        assert!(!request(&v, &TimeZone::UTC).contains("CHANGED AFTER SIGNING"));
    }

    /// An upgrade request as `POST /requests/upgrade` answers it.
    const UPGRADE: &str = r#"{"key":"UPG-1","kind":"upgrade","customer_name":"Acme",
      "state":"submitted","title":"Upgrade Acme PROD to 24.3.0.1300",
      "details":{"pair_id":"p1","build":"24.3.0.1300","validated_build":"24.2.1.1201",
        "validated_in":"VAL-2","needs_build_override":true,"downtime_minutes":90,
        "notice_days":21,"note":null,"slots":[
        {"start":"2027-10-31T00:30:00Z","end":"2027-10-31T02:30:00Z","zone":"Europe/Berlin",
         "preferred":true,"input":"2027-10-31 02:30-03:30 Europe/Berlin","warnings":[
          {"code":"dst_overlap","message":"the start 2027-10-31 02:30 happens twice",
           "instants":["2027-10-31T00:30:00Z","2027-10-31T01:30:00Z"]},
          {"code":"short_notice","message":"only 3 days 2 h of notice"}]}]}}"#;

    #[test]
    fn filed_upgrade_shows_each_slot_with_every_warning_and_both_overlap_instants() {
        let r: Request = serde_json::from_str(UPGRADE).unwrap();
        let tz = TimeZone::get("America/Chicago").unwrap();
        let text = upgrade_filed(&r, &tz);
        for want in [
            "UPG-1  Upgrade Acme PROD to 24.3.0.1300 (state submitted)",
            "not the build validated in a signed-off VAL of this pair (24.2.1.1201)",
            "1. Sun 2027-10-31 02:30–03:30 Europe/Berlin (UTC+02:00)  (preferred)",
            "typed  2027-10-31 02:30-03:30 Europe/Berlin",
            "= Sat 2027-10-30 19:30–21:30 America/Chicago (UTC−05:00)",
            "warning (dst_overlap): the start 2027-10-31 02:30 happens twice",
            "first  2027-10-30 19:30:00 CDT  = 2027-10-31 00:30:00 UTC",
            "second 2027-10-30 20:30:00 CDT  = 2027-10-31 01:30:00 UTC",
            "warning (short_notice): only 3 days 2 h of notice",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn assessment_lists_slots_conflicts_suggestion_and_downtime() {
        let a: Assessment = serde_json::from_value(serde_json::json!({
            "request": "UPG-1", "customer_zone": "Europe/Berlin", "engineer": "eddie",
            "slots": [{"index": 1, "slot": {"preferred": true, "zone": "UTC"},
              "display": "Mon 2027-01-11 09:00–10:00 UTC (UTC)",
              "display_customer": "Mon 2027-01-11 10:00–11:00 Europe/Berlin (UTC+01:00)",
              "notice": {"required_days": 21, "hours": 500, "ok": false}, "score": 1.5,
              "conflicts": [{"kind": "short_notice", "message": "only 20 days", "blocking": true}],
              "feasible": false}],
            "suggested": null,
            "alternatives": [{"start": "2027-01-12T13:00:00Z", "end": "2027-01-12T14:00:00Z",
              "display_customer": "Tue 2027-01-12 14:00–15:00 Europe/Berlin (UTC+01:00)",
              "score": 0.25}],
            "downtime": {"low_minutes": 12, "high_minutes": 18, "accepted_minutes": 15,
              "verdict": "may_exceed", "basis": "VAL-2's dry run"},
            "schedule": null
        }))
        .unwrap();
        let text = assessment(&a, &TimeZone::UTC);
        for want in [
            "UPG-1: 1 slot; customer's zone Europe/Berlin; engineer eddie",
            "20 d 20 h SHORT (needs 21 d)",
            "1.50",
            "BLOCKING   short_notice: only 20 days",
            "Suggested: none",
            "Tue 2027-01-12 14:00–15:00 Europe/Berlin (UTC+01:00)  activity 0.25  (--window '2027-01-12 14:00-15:00 Europe/Berlin')",
            "Expected downtime: 12–18 minutes vs 15 accepted: may_exceed",
            "basis: VAL-2's dry run",
            "Booking: none yet",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn durations_read_like_a_person_says_them() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_300), "12.3s");
        assert_eq!(duration(252_000), "4m 12s");
        assert_eq!(duration(3_720_000), "1h 02m");
    }

    #[test]
    fn run_total_falls_back_to_the_steps_while_running() {
        let mut v: RequestView = serde_json::from_str(SAMPLE).unwrap();
        let r = &mut v.runs[0];
        r.finished_at = None;
        assert_eq!(run_total_ms(r), Some(12_300 + 850));
    }
}
