//! The workflow commands (`request`, `finding`, `run`, `doc`, `schedule`, `calendar`,
//! `engineer`, `blackout`, `hotfix`): clients of the JSON API under `/api/v1`, as `gh` is to GitHub.
//!
//! They never open the state database and need no data directory: every action goes through
//! the server with the caller's API token, so the audit trail names the person who did it.
//! Signing commands send the person's password, asked again each time (21 CFR 11.200).

mod api;
mod blackouts;
mod documents;
mod engineers;
mod findings;
mod hotfixes;
mod requests;
mod runs;
mod schedules;
mod view;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use api::{Api, ApiFailure};

/// Where the server is and who is calling.
#[derive(Debug, Clone, Args)]
pub struct Conn {
    /// The valet server's URL.
    #[arg(
        long,
        global = true,
        env = "VALET_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// API token (an administrator issues one with `valet user token --username U`).
    #[arg(long, global = true, env = "VALET_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// The workflow commands, flattened into the binary's top-level commands.
#[derive(Debug, Subcommand)]
pub enum Workflow {
    /// Requests: file a VAL or a PROD upgrade, list, show, comment, approve, sign, reject, cancel, close, extend
    /// (API client).
    Request {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: requests::RequestCommand,
    },
    /// Findings filed during validation (API client).
    Finding {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: findings::FindingCommand,
    },
    /// Provisioning and upgrade runs: show, wait; upgrades: start now, confirm, abort (API client).
    Run {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: runs::RunCommand,
    },
    /// Controlled documents (IQ reports): list, download (API client).
    Doc {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: documents::DocCommand,
    },
    /// PROD upgrade scheduling: quiet-time heatmap, slot assessment, booking, list (API
    /// client).
    Schedule {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: schedules::ScheduleCommand,
    },
    /// An upgrade's calendar entry (`valet calendar UPG-1 --out upg.ics`), or your calendar
    /// feed: `feed`, `revoke` (API client).
    Calendar {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: Option<schedules::CalendarCommand>,
        /// The upgrade request whose .ics to download, e.g. UPG-1.
        key: Option<String>,
        /// Write the .ics to this file (default: standard output).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Vendor engineers' hours, leave and on-call time (API client).
    Engineer {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: engineers::EngineerCommand,
    },
    /// Customers' blackout periods and vendor freezes (API client).
    Blackout {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: blackouts::BlackoutCommand,
    },
    /// Hotfixes offered to your PROD pairs: list, accept (with slots) or decline, e-signed
    /// (API client).
    Hotfix {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: hotfixes::HotfixCommand,
    },
}

/// Runs one workflow command; errors are printed here (an API's field errors one per line).
pub fn main(workflow: Workflow) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(workflow)) {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

/// Runs one workflow command and says how the process should exit.
pub async fn run(workflow: Workflow) -> anyhow::Result<ExitCode> {
    match workflow {
        Workflow::Request { conn, command } => requests::run(&Api::new(&conn)?, command).await,
        Workflow::Finding { conn, command } => findings::run(&Api::new(&conn)?, command).await,
        Workflow::Run { conn, command } => runs::run(&Api::new(&conn)?, command).await,
        Workflow::Doc { conn, command } => documents::run(&Api::new(&conn)?, command).await,
        Workflow::Schedule { conn, command } => schedules::run(&Api::new(&conn)?, command).await,
        Workflow::Calendar {
            conn,
            command,
            key,
            out,
        } => schedules::calendar(&Api::new(&conn)?, command, key, out).await,
        Workflow::Engineer { conn, command } => engineers::run(&Api::new(&conn)?, command).await,
        Workflow::Blackout { conn, command } => blackouts::run(&Api::new(&conn)?, command).await,
        Workflow::Hotfix { conn, command } => hotfixes::run(&Api::new(&conn)?, command).await,
    }
}

/// Prints an error: one line, then each field error of a 400 on its own line.
pub fn report(e: &anyhow::Error) {
    match e.downcast_ref::<ApiFailure>() {
        Some(f) if !f.fields.is_empty() => {
            eprintln!("error: {f}");
            for field in &f.fields {
                eprintln!("  {}: {}", field.field, field.message);
            }
        }
        _ => eprintln!("error: {}", format!("{e:#}").replace('\n', " ")),
    }
}

/// Reads the signer's password: from standard input with `--password-stdin` (first line),
/// otherwise from a prompt on the terminal without echo.
fn password(from_stdin: bool, prompt: &str) -> anyhow::Result<String> {
    use anyhow::Context;
    let pw = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else {
        rpassword::prompt_password(prompt).context(
            "cannot ask for the password on this terminal; pipe it in with --password-stdin",
        )?
    };
    if pw.is_empty() {
        anyhow::bail!("the password is empty; signing needs your password again (21 CFR 11.200)");
    }
    Ok(pw)
}

/// Prints an API answer as it came, for `--json`.
fn print_raw(text: &str) {
    if text.ends_with('\n') {
        print!("{text}");
    } else {
        println!("{text}");
    }
}

/// Whether `s` is a request key (`VAL-3`, `UPG-7`) rather than a run or document id.
fn is_request_key(s: &str) -> bool {
    match s.split_once('-') {
        Some((prefix, n)) => {
            !prefix.is_empty()
                && prefix.chars().all(|c| c.is_ascii_alphabetic())
                && !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_keys_are_told_from_run_and_document_ids() {
        assert!(is_request_key("VAL-3"));
        assert!(is_request_key("UPG-12"));
        assert!(!is_request_key("IQ-VAL-3-1"));
        assert!(!is_request_key("0193a5c2-7c1e-7f00-8000-000000000001"));
        assert!(!is_request_key("VAL-"));
    }
}
