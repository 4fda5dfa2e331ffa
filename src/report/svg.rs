//! Plots as inline SVG: axes with ticks, lines, dots, bars and marked
//! points, in a fixed layout with every number printed to fixed decimals,
//! so the same figures always give the same bytes. No fonts are embedded:
//! the browser's sans-serif draws the text.

use std::fmt::Write;

/// Plot area size in SVG units (the SVG scales to the page width).
const WIDTH: f64 = 520.0;
const HEIGHT: f64 = 340.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 46.0;

/// The series colours, in order (distinguishable in grey print too by dash).
pub const COLORS: [&str; 6] = ["#1f5fa8", "#d1495b", "#2a9d58", "#7a4fa0", "#e08a1e", "#555555"];

/// What a chart draws.
enum Item {
    Line { points: Vec<(f64, f64)>, color: &'static str, dashed: bool, label: String },
    Dots { points: Vec<(f64, f64)>, color: &'static str, label: String },
    Bars { bars: Vec<(f64, f64, f64)>, color: &'static str, label: String },
    Mark { x: f64, y: f64, color: &'static str, label: String },
}

/// Where a chart's legend sits inside the plot area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corner {
    /// Top right (the default).
    TopRight,
    /// Bottom right.
    BottomRight,
    /// Top left.
    TopLeft,
    /// Bottom left.
    BottomLeft,
}

/// A chart with linear axes.
pub struct Chart {
    legend: Corner,
    title: String,
    x_label: String,
    y_label: String,
    x: (f64, f64),
    y: (f64, f64),
    items: Vec<Item>,
}

impl Chart {
    /// An empty chart over `x` and `y` (each `(low, high)`; a degenerate
    /// range is widened).
    pub fn new(title: &str, x_label: &str, y_label: &str, x: (f64, f64), y: (f64, f64)) -> Chart {
        let widen = |(lo, hi): (f64, f64)| {
            let (lo, hi) = if lo.is_finite() && hi.is_finite() { (lo, hi) } else { (0.0, 1.0) };
            if hi - lo > 1e-12 {
                (lo, hi)
            } else {
                (lo - 0.5, hi + 0.5)
            }
        };
        Chart {
            legend: Corner::TopRight,
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x: widen(x),
            y: widen(y),
            items: Vec::new(),
        }
    }

    /// Puts the legend in `corner`, away from the data.
    pub fn legend_at(mut self, corner: Corner) -> Chart {
        self.legend = corner;
        self
    }

    /// A polyline through `points`.
    pub fn line(mut self, points: Vec<(f64, f64)>, color: &'static str, dashed: bool, label: &str) -> Chart {
        self.items.push(Item::Line { points, color, dashed, label: label.into() });
        self
    }

    /// A dot at each point.
    pub fn dots(mut self, points: Vec<(f64, f64)>, color: &'static str, label: &str) -> Chart {
        self.items.push(Item::Dots { points, color, label: label.into() });
        self
    }

    /// Bars `(from x, to x, height)` standing on y = 0.
    pub fn bars(mut self, bars: Vec<(f64, f64, f64)>, color: &'static str, label: &str) -> Chart {
        self.items.push(Item::Bars { bars, color, label: label.into() });
        self
    }

    /// A marked point with its label beside it.
    pub fn mark(mut self, x: f64, y: f64, color: &'static str, label: &str) -> Chart {
        self.items.push(Item::Mark { x, y, color, label: label.into() });
        self
    }

    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0) * (WIDTH - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        let y = y.clamp(self.y.0, self.y.1);
        HEIGHT - BOTTOM - (y - self.y.0) / (self.y.1 - self.y.0) * (HEIGHT - TOP - BOTTOM)
    }

    /// The chart as an `<svg>` element.
    pub fn to_svg(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{t}\" \
             xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>\
             <text x=\"{cx:.1}\" y=\"18\" class=\"title\" text-anchor=\"middle\">{t}</text>",
            t = escape(&self.title),
            cx = WIDTH / 2.0
        );
        self.axes(&mut s);
        for item in &self.items {
            self.item(&mut s, item);
        }
        self.legend(&mut s);
        s.push_str("</svg>");
        s
    }

    fn axes(&self, s: &mut String) {
        let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
        let _ = write!(
            s,
            "<rect x=\"{x0}\" y=\"{y0}\" width=\"{:.1}\" height=\"{:.1}\" class=\"frame\"/>",
            x1 - x0,
            y1 - y0
        );
        for t in ticks(self.x) {
            let x = self.px(t);
            let _ = write!(
                s,
                "<line x1=\"{x:.1}\" y1=\"{y1}\" x2=\"{x:.1}\" y2=\"{:.1}\" class=\"tick\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                y1 + 4.0,
                y1 + 16.0,
                tick_label(t)
            );
        }
        for t in ticks(self.y) {
            let y = self.py(t);
            let _ = write!(
                s,
                "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{x0}\" y2=\"{y:.1}\" class=\"tick\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                x0 - 4.0,
                x0 - 6.0,
                y + 4.0,
                tick_label(t)
            );
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            (x0 + x1) / 2.0,
            HEIGHT - 8.0,
            escape(&self.x_label),
            (y0 + y1) / 2.0,
            escape(&self.y_label)
        );
    }

    fn item(&self, s: &mut String, item: &Item) {
        match item {
            Item::Line { points, color, dashed, .. } => {
                let pts: Vec<String> =
                    points.iter().map(|(x, y)| format!("{:.1},{:.1}", self.px(*x), self.py(*y))).collect();
                let dash = if *dashed { " stroke-dasharray=\"5 4\"" } else { "" };
                let _ = write!(
                    s,
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>",
                    pts.join(" ")
                );
            }
            Item::Dots { points, color, .. } => {
                for (x, y) in points {
                    let _ = write!(
                        s,
                        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\" fill-opacity=\"0.6\"/>",
                        self.px(*x),
                        self.py(*y)
                    );
                }
            }
            Item::Bars { bars, color, .. } => {
                for (a, b, h) in bars {
                    let (x, w) = (self.px(*a), self.px(*b) - self.px(*a));
                    let (top, base) = (self.py(h.max(0.0)), self.py(h.min(0.0).max(self.y.0)));
                    let _ = write!(
                        s,
                        "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\" \
                         fill-opacity=\"0.55\" stroke=\"{color}\"/>",
                        (w - 1.0).max(0.5),
                        (base - top).max(0.0)
                    );
                }
            }
            Item::Mark { x, y, color, label } => {
                let (px, py) = (self.px(*x), self.py(*y));
                let anchor = if px > WIDTH / 2.0 { "end" } else { "start" };
                let dx = if px > WIDTH / 2.0 { -8.0 } else { 8.0 };
                let _ = write!(
                    s,
                    "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"5\" fill=\"none\" stroke=\"{color}\" \
                     stroke-width=\"2.5\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
                    px + dx,
                    py + 16.0,
                    escape(label)
                );
            }
        }
    }

    fn legend(&self, s: &mut String) {
        let entries = self.items.iter().filter(|i| match i {
            Item::Line { label, .. } | Item::Dots { label, .. } | Item::Bars { label, .. } => {
                !label.is_empty()
            }
            Item::Mark { .. } => false,
        });
        let height = 16.0 * entries.count() as f64;
        let x = match self.legend {
            Corner::TopRight | Corner::BottomRight => WIDTH - RIGHT - 170.0,
            Corner::TopLeft | Corner::BottomLeft => LEFT + 10.0,
        };
        let mut y = match self.legend {
            Corner::TopRight | Corner::TopLeft => TOP + 14.0,
            Corner::BottomRight | Corner::BottomLeft => HEIGHT - BOTTOM - height + 6.0,
        };
        for item in &self.items {
            let (label, color, dashed) = match item {
                Item::Line { label, color, dashed, .. } => (label, *color, *dashed),
                Item::Dots { label, color, .. } | Item::Bars { label, color, .. } => (label, *color, false),
                Item::Mark { .. } => continue,
            };
            if label.is_empty() {
                continue;
            }
            let dash = if dashed { " stroke-dasharray=\"5 4\"" } else { "" };
            let _ = write!(
                s,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"3\"{dash}/>\
                 <text x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
                y - 4.0,
                x + 18.0,
                y - 4.0,
                x + 24.0,
                escape(label)
            );
            y += 16.0;
        }
    }
}

/// About five round tick values covering `range`.
pub fn ticks((lo, hi): (f64, f64)) -> Vec<f64> {
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(mag * 10.0);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A tick's label: as few decimals as it needs (up to 4).
fn tick_label(v: f64) -> String {
    let v = if v.abs() < 1e-12 { 0.0 } else { v };
    let mut t = format!("{v:.4}");
    while t.contains('.') && (t.ends_with('0') || t.ends_with('.')) {
        t.pop();
    }
    t
}

/// Text made safe for HTML and SVG.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The smallest and largest of some values (`(0, 1)` when there are none).
pub fn extent(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks((0.0, 1.0)), [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        assert_eq!(ticks((0.0, 20.0)), [0.0, 5.0, 10.0, 15.0, 20.0]);
        assert_eq!(tick_label(0.6000000000000001), "0.6");
        assert_eq!(tick_label(15.0), "15");
    }

    #[test]
    fn points_map_into_the_plot_area_and_text_is_escaped() {
        let c = Chart::new("a <b>", "x", "y", (0.0, 1.0), (0.0, 1.0)).line(
            vec![(0.0, 0.0), (1.0, 1.0)],
            COLORS[0],
            false,
            "m&m",
        );
        assert_eq!((c.px(0.0), c.py(0.0)), (LEFT, HEIGHT - BOTTOM));
        assert_eq!((c.px(1.0), c.py(1.0)), (WIDTH - RIGHT, TOP));
        let svg = c.to_svg();
        assert!(svg.contains("a &lt;b&gt;") && svg.contains("m&amp;m"), "{svg}");
        assert!(svg.contains(&format!(
            "points=\"{LEFT:.1},{:.1} {:.1},{TOP:.1}\"",
            HEIGHT - BOTTOM,
            WIDTH - RIGHT
        )));
        assert_eq!(svg, c.to_svg(), "the same chart gives the same bytes");
    }
}
