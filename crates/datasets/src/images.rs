//! Images as bytes and back: PNG decoding for the ImageNet folders, and the inverse transform
//! for samples (raster-order RGB bytes to a PNG, one image or a grid).

use crate::error::{bad, Result};
use std::path::Path;

/// Decodes an 8-bit RGB PNG into raster-order bytes; returns `(bytes, height, width)`.
pub fn decode_png(path: &Path) -> Result<(Vec<u8>, usize, usize)> {
    let file = std::fs::File::open(path).map_err(|e| bad(path, e))?;
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info().map_err(|e| bad(path, format!("not a valid PNG: {e}")))?;
    let (color, depth) = reader.output_color_type();
    if color != png::ColorType::Rgb || depth != png::BitDepth::Eight {
        return Err(bad(path, format!("{color:?} {depth:?} PNG; expected 8-bit RGB")));
    }
    let mut buf = vec![0; reader.output_buffer_size().ok_or_else(|| bad(path, "image too large"))?];
    let info = reader.next_frame(&mut buf).map_err(|e| bad(path, format!("corrupt PNG data: {e}")))?;
    buf.truncate(info.buffer_size());
    Ok((buf, info.height as usize, info.width as usize))
}

/// Writes raster-order RGB bytes as a PNG.
pub fn encode_png(path: &Path, rgb: &[u8], height: usize, width: usize) -> Result<()> {
    if rgb.len() != height * width * 3 {
        return Err(bad(path, format!("{} bytes for a {height}x{width} RGB image", rgb.len())));
    }
    let file = std::fs::File::create(path).map_err(|e| bad(path, e))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| bad(path, e))?;
    w.write_image_data(rgb).map_err(|e| bad(path, e))
}

/// Writes `images` (each `height * width * 3` bytes) as one PNG grid of `cols` columns with a
/// 2-pixel white gutter.
pub fn write_grid(path: &Path, images: &[&[u8]], height: usize, width: usize, cols: usize) -> Result<()> {
    let cols = cols.clamp(1, images.len().max(1));
    let rows = images.len().div_ceil(cols);
    let (gh, gw) = (rows * (height + 2) + 2, cols * (width + 2) + 2);
    let mut grid = vec![255u8; gh * gw * 3];
    for (k, img) in images.iter().enumerate() {
        let (y0, x0) = (2 + (k / cols) * (height + 2), 2 + (k % cols) * (width + 2));
        for r in 0..height {
            let dst = ((y0 + r) * gw + x0) * 3;
            grid[dst..dst + width * 3].copy_from_slice(&img[r * width * 3..(r + 1) * width * 3]);
        }
    }
    encode_png(path, &grid, gh, gw)
}
