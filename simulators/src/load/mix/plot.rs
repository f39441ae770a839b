//! The latency picture of a mix run: one curve per hop type, samples per
//! latency bucket on a logarithmic time axis, as SVG (no system fonts
//! needed).

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use crate::load::{Latencies, LoadError};

/// Writes the picture of `latencies` (by hop type) to `path`.
pub fn write_svg(path: &Path, title: &str, latencies: &BTreeMap<&'static str, Latencies>) -> Result<(), LoadError> {
    let fail = |e: &dyn std::fmt::Display| LoadError(format!("{}: {e}", path.display()));
    let series: Vec<(&str, Vec<(f64, u64)>)> =
        latencies.iter().map(|(k, l)| (*k, l.log_buckets_ms())).filter(|(_, b)| !b.is_empty()).collect();
    let max_ms = series.iter().flat_map(|(_, b)| b.iter().map(|(ms, _)| *ms)).fold(1.0f64, f64::max) * 1.5;
    let max_n = series.iter().flat_map(|(_, b)| b.iter().map(|(_, n)| *n)).max().unwrap_or(1).max(1);
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((0.1f64..max_ms).log_scale(), 0u64..max_n + max_n / 10 + 1)
        .map_err(|e| fail(&e))?;
    chart.configure_mesh().x_desc("latency (ms, log scale)").y_desc("hops per bucket").draw().map_err(|e| fail(&e))?;
    for (i, (name, buckets)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points = buckets.iter().map(|(ms, n)| (ms.max(0.1), *n));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
