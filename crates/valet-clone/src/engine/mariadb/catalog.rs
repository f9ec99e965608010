//! Reading the source catalog (tables, columns, integer keys), and sampling it for `policy suggest`.

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};

use crate::engine::{bq, Inspection};
use crate::error::CloneError;
use crate::plan::{Catalog, ColumnInfo, TableInfo};

use super::session::{begin_snapshot, db, source_session};

pub(super) fn is_binary_type(data_type: &str) -> bool {
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

pub(super) async fn read_catalog(c: &mut Conn, schema: &str) -> Result<Catalog, CloneError> {
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
    let cat = read_catalog(&mut c, &crate::engine::database_name(url)).await?;
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
