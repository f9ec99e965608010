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

/// The managed app's profile: `VALET_APP_PROFILE`, else the embedded clinic's.
pub fn app_profile() -> anyhow::Result<valet_ops::profile::AppProfile> {
    Ok(match env_path("VALET_APP_PROFILE") {
        Some(p) => valet_ops::profile::AppProfile::load(&p)?,
        None => valet_ops::profile::AppProfile::from_toml_str(
            CLINIC_PROFILE,
            "embedded clinic profile",
        )?,
    })
}

/// Starts again, in the background, the VAL instances a previous worker ran.
pub fn reconcile(
    store: Store,
    name: &str,
    data_dir: &Path,
    supervisor: &Supervisor,
) -> anyhow::Result<()> {
    let prov = Provisioner::new(store, ops_config(data_dir)?, supervisor.clone(), name);
    tokio::spawn(async move {
        match prov.reconcile().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(instances = n, "VAL instances started again"),
            Err(e) => tracing::warn!(error = %e, "starting VAL instances again failed"),
        }
    });
    Ok(())
}

/// A worker with every handler: instance starts, VAL provisioning and teardown, closure,
/// reminders and notification delivery (`VALET_SMTP_URL` for e-mail). `VALET_LEASE_SECONDS`
/// sets how long a silent worker's job stays its own (default 60).
pub fn build(store: Store, name: &str, data_dir: &Path) -> anyhow::Result<(Worker, Supervisor)> {
    let supervisor = Supervisor::default();
    let config = ops_config(data_dir)?;
    let smtp = valet_ops::notify::SmtpConfig::from_env()?;
    if smtp.is_none() {
        tracing::info!("VALET_SMTP_URL is not set: e-mail notifications stay in the outbox");
    }
    let prov = Provisioner::new(store.clone(), config, supervisor.clone(), name);
    let mut policy = valet_store::queue::QueuePolicy::default();
    if let Ok(s) = std::env::var("VALET_LEASE_SECONDS") {
        let secs: i64 = s.trim().parse().ok().filter(|n| *n >= 1).with_context(|| {
            format!("VALET_LEASE_SECONDS=`{s}`: give a whole number of seconds (at least 1)")
        })?;
        policy.lease = jiff::SignedDuration::from_secs(secs);
    }
    let poll = std::time::Duration::from_millis(if policy.lease.as_secs() < 10 {
        100
    } else {
        500
    });
    let worker = valet_ops::provision::register(
        supervisor.worker(store, name).with_policy(policy, poll),
        prov,
        smtp,
    );
    Ok((worker, supervisor))
}
