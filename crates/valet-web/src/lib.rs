//! valet-web
