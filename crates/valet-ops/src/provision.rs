//! The provisioning run of a VAL pair and the teardown of one, executed by `valet worker`.
//!
//! A run is a list of persisted steps (see [`crate::val::provisioning_steps`]). The worker
//! executes them in order, skipping the ones already `done`, so a run whose worker died is
//! resumed by the next worker where it stopped; every step is idempotent (a clone replaces a
//! half-written target, migrations skip what is applied, configuration is an upsert, a start
//! first stops the instance a dead worker left behind, the IQ document id is fixed per run).
//! A failing step fails the run: the request goes to `failed` with the step's log, the VAL
//! databases are dropped and the instances stopped, and the PMs are told.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use valet_core::{Actor, EnvState, RequestState, Role};
use valet_store::environments::{self, EnvUpdate, Environment, Pair};
use valet_store::requests::{self, Request};
use valet_store::runs::{self, Run, RunState, StepState};
use valet_store::{documents, releases, signatures, Store};

use crate::documents::iq;
use crate::driver::ProcessDriver;
use crate::error::{OpsError, Result};
use crate::outbox::announce;
use crate::profile::{AppProfile, Vars};
use crate::worker::{StartInstance, Supervisor};

/// What provisioning needs to know about the managed app and where valet keeps its files.
#[derive(Debug, Clone)]
pub struct OpsConfig {
    /// VAL SQLite databases, instance state directories and logs live under this.
    pub data_dir: PathBuf,
    /// The app profile (how to start, migrate, configure the app).
    pub profile: PathBuf,
    /// The masking policy every VAL clone goes through.
    pub policy: PathBuf,
    /// What `{bin}` expands to.
    pub bin: Vec<String>,
    /// Parallel workers of each clone.
    pub clone_jobs: usize,
}

/// How an instance of an environment runs, recorded on the environment (no secrets).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeploySpec {
    pub listen: String,
    pub state_dir: PathBuf,
    pub log_path: PathBuf,
    pub release: String,
    pub env_name: String,
    pub pid: Option<u32>,
}

/// The environment name the app is configured with, e.g. `VAL-MAIN`.
pub fn app_env_name(role: &str) -> String {
    format!("VAL-{role}")
}

/// The banner every VAL instance shows.
pub const VAL_BANNER: &str = "VAL — not for clinical use";

/// Executes provisioning and teardown runs.
#[derive(Clone)]
pub struct Provisioner {
    pub store: Store,
    pub config: Arc<OpsConfig>,
    pub supervisor: Supervisor,
    pub actor: Actor,
}

/// The result of one step: its log and artifacts.
struct Done {
    log: String,
    artifacts: Value,
}

fn short(id: &str) -> String {
    id.chars()
        .rev()
        .filter(|c| c.is_ascii_hexdigit())
        .take(8)
        .collect::<String>()
        .chars()
        .rev()
        .collect()
}

/// The URL of a VAL database cloned from `source`: same server (or, for SQLite, a file under
/// the data directory), a name of valet's own that no other pair shares.
pub fn val_database_url(
    source: &str,
    data_dir: &Path,
    key: &str,
    pair_id: &str,
    role: &str,
) -> Result<String> {
    let tag = format!("{}-{}", key.to_ascii_lowercase(), short(pair_id));
    match valet_clone::DbUrl::parse(source).map_err(|e| OpsError::Payload(e.to_string()))? {
        valet_clone::DbUrl::Sqlite(_) => Ok(format!(
            "sqlite://{}/val/{tag}/{}.db",
            data_dir.display(),
            role.to_ascii_lowercase()
        )),
        valet_clone::DbUrl::Postgres(_) | valet_clone::DbUrl::MySql(_) => {
            let mut u = url::Url::parse(source).map_err(|e| OpsError::Payload(e.to_string()))?;
            let name = format!(
                "valet_{}_{}",
                tag.replace('-', "_"),
                role.to_ascii_lowercase()
            );
            u.set_path(&format!("/{name}"));
            Ok(u.to_string())
        }
    }
}

fn instance_dir(data_dir: &Path, env: &Environment) -> PathBuf {
    data_dir.join("envs").join(format!(
        "{}-{}",
        env.name.to_ascii_lowercase(),
        short(&env.pair_id)
    ))
}

/// Parses `key: value` lines (banner, configuration report).
pub fn key_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty() && !k.contains(' '))
        .collect()
}

/// Parses the app's migration lines, e.g. `migrated: 24.3 (24.3.0.1300) in 12 ms`.
pub fn migration_timings(stdout: &str) -> Vec<(String, u64)> {
    stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("migrated: "))
        .filter_map(|rest| {
            let (release, tail) = rest.split_once(' ')?;
            let ms = tail
                .rsplit_once(" in ")?
                .1
                .trim()
                .strip_suffix("ms")?
                .trim();
            Some((release.to_string(), ms.parse().ok()?))
        })
        .collect()
}

/// Whether a process with `pid` runs and its command line mentions `needle`.
fn process_matches(pid: u32, needle: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(needle))
        .unwrap_or(false)
}

/// Stops an instance a previous worker left running (recorded pid, checked by its command
/// line so a reused pid is never signalled).
async fn stop_recorded(spec: &DeploySpec) {
    if let Some(pid) = spec.pid {
        kill_recorded(pid, &spec.listen).await;
    }
}

/// Stops process `pid` if its command line mentions `listen` (so a reused pid is never
/// signalled): SIGTERM, then SIGKILL after 10 s.
pub(crate) async fn kill_recorded(pid: u32, listen: &str) {
    if !process_matches(pid, listen) {
        return;
    }
    let p = nix::unistd::Pid::from_raw(pid as i32);
    let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGTERM);
    for _ in 0..100 {
        if !process_matches(pid, listen) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
    // A killed child of this very process stays a zombie until reaped; good enough.
}

impl Provisioner {
    /// A worker actor: runs are executed under a vendor engineer identity naming the worker.
    pub fn new(store: Store, config: OpsConfig, supervisor: Supervisor, worker: &str) -> Self {
        Provisioner {
            store,
            config: Arc::new(config),
            supervisor,
            actor: Actor {
                user_id: format!("worker:{worker}"),
                username: format!("worker {worker}"),
                role: Role::VendorEngineer,
                customer_id: None,
            },
        }
    }

    fn profile(&self) -> Result<AppProfile> {
        AppProfile::load(&self.config.profile)
    }

    async fn context(&self, run_id: &str) -> Result<(Run, Request, Pair, Pair)> {
        let run = runs::get(&self.store, &self.actor, run_id).await?;
        let req = requests::get(&self.store, &self.actor, &run.request_key).await?;
        let val = req.val()?;
        let pair_id = req.details["val_pair_id"]
            .as_str()
            .ok_or_else(|| OpsError::Payload(format!("{} has no VAL pair", req.key)))?;
        let val_pair = environments::pair(&self.store, &self.actor, pair_id).await?;
        let prod = environments::pair(&self.store, &self.actor, &val.pair_id).await?;
        Ok((run, req, val_pair, prod))
    }

    /// Executes (or resumes) provisioning run `run_id`. `cancelled` is asked between steps:
    /// when the worker lost the job to another one, it stops without touching anything more.
    pub async fn provision(
        &self,
        run_id: &str,
        cancelled: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<()> {
        let (run, req, val_pair, _) = self.context(run_id).await?;
        if run.state.is_final() {
            return Ok(());
        }
        runs::start(&self.store, &self.actor, run_id).await?;
        if req.state == RequestState::Scheduled {
            requests::transition(
                &self.store,
                &self.actor,
                &req.key,
                RequestState::InProgress,
                None,
            )
            .await?;
        }
        for env in [&val_pair.main, &val_pair.test] {
            if matches!(env.state, EnvState::Requested | EnvState::Failed) {
                environments::set_state(
                    &self.store,
                    &self.actor,
                    &env.id,
                    EnvState::Provisioning,
                    Some(&format!("provisioning run of {}", req.key)),
                )
                .await?;
            }
        }
        let steps = run.steps.clone();
        for step in steps {
            // An instance started by a worker that died went with it: start it again.
            let dead_instance = step.name == "start"
                && step.state == StepState::Done
                && match step.env.as_deref() {
                    Some("TEST") => self.supervisor.pid(&val_pair.test.id).await.is_none(),
                    _ => self.supervisor.pid(&val_pair.main.id).await.is_none(),
                };
            if matches!(step.state, StepState::Done | StepState::Skipped) && !dead_instance {
                continue;
            }
            if cancelled() {
                tracing::warn!(
                    run = run_id,
                    "lost the job; leaving the run to its new worker"
                );
                return Ok(());
            }
            runs::begin_step(&self.store, run_id, step.seq).await?;
            let started = Instant::now();
            let outcome = self
                .step(run_id, &step.name, step.env.as_deref(), step.seq)
                .await;
            match outcome {
                Ok(done) => {
                    tracing::info!(run = run_id, step = %step.name, env = ?step.env, ms = started.elapsed().as_millis() as u64, "step done");
                    runs::end_step(
                        &self.store,
                        &self.actor,
                        run_id,
                        step.seq,
                        StepState::Done,
                        &done.log,
                        &done.artifacts,
                    )
                    .await?;
                }
                Err(e) => {
                    let msg = e.to_string();
                    tracing::warn!(run = run_id, step = %step.name, error = %msg, "step failed");
                    runs::end_step(
                        &self.store,
                        &self.actor,
                        run_id,
                        step.seq,
                        StepState::Failed,
                        &msg,
                        &json!({}),
                    )
                    .await?;
                    self.fail(run_id, &step.name, step.env.as_deref(), &msg)
                        .await?;
                    return Ok(());
                }
            }
        }
        runs::finish(&self.store, &self.actor, run_id, RunState::Succeeded, None).await?;
        Ok(())
    }

    async fn step(&self, run_id: &str, name: &str, env: Option<&str>, seq: i64) -> Result<Done> {
        let (_, req, val_pair, prod) = self.context(run_id).await?;
        let pick = |p: &Pair| match env {
            Some("TEST") => p.test.clone(),
            _ => p.main.clone(),
        };
        match name {
            "clone" => self.clone_step(&req, &pick(&prod), &pick(&val_pair)).await,
            "carry_over" => self.carry_over(&req, &pick(&val_pair)).await,
            "migrate" => self.migrate(&req, &pick(&val_pair)).await,
            "configure" => self.configure(&req, &pick(&val_pair)).await,
            "start" => self.start(&req, &pick(&val_pair)).await,
            "iq_report" => self.iq_report(run_id, &req, &val_pair).await,
            "retire_old_pair" => self.retire_old_pair(&req).await,
            "notify" => self.notify_ready(&req, &val_pair).await,
            other => Err(OpsError::Payload(format!(
                "step {seq} `{other}` is not a provisioning step this worker knows"
            ))),
        }
    }

    async fn clone_step(
        &self,
        req: &Request,
        source: &Environment,
        target: &Environment,
    ) -> Result<Done> {
        let from = environments::database_url(&self.store, &self.actor, &source.id)
            .await?
            .ok_or_else(|| {
                OpsError::Payload(format!(
                    "{} has no database registered; register its database URL first",
                    source.name
                ))
            })?;
        let role = target.role.as_str();
        let to = val_database_url(
            &from,
            &self.config.data_dir,
            &req.key,
            &target.pair_id,
            role,
        )?;
        if let valet_clone::DbUrl::Sqlite(p) =
            valet_clone::DbUrl::parse(&to).map_err(|e| OpsError::Payload(e.to_string()))?
        {
            if let Some(dir) = p.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
        }
        // Recorded first, so that a failure or a teardown finds the database to drop.
        environments::update(
            &self.store,
            &self.actor,
            &target.id,
            EnvUpdate {
                database_url: Some(to.clone()),
                ..Default::default()
            },
            Some("VAL database"),
        )
        .await?;
        let policy = valet_clone::Policy::load(&self.config.policy)
            .map_err(|e| OpsError::Payload(e.to_string()))?;
        let mut opts = valet_clone::CloneOptions::new(from, to, policy);
        opts.replace = true;
        opts.jobs = self.config.clone_jobs.max(1);
        let started = Instant::now();
        let report = valet_clone::clone_database(&opts)
            .await
            .map_err(|e| OpsError::Payload(format!("clone of {} failed: {e}", source.name)))?;
        let log = format!(
            "cloned {} into {}: {} tables, {} rows in {} ms; policy {} (sha256 {}); leak scan {} ({} values looked for, {} target values read, {} hits)",
            source.name,
            target.name,
            report.tables.len(),
            report.total_rows,
            started.elapsed().as_millis(),
            report.policy,
            report.policy_sha256,
            if report.leak_scan.passed { "passed" } else { "FAILED" },
            report.leak_scan.values_indexed,
            report.leak_scan.target_values_scanned,
            report.leak_scan.hits,
        );
        Ok(Done {
            log,
            artifacts: json!({ "masking": report }),
        })
    }

    async fn vars(&self, req: &Request, env: &Environment) -> Result<Vars> {
        let db_url = environments::database_url(&self.store, &self.actor, &env.id)
            .await?
            .ok_or_else(|| OpsError::Payload(format!("{} has no database yet", env.name)))?;
        let dir = instance_dir(&self.config.data_dir, env);
        let val = req.val()?;
        let state_dir = dir.join("state");
        // IdP metadata given as XML is handed to the app as a file in its state directory.
        let sso_metadata = match &val.sso_metadata {
            Some(m) if m.trim_start().starts_with('<') => {
                tokio::fs::create_dir_all(&state_dir).await?;
                let f = state_dir.join("idp-metadata.xml");
                tokio::fs::write(&f, m.as_bytes()).await?;
                f.display().to_string()
            }
            Some(url) => url.clone(),
            None => String::new(),
        };
        Ok(Vars {
            bin: self.config.bin.clone(),
            db_url,
            listen: String::new(),
            release: val.build.version().to_string(),
            env_name: app_env_name(env.role.as_str()),
            state_dir: state_dir.display().to_string(),
            banner: VAL_BANNER.to_string(),
            sso_metadata,
            lab: val.lab.clone().unwrap_or_default(),
        })
    }

    async fn carry_over(&self, req: &Request, target: &Environment) -> Result<Done> {
        let val = req.val()?;
        let old_pair_id = val
            .refresh_of
            .ok_or_else(|| OpsError::Payload("not a refresh".into()))?;
        let old = environments::pair(&self.store, &self.actor, &old_pair_id).await?;
        let old_env = if target.role == valet_core::EnvRole::Test {
            old.test
        } else {
            old.main
        };
        let profile = self.profile()?;
        let tables = profile
            .configuration
            .as_ref()
            .map(|c| c.tables.clone())
            .unwrap_or_default();
        if tables.is_empty() {
            return Ok(Done {
                log: "the app profile names no configuration tables; nothing to carry over".into(),
                artifacts: json!({ "tables": [] }),
            });
        }
        let old_url = environments::database_url(&self.store, &self.actor, &old_env.id)
            .await?
            .ok_or_else(|| OpsError::Payload(format!("{} has no database", old_env.name)))?;
        let vars = self.vars(req, target).await?;
        tokio::fs::create_dir_all(&vars.state_dir).await?;
        let driver = ProcessDriver;
        let export = driver
            .run(
                &profile,
                "config_export",
                &Vars {
                    db_url: old_url,
                    ..vars.clone()
                },
            )
            .await?;
        let file = Path::new(&vars.state_dir).join("carry-over.json");
        tokio::fs::write(&file, export.stdout.as_bytes()).await?;
        let import = driver.run(&profile, "config_import", &vars).await?;
        let _ = tokio::fs::remove_file(&file).await;
        Ok(Done {
            log: format!(
                "configuration carried over from {} ({}):\n{}",
                old_env.name,
                tables.join(", "),
                import.stdout.trim()
            ),
            artifacts: json!({ "from": old_env.name, "tables": tables, "report": key_values(&import.stdout) }),
        })
    }

    async fn migrate(&self, req: &Request, env: &Environment) -> Result<Done> {
        let profile = self.profile()?;
        let vars = self.vars(req, env).await?;
        let started = Instant::now();
        let out = ProcessDriver.run(&profile, "migrate", &vars).await?;
        let total = started.elapsed().as_millis() as u64;
        let timings = migration_timings(&out.stdout);
        let val = req.val()?;
        environments::update(
            &self.store,
            &self.actor,
            &env.id,
            EnvUpdate {
                build: Some(val.build),
                ..Default::default()
            },
            Some("migrated to the target build"),
        )
        .await?;
        Ok(Done {
            log: format!("{}{}", out.stdout, out.stderr),
            artifacts: json!({
                "total_ms": total,
                "migrations": timings.iter().map(|(r, ms)| json!({ "release": r, "duration_ms": ms })).collect::<Vec<_>>(),
            }),
        })
    }

    async fn configure(&self, req: &Request, env: &Environment) -> Result<Done> {
        let profile = self.profile()?;
        if !profile.commands.contains_key("configure") {
            return Ok(Done {
                log: "the app profile has no `configure` command; the environment name and banner come from `start`".into(),
                artifacts: json!({ "configuration": { "env_name": app_env_name(env.role.as_str()) } }),
            });
        }
        let vars = self.vars(req, env).await?;
        let out = ProcessDriver.run(&profile, "configure", &vars).await?;
        Ok(Done {
            log: out.stdout.clone(),
            artifacts: json!({ "configuration": key_values(&out.stdout) }),
        })
    }

    async fn start(&self, req: &Request, env: &Environment) -> Result<Done> {
        if let Some(old) = environments::deploy_spec(&self.store, &env.id).await? {
            if let Ok(spec) = serde_json::from_value::<DeploySpec>(old) {
                stop_recorded(&spec).await;
            }
        }
        let mut vars = self.vars(req, env).await?;
        let port = crate::driver::free_port()?;
        vars.listen = format!("127.0.0.1:{port}");
        let dir = instance_dir(&self.config.data_dir, env);
        let start = StartInstance {
            env_id: env.id.clone(),
            name: format!("{} {}", req.customer_name, env.name),
            profile: self.config.profile.clone(),
            bin: vars.bin.clone(),
            db_url: vars.db_url.clone(),
            listen: vars.listen.clone(),
            release: vars.release.clone(),
            env_name: vars.env_name.clone(),
            state_dir: PathBuf::from(&vars.state_dir),
            log_path: dir.join("app.log"),
        };
        self.supervisor.start(start.clone()).await?;
        let base = format!("http://{}", vars.listen);
        let banner = self.supervisor.banner(&env.id).await.unwrap_or_default();
        let pid = self.supervisor.pid(&env.id).await;
        let profile = self.profile()?;
        let version_path = profile
            .version
            .as_ref()
            .map(|v| v.path.clone())
            .unwrap_or_else(|| "/version".into());
        let client = reqwest::Client::new();
        let health = client
            .get(format!("{base}{}", profile.health.path))
            .send()
            .await
            .map_err(|e| OpsError::Unhealthy {
                env: env.name.clone(),
                why: e.to_string(),
            })?;
        let health_status = health.status().as_u16();
        let health_body = health.text().await.unwrap_or_default();
        let version: Value = client
            .get(format!("{base}{version_path}"))
            .send()
            .await
            .map_err(|e| OpsError::Unhealthy {
                env: env.name.clone(),
                why: e.to_string(),
            })?
            .json()
            .await
            .map_err(|e| OpsError::Unhealthy {
                env: env.name.clone(),
                why: format!("{version_path} is not JSON: {e}"),
            })?;
        let val = req.val()?;
        let build_field = profile
            .version
            .as_ref()
            .and_then(|v| v.extra.get("build_field"))
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "build".into());
        let running = version[&build_field]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if running != val.build.to_string() {
            return Err(OpsError::Unhealthy {
                env: env.name.clone(),
                why: format!(
                    "{version_path} says build `{running}`, expected {}",
                    val.build
                ),
            });
        }
        let spec = DeploySpec {
            listen: vars.listen.clone(),
            state_dir: start.state_dir.clone(),
            log_path: start.log_path.clone(),
            release: vars.release.clone(),
            env_name: vars.env_name.clone(),
            pid,
        };
        environments::update(
            &self.store,
            &self.actor,
            &env.id,
            EnvUpdate {
                base_url: Some(base.clone()),
                deploy: Some(
                    serde_json::to_value(&spec).map_err(|e| OpsError::Payload(e.to_string()))?,
                ),
                ..Default::default()
            },
            Some("instance started"),
        )
        .await?;
        environments::record_start(&self.store, &self.actor, &env.id, &base, &banner).await?;
        let now = environments::get(&self.store, &self.actor, &env.id).await?;
        if now.state == EnvState::Provisioning {
            environments::set_state(&self.store, &self.actor, &env.id, EnvState::Active, None)
                .await?;
        }
        Ok(Done {
            log: format!(
                "{} answers at {base}: health {health_status}, build {running}\n{}",
                env.name,
                banner
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", iq::redact_value(v)))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            artifacts: json!({
                "base_url": base,
                "startup": iq::redact_environment(&banner),
                "health": format!("{health_status} {}", health_body.trim()),
                "version": version,
            }),
        })
    }

    async fn iq_report(&self, run_id: &str, req: &Request, val_pair: &Pair) -> Result<Done> {
        let run = runs::get(&self.store, &self.actor, run_id).await?;
        let val = req.val()?;
        let release = releases::get(&self.store, &self.actor, &val.build.to_string()).await?;
        let all_runs = runs::of_request(&self.store, &self.actor, req).await?;
        let n = all_runs
            .iter()
            .rev()
            .filter(|r| r.kind == "provision")
            .position(|r| r.id == run.id)
            .map(|p| p + 1)
            .unwrap_or(1);
        let document_id = format!("IQ-{}-{n}", req.key);
        let artifacts = |name: &str, env: &str| -> Value {
            run.steps
                .iter()
                .find(|s| s.name == name && s.env.as_deref() == Some(env))
                .map(|s| s.artifacts.clone())
                .unwrap_or(Value::Null)
        };
        let mut environments_out = Vec::new();
        let mut migrations = Vec::new();
        for env in [&val_pair.main, &val_pair.test] {
            let role = env.role.as_str();
            let masking = &artifacts("clone", role)["masking"];
            let mut by_table: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut by_transformer = BTreeMap::new();
            if let Some(m) = masking["columns_by_transformer"].as_object() {
                for (t, cols) in m {
                    let cols: Vec<String> = cols
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|c| c.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    if t != "keep" {
                        for c in &cols {
                            if let Some((table, col)) = c.rsplit_once('.') {
                                by_table
                                    .entry(table.to_string())
                                    .or_default()
                                    .push(col.to_string());
                            }
                        }
                    }
                    by_transformer.insert(t.clone(), cols);
                }
            }
            let tables = masking["tables"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|t| {
                            let name = t["table"].as_str().unwrap_or_default().to_string();
                            iq::IqMaskedTable {
                                rows: t["rows"].as_u64().unwrap_or(0),
                                masked_columns: by_table.get(&name).cloned().unwrap_or_default(),
                                table: name,
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let start = artifacts("start", role);
            let configuration = artifacts("configure", role)["configuration"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string()),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let startup = start["startup"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            for m in artifacts("migrate", role)["migrations"]
                .as_array()
                .into_iter()
                .flatten()
            {
                migrations.push(iq::IqMigration {
                    env: app_env_name(role),
                    release: m["release"].as_str().unwrap_or_default().to_string(),
                    duration_ms: m["duration_ms"].as_u64().unwrap_or(0),
                });
            }
            let leak = &masking["leak_scan"];
            environments_out.push(iq::IqEnvironment {
                name: app_env_name(role),
                role: role.to_string(),
                base_url: start["base_url"].as_str().unwrap_or_default().to_string(),
                database: env.database.clone().unwrap_or_default(),
                startup,
                configuration,
                masking: iq::IqMasking {
                    policy: masking["policy"].as_str().unwrap_or_default().to_string(),
                    policy_sha256: masking["policy_sha256"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    engine: masking["engine"].as_str().unwrap_or_default().to_string(),
                    total_rows: masking["total_rows"].as_u64().unwrap_or(0),
                    tables,
                    columns_by_transformer: by_transformer,
                    leak_scan: iq::IqLeakScan {
                        passed: leak["passed"].as_bool().unwrap_or(false),
                        values_indexed: leak["values_indexed"].as_u64().unwrap_or(0),
                        target_values_scanned: leak["target_values_scanned"].as_u64().unwrap_or(0),
                        hits: leak["hits"].as_u64().unwrap_or(0),
                    },
                },
                health: start["health"].as_str().unwrap_or_default().to_string(),
                version_endpoint: start["version"].to_string(),
            });
        }
        let steps = run
            .steps
            .iter()
            .filter(|s| s.state == StepState::Done)
            .filter_map(|s| {
                Some(iq::IqStep {
                    name: s.name.clone(),
                    env: s.env.clone(),
                    started_at: s.started_at?,
                    finished_at: s.finished_at?,
                    duration_ms: s.duration_ms.unwrap_or(0).max(0) as u64,
                    attempts: s.attempts.max(0) as u32,
                    state: s.state.as_str().to_string(),
                })
            })
            .collect();
        let sha = req.content_sha256();
        let sigs = signatures::of(&self.store, "request", &req.key)
            .await?
            .into_iter()
            .map(|s| iq::IqSignature {
                changed_after_signing: s.changed_after_signing(&sha),
                printed_name: s.printed_name,
                username: s.username,
                meaning: s.meaning.to_string(),
                signed_at: s.signed_at,
                signed_at_local: s.signed_at_local,
                record_sha256: s.record_sha256,
            })
            .collect();
        let report = iq::IqReport {
            document_id: document_id.clone(),
            request_key: req.key.clone(),
            customer: req.customer_name.clone(),
            generated_at: self.store.now(),
            generated_by: self.actor.username.clone(),
            version: release.version.to_string(),
            build: release.build.to_string(),
            artifact_reference: release.artifact_reference.clone(),
            artifact_sha256: release.artifact_sha256.clone(),
            environments: environments_out,
            migrations,
            steps,
            signatures: sigs,
        }
        .redacted();
        let content_sha = report.content_sha256();
        let html = iq::render_html(&report);
        let pdf = iq::render_pdf(&report)
            .map_err(|e| OpsError::Payload(format!("rendering the IQ PDF: {e}")))?;
        let doc = documents::store_document(
            &self.store,
            &self.actor,
            req,
            &document_id,
            "iq",
            &format!(
                "Installation qualification of {} ({})",
                req.key, release.build
            ),
            &content_sha,
            &html,
            &pdf,
        )
        .await?;
        Ok(Done {
            log: format!(
                "{} stored: {} bytes PDF, content SHA-256 {}",
                doc.id,
                pdf.len(),
                doc.sha256
            ),
            artifacts: json!({ "document": doc.id, "sha256": doc.sha256 }),
        })
    }

    async fn retire_old_pair(&self, req: &Request) -> Result<Done> {
        let val = req.val()?;
        let Some(old) = val.refresh_of else {
            return Ok(Done {
                log: "not a refresh".into(),
                artifacts: json!({}),
            });
        };
        let pair = environments::pair(&self.store, &self.actor, &old).await?;
        let mut log = String::new();
        for env in [&pair.main, &pair.test] {
            log.push_str(
                &self
                    .destroy_env(env, &format!("replaced by {}", req.key))
                    .await?,
            );
            log.push('\n');
        }
        if let Some(old_req) = &pair.main.request_id {
            if let Ok(r) = requests::get(&self.store, &self.actor, old_req).await {
                if r.state == RequestState::InProgress {
                    requests::transition(
                        &self.store,
                        &self.actor,
                        &r.key,
                        RequestState::Done,
                        Some(&format!("VAL pair replaced by the refresh {}", req.key)),
                    )
                    .await?;
                    log.push_str(&format!("{} closed\n", r.key));
                }
            }
        }
        Ok(Done {
            log,
            artifacts: json!({ "retired_pair": old }),
        })
    }

    async fn notify_ready(&self, req: &Request, val_pair: &Pair) -> Result<Done> {
        let r = requests::get(&self.store, &self.actor, &req.key).await?;
        if r.details["provisioned"] == json!(true) {
            return Ok(Done {
                log: "already announced".into(),
                artifacts: json!({}),
            });
        }
        let now = self.store.now();
        let mut tx = self.store.write().await?;
        let r = requests::update_details_in(
            &mut tx,
            now,
            &self.actor,
            &req.key,
            json!({ "provisioned": true }),
            "request.provisioned",
            None,
        )
        .await?;
        tx.commit().await?;
        let pair = environments::pair(&self.store, &self.actor, &val_pair.pair_id).await?;
        let urls = [&pair.main, &pair.test]
            .iter()
            .map(|e| format!("{}: {}", e.name, e.base_url.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("\n");
        let ids = announce(
            &self.store,
            &r,
            "request.provisioned",
            &format!("{}: your VAL pair is ready", r.key),
            &format!(
                "The VAL pair of {} runs build {}.\n{urls}\n\nValidation ends {}. File findings on the request; sign off when done.",
                r.key, r.details["build"].as_str().unwrap_or_default(), r.details["end"].as_str().unwrap_or_default()
            ),
            true,
        )
        .await?;
        crate::lifecycle::schedule_expiry(&self.store, &r).await?;
        Ok(Done {
            log: format!(
                "{} notification(s) queued; expiry reminders and closure scheduled",
                ids.len()
            ),
            artifacts: json!({ "notifications": ids.len() }),
        })
    }

    /// Stops the environment's instance: the one this worker runs, and one a previous worker
    /// recorded and left behind.
    async fn stop_instance(&self, env: &Environment) -> Result<()> {
        self.supervisor.stop(&env.id).await;
        if let Some(spec) = environments::deploy_spec(&self.store, &env.id).await? {
            if let Ok(spec) = serde_json::from_value::<DeploySpec>(spec) {
                stop_recorded(&spec).await;
            }
        }
        Ok(())
    }

    /// Stops the instance, drops the database and removes the files of one environment, and
    /// marks it destroyed. Safe to repeat.
    async fn destroy_env(&self, env: &Environment, reason: &str) -> Result<String> {
        let mut log = Vec::new();
        self.stop_instance(env).await?;
        log.push(format!("{}: instance stopped", env.name));
        if let Some(url) = environments::database_url(&self.store, &self.actor, &env.id).await? {
            let existed = valet_clone::drop_database(&url)
                .await
                .map_err(|e| OpsError::Payload(format!("dropping {}: {e}", env.name)))?;
            log.push(format!(
                "{}: database {} {}",
                env.name,
                valet_store::redact(&url),
                if existed {
                    "dropped"
                } else {
                    "was already gone"
                }
            ));
            if let valet_clone::DbUrl::Sqlite(p) =
                valet_clone::DbUrl::parse(&url).map_err(|e| OpsError::Payload(e.to_string()))?
            {
                if let Some(dir) = p.parent() {
                    let _ = tokio::fs::remove_dir(dir).await;
                }
            }
        }
        let dir = instance_dir(&self.config.data_dir, env);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => log.push(format!("{}: files removed ({})", env.name, dir.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let now = environments::get(&self.store, &self.actor, &env.id).await?;
        let path: &[EnvState] = match now.state {
            EnvState::Active => &[EnvState::Expiring, EnvState::Destroyed],
            EnvState::Maintenance => &[EnvState::Active, EnvState::Expiring, EnvState::Destroyed],
            EnvState::Provisioning => &[EnvState::Failed, EnvState::Destroyed],
            EnvState::Destroyed => &[],
            _ => &[EnvState::Destroyed],
        };
        for s in path {
            environments::set_state(&self.store, &self.actor, &env.id, *s, Some(reason)).await?;
        }
        Ok(log.join("\n"))
    }

    /// A failed step fails the run: request `failed`, VAL databases dropped, instances
    /// stopped, environments `failed`, PMs and watchers told with the step's log.
    async fn fail(&self, run_id: &str, step: &str, env: Option<&str>, msg: &str) -> Result<()> {
        let (_, req, val_pair, _) = self.context(run_id).await?;
        let what = match env {
            Some(e) => format!("step `{step}` ({e})"),
            None => format!("step `{step}`"),
        };
        let mut cleanup = Vec::new();
        for e in [&val_pair.main, &val_pair.test] {
            self.stop_instance(e).await?;
            if let Some(url) = environments::database_url(&self.store, &self.actor, &e.id).await? {
                match valet_clone::drop_database(&url).await {
                    Ok(_) => cleanup.push(format!("{}: database dropped", e.name)),
                    Err(err) => {
                        cleanup.push(format!("{}: could not drop the database: {err}", e.name))
                    }
                }
            }
            let cur = environments::get(&self.store, &self.actor, &e.id).await?;
            if matches!(cur.state, EnvState::Provisioning | EnvState::Active) {
                environments::set_state(
                    &self.store,
                    &self.actor,
                    &e.id,
                    EnvState::Failed,
                    Some(msg),
                )
                .await?;
            }
        }
        let r = requests::get(&self.store, &self.actor, &req.key).await?;
        let r = if r.state == RequestState::InProgress {
            requests::transition(
                &self.store,
                &self.actor,
                &r.key,
                RequestState::Failed,
                Some(&format!("{what} failed")),
            )
            .await?
        } else {
            r
        };
        announce(
            &self.store,
            &r,
            "request.failed",
            &format!("{}: provisioning failed at {what}", r.key),
            &format!(
                "Provisioning of {} failed at {what}:\n\n{msg}\n\n{}\n\nFix the cause, then retry the request.",
                r.key,
                cleanup.join("\n")
            ),
            true,
        )
        .await?;
        // Last, so that a run seen as failed has its cleanup and notice done.
        runs::finish(
            &self.store,
            &self.actor,
            run_id,
            RunState::Failed,
            Some(&format!("{what} failed: {msg}")),
        )
        .await?;
        Ok(())
    }

    /// Starts again the VAL instances that should run but do not (their worker stopped or
    /// died): every active VAL environment with a recorded deployment. Returns how many.
    pub async fn reconcile(&self) -> Result<usize> {
        let mut n = 0;
        for env in environments::list(&self.store, &self.actor, None).await? {
            if env.tier != valet_core::Tier::Val || env.state != EnvState::Active {
                continue;
            }
            if self.supervisor.pid(&env.id).await.is_some() {
                continue;
            }
            let Some(req) = &env.request_id else { continue };
            let req = requests::get(&self.store, &self.actor, req).await?;
            match self.start(&req, &env).await {
                Ok(_) => n += 1,
                Err(e) => {
                    tracing::warn!(env = %env.name, error = %e, "could not start the instance again")
                }
            }
        }
        Ok(n)
    }

    /// Executes teardown run `run_id` of `pair_id`: destroys both environments, then closes
    /// the request.
    pub async fn teardown(&self, run_id: &str) -> Result<()> {
        let run = runs::get(&self.store, &self.actor, run_id).await?;
        if run.state.is_final() {
            return Ok(());
        }
        runs::start(&self.store, &self.actor, run_id).await?;
        let req = requests::get(&self.store, &self.actor, &run.request_key).await?;
        let pair_id = req.details["val_pair_id"]
            .as_str()
            .ok_or_else(|| OpsError::Payload(format!("{} has no VAL pair", req.key)))?
            .to_string();
        let pair = environments::pair(&self.store, &self.actor, &pair_id).await?;
        let reason = req.details["closing"]["reason"]
            .as_str()
            .unwrap_or("VAL closed")
            .to_string();
        for step in &run.steps {
            if step.state == StepState::Done {
                continue;
            }
            runs::begin_step(&self.store, run_id, step.seq).await?;
            let outcome: Result<String> = match (step.name.as_str(), step.env.as_deref()) {
                ("destroy", Some("TEST")) => self.destroy_env(&pair.test, &reason).await,
                ("destroy", _) => self.destroy_env(&pair.main, &reason).await,
                ("notify", _) => {
                    let r = requests::get(&self.store, &self.actor, &req.key).await?;
                    let r = match r.state {
                        RequestState::InProgress => {
                            requests::transition(
                                &self.store,
                                &self.actor,
                                &r.key,
                                RequestState::Done,
                                Some(&reason),
                            )
                            .await?
                        }
                        RequestState::Failed => {
                            requests::transition(
                                &self.store,
                                &self.actor,
                                &r.key,
                                RequestState::Cancelled,
                                Some(&reason),
                            )
                            .await?
                        }
                        _ => r,
                    };
                    announce(
                        &self.store,
                        &r,
                        "request.closed",
                        &format!("{}: VAL closed", r.key),
                        &format!("The VAL pair of {} was torn down ({reason}); its documents and audit trail are kept.", r.key),
                        false,
                    )
                    .await?;
                    Ok(format!("{} is {}", r.key, r.state))
                }
                (other, _) => Err(OpsError::Payload(format!(
                    "unknown teardown step `{other}`"
                ))),
            };
            match outcome {
                Ok(log) => {
                    runs::end_step(
                        &self.store,
                        &self.actor,
                        run_id,
                        step.seq,
                        StepState::Done,
                        &log,
                        &json!({}),
                    )
                    .await?
                }
                Err(e) => {
                    runs::end_step(
                        &self.store,
                        &self.actor,
                        run_id,
                        step.seq,
                        StepState::Failed,
                        &e.to_string(),
                        &json!({}),
                    )
                    .await?;
                    runs::finish(
                        &self.store,
                        &self.actor,
                        run_id,
                        RunState::Failed,
                        Some(&e.to_string()),
                    )
                    .await?;
                    return Err(e);
                }
            }
        }
        runs::finish(&self.store, &self.actor, run_id, RunState::Succeeded, None).await?;
        Ok(())
    }
}

/// Registers the VAL cycle's job handlers on `worker`: provisioning and teardown runs,
/// closure at expiry, expiry reminders and notification delivery (e-mail through `smtp` when
/// configured; without it e-mails stay in the outbox as `failed` with the reason).
pub fn register(
    worker: crate::worker::Worker,
    prov: Provisioner,
    smtp: Option<crate::notify::SmtpConfig>,
) -> crate::worker::Worker {
    use crate::jobs::JobKind;
    use crate::worker::JobContext;
    use valet_store::queue::Job;
    let upgrader = crate::upgrade_run::Upgrader {
        store: prov.store.clone(),
        config: prov.config.clone(),
        supervisor: prov.supervisor.clone(),
        actor: prov.actor.clone(),
        drain: Duration::from_secs(1),
        fail_at: None,
    };
    let (p1, p2, p3, p4, p5) = (prov.clone(), prov.clone(), prov.clone(), prov.clone(), prov);
    let smtp = Arc::new(smtp);
    let run_id = |job: &Job| -> Result<String> {
        job.payload["run_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| OpsError::Payload(format!("{} needs run_id", job.kind)))
    };
    worker
        .handle(JobKind::Provision, move |job: Job, ctx: JobContext| {
            let p = p1.clone();
            async move {
                let id = run_id(&job)?;
                p.provision(&id, &|| ctx.cancel.is_cancelled()).await
            }
        })
        .handle(JobKind::Teardown, move |job: Job, _ctx: JobContext| {
            let p = p2.clone();
            async move { p.teardown(&run_id(&job)?).await }
        })
        .handle(JobKind::Close, move |job: Job, _ctx: JobContext| {
            let p = p3.clone();
            async move { crate::lifecycle::close_due(&p.store, &job.payload).await }
        })
        .handle(JobKind::Remind, move |job: Job, _ctx: JobContext| {
            let p = p4.clone();
            async move { crate::lifecycle::remind(&p.store, &job.payload).await }
        })
        .handle(JobKind::UpgradeRun, move |job: Job, ctx: JobContext| {
            let u = upgrader.clone();
            async move { u.handle(&job.payload, &|| ctx.cancel.is_cancelled()).await }
        })
        .handle(
            JobKind::UpgradeRemind,
            move |job: Job, ctx: JobContext| async move {
                crate::upgrade::remind(&ctx.store, &job.payload)
                    .await
                    .map(|_| ())
            },
        )
        .handle(JobKind::Notify, move |job: Job, _ctx: JobContext| {
            let (p, smtp) = (p5.clone(), smtp.clone());
            async move {
                let id = job.payload["notification_id"]
                    .as_str()
                    .ok_or_else(|| {
                        OpsError::Payload("notify.deliver needs notification_id".into())
                    })?
                    .to_string();
                crate::outbox::deliver(&p.store, &id, smtp.as_ref().as_ref()).await
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_lines_give_timings() {
        let out = "migrated: 24.2.1 (24.2.1.1201) in 12 ms\nmigrated: 24.3 (24.3.0.1300) in 140 ms\nup to date\n";
        assert_eq!(
            migration_timings(out),
            vec![("24.2.1".to_string(), 12), ("24.3".to_string(), 140)]
        );
    }

    #[test]
    fn val_databases_live_beside_their_source() {
        let d = Path::new("/data");
        assert_eq!(
            val_database_url("sqlite:///x/prod.db", d, "VAL-3", "0192-abcdef12", "MAIN").unwrap(),
            "sqlite:///data/val/val-3-abcdef12/main.db"
        );
        assert_eq!(
            val_database_url(
                "postgres://u:p@h:5432/prod",
                d,
                "VAL-3",
                "0192-abcdef12",
                "TEST"
            )
            .unwrap(),
            "postgres://u:p@h:5432/valet_val_3_abcdef12_test"
        );
    }

    #[test]
    fn key_value_lines_are_read_and_prose_ignored() {
        let m = key_values("env: VAL-MAIN\nready: true\nsome prose here: no\n");
        assert_eq!(m.get("env").map(String::as_str), Some("VAL-MAIN"));
        assert!(!m.contains_key("some prose here"));
    }
}
