//! The `clinic` command line as a library, so that a host program (e.g. `valet clinic …`)
//! can embed the same commands: parse with [`Cli`] (or nest [`Command`] as a subcommand)
//! and call [`run`].

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::gen::GenOptions;
use crate::{configuration, maintenance, release, schema, server, transfer};

#[derive(Debug, Parser)]
#[command(
    name = "clinic",
    version,
    about = "Sample clinical-research app managed by valet"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the schema in an empty database and fill it with synthetic data.
    Gen {
        /// Database URL: sqlite://PATH, postgres://…, mysql://… or mariadb://…
        #[arg(long, env = "CLINIC_DB")]
        db: String,
        #[arg(long, default_value_t = 100)]
        volunteers: u64,
        #[arg(long, default_value_t = 2000)]
        events: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Release whose schema to create (default: the latest).
        #[arg(long)]
        release: Option<String>,
    },
    /// Apply the forward migrations up to a release. Prints one line per migration applied,
    /// `migrated: VERSION (BUILD) in N ms`, or `up to date: VERSION (BUILD)` when there is
    /// nothing to do, then `schema: BEFORE -> AFTER`.
    Migrate {
        #[arg(long, env = "CLINIC_DB")]
        db: String,
        /// Target release (version like 24.2.1 or build like 24.2.1.1201).
        #[arg(long)]
        to: String,
    },
    /// Write the environment's settings (idempotent: each run replaces them all, so an
    /// option left out is removed) and print the configuration report as `key: value` lines.
    Configure {
        #[arg(long, env = "CLINIC_DB")]
        db: String,
        /// Environment name, e.g. VAL-ACME.
        #[arg(long)]
        env_name: String,
        /// Banner text shown after the environment name on every page (default by the
        /// name: `VAL…` "VAL — not for clinical use", `PROD…` "production", else "test
        /// environment — not for clinical use").
        #[arg(long)]
        banner: Option<String>,
        /// SSO identity provider metadata: a file (its SHA-256 is recorded) or an
        /// http(s):// URL. Without it SSO is off.
        #[arg(long, value_name = "PATH_OR_URL")]
        sso_metadata: Option<String>,
        /// Lab system endpoint, e.g. an HL7 host:port or URL.
        #[arg(long)]
        lab: Option<String>,
    },
    /// The customer's configuration (saved reports and dashboards) as a JSON file.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print the latest release and its build.
    Version {
        /// Also list every release.
        #[arg(long)]
        all: bool,
    },
    /// Run the HTTP server.
    Serve {
        #[arg(long, env = "CLINIC_DB")]
        db: String,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Release to run; the database schema must be at it (default: the latest).
        #[arg(long)]
        release: Option<String>,
        /// Environment name shown on every page, e.g. VAL-ACME.
        #[arg(long, default_value = "DEV")]
        env_name: String,
        /// Directory for the maintenance flag.
        #[arg(long)]
        state_dir: PathBuf,
    },
    /// Switch maintenance mode on or off.
    Maintenance {
        state: Switch,
        #[arg(long)]
        state_dir: PathBuf,
        /// Text shown on the maintenance page.
        #[arg(long)]
        message: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print every row of the configuration tables as JSON on stdout:
    /// `{"tables": {TABLE: [{COLUMN: VALUE, …}, …]}, "schema_release": "…"}`.
    Export {
        #[arg(long, env = "CLINIC_DB")]
        db: String,
    },
    /// Replace the rows of each table in the file with the file's rows (ids kept), in one
    /// transaction; prints `TABLE: ROWS` per table. An invalid file changes nothing.
    Import {
        #[arg(long, env = "CLINIC_DB")]
        db: String,
        /// A file written by `clinic config export`.
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// Runs one command. `serve` runs until Ctrl-C or SIGTERM.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Gen {
            db,
            volunteers,
            events,
            seed,
            release,
        } => {
            let opts = GenOptions {
                volunteers,
                events,
                seed,
                release,
            };
            let started = Instant::now();
            let report = crate::gen::generate(&db, &opts).await?;
            println!("{report}");
            println!("elapsed: {:.1} s", started.elapsed().as_secs_f64());
        }
        Command::Migrate { db, to } => {
            let before = schema::current_release(&db).await?;
            let applied = schema::migrate_reporting(&db, &to, |a| {
                println!(
                    "migrated: {} ({}) in {} ms",
                    a.release.version,
                    a.release.build,
                    a.elapsed.as_millis()
                );
            })
            .await?;
            let after = schema::current_release(&db).await?;
            if applied.is_empty() {
                if let Some(r) = after.as_deref().and_then(release::find) {
                    println!("up to date: {} ({})", r.version, r.build);
                }
            }
            println!(
                "schema: {} -> {}",
                before.as_deref().unwrap_or("(empty)"),
                after.as_deref().unwrap_or("(empty)")
            );
        }
        Command::Configure {
            db,
            env_name,
            banner,
            sso_metadata,
            lab,
        } => {
            let settings = configuration::Settings {
                env_name,
                banner,
                sso_metadata,
                lab,
            };
            let report = configuration::configure(&db, &settings).await?;
            println!("{report}");
        }
        Command::Config { action } => match action {
            ConfigAction::Export { db } => {
                let file = transfer::export(&db).await?;
                println!("{}", serde_json::to_string_pretty(&file)?);
            }
            ConfigAction::Import { db, file } => {
                let text = std::fs::read_to_string(&file).with_context(|| {
                    format!("cannot read the configuration file {}", file.display())
                })?;
                let report = transfer::import(&db, &text).await.with_context(|| {
                    format!("importing {}; nothing was changed", file.display())
                })?;
                println!("{report}");
            }
        },
        Command::Version { all } => {
            let latest = release::latest();
            println!("release: {}", latest.version);
            println!("build: {}", latest.build);
            if all {
                for r in release::RELEASES {
                    println!("{} {} {} {}", r.version, r.build, r.kind, r.released);
                }
            }
        }
        Command::Serve {
            db,
            listen,
            release,
            env_name,
            state_dir,
        } => {
            let config = server::ServeConfig {
                db_url: db,
                listen,
                release: release.unwrap_or_else(|| release::latest().version.to_string()),
                env_name,
                state_dir,
            };
            server::serve(config, shutdown_signal()).await?;
        }
        Command::Maintenance {
            state,
            state_dir,
            message,
        } => match state {
            Switch::On => {
                let msg = message.as_deref().unwrap_or(maintenance::DEFAULT_MESSAGE);
                let path = maintenance::enable(&state_dir, msg).with_context(|| {
                    format!(
                        "cannot write the maintenance flag in {}",
                        state_dir.display()
                    )
                })?;
                println!("maintenance: on ({})", path.display());
            }
            Switch::Off => {
                let was_on = maintenance::disable(&state_dir).with_context(|| {
                    format!(
                        "cannot remove the maintenance flag in {}",
                        state_dir.display()
                    )
                })?;
                println!(
                    "maintenance: off{}",
                    if was_on { "" } else { " (was already off)" }
                );
            }
        },
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
