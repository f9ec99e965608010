//! The worker's set-up: which app it operates (profile, masking policy, program) and where
//! notifications go, from the environment, with the embedded clinic sample app by default.

use std::path::{Path, PathBuf};

use anyhow::Context;
use valet_ops::provision::{OpsConfig, Provisioner};
use valet_ops::worker::{Supervisor, Worker};
use valet_store::Store;

/// The clinic's app profile and masking policy, compiled in so a fresh machine needs no
/// source tree.
const CLINIC_PROFILE: &str = include_str!("../../../examples/clinic/valet-app.toml");
const CLINIC_POLICY: &str = include_str!("../../../examples/clinic/policy.toml");

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// What the worker operates: `VALET_APP_PROFILE`, `VALET_MASKING_POLICY` and `VALET_APP_BIN`
/// (the program `{bin}` expands to, split on spaces), else the embedded clinic run as
/// `valet clinic`.
pub fn ops_config(data_dir: &Path) -> anyhow::Result<OpsConfig> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let profile = match env_path("VALET_APP_PROFILE") {
        Some(p) => p,
        None => {
            let p = data_dir.join("clinic-app.toml");
            std::fs::write(&p, CLINIC_PROFILE)?;
            p
        }
    };
    let policy = match env_path("VALET_MASKING_POLICY") {
        Some(p) => p,
        None => {
            let p = data_dir.join("clinic-policy.toml");
            std::fs::write(&p, CLINIC_POLICY)?;
            p
        }
    };
    let bin = match std::env::var("VALET_APP_BIN") {
        Ok(b) if !b.trim().is_empty() => b.split_whitespace().map(str::to_string).collect(),
        _ => vec![
            std::env::current_exe()
                .context("locating the valet executable")?
                .display()
                .to_string(),
            "clinic".into(),
        ],
    };
    Ok(OpsConfig {
        data_dir: data_dir.to_path_buf(),
        profile,
        policy,
        bin,
        clone_jobs: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
    })
}

/// A worker with every handler: instance starts, VAL provisioning and teardown, closure,
/// reminders and notification delivery (`VALET_SMTP_URL` for e-mail).
pub fn build(store: Store, name: &str, data_dir: &Path) -> anyhow::Result<(Worker, Supervisor)> {
    let supervisor = Supervisor::default();
    let config = ops_config(data_dir)?;
    let smtp = valet_ops::notify::SmtpConfig::from_env()?;
    if smtp.is_none() {
        tracing::info!("VALET_SMTP_URL is not set: e-mail notifications stay in the outbox");
    }
    let prov = Provisioner::new(store.clone(), config, supervisor.clone(), name);
    let worker = valet_ops::provision::register(supervisor.worker(store, name), prov, smtp);
    Ok((worker, supervisor))
}
