//! valet-ops
