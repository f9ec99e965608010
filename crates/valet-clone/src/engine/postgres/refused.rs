//! Rows the target refuses: the error names table, column and row key, never the value.

use crate::engine::dq;
use crate::error::CloneError;

use super::parts::Work;
use super::session::{source_session, PgError};
use super::Shared;

/// The result of a write to the target's `COPY`, a refusal turned into an error that names the
/// table, the column and the row (by its key) the server names in its context.
pub(super) async fn written<T>(
    shared: &Shared,
    w: &Work,
    r: Result<T, tokio_postgres::Error>,
) -> Result<T, CloneError> {
    let e = match r {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let t = &shared.plan.tables[w.table];
    let Some(d) = e.as_db_error() else {
        return Err(CloneError::db(format!("write {}", t.display), PgError(e)));
    };
    let (column, line) = d.where_().map(copy_context).unwrap_or_default();
    let row = match line {
        Some(n) => Some(
            key_of_row(shared, w, n)
                .await
                .unwrap_or_else(|| format!("{n} of the part as read")),
        ),
        None => None,
    };
    let declared = column
        .as_ref()
        .and_then(|c| t.columns.iter().find(|x| &x.info.name == c))
        .map(|c| format!(" (column type `{}`)", c.info.data_type))
        .unwrap_or_default();
    Err(CloneError::Write {
        table: t.display.clone(),
        column,
        row,
        message: format!(
            "{}: {}{declared}. Fix the policy for this column (a transformer whose values fit), \
             or the target's column",
            d.severity(),
            redact_quoted(d.message())
        ),
    })
}

/// The column and line (row of the `COPY`, 1-based) of a `COPY … FROM` error's context:
/// `COPY volunteers, line 3, column email` (binary `COPY` names no value).
fn copy_context(ctx: &str) -> (Option<String>, Option<u64>) {
    let Some(rest) = ctx.lines().find_map(|l| l.strip_prefix("COPY ")) else {
        return (None, None);
    };
    let line = rest
        .split(", line ")
        .nth(1)
        .and_then(|l| l.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok());
    let column = rest
        .split_once(", column ")
        .map(|(_, c)| c.split(": ").next().unwrap_or(c).to_string());
    (column, line)
}

/// A server message with its double-quoted values replaced by `…` (they may be personal
/// data: `invalid input syntax for type integer: "…"`).
fn redact_quoted(message: &str) -> String {
    static R: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    R.get_or_init(|| regex::Regex::new(r#""(?:[^"]|"")*""#).expect("valid regex"))
        .replace_all(message, "\"…\"")
        .into_owned()
}

/// The key of row `n` (1-based) of part `w` as the copy read it: the same scan of the same
/// snapshot (sequential scans start at the first block: `synchronize_seqscans` is off), by its
/// primary key (`id = 17`, `a = 1, b = x`) or else its `ctid`. `None` when it cannot be read.
async fn key_of_row(shared: &Shared, w: &Work, n: u64) -> Option<String> {
    let t = &shared.plan.tables[w.table];
    let src = source_session(&shared.source, Some(&shared.snapshot))
        .await
        .ok()?;
    let qname = format!("{}.{}", dq(&t.info.schema), dq(&t.info.name));
    let key: Vec<String> = src
        .query(
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) \
             WHERE i.indrelid = $1::text::regclass AND i.indisprimary \
             ORDER BY array_position(i.indkey::int2[], a.attnum)",
            &[&qname],
        )
        .await
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default();
    let key = if key.is_empty() {
        vec!["ctid".to_string()]
    } else {
        key
    };
    let exprs: Vec<String> = key
        .iter()
        .map(|k| {
            if k == "ctid" {
                "ctid::text".to_string()
            } else {
                format!("{}::text", dq(k))
            }
        })
        .collect();
    let conds = w.conds(t);
    let q = format!(
        "SELECT {} FROM ONLY {qname}{} OFFSET {} LIMIT 1",
        exprs.join(", "),
        if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        },
        n.saturating_sub(1)
    );
    let row = src.query_opt(q.as_str(), &[]).await.ok()??;
    let parts: Vec<String> = key
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let v: Option<String> = row.get(i);
            format!("{k} = {}", v.as_deref().unwrap_or("NULL"))
        })
        .collect();
    Some(parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_errors_name_column_and_line_without_the_value() {
        assert_eq!(
            copy_context("COPY volunteers, line 3, column email"),
            (Some("email".into()), Some(3))
        );
        assert_eq!(
            copy_context("COPY t, line 12, column n: \"abc\""),
            (Some("n".into()), Some(12))
        );
        assert_eq!(copy_context("COPY t, line 2"), (None, Some(2)));
        assert_eq!(
            redact_quoted("invalid input syntax for type integer: \"Ann \"\"A\"\"\""),
            "invalid input syntax for type integer: \"…\""
        );
    }
}
