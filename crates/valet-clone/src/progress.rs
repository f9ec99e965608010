//! Progress callbacks, so the library can report without knowing how it is shown.

/// Receives progress while a clone runs. Calls come from several tasks at once.
pub trait Progress: Send + Sync {
    /// A new phase began (`snapshot`, `schema`, `data`, `post-data`, `leak scan`, …).
    fn phase(&self, _name: &str) {}
    /// A table (or part of one) started copying.
    fn table_start(&self, _table: &str, _estimated_rows: u64) {}
    /// `rows` more rows of `table` were copied.
    fn table_rows(&self, _table: &str, _rows: u64) {}
    /// A table finished with this many rows.
    fn table_done(&self, _table: &str, _rows: u64) {}
}

/// Progress that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
