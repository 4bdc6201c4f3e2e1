//! Small hand-written SVG charts (grouped bars and lines) for BENCHMARKS.md.
//! No plotting crate: a chart is a few dozen elements of plain SVG.

use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

/// One named series of a bar chart: one value per group (`None`: not measured).
#[derive(Clone, Debug)]
pub struct BarSeries {
    /// Legend label.
    pub name: String,
    /// One value per group.
    pub values: Vec<Option<f64>>,
}

/// One named series of a line chart.
#[derive(Clone, Debug)]
pub struct LineSeries {
    /// Legend label.
    pub name: String,
    /// Points `(x, y, label)`; the label is written next to the point.
    pub points: Vec<(f64, f64, String)>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" upper bound and tick step for an axis from 0 to `max`.
fn nice_axis(max: f64) -> (f64, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        "0".to_owned()
    } else if v.abs() >= 100.0 || (v.fract() == 0.0) {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn header(out: &mut String, title: &str) {
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{x}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{t}</text>
"##,
        x = WIDTH / 2.0,
        t = esc(title)
    );
}

fn y_axis(out: &mut String, y_max: f64, step: f64, label: &str) {
    let plot_h = HEIGHT - TOP - BOTTOM;
    let mut v = 0.0;
    while v <= y_max + step * 0.01 {
        let y = TOP + plot_h - v / y_max * plot_h;
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{x2}" y2="{y:.1}" stroke="#ddd"/><text x="{tx}" y="{ty:.1}" text-anchor="end">{l}</text>"##,
            x2 = WIDTH - RIGHT,
            tx = LEFT - 6.0,
            ty = y + 4.0,
            l = fmt_tick(v)
        );
        v += step;
    }
    let _ = writeln!(
        out,
        r##"<text x="16" y="{y}" transform="rotate(-90 16 {y})" text-anchor="middle">{l}</text>"##,
        y = TOP + plot_h / 2.0,
        l = esc(label)
    );
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b}" stroke="black"/><line x1="{LEFT}" y1="{b}" x2="{r}" y2="{b}" stroke="black"/>"##,
        b = HEIGHT - BOTTOM,
        r = WIDTH - RIGHT
    );
}

fn legend(out: &mut String, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        let y = TOP + 10.0 + i as f64 * 20.0;
        let x = WIDTH - RIGHT + 15.0;
        let _ = writeln!(
            out,
            r##"<rect x="{x}" y="{y0}" width="12" height="12" fill="{c}"/><text x="{tx}" y="{ty}">{n}</text>"##,
            y0 = y - 10.0,
            c = COLORS[i % COLORS.len()],
            tx = x + 18.0,
            ty = y,
            n = esc(name)
        );
    }
}

/// A grouped bar chart: `groups` along x (e.g. "N=10"), one bar per series in
/// each group. Missing values are drawn as "n/a".
pub fn bar_chart(title: &str, y_label: &str, groups: &[String], series: &[BarSeries]) -> String {
    let mut out = String::new();
    header(&mut out, title);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |a, b| a.max(*b));
    let (y_max, step) = nice_axis(max);
    y_axis(&mut out, y_max, step, y_label);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let group_w = plot_w / groups.len().max(1) as f64;
    let bar_w = group_w * 0.8 / series.len().max(1) as f64;
    for (g, group) in groups.iter().enumerate() {
        let gx = LEFT + g as f64 * group_w;
        let _ = writeln!(
            out,
            r##"<text x="{x:.1}" y="{y}" text-anchor="middle">{l}</text>"##,
            x = gx + group_w / 2.0,
            y = HEIGHT - BOTTOM + 18.0,
            l = esc(group)
        );
        for (s, ser) in series.iter().enumerate() {
            let x = gx + group_w * 0.1 + s as f64 * bar_w;
            match ser.values.get(g).copied().flatten() {
                Some(v) => {
                    let h = (v / y_max * plot_h).max(0.5);
                    let _ = writeln!(
                        out,
                        r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{c}"><title>{n}: {v}</title></rect><text x="{tx:.1}" y="{ty:.1}" text-anchor="middle" font-size="10">{l}</text>"##,
                        y = TOP + plot_h - h,
                        w = bar_w * 0.92,
                        c = COLORS[s % COLORS.len()],
                        n = esc(&ser.name),
                        tx = x + bar_w * 0.46,
                        ty = TOP + plot_h - h - 3.0,
                        l = fmt_tick(v)
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        r##"<text x="{tx:.1}" y="{ty:.1}" text-anchor="middle" font-size="10" fill="#888">n/a</text>"##,
                        tx = x + bar_w * 0.46,
                        ty = TOP + plot_h - 3.0
                    );
                }
            }
        }
    }
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    legend(&mut out, &names);
    out.push_str("</svg>\n");
    out
}

/// A line chart with linear axes from 0; each point may carry a label.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[LineSeries]) -> String {
    let mut out = String::new();
    header(&mut out, title);
    let pts = || series.iter().flat_map(|s| s.points.iter());
    let y_max = pts().fold(0.0f64, |a, p| a.max(p.1));
    let x_max = pts().fold(0.0f64, |a, p| a.max(p.0));
    let (y_max, y_step) = nice_axis(y_max);
    let (x_max, x_step) = nice_axis(x_max);
    y_axis(&mut out, y_max, y_step, y_label);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + x / x_max * plot_w;
    let py = |y: f64| TOP + plot_h - y / y_max * plot_h;
    let mut v = 0.0;
    while v <= x_max + x_step * 0.01 {
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{b}" x2="{x:.1}" y2="{b2}" stroke="black"/><text x="{x:.1}" y="{ty}" text-anchor="middle">{l}</text>"##,
            x = px(v),
            b = HEIGHT - BOTTOM,
            b2 = HEIGHT - BOTTOM + 4.0,
            ty = HEIGHT - BOTTOM + 18.0,
            l = fmt_tick(v)
        );
        v += x_step;
    }
    let _ = writeln!(
        out,
        r##"<text x="{x}" y="{y}" text-anchor="middle">{l}</text>"##,
        x = LEFT + plot_w / 2.0,
        y = HEIGHT - 15.0,
        l = esc(x_label)
    );
    for (i, s) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let path: Vec<String> = s
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1)))
            .collect();
        let _ = writeln!(
            out,
            r##"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"/>"##,
            path.join(" ")
        );
        for p in &s.points {
            let _ = writeln!(
                out,
                r##"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{c}"><title>{n}: ({a}, {b})</title></circle><text x="{tx:.1}" y="{ty:.1}" font-size="10" fill="{c}">{l}</text>"##,
                x = px(p.0),
                y = py(p.1),
                n = esc(&s.name),
                a = fmt_tick(p.0),
                b = fmt_tick(p.1),
                tx = px(p.0) + 5.0,
                ty = py(p.1) - 5.0,
                l = esc(&p.2)
            );
        }
    }
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    legend(&mut out, &names);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axis_covers_max() {
        for max in [0.0, 0.3, 1.0, 7.0, 42.0, 999.0] {
            let (top, step) = nice_axis(max);
            assert!(top >= max && step > 0.0, "{max} -> {top} {step}");
        }
    }

    #[test]
    fn charts_are_svg() {
        let bars = bar_chart(
            "t",
            "s",
            &["N=10".into(), "N=100".into()],
            &[BarSeries {
                name: "a<b".into(),
                values: vec![Some(1.0), None],
            }],
        );
        assert!(bars.starts_with("<svg") && bars.contains("n/a") && bars.contains("a&lt;b"));
        let lines = line_chart(
            "t",
            "x",
            "y",
            &[LineSeries {
                name: "s".into(),
                points: vec![(1.0, 2.0, "m=1".into()), (2.0, 1.0, "m=2".into())],
            }],
        );
        assert!(lines.contains("<polyline") && lines.ends_with("</svg>\n"));
    }
}
