//! `valet hotfix …`: a customer admin's side of hotfix acceptance — the inbox of hotfixes
//! offered to its PROD pairs, and the e-signed accept (filing the `HFX-N` request with slots)
//! or decline (with a reason), one pair at a time.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{json, Value};

use super::api::{parse, Api};

#[derive(Debug, Subcommand)]
pub enum HotfixCommand {
    /// Published hotfixes offered to your PROD pairs, with each pair's decision.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Accept a hotfix for one PROD pair (e-signed, meaning `accepted`) and propose slots for
    /// its upgrade: files an HFX request that the vendor schedules like any upgrade.
    Accept {
        /// The hotfix build, e.g. 24.2.1.1201.
        build: String,
        /// The PROD pair: its id, or customer and tier (`Acme/PROD`).
        #[arg(long)]
        pair: String,
        /// A proposed slot, e.g. `2027-01-11 09:00-10:00 America/Chicago`; repeat for more.
        #[arg(long = "slot", value_name = "SLOT", required = true)]
        slots: Vec<String>,
        /// Which slot is preferred (1-based; default the first).
        #[arg(long, value_name = "N")]
        preferred: Option<usize>,
        /// Minutes of downtime you can accept.
        #[arg(long, value_name = "M")]
        downtime_minutes: u64,
        #[arg(long)]
        note: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Decline a hotfix for one PROD pair (e-signed, meaning `declined`), saying why.
    Decline {
        build: String,
        #[arg(long)]
        pair: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

/// The body of `POST /hotfixes/{build}/accept`.
pub fn accept_body(
    pair: &str,
    password: &str,
    slots: &[String],
    preferred: Option<usize>,
    downtime_minutes: u64,
    note: Option<&str>,
) -> Value {
    json!({
        "pair": pair, "password": password, "slots": slots, "preferred": preferred,
        "downtime_minutes": downtime_minutes, "note": note,
    })
}

/// The inbox as text: one block per hotfix, one line per pair.
pub fn inbox_text(items: &[Value]) -> String {
    let mut out = String::new();
    if items.is_empty() {
        return "no hotfix is offered to your PROD pairs\n".into();
    }
    for h in items {
        let r = &h["release"];
        out.push_str(&format!(
            "{} ({} severity, released {}), {} notes\n",
            r["build"].as_str().unwrap_or_default(),
            r["severity"].as_str().unwrap_or("normal"),
            r["released"].as_str().unwrap_or_default(),
            h["notes"].as_array().map(Vec::len).unwrap_or(0)
        ));
        for n in h["notes"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "    {} [{}] {}\n",
                n["key"].as_str().unwrap_or_default(),
                n["validation_impact"].as_str().unwrap_or_default(),
                n["title"].as_str().unwrap_or_default()
            ));
        }
        for p in h["pairs"].as_array().into_iter().flatten() {
            let d = &p["decision"];
            let by = if d.is_null() {
                String::new()
            } else {
                format!(
                    " by {} ({}){}",
                    d["signer_name"].as_str().unwrap_or_default(),
                    d["signed_at_local"].as_str().unwrap_or_default(),
                    d["request_key"]
                        .as_str()
                        .map(|k| format!(" → {k}"))
                        .unwrap_or_default()
                )
            };
            out.push_str(&format!(
                "  {}/{} on {}  {}{by}  [pair {}]\n",
                p["customer"].as_str().unwrap_or_default(),
                p["pair"].as_str().unwrap_or_default(),
                p["current_build"].as_str().unwrap_or("?"),
                p["state"].as_str().unwrap_or_default(),
                p["pair_id"].as_str().unwrap_or_default()
            ));
        }
    }
    out
}

pub async fn run(api: &Api, cmd: HotfixCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        HotfixCommand::List { json } => {
            let text = api.get(&["hotfixes"], &[]).await?;
            if json {
                super::print_raw(&text);
            } else {
                let items: Vec<Value> = parse(&text)?;
                print!("{}", inbox_text(&items));
            }
        }
        HotfixCommand::Accept {
            build,
            pair,
            slots,
            preferred,
            downtime_minutes,
            note,
            password_stdin,
        } => {
            eprintln!(
                "Accepting hotfix {build} for {pair} is e-signed with the meaning `accepted`."
            );
            let pw = super::password(password_stdin, "Your password (to sign): ")?;
            let text = api
                .post(
                    &["hotfixes", &build, "accept"],
                    &accept_body(
                        &pair,
                        &pw,
                        &slots,
                        preferred,
                        downtime_minutes,
                        note.as_deref(),
                    ),
                )
                .await?;
            let r: Value = parse(&text)?;
            println!(
                "{} filed: {} ({} days of notice apply); the vendor's PM schedules it",
                r["key"].as_str().unwrap_or_default(),
                r["title"].as_str().unwrap_or_default(),
                r["details"]["notice_days"]
            );
        }
        HotfixCommand::Decline {
            build,
            pair,
            reason,
            password_stdin,
        } => {
            eprintln!(
                "Declining hotfix {build} for {pair} is e-signed with the meaning `declined`."
            );
            let pw = super::password(password_stdin, "Your password (to sign): ")?;
            let text = api
                .post(
                    &["hotfixes", &build, "decline"],
                    &json!({ "pair": pair, "password": pw, "reason": reason }),
                )
                .await?;
            let d: Value = parse(&text)?;
            println!(
                "declined hotfix {} for pair {}, e-signed {}",
                d["build"].as_str().unwrap_or_default(),
                d["pair_id"].as_str().unwrap_or_default(),
                d["signed_at_local"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_flags_map_to_the_api_fields() {
        assert_eq!(
            accept_body(
                "p1",
                "pw",
                &["2027-01-11 09:00-10:00 UTC".into()],
                None,
                20,
                None
            ),
            json!({
                "pair": "p1", "password": "pw", "slots": ["2027-01-11 09:00-10:00 UTC"],
                "preferred": null, "downtime_minutes": 20, "note": null,
            })
        );
    }

    #[test]
    fn inbox_lists_each_pair_with_its_state() {
        let items = vec![json!({
            "release": { "build": "24.2.1.1201", "severity": "high", "released": "2024-07-01" },
            "notes": [{ "key": "APP-3199", "validation_impact": "high", "title": "ECG" }],
            "pairs": [{ "customer": "Acme", "pair": "PROD", "current_build": "24.2.0.1187",
                        "state": "undecided", "pair_id": "p1", "decision": null }],
        })];
        let t = inbox_text(&items);
        assert!(t.contains("24.2.1.1201 (high severity"), "{t}");
        assert!(t.contains("APP-3199 [high] ECG"), "{t}");
        assert!(
            t.contains("Acme/PROD on 24.2.0.1187  undecided  [pair p1]"),
            "{t}"
        );
        assert_eq!(inbox_text(&[]), "no hotfix is offered to your PROD pairs\n");
    }
}
