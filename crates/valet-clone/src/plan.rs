//! The source catalog and the clone plan: the policy matched against every column of every
//! source table. Classification is total or the clone does not start (fail closed).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::CloneError;
use crate::key::RunKey;
use crate::leak::{Collector, PiiIndex};
use crate::policy::{Policy, TableRule};
use crate::suggest::snippet_line;
use crate::transform::{Cx, Limit, Logins, RowMemo, Transformer};

/// What the source holds, as far as the clone cares.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Schema used for policy keys without a schema (`public`, the MariaDB database, `main`).
    pub default_schema: String,
    pub tables: Vec<TableInfo>,
}

/// One table of the source.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub schema: String,
    pub name: String,
    pub columns: Vec<ColumnInfo>,
    /// Root of the partition tree when this is a partition (its policy rules apply).
    pub partition_root: Option<(String, String)>,
    /// False for a partitioned parent (rows live in its partitions).
    pub has_rows: bool,
    pub estimated_rows: u64,
    /// Single integer primary-key column, for key-range splits.
    pub int_pk: Option<String>,
}

/// One column of a source table.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    /// Type as the engine names it (`text`, `varchar(255)`, `public.mood`, …).
    pub data_type: String,
    /// Computed by the database (not copied).
    pub generated: bool,
    /// Holds text the leak scan must read.
    pub text_like: bool,
    /// PostgreSQL type oid, 0 elsewhere.
    pub type_oid: u32,
    /// Engine-specific base type (PostgreSQL: `typtype:typname` of the base type).
    pub base_type: String,
}

impl TableInfo {
    /// `schema.name` for messages and reports (schema left out when default).
    pub fn display(&self, default_schema: &str) -> String {
        if self.schema == default_schema {
            self.name.clone()
        } else {
            format!("{}.{}", self.schema, self.name)
        }
    }
}

/// A source table with the transformer of each copied column.
#[derive(Debug, Clone)]
pub struct TablePlan {
    pub info: TableInfo,
    /// Name used in reports.
    pub display: String,
    /// Copied (non-generated) columns, in table order.
    pub columns: Vec<PlannedColumn>,
    /// The masker, when at least one column is not kept.
    pub masker: Option<TableMasker>,
}

/// A copied column and its transformer.
#[derive(Debug, Clone)]
pub struct PlannedColumn {
    pub info: ColumnInfo,
    pub transformer: Transformer,
    /// The column naming the person this column is about, when not the table's subject.
    pub subject: Option<String>,
}

/// The whole plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub default_schema: String,
    pub tables: Vec<TablePlan>,
    /// `table.column` by collector column index.
    pub column_names: Vec<String>,
}

impl Plan {
    /// The position of a source table in the plan.
    pub fn position(&self, schema: &str, name: &str) -> Option<usize> {
        self.tables
            .iter()
            .position(|t| t.info.schema == schema && t.info.name == name)
    }

    /// Columns per transformer name, for the report.
    pub fn columns_by_transformer(&self) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in &self.tables {
            if t.info.partition_root.is_some() {
                continue;
            }
            for c in &t.columns {
                m.entry(c.transformer.name().to_string())
                    .or_default()
                    .push(format!("{}.{}", t.display, c.info.name));
            }
        }
        m
    }
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        format!("\"{}\"", k.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// Policy key of a table: `name` in the default schema, else `schema.name` with quoting.
pub fn policy_table_key(schema: &str, name: &str, default_schema: &str) -> String {
    let q = |s: &str| {
        if s.contains('.') || s.contains('"') {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    if schema == default_schema {
        q(name)
    } else {
        format!("{}.{}", q(schema), q(name))
    }
}

/// Unclassified columns of one policy table key, with a sampled value when one is known.
pub type Unclassified = (String, Vec<(ColumnInfo, Option<String>)>);

/// Render columns as a ready-to-paste policy snippet, with a suggestion for each.
pub fn snippet(entries: &[Unclassified]) -> String {
    let mut out = String::new();
    for (table, cols) in entries {
        out.push_str(&format!("[tables.{}.columns]\n", toml_key(table)));
        for (c, sample) in cols {
            let (spec, why) = snippet_line(c, sample.as_deref());
            out.push_str(&format!("{} = {spec}  # {why}\n", toml_key(&c.name)));
        }
        out.push('\n');
    }
    out
}

fn find_rule<'p>(
    policy: &'p Policy,
    cat: &Catalog,
    schema: &str,
    name: &str,
) -> Option<&'p TableRule> {
    policy
        .tables
        .iter()
        .find(|r| r.name == name && r.schema.as_deref().unwrap_or(&cat.default_schema) == schema)
}

/// Match the policy against the catalog: every policy table and column must exist, every
/// copied column must be classified. Returns the plan or the error to show.
pub fn classify(policy: &Policy, cat: &Catalog) -> Result<Plan, CloneError> {
    let perr = |line: usize, message: String| CloneError::Policy {
        origin: policy.origin.clone(),
        line: Some(line),
        message,
    };
    for rule in &policy.tables {
        let schema = rule
            .schema
            .clone()
            .unwrap_or_else(|| cat.default_schema.clone());
        let Some(table) = cat
            .tables
            .iter()
            .find(|t| t.schema == schema && t.name == rule.name)
        else {
            if rule.optional {
                continue;
            }
            return Err(perr(
                rule.line,
                format!(
                    "table `{}` is named by the policy but does not exist in the source{}",
                    policy_table_key(&schema, &rule.name, &cat.default_schema),
                    if schema != cat.default_schema {
                        String::new()
                    } else {
                        format!(" (looked in schema `{schema}`)")
                    }
                ),
            ));
        };
        for c in &rule.columns {
            let Some(col) = table.columns.iter().find(|x| x.name == c.name) else {
                if c.optional {
                    continue;
                }
                return Err(perr(
                    c.line,
                    format!(
                        "column `{}` is named by the policy but table `{}` has no such column",
                        c.name,
                        table.display(&cat.default_schema)
                    ),
                ));
            };
            if col.generated && !c.transformer.is_keep() {
                return Err(perr(
                    c.line,
                    format!(
                        "column `{}.{}` is generated by the database from other columns; \
                         classify it as \"keep\" (it is recomputed from the masked values)",
                        rule.name, c.name
                    ),
                ));
            }
        }
    }

    let mut reviews = Vec::new();
    for rule in &policy.tables {
        for c in &rule.columns {
            if let Some(reason) = c.transformer.review_reason() {
                let key = policy_table_key(
                    rule.schema.as_deref().unwrap_or(&cat.default_schema),
                    &rule.name,
                    &cat.default_schema,
                );
                reviews.push(format!(
                    "  {}:{}: {key}.{}{}",
                    policy.origin,
                    c.line,
                    c.name,
                    if reason.is_empty() {
                        String::new()
                    } else {
                        format!(" — {reason}")
                    }
                ));
            }
        }
    }
    if !reviews.is_empty() {
        return Err(CloneError::Review {
            count: reviews.len(),
            list: reviews.join("\n"),
        });
    }

    let mut tables = Vec::new();
    let mut unclassified: Vec<Unclassified> = Vec::new();
    let mut column_names = Vec::new();
    // One book of masked logins for the run: `username` columns of every table agree.
    let logins = Arc::new(Logins::default());
    for t in &cat.tables {
        let own = find_rule(policy, cat, &t.schema, &t.name);
        let root = t
            .partition_root
            .as_ref()
            .and_then(|(s, n)| find_rule(policy, cat, s, n));
        let display = t.display(&cat.default_schema);
        let mut planned = Vec::new();
        let mut missing = Vec::new();
        for c in &t.columns {
            let rule = own
                .and_then(|r| r.columns.iter().find(|x| x.name == c.name))
                .or_else(|| root.and_then(|r| r.columns.iter().find(|x| x.name == c.name)));
            match (rule, c.generated) {
                (_, true) => {}
                (Some(r), false) => planned.push((
                    PlannedColumn {
                        info: c.clone(),
                        transformer: r.transformer.clone().fitted_to(&c.data_type).map_err(
                            |m| perr(r.line, format!("column `{display}.{}`: {m}", c.name)),
                        )?,
                        subject: r.subject.clone(),
                    },
                    r.leak_scan,
                )),
                (None, false) => missing.push((c.clone(), None)),
            }
        }
        if !missing.is_empty() {
            let key = match &t.partition_root {
                Some((s, n)) if own.is_none() => policy_table_key(s, n, &cat.default_schema),
                _ => policy_table_key(&t.schema, &t.name, &cat.default_schema),
            };
            if let Some(e) = unclassified.iter_mut().find(|(k, _)| *k == key) {
                for m in missing {
                    if !e.1.iter().any(|(c, _)| c.name == m.0.name) {
                        e.1.push(m);
                    }
                }
            } else {
                unclassified.push((key, missing));
            }
            continue;
        }
        let subject = own.or(root).and_then(|r| r.subject.clone());
        let masker = TableMasker::new(
            &display,
            &planned,
            subject.as_deref(),
            &mut column_names,
            &logins,
        );
        tables.push(TablePlan {
            info: t.clone(),
            display,
            columns: planned.into_iter().map(|(c, _)| c).collect(),
            masker,
        });
    }
    if !unclassified.is_empty() {
        let count = unclassified.iter().map(|(_, c)| c.len()).sum();
        return Err(CloneError::Unclassified {
            count,
            snippet: snippet(&unclassified),
        });
    }
    Ok(Plan {
        default_schema: cat.default_schema.clone(),
        tables,
        column_names,
    })
}

/// Masks the rows of one table. Engines hand it the text of the columns in `inputs` and
/// get back the masked text of the columns in `masked`.
#[derive(Debug, Clone)]
pub struct TableMasker {
    /// Indexes into the plan's copied columns, needed as text, in slot order.
    pub inputs: Vec<usize>,
    slot_names: Vec<String>,
    subject_slot: Option<usize>,
    /// Masked columns: (copied column index, input slot, transformer, collector column id).
    pub masked: Vec<MaskedColumn>,
    order: Vec<usize>,
    redaction_slots: Vec<usize>,
    needs_redactions: bool,
    name_pair: Option<(usize, usize)>,
    /// Input slots whose masked value later columns of the row read (`initials` from the
    /// masked names, redaction pairs): only those are kept while the row is masked.
    keep_masked: Vec<bool>,
    logins: Arc<Logins>,
}

/// A column the masker changes.
#[derive(Debug, Clone)]
pub struct MaskedColumn {
    pub column: usize,
    pub slot: usize,
    pub transformer: Transformer,
    /// Collector column id, `None` when the policy turned the leak scan off for it.
    pub scan_id: Option<u32>,
    /// Input slot of the column's own subject, when the policy gives it one.
    subject_slot: Option<usize>,
    /// The column's limit, when its values may be cut to fit (names, free text, …).
    cut_to: Option<Limit>,
}

impl TableMasker {
    fn new(
        display: &str,
        cols: &[(PlannedColumn, bool)],
        subject: Option<&str>,
        column_names: &mut Vec<String>,
        logins: &Arc<Logins>,
    ) -> Option<TableMasker> {
        if cols.iter().all(|(c, _)| c.transformer.is_keep()) {
            return None;
        }
        let mut inputs: Vec<usize> = Vec::new();
        let need = |i: usize, inputs: &mut Vec<usize>| {
            if let Some(p) = inputs.iter().position(|x| *x == i) {
                p
            } else {
                inputs.push(i);
                inputs.len() - 1
            }
        };
        let idx = |name: &str| cols.iter().position(|(c, _)| c.info.name == name);
        let mut masked = Vec::new();
        for (i, (c, scan)) in cols.iter().enumerate() {
            if c.transformer.is_keep() {
                continue;
            }
            let slot = need(i, &mut inputs);
            let scan_id = if *scan {
                column_names.push(format!("{display}.{}", c.info.name));
                Some((column_names.len() - 1) as u32)
            } else {
                None
            };
            masked.push(MaskedColumn {
                column: i,
                slot,
                transformer: c.transformer.clone(),
                scan_id,
                subject_slot: None,
                cut_to: Limit::of(&c.info.data_type).filter(|_| c.transformer.may_be_cut()),
            });
        }
        let subject_slot = subject.and_then(idx).map(|i| need(i, &mut inputs));
        for m in &mut masked {
            m.subject_slot = cols[m.column]
                .0
                .subject
                .as_deref()
                .and_then(idx)
                .map(|i| need(i, &mut inputs));
        }
        for m in masked.clone() {
            for dep in m.transformer.row_dependencies() {
                if let Some(i) = idx(&dep) {
                    need(i, &mut inputs);
                }
            }
        }
        let mut order: Vec<usize> = (0..masked.len())
            .filter(|&k| !masked[k].transformer.is_dependent())
            .collect();
        order.extend((0..masked.len()).filter(|&k| masked[k].transformer.is_dependent()));
        let redaction_slots: Vec<usize> = masked
            .iter()
            .filter(|m| m.transformer.is_redaction_source())
            .map(|m| m.slot)
            .collect();
        let needs_redactions = masked.iter().any(|m| {
            matches!(m.transformer, Transformer::FreeText { redact: true, .. })
                || matches!(&m.transformer, Transformer::Switch { .. } if m.transformer.is_dependent())
        });
        let first = masked
            .iter()
            .find(|m| matches!(m.transformer, Transformer::FirstName));
        let last = masked
            .iter()
            .find(|m| matches!(m.transformer, Transformer::LastName));
        let name_pair = first.zip(last).map(|(f, l)| (f.slot, l.slot));
        let slot_names: Vec<String> = inputs
            .iter()
            .map(|i| cols[*i].0.info.name.clone())
            .collect();
        // JSON documents may hold any transformer: their rows keep every masked value.
        let any_json = masked
            .iter()
            .any(|m| matches!(m.transformer, Transformer::Json { .. }));
        let mut keep_masked = vec![any_json; inputs.len()];
        for m in &masked {
            for dep in m.transformer.row_dependencies() {
                if let Some(k) = slot_names.iter().position(|n| *n == dep) {
                    keep_masked[k] = true;
                }
            }
        }
        if needs_redactions {
            for &k in redaction_slots
                .iter()
                .chain(name_pair.iter().flat_map(|(f, l)| [f, l]))
            {
                keep_masked[k] = true;
            }
        }
        Some(TableMasker {
            inputs,
            slot_names,
            subject_slot,
            masked,
            order,
            redaction_slots,
            needs_redactions,
            name_pair,
            keep_masked,
            logins: Arc::clone(logins),
        })
    }

    /// Mask one row. `src[k]` is the text of column `inputs[k]`; `out[j]` receives the masked
    /// text of `masked[j]`. Outputs equal to a value in `avoid` are drawn again.
    pub fn mask(
        &self,
        key: &RunKey,
        src: &[Option<&str>],
        out: &mut Vec<Option<String>>,
        avoid: Option<&PiiIndex>,
    ) -> Result<(), (String, String)> {
        let mut masked_slots: Vec<Option<Option<String>>> = vec![None; src.len()];
        out.clear();
        out.resize(self.masked.len(), None);
        let subject = self.subject_slot.and_then(|s| src[s]);
        let mut redactions: Vec<(String, String)> = Vec::new();
        let mut redactions_ready = !self.needs_redactions;
        let memo = RowMemo::default();
        for &k in &self.order {
            let m = &self.masked[k];
            if !redactions_ready && m.transformer.is_dependent() {
                for &s in &self.redaction_slots {
                    if let (Some(sv), Some(Some(mv))) = (src[s], &masked_slots[s]) {
                        redactions.push((sv.to_string(), mv.clone()));
                    }
                }
                if let Some((f, l)) = self.name_pair {
                    if let (Some(fs), Some(ls), Some(Some(fm)), Some(Some(lm))) =
                        (src[f], src[l], &masked_slots[f], &masked_slots[l])
                    {
                        redactions.push((format!("{fs} {ls}"), format!("{fm} {lm}")));
                        redactions.push((format!("{ls}, {fs}"), format!("{lm}, {fm}")));
                        redactions.push((format!("{ls} {fs}"), format!("{lm} {fm}")));
                    }
                }
                redactions.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
                redactions_ready = true;
            }
            // A column with a subject of its own derives its seeds apart from the row's.
            let (subject, memo) = match m.subject_slot {
                Some(s) => (src[s], None),
                None => (subject, Some(&memo)),
            };
            let cx = Cx {
                key,
                subject,
                names: &self.slot_names,
                source: src,
                masked: &masked_slots,
                redactions: &redactions,
                avoid,
                attempt: 0,
                memo,
                logins: Some(&self.logins),
            };
            let v = m
                .transformer
                .apply_cut(src[m.slot], &cx, m.cut_to)
                .map_err(|e| (self.slot_names[m.slot].clone(), e))?;
            if self.keep_masked[m.slot] {
                masked_slots[m.slot] = Some(v.clone());
            }
            out[k] = v;
        }
        Ok(())
    }

    /// Record the identifying source values of one row for the leak scan (no masking).
    pub fn collect(&self, key: &RunKey, src: &[Option<&str>], c: &mut Collector) {
        let masked_slots: Vec<Option<Option<String>>> = vec![None; src.len()];
        let cx = Cx {
            key,
            subject: self.subject_slot.and_then(|s| src[s]),
            names: &self.slot_names,
            source: src,
            masked: &masked_slots,
            redactions: &[],
            avoid: None,
            attempt: 0,
            memo: None,
            logins: None,
        };
        for m in &self.masked {
            if let (Some(id), Some(v)) = (m.scan_id, src[m.slot]) {
                for s in m.transformer.scan_values(v, &cx) {
                    c.add(id, &s);
                }
            }
        }
        if let Some((f, l)) = self.name_pair {
            let id = self
                .masked
                .iter()
                .find(|m| m.slot == f)
                .and_then(|m| m.scan_id);
            if let (Some(fs), Some(ls), Some(id)) = (src[f], src[l], id) {
                c.add(id, &format!("{fs} {ls}"));
                c.add(id, &format!("{ls} {fs}"));
            }
        }
    }
}
