use crate::engine::CloneOptions;
use crate::error::CloneError;
use crate::report::CloneReport;
pub(crate) async fn clone(
    _o: &CloneOptions,
    _a: &str,
    _b: &str,
    _r: CloneReport,
) -> Result<CloneReport, CloneError> {
    Err(CloneError::Unsupported(
        "PostgreSQL engine not built yet".into(),
    ))
}
pub(crate) async fn inspect(_u: &str) -> Result<crate::engine::Inspection, CloneError> {
    Err(CloneError::Unsupported(
        "PostgreSQL engine not built yet".into(),
    ))
}
