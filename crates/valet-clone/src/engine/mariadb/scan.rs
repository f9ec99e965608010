//! The leak scan: every text column of the target read back and looked up.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use mysql_async::prelude::*;
use mysql_async::Value;

use crate::engine::bq;
use crate::error::CloneError;
use crate::leak::{PiiIndex, ScanTally};
use crate::plan::ColumnInfo;

use super::parts::Work;
use super::session::{connect, db};
use super::Shared;

pub(super) async fn scan_target(
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
