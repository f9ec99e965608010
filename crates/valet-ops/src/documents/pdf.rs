//! A small text-flow PDF writer over `printpdf`: headings, wrapped paragraphs, tables, page
//! breaks and a footer on every page ("page n of m", drawn once the page count is known). Uses
//! the PDF base-14 Helvetica and Courier fonts (Latin-1 text).

use printpdf::{
    BuiltinFont, Color, IndirectFontRef, Line, Mm, PdfDocument, PdfDocumentReference,
    PdfLayerReference, Point, Rect, Rgb,
};

const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const MARGIN: f32 = 20.0;
/// Lowest point body text may reach; the footer lives below it.
const BOTTOM: f32 = 22.0;
const FOOTER_RULE_Y: f32 = 17.0;
const FOOTER_Y: f32 = 13.0;
const FOOTER_LINE_H: f32 = 3.4;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Horizontal padding inside table cells, in millimetres.
const CELL_PAD: f32 = 1.6;

/// Text styles the flow knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Title,
    Heading,
    Subheading,
    Body,
    Bold,
    Small,
    /// Fixed-width text for hashes, identifiers and captured output.
    Mono,
}

impl Style {
    fn size(self) -> f32 {
        match self {
            Style::Title => 18.0,
            Style::Heading => 14.0,
            Style::Subheading => 11.5,
            Style::Body | Style::Bold => 10.0,
            Style::Small => 8.0,
            Style::Mono => 8.5,
        }
    }

    fn face(self) -> Face {
        match self {
            Style::Title | Style::Heading | Style::Subheading | Style::Bold => Face::Bold,
            Style::Body | Style::Small => Face::Regular,
            Style::Mono => Face::Mono,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Face {
    Regular,
    Bold,
    Mono,
}

/// Horizontal alignment of a table column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One column of a [`Flow::table`].
#[derive(Debug, Clone)]
pub struct Column {
    pub title: String,
    /// Share of the table width, relative to the other columns' weights.
    pub weight: f32,
    pub align: Align,
    /// Set in Courier (hashes, identifiers, captured values).
    pub mono: bool,
}

impl Column {
    pub fn left(title: &str, weight: f32) -> Column {
        Column {
            title: title.to_string(),
            weight,
            align: Align::Left,
            mono: false,
        }
    }

    pub fn right(title: &str, weight: f32) -> Column {
        Column {
            align: Align::Right,
            ..Column::left(title, weight)
        }
    }

    pub fn mono(title: &str, weight: f32) -> Column {
        Column {
            mono: true,
            ..Column::left(title, weight)
        }
    }
}

/// Builds a document top to bottom.
pub struct Flow {
    doc: PdfDocumentReference,
    layer: PdfLayerReference,
    /// Every page's layer, so footers can be drawn once the page count is known.
    pages: Vec<PdfLayerReference>,
    regular: IndirectFontRef,
    bold: IndirectFontRef,
    mono: IndirectFontRef,
    y: f32,
    footer: Vec<String>,
}

fn pt_to_mm(pt: f32) -> f32 {
    pt * 0.352_778
}

/// Glyph widths of Helvetica (regular, bold) for ASCII 32..=126, in 1/1000 em (Adobe AFM).
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667,
    611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556,
    278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

/// Width of `text` in millimetres at `size` points.
fn text_width(face: Face, size: f32, text: &str) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| {
            let i = c as u32;
            match face {
                Face::Mono => 600,
                Face::Regular if (32..127).contains(&i) => HELVETICA[(i - 32) as usize] as u32,
                Face::Bold if (32..127).contains(&i) => HELVETICA_BOLD[(i - 32) as usize] as u32,
                _ => 600,
            }
        })
        .sum();
    pt_to_mm(size) * units as f32 / 1000.0
}

/// Base-14 fonts cover Latin-1: common typography outside it is spelled in ASCII (an ellipsis
/// as `...`), anything else becomes `?` rather than garbage.
fn latin1(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{2013}' | '\u{2014}' | '\u{2212}' => out.push('-'),
            '\u{2018}' | '\u{2019}' => out.push('\''),
            '\u{201C}' | '\u{201D}' => out.push('"'),
            '\u{2026}' => out.push_str("..."),
            '\u{2192}' => out.push('>'),
            '\u{2264}' => out.push_str("<="),
            '\u{2265}' => out.push_str(">="),
            '\t' => out.push(' '),
            c if (c as u32) < 256 => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

fn grey(level: f32) -> Color {
    Color::Rgb(Rgb::new(level, level, level, None))
}

fn point(x: f32, y: f32) -> (Point, bool) {
    (Point::new(Mm(x), Mm(y)), false)
}

impl Flow {
    /// A new document; `footer` is printed on every page (one line per `\n`), followed by
    /// "Page n of m".
    pub fn new(title: &str, footer: &str) -> Result<Flow, printpdf::Error> {
        let (doc, page, layer) = PdfDocument::new(title, Mm(PAGE_W), Mm(PAGE_H), "text");
        let regular = doc.add_builtin_font(BuiltinFont::Helvetica)?;
        let bold = doc.add_builtin_font(BuiltinFont::HelveticaBold)?;
        let mono = doc.add_builtin_font(BuiltinFont::Courier)?;
        let layer = doc.get_page(page).get_layer(layer);
        Ok(Flow {
            doc,
            pages: vec![layer.clone()],
            layer,
            regular,
            bold,
            mono,
            y: PAGE_H - MARGIN,
            footer: footer.lines().map(latin1).collect(),
        })
    }

    fn font(&self, face: Face) -> &IndirectFontRef {
        match face {
            Face::Regular => &self.regular,
            Face::Bold => &self.bold,
            Face::Mono => &self.mono,
        }
    }

    fn draw_footer(&self, layer: &PdfLayerReference, page: usize, pages: usize) {
        let size = 7.5;
        layer.set_outline_color(grey(0.6));
        layer.set_outline_thickness(0.4);
        layer.add_line(Line {
            points: vec![
                point(MARGIN, FOOTER_RULE_Y),
                point(PAGE_W - MARGIN, FOOTER_RULE_Y),
            ],
            is_closed: false,
        });
        layer.set_fill_color(grey(0.25));
        for (i, line) in self.footer.iter().enumerate() {
            let y = FOOTER_Y - i as f32 * FOOTER_LINE_H;
            let face = if i == 0 { Face::Bold } else { Face::Regular };
            layer.use_text(line.clone(), size, Mm(MARGIN), Mm(y), self.font(face));
        }
        let label = format!("Page {page} of {pages}");
        let w = text_width(Face::Regular, size, &label);
        layer.use_text(
            label,
            size,
            Mm(PAGE_W - MARGIN - w),
            Mm(FOOTER_Y),
            &self.regular,
        );
        layer.set_fill_color(grey(0.0));
    }

    fn new_page(&mut self) {
        let (page, layer) = self.doc.add_page(Mm(PAGE_W), Mm(PAGE_H), "text");
        self.layer = self.doc.get_page(page).get_layer(layer);
        self.pages.push(self.layer.clone());
        self.y = PAGE_H - MARGIN;
    }

    /// Starts a new page unless `mm` millimetres are left on this one.
    pub fn ensure(&mut self, mm: f32) {
        if self.y - mm < BOTTOM {
            self.new_page();
        }
    }

    /// Vertical space in millimetres (none at the top of a page).
    pub fn space(&mut self, mm: f32) {
        if self.y < PAGE_H - MARGIN {
            self.y -= mm;
        }
    }

    /// A paragraph, wrapped to the page width, indented by `indent` millimetres. Headings are
    /// kept with what follows them.
    pub fn text(&mut self, style: Style, indent: f32, text: &str) {
        let size = style.size();
        let line_h = pt_to_mm(size) * 1.35;
        match style {
            Style::Title | Style::Heading => self.ensure(30.0),
            Style::Subheading => self.ensure(20.0),
            _ => {}
        }
        let face = style.face();
        let lines = wrap_to(&latin1(text), CONTENT_W - indent, |s| {
            text_width(face, size, s)
        });
        for line in lines {
            self.ensure(line_h);
            self.y -= line_h;
            self.layer
                .use_text(line, size, Mm(MARGIN + indent), Mm(self.y), self.font(face));
        }
        match style {
            Style::Heading => {
                self.rule(0.3, 0.55);
                self.y -= 1.5;
            }
            Style::Subheading => self.y -= 1.2,
            _ => {}
        }
    }

    /// A horizontal rule across the text width, just below the current line.
    pub fn rule(&mut self, thickness: f32, level: f32) {
        self.y -= 1.2;
        self.layer.set_outline_color(grey(level));
        self.layer.set_outline_thickness(thickness);
        self.layer.add_line(Line {
            points: vec![point(MARGIN, self.y), point(PAGE_W - MARGIN, self.y)],
            is_closed: false,
        });
    }

    /// A table across the text width: a shaded header row (repeated after a page break) and
    /// wrapped cells. `header: false` draws a two-column key/value list without the header.
    pub fn table(&mut self, columns: &[Column], rows: &[Vec<String>], header: bool) {
        let size = 8.5;
        let line_h = pt_to_mm(size) * 1.3;
        let total: f32 = columns
            .iter()
            .map(|c| c.weight)
            .sum::<f32>()
            .max(f32::EPSILON);
        let widths: Vec<f32> = columns
            .iter()
            .map(|c| CONTENT_W * c.weight / total)
            .collect();
        let head: Vec<String> = columns.iter().map(|c| c.title.clone()).collect();
        if header {
            self.ensure(2.0 * (line_h + 2.0));
            self.table_row(columns, &widths, &head, size, true);
        }
        for (i, row) in rows.iter().enumerate() {
            let height = self.row_height(columns, &widths, row, size, false);
            if self.y - height < BOTTOM {
                self.new_page();
                if header {
                    self.table_row(columns, &widths, &head, size, true);
                }
            }
            if i % 2 == 1 {
                self.layer.set_fill_color(grey(0.965));
                self.layer.add_rect(
                    Rect::new(
                        Mm(MARGIN),
                        Mm(self.y - height),
                        Mm(PAGE_W - MARGIN),
                        Mm(self.y),
                    )
                    .with_mode(printpdf::path::PaintMode::Fill),
                );
                self.layer.set_fill_color(grey(0.0));
            }
            self.table_row(columns, &widths, row, size, false);
        }
        self.y -= 2.0;
    }

    fn cell_lines(
        &self,
        col: &Column,
        width: f32,
        text: &str,
        size: f32,
        bold: bool,
    ) -> Vec<String> {
        let face = cell_face(col, bold);
        let mut out = Vec::new();
        for para in latin1(text).split('\n') {
            let lines = wrap_to(para, width - 2.0 * CELL_PAD, |s| text_width(face, size, s));
            if lines.is_empty() {
                out.push(String::new());
            }
            out.extend(lines);
        }
        out
    }

    fn row_height(
        &self,
        columns: &[Column],
        widths: &[f32],
        row: &[String],
        size: f32,
        bold: bool,
    ) -> f32 {
        let line_h = pt_to_mm(size) * 1.3;
        let lines = columns
            .iter()
            .zip(widths)
            .zip(row)
            .map(|((c, w), t)| self.cell_lines(c, *w, t, size, bold).len())
            .max()
            .unwrap_or(1)
            .max(1);
        lines as f32 * line_h + 2.0
    }

    fn table_row(
        &mut self,
        columns: &[Column],
        widths: &[f32],
        row: &[String],
        size: f32,
        head: bool,
    ) {
        let line_h = pt_to_mm(size) * 1.3;
        let height = self.row_height(columns, widths, row, size, head);
        let top = self.y;
        if head {
            self.layer
                .set_fill_color(Color::Rgb(Rgb::new(0.86, 0.89, 0.93, None)));
            self.layer.add_rect(
                Rect::new(Mm(MARGIN), Mm(top - height), Mm(PAGE_W - MARGIN), Mm(top))
                    .with_mode(printpdf::path::PaintMode::Fill),
            );
            self.layer.set_fill_color(grey(0.0));
        }
        let mut x = MARGIN;
        for ((col, w), text) in columns.iter().zip(widths).zip(row) {
            let face = cell_face(col, head);
            let mut y = top - 1.0;
            for line in self.cell_lines(col, *w, text, size, head) {
                y -= line_h;
                let lx = match col.align {
                    Align::Left => x + CELL_PAD,
                    Align::Right => x + w - CELL_PAD - text_width(face, size, &line),
                };
                self.layer
                    .use_text(line, size, Mm(lx), Mm(y + 0.8), self.font(face));
            }
            x += w;
        }
        self.y = top - height;
        self.layer
            .set_outline_color(grey(if head { 0.45 } else { 0.8 }));
        self.layer
            .set_outline_thickness(if head { 0.5 } else { 0.25 });
        self.layer.add_line(Line {
            points: vec![point(MARGIN, self.y), point(PAGE_W - MARGIN, self.y)],
            is_closed: false,
        });
    }

    /// A verdict in a tinted box with a coloured bar: green when `ok`, red otherwise.
    pub fn callout(&mut self, text: &str, ok: bool) {
        let size = Style::Bold.size();
        let line_h = pt_to_mm(size) * 1.35;
        let lines = wrap_to(&latin1(text), CONTENT_W - 8.0, |s| {
            text_width(Face::Bold, size, s)
        });
        let height = lines.len() as f32 * line_h + 3.0;
        self.ensure(height + 2.0);
        let top = self.y - 1.0;
        let (tint, bar, ink) = if ok {
            (
                Rgb::new(0.92, 0.97, 0.92, None),
                Rgb::new(0.18, 0.49, 0.2, None),
                Rgb::new(0.1, 0.35, 0.12, None),
            )
        } else {
            (
                Rgb::new(1.0, 0.93, 0.93, None),
                Rgb::new(0.64, 0.0, 0.0, None),
                Rgb::new(0.64, 0.0, 0.0, None),
            )
        };
        let fill = printpdf::path::PaintMode::Fill;
        self.layer.set_fill_color(Color::Rgb(tint));
        self.layer.add_rect(
            Rect::new(Mm(MARGIN), Mm(top - height), Mm(PAGE_W - MARGIN), Mm(top)).with_mode(fill),
        );
        self.layer.set_fill_color(Color::Rgb(bar));
        self.layer.add_rect(
            Rect::new(Mm(MARGIN), Mm(top - height), Mm(MARGIN + 1.2), Mm(top)).with_mode(fill),
        );
        self.layer.set_fill_color(Color::Rgb(ink));
        let mut y = top - 1.3;
        for line in lines {
            y -= line_h;
            self.layer
                .use_text(line, size, Mm(MARGIN + 4.0), Mm(y + 0.6), &self.bold);
        }
        self.layer.set_fill_color(grey(0.0));
        self.y = top - height - 2.0;
    }

    /// Blank lines to be signed by hand, one per label, side by side, kept on one page.
    pub fn sign_here(&mut self, labels: &[&str]) {
        self.ensure(16.0);
        self.y -= 11.0;
        let gap = 6.0;
        let n = labels.len().max(1) as f32;
        let w = (CONTENT_W - gap * (n - 1.0)) / n;
        self.layer.set_outline_color(grey(0.2));
        self.layer.set_outline_thickness(0.5);
        for (i, label) in labels.iter().enumerate() {
            let x = MARGIN + i as f32 * (w + gap);
            self.layer.add_line(Line {
                points: vec![point(x, self.y), point(x + w, self.y)],
                is_closed: false,
            });
            self.layer.use_text(
                latin1(label),
                Style::Small.size(),
                Mm(x),
                Mm(self.y - 3.5),
                &self.regular,
            );
        }
        self.y -= 5.0;
    }

    /// Number of pages so far.
    pub fn pages(&self) -> usize {
        self.pages.len()
    }

    pub fn finish(self) -> Result<Vec<u8>, printpdf::Error> {
        let n = self.pages.len();
        for (i, layer) in self.pages.iter().enumerate() {
            self.draw_footer(layer, i + 1, n);
        }
        self.doc.save_to_bytes()
    }
}

fn cell_face(col: &Column, head: bool) -> Face {
    if head {
        Face::Bold
    } else if col.mono {
        Face::Mono
    } else {
        Face::Regular
    }
}

/// Greedy word wrap at `max` characters; words longer than a line are split.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    wrap_to(text, max as f32, |s| s.chars().count() as f32)
}

/// Greedy word wrap to `max` as measured by `width`; words longer than a line are split.
fn wrap_to(text: &str, max: f32, width: impl Fn(&str) -> f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_string();
        while width(&word) > max && word.chars().count() > 1 {
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
            }
            let mut take = 1;
            while take < word.chars().count() {
                let head: String = word.chars().take(take + 1).collect();
                if width(&head) > max {
                    break;
                }
                take += 1;
            }
            let head: String = word.chars().take(take).collect();
            word = word.chars().skip(take).collect();
            lines.push(head);
        }
        if cur.is_empty() {
            cur = word;
        } else if width(&format!("{cur} {word}")) <= max {
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
    fn text_outside_latin1_is_spelled_in_ascii_or_marked() {
        assert_eq!(latin1("18c22efa…"), "18c22efa...");
        assert_eq!(latin1("≤ 5 s – “ok” → done"), "<= 5 s - \"ok\" > done");
        assert_eq!(latin1("Müller · 36.8 °C"), "Müller · 36.8 °C");
        assert_eq!(latin1("漢"), "?");
    }

    #[test]
    fn wrap_keeps_every_word_and_respects_the_width() {
        let text = "the quick brown fox jumps over the lazy dog averyveryverylongwordindeed";
        let lines = wrap(text, 12);
        assert!(lines.iter().all(|l| l.chars().count() <= 12), "{lines:?}");
        assert_eq!(lines.join("").replace(' ', ""), text.replace(' ', ""));
    }

    #[test]
    fn helvetica_metrics_measure_narrow_and_wide_glyphs_apart() {
        let narrow = text_width(Face::Regular, 10.0, "iiiiiiiiii");
        let wide = text_width(Face::Regular, 10.0, "WWWWWWWWWW");
        assert!(wide > 4.0 * narrow, "{narrow} {wide}");
        // 64 hex digits of a SHA-256 in Courier 8.5 pt fit the text width.
        assert!(text_width(Face::Mono, 8.5, &"0".repeat(64)) < CONTENT_W);
    }
}
