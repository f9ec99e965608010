//! Cumulative release notes as Markdown, HTML, CSV and PDF.

use valet_core::catalog::{CumulativeNotes, ReleasedNote, ValidationImpact};
use valet_core::ReleaseKind;

use super::pdf::{Flow, Style};

/// Output formats of `valet release notes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Csv,
    Pdf,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "md" | "markdown" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            "csv" => Ok(Format::Csv),
            "pdf" => Ok(Format::Pdf),
            "json" => Ok(Format::Json),
            other => Err(format!(
                "`{other}` is not a format; use md, html, csv, pdf or json"
            )),
        }
    }
}

impl Format {
    pub fn content_type(&self) -> &'static str {
        match self {
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Pdf => "application/pdf",
            Format::Json => "application/json",
        }
    }
}

fn impact_label(i: ValidationImpact) -> &'static str {
    match i {
        ValidationImpact::High => "HIGH",
        ValidationImpact::Low => "low",
        ValidationImpact::None => "none",
    }
}

fn kind_label(k: ReleaseKind) -> &'static str {
    match k {
        ReleaseKind::Feature => "feature release",
        ReleaseKind::Hotfix => "hotfix",
    }
}

fn title(n: &CumulativeNotes) -> String {
    format!("Release notes from {} to {}", n.from, n.to)
}

/// Renders to bytes in the format asked for. `audience` names the customer, if any.
pub fn render(
    n: &CumulativeNotes,
    audience: Option<&str>,
    format: Format,
) -> Result<Vec<u8>, String> {
    Ok(match format {
        Format::Markdown => markdown(n, audience).into_bytes(),
        Format::Html => html(n, audience)?.into_bytes(),
        Format::Csv => csv(n)?.into_bytes(),
        Format::Pdf => pdf(n, audience).map_err(|e| format!("PDF rendering failed: {e}"))?,
        Format::Json => serde_json::to_vec_pretty(n).map_err(|e| e.to_string())?,
    })
}

fn note_line(r: &ReleasedNote) -> String {
    format!(
        "{} — {} ({}, validation impact {})",
        r.note.key,
        r.note.title,
        r.version,
        impact_label(r.note.validation_impact)
    )
}

pub fn markdown(n: &CumulativeNotes, audience: Option<&str>) -> String {
    let mut out = format!("# {}\n\n", title(n));
    if let Some(a) = audience {
        out.push_str(&format!("For **{a}**.\n\n"));
    }
    out.push_str(
        "## Releases covered\n\n| version | build | kind | released |\n| --- | --- | --- | --- |\n",
    );
    for r in &n.releases {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.version,
            r.build,
            kind_label(r.kind),
            r.released
        ));
    }
    out.push_str("\n## Needs your validation\n\n");
    if n.needs_validation.is_empty() {
        out.push_str("No item in these releases has a validation impact.\n");
    }
    for r in &n.needs_validation {
        out.push_str(&format!("- {}\n", note_line(r)));
    }
    out.push_str(&format!(
        "\n## Your configuration items\n\n{}\n",
        n.configuration_items
    ));
    for s in &n.sections {
        out.push_str(&format!("\n## {}\n", s.heading));
        for a in &s.areas {
            out.push_str(&format!("\n### {}\n\n", a.area));
            for r in &a.notes {
                out.push_str(&format!("- **{}**", note_line(r)));
                if !r.note.text.is_empty() {
                    out.push_str(&format!("  \n  {}", r.note.text));
                }
                out.push('\n');
            }
        }
    }
    out
}

const HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #1a1a1a; line-height: 1.45; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; }
.impact-high { color: #a40000; font-weight: 600; } .impact-low { color: #8a5a00; } .impact-none { color: #555; }
.reminder { border-left: 4px solid #a40000; background: #fff4f4; padding: .6rem 1rem; }
.key { font-family: ui-monospace, monospace; }
</style></head><body>
<h1>{{ title }}</h1>
{% if audience %}<p>For <strong>{{ audience }}</strong>.</p>{% endif %}
<h2>Releases covered</h2>
<table><tr><th>version</th><th>build</th><th>kind</th><th>released</th></tr>
{% for r in releases %}<tr><td>{{ r.version }}</td><td>{{ r.build }}</td><td>{{ r.kind }}</td><td>{{ r.released }}</td></tr>
{% endfor %}</table>
<h2>Needs your validation</h2>
<ul>{% for n in needs %}<li><span class="key">{{ n.key }}</span> {{ n.title }} ({{ n.version }}, <span class="impact-{{ n.validation_impact }}">{{ n.validation_impact }}</span>)</li>
{% else %}<li>No item in these releases has a validation impact.</li>{% endfor %}</ul>
<h2>Your configuration items</h2>
<p class="reminder">{{ reminder }}</p>
{% for s in sections %}<h2>{{ s.heading }}</h2>
{% for a in s.areas %}<h3>{{ a.area }}</h3><ul>
{% for n in a.notes %}<li><span class="key">{{ n.key }}</span> <strong>{{ n.title }}</strong> ({{ n.version }}, validation impact <span class="impact-{{ n.validation_impact }}">{{ n.validation_impact }}</span>)<br>{{ n.text }}</li>
{% endfor %}</ul>{% endfor %}{% endfor %}
</body></html>
"#;

pub fn html(n: &CumulativeNotes, audience: Option<&str>) -> Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("notes.html", HTML)
        .map_err(|e| e.to_string())?;
    let releases: Vec<_> = n
        .releases
        .iter()
        .map(|r| {
            minijinja::context! {
                version => r.version.to_string(), build => r.build.to_string(),
                kind => kind_label(r.kind), released => r.released.to_string(),
            }
        })
        .collect();
    env.get_template("notes.html")
        .and_then(|t| {
            t.render(minijinja::context! {
                title => title(n),
                audience => audience,
                releases => releases,
                needs => n.needs_validation,
                reminder => n.configuration_items,
                sections => n.sections,
            })
        })
        .map_err(|e| e.to_string())
}

pub fn csv(n: &CumulativeNotes) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "version",
        "build",
        "category",
        "area",
        "key",
        "title",
        "validation_impact",
        "text",
    ])
    .map_err(|e| e.to_string())?;
    for r in n.notes() {
        w.write_record([
            r.version.to_string().as_str(),
            r.build.to_string().as_str(),
            r.note.category.as_str(),
            &r.note.area,
            &r.note.key,
            &r.note.title,
            r.note.validation_impact.as_str(),
            &r.note.text,
        ])
        .map_err(|e| e.to_string())?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

pub fn pdf(n: &CumulativeNotes, audience: Option<&str>) -> Result<Vec<u8>, printpdf::Error> {
    let mut f = Flow::new(
        &title(n),
        &format!(
            "{} - exported and printed copies are uncontrolled",
            title(n)
        ),
    )?;
    f.text(Style::Title, 0.0, &title(n));
    if let Some(a) = audience {
        f.text(Style::Body, 0.0, &format!("For {a}."));
    }
    f.space(3.0);
    f.text(Style::Heading, 0.0, "Releases covered");
    for r in &n.releases {
        f.text(
            Style::Body,
            4.0,
            &format!(
                "{}  build {}  {}  released {}",
                r.version,
                r.build,
                kind_label(r.kind),
                r.released
            ),
        );
    }
    f.space(3.0);
    f.text(Style::Heading, 0.0, "Needs your validation");
    if n.needs_validation.is_empty() {
        f.text(
            Style::Body,
            4.0,
            "No item in these releases has a validation impact.",
        );
    }
    for r in &n.needs_validation {
        f.text(Style::Body, 4.0, &note_line(r));
    }
    f.space(3.0);
    f.text(Style::Heading, 0.0, "Your configuration items");
    f.text(Style::Body, 4.0, n.configuration_items);
    for s in &n.sections {
        f.space(4.0);
        f.text(Style::Heading, 0.0, s.heading);
        for a in &s.areas {
            f.space(1.5);
            f.text(Style::Subheading, 2.0, &a.area);
            for r in &a.notes {
                f.text(Style::Bold, 4.0, &note_line(r));
                if !r.note.text.is_empty() {
                    f.text(Style::Body, 8.0, &r.note.text);
                }
            }
        }
    }
    f.finish()
}
