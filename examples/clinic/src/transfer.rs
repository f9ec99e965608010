//! The customer's configuration (saved reports and dashboards) as a JSON file: `clinic config
//! export` writes every row and column of the configuration tables, `clinic config import`
//! replaces those tables' rows with a file's, ids kept, in one transaction. This is how a
//! fresh copy of an environment gets the configuration an older copy had.
//!
//! The file: `{"tables": {"report_definitions": [{"id": 1, "name": "…", …}, …], …},
//! "schema_release": "24.3"}`. Integers and floating-point numbers are JSON numbers, NULL is
//! `null`, timestamps are UTC text `YYYY-MM-DDTHH:MM:SSZ` (with a fraction when there is
//! one), everything else is a string.

use std::fmt;

use anyhow::Context;
use serde_json::{Map, Number, Value};
use sqlx::{AnyConnection, Connection, Row};

use crate::db::{DbUrl, Engine};
use crate::schema;

/// The tables that hold the customer's configuration, the only ones export and import touch.
pub const TABLES: &[&str] = &["report_definitions", "dashboard_definitions"];

/// How a column's values are written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Float,
    Timestamp,
    Date,
    /// Text, and anything without a JSON form of its own (decimals, booleans): a string.
    Text,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    kind: Kind,
    /// The declared type (PostgreSQL: `information_schema.columns.data_type`), for casts.
    sql_type: String,
}

impl Kind {
    fn of(sql_type: &str) -> Kind {
        let t = sql_type.to_ascii_lowercase();
        if t.contains("int") {
            Kind::Integer
        } else if t.contains("timestamp") || t.contains("datetime") {
            Kind::Timestamp
        } else if t == "date" {
            Kind::Date
        } else if t.contains("real") || t.contains("double") || t.contains("float") {
            Kind::Float
        } else {
            Kind::Text
        }
    }
}

/// Refusals of a configuration file; nothing is changed when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("the configuration file is not valid JSON: {0}")]
    Json(String),
    #[error("the configuration file is not valid: {0}")]
    Shape(String),
    #[error(
        "the configuration file names table `{table}`, which is not a configuration table; \
         known: {known}"
    )]
    UnknownTable { table: String, known: String },
    #[error(
        "the configuration file gives column `{column}` in {table} row {row}, which the table \
         does not have; its columns: {known}"
    )]
    UnknownColumn {
        table: String,
        column: String,
        row: usize,
        known: String,
    },
    #[error("{table} row {row}, column `{column}`: {why}")]
    BadValue {
        table: String,
        column: String,
        row: usize,
        why: String,
    },
}

/// What an import did: rows written per table, in the file's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub tables: Vec<(String, u64)>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self
            .tables
            .iter()
            .map(|(t, n)| format!("{t}: {n}"))
            .collect();
        write!(f, "{}", lines.join("\n"))
    }
}

/// Every row of the configuration tables of the database at `url`, as the file's JSON.
pub async fn export(url: &str) -> anyhow::Result<Value> {
    let db = DbUrl::parse(url)?;
    let mut conn = db.connect().await?;
    let release = schema::current_on(db.engine, &mut conn)
        .await?
        .context("the database has no clinic schema; nothing to export")?;
    let mut tables = Map::new();
    for table in TABLES {
        let columns = columns(db.engine, &mut conn, table).await?;
        anyhow::ensure!(
            !columns.is_empty(),
            "the database has no {table} table: it was created by a clinic build older than \
             the configuration tables"
        );
        let rows = read_rows(db.engine, &mut conn, table, &columns)
            .await
            .with_context(|| format!("reading {table} of {}", db.redacted()))?;
        tables.insert(table.to_string(), Value::Array(rows));
    }
    conn.close().await.ok();
    Ok(serde_json::json!({ "tables": tables, "schema_release": release.version }))
}

/// Replaces the rows of each table the file names with the file's rows (ids kept), all in
/// one transaction. A file that is not valid, names a table that is not a configuration
/// table or a column the table lacks is refused before anything is written.
pub async fn import(url: &str, text: &str) -> anyhow::Result<ImportReport> {
    let file: Value = serde_json::from_str(text).map_err(|e| FileError::Json(e.to_string()))?;
    let db = DbUrl::parse(url)?;
    let mut conn = db.connect().await?;
    schema::current_on(db.engine, &mut conn)
        .await?
        .context("the database has no clinic schema; create it before importing")?;
    let plan = plan(db.engine, &mut conn, &file).await?;
    let mut tx = conn.begin().await?;
    let mut report = ImportReport { tables: Vec::new() };
    for (table, columns, rows) in &plan {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut *tx)
            .await
            .with_context(|| format!("emptying {table}"))?;
        for (i, row) in rows.iter().enumerate() {
            insert(db.engine, &mut tx, table, columns, row)
                .await
                .with_context(|| format!("inserting {table} row {}", i + 1))?;
        }
        if db.engine == Engine::Postgres && columns.iter().any(|c| c.name == "id") {
            // Explicit ids leave the serial sequence behind; the next new row needs MAX+1.
            sqlx::query(&format!(
                "SELECT CAST(setval(pg_get_serial_sequence('{table}', 'id'), \
                 COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) AS BIGINT) FROM {table}"
            ))
            .fetch_optional(&mut *tx)
            .await
            .with_context(|| format!("moving the id sequence of {table}"))?;
        }
        report.tables.push((table.clone(), rows.len() as u64));
    }
    tx.commit().await?;
    conn.close().await.ok();
    Ok(report)
}

/// A value ready to bind.
#[derive(Debug, Clone, PartialEq)]
enum Bind {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

type Plan = Vec<(String, Vec<Column>, Vec<Vec<Bind>>)>;

/// Checks the whole file against the database and turns it into rows to insert.
async fn plan(engine: Engine, conn: &mut AnyConnection, file: &Value) -> anyhow::Result<Plan> {
    let shape = |why: &str| FileError::Shape(why.to_string());
    let obj = file
        .as_object()
        .ok_or_else(|| shape("the top level must be an object with `tables`"))?;
    if let Some(extra) = obj
        .keys()
        .find(|k| k.as_str() != "tables" && k.as_str() != "schema_release")
    {
        return Err(FileError::Shape(format!(
            "unexpected key `{extra}` at the top level; expected `tables` and `schema_release`"
        ))
        .into());
    }
    if obj.get("schema_release").is_some_and(|v| !v.is_string()) {
        return Err(shape("`schema_release` must be a string").into());
    }
    let tables = obj
        .get("tables")
        .and_then(Value::as_object)
        .ok_or_else(|| shape("`tables` must be an object of table name to rows"))?;
    let mut plan = Vec::new();
    for (table, rows) in tables {
        if !TABLES.contains(&table.as_str()) {
            return Err(FileError::UnknownTable {
                table: table.clone(),
                known: TABLES.join(", "),
            }
            .into());
        }
        let columns = columns(engine, conn, table).await?;
        anyhow::ensure!(
            !columns.is_empty(),
            "the database has no {table} table: it was created by a clinic build older than \
             the configuration tables"
        );
        let rows = rows
            .as_array()
            .ok_or_else(|| FileError::Shape(format!("`{table}` must be an array of rows")))?;
        let mut out = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let row_no = i + 1;
            let row = row.as_object().ok_or_else(|| {
                FileError::Shape(format!("{table} row {row_no} is not an object"))
            })?;
            if let Some(unknown) = row.keys().find(|k| !columns.iter().any(|c| &c.name == *k)) {
                return Err(FileError::UnknownColumn {
                    table: table.clone(),
                    column: unknown.clone(),
                    row: row_no,
                    known: columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
                .into());
            }
            let mut values = Vec::with_capacity(columns.len());
            for c in &columns {
                let v = row.get(&c.name).unwrap_or(&Value::Null);
                values.push(to_bind(c.kind, v).map_err(|why| FileError::BadValue {
                    table: table.clone(),
                    column: c.name.clone(),
                    row: row_no,
                    why,
                })?);
            }
            out.push(values);
        }
        plan.push((table.clone(), columns, out));
    }
    Ok(plan)
}

fn to_bind(kind: Kind, v: &Value) -> Result<Bind, String> {
    if v.is_null() {
        return Ok(Bind::Null);
    }
    match kind {
        Kind::Integer => v
            .as_i64()
            .map(Bind::Int)
            .ok_or_else(|| format!("expected an integer, found {v}")),
        Kind::Float => v
            .as_f64()
            .map(Bind::Float)
            .ok_or_else(|| format!("expected a number, found {v}")),
        Kind::Timestamp => {
            let s = v
                .as_str()
                .ok_or_else(|| format!("expected a UTC timestamp string, found {v}"))?;
            parse_timestamp(s).map(|t| Bind::Text(db_timestamp(t)))
        }
        Kind::Date => {
            let s = v
                .as_str()
                .ok_or_else(|| format!("expected a date string YYYY-MM-DD, found {v}"))?;
            s.parse::<jiff::civil::Date>()
                .map(|d| Bind::Text(d.to_string()))
                .map_err(|e| format!("`{s}` is not a date YYYY-MM-DD: {e}"))
        }
        Kind::Text => v
            .as_str()
            .map(|s| Bind::Text(s.to_string()))
            .ok_or_else(|| format!("expected a string, found {v}")),
    }
}

/// A timestamp with an offset (`2024-05-01T10:00:00Z`) or, read as UTC, without one.
fn parse_timestamp(s: &str) -> Result<jiff::Timestamp, String> {
    s.parse::<jiff::Timestamp>()
        .or_else(|_| {
            s.parse::<jiff::civil::DateTime>()
                .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC))
                .map(|z| z.timestamp())
        })
        .map_err(|e| format!("`{s}` is not a timestamp like 2024-05-01T10:00:00Z: {e}"))
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` in UTC: the form the clinic stores on every engine
/// (PostgreSQL reads it as UTC because every session is set to UTC).
fn db_timestamp(t: jiff::Timestamp) -> String {
    let dt = t.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let mut s = dt.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let micros = dt.subsec_nanosecond() / 1000;
    if micros != 0 {
        s.push_str(format!(".{micros:06}").trim_end_matches('0'));
    }
    s
}

/// `…T…Z` from the engine's ISO rendering with a fraction: a zero fraction is dropped.
fn iso_timestamp(rendered: &str) -> String {
    let Some(body) = rendered.strip_suffix('Z') else {
        return rendered.to_string();
    };
    match body.split_once('.') {
        Some((whole, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{whole}Z")
            } else {
                format!("{whole}.{frac}Z")
            }
        }
        None => rendered.to_string(),
    }
}

fn quote(engine: Engine, ident: &str) -> String {
    match engine {
        Engine::Mysql => format!("`{ident}`"),
        Engine::Sqlite | Engine::Postgres => format!("\"{ident}\""),
    }
}

/// The columns of `table` in declaration order (none when the table does not exist).
async fn columns(
    engine: Engine,
    conn: &mut AnyConnection,
    table: &str,
) -> anyhow::Result<Vec<Column>> {
    let sql = match engine {
        Engine::Sqlite => "SELECT name, type FROM pragma_table_info(?) ORDER BY cid".to_string(),
        Engine::Postgres => "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 \
             ORDER BY ordinal_position"
            .to_string(),
        Engine::Mysql => "SELECT CAST(column_name AS CHAR(64)), CAST(data_type AS CHAR(64)) \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? \
             ORDER BY ordinal_position"
            .to_string(),
    };
    let rows: Vec<(String, String)> = sqlx::query_as(&sql)
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .with_context(|| format!("reading the columns of {table}"))?;
    Ok(rows
        .into_iter()
        .map(|(name, sql_type)| Column {
            kind: Kind::of(&sql_type),
            name,
            sql_type,
        })
        .collect())
}

/// SQL that reads `col` as text the `Any` driver can decode, in the file's form.
fn select_expr(engine: Engine, col: &Column) -> String {
    let q = quote(engine, &col.name);
    match col.kind {
        Kind::Timestamp => match engine {
            // Text the app wrote stays as it is when SQLite cannot read it as a time.
            Engine::Sqlite => format!("COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', {q}), {q})"),
            Engine::Postgres => {
                format!("to_char({q} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
            }
            Engine::Mysql => format!("DATE_FORMAT({q}, '%Y-%m-%dT%H:%i:%s.%fZ')"),
        },
        Kind::Date => engine.iso_date(&q),
        // MySQL sends TEXT as a blob; as bytes it arrives whole, however long.
        Kind::Text if engine == Engine::Mysql => format!("CAST({q} AS BINARY)"),
        Kind::Integer | Kind::Float | Kind::Text => engine.text(&q),
    }
}

async fn read_rows(
    engine: Engine,
    conn: &mut AnyConnection,
    table: &str,
    columns: &[Column],
) -> anyhow::Result<Vec<Value>> {
    let select: Vec<String> = columns.iter().map(|c| select_expr(engine, c)).collect();
    let order = if columns.iter().any(|c| c.name == "id") {
        format!("{table}.id")
    } else {
        "1".to_string()
    };
    let sql = format!("SELECT {} FROM {table} ORDER BY {order}", select.join(", "));
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut obj = Map::new();
        for (i, c) in columns.iter().enumerate() {
            // `Any` types MySQL's binary strings as text or as blobs, depending on the length.
            let text: Option<String> = match row.try_get::<Option<String>, _>(i) {
                Ok(v) => v,
                Err(_) if engine == Engine::Mysql => row
                    .try_get::<Option<Vec<u8>>, _>(i)?
                    .map(|b| String::from_utf8(b).context("a text value is not UTF-8"))
                    .transpose()?,
                Err(e) => return Err(e.into()),
            };
            let value = match text {
                None => Value::Null,
                Some(t) => to_json(c, t).with_context(|| format!("reading {table}.{}", c.name))?,
            };
            obj.insert(c.name.clone(), value);
        }
        out.push(Value::Object(obj));
    }
    Ok(out)
}

fn to_json(col: &Column, text: String) -> anyhow::Result<Value> {
    Ok(match col.kind {
        Kind::Integer => Value::from(
            text.trim()
                .parse::<i64>()
                .with_context(|| format!("`{text}` is not an integer"))?,
        ),
        Kind::Float => {
            let f: f64 = text
                .trim()
                .parse()
                .with_context(|| format!("`{text}` is not a number"))?;
            Number::from_f64(f).map_or(Value::String(text), Value::Number)
        }
        Kind::Timestamp => Value::String(iso_timestamp(&text)),
        Kind::Date | Kind::Text => Value::String(text),
    })
}

async fn insert(
    engine: Engine,
    conn: &mut AnyConnection,
    table: &str,
    columns: &[Column],
    row: &[Bind],
) -> anyhow::Result<()> {
    let names: Vec<String> = columns.iter().map(|c| quote(engine, &c.name)).collect();
    let params: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| match engine {
            // PostgreSQL does not turn a text parameter into a timestamp on its own.
            Engine::Postgres if !matches!(c.sql_type.as_str(), "USER-DEFINED" | "ARRAY") => {
                format!("CAST(${} AS {})", i + 1, c.sql_type)
            }
            Engine::Postgres => format!("${}", i + 1),
            Engine::Sqlite | Engine::Mysql => "?".to_string(),
        })
        .collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        names.join(", "),
        params.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for v in row {
        q = match v {
            Bind::Null => q.bind(None::<String>),
            Bind::Int(n) => q.bind(*n),
            Bind::Float(f) => q.bind(*f),
            Bind::Text(s) => q.bind(s.clone()),
        };
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_kinds_follow_the_declared_type_on_every_engine() {
        for (t, k) in [
            ("INTEGER", Kind::Integer),
            ("integer", Kind::Integer),
            ("bigint", Kind::Integer),
            ("int", Kind::Integer),
            ("TIMESTAMP", Kind::Timestamp),
            ("timestamp with time zone", Kind::Timestamp),
            ("datetime", Kind::Timestamp),
            ("date", Kind::Date),
            ("double precision", Kind::Float),
            ("REAL", Kind::Float),
            ("VARCHAR(200)", Kind::Text),
            ("character varying", Kind::Text),
            ("numeric", Kind::Text),
            ("text", Kind::Text),
        ] {
            assert_eq!(Kind::of(t), k, "{t}");
        }
    }

    #[test]
    fn timestamps_keep_their_fraction_only_when_there_is_one() {
        assert_eq!(
            iso_timestamp("2024-05-01T10:00:00.000000Z"),
            "2024-05-01T10:00:00Z"
        );
        assert_eq!(
            iso_timestamp("2024-05-01T10:00:00.120Z"),
            "2024-05-01T10:00:00.12Z"
        );
        let t = parse_timestamp("2024-05-01T10:00:00Z").unwrap();
        assert_eq!(db_timestamp(t), "2024-05-01 10:00:00");
        let t = parse_timestamp("2024-05-01T12:00:00.25+02:00").unwrap();
        assert_eq!(db_timestamp(t), "2024-05-01 10:00:00.25");
        let t = parse_timestamp("2024-05-01 10:00:00").unwrap();
        assert_eq!(db_timestamp(t), "2024-05-01 10:00:00");
        assert!(parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn values_must_fit_their_column() {
        assert_eq!(
            to_bind(Kind::Integer, &Value::from(7)).unwrap(),
            Bind::Int(7)
        );
        assert!(to_bind(Kind::Integer, &Value::from("7")).is_err());
        assert!(to_bind(Kind::Text, &Value::from(7)).is_err());
        assert_eq!(to_bind(Kind::Text, &Value::Null).unwrap(), Bind::Null);
        assert!(to_bind(Kind::Timestamp, &Value::from("soon")).is_err());
    }
}
