//! valet-core
