//! `valet`: the command line. Parses arguments and configuration, then calls the library
//! crates; no domain logic lives here.

mod admin;
mod client;
mod clone_cli;
mod config;
mod demo;
mod release;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use valet_store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "valet",
    version,
    about = "Validated upgrade cycles: release catalog, masked VAL environments, scheduled PROD upgrades, GxP evidence"
)]
struct Cli {
    /// Config file (default: ./valet.toml if present).
    #[arg(long, global = true, env = "VALET_CONFIG")]
    config: Option<PathBuf>,
    /// Directory for valet's own files (SQLite state, app instances, logs).
    #[arg(long, global = true, env = "VALET_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// State database: sqlite://PATH (default: <data-dir>/valet.db) or postgres://…
    #[arg(long, global = true, env = "VALET_DATABASE_URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server (JSON API under /api/v1).
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, env = "VALET_LISTEN")]
        listen: Option<String>,
    },
    /// Run a worker that claims and runs queued jobs.
    Worker {
        /// Name recorded on claimed jobs (default: host-pid).
        #[arg(long, env = "VALET_WORKER_NAME")]
        name: Option<String>,
    },
    /// Apply pending state-database migrations and exit.
    Migrate,
    /// Print the OpenAPI 3.1 document of the JSON API (as a server serves it at
    /// /api/v1/openapi.json).
    Openapi,
    /// Check the audit trail's hash chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Everything in one process on SQLite: server, worker, a sample customer with its
    /// clinic PROD pair running, and an admin login.
    Demo {
        /// Address for valet's web server (default 127.0.0.1:8080).
        #[arg(long, env = "VALET_LISTEN")]
        listen: Option<String>,
        /// Volunteers in the generated PROD-MAIN database.
        #[arg(long, default_value_t = 2000)]
        volunteers: u64,
    },
    /// Users and API tokens.
    User {
        #[command(subcommand)]
        command: admin::UserCommand,
    },
    /// Customers (tenants).
    Customer {
        #[command(subcommand)]
        command: admin::CustomerCommand,
    },
    /// The release catalog: import, publish, cumulative notes, search, version lag.
    Release {
        #[command(subcommand)]
        command: release::ReleaseCommand,
    },
    /// Clone a database through a masking policy (PostgreSQL, MariaDB/MySQL, SQLite).
    Clone(clone_cli::CloneArgs),
    /// Masking policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// The workflow commands: clients of a valet server's API.
    #[command(flatten)]
    Workflow(client::Workflow),
    /// Run the embedded clinic sample app (what the demo's instances run).
    #[command(hide = true)]
    Clinic {
        #[command(subcommand)]
        command: clinic::cli::Command,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Bootstrap a policy from a database's column names and sampled values.
    Suggest(clone_cli::SuggestArgs),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the chain; exit 0 when intact, 1 with the first broken link otherwise.
    Verify,
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VALET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The clinic, the standalone clone tool and the API clients need no valet configuration
    // or state.
    match cli.command {
        Command::Workflow(w) => return client::main(w),
        Command::Openapi => {
            println!("{}", valet_web::openapi_json());
            return ExitCode::SUCCESS;
        }
        Command::Clinic { command } => {
            return run_standalone("clinic=info,warn", clinic::cli::run(command))
        }
        Command::Clone(args) => return run_standalone("warn", clone_cli::run_clone(args)),
        Command::Policy {
            command: PolicyCommand::Suggest(args),
        } => return run_standalone("warn", clone_cli::run_suggest(args)),
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let file = config::load_file(cli.config.as_deref())?;
    let long_running = matches!(
        cli.command,
        Command::Serve { .. } | Command::Worker { .. } | Command::Demo { .. }
    );
    init_logging(
        file.log
            .as_deref()
            .unwrap_or(if long_running { "info" } else { "warn" }),
    );
    let listen = match &cli.command {
        Command::Serve { listen } | Command::Demo { listen, .. } => listen.clone(),
        _ => None,
    };
    let settings = config::Settings::resolve(cli.data_dir, cli.database_url, listen, &file)?;
    let open = || async {
        Store::open(&settings.database_url)
            .await
            .context("opening the state database")
    };
    match cli.command {
        Command::Migrate => {
            let store = Store::connect(&settings.database_url).await?;
            let applied = store.migrate().await?;
            if applied.is_empty() {
                println!(
                    "state database is up to date (schema version {})",
                    store.schema_version().await?
                );
            } else {
                println!("applied migrations {applied:?}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let store = open().await?;
            let verdict = valet_store::audit::verify(&store).await?;
            println!("{verdict}");
            Ok(match verdict {
                valet_store::audit::Verdict::Ok { .. } => ExitCode::SUCCESS,
                valet_store::audit::Verdict::Broken { .. } => ExitCode::FAILURE,
            })
        }
        Command::Serve { .. } => {
            let store = open().await?;
            serve(
                store,
                &settings.listen,
                settings.val_rules,
                settings.hotfix_notice,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker { name } => {
            let store = open().await?;
            let name = name.unwrap_or_else(default_worker_name);
            let (w, sup) = worker::build(store.clone(), &name, &settings.data_dir)?;
            worker::reconcile(store, &name, &settings.data_dir, &sup)?;
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                shutdown_signal().await;
                let _ = tx.send(true);
            });
            w.run(rx).await?;
            sup.stop_all().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { volunteers, .. } => {
            demo::run(&settings, volunteers).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::User { command } => {
            admin::user(&open().await?, command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Customer { command } => {
            admin::customer(&open().await?, command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Release { command } => {
            release::run(&open().await?, command).await?;
            Ok(ExitCode::SUCCESS)
        }
        // `main` runs these before reading valet's configuration; these arms serve callers
        // of `run` that did not.
        Command::Clinic { command } => {
            clinic::cli::run(command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Clone(args) => {
            clone_cli::run_clone(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy {
            command: PolicyCommand::Suggest(args),
        } => {
            clone_cli::run_suggest(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Workflow(w) => client::run(w).await,
        Command::Openapi => {
            println!("{}", valet_web::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs a command that needs neither valet's configuration nor its state database: the
/// embedded clinic app, `clone` and `policy suggest`.
fn run_standalone(
    log_default: &str,
    fut: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    init_logging(log_default);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// One line: the error and its causes, outermost first (as `{:#}` shows them), but not the
/// causes of a clone-engine error, whose message already holds them.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for (i, cause) in e.chain().enumerate() {
        if i > 0 {
            line.push_str(": ");
        }
        line.push_str(&cause.to_string());
        if cause.is::<valet_clone::CloneError>() {
            break;
        }
    }
    line.replace('\n', " ")
}

fn default_worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    format!("{host}-{}", std::process::id())
}

/// Binds and serves until Ctrl-C / SIGTERM.
async fn serve(
    store: Store,
    listen: &str,
    val_rules: valet_core::val::ValRules,
    hotfix_notice: valet_core::hotfix::HotfixNotice,
) -> anyhow::Result<()> {
    let listener = bind(listen).await?;
    tracing::info!("valet listening on http://{}", listener.local_addr()?);
    let state = valet_web::AppState {
        val_rules,
        hotfix_notice,
        profile: Some(std::sync::Arc::new(crate::worker::app_profile()?)),
        base_url: Some(format!("http://{}", listener.local_addr()?)),
        ..valet_web::AppState::new(store)
    };
    valet_web::serve(listener, state, shutdown_signal()).await?;
    Ok(())
}

pub(crate) async fn bind(listen: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {listen}; pass --listen with a free address, e.g. 127.0.0.1:8090"
            )
        })
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
