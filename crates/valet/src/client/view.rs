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
fn details(out: &mut String, d: &Value) {
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
    ];
    for (k, label) in known {
        let Some(v) = map.get(*k) else { continue };
        if v.is_null() {
            continue;
        }
        let text = match (*k, v) {
            ("sso_metadata", Value::String(s)) if !s.trim_start().starts_with("http") => {
                format!("IdP XML, {} bytes", s.len())
            }
            _ => scalar(v),
        };
        let _ = writeln!(out, "  {label:<16} {text}");
    }
    for (k, v) in map {
        if known.iter().any(|(name, _)| name == k) || v.is_null() {
            continue;
        }
        let _ = writeln!(out, "  {k:<16} {}", scalar(v));
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
    details(&mut out, &r.details);
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
          "refresh_of":null,"val_pair_id":"VAL-3","provisioned":true},
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
