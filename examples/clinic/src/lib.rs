//! clinic
