//! SQLite → SQLite. The source is read in one read transaction (one snapshot); the target is
//! written to `<target>.valet-partial` and renamed over the target only after the leak scan
//! passed, so an interrupted clone never leaves a target that looks complete.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags};

use crate::engine::{dq, leak_result, plan_into_report, table_reports, CloneOptions, PartStats};
use crate::error::{CloneError, Message};
use crate::leak::{Collector, PiiIndex, ScanTally};
use crate::plan::{classify, Catalog, ColumnInfo, Plan, TableInfo, TablePlan};
use crate::report::{CloneReport, Phases};

struct SchemaObject {
    kind: String,
    name: String,
    sql: String,
}

fn open_source(path: &Path) -> Result<Connection, CloneError> {
    if !path.exists() {
        return Err(CloneError::connect(
            "source",
            format!("sqlite://{}", path.display()),
            Message::from("no such file"),
        ));
    }
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| CloneError::connect("source", format!("sqlite://{}", path.display()), e))?;
    c.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(|e| CloneError::db("source", e))?;
    Ok(c)
}

/// Read the catalog of an open SQLite database.
fn catalog(c: &Connection) -> Result<(Catalog, Vec<SchemaObject>), CloneError> {
    let mut stmt = c
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
        .map_err(|e| CloneError::db("read sqlite_master", e))?;
    let objects: Vec<SchemaObject> = stmt
        .query_map([], |r| {
            Ok(SchemaObject {
                kind: r.get(0)?,
                name: r.get(1)?,
                sql: r.get(3)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| CloneError::db("read sqlite_master", e))?;
    let mut cat = Catalog {
        default_schema: "main".into(),
        tables: Vec::new(),
    };
    for o in &objects {
        if o.kind != "table" || o.name.starts_with("sqlite_") {
            continue;
        }
        if o.sql
            .to_ascii_uppercase()
            .starts_with("CREATE VIRTUAL TABLE")
        {
            return Err(CloneError::Unsupported(format!(
                "virtual table `{}` (e.g. full-text search) is not supported by the SQLite engine",
                o.name
            )));
        }
        let mut cols = Vec::new();
        let mut pk = Vec::new();
        let mut s = c
            .prepare(&format!("PRAGMA table_xinfo({})", dq(&o.name)))
            .map_err(|e| CloneError::db("read columns", e))?;
        let rows = s
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| CloneError::db("read columns", e))?;
        for (name, ty, pkpos, hidden) in rows {
            if pkpos > 0 {
                pk.push((name.clone(), ty.clone()));
            }
            cols.push(ColumnInfo {
                name,
                data_type: ty,
                generated: hidden == 2 || hidden == 3,
                text_like: true,
                type_oid: 0,
                base_type: String::new(),
            });
        }
        let estimated_rows = c
            .query_row(&format!("SELECT count(*) FROM {}", dq(&o.name)), [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| CloneError::db(format!("count rows of {}", o.name), e))?
            as u64;
        cat.tables.push(TableInfo {
            schema: "main".into(),
            name: o.name.clone(),
            columns: cols,
            partition_root: None,
            has_rows: true,
            estimated_rows,
            int_pk: match pk.as_slice() {
                [(n, t)] if t.eq_ignore_ascii_case("integer") => Some(n.clone()),
                _ => None,
            },
        });
    }
    Ok((cat, objects))
}

/// Sample up to [`SAMPLE_ROWS`](crate::suggest::SAMPLE_ROWS) rows of each table, for
/// `policy suggest` (blobs as `\x` and their first bytes).
pub(crate) fn inspect(path: &Path) -> Result<crate::engine::Inspection, CloneError> {
    let c = open_source(path)?;
    let (cat, _) = catalog(&c)?;
    let mut samples = Vec::new();
    for t in &cat.tables {
        let mut cols: Vec<Vec<String>> = vec![Vec::new(); t.columns.len()];
        let exprs: Vec<String> = t
            .columns
            .iter()
            .map(|col| {
                format!(
                    "CASE WHEN typeof({0}) = 'blob' THEN '\\x' || lower(hex(substr({0}, 1, 16))) \
                     ELSE CAST({0} AS TEXT) END",
                    dq(&col.name)
                )
            })
            .collect();
        let q = format!(
            "SELECT {} FROM {} LIMIT {}",
            exprs.join(", "),
            dq(&t.name),
            crate::suggest::SAMPLE_ROWS
        );
        if let Ok(mut st) = c.prepare(&q) {
            if let Ok(mut rows) = st.query([]) {
                while let Ok(Some(r)) = rows.next() {
                    for (i, col) in cols.iter_mut().enumerate() {
                        if let Ok(Some(v)) = r.get::<_, Option<String>>(i) {
                            col.push(v);
                        }
                    }
                }
            }
        }
        samples.push(cols);
    }
    Ok((cat, samples))
}

/// A refused row (a constraint, or a value a `STRICT` table's column cannot store), named by
/// table, column (as SQLite names it: `NOT NULL constraint failed: people.code`) and key.
/// SQLite's messages hold no values.
fn write_error(t: &TablePlan, vals: &[Value], row: u64, e: rusqlite::Error) -> CloneError {
    let msg = e.to_string();
    let column = t
        .columns
        .iter()
        .map(|c| &c.info.name)
        .find(|c| {
            let qualified = format!("{}.{c}", t.info.name);
            msg.ends_with(&qualified) || msg.contains(&format!("{qualified},"))
        })
        .cloned();
    let key = match &t.info.int_pk {
        Some(pk) => t
            .columns
            .iter()
            .position(|c| &c.info.name == pk)
            .and_then(|i| match &vals[i] {
                Value::Integer(k) => Some(format!("{pk} = {k}")),
                _ => None,
            }),
        None => None,
    }
    .unwrap_or_else(|| format!("{row} of the table as read"));
    CloneError::Write {
        table: t.display.clone(),
        column,
        row: Some(key),
        message: format!(
            "{msg}. Fix the policy for this column (a transformer whose values the column \
             takes), or the target's column"
        ),
    }
}

/// Removes the partial target file unless disarmed.
struct PartialGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for PartialGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
            for ext in ["-journal", "-wal", "-shm"] {
                let mut p = self.path.clone().into_os_string();
                p.push(ext);
                let _ = std::fs::remove_file(PathBuf::from(p));
            }
        }
    }
}

fn value_text(v: ValueRef<'_>) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string().into()),
        ValueRef::Real(f) => Some(f.to_string().into()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t)),
    }
}

fn value_size(v: &Value) -> u64 {
    match v {
        Value::Null => 1,
        Value::Integer(_) | Value::Real(_) => 8,
        Value::Text(s) => s.len() as u64,
        Value::Blob(b) => b.len() as u64,
    }
}

enum Sink<'a> {
    Write(&'a Connection),
    Collect(&'a mut Collector),
    Scan(&'a PiiIndex, &'a mut ScanTally, &'a [String]),
}

/// Copy (or dry-run) table `ti` of the plan, one part.
fn copy_table(
    src: &Connection,
    plan: &Plan,
    ti: usize,
    opts: &CloneOptions,
    mut sink: Sink<'_>,
    avoid: Option<&PiiIndex>,
) -> Result<PartStats, CloneError> {
    let started = Instant::now();
    let done = |rows: u64, bytes: u64| PartStats {
        table: ti,
        rows,
        bytes,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let t = &plan.tables[ti];
    let cols: Vec<String> = t.columns.iter().map(|c| dq(&c.info.name)).collect();
    if cols.is_empty() || (matches!(sink, Sink::Collect(_)) && t.masker.is_none()) {
        return Ok(done(0, 0));
    }
    let select = format!("SELECT {} FROM {}", cols.join(", "), dq(&t.info.name));
    let insert = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        dq(&t.info.name),
        cols.join(", "),
        vec!["?"; cols.len()].join(", ")
    );
    let mut stmt = src
        .prepare(&select)
        .map_err(|e| CloneError::db(format!("read {}", t.display), e))?;
    let mut ins = match &sink {
        Sink::Write(dst) => Some(
            dst.prepare(&insert)
                .map_err(|e| CloneError::db(format!("prepare insert into {}", t.display), e))?,
        ),
        _ => None,
    };
    let mut rows = stmt
        .query([])
        .map_err(|e| CloneError::db(format!("read {}", t.display), e))?;
    let n = cols.len();
    let mut vals: Vec<Value> = Vec::with_capacity(n);
    let mut out = Vec::new();
    let (mut count, mut bytes) = (0u64, 0u64);
    let progress_every = 2000;
    opts.progress.table_start(&t.display, t.info.estimated_rows);
    while let Some(row) = rows
        .next()
        .map_err(|e| CloneError::db(format!("read {}", t.display), e))?
    {
        vals.clear();
        for i in 0..n {
            vals.push(
                row.get::<_, Value>(i)
                    .map_err(|e| CloneError::db(format!("read {}", t.display), e))?,
            );
        }
        if let Some(m) = &t.masker {
            let texts: Vec<Option<std::borrow::Cow<str>>> = m
                .inputs
                .iter()
                .map(|&i| value_text(ValueRef::from(&vals[i])))
                .collect();
            let refs: Vec<Option<&str>> = texts.iter().map(|o| o.as_deref()).collect();
            if let Sink::Collect(c) = &mut sink {
                m.collect(&opts.key, &refs, c);
                count += 1;
                continue;
            }
            m.mask(&opts.key, &refs, &mut out, avoid)
                .map_err(|(column, message)| CloneError::Transform {
                    table: t.display.clone(),
                    column,
                    message,
                })?;
            for (mc, v) in m.masked.iter().zip(out.drain(..)) {
                vals[mc.column] = match v {
                    Some(s) => Value::Text(s),
                    None => Value::Null,
                };
            }
        }
        count += 1;
        bytes += vals.iter().map(value_size).sum::<u64>();
        match &mut sink {
            Sink::Write(_) => {
                ins.as_mut()
                    .expect("prepared for Write")
                    .execute(rusqlite::params_from_iter(vals.iter()))
                    .map_err(|e| write_error(t, &vals, count, e))?;
            }
            Sink::Collect(_) => {}
            Sink::Scan(index, tally, names) => {
                for (i, v) in vals.iter().enumerate() {
                    if let Value::Text(s) = v {
                        tally.look_up(
                            index,
                            names,
                            (&t.display, &t.columns[i].info.name, count),
                            s,
                        );
                    }
                }
            }
        }
        if count % progress_every == 0 {
            opts.progress.table_rows(&t.display, progress_every);
        }
    }
    opts.progress.table_rows(&t.display, count % progress_every);
    opts.progress.table_done(&t.display, count);
    Ok(done(count, bytes))
}

fn scan_target(
    dst: &Connection,
    cat: &Catalog,
    index: &PiiIndex,
    names: &[String],
) -> Result<ScanTally, CloneError> {
    let mut tally = ScanTally::default();
    for t in &cat.tables {
        let mut stmt = dst
            .prepare(&format!("SELECT * FROM {}", dq(&t.name)))
            .map_err(|e| CloneError::db("leak scan", e))?;
        let ncols = stmt.column_count();
        let colnames: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let mut rows = stmt.query([]).map_err(|e| CloneError::db("leak scan", e))?;
        let mut rowno = 0u64;
        while let Some(r) = rows.next().map_err(|e| CloneError::db("leak scan", e))? {
            rowno += 1;
            for (i, colname) in colnames.iter().enumerate().take(ncols) {
                if let Ok(ValueRef::Text(b)) = r.get_ref(i) {
                    let s = String::from_utf8_lossy(b);
                    tally.look_up(index, names, (&t.name, colname, rowno), &s);
                }
            }
        }
    }
    Ok(tally)
}

fn partial_path(target: &Path) -> PathBuf {
    let mut p = target.as_os_str().to_owned();
    p.push(".valet-partial");
    PathBuf::from(p)
}

/// Check the target's state before anything is written: an existing file is a completed
/// clone (only complete clones are renamed into place) or someone else's database.
fn check_target(target: &Path, replace: bool) -> Result<(), CloneError> {
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(CloneError::connect(
            "target",
            format!("sqlite://{}", target.display()),
            Message(format!("directory {} does not exist", dir.display())),
        ));
    }
    if target.exists()
        && std::fs::metadata(target)
            .map(|m| m.len() > 0)
            .unwrap_or(false)
        && !replace
    {
        return Err(CloneError::TargetExists(format!(
            "target {} already exists; pass --replace to overwrite it",
            target.display()
        )));
    }
    Ok(())
}

pub(crate) fn clone(
    opts: &CloneOptions,
    source: &Path,
    target: &Path,
    mut report: CloneReport,
) -> Result<CloneReport, CloneError> {
    let mut phases = Phases::new();
    phases.start("snapshot");
    opts.progress.phase("snapshot");
    if source
        .canonicalize()
        .ok()
        .is_some_and(|s| Some(s) == target.canonicalize().ok())
    {
        return Err(CloneError::Unsupported(
            "source and target are the same file".into(),
        ));
    }
    let mut src = open_source(source)?;
    let tx = src
        .transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)
        .map_err(|e| CloneError::db("begin read transaction on the source", e))?;
    let (cat, objects) = catalog(&tx)?;
    report.snapshot = "one read transaction".into();
    report.jobs = 1;
    let plan: Plan = classify(&opts.policy, &cat)?;
    plan_into_report(&plan, &mut report);
    check_target(target, opts.replace)?;

    phases.start("collect");
    opts.progress.phase("collect source PII");
    let mut collector = Collector::default();
    for ti in 0..plan.tables.len() {
        copy_table(&tx, &plan, ti, opts, Sink::Collect(&mut collector), None)?;
    }
    let index = collector.into_index(&opts.policy.leak_scan);
    let mut parts = Vec::new();
    if opts.check {
        phases.start("data + leak scan");
        opts.progress
            .phase("data + leak scan (check: nothing written)");
        let mut tally = ScanTally::default();
        for ti in 0..plan.tables.len() {
            parts.push(copy_table(
                &tx,
                &plan,
                ti,
                opts,
                Sink::Scan(&index, &mut tally, &plan.column_names),
                Some(&index),
            )?);
        }
        phases.finish();
        report.tables = table_reports(&plan, &parts);
        report.phases = phases.done;
        leak_result(&index, tally, &mut report)?;
        return Ok(report);
    }

    let partial = partial_path(target);
    let _ = std::fs::remove_file(&partial);
    let mut guard = PartialGuard {
        path: partial.clone(),
        armed: true,
    };
    phases.start("schema");
    opts.progress.phase("schema");
    let mut dst = Connection::open(&partial)
        .map_err(|e| CloneError::connect("target", format!("sqlite://{}", target.display()), e))?;
    let pragma = |c: &Connection, q: &str| {
        c.execute_batch(q)
            .map_err(|e| CloneError::db("set up target", e))
    };
    pragma(&dst, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA foreign_keys=OFF; PRAGMA locking_mode=EXCLUSIVE;")?;
    for p in ["application_id", "user_version"] {
        let v: i64 = tx
            .query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
            .map_err(|e| CloneError::db("read source pragmas", e))?;
        pragma(&dst, &format!("PRAGMA {p} = {v}"))?;
    }
    let wtx = dst
        .transaction()
        .map_err(|e| CloneError::db("begin target transaction", e))?;
    for o in objects
        .iter()
        .filter(|o| o.kind == "table" && !o.name.starts_with("sqlite_"))
    {
        wtx.execute_batch(&o.sql)
            .map_err(|e| CloneError::db(format!("create table {}", o.name), e))?;
    }
    phases.start("data");
    opts.progress.phase("data");
    for ti in 0..plan.tables.len() {
        parts.push(copy_table(
            &tx,
            &plan,
            ti,
            opts,
            Sink::Write(&wtx),
            Some(&index),
        )?);
    }
    let has_seq: bool = tx
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(|e| CloneError::db("read sqlite_sequence", e))?
        > 0;
    if has_seq {
        let seqs: Vec<(String, i64)> = tx
            .prepare("SELECT name, seq FROM sqlite_sequence")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(|e| CloneError::db("read sqlite_sequence", e))?;
        wtx.execute("DELETE FROM sqlite_sequence", [])
            .map_err(|e| CloneError::db("write sqlite_sequence", e))?;
        for (n, s) in seqs {
            wtx.execute(
                "INSERT INTO sqlite_sequence(name, seq) VALUES (?1, ?2)",
                rusqlite::params![n, s],
            )
            .map_err(|e| CloneError::db("write sqlite_sequence", e))?;
        }
    }
    phases.start("post-data");
    opts.progress.phase("post-data");
    for o in objects.iter().filter(|o| o.kind != "table") {
        wtx.execute_batch(&o.sql)
            .map_err(|e| CloneError::db(format!("create {} {}", o.kind, o.name), e))?;
    }
    wtx.commit()
        .map_err(|e| CloneError::db("commit target", e))?;
    drop(tx);

    phases.start("leak scan");
    opts.progress.phase("leak scan");
    let tally = scan_target(&dst, &cat, &index, &plan.column_names)?;
    phases.finish();
    report.tables = table_reports(&plan, &parts);
    report.phases = phases.done;
    leak_result(&index, tally, &mut report)?;

    pragma(
        &dst,
        "PRAGMA locking_mode=NORMAL; PRAGMA journal_mode=DELETE;",
    )?;
    dst.close()
        .map_err(|(_, e)| CloneError::db("close target", e))?;
    std::fs::rename(&partial, target)
        .map_err(|e| CloneError::io(format!("rename {} into place", partial.display()), e))?;
    guard.armed = false;
    Ok(report)
}
