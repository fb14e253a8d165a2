//! The benchmark's figures drawn, for people who would rather look than read: SVG files
//! (`plotters`) in the report directory.
//!
//! - `rates.svg`: each scenario's rate beside its reference of the same run (the `rte_hash`
//!   loop for `l4-established-<n>`, the one-worker figure for a scenario on several workers,
//!   `l4-new` for `l7-lifecycle` and `synflood-l4`, `l4-established-100k` for
//!   `l7-spliced-100k`, `strays-ack` for the other `strays-<kind>`, `io-fwd` for the rest),
//!   one bar pair per scenario and worker count;
//! - `latency.svg`: per-burst latency against percentile, one curve per scenario, from its
//!   HdrHistogram (the x axis stretches the tail: 90, 99, 99.9 % equally apart).

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use plotters::prelude::*;

use super::{Report, Scenario};

/// Percentiles each curve has a point at, as `1 - 10^-x` for x from 0 to 5 by 1/8.
const CURVE_STEPS: u32 = 40;

/// Per-burst latency at percentiles spread evenly on the curve's axis, then the maximum.
pub(super) fn percentile_curve(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut points: Vec<(f64, u64)> = (0..=CURVE_STEPS)
        .map(|k| {
            let q = 1.0 - 10f64.powf(-f64::from(k) / 8.0);
            (q * 100.0, h.value_at_quantile(q))
        })
        .collect();
    points.push((100.0, h.max()));
    points
}

/// Where a percentile sits on the curve's x axis: how many nines.
fn nines(percentile: f64) -> f64 {
    let rest = (1.0 - percentile / 100.0).max(1e-6);
    -rest.log10()
}

/// The label of a scenario with its worker count.
fn label(s: &Scenario) -> String {
    if s.workers > 1 || s.ratio_to_one_worker.is_some() {
        format!("{} x{}", s.name, s.workers)
    } else {
        s.name.clone()
    }
}

/// The reference a scenario's rate is read against, in the same run.
fn reference<'a>(s: &Scenario, all: &'a [Scenario]) -> Option<&'a Scenario> {
    let find = |name: &str| all.iter().find(|r| r.name == name && r.workers == 1);
    if s.workers > 1 {
        return find(&s.name);
    }
    if let Some(n) = s.name.strip_prefix("l4-established-") {
        return find(&format!("rte-hash-{n}"));
    }
    match s.name.as_str() {
        "io-fwd" => None,
        n if n.starts_with("rte-hash-") => None,
        "l7-lifecycle" | "synflood-l4" => find("l4-new"),
        "strays-ack" => find("io-fwd"),
        n if n.starts_with("strays-") => find("strays-ack"),
        "l7-spliced-100k" => find("l4-established-100k"),
        _ => find("io-fwd"),
    }
}

/// Draws the report's SVG files into `dir`; returns their paths.
pub(super) fn draw(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let rates = dir.join("rates.svg");
    let latency = dir.join("latency.svg");
    draw_rates(report, &rates).map_err(|e| format!("{}: {e}", rates.display()))?;
    draw_latency(report, &latency).map_err(|e| format!("{}: {e}", latency.display()))?;
    Ok(vec![rates, latency])
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_rates(report: &Report, path: &Path) -> DrawResult {
    let rows: Vec<(&Scenario, Option<&Scenario>)> =
        report.scenarios.iter().map(|s| (s, reference(s, &report.scenarios))).collect();
    let height = 120 + 34 * rows.len() as u32;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = rows.iter().flat_map(|(s, r)| [Some(s.mpps), r.map(|r| r.mpps)]).flatten().fold(0.0f64, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("stickwire bench: Mpps per scenario ({})", report.commit), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(230)
        .build_cartesian_2d(0.0..top * 1.15 + 0.01, 0.0..rows.len() as f64)?;
    chart.configure_mesh().disable_y_mesh().y_labels(0).x_desc("million frames per second (reference: grey)").draw()?;
    let n = rows.len() as f64;
    for (i, (s, r)) in rows.iter().enumerate() {
        let y = n - 1.0 - i as f64;
        let colour = if s.workers > 1 { RED.mix(0.8) } else { BLUE.mix(0.8) };
        chart.draw_series(std::iter::once(Rectangle::new([(0.0, y + 0.5), (s.mpps, y + 0.9)], colour.filled())))?;
        if let Some(r) = r {
            let grey = RGBColor(150, 150, 150).filled();
            chart.draw_series(std::iter::once(Rectangle::new([(0.0, y + 0.1), (r.mpps, y + 0.45)], grey)))?;
        }
        let text = match r {
            Some(r) => format!("{}  {:.2} ({:.2} x {})", label(s), s.mpps, s.mpps / r.mpps, label(r)),
            None => format!("{}  {:.2}", label(s), s.mpps),
        };
        chart.draw_series(std::iter::once(Text::new(text, (top * 0.01, y + 0.55), ("sans-serif", 12))))?;
    }
    root.present()?;
    Ok(())
}

fn draw_latency(report: &Report, path: &Path) -> DrawResult {
    let curves: Vec<&Scenario> = report.scenarios.iter().filter(|s| !s.latency_curve.is_empty()).collect();
    let root = SVGBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = curves.iter().flat_map(|s| s.latency_curve.iter().map(|p| p.1)).max().unwrap_or(1).max(2);
    let mut chart = ChartBuilder::on(&root)
        .caption("stickwire bench: per-burst latency by percentile", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .right_y_label_area_size(10)
        .build_cartesian_2d(0.0..6.0f64, (1u64..top * 2).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("ns per burst")
        .x_label_formatter(&|x| {
            let p = 100.0 * (1.0 - 10f64.powf(-x));
            if *x >= 5.9 {
                "max".into()
            } else {
                format!("{p:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
            }
        })
        .draw()?;
    for (i, s) in curves.iter().enumerate() {
        let colour = Palette99::pick(i).stroke_width(2);
        let points: Vec<(f64, u64)> =
            s.latency_curve.iter().map(|&(p, ns)| (if p >= 100.0 { 6.0 } else { nines(p) }, ns.max(1))).collect();
        chart
            .draw_series(LineSeries::new(points, colour))?
            .label(label(s))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], Palette99::pick(i).stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(name: &str, workers: usize, mpps: f64) -> Scenario {
        let mut h = Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 10).unwrap();
        }
        Scenario {
            name: name.into(),
            workers,
            mpps,
            cps: None,
            ns_per_frame: 1.0,
            ratio_to_io_fwd: 1.0,
            ratio_to_rte_hash: None,
            ratio_to_l4_established: None,
            ratio_to_l4_new: None,
            reference_mpps: None,
            ratio_to_l4_new_frames: None,
            ratio_to_strays_ack: None,
            syns_per_s: None,
            legit_started: None,
            legit_completed: None,
            handoffs_per_frame: None,
            ratio_to_one_worker: (workers > 1).then_some(1.9),
            cores_had: None,
            ratio_per_core_had: None,
            p50_ns: 1,
            p99_ns: 1,
            p999_ns: 1,
            max_ns: 1,
            latency_curve: percentile_curve(&h),
        }
    }

    #[test]
    fn curves_rise_with_the_percentile_and_end_at_the_maximum() {
        let s = scenario("x", 1, 1.0);
        let c = &s.latency_curve;
        assert!(c.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1), "{c:?}");
        // The histogram keeps 3 significant digits: the maximum within them.
        let &(last_p, last_ns) = c.last().unwrap();
        assert!(last_p == 100.0 && (10_000..10_010).contains(&last_ns), "{c:?}");
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn references_are_the_same_runs_figures() {
        let all = vec![
            scenario("io-fwd", 1, 20.0),
            scenario("rte-hash-1m", 1, 8.0),
            scenario("l4-established-1m", 1, 10.0),
            scenario("l4-established-1m", 2, 19.0),
            scenario("l4-new", 1, 5.0),
            scenario("l7-lifecycle", 1, 2.0),
            scenario("synflood-l4", 1, 3.0),
            scenario("strays-ack", 1, 12.0),
            scenario("strays-fragment", 1, 14.0),
        ];
        let name = |s: Option<&Scenario>| s.map(label);
        assert_eq!(name(reference(&all[2], &all)), Some("rte-hash-1m".into()));
        assert_eq!(name(reference(&all[3], &all)), Some("l4-established-1m".into()));
        assert_eq!(name(reference(&all[5], &all)), Some("l4-new".into()));
        assert_eq!(name(reference(&all[4], &all)), Some("io-fwd".into()));
        assert_eq!(name(reference(&all[0], &all)), None);
        assert_eq!(name(reference(&all[6], &all)), Some("l4-new".into()));
        assert_eq!(name(reference(&all[7], &all)), Some("io-fwd".into()));
        assert_eq!(name(reference(&all[8], &all)), Some("strays-ack".into()));
        let dir = std::env::temp_dir().join(format!("stickwire-report-test-{}", std::process::id()));
        let report = Report { machine: "m".into(), command: "c".into(), commit: "abc".into(), scenarios: all };
        let files = draw(&report, &dir).unwrap();
        for f in &files {
            let svg = std::fs::read_to_string(f).unwrap();
            assert!(svg.starts_with("<svg") && svg.contains("l4-established-1m x2"), "{}", f.display());
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
