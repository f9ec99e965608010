//! Reading the source catalog (tables, columns, integer keys), and sampling it for `policy suggest`.

use std::collections::HashMap;

use tokio_postgres::Client;

use crate::engine::{dq, Inspection};
use crate::error::CloneError;
use crate::plan::{Catalog, ColumnInfo, TableInfo};

use super::session::{db, source_session};

/// Read tables and columns.
pub(super) async fn read_catalog(c: &Client) -> Result<Catalog, CloneError> {
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
