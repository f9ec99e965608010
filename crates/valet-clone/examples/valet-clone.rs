//! A stand-alone front end for the clone engine, used by `bench/clone` until (and besides)
//! the `valet` binary's own `valet clone` / `valet policy suggest` subcommands.
//!
//! `valet-clone clone --from URL --to URL --policy FILE [...]`
//! `valet-clone suggest --from URL [--out FILE]`

use clap::{Parser, Subcommand};
use valet_clone::cli::{run_clone, run_suggest, CloneArgs, SuggestArgs};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Clone a database through a masking policy.
    Clone(CloneArgs),
    /// Suggest a masking policy for a database.
    Suggest(SuggestArgs),
}

#[tokio::main]
async fn main() {
    let result = match Cli::parse().command {
        Command::Clone(a) => run_clone(a).await,
        Command::Suggest(a) => run_suggest(a).await,
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
