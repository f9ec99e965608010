//! `valet finding …`: findings filed against a VAL during validation.

use std::process::ExitCode;

use clap::Subcommand;
use jiff::tz::TimeZone;
use serde_json::{json, Value};
use valet_core::val::{FindingArea, Severity};

use super::api::{parse, Api};
use super::view::{self, Finding};

#[derive(Debug, Subcommand)]
pub enum FindingCommand {
    /// File a finding on a VAL request; prints the new finding's key alone (e.g. `F-1`).
    Add {
        /// The VAL request, e.g. VAL-3.
        key: String,
        #[arg(long)]
        title: String,
        /// critical, major or minor.
        #[arg(long)]
        severity: Severity,
        /// configuration_item, integration or product_defect.
        #[arg(long)]
        area: FindingArea,
        /// How to reproduce it.
        #[arg(long)]
        steps: String,
    },
    /// List a request's findings.
    List {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Show a finding with its comments.
    Show {
        finding: String,
        #[arg(long)]
        json: bool,
    },
    /// Answer a finding (a comment on it).
    Answer {
        finding: String,
        #[arg(long)]
        body: String,
    },
    /// Mark a finding resolved (vendor), saying how.
    Resolve {
        finding: String,
        #[arg(long)]
        text: String,
    },
    /// Accept a finding as it is (customer admin), so sign-off can go ahead.
    Accept {
        finding: String,
        #[arg(long)]
        reason: String,
    },
    /// Reopen a resolved or accepted finding.
    Reopen {
        finding: String,
        #[arg(long)]
        text: String,
    },
}

/// The body of `POST /requests/{key}/findings`.
pub fn add_body(title: &str, severity: Severity, area: FindingArea, steps: &str) -> Value {
    json!({ "title": title, "severity": severity, "area": area, "steps": steps })
}

fn moved(text: &str) -> anyhow::Result<ExitCode> {
    let f: Finding = parse(text)?;
    println!("{}: {}", f.key, f.state);
    Ok(ExitCode::SUCCESS)
}

pub async fn run(api: &Api, cmd: FindingCommand) -> anyhow::Result<ExitCode> {
    let tz = TimeZone::system();
    match cmd {
        FindingCommand::Add {
            key,
            title,
            severity,
            area,
            steps,
        } => {
            let text = api
                .post(
                    &["requests", &key, "findings"],
                    &add_body(&title, severity, area, &steps),
                )
                .await?;
            let f: Finding = parse(&text)?;
            println!("{}", f.key);
        }
        FindingCommand::List { key, json } => {
            let text = api.get(&["requests", &key, "findings"], &[]).await?;
            if json {
                super::print_raw(&text);
            } else {
                let list: Vec<Finding> = parse(&text)?;
                if list.is_empty() {
                    eprintln!("{key} has no findings");
                }
                for f in &list {
                    println!("{}", view::finding_line(f));
                }
            }
        }
        FindingCommand::Show { finding, json } => {
            let text = api.get(&["findings", &finding], &[]).await?;
            if json {
                super::print_raw(&text);
            } else {
                print!("{}", view::finding(&parse(&text)?, &tz));
            }
        }
        FindingCommand::Answer { finding, body } => {
            let text = api
                .post(&["findings", &finding, "answer"], &json!({ "body": body }))
                .await?;
            return moved(&text);
        }
        FindingCommand::Resolve { finding, text } => {
            let answer = api
                .post(&["findings", &finding, "resolve"], &json!({ "text": text }))
                .await?;
            return moved(&answer);
        }
        FindingCommand::Accept { finding, reason } => {
            let answer = api
                .post(
                    &["findings", &finding, "accept"],
                    &json!({ "text": reason }),
                )
                .await?;
            return moved(&answer);
        }
        FindingCommand::Reopen { finding, text } => {
            let answer = api
                .post(&["findings", &finding, "reopen"], &json!({ "text": text }))
                .await?;
            return moved(&answer);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_flags_map_to_the_api_fields() {
        assert_eq!(
            add_body(
                "Totals off",
                Severity::Major,
                FindingArea::ConfigurationItem,
                "open it"
            ),
            json!({"title": "Totals off", "severity": "major",
                   "area": "configuration_item", "steps": "open it"})
        );
    }
}
