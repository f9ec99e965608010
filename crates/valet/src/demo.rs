//! `valet demo`: the whole product in one process on SQLite under the data directory.
//!
//! Creates (or reuses) an admin login, a sample customer and its clinic PROD pair (Main +
//! Test, each a generated SQLite database), starts the web server and a worker, queues one
//! `env.start` job per instance — the worker starts them through the `process` deployment
//! driver and waits for their health checks — then prints where everything is and runs until
//! Ctrl-C, when it stops the instances and the server cleanly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use valet_core::{Actor, Role, Tier};
use valet_ops::jobs::{self, EnqueueOptions, JobKind};
use valet_ops::worker::StartInstance;
use valet_store::environments::{self, Environment, MemberSpec, NewPair};
use valet_store::queue::{self, JobState};
use valet_store::users::{self, NewUser};
use valet_store::{customers, Store};

use crate::config::Settings;

const CUSTOMER: &str = "Acme Clinical Research";
const ZONE: &str = "Europe/Berlin";
const PROD_RELEASE: &str = "24.2.1";

/// The clinic's release manifests, compiled in so the demo needs no source tree.
const MANIFESTS: [(&str, &str); 4] = [
    (
        "24.1.toml",
        include_str!("../../../examples/clinic/releases/24.1.toml"),
    ),
    (
        "24.2.toml",
        include_str!("../../../examples/clinic/releases/24.2.toml"),
    ),
    (
        "24.2.1.toml",
        include_str!("../../../examples/clinic/releases/24.2.1.toml"),
    ),
    (
        "24.3.toml",
        include_str!("../../../examples/clinic/releases/24.3.toml"),
    ),
];

/// Imports and publishes the clinic's releases once.
async fn import_catalog(store: &Store, actor: &Actor) -> anyhow::Result<()> {
    let known = valet_store::releases::list(store, actor).await?;
    for (file, text) in MANIFESTS {
        let m = valet_core::catalog::Manifest::parse(text, file)?;
        if known.iter().any(|r| r.build == m.build) {
            continue;
        }
        let r = valet_store::releases::import(store, actor, text, file).await?;
        valet_ops::hotfix::publish(store, actor, &r.build.to_string(), None, None).await?;
    }
    Ok(())
}

pub async fn run(settings: &Settings, volunteers: u64) -> anyhow::Result<()> {
    let listener = crate::bind(&settings.listen).await?;
    let data = settings.data_dir.clone();
    std::fs::create_dir_all(&data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    let store = Store::open(&settings.database_url)
        .await
        .context("opening the state database")?;
    let system = Actor::system();

    let (admin_password, admin_token) = login(
        &store,
        &data,
        "admin",
        "Demo Administrator",
        Role::Admin,
        None,
    )
    .await?;
    let customer = match customers::find_by_name(&store, &system, CUSTOMER).await? {
        Some(c) => c,
        None => customers::create(&store, &system, CUSTOMER, ZONE).await?,
    };
    let (pm_password, pm_token) = login(
        &store,
        &data,
        "pm",
        "Petra Project-Manager",
        Role::VendorPm,
        None,
    )
    .await?;
    let (cust_password, cust_token) = login(
        &store,
        &data,
        "acme-admin",
        "Carla Validation-Lead",
        Role::CustomerAdmin,
        Some(&customer.id),
    )
    .await?;
    let (eng_password, _eng_token) = login(
        &store,
        &data,
        "eddie",
        "Eddie Engineer",
        Role::VendorEngineer,
        None,
    )
    .await?;
    import_catalog(&store, &system).await?;
    // PROD runs the hotfix release, one feature release behind: the situation a VAL cycle
    // and an upgrade to 24.3 start from.
    let release = clinic::release::find(PROD_RELEASE).context("the clinic knows its releases")?;
    let apps = data.join("apps").join("acme");
    let members = [
        ("PROD-MAIN", volunteers),
        ("PROD-TEST", (volunteers / 5).max(50)),
    ];
    for (name, n) in members {
        let db = apps.join(format!("{}.db", name.to_lowercase()));
        if !db.exists() {
            println!("generating the clinic database for {name} ({n} volunteers)…");
            std::fs::create_dir_all(&apps)?;
            let url = format!("sqlite://{}", db.display());
            let tmp = db.with_extension("db.partial");
            let _ = std::fs::remove_file(&tmp);
            clinic::gen::generate(
                &format!("sqlite://{}", tmp.display()),
                &clinic::gen::GenOptions {
                    volunteers: n,
                    events: n * 20,
                    seed: 2024,
                    release: Some(release.version.to_string()),
                },
            )
            .await
            .with_context(|| format!("generating {url}"))?;
            std::fs::rename(&tmp, &db)?;
        }
    }
    let envs = environments::list(&store, &system, Some(&customer.id)).await?;
    let (main, test) = match (find(&envs, "PROD-MAIN"), find(&envs, "PROD-TEST")) {
        (Some(m), Some(t)) => (m, t),
        _ => {
            let db = |n: &str| Some(format!("sqlite://{}/{n}.db", apps.display()));
            let pair = environments::create_pair(
                &store,
                &system,
                NewPair {
                    customer_id: customer.id.clone(),
                    tier: Tier::Prod,
                    label: None,
                    build: Some(release.build.to_string()),
                    state: None,
                    main: MemberSpec {
                        database_url: db("prod-main"),
                        base_url: None,
                    },
                    test: MemberSpec {
                        database_url: db("prod-test"),
                        base_url: None,
                    },
                    request_id: None,
                    expires_at: None,
                },
            )
            .await?;
            (pair.main, pair.test)
        }
    };

    let profile = clinic_profile(&data)?;
    let exe = std::env::current_exe().context("locating the valet executable")?;
    let mut queued = Vec::new();
    let mut urls = Vec::new();
    for env in [&main, &test] {
        let port = valet_ops::driver::free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let db_url = environments::database_url(&store, &system, &env.id)
            .await?
            .context("the demo environment has no database")?;
        let env_dir = data.join("envs").join(env.name.to_lowercase());
        let start = StartInstance {
            env_id: env.id.clone(),
            name: format!("{CUSTOMER} {}", env.name),
            profile: profile.clone(),
            bin: vec![exe.display().to_string(), "clinic".into()],
            db_url,
            listen: listen.clone(),
            // Run what the environment is recorded to be on (an upgrade moves it on).
            release: env
                .current_build
                .map(|b| b.version().to_string())
                .unwrap_or_else(|| release.version.to_string()),
            env_name: env.name.clone(),
            state_dir: env_dir.join("state"),
            log_path: env_dir.join("app.log"),
        };
        let opts = EnqueueOptions {
            customer_id: Some(customer.id.clone()),
            max_attempts: 1,
            ..EnqueueOptions::default()
        };
        queued.push(jobs::enqueue(&store, JobKind::EnvStart, &start, opts).await?);
        urls.push((env.name.clone(), format!("http://{listen}")));
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (worker, supervisor) = crate::worker::build(store.clone(), "demo-worker", &data)?;
    let worker_task = tokio::spawn(worker.run(stop_rx.clone()));
    let server_url = format!("http://{}", listener.local_addr()?);
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(valet_web::serve(
        listener,
        valet_web::AppState {
            val_rules: settings.val_rules,
            hotfix_notice: settings.hotfix_notice,
            profile: Some(std::sync::Arc::new(crate::worker::app_profile()?)),
            base_url: Some(server_url.clone()),
            ..valet_web::AppState::new(store.clone())
        },
        async move {
            let _ = server_stop.wait_for(|s| *s).await;
        },
    ));

    let started = wait_jobs(&store, &queued).await;
    if let Err(e) = started {
        let _ = stop_tx.send(true);
        let _ = worker_task.await;
        supervisor.stop_all().await;
        let _ = server.await;
        return Err(e);
    }

    println!();
    println!("valet demo is running (state: {})", settings.database_url);
    println!("  web/API   {server_url}   (GET /healthz, /api/v1/...)");
    println!("  login     admin / {admin_password}");
    println!("  API token {admin_token}");
    println!("  PM        pm / {pm_password}   token {pm_token}");
    println!("  customer  acme-admin / {cust_password}   token {cust_token}");
    println!("  engineer  eddie / {eng_password}   (upgrades are assigned to engineers)");
    println!("  PROD pair {CUSTOMER}/PROD   (pair id {})", main.pair_id);
    for (name, url) in &urls {
        println!("  {CUSTOMER} {name:<9} {url}/health");
    }
    println!();
    println!("try:  curl -u admin:{admin_password} {server_url}/api/v1/environments");
    println!("      curl -u admin:{admin_password} {server_url}/api/v1/version-lag");
    println!(
        "      curl -u admin:{admin_password} '{server_url}/api/v1/release-notes?from={}&to=24.3&format=md'",
        release.build
    );
    println!("stop: Ctrl-C");

    crate::shutdown_signal().await;
    println!("stopping…");
    let _ = stop_tx.send(true);
    let _ = worker_task.await;
    supervisor.stop_all().await;
    let _ = server.await;
    store.close().await;
    println!("stopped cleanly");
    Ok(())
}

fn find(envs: &[Environment], name: &str) -> Option<Environment> {
    envs.iter().find(|e| e.name == name).cloned()
}

/// A demo login: created on first run with a random password kept in the data directory
/// (mode 0600) so later runs can print it again; a fresh API token at every start.
async fn login(
    store: &Store,
    data: &Path,
    username: &str,
    display_name: &str,
    role: Role,
    customer_id: Option<&str>,
) -> anyhow::Result<(String, String)> {
    let file = data.join(format!("{username}-password"));
    let system = Actor::system();
    let user = match users::find_by_username(store, username).await? {
        Some(u) => u,
        None => {
            let password = crate::admin::generate_password();
            let u = users::create(
                store,
                &system,
                NewUser {
                    username: username.into(),
                    display_name: display_name.into(),
                    email: Some(format!("{username}@example.com")),
                    role,
                    customer_id: customer_id.map(str::to_string),
                    password: password.clone(),
                },
            )
            .await?;
            write_secret(&file, &password)?;
            u
        }
    };
    let password = std::fs::read_to_string(&file)
        .map(|s| s.trim().to_string())
        .with_context(|| {
            format!(
                "the password file {} is missing; remove {} to start the demo afresh",
                file.display(),
                data.display()
            )
        })?;
    let (_, token) = users::create_token(store, &system, &user.id, "demo").await?;
    Ok((password, token))
}

fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{secret}")?;
    Ok(())
}

/// The clinic's app profile, written into the data directory from the copy compiled into
/// valet, so the demo does not depend on the source tree being present.
fn clinic_profile(data: &Path) -> anyhow::Result<PathBuf> {
    let path = data.join("clinic-app.toml");
    std::fs::write(
        &path,
        include_str!("../../../examples/clinic/valet-app.toml"),
    )?;
    Ok(path)
}

async fn wait_jobs(store: &Store, jobs: &[queue::Job]) -> anyhow::Result<()> {
    for _ in 0..1200 {
        let mut done = 0;
        for j in jobs {
            let now = queue::get(store, &j.id).await?;
            match now.state {
                JobState::Done => done += 1,
                JobState::Dead => bail!(
                    "starting an instance failed: {}",
                    now.last_error.unwrap_or_default()
                ),
                _ => {}
            }
        }
        if done == jobs.len() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the clinic instances did not become healthy within two minutes")
}
