//! The parts a copy is split into: whole tables, or ranges of heap blocks or of an integer key.

use tokio_postgres::Client;

use crate::engine::dq;
use crate::error::CloneError;
use crate::plan::Plan;

use super::session::db;

#[derive(Debug, Clone)]
pub(super) struct Work {
    pub(super) table: usize,
    /// Lower (inclusive) and upper (exclusive) bounds of the part, by `by`; `None` is open.
    pub(super) lo: Option<i64>,
    pub(super) hi: Option<i64>,
    by: Split,
    size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Split {
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
    pub(super) fn conds(&self, t: &crate::plan::TablePlan) -> Vec<String> {
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
pub(super) async fn plan_work(
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
        for (lo, hi, size) in crate::engine::split_range(lo, hi, size, jobs, split_rows) {
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
