//! The loss curve of a run as a PNG (`RUN/loss.png`), redrawn at every evaluation: training
//! bits per byte per step (thin) and validation bits per byte (dots and line), log-scaled
//! steps when the run is long.
//!
//! Drawn with `plotters` into an RGB buffer, text in DejaVu Sans (embedded, so no system
//! fonts are needed), then encoded with the project's own PNG writer and renamed into place.

use crate::{Error, Result};
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 540;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped by the `dejavu` crate.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Draws `train` and `valid` (step, bits per byte) into `path`, titled `title`.
pub fn loss_curve(path: &Path, title: &str, train: &[(u64, f64)], valid: &[(u64, f64)]) -> Result<()> {
    register_font();
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    draw(&mut rgb, title, train, valid).map_err(|e| Error::Invalid(format!("{}: drawing the loss curve: {e}", path.display())))?;
    let tmp = path.with_extension("png.partial");
    datasets::images::encode_png(&tmp, &rgb, HEIGHT as usize, WIDTH as usize).map_err(|e| Error::Invalid(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

fn draw(rgb: &mut [u8], title: &str, train: &[(u64, f64)], valid: &[(u64, f64)]) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let all = || train.iter().chain(valid).filter(|p| p.1.is_finite());
    let last = all().map(|p| p.0).max().unwrap_or(1).max(1);
    let (lo, hi) = all().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let (lo, hi) = if lo <= hi { ((lo - 0.05 * (hi - lo)).max(0.0), hi + 0.05 * (hi - lo) + 1e-3) } else { (0.0, 8.0) };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0u64..last, lo..hi)?;
    chart.configure_mesh().x_desc("step").y_desc("bits per byte").label_style(("sans-serif", 15)).draw()?;
    let train_color = RGBColor(120, 150, 200);
    chart
        .draw_series(LineSeries::new(train.iter().copied().filter(|p| p.1.is_finite()), train_color.stroke_width(1)))?
        .label("train (per step)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], train_color.stroke_width(2)));
    let valid_color = RGBColor(200, 60, 40);
    chart
        .draw_series(LineSeries::new(valid.iter().copied(), valid_color.stroke_width(2)))?
        .label("validation")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], valid_color.stroke_width(2)));
    chart.draw_series(valid.iter().map(|&p| Circle::new(p, 4, valid_color.filled())))?;
    chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).label_font(("sans-serif", 15)).draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_a_png() {
        let dir = std::env::temp_dir().join(format!("st-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("loss.png");
        let train: Vec<(u64, f64)> = (1..200).map(|s| (s, 8.0 / (1.0 + s as f64 / 20.0) + 1.0)).collect();
        let valid = vec![(50, 3.0), (100, 2.4), (150, 2.1), (199, 2.0)];
        super::loss_curve(&path, "tiny on the embedded corpus", &train, &valid).unwrap();
        let (rgb, h, w) = datasets::images::decode_png(&path).unwrap();
        assert_eq!((h, w), (540, 900));
        // Some of both series' colours are drawn.
        let has = |c: [u8; 3]| rgb.chunks_exact(3).any(|p| p == c);
        assert!(has([200, 60, 40]) && has([120, 150, 200]));
        if std::env::var_os("ST_KEEP_PLOT").is_some() { std::fs::copy(&path, "/tmp/loss.png").unwrap(); }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
