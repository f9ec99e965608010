//! `valet schedule …` and `valet calendar …`: the PM's side of a PROD upgrade — the quiet-time
//! heatmap, the assessment of the customer's slots, booking, the list of booked upgrades, and
//! calendar entries and feeds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use jiff::tz::TimeZone;
use serde_json::{json, Value};
use valet_core::schedule::ConflictKind;

use super::api::{parse, Api};
use super::view::{self, Assessment, Schedule};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QuietFormat {
    Svg,
    Csv,
    Json,
}

impl QuietFormat {
    fn as_str(self) -> &'static str {
        match self {
            QuietFormat::Svg => "svg",
            QuietFormat::Csv => "csv",
            QuietFormat::Json => "json",
        }
    }

    /// The format asked for, else the one `--out`'s extension names, else CSV.
    pub fn pick(asked: Option<QuietFormat>, out: Option<&Path>) -> QuietFormat {
        asked.unwrap_or_else(|| {
            match out
                .and_then(|o| o.extension())
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("svg") => QuietFormat::Svg,
                Some("json") => QuietFormat::Json,
                _ => QuietFormat::Csv,
            }
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// The quiet-time heatmap of a PROD pair (weekday × hour in the customer's zone, from the
    /// last weeks of data-collection activity), with an upgrade request's slots drawn on it.
    Quiet {
        /// The PROD pair: its id, or customer and tier (`Acme/PROD`).
        #[arg(long, required_unless_present = "request")]
        pair: Option<String>,
        /// An upgrade request whose slots are drawn (its pair is used without --pair).
        #[arg(long, value_name = "KEY")]
        request: Option<String>,
        /// How many weeks of activity, 1 to 52.
        #[arg(long, default_value_t = 8)]
        weeks: u32,
        /// svg, csv (one row per weekday, one column per hour) or json (default: from --out's
        /// extension, else csv).
        #[arg(long, value_enum, conflicts_with = "json")]
        format: Option<QuietFormat>,
        /// Same as --format json.
        #[arg(long)]
        json: bool,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// The PM's view of an upgrade request: every slot with notice, quiet-time score,
    /// conflicts and feasibility; the suggested slot, expected downtime and the booking.
    Suggest {
        /// The upgrade request, e.g. UPG-1.
        key: String,
        /// Check the slots against this engineer's hours, leave and bookings (default: the
        /// booked engineer).
        #[arg(long, value_name = "USERNAME")]
        engineer: Option<String>,
        /// Also propose up to three quieter feasible windows.
        #[arg(long)]
        alternatives: bool,
        #[arg(long)]
        json: bool,
    },
    /// Book (or reschedule) an upgrade: one of the request's slots or another window, with an
    /// engineer. Overriding a conflict needs a reason and your password (e-signed).
    Set {
        /// The upgrade request, e.g. UPG-1.
        key: String,
        /// The request's slot to book (1-based).
        #[arg(
            long,
            value_name = "N",
            required_unless_present = "window",
            conflicts_with = "window"
        )]
        slot: Option<usize>,
        /// Another window, written like a slot: `2027-01-18 09:00-10:00 America/Chicago`.
        #[arg(long, value_name = "SLOT")]
        window: Option<String>,
        /// The vendor engineer who does the upgrade.
        #[arg(long, value_name = "USERNAME")]
        engineer: String,
        /// Override a conflict: `KIND=REASON`, e.g. `unvalidated_build=hotfix agreed with QA`
        /// (kinds: short_notice, engineer_unavailable, engineer_double_booked, blackout,
        /// freeze, same_server, unvalidated_build). Repeat for several.
        #[arg(long = "override", value_name = "KIND=REASON", value_parser = parse_override)]
        overrides: Vec<(ConflictKind, String)>,
        #[arg(long)]
        comment: Option<String>,
        /// Each environment's downtime waits for an engineer's release (`valet run confirm`).
        #[arg(long)]
        confirm: bool,
        /// Read the password (needed only to override) from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Booked upgrades you may see (default: the next 8 weeks).
    List {
        /// From this date (YYYY-MM-DD) or instant (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Up to this date or instant.
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Create your calendar feed (every upgrade you may see); prints its secret URL.
    Feed,
    /// Revoke all your calendar feeds.
    Revoke,
}

/// Reads `--override KIND=REASON`.
pub fn parse_override(s: &str) -> Result<(ConflictKind, String), String> {
    let (kind, reason) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: write KIND=REASON, e.g. `short_notice=agreed by phone`"))?;
    let kind: ConflictKind = kind.trim().parse().map_err(|e| format!("{e}"))?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(format!(
            "`{s}`: overriding `{kind}` needs a reason after `=`"
        ));
    }
    Ok((kind, reason.to_string()))
}

/// The body of `POST /requests/{key}/schedule`.
pub fn set_body(
    slot: Option<usize>,
    window: Option<&str>,
    engineer: &str,
    overrides: &[(ConflictKind, String)],
    password: Option<&str>,
    comment: Option<&str>,
) -> Value {
    json!({
        "slot": slot,
        "window": window,
        "engineer": engineer,
        "overrides": overrides
            .iter()
            .map(|(kind, reason)| json!({ "kind": kind, "reason": reason }))
            .collect::<Vec<_>>(),
        "password": password,
        "comment": comment,
    })
}

/// Query pairs whose value is given.
fn query<'a>(pairs: &[(&'a str, Option<&'a str>)]) -> Vec<(&'a str, &'a str)> {
    pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| (*k, v)))
        .collect()
}

fn write_out(out: Option<&Path>, bytes: &[u8], what: &str) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, bytes)
                .with_context(|| format!("cannot write {what} to {}", path.display()))?;
            eprintln!("{what} written to {}", path.display());
        }
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes)?;
            if !bytes.ends_with(b"\n") {
                stdout.write_all(b"\n")?;
            }
        }
    }
    Ok(())
}

pub async fn run(api: &Api, cmd: ScheduleCommand) -> anyhow::Result<ExitCode> {
    let tz = TimeZone::system();
    match cmd {
        ScheduleCommand::Quiet {
            pair,
            request,
            weeks,
            format,
            json,
            out,
        } => {
            let format = if json {
                QuietFormat::Json
            } else {
                QuietFormat::pick(format, out.as_deref())
            };
            let weeks = weeks.to_string();
            let q = query(&[
                ("pair", pair.as_deref()),
                ("request", request.as_deref()),
                ("weeks", Some(&weeks)),
                ("format", Some(format.as_str())),
            ]);
            let bytes = api.get_bytes(&["quiet"], &q).await?;
            write_out(out.as_deref(), &bytes, "heatmap")?;
        }
        ScheduleCommand::Suggest {
            key,
            engineer,
            alternatives,
            json,
        } => {
            let q = query(&[
                ("engineer", engineer.as_deref()),
                ("alternatives", alternatives.then_some("true")),
            ]);
            let text = api.get(&["requests", &key, "schedule"], &q).await?;
            if json {
                super::print_raw(&text);
            } else {
                let a: Assessment = parse(&text)?;
                print!("{}", view::assessment(&a, &tz));
            }
        }
        ScheduleCommand::Set {
            key,
            slot,
            window,
            engineer,
            overrides,
            comment,
            confirm,
            password_stdin,
        } => {
            let password = if overrides.is_empty() {
                None
            } else {
                let kinds: Vec<String> = overrides.iter().map(|(k, _)| k.to_string()).collect();
                eprintln!(
                    "Overriding {} on {key} is e-signed with the meaning `approved`.",
                    kinds.join(", ")
                );
                Some(super::password(
                    password_stdin,
                    "Your password (to sign the override): ",
                )?)
            };
            let mut body = set_body(
                slot,
                window.as_deref(),
                &engineer,
                &overrides,
                password.as_deref(),
                comment.as_deref(),
            );
            body["confirm"] = json!(confirm);
            let text = api.post(&["requests", &key, "schedule"], &body).await?;
            let s: Schedule = parse(&text)?;
            let mut out = String::new();
            view::schedule(&mut out, &s, &tz, "");
            print!("{out}");
        }
        ScheduleCommand::List { from, to, json } => {
            let q = query(&[("from", from.as_deref()), ("to", to.as_deref())]);
            let text = api.get(&["schedules"], &q).await?;
            if json {
                super::print_raw(&text);
            } else {
                let list: Vec<Schedule> = parse(&text)?;
                if list.is_empty() {
                    eprintln!("no upgrades booked in that period");
                }
                for s in &list {
                    println!("{}", view::schedule_line(s, &tz));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `valet calendar KEY [--out FILE.ics]`, `valet calendar feed`, `valet calendar revoke`.
pub async fn calendar(
    api: &Api,
    cmd: Option<CalendarCommand>,
    key: Option<String>,
    out: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    match (cmd, key) {
        (Some(CalendarCommand::Feed), _) => {
            let text = api.post(&["calendar", "feeds"], &json!({})).await?;
            let v: Value = parse(&text)?;
            let url = v["url"].as_str().unwrap_or_default();
            // Without a configured base URL the server answers with a path; the client knows
            // the server it called.
            if url.starts_with('/') {
                println!("{}{url}", api.server());
            } else {
                println!("{url}");
            }
            if let Some(note) = v["note"].as_str() {
                eprintln!("{note}; or run `valet calendar revoke`");
            }
        }
        (Some(CalendarCommand::Revoke), _) => {
            let text = api.delete(&["calendar", "feeds"]).await?;
            let v: Value = parse(&text)?;
            println!("revoked {} calendar feed(s)", v["revoked"]);
        }
        (None, Some(key)) => {
            let bytes = api.get_bytes(&["requests", &key, "calendar"], &[]).await?;
            write_out(out.as_deref(), &bytes, &format!("{key}'s calendar entry"))?;
        }
        (None, None) => anyhow::bail!(
            "give an upgrade request (`valet calendar UPG-1 --out upg.ics`), or `feed` or `revoke`"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_is_kind_equals_reason() {
        assert_eq!(
            parse_override("unvalidated_build=hotfix agreed with QA").unwrap(),
            (
                ConflictKind::UnvalidatedBuild,
                "hotfix agreed with QA".to_string()
            )
        );
        assert!(parse_override("unvalidated_build").is_err());
        assert!(parse_override("unvalidated_build= ")
            .unwrap_err()
            .contains("reason"));
        assert!(parse_override("bogus=x").is_err());
    }

    #[test]
    fn set_flags_map_to_the_api_fields() {
        assert_eq!(
            set_body(
                Some(2),
                None,
                "eddie",
                &[(ConflictKind::ShortNotice, "agreed".into())],
                Some("pw"),
                None
            ),
            json!({
                "slot": 2, "window": null, "engineer": "eddie",
                "overrides": [{"kind": "short_notice", "reason": "agreed"}],
                "password": "pw", "comment": null
            })
        );
    }

    #[test]
    fn quiet_format_follows_the_out_extension() {
        assert_eq!(
            QuietFormat::pick(None, Some(Path::new("q.SVG"))),
            QuietFormat::Svg
        );
        assert_eq!(QuietFormat::pick(None, None), QuietFormat::Csv);
        assert_eq!(
            QuietFormat::pick(Some(QuietFormat::Json), Some(Path::new("q.svg"))),
            QuietFormat::Json
        );
    }
}
