//! The data copy, the hot path: workers read each part in their snapshot, mask what the policy
//! says, and hand multi-row `INSERT`s to a writer task of their own.

use std::sync::Arc;
use std::time::Instant;

use mysql_async::prelude::*;
use mysql_async::{Conn, Row, Value};

use crate::engine::{bq, PartStats};
use crate::error::{CloneError, Message};
use crate::leak::{Collector, PiiIndex, ScanTally};

use super::catalog::is_binary_type;
use super::parts::Work;
use super::refused::{primary_key, Batch};
use super::session::{connect, db, Session, WRITE_SESSION};
use super::Shared;

/// Size of one multi-row INSERT statement.
const BATCH_BYTES: usize = 1 << 20;

/// Quote a value as an SQL literal: hex for binary columns, an escaped string otherwise.
pub(super) fn push_literal(out: &mut String, v: Option<&[u8]>, binary: bool) {
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

#[derive(Clone)]
pub(super) enum Mode {
    /// Read masked tables and record their identifying values (no output).
    Collect,
    /// Mask (avoiding the indexed source values) and write to the target URL.
    Write(String, Arc<PiiIndex>),
    /// Mask and look the output up in the index (`--check`).
    Scan(Arc<PiiIndex>, Arc<Vec<String>>),
}

/// What a worker found and did.
#[derive(Default)]
pub(super) struct WorkerOut {
    /// Identifying values of the source (`Mode::Collect`).
    pub(super) collector: Collector,
    /// Source connections handed back, still in their snapshot.
    pub(super) conns: Vec<Session>,
    pub(super) parts: Vec<PartStats>,
    pub(super) tally: ScanTally,
}

/// Copying one part of a table: the clone's plan and options, the worker's source session,
/// its writer (when writing), what it does with the rows, and where it records what it saw.
struct PartCopy<'a> {
    shared: &'a Shared,
    part: &'a Work,
    /// A session in the clone's snapshot.
    src: &'a mut Conn,
    /// The worker's writer task, in `Mode::Write`.
    writer: Option<&'a tokio::sync::mpsc::Sender<Batch>>,
    mode: &'a Mode,
    /// Identifying values (collecting) and the leak-scan tally (checking).
    record: &'a mut WorkerOut,
}

impl PartCopy<'_> {
    /// Read the part from the source and, by the mode, collect its identifying values, or
    /// mask it and hand it to the writer in multi-row `INSERT`s (or only look it up, with
    /// `--check`).
    async fn run(self) -> Result<PartStats, CloneError> {
        let started = Instant::now();
        let PartCopy {
            shared,
            part: w,
            src,
            writer,
            mode,
            record,
        } = self;
        let WorkerOut {
            collector, tally, ..
        } = record;
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
                    .map(|&i| {
                        value_bytes(&vals[i]).map(|b| String::from_utf8_lossy(&b).into_owned())
                    })
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
        Ok(PartStats {
            table: w.table,
            rows,
            bytes,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }
}

pub(super) async fn worker(
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
        let copied = PartCopy {
            shared: &shared,
            part: &w,
            src: &mut src,
            writer: tx.as_ref(),
            mode: &mode,
            record: &mut out,
        }
        .run()
        .await;
        match copied {
            Ok(part) => out.parts.push(part),
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

pub(super) async fn run_workers(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped() {
        let mut s = String::new();
        push_literal(&mut s, Some("a'b\\c\n".as_bytes()), false);
        push_literal(&mut s, Some(&[0, 255]), true);
        push_literal(&mut s, None, false);
        assert_eq!(s, "'a\\'b\\\\c\\n'X'00ff'NULL");
    }
}
