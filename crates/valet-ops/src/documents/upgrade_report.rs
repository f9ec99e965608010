//! The upgrade report: the controlled record of one PROD upgrade run — what was upgraded from
//! and to, every step with its timing, the measured downtime per environment against the
//! estimate, the backups, the checksums of the tables the migrations did not touch, and the
//! signatures around the booking. HTML and PDF; every page carries the uncontrolled-copy notice,
//! the document id and the content hash.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use valet_core::Actor;
use valet_store::documents::{self, Document};
use valet_store::requests::Request;
use valet_store::runs::Run;
use valet_store::{schedules, signatures, Store};

use super::iq::UNCONTROLLED;
use super::pdf::{Column, Flow, Style};
use crate::error::{OpsError, Result};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn secs(ms: Option<i64>) -> String {
    ms.map(|m| format!("{:.1} s", m as f64 / 1000.0))
        .unwrap_or_else(|| "–".into())
}

/// The report's content, as rows (shared by HTML and PDF).
struct Content {
    title: String,
    identity: Vec<(String, String)>,
    steps: Vec<Vec<String>>,
    downtime: Vec<Vec<String>>,
    checks: Vec<Vec<String>>,
    signatures: Vec<Vec<String>>,
}

async fn content(store: &Store, actor: &Actor, run: &Run, r: &Request) -> Result<Content> {
    let schedule = schedules::of_request(store, actor, &r.key).await?;
    let estimate = schedule
        .as_ref()
        .map(|s| s.downtime.clone())
        .unwrap_or(Value::Null);
    let from = run
        .steps
        .iter()
        .find(|s| s.name == "precheck")
        .map(|s| {
            s.artifacts["from_build"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .unwrap_or_default();
    let mut identity = vec![
        ("Request".to_string(), format!("{} — {}", r.key, r.title)),
        ("Customer".to_string(), r.customer_name.clone()),
        (
            "Build".to_string(),
            format!("{from} → {}", r.details["build"].as_str().unwrap_or("?")),
        ),
        ("Run".to_string(), run.id.clone()),
    ];
    if let Some(s) = &schedule {
        identity.push((
            "Slot".to_string(),
            valet_core::slot::display_range(
                s.start,
                s.end,
                &jiff::tz::TimeZone::get(&s.zone).unwrap_or(jiff::tz::TimeZone::UTC),
                &s.zone,
            ),
        ));
        identity.push(("Engineer".to_string(), s.engineer_name.clone()));
    }
    let steps = run
        .steps
        .iter()
        .map(|s| {
            vec![
                s.seq.to_string(),
                s.name.clone(),
                s.env.clone().unwrap_or_else(|| "–".into()),
                // The report is written during its own step: that step and those after it
                // are still to come.
                if s.state.as_str() == "pending" || s.state.as_str() == "running" {
                    if matches!(s.name.as_str(), "report" | "finish" | "notify") {
                        "after this report".to_string()
                    } else {
                        s.state.as_str().to_string()
                    }
                } else {
                    s.state.as_str().to_string()
                },
                s.attempts.to_string(),
                secs(s.duration_ms),
            ]
        })
        .collect();
    let est = |role: &str| -> String {
        estimate["per_env"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["role"] == json!(role)))
            .map(|e| {
                format!(
                    "{}–{} s",
                    e["low_seconds"].as_u64().unwrap_or(0),
                    e["high_seconds"].as_u64().unwrap_or(0)
                )
            })
            .unwrap_or_else(|| "no dry run".into())
    };
    let mut downtime = Vec::new();
    let mut checks = Vec::new();
    for s in &run.steps {
        let env = s.env.clone().unwrap_or_default();
        match s.name.as_str() {
            "maintenance_off" if s.state.as_str() == "done" => downtime.push(vec![
                env.clone(),
                secs(s.artifacts["downtime_ms"].as_i64()),
                est(&env),
                format!(
                    "{} ms",
                    run.steps
                        .iter()
                        .find(|m| m.name == "migrate" && m.env == s.env)
                        .and_then(|m| m.artifacts["total_ms"].as_u64())
                        .unwrap_or(0)
                ),
            ]),
            "backup" if s.state.as_str() == "done" => {
                let b = &s.artifacts["backup"];
                checks.push(vec![
                    env.clone(),
                    "backup".into(),
                    format!(
                        "{} ({} ms), {}",
                        b["method"].as_str().unwrap_or("?"),
                        b["took_ms"].as_u64().unwrap_or(0),
                        if s.artifacts["checksums"].is_null() {
                            "copied by the server with the app stopped; its row counts are \
                             compared in the smoke check"
                        } else {
                            "verified restorable against the pre-upgrade checksums"
                        }
                    ),
                ]);
            }
            "smoke" if s.state.as_str() == "done" => {
                let tables: Vec<String> = s.artifacts["untouched_identical"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|t| {
                                let name = t.as_str()?;
                                let sum = &s.artifacts["after"][name];
                                let digest = sum["sha256"].as_str().unwrap_or("");
                                Some(if digest.is_empty() {
                                    format!(
                                        "{name} ({} rows, none written)",
                                        sum["rows"].as_u64().unwrap_or(0)
                                    )
                                } else {
                                    format!(
                                        "{name} ({} rows, {}…)",
                                        sum["rows"].as_u64().unwrap_or(0),
                                        &digest[..12.min(digest.len())]
                                    )
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                checks.push(vec![
                    env.clone(),
                    if s.artifacts["proof"] == "unwritten" {
                        "untouched tables identical: no row written since the backup, row counts \
                         equal to the backup's"
                            .into()
                    } else {
                        "untouched tables identical: row counts and checksums equal to the \
                         pre-upgrade values"
                            .into()
                    },
                    tables.join(", "),
                ]);
            }
            "rollback_verify" if s.state.as_str() == "done" => {
                checks.push(vec![env.clone(), "rollback verified".into(), s.log.clone()])
            }
            _ => {}
        }
    }
    // A hotfix runs on the customer's signed acceptance: it heads the signatures.
    let mut signed = crate::hotfix::acceptance_signatures(store, r).await?;
    for kind in ["schedule", "request"] {
        signed.extend(signatures::of(store, kind, &r.key).await?);
    }
    let sigs = signed
        .into_iter()
        .map(|s| {
            vec![
                s.printed_name,
                s.meaning.as_str().to_string(),
                s.signed_at_local,
                s.reason.unwrap_or_default(),
            ]
        })
        .collect();
    Ok(Content {
        title: format!("Upgrade report {}", r.key),
        identity,
        steps,
        downtime,
        checks,
        signatures: sigs,
    })
}

fn html(c: &Content, id: &str) -> String {
    let table = |head: &[&str], rows: &[Vec<String>]| -> String {
        let mut t = String::from("<table><tr>");
        for h in head {
            t.push_str(&format!("<th>{}</th>", esc(h)));
        }
        t.push_str("</tr>");
        for r in rows {
            t.push_str("<tr>");
            for v in r {
                t.push_str(&format!("<td>{}</td>", esc(v)));
            }
            t.push_str("</tr>");
        }
        t.push_str("</table>");
        t
    };
    let identity: Vec<Vec<String>> = c
        .identity
        .iter()
        .map(|(k, v)| vec![k.clone(), v.clone()])
        .collect();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto}}table{{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}}td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;font-size:.9rem}}footer{{color:#555;font-size:.8rem;border-top:1px solid #ccc;margin-top:2rem}}</style></head><body><h1>{t}</h1>\
         <h2>1 Identity</h2>{}<h2>2 Downtime</h2>{}<h2>3 Steps</h2>{}<h2>4 Backups and checks</h2>{}<h2>5 Signatures</h2>{}<footer>{} Document {id}</footer></body></html>",
        table(&["", ""], &identity),
        table(&["Environment", "Measured (maintenance on → off)", "Estimate", "Migrations"], &c.downtime),
        table(&["#", "Step", "Env", "State", "Attempts", "Duration"], &c.steps),
        table(&["Environment", "Check", "Result"], &c.checks),
        table(&["Signed by", "Meaning", "At", "Reason"], &c.signatures),
        UNCONTROLLED,
        t = esc(&c.title),
    )
}

fn pdf(c: &Content, id: &str, sha: &str) -> std::result::Result<Vec<u8>, printpdf::Error> {
    let footer = format!("{UNCONTROLLED}\nDocument {id}  -  content SHA-256 {sha}");
    let mut f = Flow::new(&format!("{id} {}", c.title), &footer)?;
    f.text(Style::Title, 0.0, &c.title);
    f.space(3.0);
    f.text(Style::Heading, 0.0, "1 Identity");
    let rows: Vec<Vec<String>> = c
        .identity
        .iter()
        .map(|(k, v)| vec![k.clone(), v.clone()])
        .collect();
    f.table(
        &[Column::left("", 1.0), Column::left("", 4.0)],
        &rows,
        false,
    );
    f.space(3.0);
    f.text(Style::Heading, 0.0, "2 Downtime");
    f.table(
        &[
            Column::left("Environment", 1.0),
            Column::right("Measured", 1.2),
            Column::right("Estimate", 1.2),
            Column::right("Migrations", 1.2),
        ],
        &c.downtime,
        true,
    );
    f.space(3.0);
    f.text(Style::Heading, 0.0, "3 Steps");
    f.table(
        &[
            Column::right("#", 0.4),
            Column::mono("Step", 2.0),
            Column::left("Env", 0.8),
            Column::left("State", 0.9),
            Column::right("Attempts", 0.9),
            Column::right("Duration", 1.0),
        ],
        &c.steps,
        true,
    );
    f.space(3.0);
    f.text(Style::Heading, 0.0, "4 Backups and checks");
    f.table(
        &[
            Column::left("Environment", 1.0),
            Column::left("Check", 1.5),
            Column::left("Result", 4.0),
        ],
        &c.checks,
        true,
    );
    f.space(3.0);
    f.text(Style::Heading, 0.0, "5 Signatures");
    if c.signatures.is_empty() {
        f.text(Style::Body, 0.0, "No signatures on this upgrade's booking.");
    } else {
        f.table(
            &[
                Column::left("Signed by", 1.5),
                Column::left("Meaning", 1.0),
                Column::left("At", 1.6),
                Column::left("Reason", 3.0),
            ],
            &c.signatures,
            true,
        );
    }
    f.finish()
}

/// Builds and stores the upgrade report of `run` (id `UR-KEY-n`, fixed per run, so a resumed
/// run stores the same document once).
pub async fn produce(store: &Store, actor: &Actor, run: &Run, r: &Request) -> Result<Document> {
    let all = valet_store::runs::of_request(store, actor, r).await?;
    let n = all
        .iter()
        .rev()
        .filter(|x| x.kind == crate::upgrade_run::KIND)
        .position(|x| x.id == run.id)
        .map(|p| p + 1)
        .unwrap_or(1);
    let id = format!("UR-{}-{n}", r.key);
    let c = content(store, actor, run, r).await?;
    let body = html(&c, &id);
    let sha = hex::encode(Sha256::digest(body.as_bytes()));
    let pdf = pdf(&c, &id, &sha).map_err(|e| OpsError::Payload(format!("rendering {id}: {e}")))?;
    Ok(documents::store_document(
        store,
        actor,
        r,
        &id,
        "upgrade_report",
        &c.title,
        &sha,
        &body,
        &pdf,
    )
    .await?)
}
