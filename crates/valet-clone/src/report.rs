//! What a clone did: rows and bytes per table, columns per transformer, policy hash, leak-scan
//! result and time per phase. Serialisable (JSON) and printable for people.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

use serde::Serialize;

use crate::leak::LeakHit;

/// The report of one clone (or `--check`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct CloneReport {
    pub engine: String,
    /// Source and target URLs with passwords removed.
    pub source: String,
    pub target: String,
    /// True for `--check`: nothing was written.
    pub check_only: bool,
    pub policy: String,
    pub policy_sha256: String,
    /// Started, seconds since the Unix epoch.
    pub started_at_unix: u64,
    pub tables: Vec<TableReport>,
    /// Transformer name → `table.column` list.
    pub columns_by_transformer: BTreeMap<String, Vec<String>>,
    pub leak_scan: LeakScanReport,
    pub phases: Vec<PhaseReport>,
    pub total_rows: u64,
    pub total_bytes: u64,
    pub duration_ms: u64,
    /// Parallel workers used and how the source snapshot was shared.
    pub jobs: usize,
    pub snapshot: String,
    /// Foreign keys created on the empty tables and not validated again after the load: valid
    /// in the source snapshot, on columns copied unchanged (PostgreSQL, as superuser). Every
    /// other foreign key is validated against the loaded rows.
    pub foreign_keys_from_source: Vec<String>,
}

/// One table's figures.
#[derive(Debug, Clone, Serialize, Default)]
pub struct TableReport {
    pub table: String,
    pub rows: u64,
    /// Bytes of row data moved (engine's wire format).
    pub bytes: u64,
    pub masked_columns: usize,
    /// Key ranges the table was split into (1 = not split).
    pub parts: usize,
    pub duration_ms: u64,
}

/// The leak scan's result.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LeakScanReport {
    pub passed: bool,
    /// Distinct identifying source values looked for.
    pub values_indexed: u64,
    /// Values too common (or too short) to identify anyone alone, not looked for.
    pub common_values_skipped: u64,
    pub short_values_skipped: u64,
    /// Target text values read.
    pub target_values_scanned: u64,
    pub hits: u64,
    /// Up to 50 hits (where, never the value).
    pub samples: Vec<LeakHit>,
}

/// Time spent in one phase.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub phase: String,
    pub duration_ms: u64,
    /// True when this phase ran at the same time as the phase before it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub concurrent: bool,
}

/// Records phase durations.
pub(crate) struct Phases {
    current: Option<(String, Instant)>,
    pub done: Vec<PhaseReport>,
}

impl Phases {
    pub fn new() -> Phases {
        Phases {
            current: None,
            done: Vec::new(),
        }
    }
    pub fn start(&mut self, name: &str) {
        self.finish();
        self.current = Some((name.to_string(), Instant::now()));
    }
    /// Record phases that ran at the same time, each with its own wall time.
    pub fn record_concurrent(&mut self, phases: &[(&str, std::time::Duration)]) {
        self.finish();
        for (k, (name, took)) in phases.iter().enumerate() {
            self.done.push(PhaseReport {
                phase: name.to_string(),
                duration_ms: took.as_millis() as u64,
                concurrent: k > 0,
            });
        }
    }
    pub fn finish(&mut self) {
        if let Some((n, t)) = self.current.take() {
            self.done.push(PhaseReport {
                phase: n,
                duration_ms: t.elapsed().as_millis() as u64,
                concurrent: false,
            });
        }
    }
}

fn human_bytes(b: u64) -> String {
    const U: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < U.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

impl fmt::Display for CloneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.check_only {
            "Checked (nothing written)"
        } else {
            "Cloned"
        };
        writeln!(
            f,
            "{verb}: {} → {} ({})",
            self.source, self.target, self.engine
        )?;
        writeln!(f, "Policy: {} (sha256 {})", self.policy, self.policy_sha256)?;
        writeln!(f, "Snapshot: {}; jobs: {}", self.snapshot, self.jobs)?;
        if !self.foreign_keys_from_source.is_empty() {
            writeln!(
                f,
                "Foreign keys held valid by the source snapshot (columns kept), created before the data: {}",
                self.foreign_keys_from_source.join(", ")
            )?;
        }
        writeln!(f)?;
        let w = self
            .tables
            .iter()
            .map(|t| t.table.len())
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(
            f,
            "{:<w$}  {:>12}  {:>10}  {:>6}  {:>9}",
            "table", "rows", "bytes", "masked", "ms"
        )?;
        for t in &self.tables {
            writeln!(
                f,
                "{:<w$}  {:>12}  {:>10}  {:>6}  {:>9}",
                t.table,
                t.rows,
                human_bytes(t.bytes),
                t.masked_columns,
                t.duration_ms
            )?;
        }
        writeln!(
            f,
            "{:<w$}  {:>12}  {:>10}",
            "total",
            self.total_rows,
            human_bytes(self.total_bytes)
        )?;
        writeln!(f)?;
        writeln!(f, "Columns per transformer:")?;
        for (t, cols) in &self.columns_by_transformer {
            if t == "keep" {
                writeln!(f, "  {t:<14} {} column(s)", cols.len())?;
            } else {
                writeln!(f, "  {t:<14} {}", cols.join(", "))?;
            }
        }
        writeln!(f)?;
        let l = &self.leak_scan;
        writeln!(
            f,
            "Leak scan: {} — {} source value(s) looked for in {} target value(s), {} hit(s); \
             {} common and {} short value(s) not looked for",
            if l.passed { "PASSED" } else { "FAILED" },
            l.values_indexed,
            l.target_values_scanned,
            l.hits,
            l.common_values_skipped,
            l.short_values_skipped
        )?;
        for h in &l.samples {
            writeln!(
                f,
                "  hit: {}.{} row {} holds a value of {} ({:?})",
                h.table, h.column, h.row, h.source_column, h.kind
            )?;
        }
        writeln!(f)?;
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|p| {
                format!(
                    "{}{} {:.2}s",
                    if p.concurrent { "∥ " } else { "" },
                    p.phase,
                    p.duration_ms as f64 / 1000.0
                )
            })
            .collect();
        writeln!(f, "Phases: {}", phases.join(", ").replace(", ∥", " ∥"))?;
        write!(f, "Total: {:.2}s", self.duration_ms as f64 / 1000.0)
    }
}
