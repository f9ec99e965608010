//! Documents valet produces for people: release notes, installation qualification (IQ)
//! reports, upgrade calendars (iCalendar) and quiet-time heatmaps. Each renders the same
//! content in every format it offers (Markdown, HTML, CSV where tabular, PDF, SVG, JSON).

pub mod calendar;
pub mod heatmap;
pub mod iq;
pub mod pdf;
pub mod release_notes;
pub mod upgrade_report;
