//! Documents valet produces for people: release notes now; IQ reports later. Each renders
//! the same content as Markdown, HTML, CSV (where tabular) and PDF.

pub mod pdf;
pub mod release_notes;
