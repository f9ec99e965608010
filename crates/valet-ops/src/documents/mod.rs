//! Documents valet produces for people: release notes and installation qualification (IQ)
//! reports. Each renders the same content in every format it offers (Markdown, HTML, CSV where
//! tabular, PDF).

pub mod iq;
pub mod pdf;
pub mod release_notes;
