//! Rendering cumulative notes of the clinic's real manifests in every format.

use std::path::PathBuf;
use std::process::Command;

use valet_core::catalog::{CoveredRelease, CumulativeNotes, Manifest};
use valet_ops::documents::release_notes::{render, Format};

fn clinic_notes() -> CumulativeNotes {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/clinic/releases");
    let mut rels = Vec::new();
    for v in ["24.2", "24.2.1", "24.3"] {
        let text = std::fs::read_to_string(dir.join(format!("{v}.toml"))).unwrap();
        let m = Manifest::parse(&text, v).unwrap();
        rels.push((
            CoveredRelease {
                build: m.build,
                version: m.version,
                kind: m.kind,
                released: m.released,
            },
            m.notes,
        ));
    }
    CumulativeNotes::build(
        "24.1.0.1042".parse().unwrap(),
        "24.3.0.1300".parse().unwrap(),
        rels,
    )
}

#[test]
fn pdf_renders_and_its_text_holds_every_item_and_the_reminder() {
    let notes = clinic_notes();
    let pdf = render(&notes, Some("Acme Clinical Research"), Format::Pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let out = Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed; .ci/run installs it");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for n in notes.notes() {
        assert!(
            text.contains(&n.note.key),
            "{} missing from the PDF text",
            n.note.key
        );
    }
    assert!(text.contains("Needs your validation"));
    assert!(text.contains("Your configuration items"));
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("not covered by the vendor's release testing"),
        "{flat}"
    );
    assert!(text.contains("Acme Clinical Research"));
    assert!(text.contains("uncontrolled"));
    let pages = text.matches('\u{c}').count();
    assert!(pages >= 2, "the notes span pages: {pages}");
}

#[test]
fn markdown_html_and_csv_carry_the_same_items() {
    let notes = clinic_notes();
    let md = String::from_utf8(render(&notes, None, Format::Markdown).unwrap()).unwrap();
    let html =
        String::from_utf8(render(&notes, Some("A <b> & Co"), Format::Html).unwrap()).unwrap();
    let csv = String::from_utf8(render(&notes, None, Format::Csv).unwrap()).unwrap();
    for n in notes.notes() {
        assert!(md.contains(&n.note.key));
        assert!(html.contains(&n.note.key));
    }
    assert!(html.contains("A &lt;b&gt; &amp; Co"), "escaped");
    assert_eq!(csv.lines().count(), notes.notes().count() + 1);
    let md_order: Vec<usize> = [
        "## New features",
        "## Improvements",
        "## Fixes",
        "## Security",
        "## Regulatory",
    ]
    .iter()
    .map(|h| md.find(h).unwrap_or_else(|| panic!("{h}")))
    .collect();
    assert!(md_order.windows(2).all(|w| w[0] < w[1]));
    assert!(md.find("## Needs your validation").unwrap() < md_order[0]);
    assert!("docx".parse::<Format>().is_err());
}
