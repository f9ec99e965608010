//! A small text-flow PDF writer over `printpdf`: headings, wrapped paragraphs, page breaks and
//! a footer on every page. Uses the PDF base-14 Helvetica fonts (Latin-1 text).

use printpdf::{
    BuiltinFont, IndirectFontRef, Mm, PdfDocument, PdfDocumentReference, PdfLayerReference,
};

const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const MARGIN: f32 = 20.0;
const FOOTER_Y: f32 = 10.0;

/// Text styles the flow knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Title,
    Heading,
    Subheading,
    Body,
    Bold,
    Small,
}

impl Style {
    fn size(self) -> f32 {
        match self {
            Style::Title => 18.0,
            Style::Heading => 14.0,
            Style::Subheading => 11.5,
            Style::Body | Style::Bold => 10.0,
            Style::Small => 8.0,
        }
    }
}

/// Builds a document top to bottom.
pub struct Flow {
    doc: PdfDocumentReference,
    layer: PdfLayerReference,
    regular: IndirectFontRef,
    bold: IndirectFontRef,
    y: f32,
    page: usize,
    footer: String,
}

/// Average Helvetica glyph width as a fraction of the font size (good enough to wrap).
const AVG_WIDTH: f32 = 0.5;

fn pt_to_mm(pt: f32) -> f32 {
    pt * 0.352_778
}

/// Base-14 fonts cover Latin-1; anything else becomes `?` rather than garbage.
fn latin1(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{2013}' | '\u{2014}' => '-',
            '\u{2018}' | '\u{2019}' => '\'',
            '\u{201C}' | '\u{201D}' => '"',
            '\u{2192}' => '>',
            c if (c as u32) < 256 => c,
            _ => '?',
        })
        .collect()
}

impl Flow {
    pub fn new(title: &str, footer: &str) -> Result<Flow, printpdf::Error> {
        let (doc, page, layer) = PdfDocument::new(title, Mm(PAGE_W), Mm(PAGE_H), "text");
        let regular = doc.add_builtin_font(BuiltinFont::Helvetica)?;
        let bold = doc.add_builtin_font(BuiltinFont::HelveticaBold)?;
        let layer = doc.get_page(page).get_layer(layer);
        let mut flow = Flow {
            doc,
            layer,
            regular,
            bold,
            y: PAGE_H - MARGIN,
            page: 1,
            footer: latin1(footer),
        };
        flow.draw_footer();
        Ok(flow)
    }

    fn draw_footer(&mut self) {
        let text = format!("{}    page {}", self.footer, self.page);
        self.layer.use_text(
            text,
            Style::Small.size(),
            Mm(MARGIN),
            Mm(FOOTER_Y),
            &self.regular,
        );
    }

    fn new_page(&mut self) {
        let (page, layer) = self.doc.add_page(Mm(PAGE_W), Mm(PAGE_H), "text");
        self.layer = self.doc.get_page(page).get_layer(layer);
        self.page += 1;
        self.y = PAGE_H - MARGIN;
        self.draw_footer();
    }

    /// Vertical space in millimetres.
    pub fn space(&mut self, mm: f32) {
        self.y -= mm;
    }

    /// A paragraph, wrapped to the page width, indented by `indent` millimetres.
    pub fn text(&mut self, style: Style, indent: f32, text: &str) {
        let size = style.size();
        let line_h = pt_to_mm(size) * 1.35;
        let width_mm = PAGE_W - 2.0 * MARGIN - indent;
        let max_chars = (width_mm / (pt_to_mm(size) * AVG_WIDTH)).max(10.0) as usize;
        let font = match style {
            Style::Title | Style::Heading | Style::Subheading | Style::Bold => self.bold.clone(),
            Style::Body | Style::Small => self.regular.clone(),
        };
        for line in wrap(&latin1(text), max_chars) {
            if self.y - line_h < MARGIN {
                self.new_page();
            }
            self.y -= line_h;
            self.layer
                .use_text(line, size, Mm(MARGIN + indent), Mm(self.y), &font);
        }
    }

    pub fn finish(self) -> Result<Vec<u8>, printpdf::Error> {
        self.doc.save_to_bytes()
    }
}

/// Greedy word wrap at `max` characters; words longer than a line are split.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_string();
        while word.chars().count() > max {
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
            }
            let head: String = word.chars().take(max).collect();
            word = word.chars().skip(max).collect();
            lines.push(head);
        }
        if cur.is_empty() {
            cur = word;
        } else if cur.chars().count() + 1 + word.chars().count() <= max {
            cur.push(' ');
            cur.push_str(&word);
        } else {
            lines.push(std::mem::replace(&mut cur, word));
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_every_word_and_respects_the_width() {
        let text = "the quick brown fox jumps over the lazy dog averyveryverylongwordindeed";
        let lines = wrap(text, 12);
        assert!(lines.iter().all(|l| l.chars().count() <= 12), "{lines:?}");
        assert_eq!(lines.join("").replace(' ', ""), text.replace(' ', ""));
    }
}
