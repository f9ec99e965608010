//! PostgreSQL → PostgreSQL. One `REPEATABLE READ READ ONLY` transaction exports a snapshot
//! that every worker (and `pg_dump` for the schema) imports, so all tables come from one
//! instant. Rows travel as binary `COPY`: kept fields are forwarded as raw bytes, masked
//! fields are read as text, masked, and encoded back. Indexes, constraints and triggers are
//! restored after the data (`pg_restore --section=post-data`, in parallel), but for foreign
//! keys the source snapshot already holds valid on unchanged columns: those are created first
//! and not checked again (see [`EarlyKeys`]); and unique keys of big tables are built by valet
//! beside `pg_restore`, as unique indexes turned into constraints (see [`UniqueKey`]).
//!
//! The target database carries a comment `valet-clone: incomplete …` until the leak scan has
//! passed; on any failure it is dropped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use tokio_postgres::{Client, NoTls};

use crate::array::PgArray;
use crate::engine::pgcopy::{header, trailer, Codec, CopyReader};
use crate::engine::{
    dq, leak_result, plan_into_report, redact_url, table_report, CloneOptions, Inspection,
};
use crate::error::{CloneError, Message};
use crate::leak::{Collector, PiiIndex, ScanTally};
use crate::plan::{classify, Catalog, ColumnInfo, Plan, TableInfo};
use crate::report::{CloneReport, Phases, TableReport};
use crate::transform::Transformer;

/// Bytes of unchanged rows gathered before they are sent on to the target.
const FORWARD_BLOCK: usize = 1 << 18;

const MARK_INCOMPLETE: &str = "valet-clone: incomplete";
const MARK_COMPLETE: &str = "valet-clone: complete";

/// A PostgreSQL error as valet shows it: the server's severity, message and detail (with a
/// hint for text the encodings refuse), or the client's error with its causes.
#[derive(Debug)]
struct PgError(tokio_postgres::Error);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&pgerr(&self.0))
    }
}

impl std::error::Error for PgError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn pgerr(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => {
            let mut m = format!("{}: {}", d.severity(), d.message());
            if let Some(detail) = d.detail() {
                m.push_str(&format!(" ({detail})"));
            }
            if *d.code() == tokio_postgres::error::SqlState::CHARACTER_NOT_IN_REPERTOIRE {
                m.push_str(
                    " — text that is not valid UTF-8 (a SQL_ASCII database holding Latin-1 \
                     bytes, for one) or has no place in the other database's encoding; valet \
                     moves text as UTF-8: fix those values, or convert the database to UTF8 first",
                );
            }
            m
        }
        None => {
            let mut m = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(s) = src {
                m.push_str(&format!(": {s}"));
                src = s.source();
            }
            m
        }
    }
}

fn db(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> CloneError {
    let c = context.into();
    move |e| CloneError::db(c, PgError(e))
}

async fn connect(url: &str, side: &'static str) -> Result<Client, CloneError> {
    let (client, conn) = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tokio_postgres::connect(url, NoTls),
    )
    .await
    .map_err(|_| CloneError::connect(side, redact_url(url), Message::from("timed out after 20 s")))?
    .map_err(|e| CloneError::connect(side, redact_url(url), PgError(e)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("postgres connection ended: {e}");
        }
    });
    Ok(client)
}

const SESSION: &str =
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; \
                       SET extra_float_digits = 3; SET statement_timeout = 0; \
                       SET synchronize_seqscans = off;";

async fn source_session(url: &str, snapshot: Option<&str>) -> Result<Client, CloneError> {
    let c = connect(url, "source").await?;
    c.batch_execute(SESSION)
        .await
        .map_err(db("set up source session"))?;
    c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(db("begin snapshot transaction"))?;
    if let Some(s) = snapshot {
        c.batch_execute(&format!(
            "SET TRANSACTION SNAPSHOT '{}'",
            s.replace('\'', "''")
        ))
        .await
        .map_err(db("import the source snapshot"))?;
    }
    Ok(c)
}

/// Read tables and columns.
async fn read_catalog(c: &Client) -> Result<Catalog, CloneError> {
    let tables = c
        .query(
            r"SELECT c.oid::int8, n.nspname::text, c.relname::text, c.relkind::text,
                     (CASE WHEN c.reltuples > 0 THEN c.reltuples ELSE pg_relation_size(c.oid) / 100 END)::int8, rn.nspname::text, rc.relname::text
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              LEFT JOIN pg_class rc ON c.relispartition AND rc.oid = pg_partition_root(c.oid)
              LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
              WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                AND d.objid = c.oid AND d.deptype = 'e')
              ORDER BY n.nspname, c.relname",
            &[],
        )
        .await
        .map_err(db("read the source catalog"))?;
    let cols = c
        .query(
            r"SELECT a.attrelid::int8, a.attname::text, format_type(a.atttypid, a.atttypmod),
                     a.attgenerated::text <> '', a.atttypid::int8, bt.typname::text, bt.typtype::text,
                     bt.typcategory::text, COALESCE(et.typcategory::text, '')
              FROM pg_attribute a
              JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p')
              JOIN pg_type t ON t.oid = a.atttypid
              JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
              LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
              WHERE a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attrelid, a.attnum",
            &[],
        )
        .await
        .map_err(db("read the source columns"))?;
    let pks = c
        .query(
            r"SELECT i.indrelid::int8, a.attname::text FROM pg_index i
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
              WHERE i.indisprimary AND i.indnatts = 1
                AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)",
            &[],
        )
        .await
        .map_err(db("read the source primary keys"))?;
    let mut by_oid: HashMap<i64, Vec<ColumnInfo>> = HashMap::new();
    for r in cols {
        let typname: String = r.get(5);
        let typtype: String = r.get(6);
        let cat: String = r.get(7);
        let elem_cat: String = r.get(8);
        let text_like = cat == "S"
            || matches!(typname.as_str(), "json" | "jsonb" | "xml")
            || (cat == "A" && elem_cat == "S");
        by_oid.entry(r.get(0)).or_default().push(ColumnInfo {
            name: r.get(1),
            data_type: r.get(2),
            generated: r.get(3),
            text_like,
            type_oid: r.get::<_, i64>(4) as u32,
            base_type: format!("{typtype}:{typname}"),
        });
    }
    let pk: HashMap<i64, String> = pks.into_iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut cat = Catalog {
        default_schema: "public".into(),
        tables: Vec::new(),
    };
    for r in tables {
        let oid: i64 = r.get(0);
        let kind: String = r.get(3);
        let root = match (r.get::<_, Option<String>>(5), r.get::<_, Option<String>>(6)) {
            (Some(s), Some(n)) => Some((s, n)),
            _ => None,
        };
        cat.tables.push(TableInfo {
            schema: r.get(1),
            name: r.get(2),
            columns: by_oid.remove(&oid).unwrap_or_default(),
            partition_root: root,
            has_rows: kind == "r",
            estimated_rows: r.get::<_, i64>(4) as u64,
            int_pk: pk.get(&oid).cloned(),
        });
    }
    Ok(cat)
}

/// Catalog and up to [`SAMPLE_ROWS`](crate::suggest::SAMPLE_ROWS) sampled non-NULL values
/// per column (one bounded read per table; binary values as `\x` and their first bytes).
pub(crate) async fn inspect(url: &str) -> Result<Inspection, CloneError> {
    let c = source_session(url, None).await?;
    let cat = read_catalog(&c).await?;
    let mut samples = Vec::new();
    for t in &cat.tables {
        let mut cols: Vec<Vec<String>> = vec![Vec::new(); t.columns.len()];
        if !t.columns.is_empty() && t.has_rows {
            let exprs: Vec<String> = t
                .columns
                .iter()
                .map(|col| {
                    if col.base_type == "b:bytea" {
                        format!(
                            "'\\x' || encode(substring({} from 1 for 16), 'hex')",
                            dq(&col.name)
                        )
                    } else {
                        format!("{}::text", dq(&col.name))
                    }
                })
                .collect();
            let q = format!(
                "SELECT {} FROM ONLY {}.{} LIMIT {}",
                exprs.join(", "),
                dq(&t.schema),
                dq(&t.name),
                crate::suggest::SAMPLE_ROWS
            );
            if let Ok(rows) = c.query(q.as_str(), &[]).await {
                for r in rows {
                    for (i, col) in cols.iter_mut().enumerate() {
                        if let Ok(Some(v)) = r.try_get::<_, Option<String>>(i) {
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

/// Raw binary value of any type.
struct Raw(Vec<u8>);

impl<'a> postgres_types::FromSql<'a> for Raw {
    fn from_sql(
        _: &postgres_types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &postgres_types::Type) -> bool {
        true
    }
}

/// How each copied column of each table is written: its codec, and for types without a
/// text codec, the server-encoded bytes of a constant.
struct Encoders {
    codecs: Vec<Vec<Codec>>,
    constants: HashMap<(usize, usize), Bytes>,
}

async fn encoders(plan: &Plan, c: &Client) -> Result<Encoders, CloneError> {
    let mut codecs = Vec::new();
    let mut constants = HashMap::new();
    for (ti, t) in plan.tables.iter().enumerate() {
        let cs: Vec<Codec> = t
            .columns
            .iter()
            .map(|col| {
                let (typtype, typname) = col.info.base_type.split_once(':').unwrap_or(("b", ""));
                Codec::for_type(typname, typtype)
            })
            .collect();
        if let Some(m) = &t.masker {
            for mc in &m.masked {
                if cs[mc.column].encodes_text() {
                    continue;
                }
                let col = &t.columns[mc.column];
                let constant = match &mc.transformer {
                    Transformer::Null => continue,
                    Transformer::Constant { value } | Transformer::Marker { value } => value.clone(),
                    other => {
                        return Err(CloneError::Transform {
                            table: t.display.clone(),
                            column: col.info.name.clone(),
                            message: format!(
                                "transformer `{}` writes text, which cannot go into a column of type {}; \
                                 use keep, null or constant",
                                other.name(),
                                col.info.data_type
                            ),
                        })
                    }
                };
                let q = format!("SELECT CAST($1::text AS {})", col.info.data_type);
                let row =
                    c.query_one(&q, &[&constant])
                        .await
                        .map_err(|e| CloneError::Transform {
                            table: t.display.clone(),
                            column: col.info.name.clone(),
                            message: format!(
                                "constant `{constant}` is not a valid {}: {}",
                                col.info.data_type,
                                pgerr(&e)
                            ),
                        })?;
                let raw: Raw = row.get(0);
                let mut b = BytesMut::new();
                b.put_i32(raw.0.len() as i32);
                b.put_slice(&raw.0);
                constants.insert((ti, mc.column), b.freeze());
            }
        }
        codecs.push(cs);
    }
    Ok(Encoders { codecs, constants })
}

#[derive(Debug, Clone)]
struct Work {
    table: usize,
    /// Lower (inclusive) and upper (exclusive) bounds of the part, by `by`; `None` is open.
    lo: Option<i64>,
    hi: Option<i64>,
    by: Split,
    size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    /// Heap block numbers (`ctid` ranges, read by a TID range scan: PostgreSQL 14 and later).
    Blocks,
    /// Values of the single integer primary key.
    Key,
}

impl Work {
    fn whole(table: usize, size: u64) -> Work {
        Work {
            table,
            lo: None,
            hi: None,
            by: Split::Key,
            size,
        }
    }

    /// The `WHERE` conditions selecting this part's rows of `t` (none for a whole table). Any
    /// table's rows fall in exactly one part, whatever its physical layout, so the same parts
    /// also split a read of the target.
    fn conds(&self, t: &crate::plan::TablePlan) -> Vec<String> {
        let mut conds = Vec::new();
        let column = match (self.by, &t.info.int_pk) {
            (Split::Blocks, _) => "ctid".to_string(),
            (Split::Key, Some(pk)) => dq(pk),
            (Split::Key, None) => return conds,
        };
        let bound = |v: i64| match self.by {
            Split::Blocks => format!("'({v},0)'::tid"),
            Split::Key => v.to_string(),
        };
        if let Some(lo) = self.lo {
            conds.push(format!("{column} >= {}", bound(lo)));
        }
        if let Some(hi) = self.hi {
            conds.push(format!("{column} < {}", bound(hi)));
        }
        conds
    }
}

/// Parts of the tables to copy, biggest first. Tables above `split_rows` rows are split into
/// up to `2 × jobs` ranges of heap blocks (PostgreSQL 14+: any table, each part reads only its
/// blocks) or else of their integer primary key.
async fn plan_work(
    plan: &Plan,
    c: &Client,
    jobs: usize,
    split_rows: u64,
) -> Result<Vec<Work>, CloneError> {
    let version: i64 = c
        .query_one("SELECT current_setting('server_version_num')::int8", &[])
        .await
        .map_err(db("read the server version"))?
        .get(0);
    let mut work = Vec::new();
    for (ti, t) in plan.tables.iter().enumerate() {
        if !t.info.has_rows || t.columns.is_empty() {
            continue;
        }
        let size = t.info.estimated_rows;
        if jobs < 2 || size <= split_rows {
            work.push(Work::whole(ti, size));
            continue;
        }
        let qname = format!("{}.{}", dq(&t.info.schema), dq(&t.info.name));
        let (by, range) = if version >= 140000 {
            let q = format!(
                "SELECT 0::int8, pg_relation_size('{}'::regclass) / current_setting('block_size')::int8",
                qname.replace('\'', "''")
            );
            (Split::Blocks, q)
        } else if let Some(pk) = &t.info.int_pk {
            let q = format!(
                "SELECT min({0})::int8, max({0})::int8 FROM ONLY {qname}",
                dq(pk)
            );
            (Split::Key, q)
        } else {
            work.push(Work::whole(ti, size));
            continue;
        };
        let r = c
            .query_one(&range, &[])
            .await
            .map_err(db(format!("size of {}", t.display)))?;
        let (Some(lo), Some(hi)) = (r.get::<_, Option<i64>>(0), r.get::<_, Option<i64>>(1)) else {
            work.push(Work::whole(ti, size));
            continue;
        };
        for (lo, hi, size) in super::split_range(lo, hi, size, jobs, split_rows) {
            work.push(Work {
                table: ti,
                lo,
                hi,
                by,
                size,
            });
        }
    }
    work.sort_by_key(|w| std::cmp::Reverse(w.size));
    Ok(work)
}

#[derive(Clone)]
enum Mode {
    /// Read masked tables and record their identifying values (no output).
    Collect,
    /// Mask (avoiding the indexed source values) and write to the target.
    Write(Arc<WriteTo>, Arc<PiiIndex>),
    /// Mask and look the output up in the index (`--check`).
    Scan(Arc<PiiIndex>),
}

/// Where and how workers write.
struct WriteTo {
    url: String,
    /// Load with `session_replication_role = replica`: foreign keys created before the data
    /// are not checked row by row (see [`EarlyKeys`]).
    replica: bool,
    /// Tables referenced by such keys: they cannot be truncated, so are not loaded frozen.
    referenced: HashSet<usize>,
}

#[derive(Default)]
struct WorkerOut {
    collector: Collector,
    parts: Vec<(usize, u64, u64, u64)>,
    tally: ScanTally,
    /// Time spent looking written values up in the leak index.
    scan_time: Duration,
}

struct Shared {
    plan: Plan,
    enc: Encoders,
    opts: CloneOptions,
    queue: Mutex<VecDeque<Work>>,
    snapshot: String,
    source: String,
}

async fn worker(shared: Arc<Shared>, mode: Mode) -> Result<WorkerOut, CloneError> {
    let src = source_session(&shared.source, Some(&shared.snapshot)).await?;
    let dst = match &mode {
        Mode::Write(to, _) => {
            let c = connect(&to.url, "target").await?;
            c.batch_execute(if to.replica {
                "SET synchronous_commit = off; SET session_replication_role = replica"
            } else {
                "SET synchronous_commit = off"
            })
            .await
            .map_err(db("set up target session"))?;
            Some(c)
        }
        _ => None,
    };
    let mut out = WorkerOut::default();
    loop {
        let next = shared.queue.lock().expect("queue lock").pop_front();
        let Some(w) = next else { break };
        let started = Instant::now();
        let (rows, bytes) = copy_part(
            &shared,
            &w,
            &src,
            dst.as_ref(),
            &mode,
            &mut out.collector,
            &mut out.tally,
            &mut out.scan_time,
        )
        .await?;
        out.parts
            .push((w.table, rows, bytes, started.elapsed().as_millis() as u64));
    }
    end_read(&src).await;
    Ok(out)
}

/// End a source session's read-only transaction before the connection goes: a session
/// closed inside a transaction is logged by the server ("unexpected EOF on client connection
/// with an open transaction"), in the production server's log.
async fn end_read(src: &Client) {
    let _ = src.batch_execute("COMMIT").await;
}

#[allow(clippy::too_many_arguments)]
async fn copy_part(
    shared: &Shared,
    w: &Work,
    src: &Client,
    dst: Option<&Client>,
    mode: &Mode,
    collector: &mut Collector,
    tally: &mut ScanTally,
    scan_time: &mut Duration,
) -> Result<(u64, u64), CloneError> {
    let t = &shared.plan.tables[w.table];
    let codecs = &shared.enc.codecs[w.table];
    let opts = &shared.opts;
    let qname = format!("{}.{}", dq(&t.info.schema), dq(&t.info.name));
    let col_list: Vec<String> = t.columns.iter().map(|c| dq(&c.info.name)).collect();
    let masker = t.masker.as_ref();
    let n = t.columns.len();
    // Fields: the copied columns (masked ones as text), then extra text inputs.
    let mut slot_field = Vec::new();
    let mut items: Vec<String> = Vec::new();
    let masked_cols: Vec<usize> = masker
        .map(|m| m.masked.iter().map(|x| x.column).collect())
        .unwrap_or_default();
    for (i, c) in t.columns.iter().enumerate() {
        if masked_cols.contains(&i) {
            items.push(format!("{}::text", dq(&c.info.name)));
        } else {
            items.push(dq(&c.info.name));
        }
    }
    if let Some(m) = masker {
        for &ci in &m.inputs {
            if masked_cols.contains(&ci) {
                slot_field.push(ci);
            } else {
                items.push(format!("{}::text", dq(&t.columns[ci].info.name)));
                slot_field.push(items.len() - 1);
            }
        }
    }
    let conds = w.conds(t);
    let collect_only = matches!(mode, Mode::Collect);
    if collect_only {
        let Some(m) = masker else {
            return Ok((0, 0));
        };
        // Collecting reads only the masker's inputs, as text.
        items = m
            .inputs
            .iter()
            .map(|&ci| format!("{}::text", dq(&t.columns[ci].info.name)))
            .collect();
        slot_field = (0..m.inputs.len()).collect();
    }
    // Written (or, with --check, would-be-written) values are looked up in the leak index in
    // flight; `inflight` says which columns and from which byte their text starts.
    let avoid = match mode {
        Mode::Write(_, ix) | Mode::Scan(ix) => Some(&**ix),
        Mode::Collect => None,
    };
    let inflight = inflight_columns(&shared.plan, &shared.enc, w.table);
    let names = &shared.plan.column_names;
    let q = if masker.is_none() && conds.is_empty() {
        format!(
            "COPY {qname} ({}) TO STDOUT (FORMAT binary)",
            col_list.join(", ")
        )
    } else {
        format!(
            "COPY (SELECT {} FROM ONLY {qname}{}) TO STDOUT (FORMAT binary)",
            items.join(", "),
            if conds.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", conds.join(" AND "))
            }
        )
    };
    let stream = src
        .copy_out(q.as_str())
        .await
        .map_err(db(format!("read {}", t.display)))?;
    futures::pin_mut!(stream);
    // A part that is the whole table is loaded frozen (`COPY … FREEZE` after a `TRUNCATE` in
    // the same transaction): the index builds and the leak scan that read it next need not
    // set hint bits on, and so rewrite, every page.
    let freeze = w.lo.is_none()
        && w.hi.is_none()
        && matches!(mode, Mode::Write(to, _) if !to.referenced.contains(&w.table));
    let sink = match (mode, dst) {
        (Mode::Write(..), Some(d)) => {
            if freeze {
                d.batch_execute(&format!("BEGIN; TRUNCATE ONLY {qname}"))
                    .await
                    .map_err(db(format!("write {}", t.display)))?;
            }
            Some(
                d.copy_in(
                    format!(
                        "COPY {qname} ({}) FROM STDIN (FORMAT binary{})",
                        col_list.join(", "),
                        if freeze { ", FREEZE" } else { "" }
                    )
                    .as_str(),
                )
                .await
                .map_err(db(format!("write {}", t.display)))?,
            )
        }
        _ => None,
    };
    futures::pin_mut!(sink);
    if let Some(mut s) = sink.as_mut().as_pin_mut() {
        written(shared, w, s.send(header()).await).await?;
    }
    opts.progress.table_start(&t.display, t.info.estimated_rows);
    let mut reader = CopyReader::new();
    let mut fields = Vec::new();
    let mut out = BytesMut::with_capacity(1 << 17);
    let mut outputs: Vec<Option<String>> = Vec::new();
    let (mut rows, mut bytes, mut reported) = (0u64, 0u64, 0u64);
    let terr = |e: String| CloneError::db(format!("read {}", t.display), Message(e));
    // Per message: the error context is formatted only when there is an error.
    let read_err = |e: tokio_postgres::Error| db(format!("read {}", t.display))(e);
    loop {
        let chunk = stream.next().await;
        let end = chunk.is_none();
        if let Some(chunk) = chunk {
            let chunk = chunk.map_err(read_err)?;
            bytes += chunk.len() as u64;
            reader.push(&chunk);
        }
        if masker.is_none() {
            // The source sends one message per row: forward them in large blocks, or the
            // per-message cost (and a flush per row) dominates the copy.
            if end || reader.buffered() >= FORWARD_BLOCK {
                loop {
                    let started = Instant::now();
                    let mut row = rows;
                    let next = reader
                        .take_complete(&mut fields, |tuple, fields| {
                            row += 1;
                            if let Some(ix) = avoid {
                                scan_kept(ix, names, tally, t, &inflight, &[], tuple, fields, row);
                            }
                        })
                        .map_err(terr)?;
                    *scan_time += started.elapsed();
                    let Some((block, count)) = next else { break };
                    rows += count;
                    if let Some(mut s) = sink.as_mut().as_pin_mut() {
                        written(shared, w, s.send(block).await).await?;
                    }
                }
            }
        } else {
            while let Some(tuple) = reader.next_tuple(&mut fields).map_err(terr)? {
                rows += 1;
                // Text arrives as UTF-8: the server converts it for the session and refuses
                // what is not valid (test `text_that_is_not_utf8_fails_the_clone_closed`).
                let field_str = |k: usize| -> Option<&str> {
                    fields
                        .get(k)
                        .copied()
                        .flatten()
                        .map(|(p, l)| std::str::from_utf8(&tuple[p..p + l]).unwrap_or(""))
                };
                if let Some(m) = masker {
                    let src_texts: Vec<Option<&str>> =
                        slot_field.iter().map(|&k| field_str(k)).collect();
                    if collect_only {
                        m.collect(&opts.key, &src_texts, collector);
                        continue;
                    }
                    m.mask(&opts.key, &src_texts, &mut outputs, avoid).map_err(
                        |(column, message)| CloneError::Transform {
                            table: t.display.clone(),
                            column,
                            message,
                        },
                    )?;
                }
                out.put_i16(n as i16);
                let mut mi = 0;
                for (i, codec) in codecs.iter().enumerate().take(n) {
                    if mi < masked_cols.len() && masked_cols[mi] == i {
                        let v = outputs[mi].as_deref();
                        match (v, shared.enc.constants.get(&(w.table, i))) {
                            (None, _) => out.put_i32(-1),
                            (Some(_), Some(c)) => out.put_slice(c),
                            (Some(s), None) => codec.encode(s, &mut out).map_err(|message| {
                                CloneError::Transform {
                                    table: t.display.clone(),
                                    column: t.columns[i].info.name.clone(),
                                    message,
                                }
                            })?,
                        }
                        if let (Some(ix), Some(s), true) = (avoid, v, t.columns[i].info.text_like) {
                            tally.look_up(
                                ix,
                                names,
                                (&t.display, &t.columns[i].info.name, rows),
                                s,
                            );
                        }
                        mi += 1;
                    } else {
                        match fields[i] {
                            None => out.put_i32(-1),
                            Some((p, l)) => {
                                out.put_i32(l as i32);
                                out.put_slice(&tuple[p..p + l]);
                            }
                        }
                    }
                }
                if let Some(ix) = avoid {
                    scan_kept(
                        ix,
                        names,
                        tally,
                        t,
                        &inflight,
                        &masked_cols,
                        &tuple,
                        &fields,
                        rows,
                    );
                }
                if out.len() >= 1 << 17 {
                    let block = out.split().freeze();
                    if let Some(mut s) = sink.as_mut().as_pin_mut() {
                        written(shared, w, s.send(block).await).await?;
                    }
                }
            }
        }
        if rows - reported >= 5000 {
            opts.progress.table_rows(&t.display, rows - reported);
            reported = rows;
        }
        if end {
            break;
        }
    }
    if !reader.finished || reader.has_leftover() {
        return Err(CloneError::db(
            format!("read {}", t.display),
            Message::from("the COPY stream ended early"),
        ));
    }
    if let Some(mut s) = sink.as_mut().as_pin_mut() {
        if !out.is_empty() {
            written(shared, w, s.send(out.split().freeze()).await).await?;
        }
        written(shared, w, s.send(trailer()).await).await?;
        let count = written(shared, w, s.as_mut().finish().await).await?;
        if count != rows {
            return Err(CloneError::db(
                format!("write {}", t.display),
                Message(format!("{rows} rows read but {count} written")),
            ));
        }
        if freeze {
            if let Some(d) = dst {
                d.batch_execute("COMMIT")
                    .await
                    .map_err(db(format!("write {}", t.display)))?;
            }
        }
    }
    opts.progress.table_rows(&t.display, rows - reported);
    Ok((rows, bytes))
}

/// The result of a write to the target's `COPY`, a refusal turned into an error that names the
/// table, the column and the row (by its key) the server names in its context.
async fn written<T>(
    shared: &Shared,
    w: &Work,
    r: Result<T, tokio_postgres::Error>,
) -> Result<T, CloneError> {
    let e = match r {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let t = &shared.plan.tables[w.table];
    let Some(d) = e.as_db_error() else {
        return Err(CloneError::db(format!("write {}", t.display), PgError(e)));
    };
    let (column, line) = d.where_().map(copy_context).unwrap_or_default();
    let row = match line {
        Some(n) => Some(
            key_of_row(shared, w, n)
                .await
                .unwrap_or_else(|| format!("{n} of the part as read")),
        ),
        None => None,
    };
    let declared = column
        .as_ref()
        .and_then(|c| t.columns.iter().find(|x| &x.info.name == c))
        .map(|c| format!(" (column type `{}`)", c.info.data_type))
        .unwrap_or_default();
    Err(CloneError::Write {
        table: t.display.clone(),
        column,
        row,
        message: format!(
            "{}: {}{declared}. Fix the policy for this column (a transformer whose values fit), \
             or the target's column",
            d.severity(),
            redact_quoted(d.message())
        ),
    })
}

/// The column and line (row of the `COPY`, 1-based) of a `COPY … FROM` error's context:
/// `COPY volunteers, line 3, column email` (binary `COPY` names no value).
fn copy_context(ctx: &str) -> (Option<String>, Option<u64>) {
    let Some(rest) = ctx.lines().find_map(|l| l.strip_prefix("COPY ")) else {
        return (None, None);
    };
    let line = rest
        .split(", line ")
        .nth(1)
        .and_then(|l| l.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok());
    let column = rest
        .split_once(", column ")
        .map(|(_, c)| c.split(": ").next().unwrap_or(c).to_string());
    (column, line)
}

/// A server message with its double-quoted values replaced by `…` (they may be personal
/// data: `invalid input syntax for type integer: "…"`).
fn redact_quoted(message: &str) -> String {
    static R: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    R.get_or_init(|| regex::Regex::new(r#""(?:[^"]|"")*""#).expect("valid regex"))
        .replace_all(message, "\"…\"")
        .into_owned()
}

/// The key of row `n` (1-based) of part `w` as the copy read it: the same scan of the same
/// snapshot (sequential scans start at the first block: `synchronize_seqscans` is off), by its
/// primary key (`id = 17`, `a = 1, b = x`) or else its `ctid`. `None` when it cannot be read.
async fn key_of_row(shared: &Shared, w: &Work, n: u64) -> Option<String> {
    let t = &shared.plan.tables[w.table];
    let src = source_session(&shared.source, Some(&shared.snapshot))
        .await
        .ok()?;
    let qname = format!("{}.{}", dq(&t.info.schema), dq(&t.info.name));
    let key: Vec<String> = src
        .query(
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) \
             WHERE i.indrelid = $1::text::regclass AND i.indisprimary \
             ORDER BY array_position(i.indkey::int2[], a.attnum)",
            &[&qname],
        )
        .await
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default();
    let key = if key.is_empty() {
        vec!["ctid".to_string()]
    } else {
        key
    };
    let exprs: Vec<String> = key
        .iter()
        .map(|k| {
            if k == "ctid" {
                "ctid::text".to_string()
            } else {
                format!("{}::text", dq(k))
            }
        })
        .collect();
    let conds = w.conds(t);
    let q = format!(
        "SELECT {} FROM ONLY {qname}{} OFFSET {} LIMIT 1",
        exprs.join(", "),
        if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        },
        n.saturating_sub(1)
    );
    let row = src.query_opt(q.as_str(), &[]).await.ok()??;
    let parts: Vec<String> = key
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let v: Option<String> = row.get(i);
            format!("{k} = {}", v.as_deref().unwrap_or("NULL"))
        })
        .collect();
    Some(parts.join(", "))
}

/// For each copied column of table `ti`: whether the leak scan reads its written bytes in
/// flight, and from which byte the text starts (jsonb's binary form has a version byte).
/// Text-like columns whose binary form is not plain text (arrays, for one) and generated
/// columns are read back from the target instead.
fn inflight_columns(plan: &Plan, enc: &Encoders, ti: usize) -> Vec<Option<usize>> {
    plan.tables[ti]
        .columns
        .iter()
        .zip(&enc.codecs[ti])
        .map(|(c, codec)| match codec {
            _ if !c.info.text_like => None,
            Codec::Text => Some(0),
            Codec::Jsonb => Some(1),
            _ => None,
        })
        .collect()
}

/// Look the in-flight text columns of one tuple up, but for the `masked` ones (their fields hold
/// source values; the masked output is looked up where it is written).
#[allow(clippy::too_many_arguments)]
fn scan_kept(
    ix: &PiiIndex,
    names: &[String],
    tally: &mut ScanTally,
    t: &crate::plan::TablePlan,
    inflight: &[Option<usize>],
    masked: &[usize],
    tuple: &[u8],
    fields: &crate::engine::pgcopy::Fields,
    row: u64,
) {
    for (i, skip) in inflight.iter().enumerate() {
        let (Some(skip), Some(Some((p, l)))) = (skip, fields.get(i)) else {
            continue;
        };
        if masked.contains(&i) {
            continue;
        }
        if let Some(b) = tuple.get(p + skip..p + l) {
            tally.look_up_bytes(ix, names, (&t.display, &t.columns[i].info.name, row), b);
        }
    }
}

async fn run_workers(
    shared: &Arc<Shared>,
    work: Vec<Work>,
    mode: Mode,
) -> Result<WorkerOut, CloneError> {
    let jobs = shared.opts.jobs.max(1).min(work.len().max(1));
    *shared.queue.lock().expect("queue lock") = work.into();
    let mut handles = Vec::new();
    for _ in 0..jobs {
        let (shared, mode) = (shared.clone(), mode.clone());
        // Each worker on a thread of its own with its own runtime, so the tasks of its
        // connections run on the thread that consumes their messages: no wake-up of another
        // thread for each row.
        handles.push(tokio::task::spawn_blocking(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| CloneError::io("start a copy worker", e))?
                .block_on(worker(shared, mode))
        }));
    }
    let mut all = WorkerOut::default();
    let mut first_err = None;
    for h in handles {
        match h.await.map_err(|e| CloneError::io("copy worker", e))? {
            Ok(o) => {
                all.collector.merge(o.collector);
                all.parts.extend(o.parts);
                all.tally.merge(o.tally);
                all.scan_time += o.scan_time;
            }
            Err(e) => {
                if first_err.is_none() {
                    // Stop the others from taking more work.
                    shared.queue.lock().expect("queue lock").clear();
                    first_err = Some(e);
                }
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(all),
    }
}

fn table_reports(plan: &Plan, parts: &[(usize, u64, u64, u64)]) -> Vec<TableReport> {
    let mut out = Vec::new();
    for (ti, t) in plan.tables.iter().enumerate() {
        if !t.info.has_rows {
            continue;
        }
        let mut r = table_report(&t.display, t.masker.as_ref().map_or(0, |m| m.masked.len()));
        let mine: Vec<_> = parts.iter().filter(|p| p.0 == ti).collect();
        r.parts = mine.len().max(1);
        r.rows = mine.iter().map(|p| p.1).sum();
        r.bytes = mine.iter().map(|p| p.2).sum();
        r.duration_ms = mine.iter().map(|p| p.3).max().unwrap_or(0);
        out.push(r);
    }
    out
}

/// The target database: its name and a URL of the same server's maintenance database.
struct Target {
    url: String,
    admin_url: String,
    name: String,
}

#[derive(Debug, PartialEq)]
enum TargetState {
    Missing,
    Empty,
    Incomplete,
    Complete,
    Occupied,
}

impl Target {
    fn parse(url: &str) -> Result<Target, CloneError> {
        let mut u = url::Url::parse(url).map_err(|e| CloneError::Url(e.to_string()))?;
        let name = u.path().trim_start_matches('/').to_string();
        let name = percent_decode(&name);
        u.set_path("/postgres");
        Ok(Target {
            url: url.to_string(),
            admin_url: u.to_string(),
            name,
        })
    }

    async fn state(&self) -> Result<TargetState, CloneError> {
        let admin = connect(&self.admin_url, "target").await?;
        let row = admin
            .query_opt(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
                &[&self.name],
            )
            .await
            .map_err(db("inspect the target server"))?;
        let Some(row) = row else {
            return Ok(TargetState::Missing);
        };
        let comment: Option<String> = row.get(0);
        match comment.as_deref() {
            Some(c) if c.starts_with(MARK_INCOMPLETE) => return Ok(TargetState::Incomplete),
            Some(c) if c.starts_with(MARK_COMPLETE) => return Ok(TargetState::Complete),
            _ => {}
        }
        let c = connect(&self.url, "target").await?;
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'",
                &[],
            )
            .await
            .map_err(db("inspect the target database"))?
            .get(0);
        Ok(if n == 0 {
            TargetState::Empty
        } else {
            TargetState::Occupied
        })
    }

    fn refuse(&self, state: &TargetState, replace: bool) -> Result<(), CloneError> {
        match state {
            TargetState::Complete if !replace => Err(CloneError::TargetExists(format!(
                "target database `{}` holds a completed clone; pass --replace to overwrite it",
                self.name
            ))),
            TargetState::Occupied if !replace => Err(CloneError::TargetExists(format!(
                "target database `{}` already holds tables that valet did not write; pass --replace to overwrite it",
                self.name
            ))),
            _ => Ok(()),
        }
    }

    async fn create(
        &self,
        state: &TargetState,
        template_info: &(String, String, String),
    ) -> Result<(), CloneError> {
        let admin = connect(&self.admin_url, "target").await?;
        let q = dq(&self.name);
        if *state != TargetState::Missing && *state != TargetState::Empty {
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)"))
                .await
                .map_err(db("drop the previous target"))?;
        }
        if *state != TargetState::Empty {
            let (enc, collate, ctype) = template_info;
            let created = admin
                .batch_execute(&format!(
                    "CREATE DATABASE {q} TEMPLATE template0 ENCODING '{enc}' LC_COLLATE '{}' LC_CTYPE '{}'",
                    collate.replace('\'', "''"),
                    ctype.replace('\'', "''")
                ))
                .await;
            if let Err(e) = created {
                // The database appeared after the target was inspected: a clone killed while
                // creating it leaves the server to finish that `CREATE DATABASE`. Take it as
                // found now if it is empty (nothing of anyone's is in it), else refuse.
                if e.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE)
                    || self.state().await? != TargetState::Empty
                {
                    return Err(db("create the target database")(e));
                }
            }
        }
        self.mark(&admin, MARK_INCOMPLETE).await
    }

    async fn mark(&self, admin: &Client, mark: &str) -> Result<(), CloneError> {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        admin
            .batch_execute(&format!(
                "COMMENT ON DATABASE {} IS '{mark} (unix time {started})'",
                dq(&self.name)
            ))
            .await
            .map_err(db("mark the target database"))
    }

    async fn drop_db(&self) {
        if let Ok(admin) = connect(&self.admin_url, "target").await {
            if let Err(e) = admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    dq(&self.name)
                ))
                .await
            {
                tracing::warn!(
                    "could not drop the failed target {}: {}",
                    self.name,
                    pgerr(&e)
                );
            }
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn run_tool(program: &str, args: &[String], context: &str) -> Result<(), CloneError> {
    tool_output(program, args, context, "").await.map(drop)
}

/// Run a client tool; its standard output, or its first error lines. `options` are added to
/// the server options of its sessions (`PGOPTIONS`, after any the user set).
async fn tool_output(
    program: &str,
    args: &[String],
    context: &str,
    options: &str,
) -> Result<Vec<u8>, CloneError> {
    let mut cmd = tokio::process::Command::new(program);
    if !options.is_empty() {
        let user = std::env::var("PGOPTIONS").unwrap_or_default();
        cmd.env("PGOPTIONS", format!("{user} {options}").trim());
    }
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| CloneError::io(format!("{context}: cannot run {program}"), e))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first: Vec<&str> = err
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .collect();
        return Err(CloneError::io(
            context.to_string(),
            Message(format!("{program} failed: {}", first.join(" | "))),
        ));
    }
    Ok(out.stdout)
}

/// Foreign keys restored before the data, with the unique keys they reference.
///
/// A foreign key whose source constraint is valid, between two plain tables, on columns copied
/// unchanged on both sides (`keep`), holds in the clone exactly as it held in the source
/// snapshot the rows come from. Created on the empty tables, with the rows then loaded under
/// `session_replication_role = replica` (no row-by-row checks, as `pg_restore
/// --disable-triggers` loads), it costs nothing; validated after the load it costs a scan of
/// every referencing table — on fact tables the largest single step of the post-data section.
/// Setting that parameter needs superuser (or a grant); without it every key is validated after
/// the load.
#[derive(Debug, Default)]
struct EarlyKeys {
    /// `(catalog table, oid)` of the archive entries to restore before the data.
    entries: HashSet<(u32, u32)>,
    /// Plan tables referenced by these keys.
    referenced: HashSet<usize>,
    /// `table.constraint` of each foreign key, for the report.
    names: Vec<String>,
}

async fn early_keys(plan: &Plan, src: &Client, dst: &Client) -> Result<EarlyKeys, CloneError> {
    let mut early = EarlyKeys::default();
    if dst
        .batch_execute("SET session_replication_role = replica; RESET session_replication_role")
        .await
        .is_err()
    {
        return Ok(early);
    }
    let rows = src
        .query(
            r"SELECT con.oid::int8, n.nspname::text, c.relname::text,
                     ARRAY(SELECT a.attname::text FROM unnest(con.conkey) k
                           JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k),
                     rn.nspname::text, rc.relname::text,
                     ARRAY(SELECT a.attname::text FROM unnest(con.confkey) k
                           JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k),
                     con.conindid::int8,
                     (SELECT k.oid::int8 FROM pg_constraint k WHERE k.conindid = con.conindid
                        AND k.conrelid = con.confrelid AND k.contype IN ('p', 'u') LIMIT 1),
                     con.conname::text
              FROM pg_constraint con
              JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_class rc ON rc.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
              WHERE con.contype = 'f' AND con.convalidated AND c.relkind = 'r' AND rc.relkind = 'r'
                AND NOT c.relispartition AND NOT rc.relispartition
              ORDER BY con.oid",
            &[],
        )
        .await
        .map_err(db("read the source foreign keys"))?;
    let kept = |ti: usize, cols: &[String]| {
        cols.iter().all(|c| {
            plan.tables[ti]
                .columns
                .iter()
                .any(|pc| pc.info.name == *c && matches!(pc.transformer, Transformer::Keep))
        })
    };
    for r in rows {
        let (Some(ti), Some(rti)) = (
            plan.position(r.get(1), r.get(2)),
            plan.position(r.get(4), r.get(5)),
        ) else {
            continue;
        };
        let (cols, ref_cols): (Vec<String>, Vec<String>) = (r.get(3), r.get(6));
        if cols.is_empty() || !kept(ti, &cols) || !kept(rti, &ref_cols) {
            continue;
        }
        let key = match r.get::<_, Option<i64>>(8) {
            Some(con) => (2606, con as u32),
            None => (1259, r.get::<_, i64>(7) as u32),
        };
        early.entries.insert((2606, r.get::<_, i64>(0) as u32));
        early.entries.insert(key);
        early.referenced.insert(rti);
        early.names.push(format!(
            "{}.{}",
            plan.tables[ti].display,
            r.get::<_, String>(9)
        ));
    }
    early.names.sort();
    Ok(early)
}

/// Primary keys and unique constraints of big tables, built by valet after the data as
/// `CREATE UNIQUE INDEX` then `ADD CONSTRAINT … USING INDEX` (same definitions as the source's).
///
/// `pg_restore` adds them with `ALTER TABLE … ADD CONSTRAINT`, whose lock waits for every other
/// index build on the table, so the key of the biggest table is built last and alone; a unique
/// index builds alongside them. Keys referenced by foreign keys (which wait for them) or
/// carrying comments (restored after them) are left to `pg_restore`, and so are keys whose
/// archive entry says more than the definition: a tablespace, replica identity, statistics
/// targets of index columns.
#[derive(Debug)]
struct UniqueKey {
    /// `(catalog table, oid)` of the archive entry it replaces.
    entry: (u32, u32),
    /// `CREATE UNIQUE INDEX …`.
    index: String,
    /// Statements that make the index the constraint, in order (`ALTER TABLE …`).
    attach: Vec<String>,
    rows: u64,
}

async fn unique_keys(
    plan: &Plan,
    src: &Client,
    split_rows: u64,
    early: &HashSet<(u32, u32)>,
) -> Result<Vec<UniqueKey>, CloneError> {
    let rows = src
        .query(
            r"SELECT con.oid::int8, n.nspname::text, c.relname::text, con.conname::text,
                     con.contype::text, con.condeferrable, con.condeferred,
                     pg_get_indexdef(con.conindid), i.indisclustered
              FROM pg_constraint con
              JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_index i ON i.indexrelid = con.conindid
              JOIN pg_class ic ON ic.oid = con.conindid
              WHERE con.contype IN ('p', 'u') AND c.relkind = 'r' AND NOT c.relispartition
                AND NOT i.indisreplident AND ic.reltablespace = 0
                AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = con.conindid AND a.attstattarget > 0)
                AND obj_description(con.oid, 'pg_constraint') IS NULL
                AND obj_description(con.conindid, 'pg_class') IS NULL
                AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = con.conindid)",
            &[],
        )
        .await
        .map_err(db("read the source keys"))?;
    let mut keys = Vec::new();
    for r in rows {
        let entry = (2606, r.get::<_, i64>(0) as u32);
        let (schema, table, name): (String, String, String) = (r.get(1), r.get(2), r.get(3));
        let Some(t) = plan.position(&schema, &table).map(|ti| &plan.tables[ti]) else {
            continue;
        };
        if early.contains(&entry) || t.info.estimated_rows <= split_rows {
            continue;
        }
        let qtable = format!("{}.{}", dq(&schema), dq(&table));
        let mut add = format!(
            "ALTER TABLE ONLY {qtable} ADD CONSTRAINT {0} {1} USING INDEX {0}",
            dq(&name),
            if r.get::<_, String>(4) == "p" {
                "PRIMARY KEY"
            } else {
                "UNIQUE"
            }
        );
        if r.get::<_, bool>(5) {
            add.push_str(" DEFERRABLE");
            if r.get::<_, bool>(6) {
                add.push_str(" INITIALLY DEFERRED");
            }
        }
        let mut attach = vec![add];
        if r.get::<_, bool>(8) {
            attach.push(format!("ALTER TABLE {qtable} CLUSTER ON {}", dq(&name)));
        }
        keys.push(UniqueKey {
            entry,
            index: r.get(7),
            attach,
            rows: t.info.estimated_rows,
        });
    }
    keys.sort_by_key(|k| std::cmp::Reverse(k.rows));
    Ok(keys)
}

/// Split a `pg_restore --list` into the entries restored before the data and the rest, both in
/// the archive's order (a key before the foreign keys that reference it).
/// Entries in `skip` are in neither.
fn split_toc(
    list: &str,
    early: &HashSet<(u32, u32)>,
    skip: &HashSet<(u32, u32)>,
) -> (String, String) {
    let (mut first, mut rest) = (String::new(), String::new());
    for line in list.lines() {
        let id = line.split_once("; ").and_then(|(_, r)| {
            let mut it = r.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        });
        let to = match id {
            Some(k) if skip.contains(&k) => continue,
            Some(k) if early.contains(&k) => &mut first,
            _ => &mut rest,
        };
        to.push_str(line);
        to.push('\n');
    }
    (first, rest)
}

fn same_database(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        url::Url::parse(s).ok().map(|u| {
            (
                u.host_str()
                    .unwrap_or("localhost")
                    .replace("127.0.0.1", "localhost"),
                u.port().unwrap_or(5432),
                u.path().to_string(),
            )
        })
    };
    norm(a).is_some() && norm(a) == norm(b)
}

pub(crate) async fn clone(
    opts: &CloneOptions,
    source: &str,
    target: &str,
    mut report: CloneReport,
) -> Result<CloneReport, CloneError> {
    if same_database(source, target) {
        return Err(CloneError::Unsupported(
            "source and target are the same database".into(),
        ));
    }
    let mut phases = Phases::new();
    phases.start("snapshot");
    opts.progress.phase("snapshot");
    let src0 = source_session(source, None).await?;
    let snapshot: String = src0
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(db("export the source snapshot"))?
        .get(0);
    report.snapshot = format!("exported snapshot {snapshot} (REPEATABLE READ, READ ONLY)");
    let cat = read_catalog(&src0).await?;
    let plan = classify(&opts.policy, &cat)?;
    plan_into_report(&plan, &mut report);
    let enc = encoders(&plan, &src0).await?;
    let tgt = Target::parse(target)?;
    let state = tgt.state().await?;
    tgt.refuse(&state, opts.replace)?;
    let work = plan_work(&plan, &src0, opts.jobs, opts.split_rows).await?;
    let shared = Arc::new(Shared {
        plan,
        enc,
        opts: opts.clone(),
        queue: Mutex::new(VecDeque::new()),
        snapshot: snapshot.clone(),
        source: source.to_string(),
    });

    let collect_work: Vec<Work> = work
        .iter()
        .filter(|w| shared.plan.tables[w.table].masker.is_some())
        .cloned()
        .collect();
    // Nothing is masked or written before the whole index exists (masked values are drawn
    // again when they equal a source value); the target's schema needs neither.
    let collect = async {
        let started = Instant::now();
        let collected = run_workers(&shared, collect_work, Mode::Collect).await?;
        let settings = opts.policy.leak_scan.clone();
        let index = tokio::task::spawn_blocking(move || collected.collector.into_index(&settings))
            .await
            .map_err(|e| CloneError::io("build the leak index", e))?;
        Ok::<_, CloneError>((Arc::new(index), started.elapsed()))
    };

    if opts.check {
        phases.start("collect");
        opts.progress.phase("collect source PII");
        let (index, _) = collect.await?;
        phases.start("data + leak scan");
        opts.progress
            .phase("data + leak scan (check: nothing written)");
        let scanned = run_workers(&shared, work, Mode::Scan(index.clone())).await?;
        report.tables = table_reports(&shared.plan, &scanned.parts);
        phases.finish();
        report.phases = phases.done;
        end_read(&src0).await;
        leak_result(&index, scanned.tally, &mut report)?;
        return Ok(report);
    }

    let info = src0
        .query_one(
            "SELECT pg_encoding_to_char(encoding), datcollate::text, datctype::text FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await
        .map_err(db("read the source database settings"))?;
    let template_info: (String, String, String) = (info.get(0), info.get(1), info.get(2));
    tgt.create(&state, &template_info).await?;
    phases.finish();
    opts.progress
        .phase("collect source PII (target schema alongside)");
    let schema = async {
        let started = Instant::now();
        let s = create_schema(&shared, &src0, &tgt).await?;
        Ok::<_, CloneError>((s, started.elapsed()))
    };
    let result = match tokio::join!(collect, schema) {
        (Ok((index, collect_took)), Ok((schema, schema_took))) => {
            phases.record_concurrent(&[("collect", collect_took), ("schema", schema_took)]);
            report.foreign_keys_from_source = schema.early_names.clone();
            load_target(
                &shared,
                &src0,
                schema,
                work,
                index,
                &mut phases,
                &mut report,
            )
            .await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    end_read(&src0).await;
    match result {
        Ok(()) => {
            let admin = connect(&tgt.admin_url, "target").await?;
            tgt.mark(&admin, MARK_COMPLETE).await?;
            phases.finish();
            report.phases = phases.done;
            Ok(report)
        }
        Err(e) => {
            tgt.drop_db().await;
            Err(e)
        }
    }
}

/// Server options of the post-data sessions: `--jobs` index builds run at once, each in one
/// process. Parallel index builds on top of them ask for more processors than `--jobs` says
/// the server may give (on 2 cores: post-data 10.0 s without, 10.6 s with).
const SERIAL_BUILDS: &str = "max_parallel_maintenance_workers=0";

/// Files removed when dropped (the schema dump and its lists).
struct Cleanup(Vec<std::path::PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for f in &self.0 {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// The target's schema before the data, and what the later phases need of it.
struct Schema {
    dump: std::path::PathBuf,
    _files: Cleanup,
    url: String,
    dst: Client,
    /// valet's own unique-key builds (see [`unique_keys`]).
    keys: Vec<UniqueKey>,
    /// `--use-list` for pg_restore's post-data, when some entries were taken out of it.
    rest_list: Option<String>,
    write_to: Arc<WriteTo>,
    /// Foreign keys created before the data (for the report).
    early_names: Vec<String>,
}

/// Arguments of a `pg_restore` of one section of the schema dump into the target.
fn restore_args(section: &str, jobs: usize, url: &str, dump: &std::path::Path) -> Vec<String> {
    vec![
        format!("--section={section}"),
        "--no-owner".into(),
        "--no-privileges".into(),
        "--exit-on-error".into(),
        format!("--jobs={jobs}"),
        format!("--dbname={url}"),
        dump.display().to_string(),
    ]
}

/// Dump the source schema (in the clone's snapshot) and create its pre-data part in the
/// target, with the foreign keys the source vouches for (see [`early_keys`]).
async fn create_schema(
    shared: &Arc<Shared>,
    src0: &Client,
    tgt: &Target,
) -> Result<Schema, CloneError> {
    let dir = std::env::temp_dir();
    let dump = dir.join(format!(
        "valet-clone-{}-{}.dump",
        std::process::id(),
        rand::random::<u32>()
    ));
    let lists = [dump.with_extension("early"), dump.with_extension("rest")];
    let files = Cleanup(vec![dump.clone(), lists[0].clone(), lists[1].clone()]);
    run_tool(
        "pg_dump",
        &[
            "--format=custom".into(),
            "--schema-only".into(),
            format!("--snapshot={}", shared.snapshot),
            format!("--file={}", dump.display()),
            format!("--dbname={}", shared.source),
        ],
        "dump the source schema",
    )
    .await?;
    let restore = |section: &str, jobs: usize| restore_args(section, jobs, &tgt.url, &dump);
    run_tool(
        "pg_restore",
        &restore("pre-data", 1),
        "create the target schema",
    )
    .await?;
    let dst = connect(&tgt.url, "target").await?;
    let early = early_keys(&shared.plan, src0, &dst).await?;
    let keys = unique_keys(&shared.plan, src0, shared.opts.split_rows, &early.entries).await?;
    let mut early_names = Vec::new();
    let mut rest_list = None;
    let mut replica = false;
    if !early.entries.is_empty() || !keys.is_empty() {
        let list = tool_output(
            "pg_restore",
            &["--list".into(), dump.display().to_string()],
            "list the source schema",
            "",
        )
        .await?;
        let own: HashSet<(u32, u32)> = keys.iter().map(|k| k.entry).collect();
        let (first, rest) = split_toc(&String::from_utf8_lossy(&list), &early.entries, &own);
        for (path, text) in lists.iter().zip([&first, &rest]) {
            std::fs::write(path, text)
                .map_err(|e| CloneError::io(format!("write {}", path.display()), e))?;
        }
        if !first.is_empty() {
            let mut args = restore("post-data", 1);
            args.insert(0, format!("--use-list={}", lists[0].display()));
            run_tool(
                "pg_restore",
                &args,
                "create foreign keys (and the keys they reference) before the data",
            )
            .await?;
            replica = true;
            early_names = early.names.clone();
        }
        rest_list = Some(format!("--use-list={}", lists[1].display()));
    }
    let write_to = Arc::new(WriteTo {
        url: tgt.url.clone(),
        replica,
        referenced: if replica {
            early.referenced
        } else {
            HashSet::new()
        },
    });
    Ok(Schema {
        dump,
        _files: files,
        url: tgt.url.clone(),
        dst,
        keys,
        rest_list,
        write_to,
        early_names,
    })
}

/// Load the data (leak scan in flight), then build indexes, constraints and triggers.
async fn load_target(
    shared: &Arc<Shared>,
    src0: &Client,
    schema: Schema,
    work: Vec<Work>,
    index: Arc<PiiIndex>,
    phases: &mut Phases,
    report: &mut CloneReport,
) -> Result<(), CloneError> {
    let opts = &shared.opts;
    let Schema {
        dump,
        _files,
        url,
        dst,
        keys,
        rest_list,
        write_to,
        ..
    } = schema;
    opts.progress.phase("data (leak scan in flight)");
    let data_started = Instant::now();
    let scan_work = work.clone();
    let out = run_workers(shared, work, Mode::Write(write_to, index.clone())).await?;
    report.tables = table_reports(&shared.plan, &out.parts);
    let seqs = src0
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')",
            &[],
        )
        .await
        .map_err(db("read the source sequences"))?;
    for r in seqs {
        let name: String = r.get(0);
        let v = src0
            .query_one(&format!("SELECT last_value, is_called FROM {name}"), &[])
            .await
            .map_err(db(format!("read sequence {name}")))?;
        let (last, called): (i64, bool) = (v.get(0), v.get(1));
        dst.execute(
            "SELECT setval($1::text::regclass, $2, $3)",
            &[&name, &last, &called],
        )
        .await
        .map_err(db(format!("set sequence {name}")))?;
    }

    // The leak scan looked every written text value up as it went (the bytes COPY stores);
    // what the server computes (generated columns) or stores in another binary form (arrays)
    // is read back from the target while indexes, constraints and triggers are built:
    // neither changes what the other sees.
    phases.record_concurrent(&[
        ("data", data_started.elapsed()),
        ("leak scan", out.scan_time),
    ]);
    let read_back = read_back_columns(shared);
    opts.progress.phase(if read_back.iter().all(Vec::is_empty) {
        "post-data (indexes, constraints, triggers)"
    } else {
        "post-data (indexes, constraints, triggers) and leak scan of computed columns"
    });
    let post_data = async {
        let started = Instant::now();
        let mut args = restore_args("post-data", opts.jobs.max(1), &url, &dump);
        args.extend(rest_list.clone());
        tool_output(
            "pg_restore",
            &args,
            "create indexes, constraints and triggers",
            &format!("-c {SERIAL_BUILDS}"),
        )
        .await
        .map(|_| started.elapsed())
    };
    let scan = async {
        let started = Instant::now();
        scan_target(shared, &url, index.clone(), scan_work, read_back.clone())
            .await
            .map(|tally| (tally, started.elapsed()))
    };
    let own_keys = async {
        let started = Instant::now();
        if !keys.is_empty() {
            dst.batch_execute(&format!("SET {SERIAL_BUILDS}"))
                .await
                .map_err(db("set up the index builds"))?;
        }
        // The index builds first, biggest table first; then the constraints, each of which
        // waits for the other index builds on its table (pg_restore's): attached one by one
        // after its build, a constraint would hold up the builds of the next keys.
        let attach = keys.iter().flat_map(|k| &k.attach);
        for q in keys.iter().map(|k| &k.index).chain(attach) {
            dst.batch_execute(q)
                .await
                .map_err(db(format!("build a unique key: {q}")))?;
        }
        Ok::<Duration, CloneError>(started.elapsed())
    };
    let (post, scanned, own) = tokio::join!(post_data, scan, own_keys);
    let post = post?.max(own?);
    let (read_tally, scan_took) = scanned?;
    if read_back.iter().all(Vec::is_empty) {
        phases.record_concurrent(&[("post-data", post)]);
    } else {
        phases.record_concurrent(&[("post-data", post), ("leak scan (read back)", scan_took)]);
    }
    let mut tally = out.tally;
    tally.merge(read_tally);
    leak_result(&index, tally, report)
}

/// Per table, the text-like columns the in-flight scan did not read: generated columns and
/// those whose binary form is not plain text.
fn read_back_columns(shared: &Shared) -> Vec<Vec<String>> {
    (0..shared.plan.tables.len())
        .map(|ti| {
            let t = &shared.plan.tables[ti];
            let inflight = inflight_columns(&shared.plan, &shared.enc, ti);
            t.info
                .columns
                .iter()
                .filter(|c| c.text_like)
                .filter(|c| {
                    !t.columns
                        .iter()
                        .zip(&inflight)
                        .any(|(pc, skip)| skip.is_some() && pc.info.name == c.name)
                })
                .map(|c| c.name.clone())
                .collect()
        })
        .collect()
}

/// Read the given text-like columns of the target (`columns[table]`) and look their values up.
async fn scan_target(
    shared: &Arc<Shared>,
    url: &str,
    index: Arc<PiiIndex>,
    work: Vec<Work>,
    columns: Vec<Vec<String>>,
) -> Result<ScanTally, CloneError> {
    let columns = Arc::new(columns);
    let work: VecDeque<Work> = work
        .into_iter()
        .filter(|w| !columns[w.table].is_empty())
        .collect();
    if work.is_empty() {
        return Ok(ScanTally::default());
    }
    let queue = Arc::new(Mutex::new(work));
    let mut tally = ScanTally::default();
    let jobs = shared.opts.jobs.max(1);
    let mut handles = Vec::new();
    for _ in 0..jobs {
        let queue = queue.clone();
        let shared = shared.clone();
        let url = url.to_string();
        let index = index.clone();
        let columns = columns.clone();
        handles.push(tokio::spawn(async move {
            let c = connect(&url, "target").await?;
            c.batch_execute(SESSION)
                .await
                .map_err(db("set up target session"))?;
            let mut tally = ScanTally::default();
            let mut fields = Vec::new();
            loop {
                let next = queue.lock().expect("queue lock").pop_front();
                let Some(w) = next else { break };
                let t = &shared.plan.tables[w.table];
                let conds = w.conds(t);
                let cond = if conds.is_empty() {
                    String::new()
                } else {
                    format!(" WHERE {}", conds.join(" AND "))
                };
                let cols = &columns[w.table];
                // Elements of arrays are also looked up each on its own.
                let arrays: Vec<bool> = cols
                    .iter()
                    .map(|c| {
                        t.info
                            .columns
                            .iter()
                            .any(|x| &x.name == c && x.data_type.ends_with(']'))
                    })
                    .collect();
                let q = format!(
                    "COPY (SELECT {} FROM ONLY {}.{}{cond}) TO STDOUT (FORMAT binary)",
                    cols.iter()
                        .map(|c| format!("{}::text", dq(c)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    dq(&t.info.schema),
                    dq(&t.info.name)
                );
                let stream = c
                    .copy_out(q.as_str())
                    .await
                    .map_err(db(format!("leak scan of {}", t.display)))?;
                futures::pin_mut!(stream);
                let mut reader = CopyReader::new();
                let mut row = 0u64;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| db(format!("leak scan of {}", t.display))(e))?;
                    reader.push(&chunk);
                    while let Some(tuple) = reader
                        .next_tuple(&mut fields)
                        .map_err(|e| CloneError::db("leak scan", Message(e)))?
                    {
                        row += 1;
                        for (k, f) in fields.iter().enumerate() {
                            if let Some((p, l)) = f {
                                let at = (t.display.as_str(), cols[k].as_str(), row);
                                let value = &tuple[*p..*p + *l];
                                let hits = tally.hits;
                                tally.look_up_bytes(&index, &shared.plan.column_names, at, value);
                                // One hit per value at most: elements of a clean array only.
                                let elements = (arrays[k] && tally.hits == hits)
                                    .then(|| std::str::from_utf8(value).ok())
                                    .flatten()
                                    .and_then(|v| PgArray::parse(v).ok());
                                for e in elements.iter().flat_map(|a| a.items.iter().flatten()) {
                                    tally.look_up(&index, &shared.plan.column_names, at, e);
                                    if tally.hits > hits {
                                        break;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Ok::<ScanTally, CloneError>(tally)
        }));
    }
    for h in handles {
        tally.merge(
            h.await
                .map_err(|e| CloneError::io("leak scan worker", e))??,
        );
    }
    Ok(tally)
}

/// Drops the database of `url` (forcing other sessions off); `false` if it did not exist.
pub(crate) async fn drop_database(url: &str) -> Result<bool, CloneError> {
    let t = Target::parse(url)?;
    let admin = connect(&t.admin_url, "target").await?;
    let existed = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&t.name])
        .await
        .map_err(db("look the database up"))?
        .is_some();
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            dq(&t.name)
        ))
        .await
        .map_err(db("drop the database"))?;
    Ok(existed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_errors_name_column_and_line_without_the_value() {
        assert_eq!(
            copy_context("COPY volunteers, line 3, column email"),
            (Some("email".into()), Some(3))
        );
        assert_eq!(
            copy_context("COPY t, line 12, column n: \"abc\""),
            (Some("n".into()), Some(12))
        );
        assert_eq!(copy_context("COPY t, line 2"), (None, Some(2)));
        assert_eq!(
            redact_quoted("invalid input syntax for type integer: \"Ann \"\"A\"\"\""),
            "invalid input syntax for type integer: \"…\""
        );
    }

    #[test]
    fn archive_list_splits_by_catalog_id_and_keeps_the_order() {
        let list = "\
;
; Archive created at 2026-11-25 17:10:00 UTC
;
215; 1259 16390 TABLE public volunteers postgres
3345; 2606 16452 CONSTRAINT public volunteers volunteers_pkey postgres
3346; 2606 16460 CONSTRAINT public events events_pkey postgres
3350; 1259 16470 INDEX public events_collected_at_idx postgres
3360; 2606 16480 FK CONSTRAINT public events events_volunteer_id_fkey postgres
3361; 2606 16490 FK CONSTRAINT public audit audit_volunteer_id_fkey postgres
";
        let early: HashSet<(u32, u32)> = [(2606, 16452), (2606, 16480), (1259, 16390 + 1)]
            .into_iter()
            .collect();
        let skip: HashSet<(u32, u32)> = [(2606, 16460)].into_iter().collect();
        let (first, rest) = split_toc(list, &early, &skip);
        assert_eq!(
            first,
            "3345; 2606 16452 CONSTRAINT public volunteers volunteers_pkey postgres\n\
             3360; 2606 16480 FK CONSTRAINT public events events_volunteer_id_fkey postgres\n"
        );
        assert_eq!(rest.lines().count(), list.lines().count() - 3);
        assert!(rest.starts_with(";\n; Archive created"));
        assert!(rest.contains("audit_volunteer_id_fkey") && rest.contains("events_collected_at"));
        assert!(
            !rest.contains("events_pkey"),
            "skipped entries are in neither list"
        );
    }
}
