//! Rows the target refuses: the error names table, column and row key, never the value.

use mysql_async::prelude::*;
use mysql_async::Conn;

use crate::error::CloneError;

/// One multi-row INSERT on its way to the target, with where its rows start.
pub(super) struct Batch {
    pub(super) table: usize,
    pub(super) stmt: String,
    /// Byte offset of each row's `(` in `stmt`.
    pub(super) starts: Vec<usize>,
    /// Place of the first row in its part (1-based), for tables without an integer key.
    pub(super) first_row: u64,
    /// Lower key bound of the part, when the table is split.
    pub(super) lo: Option<i64>,
}

impl Batch {
    /// The error for a refused statement: the column and row the server names, the row by
    /// its key (read back from the statement: masked values only, as written), and what was
    /// wrong without the value.
    pub(super) fn error(
        &self,
        t: &crate::plan::TablePlan,
        key: &[String],
        e: mysql_async::Error,
    ) -> CloneError {
        let mysql_async::Error::Server(se) = &e else {
            return CloneError::db(format!("write {}", t.display), e);
        };
        let (column, row) = refused_at(&se.message);
        let row_key = row.and_then(|n| {
            let start = *self.starts.get(n.checked_sub(1)?)?;
            let end = self.starts.get(n).map_or(self.stmt.len(), |next| next - 1);
            let fields = split_tuple(&self.stmt[start..end]);
            let named: Option<Vec<String>> = key
                .iter()
                .map(|k| {
                    let i = t.columns.iter().position(|c| &c.info.name == k)?;
                    Some(format!("{k} = {}", fields.get(i)?))
                })
                .collect();
            Some(match named.filter(|n| !n.is_empty()) {
                Some(named) => named.join(", "),
                None => format!(
                    "{} of the table as read{}",
                    self.first_row + n as u64 - 1,
                    self.lo
                        .map(|lo| format!(" from key {lo}"))
                        .unwrap_or_default()
                ),
            })
        });
        let declared = column
            .as_ref()
            .and_then(|c| t.columns.iter().find(|x| &x.info.name == c))
            .map(|c| format!(" `{}`", c.info.data_type))
            .unwrap_or_default();
        let what = match se.code {
            1406 => format!("the value is too long for the column{declared}"),
            1264 => format!("the value is out of range for the column{declared}"),
            1265 => format!("the value would be truncated in the column{declared}"),
            1366 | 1292 | 1367 => format!("the value is not valid for the column{declared}"),
            1048 => "NULL in a NOT NULL column".to_string(),
            _ => redact_quoted(&se.message),
        };
        CloneError::Write {
            table: t.display.clone(),
            column,
            row: row_key,
            message: format!(
                "{what} (MariaDB error {}; strict mode: nothing is truncated or converted \
                 silently). Fix the policy for this column (a transformer whose values fit), \
                 or the target's column",
                se.code
            ),
        }
    }
}

/// The primary-key columns of a target table (created with the table), in key order; empty
/// when it has none or they cannot be read.
pub(super) async fn primary_key(c: &mut Conn, table: &str) -> Vec<String> {
    c.exec(
        "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' \
         ORDER BY ORDINAL_POSITION",
        (table,),
    )
    .await
    .unwrap_or_default()
}

/// The column and row (1-based, within the statement) a MariaDB error message names:
/// `Data too long for column 'email' at row 3`, `… for column `db`.`t`.`c` at row 1`.
fn refused_at(message: &str) -> (Option<String>, Option<usize>) {
    static R: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = R.get_or_init(|| {
        regex::Regex::new(r"(?i)column (?:`[^`]*`\.)*[`']([^`']+)[`'](?: at row (\d+))?")
            .expect("valid regex")
    });
    match re.captures(message) {
        Some(c) => (
            Some(c[1].to_string()),
            c.get(2).and_then(|m| m.as_str().parse().ok()),
        ),
        None => (None, None),
    }
}

/// The literals of one `(…)` row as `push_literal` wrote them.
fn split_tuple(row: &str) -> Vec<&str> {
    let inner = row
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(row);
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in inner.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'\'' => quoted = !quoted,
            b',' if !quoted => {
                out.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&inner[start..]);
    out
}

/// A server message with its quoted values replaced by `…` (they may be personal data).
fn redact_quoted(message: &str) -> String {
    static R: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    R.get_or_init(|| regex::Regex::new(r"'(?:[^'\\]|\\.)*'").expect("valid regex"))
        .replace_all(message, "'…'")
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mariadb::copy::push_literal;

    #[test]
    fn refused_rows_are_found_without_their_values() {
        assert_eq!(
            refused_at("Data too long for column 'email' at row 3"),
            (Some("email".into()), Some(3))
        );
        assert_eq!(
            refused_at("Incorrect integer value: 'x' for column `db`.`t`.`n` at row 12"),
            (Some("n".into()), Some(12))
        );
        assert_eq!(
            refused_at("Column 'c' cannot be null"),
            (Some("c".into()), None)
        );
        let mut stmt = String::from("INSERT INTO t (a, b) VALUES ");
        let mut starts = Vec::new();
        for (i, v) in ["it's, (odd)", "back\\slash"].iter().enumerate() {
            if i > 0 {
                stmt.push(',');
            }
            starts.push(stmt.len());
            stmt.push('(');
            push_literal(&mut stmt, Some((i + 7).to_string().as_bytes()), false);
            stmt.push(',');
            push_literal(&mut stmt, Some(v.as_bytes()), false);
            stmt.push(')');
        }
        let second = &stmt[starts[1]..];
        assert_eq!(split_tuple(second).len(), 2);
        assert_eq!(split_tuple(&stmt[starts[0]..starts[1] - 1])[0], "'7'");
        assert_eq!(
            redact_quoted("Duplicate entry 'ann@x.org' for key 'email'"),
            "Duplicate entry '…' for key '…'"
        );
    }
}
