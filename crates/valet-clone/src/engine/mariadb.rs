//! MariaDB/MySQL → MariaDB/MySQL. Workers read in one consistent snapshot: a global read lock
//! is held only while every worker opens `START TRANSACTION WITH CONSISTENT SNAPSHOT` (the
//! technique of mydumper), then released. Tables are created from `SHOW CREATE TABLE` without
//! their secondary indexes and foreign keys, loaded with multi-row `INSERT`s (foreign-key and
//! unique checks off), and the indexes and keys are added afterwards. Views, routines,
//! triggers and sequences follow. The target database's comment says `valet-clone:
//! incomplete` until the leak scan has passed; on any failure it is dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, Row, Value};

use crate::engine::{
    bq, leak_result, plan_into_report, redact_url, table_report, CloneOptions, Inspection,
};
use crate::error::{CloneError, Message};
use crate::leak::{Collector, PiiIndex, ScanTally};
use crate::plan::{classify, Catalog, ColumnInfo, Plan, TableInfo};
use crate::report::{CloneReport, Phases, TableReport};

const MARK_INCOMPLETE: &str = "valet-clone: incomplete";
const MARK_COMPLETE: &str = "valet-clone: complete";
/// Size of one multi-row INSERT statement.
const BATCH_BYTES: usize = 1 << 20;

fn db<E: std::error::Error + Send + Sync + 'static>(
    context: impl Into<String>,
) -> impl FnOnce(E) -> CloneError {
    let c = context.into();
    move |e| CloneError::db(c, e)
}

fn url_with_db(url: &str, db: Option<&str>) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_path(&format!("/{}", db.unwrap_or("")));
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

fn db_name(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .map(|u| u.path().trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// A connection that says goodbye (`COM_QUIT`) however it ends: with [`Session::close`], or,
/// dropped on an error path, from a task on the runtime. A dropped `Conn` only closes its
/// socket, which the server logs as an aborted connection (on the customer's production
/// server, for a source connection).
struct Session(Option<Conn>);

impl std::ops::Deref for Session {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.0.as_ref().expect("a session is open until closed")
    }
}

impl std::ops::DerefMut for Session {
    fn deref_mut(&mut self) -> &mut Conn {
        self.0.as_mut().expect("a session is open until closed")
    }
}

impl Session {
    async fn close(mut self) {
        if let Some(c) = self.0.take() {
            let _ = c.disconnect().await;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let (Some(c), Ok(rt)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                let _ = c.disconnect().await;
            });
        }
    }
}

async fn connect(url: &str, side: &'static str) -> Result<Session, CloneError> {
    let opts =
        Opts::from_url(url).map_err(|e| CloneError::Url(format!("`{}`: {e}", redact_url(url))))?;
    let conn = tokio::time::timeout(std::time::Duration::from_secs(20), Conn::new(opts))
        .await
        .map_err(|_| {
            CloneError::connect(side, redact_url(url), Message::from("timed out after 20 s"))
        })?
        .map_err(|e| CloneError::connect(side, redact_url(url), e))?;
    Ok(Session(Some(conn)))
}

async fn source_session(url: &str) -> Result<Session, CloneError> {
    let mut c = connect(url, "source").await?;
    c.query_drop(
        "SET SESSION time_zone = '+00:00'; SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    )
    .await
    .map_err(db("set up source session"))?;
    Ok(c)
}

async fn begin_snapshot(c: &mut Conn) -> Result<(), CloneError> {
    c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await
        .map_err(db("begin the source snapshot"))
}

fn is_binary_type(data_type: &str) -> bool {
    matches!(
        data_type,
        "binary"
            | "varbinary"
            | "tinyblob"
            | "blob"
            | "mediumblob"
            | "longblob"
            | "bit"
            | "geometry"
            | "point"
            | "linestring"
            | "polygon"
            | "multipoint"
            | "multilinestring"
            | "multipolygon"
            | "geometrycollection"
    )
}

fn is_text_type(data_type: &str) -> bool {
    matches!(
        data_type,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "json"
    )
}

async fn read_catalog(c: &mut Conn, schema: &str) -> Result<Catalog, CloneError> {
    let tables: Vec<(String, Option<u64>)> = c
        .exec(
            "SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = ? AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY TABLE_NAME",
            (schema,),
        )
        .await
        .map_err(db("read the source tables"))?;
    let cols: Vec<(String, String, String, String, String)> = c
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, EXTRA FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (schema,),
        )
        .await
        .map_err(db("read the source columns"))?;
    let pks: Vec<(String, String, String)> = c
        .exec(
            "SELECT k.TABLE_NAME, k.COLUMN_NAME, c.DATA_TYPE FROM information_schema.KEY_COLUMN_USAGE k \
             JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = k.TABLE_SCHEMA AND c.TABLE_NAME = k.TABLE_NAME \
               AND c.COLUMN_NAME = k.COLUMN_NAME \
             WHERE k.TABLE_SCHEMA = ? AND k.CONSTRAINT_NAME = 'PRIMARY' \
               AND (SELECT count(*) FROM information_schema.KEY_COLUMN_USAGE k2 WHERE k2.TABLE_SCHEMA = k.TABLE_SCHEMA \
                    AND k2.TABLE_NAME = k.TABLE_NAME AND k2.CONSTRAINT_NAME = 'PRIMARY') = 1",
            (schema,),
        )
        .await
        .map_err(db("read the source primary keys"))?;
    let mut cat = Catalog {
        default_schema: schema.to_string(),
        tables: Vec::new(),
    };
    for (name, rows) in tables {
        let columns = cols
            .iter()
            .filter(|c| c.0 == name)
            .map(|(_, col, ctype, dtype, extra)| ColumnInfo {
                name: col.clone(),
                data_type: ctype.clone(),
                generated: extra.to_ascii_uppercase().contains("GENERATED"),
                text_like: is_text_type(dtype),
                type_oid: 0,
                base_type: dtype.clone(),
            })
            .collect();
        let int_pk = pks
            .iter()
            .find(|p| {
                p.0 == name
                    && matches!(
                        p.2.as_str(),
                        "tinyint" | "smallint" | "mediumint" | "int" | "bigint"
                    )
            })
            .map(|p| p.1.clone());
        cat.tables.push(TableInfo {
            schema: schema.to_string(),
            name,
            columns,
            partition_root: None,
            has_rows: true,
            estimated_rows: rows.unwrap_or(0),
            int_pk,
        });
    }
    Ok(cat)
}

pub(crate) async fn inspect(url: &str) -> Result<Inspection, CloneError> {
    let mut c = source_session(url).await?;
    begin_snapshot(&mut c).await?;
    let cat = read_catalog(&mut c, &db_name(url)).await?;
    let mut samples = Vec::new();
    for t in &cat.tables {
        let mut cols: Vec<Vec<String>> = vec![Vec::new(); t.columns.len()];
        let exprs: Vec<String> = t
            .columns
            .iter()
            .map(|col| {
                if is_binary_type(&col.base_type) {
                    format!("CONCAT('\\\\x', HEX(LEFT({}, 16)))", bq(&col.name))
                } else {
                    format!("CAST({} AS CHAR)", bq(&col.name))
                }
            })
            .collect();
        let q = format!(
            "SELECT {} FROM {} LIMIT {}",
            exprs.join(", "),
            bq(&t.name),
            crate::suggest::SAMPLE_ROWS
        );
        if let Ok(rows) = c.query::<Row, _>(q).await {
            for r in rows {
                for (i, col) in cols.iter_mut().enumerate() {
                    if let Some(Ok(Some(v))) = r.get_opt::<Option<String>, _>(i) {
                        col.push(v);
                    }
                }
            }
        }
        samples.push(cols);
    }
    Ok((cat, samples))
}

/// A table's DDL split into what is created before the data and what is added after.
#[derive(Debug, Clone, Default)]
struct TableDdl {
    create: String,
    deferred: Vec<String>,
}

/// Split `SHOW CREATE TABLE` output: secondary keys and foreign keys are added after the load.
fn split_create_table(ddl: &str) -> TableDdl {
    let lines: Vec<&str> = ddl.lines().collect();
    if lines.len() < 3 {
        return TableDdl {
            create: ddl.to_string(),
            deferred: Vec::new(),
        };
    }
    let close = lines
        .iter()
        .position(|l| l.starts_with(')'))
        .unwrap_or(lines.len() - 1);
    let body = &lines[1..close];
    let auto_inc_outside_pk = {
        let auto_col = body
            .iter()
            .find(|l| l.contains(" AUTO_INCREMENT") && l.trim_start().starts_with('`'))
            .and_then(|l| l.trim_start().split('`').nth(1));
        let pk = body
            .iter()
            .find(|l| l.trim_start().starts_with("PRIMARY KEY"));
        match (auto_col, pk) {
            (Some(col), Some(pk)) => !pk.contains(&format!("(`{col}`")),
            (Some(_), None) => true,
            _ => false,
        }
    };
    let mut keep = Vec::new();
    let mut deferred = Vec::new();
    for l in body {
        let def = l.trim().trim_end_matches(',');
        let is_key = ["KEY ", "UNIQUE KEY ", "FULLTEXT KEY ", "SPATIAL KEY "]
            .iter()
            .any(|p| def.starts_with(p));
        let is_fk = def.starts_with("CONSTRAINT ") && def.contains(" FOREIGN KEY ");
        if is_fk || (is_key && !auto_inc_outside_pk) {
            deferred.push(def.to_string());
        } else {
            keep.push(format!("  {def}"));
        }
    }
    TableDdl {
        create: format!(
            "{}\n{}\n{}",
            lines[0],
            keep.join(",\n"),
            lines[close..].join("\n")
        ),
        deferred,
    }
}

fn strip_definer(sql: &str) -> String {
    let re = regex::Regex::new(r"DEFINER=(`[^`]*`|'[^']*'|\S+)@(`[^`]*`|'[^']*'|\S+)\s*")
        .expect("valid regex");
    re.replace(sql, "").into_owned()
}

/// Quote a value as an SQL literal: hex for binary columns, an escaped string otherwise.
fn push_literal(out: &mut String, v: Option<&[u8]>, binary: bool) {
    match v {
        None => out.push_str("NULL"),
        Some(b) if binary => {
            out.push_str("X'");
            out.push_str(&hex::encode(b));
            out.push('\'');
        }
        Some(b) => {
            out.push('\'');
            for ch in String::from_utf8_lossy(b).chars() {
                match ch {
                    '\0' => out.push_str("\\0"),
                    '\'' => out.push_str("\\'"),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\x1a' => out.push_str("\\Z"),
                    c => out.push(c),
                }
            }
            out.push('\'');
        }
    }
}

fn value_bytes(v: &Value) -> Option<std::borrow::Cow<'_, [u8]>> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(std::borrow::Cow::Borrowed(b)),
        other => Some(std::borrow::Cow::Owned(
            other.as_sql(true).trim_matches('\'').as_bytes().to_vec(),
        )),
    }
}

#[derive(Debug, Clone)]
struct Work {
    table: usize,
    lo: Option<i64>,
    hi: Option<i64>,
    size: u64,
}

#[derive(Clone)]
enum Mode {
    /// Read masked tables and record their identifying values (no output).
    Collect,
    /// Mask (avoiding the indexed source values) and write to the target URL.
    Write(String, Arc<PiiIndex>),
    /// Mask and look the output up in the index (`--check`).
    Scan(Arc<PiiIndex>, Arc<Vec<String>>),
}

#[derive(Default)]
struct WorkerOut {
    collector: Collector,
    /// Source connections handed back, still in their snapshot.
    conns: Vec<Session>,
    parts: Vec<(usize, u64, u64, u64)>,
    tally: ScanTally,
}

struct Shared {
    plan: Plan,
    opts: CloneOptions,
    queue: Mutex<VecDeque<Work>>,
}

async fn copy_part(
    shared: &Shared,
    w: &Work,
    src: &mut Conn,
    writer: Option<&tokio::sync::mpsc::Sender<Batch>>,
    mode: &Mode,
    collector: &mut Collector,
    tally: &mut ScanTally,
) -> Result<(u64, u64), CloneError> {
    let t = &shared.plan.tables[w.table];
    let opts = &shared.opts;
    let cols: Vec<String> = t.columns.iter().map(|c| bq(&c.info.name)).collect();
    let binary: Vec<bool> = t
        .columns
        .iter()
        .map(|c| is_binary_type(&c.info.base_type))
        .collect();
    let mut conds = Vec::new();
    if let Some(pk) = &t.info.int_pk {
        if let Some(lo) = w.lo {
            conds.push(format!("{} >= {lo}", bq(pk)));
        }
        if let Some(hi) = w.hi {
            conds.push(format!("{} < {hi}", bq(pk)));
        }
    }
    let q = format!(
        "SELECT {} FROM {}{}",
        cols.join(", "),
        bq(&t.info.name),
        if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        }
    );
    let prefix = format!(
        "INSERT INTO {} ({}) VALUES ",
        bq(&t.info.name),
        cols.join(", ")
    );
    let masker = t.masker.as_ref();
    let mut masked_of = vec![None; t.columns.len()];
    if let Some(m) = masker {
        for (k, mc) in m.masked.iter().enumerate() {
            masked_of[mc.column] = Some(k);
        }
    }
    opts.progress.table_start(&t.display, t.info.estimated_rows);
    let mut result = src
        .query_iter(q)
        .await
        .map_err(db(format!("read {}", t.display)))?;
    let mut stmt = String::with_capacity(BATCH_BYTES + 4096);
    // Where each row of the statement starts, and its place in the part: a refused row is
    // named by its key, read back from the statement.
    let mut starts: Vec<usize> = Vec::new();
    let mut first_row = 1u64;
    let mut outputs: Vec<Option<String>> = Vec::new();
    let (mut rows, mut bytes, mut reported) = (0u64, 0u64, 0u64);
    while let Some(row) = result
        .next()
        .await
        .map_err(|e| db(format!("read {}", t.display))(e))?
    {
        let row: Row = row;
        let vals = row.unwrap();
        rows += 1;
        if let Some(m) = masker {
            let texts: Vec<Option<String>> = m
                .inputs
                .iter()
                .map(|&i| value_bytes(&vals[i]).map(|b| String::from_utf8_lossy(&b).into_owned()))
                .collect();
            let refs: Vec<Option<&str>> = texts.iter().map(|o| o.as_deref()).collect();
            let avoid = match mode {
                Mode::Write(_, ix) | Mode::Scan(ix, _) => Some(&**ix),
                Mode::Collect => {
                    m.collect(&opts.key, &refs, collector);
                    continue;
                }
            };
            m.mask(&opts.key, &refs, &mut outputs, avoid)
                .map_err(|(column, message)| CloneError::Transform {
                    table: t.display.clone(),
                    column,
                    message,
                })?;
        }
        if stmt.is_empty() {
            stmt.push_str(&prefix);
            first_row = rows;
        } else {
            stmt.push(',');
        }
        starts.push(stmt.len());
        stmt.push('(');
        for (i, v) in vals.iter().enumerate() {
            if i > 0 {
                stmt.push(',');
            }
            let text_out: Option<std::borrow::Cow<[u8]>> = match masked_of[i] {
                Some(k) => outputs[k]
                    .as_deref()
                    .map(|s| std::borrow::Cow::Borrowed(s.as_bytes())),
                None => value_bytes(v),
            };
            bytes += text_out.as_ref().map_or(1, |b| b.len() as u64);
            if let (Mode::Scan(ix, names), Some(b), true) =
                (mode, &text_out, t.columns[i].info.text_like)
            {
                let s = String::from_utf8_lossy(b);
                tally.look_up(ix, names, (&t.display, &t.columns[i].info.name, rows), &s);
            }
            push_literal(
                &mut stmt,
                text_out.as_deref(),
                binary[i] && masked_of[i].is_none(),
            );
        }
        stmt.push(')');
        if stmt.len() >= BATCH_BYTES {
            let s = std::mem::replace(&mut stmt, String::with_capacity(BATCH_BYTES + 4096));
            let batch = Batch {
                table: w.table,
                stmt: s,
                starts: std::mem::take(&mut starts),
                first_row,
                lo: w.lo,
            };
            if let Some(wr) = writer {
                wr.send(batch).await.map_err(|_| {
                    CloneError::db(
                        format!("write {}", t.display),
                        Message::from("the writer stopped"),
                    )
                })?;
            }
        }
        if rows - reported >= 5000 {
            opts.progress.table_rows(&t.display, rows - reported);
            reported = rows;
        }
    }
    drop(result);
    if !stmt.is_empty() {
        let batch = Batch {
            table: w.table,
            stmt,
            starts,
            first_row,
            lo: w.lo,
        };
        if let Some(wr) = writer {
            wr.send(batch).await.map_err(|_| {
                CloneError::db(
                    format!("write {}", t.display),
                    Message::from("the writer stopped"),
                )
            })?;
        }
    }
    opts.progress.table_rows(&t.display, rows - reported);
    Ok((rows, bytes))
}

async fn worker(
    shared: Arc<Shared>,
    mut src: Session,
    mode: Mode,
) -> Result<WorkerOut, CloneError> {
    let (tx, writer) = match &mode {
        Mode::Write(url, _) => {
            let mut dst = connect(url, "target").await?;
            dst.query_drop(WRITE_SESSION)
                .await
                .map_err(db("set up target session"))?;
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
            let shared = shared.clone();
            let h = tokio::spawn(async move {
                while let Some(batch) = rx.recv().await {
                    if let Err(e) = write_with_retry(&mut dst, &batch.stmt).await {
                        let t = &shared.plan.tables[batch.table];
                        let key = primary_key(&mut dst, &t.info.name).await;
                        return Err(batch.error(t, &key, e));
                    }
                }
                dst.close().await;
                Ok::<(), CloneError>(())
            });
            (Some(tx), Some(h))
        }
        _ => (None, None),
    };
    let mut out = WorkerOut::default();
    let mut result = Ok(());
    loop {
        let next = shared.queue.lock().expect("queue lock").pop_front();
        let Some(w) = next else { break };
        let started = Instant::now();
        match copy_part(
            &shared,
            &w,
            &mut src,
            tx.as_ref(),
            &mode,
            &mut out.collector,
            &mut out.tally,
        )
        .await
        {
            Ok((rows, bytes)) => {
                out.parts
                    .push((w.table, rows, bytes, started.elapsed().as_millis() as u64))
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    drop(tx);
    if let Some(h) = writer {
        let w = h.await.map_err(|e| CloneError::io("writer task", e))?;
        // A writer error explains a reader's "writer stopped".
        w?;
    }
    result?;
    out.conns.push(src);
    Ok(out)
}

/// One multi-row INSERT on its way to the target, with where its rows start.
struct Batch {
    table: usize,
    stmt: String,
    /// Byte offset of each row's `(` in `stmt`.
    starts: Vec<usize>,
    /// Place of the first row in its part (1-based), for tables without an integer key.
    first_row: u64,
    /// Lower key bound of the part, when the table is split.
    lo: Option<i64>,
}

impl Batch {
    /// The error for a refused statement: the column and row the server names, the row by
    /// its key (read back from the statement: masked values only, as written), and what was
    /// wrong without the value.
    fn error(
        &self,
        t: &crate::plan::TablePlan,
        key: &[String],
        e: mysql_async::Error,
    ) -> CloneError {
        let mysql_async::Error::Server(se) = &e else {
            return CloneError::db(format!("write {}", t.display), e);
        };
        let (column, row) = refused_at(&se.message);
        let row_key = row.and_then(|n| {
            let start = *self.starts.get(n.checked_sub(1)?)?;
            let end = self.starts.get(n).map_or(self.stmt.len(), |next| next - 1);
            let fields = split_tuple(&self.stmt[start..end]);
            let named: Option<Vec<String>> = key
                .iter()
                .map(|k| {
                    let i = t.columns.iter().position(|c| &c.info.name == k)?;
                    Some(format!("{k} = {}", fields.get(i)?))
                })
                .collect();
            Some(match named.filter(|n| !n.is_empty()) {
                Some(named) => named.join(", "),
                None => format!(
                    "{} of the table as read{}",
                    self.first_row + n as u64 - 1,
                    self.lo
                        .map(|lo| format!(" from key {lo}"))
                        .unwrap_or_default()
                ),
            })
        });
        let declared = column
            .as_ref()
            .and_then(|c| t.columns.iter().find(|x| &x.info.name == c))
            .map(|c| format!(" `{}`", c.info.data_type))
            .unwrap_or_default();
        let what = match se.code {
            1406 => format!("the value is too long for the column{declared}"),
            1264 => format!("the value is out of range for the column{declared}"),
            1265 => format!("the value would be truncated in the column{declared}"),
            1366 | 1292 | 1367 => format!("the value is not valid for the column{declared}"),
            1048 => "NULL in a NOT NULL column".to_string(),
            _ => redact_quoted(&se.message),
        };
        CloneError::Write {
            table: t.display.clone(),
            column,
            row: row_key,
            message: format!(
                "{what} (MariaDB error {}; strict mode: nothing is truncated or converted \
                 silently). Fix the policy for this column (a transformer whose values fit), \
                 or the target's column",
                se.code
            ),
        }
    }
}

/// The primary-key columns of a target table (created with the table), in key order; empty
/// when it has none or they cannot be read.
async fn primary_key(c: &mut Conn, table: &str) -> Vec<String> {
    c.exec(
        "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' \
         ORDER BY ORDINAL_POSITION",
        (table,),
    )
    .await
    .unwrap_or_default()
}

/// The column and row (1-based, within the statement) a MariaDB error message names:
/// `Data too long for column 'email' at row 3`, `… for column `db`.`t`.`c` at row 1`.
fn refused_at(message: &str) -> (Option<String>, Option<usize>) {
    static R: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = R.get_or_init(|| {
        regex::Regex::new(r"(?i)column (?:`[^`]*`\.)*[`']([^`']+)[`'](?: at row (\d+))?")
            .expect("valid regex")
    });
    match re.captures(message) {
        Some(c) => (
            Some(c[1].to_string()),
            c.get(2).and_then(|m| m.as_str().parse().ok()),
        ),
        None => (None, None),
    }
}

/// The literals of one `(…)` row as `push_literal` wrote them.
fn split_tuple(row: &str) -> Vec<&str> {
    let inner = row
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(row);
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in inner.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'\'' => quoted = !quoted,
            b',' if !quoted => {
                out.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&inner[start..]);
    out
}

/// A server message with its quoted values replaced by `…` (they may be personal data).
fn redact_quoted(message: &str) -> String {
    static R: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    R.get_or_init(|| regex::Regex::new(r"'(?:[^'\\]|\\.)*'").expect("valid regex"))
        .replace_all(message, "'…'")
        .into_owned()
}

/// Run one INSERT; InnoDB may pick it as a deadlock victim when workers load the same
/// table in parallel, and then the statement (its own transaction) is simply retried.
async fn write_with_retry(c: &mut Conn, stmt: &str) -> Result<(), mysql_async::Error> {
    let mut attempt = 0;
    loop {
        match c.query_drop(stmt).await {
            Ok(()) => return Ok(()),
            Err(mysql_async::Error::Server(e))
                if (e.code == 1213 || e.code == 1205) && attempt < 8 =>
            {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sessions that create the target's schema and objects (routines and triggers keep the
/// session's SQL mode, so this is the source's usual, lenient one).
const TARGET_SESSION: &str = "SET SESSION foreign_key_checks = 0, SESSION unique_checks = 0, \
     SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', SESSION time_zone = '+00:00'";

/// Sessions that write rows: strict, so a value that does not fit its column (too long, out
/// of range, not of the column's type) is an error rather than silently cut or converted.
/// Zero dates stay allowed (no `NO_ZERO_DATE`): a source may hold them.
const WRITE_SESSION: &str = "SET SESSION foreign_key_checks = 0, SESSION unique_checks = 0, \
     SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', \
     SESSION time_zone = '+00:00'";

/// Open `jobs` source connections that all see the same snapshot: a global read lock is
/// held while each opens its transaction. Without the privilege for the lock, one worker.
async fn snapshot_workers(url: &str, jobs: usize) -> Result<(Vec<Session>, String), CloneError> {
    let mut locker = source_session(url).await?;
    if jobs > 1
        && locker
            .query_drop("FLUSH TABLES WITH READ LOCK")
            .await
            .is_ok()
    {
        let mut conns = Vec::new();
        let mut err = None;
        for _ in 0..jobs {
            match source_session(url).await {
                Ok(mut c) => match begin_snapshot(&mut c).await {
                    Ok(()) => conns.push(c),
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                },
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        locker
            .query_drop("UNLOCK TABLES")
            .await
            .map_err(db("release the global read lock"))?;
        locker.close().await;
        if let Some(e) = err {
            return Err(e);
        }
        return Ok((
            conns,
            format!("{jobs} consistent-snapshot transactions opened under one global read lock"),
        ));
    }
    begin_snapshot(&mut locker).await?;
    Ok((vec![locker], "one consistent-snapshot transaction".into()))
}

async fn run_workers(
    shared: &Arc<Shared>,
    conns: Vec<Session>,
    work: Vec<Work>,
    mode: Mode,
) -> Result<WorkerOut, CloneError> {
    *shared.queue.lock().expect("queue lock") = work.into();
    let mut handles = Vec::new();
    for c in conns {
        handles.push(tokio::spawn(worker(shared.clone(), c, mode.clone())));
    }
    let mut all = WorkerOut::default();
    let mut first_err = None;
    for h in handles {
        match h.await.map_err(|e| CloneError::io("copy worker", e))? {
            Ok(o) => {
                all.collector.merge(o.collector);
                all.parts.extend(o.parts);
                all.tally.merge(o.tally);
                all.conns.extend(o.conns);
            }
            Err(e) => {
                shared.queue.lock().expect("queue lock").clear();
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(all),
    }
}

async fn plan_work(
    plan: &Plan,
    c: &mut Conn,
    jobs: usize,
    split_rows: u64,
) -> Result<Vec<Work>, CloneError> {
    let mut work = Vec::new();
    for (ti, t) in plan.tables.iter().enumerate() {
        if t.columns.is_empty() {
            continue;
        }
        let size = t.info.estimated_rows;
        match (&t.info.int_pk, jobs > 1 && size > split_rows) {
            (Some(pk), true) => {
                let q = format!(
                    "SELECT CAST(min({0}) AS SIGNED), CAST(max({0}) AS SIGNED) FROM {1}",
                    bq(pk),
                    bq(&t.info.name)
                );
                let r: Option<(Option<i64>, Option<i64>)> = c
                    .query_first(q)
                    .await
                    .map_err(db(format!("key range of {}", t.display)))?;
                let Some((Some(lo), Some(hi))) = r else {
                    work.push(Work {
                        table: ti,
                        lo: None,
                        hi: None,
                        size,
                    });
                    continue;
                };
                for (lo, hi, size) in super::split_range(lo, hi, size, jobs, split_rows) {
                    work.push(Work {
                        table: ti,
                        lo,
                        hi,
                        size,
                    });
                }
            }
            _ => work.push(Work {
                table: ti,
                lo: None,
                hi: None,
                size,
            }),
        }
    }
    work.sort_by_key(|w| std::cmp::Reverse(w.size));
    Ok(work)
}

fn table_reports(plan: &Plan, parts: &[(usize, u64, u64, u64)]) -> Vec<TableReport> {
    plan.tables
        .iter()
        .enumerate()
        .map(|(ti, t)| {
            let mut r = table_report(&t.display, t.masker.as_ref().map_or(0, |m| m.masked.len()));
            let mine: Vec<_> = parts.iter().filter(|p| p.0 == ti).collect();
            r.parts = mine.len().max(1);
            r.rows = mine.iter().map(|p| p.1).sum();
            r.bytes = mine.iter().map(|p| p.2).sum();
            r.duration_ms = mine.iter().map(|p| p.3).max().unwrap_or(0);
            r
        })
        .collect()
}

/// Everything but the tables, copied after the data.
#[derive(Default)]
struct Objects {
    tables: Vec<(String, TableDdl)>,
    sequences: Vec<(String, String, i64)>,
    routines: Vec<String>,
    views: Vec<(String, String)>,
    triggers: Vec<String>,
}

async fn read_objects(c: &mut Conn, schema: &str, plan: &Plan) -> Result<Objects, CloneError> {
    let mut o = Objects::default();
    for t in &plan.tables {
        let r: Option<(String, String)> = c
            .query_first(format!("SHOW CREATE TABLE {}", bq(&t.info.name)))
            .await
            .map_err(db(format!("read the definition of {}", t.display)))?;
        let (_, ddl) =
            r.ok_or_else(|| CloneError::db("SHOW CREATE TABLE", Message::from("no result")))?;
        o.tables
            .push((t.info.name.clone(), split_create_table(&ddl)));
    }
    let seqs: Vec<String> = c
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'SEQUENCE'",
            (schema,),
        )
        .await
        .map_err(db("read the source sequences"))?;
    for s in seqs {
        let r: Option<(String, String)> = c
            .query_first(format!("SHOW CREATE SEQUENCE {}", bq(&s)))
            .await
            .map_err(db(format!("read sequence {s}")))?;
        let next: Option<i64> = c
            .query_first(format!("SELECT next_not_cached_value FROM {}", bq(&s)))
            .await
            .map_err(db(format!("read sequence {s}")))?;
        if let (Some((_, ddl)), Some(n)) = (r, next) {
            o.sequences.push((s, ddl, n));
        }
    }
    let routines: Vec<(String, String)> = c
        .exec(
            "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?",
            (schema,),
        )
        .await
        .map_err(db("read the source routines"))?;
    for (kind, name) in routines {
        let row: Option<Row> = c
            .query_first(format!("SHOW CREATE {kind} {}", bq(&name)))
            .await
            .map_err(db(format!("read {kind} {name}")))?;
        let sql: Option<String> = row.and_then(|r| {
            r.get_opt::<Option<String>, _>(2)
                .and_then(|x| x.ok())
                .flatten()
        });
        match sql {
            Some(s) => o.routines.push(strip_definer(&s)),
            None => return Err(CloneError::db(
                format!("read {kind} {name}"),
                Message::from(
                    "no definition visible (the source user lacks the privilege to read routines)",
                ),
            )),
        }
    }
    let views: Vec<String> = c
        .exec(
            "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?",
            (schema,),
        )
        .await
        .map_err(db("read the source views"))?;
    for v in views {
        let r: Option<(String, String, String, String)> = c
            .query_first(format!("SHOW CREATE VIEW {}", bq(&v)))
            .await
            .map_err(db(format!("read view {v}")))?;
        if let Some((_, sql, _, _)) = r {
            o.views.push((v, strip_definer(&sql)));
        }
    }
    let triggers: Vec<String> = c
        .exec(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY ACTION_ORDER",
            (schema,),
        )
        .await
        .map_err(db("read the source triggers"))?;
    for tr in triggers {
        let row: Option<Row> = c
            .query_first(format!("SHOW CREATE TRIGGER {}", bq(&tr)))
            .await
            .map_err(db(format!("read trigger {tr}")))?;
        if let Some(s) = row.and_then(|r| r.get_opt::<String, _>(2).and_then(|x| x.ok())) {
            o.triggers.push(strip_definer(&s));
        }
    }
    Ok(o)
}

struct Target {
    url: String,
    server_url: String,
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
    fn new(url: &str) -> Target {
        Target {
            url: url.to_string(),
            server_url: url_with_db(url, None),
            name: db_name(url),
        }
    }

    async fn state(&self) -> Result<TargetState, CloneError> {
        let mut c = connect(&self.server_url, "target").await?;
        let r: Option<Option<String>> = c
            .exec_first(
                "SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (&self.name,),
            )
            .await
            .map_err(db("inspect the target server"))?;
        let state = match r {
            None => TargetState::Missing,
            Some(Some(c)) if c.starts_with(MARK_INCOMPLETE) => TargetState::Incomplete,
            Some(Some(c)) if c.starts_with(MARK_COMPLETE) => TargetState::Complete,
            Some(_) => {
                let n: Option<i64> = c
                    .exec_first(
                        "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
                        (&self.name,),
                    )
                    .await
                    .map_err(db("inspect the target database"))?;
                if n.unwrap_or(0) == 0 {
                    TargetState::Empty
                } else {
                    TargetState::Occupied
                }
            }
        };
        c.close().await;
        Ok(state)
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
        charset: &str,
        collation: &str,
    ) -> Result<(), CloneError> {
        let mut c = connect(&self.server_url, "target").await?;
        let q = bq(&self.name);
        if !matches!(state, TargetState::Missing | TargetState::Empty) {
            c.query_drop(format!("DROP DATABASE IF EXISTS {q}"))
                .await
                .map_err(db("drop the previous target"))?;
        }
        if *state != TargetState::Empty {
            c.query_drop(format!(
                "CREATE DATABASE {q} CHARACTER SET {charset} COLLATE {collation}"
            ))
            .await
            .map_err(db("create the target database"))?;
        }
        self.mark(&mut c, MARK_INCOMPLETE).await?;
        c.close().await;
        Ok(())
    }

    async fn mark(&self, c: &mut Conn, mark: &str) -> Result<(), CloneError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        c.query_drop(format!(
            "ALTER DATABASE {} COMMENT '{mark} (unix time {now})'",
            bq(&self.name)
        ))
        .await
        .map_err(db("mark the target database"))
    }

    async fn drop_db(&self) {
        if let Ok(mut c) = connect(&self.server_url, "target").await {
            if let Err(e) = c
                .query_drop(format!("DROP DATABASE IF EXISTS {}", bq(&self.name)))
                .await
            {
                tracing::warn!("could not drop the failed target {}: {e}", self.name);
            }
            c.close().await;
        }
    }
}

pub(crate) async fn clone(
    opts: &CloneOptions,
    source: &str,
    target: &str,
    mut report: CloneReport,
) -> Result<CloneReport, CloneError> {
    let schema = db_name(source);
    let tgt = Target::new(target);
    {
        let a = url::Url::parse(source).ok();
        let b = url::Url::parse(target).ok();
        let key = |u: &Option<url::Url>| {
            u.as_ref().map(|u| {
                (
                    u.host_str().map(|h| h.replace("127.0.0.1", "localhost")),
                    u.port(),
                    u.path().to_string(),
                )
            })
        };
        if key(&a) == key(&b) {
            return Err(CloneError::Unsupported(
                "source and target are the same database".into(),
            ));
        }
    }
    let mut phases = Phases::new();
    phases.start("snapshot");
    opts.progress.phase("snapshot");
    let (mut conns, how) = snapshot_workers(source, opts.jobs.max(1)).await?;
    report.snapshot = how;
    report.jobs = conns.len();
    let cat = read_catalog(&mut conns[0], &schema).await?;
    let plan = classify(&opts.policy, &cat)?;
    plan_into_report(&plan, &mut report);
    let state = tgt.state().await?;
    tgt.refuse(&state, opts.replace)?;
    let jobs = conns.len();
    let work = plan_work(&plan, &mut conns[0], jobs, opts.split_rows).await?;
    let objects = read_objects(&mut conns[0], &schema, &plan).await?;
    let (charset, collation): (String, String) = conns[0]
        .exec_first(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (&schema,),
        )
        .await
        .map_err(db("read the source character set"))?
        .unwrap_or(("utf8mb4".into(), "utf8mb4_general_ci".into()));
    let shared = Arc::new(Shared {
        plan,
        opts: opts.clone(),
        queue: Mutex::new(VecDeque::new()),
    });

    phases.start("collect");
    opts.progress.phase("collect source PII");
    let collect_work: Vec<Work> = work
        .iter()
        .filter(|w| shared.plan.tables[w.table].masker.is_some())
        .cloned()
        .collect();
    let collected = run_workers(&shared, conns, collect_work, Mode::Collect).await?;
    let conns = collected.conns;
    let index = Arc::new(collected.collector.into_index(&opts.policy.leak_scan));

    if opts.check {
        phases.start("data + leak scan");
        opts.progress
            .phase("data + leak scan (check: nothing written)");
        let names = Arc::new(shared.plan.column_names.clone());
        let scanned = run_workers(&shared, conns, work, Mode::Scan(index.clone(), names)).await?;
        report.tables = table_reports(&shared.plan, &scanned.parts);
        for c in scanned.conns {
            c.close().await;
        }
        phases.finish();
        report.phases = phases.done;
        leak_result(&index, scanned.tally, &mut report)?;
        return Ok(report);
    }

    tgt.create(&state, &charset, &collation).await?;
    let result = write_target(
        &shared,
        conns,
        &tgt,
        &objects,
        work,
        index,
        &mut phases,
        &mut report,
    )
    .await;
    match result {
        Ok(()) => {
            let mut c = connect(&tgt.server_url, "target").await?;
            tgt.mark(&mut c, MARK_COMPLETE).await?;
            c.close().await;
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

#[allow(clippy::too_many_arguments)]
async fn write_target(
    shared: &Arc<Shared>,
    conns: Vec<Session>,
    tgt: &Target,
    objects: &Objects,
    work: Vec<Work>,
    index: Arc<PiiIndex>,
    phases: &mut Phases,
    report: &mut CloneReport,
) -> Result<(), CloneError> {
    let opts = &shared.opts;
    phases.start("schema");
    opts.progress.phase("schema");
    let mut dst = connect(&tgt.url, "target").await?;
    dst.query_drop(TARGET_SESSION)
        .await
        .map_err(db("set up target session"))?;
    for (name, ddl) in &objects.tables {
        dst.query_drop(&ddl.create)
            .await
            .map_err(db(format!("create table {name}")))?;
    }
    for (name, ddl, _) in &objects.sequences {
        dst.query_drop(ddl)
            .await
            .map_err(db(format!("create sequence {name}")))?;
    }

    phases.start("data");
    opts.progress.phase("data");
    let scan_work = work.clone();
    let out = run_workers(
        shared,
        conns,
        work,
        Mode::Write(tgt.url.clone(), index.clone()),
    )
    .await?;
    for c in out.conns {
        c.close().await;
    }
    report.tables = table_reports(&shared.plan, &out.parts);

    phases.start("post-data");
    opts.progress
        .phase("post-data (indexes, foreign keys, routines, views, triggers)");
    let alters: VecDeque<String> = objects
        .tables
        .iter()
        .filter(|(_, d)| !d.deferred.is_empty())
        .map(|(n, d)| {
            format!(
                "ALTER TABLE {} {}",
                bq(n),
                d.deferred
                    .iter()
                    .map(|x| format!("ADD {x}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    let alters = Arc::new(Mutex::new(alters));
    let mut hs = Vec::new();
    for _ in 0..opts.jobs.max(1) {
        let alters = alters.clone();
        let url = tgt.url.clone();
        hs.push(tokio::spawn(async move {
            let mut c = connect(&url, "target").await?;
            c.query_drop(TARGET_SESSION)
                .await
                .map_err(db("set up target session"))?;
            loop {
                let next = alters.lock().expect("lock").pop_front();
                let Some(a) = next else { break };
                c.query_drop(&a)
                    .await
                    .map_err(db("add indexes and foreign keys"))?;
            }
            c.close().await;
            Ok::<(), CloneError>(())
        }));
    }
    for h in hs {
        h.await.map_err(|e| CloneError::io("index worker", e))??;
    }
    for (name, _, next) in &objects.sequences {
        dst.query_drop(format!("SELECT SETVAL({}, {}, 0)", bq(name), next))
            .await
            .map_err(db(format!("set sequence {name}")))?;
    }
    for r in &objects.routines {
        dst.query_drop(r).await.map_err(db("create routine"))?;
    }
    // Views may depend on each other: create in rounds until none is left or none succeeds.
    let mut pending: Vec<&(String, String)> = objects.views.iter().collect();
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut last_err = None;
        for v in &pending {
            if let Err(e) = dst.query_drop(&v.1).await {
                last_err = Some((&v.0, e));
                failed.push(*v);
            }
        }
        match last_err {
            // None succeeded (and so at least one failed).
            Some((n, e)) if failed.len() == pending.len() => {
                return Err(CloneError::db(format!("create view {n}"), e));
            }
            _ => {}
        }
        pending = failed;
    }
    for tr in &objects.triggers {
        dst.query_drop(tr).await.map_err(db("create trigger"))?;
    }
    dst.close().await;

    phases.start("leak scan");
    opts.progress.phase("leak scan");
    let tally = scan_target(shared, &tgt.url, index.clone(), scan_work).await?;
    leak_result(&index, tally, report)
}

async fn scan_target(
    shared: &Arc<Shared>,
    url: &str,
    index: Arc<PiiIndex>,
    work: Vec<Work>,
) -> Result<ScanTally, CloneError> {
    let queue: Arc<Mutex<VecDeque<Work>>> = Arc::new(Mutex::new(
        work.into_iter()
            .filter(|w| {
                shared.plan.tables[w.table]
                    .info
                    .columns
                    .iter()
                    .any(|c| c.text_like)
            })
            .collect(),
    ));
    let mut hs = Vec::new();
    for _ in 0..shared.opts.jobs.max(1) {
        let queue = queue.clone();
        let shared = shared.clone();
        let url = url.to_string();
        let index = index.clone();
        hs.push(tokio::spawn(async move {
            let mut c = connect(&url, "target").await?;
            let mut tally = ScanTally::default();
            loop {
                let next = queue.lock().expect("lock").pop_front();
                let Some(w) = next else { break };
                let t = &shared.plan.tables[w.table];
                let mut conds = Vec::new();
                if let Some(pk) = &t.info.int_pk {
                    if let Some(lo) = w.lo {
                        conds.push(format!("{} >= {lo}", bq(pk)));
                    }
                    if let Some(hi) = w.hi {
                        conds.push(format!("{} < {hi}", bq(pk)));
                    }
                }
                let cond = if conds.is_empty() {
                    String::new()
                } else {
                    format!(" WHERE {}", conds.join(" AND "))
                };
                let cols: Vec<&ColumnInfo> =
                    t.info.columns.iter().filter(|c| c.text_like).collect();
                let q = format!(
                    "SELECT {} FROM {}{cond}",
                    cols.iter()
                        .map(|c| bq(&c.name))
                        .collect::<Vec<_>>()
                        .join(", "),
                    bq(&t.info.name)
                );
                let mut res = c
                    .query_iter(q)
                    .await
                    .map_err(db(format!("leak scan of {}", t.display)))?;
                let mut row = 0u64;
                while let Some(r) = res
                    .next()
                    .await
                    .map_err(|e| db(format!("leak scan of {}", t.display))(e))?
                {
                    row += 1;
                    for (k, v) in r.unwrap().iter().enumerate() {
                        if let Value::Bytes(b) = v {
                            let s = String::from_utf8_lossy(b);
                            tally.look_up(
                                &index,
                                &shared.plan.column_names,
                                (&t.display, &cols[k].name, row),
                                &s,
                            );
                        }
                    }
                }
            }
            c.close().await;
            Ok::<ScanTally, CloneError>(tally)
        }));
    }
    let mut tally = ScanTally::default();
    for h in hs {
        tally.merge(
            h.await
                .map_err(|e| CloneError::io("leak scan worker", e))??,
        );
    }
    Ok(tally)
}

/// Drops the database of `url`; `false` if it did not exist.
pub(crate) async fn drop_database(url: &str) -> Result<bool, CloneError> {
    let t = Target::new(url);
    let mut c = connect(&t.server_url, "target").await?;
    let existed: Option<String> = c
        .exec_first(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
            (t.name.clone(),),
        )
        .await
        .map_err(db("look the database up"))?;
    let r = c
        .query_drop(format!("DROP DATABASE IF EXISTS {}", bq(&t.name)))
        .await
        .map_err(db("drop the database"));
    c.close().await;
    r?;
    Ok(existed.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secondary_keys_and_foreign_keys_are_deferred() {
        let ddl = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `v` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u` (`v`),\n  KEY `fk` (`v`),\n  CONSTRAINT `fk` FOREIGN KEY (`v`) REFERENCES `o` (`id`),\n  CONSTRAINT `c` CHECK (`v` > 0)\n) ENGINE=InnoDB";
        let d = split_create_table(ddl);
        assert_eq!(d.deferred.len(), 3);
        assert!(
            d.create
                .contains("PRIMARY KEY (`id`),\n  CONSTRAINT `c` CHECK (`v` > 0)\n) ENGINE=InnoDB"),
            "{}",
            d.create
        );
    }

    #[test]
    fn literals_are_escaped() {
        let mut s = String::new();
        push_literal(&mut s, Some("a'b\\c\n".as_bytes()), false);
        push_literal(&mut s, Some(&[0, 255]), true);
        push_literal(&mut s, None, false);
        assert_eq!(s, "'a\\'b\\\\c\\n'X'00ff'NULL");
    }

    #[test]
    fn refused_rows_are_found_without_their_values() {
        assert_eq!(
            refused_at("Data too long for column 'email' at row 3"),
            (Some("email".into()), Some(3))
        );
        assert_eq!(
            refused_at("Incorrect integer value: 'x' for column `db`.`t`.`n` at row 12"),
            (Some("n".into()), Some(12))
        );
        assert_eq!(
            refused_at("Column 'c' cannot be null"),
            (Some("c".into()), None)
        );
        let mut stmt = String::from("INSERT INTO t (a, b) VALUES ");
        let mut starts = Vec::new();
        for (i, v) in ["it's, (odd)", "back\\slash"].iter().enumerate() {
            if i > 0 {
                stmt.push(',');
            }
            starts.push(stmt.len());
            stmt.push('(');
            push_literal(&mut stmt, Some((i + 7).to_string().as_bytes()), false);
            stmt.push(',');
            push_literal(&mut stmt, Some(v.as_bytes()), false);
            stmt.push(')');
        }
        let second = &stmt[starts[1]..];
        assert_eq!(split_tuple(second).len(), 2);
        assert_eq!(split_tuple(&stmt[starts[0]..starts[1] - 1])[0], "'7'");
        assert_eq!(
            redact_quoted("Duplicate entry 'ann@x.org' for key 'email'"),
            "Duplicate entry '…' for key '…'"
        );
    }

    #[test]
    fn definer_is_removed() {
        assert_eq!(
            strip_definer("CREATE DEFINER=`root`@`localhost` TRIGGER x"),
            "CREATE TRIGGER x"
        );
    }
}
