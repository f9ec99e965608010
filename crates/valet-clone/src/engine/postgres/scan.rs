//! The read-back part of the leak scan: columns the in-flight scan cannot read (generated,
//! arrays) are read from the target.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures::StreamExt;

use crate::array::PgArray;
use crate::engine::dq;
use crate::engine::pgcopy::CopyReader;
use crate::error::{CloneError, Message};
use crate::leak::{PiiIndex, ScanTally};

use super::copy::inflight_columns;
use super::parts::Work;
use super::session::{connect, db, SESSION};
use super::Shared;

/// Per table, the text-like columns the in-flight scan did not read: generated columns and
/// those whose binary form is not plain text.
pub(super) fn read_back_columns(shared: &Shared) -> Vec<Vec<String>> {
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
pub(super) async fn scan_target(
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
                    while let Some(tuple) = reader.next_tuple(&mut fields).map_err(|e| {
                        CloneError::db(
                            format!("leak scan of {} (reading its COPY stream)", t.display),
                            Message(e),
                        )
                    })? {
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
