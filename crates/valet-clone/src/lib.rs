//! valet-clone
