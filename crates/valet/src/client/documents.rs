//! `valet doc …`: a request's controlled documents (IQ reports), listed and downloaded.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use jiff::tz::TimeZone;

use super::api::{parse, Api};
use super::view::{self, Document};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Pdf,
    Html,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Html => "html",
        }
    }

    /// The format asked for, else the one `--out`'s extension names, else PDF.
    pub fn pick(asked: Option<Format>, out: &Path) -> Format {
        asked.unwrap_or_else(|| {
            match out
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
            {
                Some(e) if e == "html" || e == "htm" => Format::Html,
                _ => Format::Pdf,
            }
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum DocCommand {
    /// List a request's documents, newest first.
    List {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Download a document; a request key gets its latest IQ report.
    Get {
        /// A document id (IQ-VAL-3-1) or a request key (VAL-3).
        target: String,
        #[arg(long, short)]
        out: PathBuf,
        /// pdf or html (default: from --out's extension, else pdf).
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
}

/// The newest IQ report among a request's documents.
/// The newest document of `kind`.
pub fn latest_of<'a>(docs: &'a [Document], kind: &str) -> Option<&'a Document> {
    docs.iter()
        .filter(|d| d.kind.eq_ignore_ascii_case(kind))
        .max_by_key(|d| d.created_at)
}

pub async fn run(api: &Api, cmd: DocCommand) -> anyhow::Result<ExitCode> {
    let tz = TimeZone::system();
    match cmd {
        DocCommand::List { key, json } => {
            let text = api.get(&["requests", &key, "documents"], &[]).await?;
            if json {
                super::print_raw(&text);
            } else {
                let docs: Vec<Document> = parse(&text)?;
                if docs.is_empty() {
                    eprintln!("{key} has no documents yet");
                }
                for d in &docs {
                    println!("{}", view::document_line(d, &tz));
                }
            }
        }
        DocCommand::Get {
            target,
            out,
            format,
        } => {
            let id = if super::is_request_key(&target) {
                let text = api.get(&["requests", &target, "documents"], &[]).await?;
                let docs: Vec<Document> = parse(&text)?;
                // A VAL's document is its IQ report; an upgrade's, its upgrade report.
                let (kind, what) = if target.starts_with("VAL-") {
                    ("iq", "IQ report")
                } else {
                    ("upgrade_report", "upgrade report")
                };
                latest_of(&docs, kind)
                    .map(|d| d.id.clone())
                    .with_context(|| {
                        format!(
                            "{target} has no {what} yet; it is made when its run succeeds \
                             (see `valet run show {target}`)"
                        )
                    })?
            } else {
                target
            };
            let format = Format::pick(format, &out);
            let bytes = api
                .get_bytes(&["documents", &id], &[("format", format.as_str())])
                .await?;
            write_atomically(&out, &bytes)?;
            eprintln!(
                "{id} ({}) written to {} ({} bytes)",
                format.as_str(),
                out.display(),
                bytes.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes beside the target, then renames: no half-written document is left on failure.
fn write_atomically(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .with_context(|| format!("--out `{}` names no file", out.display()))?;
    let tmp = dir.join(format!(".{}.part", name.to_string_lossy()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}", out.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, kind: &str, at: &str) -> Document {
        Document {
            id: id.into(),
            kind: kind.into(),
            created_at: Some(at.parse().unwrap()),
            ..Document::default()
        }
    }

    #[test]
    fn request_key_gets_the_newest_iq_report() {
        let docs = [
            doc("IQ-VAL-3-1", "iq", "2026-11-30T21:00:00Z"),
            doc("IQ-VAL-3-2", "iq", "2026-12-02T08:00:00Z"),
            doc("OQ-VAL-3-1", "oq", "2026-12-03T08:00:00Z"),
        ];
        assert_eq!(latest_of(&docs, "iq").unwrap().id, "IQ-VAL-3-2");
        assert!(latest_of(&[], "iq").is_none());
    }

    #[test]
    fn format_follows_the_out_extension_unless_given() {
        assert_eq!(Format::pick(None, Path::new("iq.html")), Format::Html);
        assert_eq!(Format::pick(None, Path::new("iq.pdf")), Format::Pdf);
        assert_eq!(Format::pick(None, Path::new("iq")), Format::Pdf);
        assert_eq!(
            Format::pick(Some(Format::Pdf), Path::new("iq.html")),
            Format::Pdf
        );
    }
}
