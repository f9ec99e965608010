//! The installation qualification (IQ) report of a VAL provisioning run, as HTML and PDF.
//!
//! [`IqReport`] is plain data, filled by the provisioning run and stored as JSON; the renderers
//! only format it. Before anything is rendered, captured values go through [`IqReport::redacted`]
//! so that secrets in the startup capture or configuration never reach a document. Each page
//! carries the uncontrolled-copy notice, the document id and the content hash
//! ([`IqReport::content_sha256`]) of what it shows.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::pdf::{Column, Flow, Style};

/// The notice every page of a controlled document carries.
pub const UNCONTROLLED: &str = "Exported and printed copies are uncontrolled.";

/// What replaces a secret value.
pub const REDACTED: &str = "***";

/// Everything an IQ report states about one provisioning run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IqReport {
    /// Controlled document id, e.g. `IQ-VAL-12-1` (request key and revision).
    pub document_id: String,
    /// The request the run served, e.g. `VAL-12`.
    pub request_key: String,
    /// Customer (tenant) display name.
    pub customer: String,
    pub generated_at: Timestamp,
    /// Username of the person (or worker acting for them) that produced the report.
    pub generated_by: String,
    /// Release version, e.g. `24.2`.
    pub version: String,
    /// Exact build installed, e.g. `24.2.0.1187`.
    pub build: String,
    /// Where the installed artifact came from (path, URL or image reference).
    pub artifact_reference: String,
    /// SHA-256 (hex) of the artifact as installed.
    pub artifact_sha256: String,
    /// The environments installed, usually the VAL pair (Main and Test).
    pub environments: Vec<IqEnvironment>,
    /// Migrations applied, with their timings (the dry run of the PROD upgrade).
    pub migrations: Vec<IqMigration>,
    /// The run's steps in order.
    pub steps: Vec<IqStep>,
    /// E-signatures on the report; empty until someone signs.
    pub signatures: Vec<IqSignature>,
}

/// One installed environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IqEnvironment {
    /// Environment name, e.g. `VAL-MAIN`.
    pub name: String,
    /// `MAIN` or `TEST`.
    pub role: String,
    pub base_url: String,
    /// Database location with any password already replaced (redacted again when rendered).
    pub database: String,
    /// Startup capture of the application server: runtime versions and environment variables.
    pub startup: BTreeMap<String, String>,
    /// The app's configuration report (setting → value).
    pub configuration: BTreeMap<String, String>,
    pub masking: IqMasking,
    /// Health check result after start, e.g. `200 OK in 412 ms`.
    pub health: String,
    /// What the app's `/version` endpoint answered.
    pub version_endpoint: String,
}

/// What the masking clone did to one environment's database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IqMasking {
    /// Policy name or file.
    pub policy: String,
    /// SHA-256 (hex) of the policy text the clone ran with.
    pub policy_sha256: String,
    /// Database engine, e.g. `postgresql 16.4`.
    pub engine: String,
    /// Rows copied, all tables.
    pub total_rows: u64,
    /// Rows copied and columns masked, per table.
    pub tables: Vec<IqMaskedTable>,
    /// Masked columns (`table.column`) grouped by the transformer that masked them.
    pub columns_by_transformer: BTreeMap<String, Vec<String>>,
    pub leak_scan: IqLeakScan,
}

/// Rows copied and columns masked in one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IqMaskedTable {
    pub table: String,
    pub rows: u64,
    pub masked_columns: Vec<String>,
}

/// Outcome of the leak scan: no PII value of PROD may appear anywhere in VAL.
///
/// Only counts are kept: a hit is itself a PII value and must not reach a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IqLeakScan {
    pub passed: bool,
    /// Distinct PROD PII values indexed for the scan.
    pub values_indexed: u64,
    /// VAL values compared against the index.
    pub target_values_scanned: u64,
    /// VAL values that matched a PROD PII value.
    pub hits: u64,
}

/// One step of the provisioning run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IqStep {
    pub name: String,
    /// The environment the step worked on, if only one.
    pub env: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub duration_ms: u64,
    pub attempts: u32,
    /// Final state, e.g. `done`, `skipped`, `failed`.
    pub state: String,
}

/// One applied migration bundle, timed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IqMigration {
    pub env: String,
    /// Release whose migrations were applied, e.g. `24.3`.
    pub release: String,
    pub duration_ms: u64,
}

/// An e-signature on the report (21 CFR 11.50: printed name, date and time, meaning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IqSignature {
    pub printed_name: String,
    pub username: String,
    /// `review`, `approval` or `responsibility`.
    pub meaning: String,
    pub signed_at: Timestamp,
    /// `signed_at` in the signer's zone, e.g. `2027-01-11 09:14 America/Chicago (UTC-06:00)`.
    pub signed_at_local: String,
    /// SHA-256 (hex) of the record the signature is bound to.
    pub record_sha256: String,
    /// The record no longer hashes to `record_sha256`.
    pub changed_after_signing: bool,
}

/// The signatures an IQ report asks for, in order: meaning and the block's heading.
const REQUIRED_SIGNATURES: [(&str, &str); 2] =
    [("review", "Reviewed by"), ("approval", "Approved by")];

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl IqReport {
    /// SHA-256 (hex) of the canonical JSON of the whole report (keys sorted at every level).
    ///
    /// The document shows the hash of what it renders, i.e. of [`IqReport::redacted`];
    /// redaction is idempotent, so a stored redacted report hashes to the printed value.
    pub fn content_sha256(&self) -> String {
        let value = serde_json::to_value(self).expect("an IqReport always serialises to JSON");
        sha256_hex(valet_store::audit::canonical_json(&value).as_bytes())
    }

    /// Content hash without the signature blocks: what a signature binds to, so that adding
    /// one signature does not invalidate the ones before it.
    pub fn unsigned_content_sha256(&self) -> String {
        IqReport {
            signatures: Vec::new(),
            ..self.clone()
        }
        .content_sha256()
    }

    /// The report with secrets replaced by `***` in every captured value: startup capture and
    /// configuration report (see [`redact_environment`]), database, URLs and artifact reference.
    pub fn redacted(&self) -> IqReport {
        let mut r = self.clone();
        r.artifact_reference = redact_value(&r.artifact_reference);
        for e in &mut r.environments {
            e.startup = redact_environment(&e.startup);
            e.configuration = redact_environment(&e.configuration);
            e.database = redact_value(&e.database);
            e.base_url = redact_value(&e.base_url);
            e.version_endpoint = redact_value(&e.version_endpoint);
            e.health = redact_value(&e.health);
        }
        r
    }
}

/// Name fragments that mark a key as secret (compared case-insensitively, anywhere in the
/// name). Broad on purpose: a redacted harmless value costs less than a printed secret.
const SECRET_WORDS: [&str; 9] = [
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "SECRET",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
    "PRIVATE",
    "SIGNATURE",
];

/// Whether a variable or setting name looks like it holds a secret.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| k.contains(w))
}

/// Secrets replaced by `***`: every value whose key looks secret ([`is_secret_key`]), and in
/// the other values, passwords in URLs and secret `name=value` parameters ([`redact_value`]).
pub fn redact_environment(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| {
            let v = if is_secret_key(k) && !v.is_empty() {
                REDACTED.to_string()
            } else {
                redact_value(v)
            };
            (k.clone(), v)
        })
        .collect()
}

/// Secrets inside one value replaced by `***`: the password of any `scheme://user:password@`
/// URL (also inside longer text, e.g. `jdbc:` URLs or JVM options), and the value of any
/// `name=value` pair whose name looks secret (URL query, libpq or ADO.NET connection strings,
/// `-Dsome.password=…`). Idempotent.
pub fn redact_value(value: &str) -> String {
    redact_pairs(&redact_userinfo(value))
}

/// Characters that end an unquoted parameter value (a secret may contain `/`, `?` or `#`).
fn ends_token(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '&')
}

fn redact_userinfo(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '/' | '?' | '#' | '"' | '\''))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str(REDACTED);
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

fn redact_pairs(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(eq) = rest.find('=') {
        let (head, tail) = (&rest[..eq], &rest[eq + 1..]);
        out.push_str(head);
        out.push('=');
        let name_start = head
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_name_char(*c))
            .last()
            .map_or(head.len(), |(i, _)| i);
        let name = &head[name_start..];
        let quote = tail.chars().next().filter(|c| *c == '"' || *c == '\'');
        let end = match quote {
            Some(q) => tail[1..].find(q).map_or(tail.len(), |j| j + 2),
            None => tail.find(ends_token).unwrap_or(tail.len()),
        };
        let val = &tail[..end];
        if is_secret_key(name) && !val.is_empty() {
            match quote {
                Some(q) => {
                    out.push(q);
                    out.push_str(REDACTED);
                    out.push(q);
                }
                None => out.push_str(REDACTED),
            }
        } else {
            out.push_str(val);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// The view: every string a document shows, formatted once, so HTML and PDF say the same.

#[derive(Debug, Serialize)]
struct Pair {
    k: String,
    v: String,
}

fn pair(k: &str, v: impl Into<String>) -> Pair {
    Pair {
        k: k.to_string(),
        v: v.into(),
    }
}

#[derive(Debug, Serialize)]
struct View {
    title: String,
    subtitle: String,
    document_id: String,
    content_sha256: String,
    uncontrolled: &'static str,
    identity: Vec<Pair>,
    build: Vec<Pair>,
    environments: Vec<EnvView>,
    migrations: Vec<[String; 3]>,
    migrations_total: String,
    steps: Vec<StepView>,
    steps_total: String,
    signatures: Vec<SigView>,
    unsigned: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
struct EnvView {
    name: String,
    role: String,
    overview: Vec<Pair>,
    startup: Vec<Pair>,
    configuration: Vec<Pair>,
    masking: Vec<Pair>,
    tables: Vec<[String; 3]>,
    transformers: Vec<[String; 3]>,
    leak_passed: bool,
    leak_verdict: String,
    leak: Vec<Pair>,
}

#[derive(Debug, Serialize)]
struct StepView {
    name: String,
    env: String,
    started: String,
    finished: String,
    duration: String,
    attempts: String,
    state: String,
}

#[derive(Debug, Serialize)]
struct SigView {
    heading: String,
    fields: Vec<Pair>,
    changed: bool,
}

const REPORT_TITLE: &str = "Installation Qualification Report";

/// `2027-01-11 14:03:22 UTC`.
fn utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `1,234,567`.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `850 ms`, `12.4 s`, `3 min 05.2 s`, `1 h 02 min 05 s`.
fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!(
            "{} min {:04.1} s",
            ms / 60_000,
            (ms % 60_000) as f64 / 1000.0
        ),
        _ => format!(
            "{} h {:02} min {:02} s",
            ms / 3_600_000,
            ms % 3_600_000 / 60_000,
            ms % 60_000 / 1000
        ),
    }
}

fn meaning_heading(meaning: &str) -> String {
    match meaning.trim().to_ascii_lowercase().as_str() {
        "review" | "reviewed" => "Reviewed by".to_string(),
        "approval" | "approved" => "Approved by".to_string(),
        "responsibility" => "Responsibility of".to_string(),
        other => format!("Signed ({other}) by"),
    }
}

fn pairs(map: &BTreeMap<String, String>) -> Vec<Pair> {
    map.iter().map(|(k, v)| pair(k, v.clone())).collect()
}

fn leak_verdict(l: &IqLeakScan) -> String {
    if l.passed {
        format!(
            "PASSED - no production PII value found in the VAL database ({} hits)",
            count(l.hits)
        )
    } else {
        format!(
            "FAILED - {} production PII values found in the VAL database",
            count(l.hits)
        )
    }
}

fn env_view(e: &IqEnvironment) -> EnvView {
    let m = &e.masking;
    let masked_columns: usize = m.tables.iter().map(|t| t.masked_columns.len()).sum();
    EnvView {
        name: e.name.clone(),
        role: e.role.clone(),
        overview: vec![
            pair("Environment", e.name.clone()),
            pair("Role", e.role.clone()),
            pair("Base URL", e.base_url.clone()),
            pair("Database", e.database.clone()),
            pair("Health check", e.health.clone()),
            pair("/version answered", e.version_endpoint.clone()),
        ],
        startup: pairs(&e.startup),
        configuration: pairs(&e.configuration),
        masking: vec![
            pair("Policy", m.policy.clone()),
            pair("Policy SHA-256", m.policy_sha256.clone()),
            pair("Engine", m.engine.clone()),
            pair("Tables copied", count(m.tables.len() as u64)),
            pair("Rows copied", count(m.total_rows)),
            pair("Columns masked", count(masked_columns as u64)),
        ],
        tables: m
            .tables
            .iter()
            .map(|t| {
                [
                    t.table.clone(),
                    count(t.rows),
                    if t.masked_columns.is_empty() {
                        "-".to_string()
                    } else {
                        t.masked_columns.join(", ")
                    },
                ]
            })
            .collect(),
        transformers: m
            .columns_by_transformer
            .iter()
            .map(|(t, cols)| [t.clone(), count(cols.len() as u64), cols.join(", ")])
            .collect(),
        leak_passed: m.leak_scan.passed,
        leak_verdict: leak_verdict(&m.leak_scan),
        leak: vec![
            pair("PROD PII values indexed", count(m.leak_scan.values_indexed)),
            pair(
                "VAL values scanned",
                count(m.leak_scan.target_values_scanned),
            ),
            pair("Hits", count(m.leak_scan.hits)),
        ],
    }
}

fn view(report: &IqReport) -> View {
    let r = report.redacted();
    let envs: Vec<&str> = r.environments.iter().map(|e| e.name.as_str()).collect();
    let content_sha256 = r.content_sha256();
    let signatures: Vec<SigView> = r
        .signatures
        .iter()
        .map(|s| SigView {
            heading: meaning_heading(&s.meaning),
            fields: vec![
                pair("Printed name", s.printed_name.clone()),
                pair("Username", s.username.clone()),
                pair("Meaning", s.meaning.clone()),
                pair("Signed at (UTC)", utc(s.signed_at)),
                pair("Signed at (signer's time)", s.signed_at_local.clone()),
                pair("Signed record SHA-256", s.record_sha256.clone()),
            ],
            changed: s.changed_after_signing,
        })
        .collect();
    let unsigned = REQUIRED_SIGNATURES
        .iter()
        .filter(|(_, heading)| !signatures.iter().any(|s| s.heading == *heading))
        .map(|(_, heading)| *heading)
        .collect();
    View {
        title: REPORT_TITLE.to_string(),
        subtitle: format!(
            "{} - {} {} (build {})",
            r.customer,
            envs.join(" + "),
            r.version,
            r.build
        ),
        document_id: r.document_id.clone(),
        identity: vec![
            pair("Document ID", r.document_id.clone()),
            pair("Request", r.request_key.clone()),
            pair("Customer", r.customer.clone()),
            pair("Environments", envs.join(", ")),
            pair("Generated at", utc(r.generated_at)),
            pair("Generated by", r.generated_by.clone()),
            pair("Content SHA-256", content_sha256.clone()),
        ],
        build: vec![
            pair("Version", r.version.clone()),
            pair("Build", r.build.clone()),
            pair("Artifact", r.artifact_reference.clone()),
            pair("Artifact SHA-256", r.artifact_sha256.clone()),
        ],
        content_sha256,
        uncontrolled: UNCONTROLLED,
        environments: r.environments.iter().map(env_view).collect(),
        migrations: r
            .migrations
            .iter()
            .map(|m| [m.env.clone(), m.release.clone(), duration(m.duration_ms)])
            .collect(),
        migrations_total: duration(r.migrations.iter().map(|m| m.duration_ms).sum()),
        steps: r
            .steps
            .iter()
            .map(|s| StepView {
                name: s.name.clone(),
                env: s.env.clone().unwrap_or_else(|| "-".to_string()),
                started: s.started_at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                finished: s.finished_at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                duration: duration(s.duration_ms),
                attempts: s.attempts.to_string(),
                state: s.state.clone(),
            })
            .collect(),
        steps_total: duration(r.steps.iter().map(|s| s.duration_ms).sum()),
        signatures,
        unsigned,
    }
}

// ---------------------------------------------------------------------------------------------
// HTML

const HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ v.document_id }} {{ v.title }}</title>
<style>
@page { size: A4; margin: 18mm 16mm 26mm 16mm; }
body { font-family: "Helvetica Neue", Helvetica, Arial, sans-serif; font-size: 10pt; color: #1a1a1a; line-height: 1.4; max-width: 62rem; margin: 2rem auto 6rem; padding: 0 1rem; }
h1 { font-size: 18pt; margin: 0 0 .2rem; } .subtitle { color: #444; margin: 0 0 1.2rem; }
h2 { font-size: 13pt; border-bottom: 1px solid #999; padding-bottom: .15rem; margin-top: 1.8rem; break-after: avoid; }
h3 { font-size: 11pt; margin: 1.2rem 0 .4rem; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 .8rem; font-size: 9pt; }
th, td { text-align: left; vertical-align: top; padding: .22rem .5rem; border-bottom: 1px solid #d4d4d4; }
thead th { background: #dce3ed; border-bottom: 1.5px solid #777; }
tbody tr:nth-child(even) { background: #f6f6f6; }
tr { break-inside: avoid; }
table.kv th { width: 28%; background: none; font-weight: 600; color: #333; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono, table.kv td.mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 8.5pt; word-break: break-all; }
.verdict { padding: .4rem .7rem; border-left: 4px solid; font-weight: 600; }
.verdict.pass { border-color: #2e7d32; background: #eef7ee; } .verdict.fail { border-color: #a40000; background: #fff0f0; color: #a40000; }
.changed { color: #a40000; font-weight: 600; }
.sig { border: 1px solid #bbb; padding: .6rem .9rem; margin: .8rem 0; break-inside: avoid; }
.sig h3 { margin-top: 0; }
.lines { display: flex; gap: 1.5rem; margin-top: 2.2rem; }
.lines div { flex: 1; border-top: 1px solid #333; padding-top: .15rem; font-size: 8pt; color: #444; }
footer { margin-top: 2.5rem; border-top: 1px solid #999; padding-top: .3rem; font-size: 8pt; color: #333; }
footer strong { display: block; }
@media print {
  body { margin: 0; max-width: none; padding: 0; }
  footer { position: fixed; bottom: 0; left: 0; right: 0; margin: 0; background: #fff; }
  a { color: inherit; text-decoration: none; }
}
</style></head><body>
<header>
<h1>{{ v.title }}</h1>
<p class="subtitle">{{ v.subtitle }}</p>
</header>
{%- macro kv(rows, mono=[]) %}
<table class="kv"><tbody>
{%- for p in rows %}
<tr><th scope="row">{{ p.k }}</th><td{% if p.k in mono %} class="mono"{% endif %}>{{ p.v }}</td></tr>
{%- endfor %}
</tbody></table>
{%- endmacro %}

<h2>1 Identity</h2>
{{ kv(v.identity, ["Document ID", "Content SHA-256"]) }}

<h2>2 Build and artifact checksums</h2>
{{ kv(v.build, ["Build", "Artifact", "Artifact SHA-256"]) }}

{% for e in v.environments %}{% set n = loop.index + 2 %}
<h2>{{ n }} Environment {{ e.name }} ({{ e.role }})</h2>
{{ kv(e.overview, ["Base URL", "Database"]) }}
<h3>{{ n }}.1 Startup capture</h3>
<p>Runtime versions and environment of the application server at start-up; secret values are replaced by <code>***</code>.</p>
<table><thead><tr><th>Variable</th><th>Value</th></tr></thead><tbody>
{%- for p in e.startup %}
<tr><td class="mono">{{ p.k }}</td><td class="mono">{{ p.v }}</td></tr>
{%- else %}
<tr><td colspan="2">Nothing was captured.</td></tr>
{%- endfor %}
</tbody></table>
<h3>{{ n }}.2 Configuration report</h3>
<table><thead><tr><th>Setting</th><th>Value</th></tr></thead><tbody>
{%- for p in e.configuration %}
<tr><td class="mono">{{ p.k }}</td><td>{{ p.v }}</td></tr>
{%- else %}
<tr><td colspan="2">The configuration report is empty.</td></tr>
{%- endfor %}
</tbody></table>
<h3>{{ n }}.3 Masking report</h3>
{{ kv(e.masking, ["Policy SHA-256"]) }}
<table><thead><tr><th>Table</th><th class="num">Rows</th><th>Masked columns</th></tr></thead><tbody>
{%- for t in e.tables %}
<tr><td class="mono">{{ t[0] }}</td><td class="num">{{ t[1] }}</td><td>{{ t[2] }}</td></tr>
{%- endfor %}
</tbody></table>
<table><thead><tr><th>Transformer</th><th class="num">Columns</th><th>Masked columns</th></tr></thead><tbody>
{%- for t in e.transformers %}
<tr><td class="mono">{{ t[0] }}</td><td class="num">{{ t[1] }}</td><td>{{ t[2] }}</td></tr>
{%- endfor %}
</tbody></table>
<h3>{{ n }}.4 Leak scan</h3>
<p class="verdict {% if e.leak_passed %}pass{% else %}fail{% endif %}">Leak scan {{ e.leak_verdict }}</p>
{{ kv(e.leak) }}
{% endfor %}
{% set n = v.environments | length + 3 %}
<h2>{{ n }} Migrations</h2>
<table><thead><tr><th>Environment</th><th>Release</th><th class="num">Duration</th></tr></thead><tbody>
{%- for m in v.migrations %}
<tr><td>{{ m[0] }}</td><td>{{ m[1] }}</td><td class="num">{{ m[2] }}</td></tr>
{%- else %}
<tr><td colspan="3">No migrations were applied.</td></tr>
{%- endfor %}
<tr><th colspan="2">Total</th><th class="num">{{ v.migrations_total }}</th></tr>
</tbody></table>

<h2>{{ n + 1 }} Step timings</h2>
<table><thead><tr><th>Step</th><th>Environment</th><th>Started (UTC)</th><th>Finished (UTC)</th><th class="num">Duration</th><th class="num">Attempts</th><th>State</th></tr></thead><tbody>
{%- for s in v.steps %}
<tr><td>{{ s.name }}</td><td>{{ s.env }}</td><td>{{ s.started }}</td><td>{{ s.finished }}</td><td class="num">{{ s.duration }}</td><td class="num">{{ s.attempts }}</td><td>{{ s.state }}</td></tr>
{%- endfor %}
<tr><th colspan="4">Total</th><th class="num">{{ v.steps_total }}</th><th colspan="2"></th></tr>
</tbody></table>

<h2>{{ n + 2 }} Signatures</h2>
{%- for s in v.signatures %}
<div class="sig"><h3>{{ s.heading }}</h3>
{% if s.changed %}<p class="changed">The record changed after this signature: it does not cover the content shown.</p>{% endif %}
{{ kv(s.fields, ["Signed record SHA-256"]) }}
</div>
{%- endfor %}
{%- for heading in v.unsigned %}
<div class="sig"><h3>{{ heading }}</h3>
<div class="lines"><div>Signature</div><div>Printed name</div><div>Date and time (UTC)</div></div>
</div>
{%- endfor %}

<footer><strong>{{ v.uncontrolled }}</strong>
Document {{ v.document_id }} &middot; content SHA-256 <span class="mono">{{ v.content_sha256 }}</span></footer>
</body></html>
"#;

/// The report as a standalone, printable HTML page (secrets redacted, text escaped).
pub fn render_html(report: &IqReport) -> String {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("iq.html", HTML)
        .expect("the IQ template is valid");
    env.get_template("iq.html")
        .and_then(|t| t.render(minijinja::context! { v => view(report) }))
        .expect("the IQ view renders")
}

// ---------------------------------------------------------------------------------------------
// PDF

fn kv_columns() -> [Column; 2] {
    [Column::left("", 1.0), Column::left("", 3.0)]
}

fn kv_mono_columns() -> [Column; 2] {
    [Column::left("", 1.0), Column::mono("", 3.0)]
}

fn kv_rows(rows: &[Pair], mono: &[&str], f: &mut Flow) {
    // Rows whose value is an identifier or hash are set in Courier, one table per run of rows.
    let mut i = 0;
    while i < rows.len() {
        let is_mono = mono.contains(&rows[i].k.as_str());
        let run: Vec<Vec<String>> = rows[i..]
            .iter()
            .take_while(|p| mono.contains(&p.k.as_str()) == is_mono)
            .map(|p| vec![p.k.clone(), p.v.clone()])
            .collect();
        i += run.len();
        let cols = if is_mono {
            kv_mono_columns()
        } else {
            kv_columns()
        };
        f.table(&cols, &run, false);
        f.space(-2.0);
    }
    f.space(2.0);
}

/// The report as PDF: the same content as [`render_html`], with the uncontrolled-copy notice,
/// document id, content hash and "Page n of m" on every page.
pub fn render_pdf(report: &IqReport) -> Result<Vec<u8>, printpdf::Error> {
    let v = view(report);
    let footer = format!(
        "{}\nDocument {}  -  content SHA-256 {}",
        v.uncontrolled, v.document_id, v.content_sha256
    );
    let mut f = Flow::new(&format!("{} {}", v.document_id, v.title), &footer)?;
    f.text(Style::Title, 0.0, &v.title);
    f.space(1.0);
    f.text(Style::Body, 0.0, &v.subtitle);
    f.space(4.0);

    f.text(Style::Heading, 0.0, "1 Identity");
    kv_rows(&v.identity, &["Document ID", "Content SHA-256"], &mut f);
    f.space(3.0);
    f.text(Style::Heading, 0.0, "2 Build and artifact checksums");
    kv_rows(&v.build, &["Build", "Artifact", "Artifact SHA-256"], &mut f);

    for (i, e) in v.environments.iter().enumerate() {
        let n = i + 3;
        f.space(4.0);
        f.text(
            Style::Heading,
            0.0,
            &format!("{n} Environment {} ({})", e.name, e.role),
        );
        kv_rows(&e.overview, &["Base URL", "Database"], &mut f);

        f.text(Style::Subheading, 0.0, &format!("{n}.1 Startup capture"));
        f.text(
            Style::Small,
            0.0,
            "Runtime versions and environment of the application server at start-up; secret values are replaced by ***.",
        );
        f.space(1.0);
        let rows: Vec<Vec<String>> = e
            .startup
            .iter()
            .map(|p| vec![p.k.clone(), p.v.clone()])
            .collect();
        if rows.is_empty() {
            f.text(Style::Body, 0.0, "Nothing was captured.");
        } else {
            f.table(
                &[Column::mono("Variable", 2.0), Column::mono("Value", 3.0)],
                &rows,
                true,
            );
        }

        f.space(2.0);
        f.text(
            Style::Subheading,
            0.0,
            &format!("{n}.2 Configuration report"),
        );
        let rows: Vec<Vec<String>> = e
            .configuration
            .iter()
            .map(|p| vec![p.k.clone(), p.v.clone()])
            .collect();
        if rows.is_empty() {
            f.text(Style::Body, 0.0, "The configuration report is empty.");
        } else {
            f.table(
                &[Column::mono("Setting", 2.0), Column::left("Value", 3.0)],
                &rows,
                true,
            );
        }

        f.space(2.0);
        f.text(Style::Subheading, 0.0, &format!("{n}.3 Masking report"));
        kv_rows(&e.masking, &["Policy SHA-256"], &mut f);
        let rows: Vec<Vec<String>> = e.tables.iter().map(|t| t.to_vec()).collect();
        f.table(
            &[
                Column::mono("Table", 1.6),
                Column::right("Rows", 1.0),
                Column::left("Masked columns", 4.0),
            ],
            &rows,
            true,
        );
        let rows: Vec<Vec<String>> = e.transformers.iter().map(|t| t.to_vec()).collect();
        f.table(
            &[
                Column::mono("Transformer", 1.6),
                Column::right("Columns", 1.0),
                Column::left("Masked columns", 4.0),
            ],
            &rows,
            true,
        );

        f.space(2.0);
        f.text(Style::Subheading, 0.0, &format!("{n}.4 Leak scan"));
        f.callout(&format!("Leak scan {}", e.leak_verdict), e.leak_passed);
        kv_rows(&e.leak, &[], &mut f);
    }

    let n = v.environments.len() + 3;
    f.space(4.0);
    f.text(Style::Heading, 0.0, &format!("{n} Migrations"));
    let mut rows: Vec<Vec<String>> = v.migrations.iter().map(|m| m.to_vec()).collect();
    if rows.is_empty() {
        f.text(Style::Body, 0.0, "No migrations were applied.");
    }
    rows.push(vec![
        "Total".to_string(),
        String::new(),
        v.migrations_total.clone(),
    ]);
    f.table(
        &[
            Column::left("Environment", 2.0),
            Column::left("Release", 2.0),
            Column::right("Duration", 1.2),
        ],
        &rows,
        true,
    );

    f.space(4.0);
    f.text(Style::Heading, 0.0, &format!("{} Step timings", n + 1));
    let mut rows: Vec<Vec<String>> = v
        .steps
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.env.clone(),
                s.started.clone(),
                s.finished.clone(),
                s.duration.clone(),
                s.attempts.clone(),
                s.state.clone(),
            ]
        })
        .collect();
    rows.push(vec![
        "Total".to_string(),
        String::new(),
        String::new(),
        String::new(),
        v.steps_total.clone(),
        String::new(),
        String::new(),
    ]);
    f.table(
        &[
            Column::left("Step", 2.3),
            Column::left("Environment", 1.8),
            Column::left("Started (UTC)", 2.2),
            Column::left("Finished (UTC)", 2.2),
            Column::right("Duration", 1.6),
            Column::right("Attempts", 1.2),
            Column::left("State", 0.9),
        ],
        &rows,
        true,
    );

    f.space(4.0);
    f.text(Style::Heading, 0.0, &format!("{} Signatures", n + 2));
    for s in &v.signatures {
        f.ensure(45.0);
        f.text(Style::Subheading, 0.0, &s.heading);
        if s.changed {
            f.text(
                Style::Bold,
                0.0,
                "The record changed after this signature: it does not cover the content shown.",
            );
        }
        kv_rows(&s.fields, &["Signed record SHA-256"], &mut f);
    }
    for heading in &v.unsigned {
        f.ensure(28.0);
        f.space(2.0);
        f.text(Style::Subheading, 0.0, heading);
        f.sign_here(&["Signature", "Printed name", "Date and time (UTC)"]);
    }
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const CLINIC_TABLES: [(&str, &[&str]); 9] = [
        (
            "volunteers",
            &[
                "name", "initials", "dob", "sex", "email", "phone", "address", "notes",
            ],
        ),
        ("volunteer_audit", &["name", "email", "phone"]),
        ("consents", &["signed_name"]),
        ("enrolments", &[]),
        ("events", &["comment"]),
        ("invoices", &["payee_name", "iban"]),
        ("staff", &["email"]),
        ("studies", &[]),
        ("clinic_schema_version", &[]),
    ];

    fn environment(name: &str, role: &str, extra_tables: usize) -> IqEnvironment {
        let mut tables: Vec<IqMaskedTable> = CLINIC_TABLES
            .iter()
            .enumerate()
            .map(|(i, (t, cols))| IqMaskedTable {
                table: t.to_string(),
                rows: 1_000 * (i as u64 + 1) + 7,
                masked_columns: cols.iter().map(|c| c.to_string()).collect(),
            })
            .collect();
        tables.extend((0..extra_tables).map(|i| IqMaskedTable {
            table: format!("lab_result_{i:02}"),
            rows: 25_000 + i as u64,
            masked_columns: vec!["comment".to_string()],
        }));
        let mut by_transformer: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in &tables {
            for c in &t.masked_columns {
                let transformer = match c.as_str() {
                    "dob" => "date_shift",
                    "email" => "fake_email",
                    "comment" | "notes" => "free_text",
                    _ => "fake_name",
                };
                by_transformer
                    .entry(transformer.to_string())
                    .or_default()
                    .push(format!("{}.{c}", t.table));
            }
        }
        IqEnvironment {
            name: name.to_string(),
            role: role.to_string(),
            base_url: format!("https://{}.val.example.com", name.to_lowercase()),
            database: format!(
                "postgres://clinic:***@db1.internal:5432/{}",
                name.to_lowercase()
            ),
            startup: BTreeMap::from([
                ("JAVA_VERSION".to_string(), "21.0.4+7-LTS".to_string()),
                ("APP_BUILD".to_string(), "24.3.0.1304".to_string()),
                (
                    "DATABASE_URL".to_string(),
                    "postgres://clinic:hunter2@db1.internal/clinic".to_string(),
                ),
                ("SSO_CLIENT_SECRET".to_string(), "s3cr3t-sso".to_string()),
                (
                    "JAVA_OPTS".to_string(),
                    "-Xmx2g -Djavax.net.ssl.keyStorePassword=changeit".to_string(),
                ),
                ("TZ".to_string(), "America/Chicago".to_string()),
            ]),
            configuration: BTreeMap::from([
                ("environment.name".to_string(), name.to_string()),
                (
                    "environment.banner".to_string(),
                    "VAL - not for clinical use".to_string(),
                ),
                ("sso.enabled".to_string(), "true".to_string()),
                (
                    "lab.endpoint".to_string(),
                    "https://lab-test.example.com/hl7".to_string(),
                ),
            ]),
            masking: IqMasking {
                policy: "clinic-masking.toml".to_string(),
                policy_sha256: "9f2c4e1d".repeat(8),
                engine: "postgresql 16.4".to_string(),
                total_rows: tables.iter().map(|t| t.rows).sum(),
                tables,
                columns_by_transformer: by_transformer,
                leak_scan: IqLeakScan {
                    passed: true,
                    values_indexed: 48_211,
                    target_values_scanned: 1_204_877,
                    hits: 0,
                },
            },
            health: "200 OK in 412 ms".to_string(),
            version_endpoint: "24.3.0.1304".to_string(),
        }
    }

    /// A VAL pair report; `extra_tables` lab tables per environment make it long.
    fn report(extra_tables: usize) -> IqReport {
        let start = ts("2027-01-11T14:00:00Z");
        let steps = [
            ("snapshot PROD", None, 42_000),
            ("clone and mask", Some("VAL-MAIN"), 612_400),
            ("clone and mask", Some("VAL-TEST"), 233_100),
            ("leak scan", Some("VAL-MAIN"), 58_000),
            ("leak scan", Some("VAL-TEST"), 21_500),
            ("migrate", Some("VAL-MAIN"), 95_310),
            ("migrate", Some("VAL-TEST"), 40_020),
            ("configure", None, 850),
            ("start and wait for health", None, 31_000),
        ];
        let mut at = start;
        let steps = steps
            .iter()
            .map(|(name, env, ms)| {
                let started_at = at;
                at += jiff::SignedDuration::from_millis(*ms);
                IqStep {
                    name: name.to_string(),
                    env: env.map(str::to_string),
                    started_at,
                    finished_at: at,
                    duration_ms: *ms as u64,
                    attempts: 1,
                    state: "done".to_string(),
                }
            })
            .collect();
        IqReport {
            document_id: "IQ-VAL-12-1".to_string(),
            request_key: "VAL-12".to_string(),
            customer: "Northwind Clinical".to_string(),
            generated_at: ts("2027-01-11T14:20:31Z"),
            generated_by: "e.engineer".to_string(),
            version: "24.3".to_string(),
            build: "24.3.0.1304".to_string(),
            artifact_reference: "releases/clinic-24.3.0.1304.tar.gz".to_string(),
            artifact_sha256: "3b1f0a7c".repeat(8),
            environments: vec![
                environment("VAL-MAIN", "MAIN", extra_tables),
                environment("VAL-TEST", "TEST", extra_tables),
            ],
            migrations: vec![
                IqMigration {
                    env: "VAL-MAIN".to_string(),
                    release: "24.2.1".to_string(),
                    duration_ms: 12_300,
                },
                IqMigration {
                    env: "VAL-MAIN".to_string(),
                    release: "24.3".to_string(),
                    duration_ms: 83_010,
                },
                IqMigration {
                    env: "VAL-TEST".to_string(),
                    release: "24.3".to_string(),
                    duration_ms: 40_020,
                },
            ],
            steps,
            signatures: Vec::new(),
        }
    }

    fn review_signature(r: &IqReport) -> IqSignature {
        IqSignature {
            printed_name: "Dana Reviewer".to_string(),
            username: "d.reviewer".to_string(),
            meaning: "review".to_string(),
            signed_at: ts("2027-01-12T15:14:00Z"),
            signed_at_local: "2027-01-12 09:14 America/Chicago (UTC-06:00)".to_string(),
            record_sha256: r.unsigned_content_sha256(),
            changed_after_signing: false,
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn secret_keys_are_redacted_and_other_values_kept() {
        let out = redact_environment(&map(&[
            ("DB_PASSWORD", "pw1"),
            ("SSO_CLIENT_SECRET", "sec"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("api_key", "k"),
            ("AWS_CREDENTIALS_FILE", "/x"),
            ("TLS_PRIVATE_PEM", "-----BEGIN"),
            ("JAVA_VERSION", "21.0.4"),
            ("PWD", "/opt/clinic"),
            ("EMPTY_SECRET", ""),
        ]));
        assert_eq!(
            out,
            map(&[
                ("DB_PASSWORD", "***"),
                ("SSO_CLIENT_SECRET", "***"),
                ("GITHUB_TOKEN", "***"),
                ("api_key", "***"),
                ("AWS_CREDENTIALS_FILE", "***"),
                ("TLS_PRIVATE_PEM", "***"),
                ("JAVA_VERSION", "21.0.4"),
                ("PWD", "/opt/clinic"),
                ("EMPTY_SECRET", ""),
            ])
        );
    }

    #[test]
    fn passwords_inside_values_are_redacted() {
        let out = redact_environment(&map(&[
            (
                "DATABASE_URL",
                "postgres://clinic:hunter2@db:5432/clinic?sslmode=require",
            ),
            ("JDBC_URL", "jdbc:mysql://app:p%40ss@maria:3306/clinic"),
            ("REPLICA_URL", "postgres://clinic@db/clinic"),
            ("PLAIN_URL", "https://lab.example.com/hl7?site=3"),
            (
                "QUERY",
                "mysql://maria/clinic?user=app&password=topsecret&ssl=true",
            ),
            (
                "LIBPQ",
                "host=db user=clinic password=topsecret dbname=clinic",
            ),
            (
                "ADO",
                "Server=sql;User Id=app;Password=\"a b;c\";Database=clinic",
            ),
            (
                "JAVA_OPTS",
                "-Xmx2g -Djavax.net.ssl.keyStorePassword=changeit -Dfile.encoding=UTF-8",
            ),
        ]));
        assert_eq!(
            out,
            map(&[
                (
                    "DATABASE_URL",
                    "postgres://clinic:***@db:5432/clinic?sslmode=require"
                ),
                ("JDBC_URL", "jdbc:mysql://app:***@maria:3306/clinic"),
                ("REPLICA_URL", "postgres://clinic@db/clinic"),
                ("PLAIN_URL", "https://lab.example.com/hl7?site=3"),
                (
                    "QUERY",
                    "mysql://maria/clinic?user=app&password=***&ssl=true"
                ),
                ("LIBPQ", "host=db user=clinic password=*** dbname=clinic"),
                (
                    "ADO",
                    "Server=sql;User Id=app;Password=\"***\";Database=clinic"
                ),
                (
                    "JAVA_OPTS",
                    "-Xmx2g -Djavax.net.ssl.keyStorePassword=*** -Dfile.encoding=UTF-8"
                ),
            ])
        );
        assert_eq!(redact_environment(&out), out, "redaction is idempotent");
    }

    #[test]
    fn rendered_documents_never_show_captured_secrets() {
        let r = report(0);
        let html = render_html(&r);
        for secret in ["hunter2", "s3cr3t-sso", "changeit"] {
            assert!(!html.contains(secret), "{secret} leaked into the HTML");
        }
        assert!(html.contains("clinic:***@db1.internal"));
        let pdf = render_pdf(&r).unwrap();
        assert!(!String::from_utf8_lossy(&pdf).contains("hunter2"));
    }

    #[test]
    fn content_hash_is_stable_and_survives_a_json_round_trip() {
        let r = report(2);
        let h = r.content_sha256();
        assert_eq!(h.len(), 64);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(h, report(2).content_sha256());
        let back: IqReport =
            serde_json::from_str(&serde_json::to_string_pretty(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.content_sha256(), h);
    }

    #[test]
    fn content_hash_changes_with_any_field() {
        let base = report(1);
        let sig = review_signature(&base);
        type Change = Box<dyn Fn(&mut IqReport)>;
        let changes: Vec<(&str, Change)> = vec![
            (
                "document_id",
                Box::new(|r: &mut IqReport| r.document_id.push('2')),
            ),
            (
                "request_key",
                Box::new(|r: &mut IqReport| r.request_key.push('2')),
            ),
            (
                "customer",
                Box::new(|r: &mut IqReport| r.customer.push('.')),
            ),
            (
                "generated_at",
                Box::new(|r: &mut IqReport| r.generated_at = ts("2027-01-11T14:20:32Z")),
            ),
            (
                "generated_by",
                Box::new(|r: &mut IqReport| r.generated_by.push('x')),
            ),
            ("version", Box::new(|r: &mut IqReport| r.version.push('1'))),
            ("build", Box::new(|r: &mut IqReport| r.build.push('1'))),
            (
                "artifact_reference",
                Box::new(|r: &mut IqReport| r.artifact_reference.push('x')),
            ),
            (
                "artifact_sha256",
                Box::new(|r: &mut IqReport| r.artifact_sha256 = "0".repeat(64)),
            ),
            (
                "env name",
                Box::new(|r: &mut IqReport| r.environments[0].name.push('X')),
            ),
            (
                "env role",
                Box::new(|r: &mut IqReport| r.environments[1].role = "MAIN".into()),
            ),
            (
                "base_url",
                Box::new(|r: &mut IqReport| r.environments[0].base_url.push('/')),
            ),
            (
                "database",
                Box::new(|r: &mut IqReport| r.environments[0].database.push('x')),
            ),
            (
                "startup",
                Box::new(|r: &mut IqReport| {
                    r.environments[0].startup.insert("LANG".into(), "C".into());
                }),
            ),
            (
                "configuration",
                Box::new(|r: &mut IqReport| {
                    r.environments[1]
                        .configuration
                        .insert("sso.enabled".into(), "false".into());
                }),
            ),
            (
                "policy",
                Box::new(|r: &mut IqReport| r.environments[0].masking.policy.push('x')),
            ),
            (
                "policy_sha256",
                Box::new(|r: &mut IqReport| {
                    r.environments[0].masking.policy_sha256 = "1".repeat(64)
                }),
            ),
            (
                "engine",
                Box::new(|r: &mut IqReport| r.environments[0].masking.engine.push('x')),
            ),
            (
                "total_rows",
                Box::new(|r: &mut IqReport| r.environments[0].masking.total_rows += 1),
            ),
            (
                "table rows",
                Box::new(|r: &mut IqReport| r.environments[0].masking.tables[3].rows += 1),
            ),
            (
                "masked columns",
                Box::new(|r: &mut IqReport| {
                    r.environments[0].masking.tables[3]
                        .masked_columns
                        .push("x".into())
                }),
            ),
            (
                "by transformer",
                Box::new(|r: &mut IqReport| {
                    r.environments[0]
                        .masking
                        .columns_by_transformer
                        .remove("date_shift");
                }),
            ),
            (
                "leak passed",
                Box::new(|r: &mut IqReport| r.environments[0].masking.leak_scan.passed = false),
            ),
            (
                "values indexed",
                Box::new(|r: &mut IqReport| {
                    r.environments[0].masking.leak_scan.values_indexed += 1
                }),
            ),
            (
                "values scanned",
                Box::new(|r: &mut IqReport| {
                    r.environments[0].masking.leak_scan.target_values_scanned += 1
                }),
            ),
            (
                "hits",
                Box::new(|r: &mut IqReport| r.environments[0].masking.leak_scan.hits += 1),
            ),
            (
                "health",
                Box::new(|r: &mut IqReport| r.environments[0].health.push('!')),
            ),
            (
                "version endpoint",
                Box::new(|r: &mut IqReport| r.environments[0].version_endpoint.push('1')),
            ),
            (
                "migration env",
                Box::new(|r: &mut IqReport| r.migrations[0].env = "VAL-TEST".into()),
            ),
            (
                "migration release",
                Box::new(|r: &mut IqReport| r.migrations[0].release.push('1')),
            ),
            (
                "migration duration",
                Box::new(|r: &mut IqReport| r.migrations[0].duration_ms += 1),
            ),
            (
                "migration order",
                Box::new(|r: &mut IqReport| r.migrations.swap(0, 1)),
            ),
            (
                "step name",
                Box::new(|r: &mut IqReport| r.steps[0].name.push('x')),
            ),
            (
                "step env",
                Box::new(|r: &mut IqReport| r.steps[0].env = Some("VAL-MAIN".into())),
            ),
            (
                "step started",
                Box::new(|r: &mut IqReport| r.steps[0].started_at = ts("2027-01-11T13:59:59Z")),
            ),
            (
                "step finished",
                Box::new(|r: &mut IqReport| r.steps[0].finished_at = ts("2027-01-11T16:00:00Z")),
            ),
            (
                "step duration",
                Box::new(|r: &mut IqReport| r.steps[0].duration_ms += 1),
            ),
            (
                "step attempts",
                Box::new(|r: &mut IqReport| r.steps[0].attempts += 1),
            ),
            (
                "step state",
                Box::new(|r: &mut IqReport| r.steps[0].state = "failed".into()),
            ),
            ("signature added", {
                let s = sig.clone();
                Box::new(move |r: &mut IqReport| r.signatures.push(s.clone()))
            }),
            ("signature changed", {
                let s = sig.clone();
                Box::new(move |r: &mut IqReport| {
                    let mut s = s.clone();
                    s.changed_after_signing = true;
                    r.signatures.push(s)
                })
            }),
        ];
        let mut seen = BTreeMap::new();
        seen.insert(base.content_sha256(), "base");
        for (what, change) in &changes {
            let mut r = base.clone();
            change(&mut r);
            assert_ne!(r, base, "{what}: the change changed nothing");
            if let Some(other) = seen.insert(r.content_sha256(), *what) {
                panic!("{what} hashes like {other}");
            }
        }
    }

    #[test]
    fn signatures_bind_to_the_content_without_signatures() {
        let mut r = report(0);
        let before = r.unsigned_content_sha256();
        let content = r.content_sha256();
        r.signatures.push(review_signature(&r));
        assert_eq!(r.unsigned_content_sha256(), before);
        assert_ne!(r.content_sha256(), content);
    }

    #[test]
    fn html_is_escaped_and_shows_every_section() {
        let mut r = report(0);
        r.customer = "<script>alert(1)</script> & Co".to_string();
        let html = render_html(&r);
        assert!(!html.contains("<script>alert"), "customer name not escaped");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; Co"));
        let shown = r.redacted().content_sha256();
        for needle in [
            "1 Identity",
            "2 Build and artifact checksums",
            "3 Environment VAL-MAIN (MAIN)",
            "4 Environment VAL-TEST (TEST)",
            "3.1 Startup capture",
            "3.2 Configuration report",
            "3.3 Masking report",
            "3.4 Leak scan",
            "5 Migrations",
            "6 Step timings",
            "7 Signatures",
            "IQ-VAL-12-1",
            "24.3.0.1304",
            &"3b1f0a7c".repeat(8),
            &"9f2c4e1d".repeat(8),
            "PASSED - no production PII value found",
            "1,204,877",
            "10 min 12.4 s",
            UNCONTROLLED,
            &shown,
        ] {
            assert!(html.contains(needle), "missing {needle:?}");
        }
        assert_eq!(html.matches("<div class=\"lines\">").count(), 2);
        assert!(html.contains("<h3>Reviewed by</h3>") && html.contains("<h3>Approved by</h3>"));
    }

    #[test]
    fn a_signed_review_replaces_its_blank_block_and_a_changed_record_is_flagged() {
        let mut r = report(0);
        let mut sig = review_signature(&r);
        sig.changed_after_signing = true;
        r.signatures.push(sig);
        let html = render_html(&r);
        assert!(html.contains("Dana Reviewer") && html.contains("2027-01-12 15:14:00 UTC"));
        assert!(html.contains("America&#x2f;Chicago"), "slashes are escaped");
        assert_eq!(
            html.matches("<div class=\"lines\">").count(),
            1,
            "only Approved by stays blank"
        );
        assert!(html.contains("The record changed after this signature"));
    }

    #[test]
    fn failed_leak_scan_says_so() {
        let mut r = report(0);
        r.environments[1].masking.leak_scan.passed = false;
        r.environments[1].masking.leak_scan.hits = 3;
        let html = render_html(&r);
        assert!(html.contains("verdict fail"));
        assert!(html.contains("FAILED - 3 production PII values found"));
    }

    #[test]
    fn durations_and_counts_read_well() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_400), "12.4 s");
        assert_eq!(duration(185_200), "3 min 05.2 s");
        assert_eq!(duration(3_725_000), "1 h 02 min 05 s");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_204_877), "1,204,877");
    }

    /// Text of a PDF by `pdftotext -layout`, or `None` (after saying SKIPPED) where poppler is
    /// missing outside CI.
    fn pdf_text(pdf: &[u8]) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iq.pdf");
        std::fs::write(&path, pdf).unwrap();
        if let Ok(keep) = std::env::var("VALET_KEEP_PDF") {
            std::fs::write(keep, pdf).unwrap();
        }
        match std::process::Command::new("pdftotext")
            .arg("-layout")
            .arg(&path)
            .arg("-")
            .output()
        {
            Ok(out) => {
                assert!(
                    out.status.success(),
                    "pdftotext failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                Some(String::from_utf8(out.stdout).unwrap())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                valet_testkit::skipped(
                    "pdftotext (poppler-utils) is not installed",
                    "Run scripts/setup",
                );
                None
            }
            Err(e) => panic!("pdftotext could not run: {e}"),
        }
    }

    #[test]
    fn pdf_spans_pages_with_the_footer_on_each_and_the_report_content() {
        let r = report(30);
        let pdf = render_pdf(&r).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let Some(text) = pdf_text(&pdf) else { return };
        let pages: Vec<&str> = text
            .split('\x0c')
            .filter(|p| !p.trim().is_empty())
            .collect();
        assert!(
            pages.len() >= 2,
            "expected several pages, got {}",
            pages.len()
        );
        let hash = r.redacted().content_sha256();
        let id_line = format!("Document IQ-VAL-12-1 - content SHA-256 {hash}");
        for (i, page) in pages.iter().enumerate() {
            assert_eq!(
                page.matches(UNCONTROLLED).count(),
                1,
                "page {}: {page}",
                i + 1
            );
            assert_eq!(page.matches(&id_line).count(), 1, "page {}: {page}", i + 1);
            let n_of_m = format!("Page {} of {}", i + 1, pages.len());
            assert_eq!(page.matches(&n_of_m).count(), 1, "page {}: {page}", i + 1);
        }
        let figure = |label: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix(label))
                .map(|rest| rest.trim().to_string())
                .collect()
        };
        let total_rows = count(r.environments[0].masking.total_rows);
        assert_eq!(figure("Tables copied"), ["39", "39"]);
        assert_eq!(figure("Rows copied"), [total_rows.as_str(), &total_rows]);
        assert_eq!(figure("Columns masked"), ["46", "46"]);
        assert_eq!(figure("Hits"), ["0", "0"]);
        for needle in [
            "Installation Qualification Report",
            "24.3.0.1304",
            &"3b1f0a7c".repeat(8),
            &"9f2c4e1d".repeat(8),
            "48,211",
            "1,204,877",
            "Leak scan PASSED - no production PII value found",
            "lab_result_29",
            "Reviewed by",
            "Approved by",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }
}
