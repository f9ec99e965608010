//! `valet run …`: a request's latest run (or a run by id), and waiting for it to finish.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use jiff::tz::TimeZone;

use super::api::{parse, Api};
use super::view::{self, Run};

/// How often `run wait` asks.
const POLL: Duration = Duration::from_secs(2);

#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Show the request's latest run (or a run by id): steps, state, attempts, durations.
    Show {
        /// A request key (VAL-3) or a run id.
        target: String,
        #[arg(long)]
        json: bool,
    },
    /// Start a booked upgrade now instead of at its slot (a PM or an engineer; audited).
    Start {
        /// The upgrade or hotfix request (UPG-3).
        key: String,
        /// Start at once rather than at the booked slot (required; the slot starts it otherwise).
        #[arg(long)]
        now: bool,
        /// Why it starts before its slot (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Release the environment an upgrade run waits for (booked with confirmation steps).
    Confirm {
        /// The upgrade or hotfix request (UPG-3).
        key: String,
    },
    /// Abort a running upgrade: it stops after the current step and rolls back.
    Abort {
        /// The upgrade or hotfix request (UPG-3).
        key: String,
        /// Why it is aborted (recorded in the audit trail and on the run).
        #[arg(long)]
        reason: String,
    },
    /// Wait for the request's latest run: exit 0 when it succeeded, 1 when it failed (its
    /// failed step's log is printed), 2 on timeout.
    Wait {
        /// A request key (VAL-3) or a run id.
        target: String,
        /// Give up after this many seconds (default: wait as long as it takes).
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
    },
}

/// A request's latest run (as the API's JSON text and read), or the run with this id.
async fn latest(api: &Api, target: &str) -> anyhow::Result<Option<(String, Run)>> {
    if super::is_request_key(target) {
        let text = api.get(&["requests", target, "runs"], &[]).await?;
        let runs: Vec<serde_json::Value> = parse(&text)?;
        let mut best: Option<(String, Run)> = None;
        for raw in runs {
            let run: Run = serde_json::from_value(raw.clone())?;
            if best
                .as_ref()
                .is_none_or(|(_, b)| run.created_at > b.created_at)
            {
                best = Some((raw.to_string(), run));
            }
        }
        Ok(best)
    } else {
        let text = api.get(&["runs", target], &[]).await?;
        let run = parse(&text)?;
        Ok(Some((text, run)))
    }
}

/// The state of a request that has no run yet.
async fn request_state(api: &Api, key: &str) -> anyhow::Result<String> {
    let text = api.get(&["requests", key], &[]).await?;
    let v: view::RequestView = parse(&text)?;
    Ok(v.request.state)
}

pub async fn run(api: &Api, cmd: RunCommand) -> anyhow::Result<ExitCode> {
    let tz = TimeZone::system();
    match cmd {
        RunCommand::Show { target, json } => {
            let Some((text, r)) = latest(api, &target).await? else {
                let state = request_state(api, &target).await?;
                anyhow::bail!("{target} has no run yet (state {state})");
            };
            if json {
                super::print_raw(&text);
            } else {
                let mut out = String::new();
                view::run(&mut out, &r, &tz);
                print!("{out}");
            }
            Ok(ExitCode::SUCCESS)
        }
        RunCommand::Wait { target, timeout } => wait(api, &target, timeout, &tz).await,
        RunCommand::Start { key, now, reason } => {
            if !now {
                anyhow::bail!(
                    "{key} starts by itself at its booked slot; pass --now to start it at once"
                );
            }
            api.post(
                &["requests", &key, "run", "start"],
                &serde_json::json!({ "reason": reason }),
            )
            .await?;
            println!("{key}: upgrade run queued now (reason: {reason})");
            Ok(ExitCode::SUCCESS)
        }
        RunCommand::Confirm { key } => {
            let text = api
                .post(
                    &["requests", &key, "run", "confirm"],
                    &serde_json::json!({}),
                )
                .await?;
            let v: serde_json::Value = parse(&text)?;
            println!(
                "{key}: {} released; the run continues",
                v["released"].as_str().unwrap_or("?")
            );
            Ok(ExitCode::SUCCESS)
        }
        RunCommand::Abort { key, reason } => {
            api.post(
                &["requests", &key, "run", "abort"],
                &serde_json::json!({ "reason": reason }),
            )
            .await?;
            println!("{key}: abort requested; the run rolls back after its current step");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Steps finished (done or skipped) of a run.
fn finished_steps(r: &Run) -> u64 {
    r.steps
        .iter()
        .filter(|s| matches!(s.state.as_str(), "done" | "skipped"))
        .count() as u64
}

/// What is going on now, e.g. `migrate (VAL-3-MAIN), attempt 2`.
fn current(r: &Run) -> String {
    match r.steps.iter().find(|s| s.state == "running") {
        Some(s) => {
            let env = s
                .env
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            let attempt = if s.attempts > 1 {
                format!(", attempt {}", s.attempts)
            } else {
                String::new()
            };
            format!("{}{env}{attempt}", s.name)
        }
        None => r.state.clone(),
    }
}

async fn wait(
    api: &Api,
    target: &str,
    timeout: Option<u64>,
    tz: &TimeZone,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let deadline = timeout.map(|s| started + Duration::from_secs(s));
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} [{pos}/{len}] {wide_msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(target.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    // Without a terminal, one line per step whose state changed (for CI logs).
    let mut seen: HashMap<i64, String> = HashMap::new();
    loop {
        match latest(api, target).await? {
            None => {
                let state = request_state(api, target).await?;
                if matches!(state.as_str(), "done" | "rejected" | "cancelled") {
                    if let Some(b) = &bar {
                        b.finish_and_clear();
                    }
                    anyhow::bail!("{target} has no run and will get none (state {state})");
                }
                if let Some(b) = &bar {
                    b.set_message(format!("no run yet (request {state})"));
                }
            }
            Some((_, r)) => {
                if let Some(b) = &bar {
                    b.set_length(r.steps.len() as u64);
                    b.set_position(finished_steps(&r));
                    b.set_message(current(&r));
                } else {
                    for s in &r.steps {
                        if seen.get(&s.seq) != Some(&s.state) && s.state != "pending" {
                            let took = view::step_ms(s)
                                .filter(|_| s.state != "running")
                                .map(|ms| format!(" ({})", view::duration(ms)))
                                .unwrap_or_default();
                            eprintln!(
                                "{target} step {}/{} {}: {}{took}",
                                s.seq,
                                r.steps.len(),
                                s.name,
                                s.state
                            );
                            seen.insert(s.seq, s.state.clone());
                        }
                    }
                }
                match r.state.as_str() {
                    "succeeded" => {
                        if let Some(b) = &bar {
                            b.finish_and_clear();
                        }
                        let mut out = String::new();
                        view::run(&mut out, &r, tz);
                        print!("{out}");
                        return Ok(ExitCode::SUCCESS);
                    }
                    "failed" | "cancelled" => {
                        if let Some(b) = &bar {
                            b.finish_and_clear();
                        }
                        let mut out = String::new();
                        view::run(&mut out, &r, tz);
                        print!("{out}");
                        if let Some(s) = r.steps.iter().find(|s| s.state == "failed") {
                            eprintln!("--- log of step {} {} ---", s.seq, s.name);
                            eprintln!("{}", s.log.trim_end());
                            eprintln!("---");
                        }
                        eprintln!(
                            "error: run {} of {} {}{}",
                            r.id,
                            r.request_key,
                            r.state,
                            r.error
                                .as_deref()
                                .map(|e| format!(": {e}"))
                                .unwrap_or_default()
                        );
                        return Ok(ExitCode::from(1));
                    }
                    _ => {}
                }
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            eprintln!(
                "error: timed out after {}s waiting for {target}'s run; it goes on, see `valet run show {target}`",
                started.elapsed().as_secs()
            );
            return Ok(ExitCode::from(2));
        }
        let nap = match deadline {
            Some(d) => POLL.min(d.saturating_duration_since(Instant::now())),
            None => POLL,
        };
        tokio::time::sleep(nap).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use view::Step;

    fn step(seq: i64, name: &str, state: &str, attempts: i64) -> Step {
        Step {
            seq,
            name: name.into(),
            state: state.into(),
            attempts,
            env: Some("VAL-3-MAIN".into()),
            ..Step::default()
        }
    }

    #[test]
    fn progress_counts_finished_steps_and_names_the_running_one() {
        let r = Run {
            state: "running".into(),
            steps: vec![
                step(1, "snapshot", "done", 1),
                step(2, "copy", "skipped", 0),
                step(3, "migrate", "running", 2),
                step(4, "configure", "pending", 0),
            ],
            ..Run::default()
        };
        assert_eq!(finished_steps(&r), 2);
        assert_eq!(current(&r), "migrate (VAL-3-MAIN), attempt 2");
    }
}
