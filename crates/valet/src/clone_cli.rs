//! Command-line front ends of the clone engine (`valet-clone`): `valet clone` and `valet policy
//! suggest`. Progress goes to stderr, the report to stdout.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use valet_clone::{clone_database, CloneOptions, Policy, Progress, RunKey};

/// `valet clone`: copy a database through a masking policy.
#[derive(Debug, Clone, clap::Args)]
pub struct CloneArgs {
    /// Source database URL (read in one snapshot, never written).
    #[arg(long)]
    pub from: String,
    /// Target database URL (created; dropped again on any failure).
    #[arg(long)]
    pub to: String,
    /// Masking policy (TOML).
    #[arg(long)]
    pub policy: PathBuf,
    /// Do everything but write the target: classification, masking, leak scan.
    #[arg(long)]
    pub check: bool,
    /// Write the JSON report to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Parallel workers (tables and key ranges); default: number of cores.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// File holding the masking key (to reproduce masked values across runs); default: a
    /// random key per run. The key is never written to the target.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Replace a target that holds a completed clone or other data.
    #[arg(long)]
    pub replace: bool,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Split tables with more rows than this into key ranges copied in parallel.
    #[arg(long, hide = true)]
    pub split_rows: Option<u64>,
}

/// `valet policy suggest`: a first policy from column names and sampled values.
#[derive(Debug, Clone, clap::Args)]
pub struct SuggestArgs {
    /// Database to inspect.
    #[arg(long)]
    pub from: String,
    /// Write the policy here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Progress bars with rows/s per table, on stderr.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    phase: ProgressBar,
}

impl Bars {
    fn new() -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let phase = multi.add(ProgressBar::new_spinner());
        phase.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"),
        );
        phase.enable_steady_tick(std::time::Duration::from_millis(200));
        Bars {
            multi,
            bars: Mutex::new(HashMap::new()),
            phase,
        }
    }
    fn finish(&self) {
        self.phase.finish_and_clear();
        for b in self.bars.lock().expect("bars lock").values() {
            if !b.is_finished() {
                b.finish();
            }
        }
    }
}

impl Progress for Bars {
    fn phase(&self, name: &str) {
        self.phase.set_message(name.to_string());
    }
    fn table_start(&self, table: &str, estimated_rows: u64) {
        let mut bars = self.bars.lock().expect("bars lock");
        if bars.contains_key(table) {
            return;
        }
        let b = self.multi.add(ProgressBar::new(estimated_rows.max(1)));
        b.set_style(
            ProgressStyle::with_template(
                "{prefix:>24} {bar:30} {pos:>10}/{len:10} rows {per_sec:>14} {elapsed}",
            )
            .expect("valid template"),
        );
        b.set_prefix(table.chars().take(24).collect::<String>());
        bars.insert(table.to_string(), b);
    }
    fn table_rows(&self, table: &str, rows: u64) {
        if let Some(b) = self.bars.lock().expect("bars lock").get(table) {
            if b.position() + rows > b.length().unwrap_or(0) {
                b.set_length(b.position() + rows);
            }
            b.inc(rows);
        }
    }
    fn table_done(&self, table: &str, rows: u64) {
        if let Some(b) = self.bars.lock().expect("bars lock").get(table) {
            if b.position() >= rows {
                b.set_length(b.position());
                b.finish();
            }
        }
    }
}

/// Run `valet clone`: prints progress to stderr and the report to stdout; the JSON report goes
/// to `--report`. Any failure is one clear line (the target is already dropped by then).
pub async fn run_clone(args: CloneArgs) -> anyhow::Result<()> {
    let policy = Policy::load(&args.policy)?;
    let mut opts = CloneOptions::new(args.from.clone(), args.to.clone(), policy);
    opts.check = args.check;
    opts.replace = args.replace;
    if let Some(n) = args.split_rows {
        opts.split_rows = n.max(1);
    }
    if let Some(j) = args.jobs {
        opts.jobs = j.max(1);
    }
    if let Some(k) = &args.key_file {
        opts.key = RunKey::from_file(k)?;
    }
    let bars = (!args.quiet).then(|| Arc::new(Bars::new()));
    if let Some(b) = &bars {
        opts.progress = b.clone();
    }
    let result = clone_database(&opts).await;
    if let Some(b) = &bars {
        b.finish();
    }
    let report = result?;
    println!("{report}");
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
    }
    Ok(())
}

/// Run `valet policy suggest`.
pub async fn run_suggest(args: SuggestArgs) -> anyhow::Result<()> {
    let text = valet_clone::suggest_policy(&args.from).await?;
    match &args.out {
        Some(p) => {
            std::fs::write(p, &text).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => print!("{text}"),
    }
    Ok(())
}
