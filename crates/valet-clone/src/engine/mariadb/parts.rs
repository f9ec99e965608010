//! The parts a copy is split into: whole tables, or ranges of an integer key.

use mysql_async::prelude::*;
use mysql_async::Conn;

use crate::engine::bq;
use crate::error::CloneError;
use crate::plan::Plan;

use super::session::db;

#[derive(Debug, Clone)]
pub(super) struct Work {
    pub(super) table: usize,
    pub(super) lo: Option<i64>,
    pub(super) hi: Option<i64>,
    size: u64,
}

pub(super) async fn plan_work(
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
                for (lo, hi, size) in crate::engine::split_range(lo, hi, size, jobs, split_rows) {
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
