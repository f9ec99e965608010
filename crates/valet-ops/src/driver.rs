//! Deployment drivers: how an environment's app is started, stopped and commanded.
//!
//! `process` (this module) runs the app as a local child process, the default and the one the
//! demo and tests use. Further drivers (systemd, Kubernetes) implement the same operations.
//! Commands come from the app profile as argv arrays; nothing goes through a shell.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::error::{OpsError, Result};
use crate::profile::{AppProfile, Vars};

/// One environment's instance to run.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    /// Human name for messages and logs, e.g. `Acme PROD-MAIN`.
    pub name: String,
    pub vars: Vars,
    /// Where the app answers HTTP, e.g. `http://127.0.0.1:8101`.
    pub base_url: String,
    /// File the app's output is appended to.
    pub log_path: PathBuf,
    /// How long to wait for the health endpoint to answer 200.
    pub ready_timeout: Duration,
}

/// A started instance. Dropping it kills the process; call [`ProcessDriver::stop`] to stop
/// it gracefully.
#[derive(Debug)]
pub struct Running {
    pub name: String,
    pub pid: u32,
    pub base_url: String,
    /// The `key: value` lines the app printed at start-up (runtime versions, environment):
    /// evidence for the IQ report.
    pub banner: BTreeMap<String, String>,
    child: Child,
}

/// Output of a one-shot command (migrate, maintenance on/off, generate).
#[derive(Debug, Clone)]
pub struct CommandOutput {
    pub argv: Vec<String>,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

/// Runs apps as local processes.
#[derive(Debug, Clone, Default)]
pub struct ProcessDriver;

fn command(argv: &[String]) -> Result<Command> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| OpsError::Payload("empty command".into()))?;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).kill_on_drop(true);
    // The app dies with the worker that runs it, even when the worker is killed outright
    // (SIGKILL runs no destructor): no orphan instance keeps a VAL database open. A restarted
    // worker starts what should run again.
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                .map_err(std::io::Error::from)
        });
    }
    Ok(cmd)
}

/// The passwords inside the URLs of `argv` (database URLs): what must never reach a log, an
/// error message or a document.
fn secrets_of(argv: &[String]) -> Vec<String> {
    argv.iter()
        .filter_map(|a| url::Url::parse(a).ok())
        .filter_map(|u| u.password().map(str::to_string))
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            // Both spellings: as written in the URL and percent-decoded.
            let decoded = url::form_urlencoded::parse(format!("x={p}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            [p, decoded]
        })
        .filter(|p| !p.is_empty())
        .collect()
}

/// `text` with every secret replaced by `***`.
fn scrub(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
}

/// `text` with the password of database URL `url` replaced by `***`.
pub fn scrub_text(text: &str, url: &str) -> String {
    scrub(text, &secrets_of(&[url.to_string()]))
}

impl ProcessDriver {
    /// Runs profile command `name` to completion; a non-zero exit is an error carrying stderr.
    pub async fn run(
        &self,
        profile: &AppProfile,
        name: &str,
        vars: &Vars,
    ) -> Result<CommandOutput> {
        let argv = profile.argv(name, vars)?;
        let started = std::time::Instant::now();
        let out = command(&argv)?
            .output()
            .await
            .map_err(|e| OpsError::Spawn {
                program: argv[0].clone(),
                source: e,
            })?;
        let secrets = secrets_of(&argv);
        let stdout = scrub(&String::from_utf8_lossy(&out.stdout), &secrets);
        let stderr = scrub(&String::from_utf8_lossy(&out.stderr), &secrets);
        if !out.status.success() {
            return Err(OpsError::CommandFailed {
                command: format!("{name} ({})", scrub(&argv.join(" "), &secrets)),
                status: out.status.to_string(),
                stderr: stderr.trim().to_string(),
            });
        }
        Ok(CommandOutput {
            argv,
            stdout,
            stderr,
            duration: started.elapsed(),
        })
    }

    /// Starts the app, captures its start-up banner and waits until its health endpoint
    /// answers 200. On failure the process is stopped and the log tail is in the error.
    pub async fn start(&self, profile: &AppProfile, spec: &InstanceSpec) -> Result<Running> {
        let argv = profile.argv("start", &spec.vars)?;
        if let Some(dir) = spec.log_path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut log = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log_path)
            .await?;
        let secrets = secrets_of(&argv);
        log.write_all(
            format!(
                "--- valet: starting {} ---\n",
                scrub(&argv.join(" "), &secrets)
            )
            .as_bytes(),
        )
        .await?;
        let mut child = command(&argv)?
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| OpsError::Spawn {
                program: argv[0].clone(),
                source: e,
            })?;
        let pid = child.id().unwrap_or_default();
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (banner_tx, banner_rx) = tokio::sync::oneshot::channel();
        let log_path = spec.log_path.clone();
        let (out_secrets, err_secrets) = (secrets.clone(), secrets);
        let out_task = tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let mut banner = BTreeMap::new();
            let mut banner_tx = Some(banner_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                let line = scrub(&line, &out_secrets);
                let _ = log.write_all(format!("{line}\n").as_bytes()).await;
                if banner_tx.is_none() {
                    continue;
                }
                if let Some((k, v)) = line.split_once(": ") {
                    banner.insert(k.trim().to_string(), v.trim().to_string());
                    if k.trim() == "ready" {
                        if let Some(tx) = banner_tx.take() {
                            let _ = tx.send(std::mem::take(&mut banner));
                        }
                    }
                }
            }
            if let Some(tx) = banner_tx.take() {
                let _ = tx.send(banner);
            }
        });
        let err_task = tokio::spawn(async move {
            let mut err_log = match tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .await
            {
                Ok(f) => f,
                Err(_) => return,
            };
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = scrub(&line, &err_secrets);
                let _ = err_log.write_all(format!("{line}\n").as_bytes()).await;
            }
        });
        let mut running = Running {
            name: spec.name.clone(),
            pid,
            base_url: spec.base_url.clone(),
            banner: BTreeMap::new(),
            child,
        };
        let health_url = format!("{}{}", spec.base_url, profile.health.path);
        let ready = tokio::time::timeout(spec.ready_timeout, async {
            let client = reqwest::Client::new();
            loop {
                if let Ok(Some(status)) = running.child.try_wait() {
                    return Err(format!("the process exited during start-up ({status})"));
                }
                if let Ok(r) = client.get(&health_url).send().await {
                    if r.status().is_success() {
                        break;
                    }
                    // Up, in the maintenance mode an upgrade switched on before the restart:
                    // serving, just not to users yet.
                    if r.status().as_u16() == 503
                        && r.text().await.is_ok_and(|b| b.contains("maintenance"))
                    {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Healthy; an app that prints a banner has done so by now, or within moments.
            if let Ok(Ok(b)) = tokio::time::timeout(Duration::from_secs(2), banner_rx).await {
                running.banner = b;
            }
            Ok(())
        })
        .await;
        let why = match ready {
            Ok(Ok(())) => return Ok(running),
            Ok(Err(why)) => why,
            Err(_) => format!(
                "{health_url} did not answer 200 within {:?}",
                spec.ready_timeout
            ),
        };
        let _ = self.stop(&mut running).await;
        // The output pipes close with the process; let the log writers drain them.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let _ = out_task.await;
            let _ = err_task.await;
        })
        .await;
        let tail = log_tail(&spec.log_path, 15).await;
        Err(OpsError::Unhealthy {
            env: spec.name.clone(),
            why: format!("{why}; last lines of {}:\n{tail}", spec.log_path.display()),
        })
    }

    /// Stops gracefully (SIGTERM), killing after 10 seconds.
    pub async fn stop(&self, running: &mut Running) -> Result<()> {
        if running.child.try_wait()?.is_some() {
            return Ok(());
        }
        if let Some(pid) = running.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        match tokio::time::timeout(Duration::from_secs(10), running.child.wait()).await {
            Ok(r) => {
                r?;
            }
            Err(_) => {
                tracing::warn!(env = %running.name, "did not stop within 10 s; killing");
                running.child.kill().await?;
            }
        }
        Ok(())
    }
}

impl Running {
    /// Whether the process is still alive.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

async fn log_tail(path: &std::path::Path, n: usize) -> String {
    let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// GETs `base_url + path` and returns the status code.
pub async fn probe(base_url: &str, path: &str) -> Result<u16> {
    let url = format!("{base_url}{path}");
    reqwest::get(&url)
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| OpsError::Unhealthy {
            env: base_url.to_string(),
            why: format!("{url}: {e}"),
        })
}

/// A free TCP port on 127.0.0.1 (bound then released) for an instance to listen on.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    #[test]
    fn database_passwords_are_scrubbed_from_output() {
        let argv: Vec<String> = [
            "clinic",
            "migrate",
            "--db",
            "postgres://app:s%40cret@h:5432/db",
        ]
        .map(String::from)
        .to_vec();
        let secrets = secrets_of(&argv);
        let text = "error: migrating postgres://app:s%40cret@h:5432/db (password s@cret)";
        let clean = scrub(text, &secrets);
        assert!(
            !clean.contains("s%40cret") && !clean.contains("s@cret"),
            "{clean}"
        );
        assert!(clean.contains("postgres://app:***@h:5432/db"), "{clean}");
        assert!(secrets_of(&["sqlite:///x.db".to_string()]).is_empty());
    }
}
