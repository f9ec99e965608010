//! valet-store
