//! The data copy, the hot path: workers stream each part as binary `COPY` from the source
//! snapshot, mask what the policy says, look written values up in the leak index in flight,
//! and write the target.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use tokio_postgres::Client;

use crate::engine::pgcopy::{header, trailer, Codec, CopyReader, Fields};
use crate::engine::{dq, PartStats};
use crate::error::{CloneError, Message};
use crate::leak::{Collector, PiiIndex, ScanTally};
use crate::plan::{Plan, TablePlan};
use crate::transform::Transformer;

use super::parts::Work;
use super::refused::written;
use super::session::{connect, db, end_read, pgerr, source_session};
use super::Shared;

/// Bytes of unchanged rows gathered before they are sent on to the target.
const FORWARD_BLOCK: usize = 1 << 18;

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
pub(super) struct Encoders {
    codecs: Vec<Vec<Codec>>,
    constants: HashMap<(usize, usize), Bytes>,
}

pub(super) async fn encoders(plan: &Plan, c: &Client) -> Result<Encoders, CloneError> {
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

#[derive(Clone)]
pub(super) enum Mode {
    /// Read masked tables and record their identifying values (no output).
    Collect,
    /// Mask (avoiding the indexed source values) and write to the target.
    Write(Arc<WriteTo>, Arc<PiiIndex>),
    /// Mask and look the output up in the index (`--check`).
    Scan(Arc<PiiIndex>),
}

/// Where and how workers write.
pub(super) struct WriteTo {
    pub(super) url: String,
    /// Load with `session_replication_role = replica`: foreign keys created before the data
    /// are not checked row by row (see [`EarlyKeys`]).
    pub(super) replica: bool,
    /// Tables referenced by such keys: they cannot be truncated, so are not loaded frozen.
    pub(super) referenced: HashSet<usize>,
}

/// What a worker found and did.
#[derive(Default)]
pub(super) struct WorkerOut {
    /// Identifying values of the source (`Mode::Collect`).
    pub(super) collector: Collector,
    pub(super) parts: Vec<PartStats>,
    pub(super) tally: ScanTally,
    /// Time spent looking written values up in the leak index.
    pub(super) scan_time: Duration,
}

pub(super) async fn worker(shared: Arc<Shared>, mode: Mode) -> Result<WorkerOut, CloneError> {
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
        let part = PartCopy {
            shared: &shared,
            part: &w,
            src: &src,
            dst: dst.as_ref(),
            mode: &mode,
            record: &mut out,
        }
        .run()
        .await?;
        out.parts.push(part);
    }
    end_read(&src).await;
    Ok(out)
}

/// Copying one part of a table: the clone's plan and options, the worker's sessions (the
/// target's when writing), what it does with the rows, and where it records what it saw.
struct PartCopy<'a> {
    shared: &'a Shared,
    part: &'a Work,
    /// A session in the clone's snapshot.
    src: &'a Client,
    /// The target, in `Mode::Write`.
    dst: Option<&'a Client>,
    mode: &'a Mode,
    /// Identifying values (collecting), the leak-scan tally and its time (writing, checking).
    record: &'a mut WorkerOut,
}

impl PartCopy<'_> {
    /// Read the part from the source and, by the mode, collect its identifying values, or
    /// mask it and write it (or only look it up, with `--check`).
    async fn run(self) -> Result<PartStats, CloneError> {
        let started = Instant::now();
        let PartCopy {
            shared,
            part: w,
            src,
            dst,
            mode,
            record,
        } = self;
        let WorkerOut {
            collector,
            tally,
            scan_time,
            ..
        } = record;
        let done = |rows: u64, bytes: u64| PartStats {
            table: w.table,
            rows,
            bytes,
            duration_ms: started.elapsed().as_millis() as u64,
        };
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
                return Ok(done(0, 0));
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
        let kept = avoid.map(|index| KeptScan {
            index,
            names,
            table: t,
            inflight: &inflight,
        });
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
                                if let Some(k) = &kept {
                                    k.scan(tally, &[], tuple, fields, row);
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
                                (Some(s), None) => {
                                    codec.encode(s, &mut out).map_err(|message| {
                                        CloneError::Transform {
                                            table: t.display.clone(),
                                            column: t.columns[i].info.name.clone(),
                                            message,
                                        }
                                    })?
                                }
                            }
                            if let (Some(ix), Some(s), true) =
                                (avoid, v, t.columns[i].info.text_like)
                            {
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
                    if let Some(k) = &kept {
                        k.scan(tally, &masked_cols, &tuple, &fields, rows);
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
        Ok(done(rows, bytes))
    }
}

/// For each copied column of table `ti`: whether the leak scan reads its written bytes in
/// flight, and from which byte the text starts (jsonb's binary form has a version byte).
/// Text-like columns whose binary form is not plain text (arrays, for one) and generated
/// columns are read back from the target instead.
pub(super) fn inflight_columns(plan: &Plan, enc: &Encoders, ti: usize) -> Vec<Option<usize>> {
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

/// The in-flight leak scan of the fields a part writes as the source sent them.
struct KeptScan<'a> {
    index: &'a PiiIndex,
    /// Source column names, for hits.
    names: &'a [String],
    table: &'a TablePlan,
    /// Per copied column, from which byte its text starts ([`inflight_columns`]).
    inflight: &'a [Option<usize>],
}

impl KeptScan<'_> {
    /// Look the in-flight text columns of one tuple up, but for the `masked` ones (their fields
    /// hold source values; the masked output is looked up where it is written).
    fn scan(
        &self,
        tally: &mut ScanTally,
        masked: &[usize],
        tuple: &[u8],
        fields: &Fields,
        row: u64,
    ) {
        let (ix, names, t) = (self.index, self.names, self.table);
        for (i, skip) in self.inflight.iter().enumerate() {
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
}

pub(super) async fn run_workers(
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
