//! Charts drawn at build time as inline SVG: readable without JavaScript, with a title, a
//! description and a data table as text alternatives, coloured through CSS classes so light, dark
//! and print styles apply.
//!
//! Only numbers and pxtrack's own labels go into the SVG, and every piece of text is escaped
//! anyway. Key items: [`Bucketing`], [`Timeline`], [`timeline_svg`].

use std::fmt::Write as _;

use crate::model::HitClass;
use crate::time::Zone;

/// Bucket widths to choose from, in seconds, with how their times are labelled.
const WIDTHS: [(i64, &str); 9] = [
    (60, "%H:%M"),
    (5 * 60, "%H:%M"),
    (15 * 60, "%H:%M"),
    (3600, "%b %d %H:00"),
    (3 * 3600, "%b %d %H:00"),
    (6 * 3600, "%b %d %H:00"),
    (86_400, "%b %d"),
    (7 * 86_400, "%b %d"),
    (30 * 86_400, "%Y-%m-%d"),
];

/// The most buckets a timeline gets; the width grows until the range fits.
pub const MAX_BUCKETS: i64 = 60;

/// How a time range is cut into buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucketing {
    /// Start of the first bucket, ms.
    pub start_ms: i64,
    /// Bucket width, seconds.
    pub width_secs: i64,
    /// Number of buckets.
    pub count: usize,
    /// chrono format for bucket labels.
    pub label_format: &'static str,
    /// The zone labels are written in, and whose midnights and hours buckets start at.
    pub zone: Zone,
}

impl Bucketing {
    /// The narrowest bucket width from minutes to months that fits `from..=to` in
    /// [`MAX_BUCKETS`], aligned to whole widths (UTC).
    pub fn for_range(from_ms: i64, to_ms: i64) -> Self {
        Self::for_range_in(from_ms, to_ms, Zone::default())
    }

    /// [`Bucketing::for_range`] with buckets aligned to whole widths of `zone`'s clock (its
    /// offset at `from_ms`), labelled in it.
    pub fn for_range_in(from_ms: i64, to_ms: i64, zone: Zone) -> Self {
        let span = (to_ms - from_ms).max(0) / 1000;
        let (width, fmt) = WIDTHS
            .iter()
            .copied()
            .find(|(w, _)| span / w < MAX_BUCKETS)
            .unwrap_or(WIDTHS[WIDTHS.len() - 1]);
        let off = zone.offset_secs(from_ms);
        let start_s = (from_ms / 1000 + off).div_euclid(width) * width - off;
        let end_s = to_ms / 1000;
        let count = ((end_s - start_s) / width + 1).clamp(1, MAX_BUCKETS * 2) as usize;
        Bucketing {
            start_ms: start_s * 1000,
            width_secs: width,
            count,
            label_format: fmt,
            zone,
        }
    }

    /// The bucket of a time, if in range.
    pub fn index(&self, ms: i64) -> Option<usize> {
        let i = (ms - self.start_ms).div_euclid(self.width_secs * 1000);
        usize::try_from(i).ok().filter(|&i| i < self.count)
    }

    /// A bucket's start, formatted.
    pub fn label(&self, i: usize) -> String {
        let ms = self.start_ms + i as i64 * self.width_secs * 1000;
        self.zone.format(ms, self.label_format)
    }

    /// The width in words: "15 minutes", "1 day".
    pub fn describe(&self) -> String {
        let w = self.width_secs;
        match w {
            w if w % 86_400 == 0 => plural(w / 86_400, "day"),
            w if w % 3600 == 0 => plural(w / 3600, "hour"),
            w => plural(w / 60, "minute"),
        }
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// Counts per bucket and class.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// The bucketing.
    pub buckets: Bucketing,
    /// `counts[bucket][class index]`.
    pub counts: Vec<[u64; 7]>,
}

impl Timeline {
    /// An empty timeline over `buckets`.
    pub fn new(buckets: Bucketing) -> Self {
        Timeline {
            buckets,
            counts: vec![[0; 7]; buckets.count],
        }
    }

    /// Counts one hit.
    pub fn add(&mut self, ms: i64, class: HitClass) {
        if let Some(i) = self.buckets.index(ms) {
            self.counts[i][class.index()] += 1;
        }
    }

    /// Counts hits by class at one time.
    pub fn add_counts(&mut self, ms: i64, by_class: &[u64; 7]) {
        if let Some(i) = self.buckets.index(ms) {
            for (n, add) in self.counts[i].iter_mut().zip(by_class) {
                *n += add;
            }
        }
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|c| c.iter().all(|&n| n == 0))
    }
}

fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c => s.push(c),
        }
    }
    s
}

/// Draws a stacked bar chart of one timeline. `id` must be unique on the page (it names the
/// title and description for screen readers); `what` says what is counted ("pixel loads").
pub fn timeline_svg(t: &Timeline, id: &str, what: &str) -> String {
    let mut s = draw(t, id, what, &WIDE);
    s.push_str(&draw(t, &format!("{id}-narrow"), what, &NARROW));
    s
}

/// The size of a drawing: one for wide screens and one for phones, picked by CSS (each is sized
/// so that its axis text stays legible at the width it is shown at).
struct Layout {
    class: &'static str,
    w: f64,
    h: f64,
    labels: usize,
}

const WIDE: Layout = Layout {
    class: "chart chart-wide",
    w: 760.0,
    h: 180.0,
    labels: 6,
};

const NARROW: Layout = Layout {
    class: "chart chart-narrow",
    w: 360.0,
    h: 200.0,
    labels: 3,
};

/// The widest a bar gets, so that one bucket does not fill the chart.
const MAX_BAR: f64 = 48.0;

fn draw(t: &Timeline, id: &str, what: &str, layout: &Layout) -> String {
    const LEFT: f64 = 40.0;
    const BOTTOM: f64 = 24.0;
    const TOP: f64 = 8.0;
    let (w, h) = (layout.w, layout.h);
    let max = t
        .counts
        .iter()
        .map(|c| c.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let total: u64 = t.counts.iter().flat_map(|c| c.iter()).sum();
    let plot_w = w - LEFT - 4.0;
    let plot_h = h - BOTTOM - TOP;
    let slot = plot_w / t.counts.len() as f64;
    let bar_w = (slot * 0.8).clamp(0.5, MAX_BAR);
    let id = escape(id);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"{}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"{id}-t\">{} over time</title>\
         <desc id=\"{id}-d\">{total} {} in buckets of {}, stacked by class; the table below has \
         the numbers.</desc>",
        layout.class,
        escape(what),
        escape(what),
        escape(&t.buckets.describe()),
    );
    // Axis and gridlines at 0, half and max.
    for frac in [0.0, 0.5, 1.0] {
        let y = TOP + plot_h * (1.0 - frac);
        let v = (max as f64 * frac).round() as u64;
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{w}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
            LEFT - 4.0,
            y + 4.0
        );
    }
    for (i, counts) in t.counts.iter().enumerate() {
        let x = LEFT + i as f64 * slot + (slot - bar_w) / 2.0;
        let mut y = TOP + plot_h;
        for class in HitClass::ALL {
            let n = counts[class.index()];
            if n == 0 {
                continue;
            }
            let bh = plot_h * n as f64 / max as f64;
            y -= bh;
            let _ = write!(
                s,
                "<rect class=\"bar bar-{}\" x=\"{x:.2}\" y=\"{y:.2}\" width=\"{bar_w:.2}\" height=\"{bh:.2}\">\
                 <title>{}: {n} {}</title></rect>",
                class.as_str(),
                escape(&t.buckets.label(i)),
                class.as_str()
            );
            // Machine classes carry a pattern too, so that they differ without colour (print,
            // colour blindness).
            if let Some(pattern) = pattern(class) {
                let _ = write!(
                    s,
                    "<rect class=\"pattern\" fill=\"url(#{pattern})\" x=\"{x:.2}\" y=\"{y:.2}\" \
                     width=\"{bar_w:.2}\" height=\"{bh:.2}\" aria-hidden=\"true\"/>"
                );
            }
        }
    }
    // A few labels along the time axis.
    let step = t.counts.len().div_ceil(layout.labels).max(1);
    for i in (0..t.counts.len()).step_by(step) {
        let x = LEFT + i as f64 * slot;
        let _ = write!(
            s,
            "<text class=\"axis\" x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
            h - 6.0,
            escape(&t.buckets.label(i))
        );
    }
    s.push_str("</svg>");
    s
}

/// The pattern (defined once per page, in `base.html`) that marks a class's bars.
fn pattern(class: HitClass) -> Option<&'static str> {
    match class {
        HitClass::Scanner => Some("px-hatch"),
        HitClass::Bot => Some("px-dots"),
        HitClass::Duplicate | HitClass::Internal => Some("px-lines"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucketing_picks_the_narrowest_width_that_fits() {
        let h = 3_600_000;
        assert_eq!(Bucketing::for_range(0, 30 * 60_000).width_secs, 60);
        assert_eq!(Bucketing::for_range(0, 3 * h).width_secs, 5 * 60);
        assert_eq!(Bucketing::for_range(0, 48 * h).width_secs, 3600);
        assert_eq!(Bucketing::for_range(0, 20 * 24 * h).width_secs, 86_400);
        let b = Bucketing::for_range(90_000, 90_000);
        assert_eq!((b.count, b.start_ms), (1, 60_000));
        assert!(Bucketing::for_range(0, 3 * h).count <= MAX_BUCKETS as usize);
    }

    #[test]
    fn svg_has_text_alternatives_and_every_hit() {
        let mut t = Timeline::new(Bucketing::for_range(0, 3_600_000));
        t.add(0, HitClass::Human);
        t.add(10, HitClass::Proxy);
        t.add(3_600_000, HitClass::Scanner);
        t.add(99_999_999, HitClass::Scanner); // out of range: ignored
        let svg = timeline_svg(&t, "opens", "pixel loads");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("<title id=\"opens-t\">pixel loads over time</title>"));
        assert!(svg.contains("3 pixel loads in buckets of 5 minutes"));
        // Drawn twice (wide and narrow), each bar once, the scanner's with its pattern over it.
        assert_eq!(svg.matches("<svg").count(), 2);
        assert_eq!(svg.matches("<rect class=\"bar ").count(), 6);
        assert_eq!(svg.matches("url(#px-hatch)").count(), 2);
        assert!(svg.contains("id=\"opens-narrow-t\""));
    }

    #[test]
    fn one_bucket_is_one_narrow_bar() {
        let mut t = Timeline::new(Bucketing::for_range(0, 0));
        t.add(0, HitClass::Human);
        let svg = draw(&t, "o", "pixel loads", &WIDE);
        assert!(svg.contains(&format!("width=\"{MAX_BAR:.2}\"")), "{svg}");
    }
}
