//! The quiet-time heatmap: average activity per hour of the week in the customer's zone, with
//! the upgrade slots drawn over it, as SVG (for pages and documents), CSV and JSON.
//!
//! Cell values are averages of event counts; a negative or non-finite value (which no count
//! produces) is shown as 0 everywhere.

use std::fmt::Write;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MINUTES_PER_DAY: u32 = 24 * 60;
const MINUTES_PER_WEEK: u32 = 7 * MINUTES_PER_DAY;

/// Activity per hour of the week, in one zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// The customer's zone the hours are in.
    pub zone: String,
    /// How many weeks were aggregated.
    pub weeks: u32,
    /// `[weekday Monday=0 .. Sunday=6][hour 0..23]` = average events in that hour.
    pub cells: [[f64; 24]; 7],
}

impl Heatmap {
    fn value(&self, day: usize, hour: usize) -> f64 {
        let v = self.cells[day][hour];
        if v.is_finite() && v > 0.0 {
            v
        } else {
            0.0
        }
    }

    /// The largest cell value (0 for an empty map).
    pub fn max(&self) -> f64 {
        (0..7)
            .flat_map(|d| (0..24).map(move |h| (d, h)))
            .map(|(d, h)| self.value(d, h))
            .fold(0.0, f64::max)
    }
}

/// A time window drawn over the heatmap.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotMark {
    /// e.g. "slot 2 (preferred)".
    pub label: String,
    /// Monday = 0, in the heatmap's zone.
    pub weekday: usize,
    /// Minutes after local midnight, in the heatmap's zone.
    pub start_minute: u32,
    /// May run past midnight into the next weekday (Sunday wraps to Monday).
    pub minutes: u32,
    pub kind: SlotKind,
    /// Expected events in the window.
    pub score: Option<f64>,
}

/// What a slot is to the reader; each has its own stroke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotKind {
    Proposed,
    Preferred,
    Chosen,
    Suggested,
}

impl SlotKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotKind::Proposed => "proposed",
            SlotKind::Preferred => "preferred",
            SlotKind::Chosen => "chosen",
            SlotKind::Suggested => "suggested",
        }
    }

    /// (colour, width, dash array): Okabe–Ito vermillion for the customer's slots, black for
    /// valet's suggestion; the dash pattern tells them apart without colour.
    fn stroke(self) -> (&'static str, f64, Option<&'static str>) {
        match self {
            SlotKind::Chosen => ("#d55e00", 4.0, None),
            SlotKind::Preferred => ("#d55e00", 2.5, None),
            SlotKind::Proposed => ("#d55e00", 2.0, Some("6 4")),
            SlotKind::Suggested => ("#111111", 2.5, Some("0.1 5")),
        }
    }
}

/// Up to 2 decimals, without trailing zeros: `3`, `2.5`, `0.33`.
fn number(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// CSV: header `weekday,00,01,…,23`, then one row per weekday, Monday to Sunday.
pub fn render_csv(map: &Heatmap) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = std::iter::once("weekday".to_string()).chain((0..24).map(|h| format!("{h:02}")));
    w.write_record(header).expect("write to memory");
    for (d, name) in WEEKDAYS.iter().enumerate() {
        let row = std::iter::once(name.to_string()).chain((0..24).map(|h| number(map.value(d, h))));
        w.write_record(row).expect("write to memory");
    }
    String::from_utf8(w.into_inner().expect("flush to memory")).expect("CSV of UTF-8 is UTF-8")
}

/// JSON: `{zone, weeks, days: [{weekday: "Monday", hours: [24 numbers]}], max,
/// slots: [{label, weekday, start_minute, minutes, kind, score}]}`.
pub fn render_json(map: &Heatmap, slots: &[SlotMark]) -> Value {
    let days: Vec<Value> = WEEKDAYS
        .iter()
        .enumerate()
        .map(|(d, name)| {
            let hours: Vec<f64> = (0..24).map(|h| map.value(d, h)).collect();
            json!({ "weekday": name, "hours": hours })
        })
        .collect();
    let slots: Vec<Value> = slots
        .iter()
        .map(|s| {
            json!({
                "label": s.label,
                "weekday": s.weekday,
                "start_minute": s.start_minute,
                "minutes": s.minutes,
                "kind": s.kind,
                "score": s.score.filter(|v| v.is_finite()),
            })
        })
        .collect();
    json!({
        "zone": map.zone,
        "weeks": map.weeks,
        "days": days,
        "max": map.max(),
        "slots": slots,
    })
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Not allowed in XML 1.0 at all.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// ColorBrewer "Blues" (9 classes): a single-hue ramp, light = quiet, dark = busy, which
/// stays ordered for every kind of colour vision and in greyscale print.
const RAMP: [(u8, u8, u8); 9] = [
    (0xf7, 0xfb, 0xff),
    (0xde, 0xeb, 0xf7),
    (0xc6, 0xdb, 0xef),
    (0x9e, 0xca, 0xe1),
    (0x6b, 0xae, 0xd6),
    (0x42, 0x92, 0xc6),
    (0x21, 0x71, 0xb5),
    (0x08, 0x51, 0x9c),
    (0x08, 0x30, 0x6b),
];

/// The ramp's colour at `t` in [0, 1].
fn colour(t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (RAMP.len() - 1) as f64;
    let i = (pos.floor() as usize).min(RAMP.len() - 2);
    let f = pos - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (RAMP[i], RAMP[i + 1]);
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

// Geometry, in viewBox units (the SVG scales to its container; 960 wide reads well at 900 px).
const WIDTH: f64 = 960.0;
const LEFT: f64 = 104.0;
const RIGHT: f64 = 16.0;
const CELL_W: f64 = (WIDTH - LEFT - RIGHT) / 24.0;
const CELL_H: f64 = 34.0;
const GRID_TOP: f64 = 84.0;
const GAP: f64 = 2.0;
const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";

fn hhmm(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60 % 24, minute % 60)
}

/// "Tue 09:00–10:30", or "Sun 23:00–Mon 01:00" across midnight.
fn window_text(s: &SlotMark) -> String {
    let start = (s.weekday as u32 % 7 * MINUTES_PER_DAY + s.start_minute) % MINUTES_PER_WEEK;
    let end = (start + s.minutes.min(MINUTES_PER_WEEK)) % MINUTES_PER_WEEK;
    let day = |m: u32| &WEEKDAYS[(m / MINUTES_PER_DAY) as usize][..3];
    let same_day = start / MINUTES_PER_DAY == end / MINUTES_PER_DAY
        && s.minutes < MINUTES_PER_DAY
        && end >= start;
    if same_day {
        format!("{} {}–{}", day(start), hhmm(start), hhmm(end))
    } else {
        format!("{} {}–{} {}", day(start), hhmm(start), day(end), hhmm(end))
    }
}

/// "slot 2 (preferred) · Tue 09:30–11:00 · 0.38 expected events".
fn slot_text(s: &SlotMark) -> String {
    let mut t = format!("{} · {}", s.label, window_text(s));
    if let Some(score) = s.score.filter(|v| v.is_finite()) {
        let unit = if number(score) == "1" {
            "event"
        } else {
            "events"
        };
        let _ = write!(t, " · {} expected {unit}", number(score));
    }
    t
}

/// The slot as (weekday, start minute, end minute) pieces, one per day it touches.
fn segments(s: &SlotMark) -> Vec<(usize, u32, u32)> {
    let mut day = (s.weekday + (s.start_minute / MINUTES_PER_DAY) as usize) % 7;
    let mut start = s.start_minute % MINUTES_PER_DAY;
    let mut left = s.minutes.min(MINUTES_PER_WEEK);
    let mut out = Vec::new();
    loop {
        let take = left.min(MINUTES_PER_DAY - start);
        out.push((day, start, start + take));
        left -= take;
        if left == 0 {
            return out;
        }
        day = (day + 1) % 7;
        start = 0;
    }
}

/// A standalone SVG: weekday rows × hour columns coloured by activity, the slots outlined over
/// them and numbered, a colour scale and a key of the slots.
pub fn render_svg(map: &Heatmap, slots: &[SlotMark], title: &str) -> String {
    let max = map.max();
    let grid_bottom = GRID_TOP + 7.0 * CELL_H;
    let scale_top = grid_bottom + 26.0;
    let key_top = scale_top + 52.0;
    let height = if slots.is_empty() {
        scale_top + 40.0
    } else {
        key_top + 22.0 * slots.len() as f64
    };
    let weeks = match map.weeks {
        1 => "1 week".to_string(),
        n => format!("{n} weeks"),
    };
    let units = format!("events per hour, average over {weeks}, zone {}", map.zone);

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" style="max-width:100%;height:auto" role="img" aria-labelledby="heatmap-title heatmap-desc" font-family="{FONT}">
<title id="heatmap-title">{t}</title>
<desc id="heatmap-desc">{d}</desc>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{LEFT}" y="30" font-size="18" font-weight="600" fill="#111827">{t}</text>
<text x="{LEFT}" y="50" font-size="12" fill="#4b5563">{d}</text>
"##,
        t = xml(title),
        d = xml(&format!(
            "Hours in {}; darker is busier; outlined boxes are upgrade slots.",
            map.zone
        )),
    );

    s.push_str(r##"<g font-size="11" fill="#374151" text-anchor="middle">"##);
    for h in 0..24 {
        let x = LEFT + (h as f64 + 0.5) * CELL_W;
        let _ = write!(
            s,
            r#"<text x="{x:.1}" y="{y:.1}">{h:02}</text>"#,
            y = GRID_TOP - 8.0
        );
    }
    s.push_str("</g>\n");

    s.push_str(r##"<g font-size="13" fill="#111827" text-anchor="end">"##);
    for (d, name) in WEEKDAYS.iter().enumerate() {
        let y = GRID_TOP + (d as f64 + 0.5) * CELL_H + 4.5;
        let _ = write!(
            s,
            r#"<text x="{x:.1}" y="{y:.1}">{name}</text>"#,
            x = LEFT - 10.0
        );
    }
    s.push_str("</g>\n");

    s.push_str(r##"<g stroke="#e5e7eb" stroke-width="0.5">"##);
    for (d, name) in WEEKDAYS.iter().enumerate() {
        for h in 0..24 {
            let v = map.value(d, h);
            let t = if max > 0.0 { v / max } else { 0.0 };
            let _ = write!(
                s,
                r#"<rect class="cell" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{hh:.1}" rx="2" fill="{c}"><title>{name} {h:02}:00–{e:02}:00: {val} events per hour</title></rect>"#,
                x = LEFT + h as f64 * CELL_W + GAP / 2.0,
                y = GRID_TOP + d as f64 * CELL_H + GAP / 2.0,
                w = CELL_W - GAP,
                hh = CELL_H - GAP,
                c = colour(t),
                e = (h + 1) % 24,
                val = number(v),
            );
        }
        s.push('\n');
    }
    s.push_str("</g>\n");

    for (i, slot) in slots.iter().enumerate() {
        let (stroke, width, dash) = slot.kind.stroke();
        let dash_attr = dash
            .map(|d| format!(r#" stroke-dasharray="{d}" stroke-linecap="round""#))
            .unwrap_or_default();
        let _ = write!(
            s,
            r#"<g class="slot slot-{kind}"><title>{tip}</title>"#,
            kind = slot.kind.as_str(),
            tip = xml(&format!("{}: {}", i + 1, slot_text(slot))),
        );
        for (n, (day, from, to)) in segments(slot).into_iter().enumerate() {
            let x = LEFT + from as f64 / 60.0 * CELL_W;
            let w = ((to - from) as f64 / 60.0 * CELL_W).max(2.0);
            let y = GRID_TOP + day as f64 * CELL_H + 1.0;
            let h = CELL_H - 2.0;
            // A white halo under the stroke keeps it visible on light and dark cells alike.
            let _ = write!(
                s,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="none" stroke="#ffffff" stroke-width="{hw:.1}" stroke-opacity="0.9"/><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="none" stroke="{stroke}" stroke-width="{width:.1}"{dash_attr}/>"##,
                hw = width + 2.5,
            );
            if n == 0 {
                let _ = write!(
                    s,
                    r##"<text x="{tx:.1}" y="{ty:.1}" font-size="12" font-weight="700" fill="{stroke}" stroke="#ffffff" stroke-width="3" paint-order="stroke">{num}</text>"##,
                    tx = x + 4.0,
                    ty = y + 13.0,
                    num = i + 1,
                );
            }
        }
        s.push_str("</g>\n");
    }

    let bar_w = 260.0;
    s.push_str(r#"<defs><linearGradient id="heatmap-scale" x1="0" x2="1" y1="0" y2="0">"#);
    for (i, _) in RAMP.iter().enumerate() {
        let t = i as f64 / (RAMP.len() - 1) as f64;
        let _ = write!(s, r#"<stop offset="{t:.3}" stop-color="{}"/>"#, colour(t));
    }
    s.push_str("</linearGradient></defs>\n");
    let _ = write!(
        s,
        r##"<g class="legend" font-size="12" fill="#374151">
<rect x="{LEFT}" y="{scale_top:.1}" width="{bar_w}" height="12" fill="url(#heatmap-scale)" stroke="#d1d5db" stroke-width="0.5"/>
<text x="{LEFT}" y="{ly:.1}">0</text>
<text x="{mx:.1}" y="{ly:.1}" text-anchor="end">{max}</text>
<text x="{ux:.1}" y="{uy:.1}">{units}</text>
</g>
"##,
        ly = scale_top + 28.0,
        mx = LEFT + bar_w,
        max = number(max),
        ux = LEFT + bar_w + 14.0,
        uy = scale_top + 10.5,
        units = xml(&units),
    );

    if !slots.is_empty() {
        s.push_str(r##"<g class="key" font-size="12" fill="#111827">"##);
        for (i, slot) in slots.iter().enumerate() {
            let (stroke, width, dash) = slot.kind.stroke();
            let dash_attr = dash
                .map(|d| format!(r#" stroke-dasharray="{d}" stroke-linecap="round""#))
                .unwrap_or_default();
            let y = key_top + 22.0 * i as f64;
            let _ = write!(
                s,
                r##"<rect x="{x:.1}" y="{ry:.1}" width="30" height="14" fill="#eef3fa" stroke="{stroke}" stroke-width="{width:.1}"{dash_attr}/><text x="{tx:.1}" y="{ty:.1}"><tspan font-weight="700">{num}</tspan>  {text} <tspan fill="#6b7280">({kind})</tspan></text>"##,
                x = LEFT + 2.0,
                ry = y - 11.0,
                tx = LEFT + 44.0,
                ty = y,
                num = i + 1,
                text = xml(&slot_text(slot)),
                kind = slot.kind.as_str(),
            );
            s.push('\n');
        }
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Heatmap {
        let mut cells = [[0.0; 24]; 7];
        for (d, row) in cells.iter_mut().enumerate() {
            for (h, v) in row.iter_mut().enumerate() {
                *v = (d * 100 + h) as f64 / 8.0;
            }
        }
        Heatmap {
            zone: "America/Chicago".into(),
            weeks: 8,
            cells,
        }
    }

    fn slot(label: &str, weekday: usize, start: u32, minutes: u32, kind: SlotKind) -> SlotMark {
        SlotMark {
            label: label.into(),
            weekday,
            start_minute: start,
            minutes,
            kind,
            score: Some(0.375),
        }
    }

    #[test]
    fn csv_has_a_header_and_one_row_per_weekday() {
        let csv = render_csv(&sample());
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows.len(), 8);
        let header: Vec<&str> = rows[0].split(',').collect();
        assert_eq!(header.len(), 25);
        assert_eq!(header[0], "weekday");
        assert_eq!(header[1], "00");
        assert_eq!(header[24], "23");
        for (row, day) in rows[1..].iter().zip(WEEKDAYS) {
            let fields: Vec<&str> = row.split(',').collect();
            assert_eq!(fields.len(), 25);
            assert_eq!(fields[0], day);
        }
    }

    #[test]
    fn csv_values_have_at_most_two_decimals() {
        let mut map = sample();
        map.cells[0][0] = 1.0 / 3.0;
        map.cells[0][1] = 2.5;
        map.cells[0][2] = 4.0;
        map.cells[0][3] = f64::NAN;
        map.cells[0][4] = -1.0;
        map.cells[0][5] = 0.004;
        let csv = render_csv(&map);
        let monday: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
        assert_eq!(&monday[1..7], ["0.33", "2.5", "4", "0", "0", "0"]);
        // Sunday 23:00 = (600 + 23) / 8.
        let sunday: Vec<&str> = csv.lines().nth(7).unwrap().split(',').collect();
        assert_eq!(sunday[0], "Sunday");
        assert_eq!(sunday[24], "77.88");
    }

    #[test]
    fn json_lists_days_hours_max_and_slots() {
        let map = sample();
        let v = render_json(&map, &[slot("slot 1", 1, 540, 90, SlotKind::Preferred)]);
        assert_eq!(v["zone"], "America/Chicago");
        assert_eq!(v["weeks"], 8);
        assert_eq!(v["days"].as_array().unwrap().len(), 7);
        assert_eq!(v["days"][6]["weekday"], "Sunday");
        assert_eq!(v["days"][2]["hours"].as_array().unwrap().len(), 24);
        assert_eq!(v["days"][2]["hours"][3], 203.0 / 8.0);
        assert_eq!(v["max"], 623.0 / 8.0);
        assert_eq!(
            v["slots"][0],
            json!({"label": "slot 1", "weekday": 1, "start_minute": 540, "minutes": 90,
                   "kind": "preferred", "score": 0.375})
        );
    }

    #[test]
    fn svg_has_one_cell_per_hour_of_the_week_with_a_tooltip() {
        let svg = render_svg(&sample(), &[], "Quiet time");
        assert_eq!(svg.matches(r#"class="cell""#).count(), 7 * 24);
        assert!(svg.contains("<title>Wednesday 03:00–04:00: 25.38 events per hour</title>"));
        assert!(svg.contains("<title>Sunday 23:00–00:00: 77.88 events per hour</title>"));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 960 "));
        assert!(svg.contains("events per hour, average over 8 weeks, zone America/Chicago"));
    }

    #[test]
    fn svg_colours_quiet_light_and_busy_dark() {
        let mut map = sample();
        map.cells = [[0.0; 24]; 7];
        map.cells[4][10] = 9.0;
        let svg = render_svg(&map, &[], "t");
        let fill = |tip: &str| {
            let at = svg.find(tip).unwrap();
            let start = svg[..at].rfind("fill=\"").unwrap() + 6;
            svg[start..start + 7].to_string()
        };
        assert_eq!(fill("Friday 10:00–11:00: 9 events"), "#08306b");
        assert_eq!(fill("Friday 11:00–12:00: 0 events"), "#f7fbff");
    }

    #[test]
    fn svg_escapes_title_zone_and_labels() {
        let mut map = sample();
        map.zone = "Zone<&>".into();
        let s = slot("<b>\"A&B\"</b>", 0, 60, 30, SlotKind::Chosen);
        let svg = render_svg(&map, &[s], "Acme & <Sons>");
        assert!(svg.contains("Acme &amp; &lt;Sons&gt;"));
        assert!(svg.contains("zone Zone&lt;&amp;&gt;"));
        assert!(svg.contains("&lt;b&gt;&quot;A&amp;B&quot;&lt;/b&gt;"));
        assert!(!svg.contains("<b>"));
        assert!(!svg.contains("Acme & "));
    }

    #[test]
    fn slot_across_midnight_is_split_over_two_days() {
        assert_eq!(
            segments(&slot("s", 6, 23 * 60, 120, SlotKind::Proposed)),
            [(6, 1380, 1440), (0, 0, 60)]
        );
        assert_eq!(
            segments(&slot("s", 2, 9 * 60 + 30, 45, SlotKind::Proposed)),
            [(2, 570, 615)]
        );
        assert_eq!(
            window_text(&slot("s", 6, 23 * 60, 120, SlotKind::Proposed)),
            "Sun 23:00–Mon 01:00"
        );
        assert_eq!(
            window_text(&slot("s", 2, 9 * 60 + 30, 45, SlotKind::Proposed)),
            "Wed 09:30–10:15"
        );
    }

    #[test]
    fn svg_draws_slots_at_fractional_positions_with_their_kind() {
        let slots = [
            slot(
                "slot 1 (preferred)",
                1,
                9 * 60 + 30,
                90,
                SlotKind::Preferred,
            ),
            slot("late", 6, 23 * 60, 120, SlotKind::Suggested),
        ];
        let svg = render_svg(&sample(), &slots, "t");
        // Tuesday 09:30 starts half-way through the 09 column; 90 minutes is 1.5 columns.
        let x = LEFT + 9.5 * CELL_W;
        let y = GRID_TOP + CELL_H + 1.0;
        assert!(svg.contains(&format!(
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}""#,
            1.5 * CELL_W
        )));
        assert_eq!(svg.matches(r#"class="slot slot-preferred""#).count(), 1);
        assert_eq!(svg.matches(r#"class="slot slot-suggested""#).count(), 1);
        // The late slot is drawn on Sunday and on Monday (halo + stroke each).
        let late = &svg[svg.find("slot-suggested").unwrap()..];
        let late = &late[..late.find("</g>").unwrap()];
        assert_eq!(late.matches("<rect").count(), 4);
        assert!(late.contains(r#"stroke-dasharray="0.1 5""#));
        assert!(svg.contains("slot 1 (preferred) · Tue 09:30–11:00 · 0.38 expected events"));
        assert!(svg.contains("<title>2: late · Sun 23:00–Mon 01:00 · 0.38 expected events</title>"));
    }
}
