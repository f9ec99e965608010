//! `valet release …`: the release catalog from the console.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use valet_ops::documents::release_notes::{render, Format};
use valet_store::{releases, Store};

use crate::admin::console_actor;

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Import release manifests (TOML); each file is imported whole or not at all.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Publish each release right after importing it.
        #[arg(long)]
        publish: bool,
    },
    /// Make a release visible to customers.
    Publish {
        build: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// List the catalog.
    List,
    /// Cumulative notes of every release after FROM up to and including TO.
    Notes {
        /// The build (or version) the reader is on.
        #[arg(long)]
        from: String,
        /// The target build (or version).
        #[arg(long)]
        to: String,
        /// md, html, csv, pdf or json.
        #[arg(long, default_value = "md")]
        format: Format,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Customer the document is addressed to.
        #[arg(long)]
        customer: Option<String>,
    },
    /// Full-text search over release notes (words or a tracker key).
    Search { query: Vec<String> },
    /// How far each environment is behind the latest published build.
    Lag {
        /// Only this customer (name or id).
        #[arg(long)]
        customer: Option<String>,
    },
}

/// `; N customers told` after publishing a hotfix offered to someone.
fn told_text(told: usize) -> String {
    match told {
        0 => String::new(),
        1 => "; 1 customer told of the hotfix".into(),
        n => format!("; {n} customers told of the hotfix"),
    }
}

pub async fn run(store: &Store, cmd: ReleaseCommand) -> anyhow::Result<()> {
    let actor = console_actor();
    match cmd {
        ReleaseCommand::Import { files, publish } => {
            let mut batch = Vec::new();
            for f in &files {
                let name = f.display().to_string();
                let text =
                    std::fs::read_to_string(f).with_context(|| format!("cannot read {name}"))?;
                let build = valet_core::catalog::Manifest::parse(&text, &name)
                    .ok()
                    .map(|m| m.build);
                batch.push((build, name, text));
            }
            // Import in build order whatever order the shell listed the files in
            // (`24.2.1.toml` sorts before `24.2.toml`); unparsable files go last and fail there.
            batch.sort_by_key(|(b, _, _)| (b.is_none(), *b));
            let mut failed = Vec::new();
            for (_, name, text) in &batch {
                let name = name.clone();
                match releases::import(store, &actor, text, &name).await {
                    Ok(r) => {
                        println!(
                            "imported {} ({}, {} notes) from {name}",
                            r.build, r.version, r.notes
                        );
                        if publish {
                            let (_, told) = valet_ops::hotfix::publish(
                                store,
                                &actor,
                                &r.build.to_string(),
                                None,
                                None,
                            )
                            .await?;
                            println!("published {}{}", r.build, told_text(told));
                        }
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        failed.push(name);
                    }
                }
            }
            if !failed.is_empty() {
                bail!(
                    "{} of {} files were not imported: {}",
                    failed.len(),
                    files.len(),
                    failed.join(", ")
                );
            }
        }
        ReleaseCommand::Publish { build, reason } => {
            let (r, told) =
                valet_ops::hotfix::publish(store, &actor, &build, reason.as_deref(), None).await?;
            println!("published {} ({}){}", r.build, r.version, told_text(told));
        }
        ReleaseCommand::List => {
            println!(
                "{:<8} {:<13} {:<8} {:<11} {:>5}  published",
                "version", "build", "kind", "released", "notes"
            );
            for r in releases::list(store, &actor).await? {
                println!(
                    "{:<8} {:<13} {:<8} {:<11} {:>5}  {}",
                    r.version.to_string(),
                    r.build.to_string(),
                    if r.kind == valet_core::ReleaseKind::Hotfix {
                        "hotfix"
                    } else {
                        "feature"
                    },
                    r.released.to_string(),
                    r.notes,
                    r.published_at
                        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_else(|| "no".into())
                );
            }
        }
        ReleaseCommand::Notes {
            from,
            to,
            format,
            output,
            customer,
        } => {
            let notes = releases::cumulative_notes(store, &actor, &from, &to).await?;
            let bytes = render(&notes, customer.as_deref(), format).map_err(anyhow::Error::msg)?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &bytes)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    println!(
                        "wrote {} ({} releases, {} items) to {}",
                        match format {
                            Format::Pdf => "PDF",
                            Format::Html => "HTML",
                            Format::Csv => "CSV",
                            Format::Json => "JSON",
                            Format::Markdown => "Markdown",
                        },
                        notes.releases.len(),
                        notes.notes().count(),
                        path.display()
                    );
                }
                None => {
                    if format == Format::Pdf && std::io::stdout().is_terminal() {
                        bail!("a PDF is binary; write it to a file with --output notes.pdf");
                    }
                    std::io::stdout().write_all(&bytes)?;
                }
            }
        }
        ReleaseCommand::Search { query } => {
            let q = query.join(" ");
            let hits = releases::search(store, &actor, &q, 50).await?;
            if hits.is_empty() {
                println!("no release note matches `{q}`");
            }
            for h in hits {
                println!(
                    "{:<10} {:<13} {:<12} {:<18} {}",
                    h.note.key,
                    h.build.to_string(),
                    h.note.category.as_str(),
                    h.note.area,
                    h.note.title
                );
            }
        }
        ReleaseCommand::Lag { customer } => {
            let customer_id = match customer {
                Some(c) => Some(crate::admin::resolve_customer(store, &actor, &c).await?),
                None => None,
            };
            let rows = releases::version_lag(store, &actor, customer_id.as_deref()).await?;
            println!(
                "{:<28} {:<10} {:<13} {:<13} {:>7} {:>6}  hotfixes available",
                "customer", "env", "current", "latest", "behind", "days"
            );
            for l in rows {
                println!(
                    "{:<28} {:<10} {:<13} {:<13} {:>7} {:>6}  {}",
                    l.customer,
                    l.environment,
                    l.lag
                        .current
                        .map(|b| b.to_string())
                        .unwrap_or_else(|| "-".into()),
                    l.lag
                        .latest
                        .map(|b| b.to_string())
                        .unwrap_or_else(|| "-".into()),
                    l.lag.releases_behind,
                    l.lag.days_behind,
                    l.lag
                        .hotfixes_available
                        .iter()
                        .map(|b| b.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }
    Ok(())
}
