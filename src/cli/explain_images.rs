//! `medgpu explain --images DIR`: each explained image as a PNG with its
//! attribution map laid over it, and optionally a grid of the first N.

use medgpu::data::Dataset;
use medgpu::model::explain::Explanation;
use medgpu::{Error, Model, Result};
use std::path::Path;

/// Pixels per input pixel in the written images (digits are 8x8).
fn zoom(h: usize, w: usize) -> u32 {
    (256 / h.max(w).max(1)).clamp(1, 16) as u32
}

/// Writes `DIR/line-N.png` per explained row and, with `grid`, `DIR/grid.png`.
pub fn write(
    model: &Model,
    ds: &Dataset,
    chosen: &[usize],
    e: &Explanation,
    dir: &Path,
    grid: Option<usize>,
) -> Result<()> {
    let Some([c, h, w]) = model.file().model.input_shape else {
        return Err(Error::Usage("--images needs an image model (one with an input shape C,H,W)".into()));
    };
    std::fs::create_dir_all(dir).map_err(|err| Error::io(dir, err))?;
    let cols = ds.cols();
    let mut tiles = Vec::new();
    for (k, r) in chosen.iter().enumerate() {
        let pixels = &ds.features[r * cols..(r + 1) * cols];
        let tile = overlay(pixels, e.row(k), [c, h, w]);
        save(&tile, &dir.join(format!("line-{}.png", ds.lines[*r])))?;
        if grid.is_some_and(|n| tiles.len() < n) {
            tiles.push(tile);
        }
    }
    if !tiles.is_empty() {
        save(&side_by_side(&tiles), &dir.join("grid.png"))?;
    }
    println!("wrote {} images to {}", chosen.len(), dir.display());
    Ok(())
}

/// The image in grey (its first channel, scaled to its own range) with the
/// map in red over it (scaled to the map's largest absolute value), zoomed.
fn overlay(pixels: &[f32], map: &[f64], [_, h, w]: [usize; 3]) -> image::RgbImage {
    let plane = &pixels[..h * w];
    let (lo, hi) = plane.iter().fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    let top = map[..h * w].iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
    let z = zoom(h, w);
    image::RgbImage::from_fn(w as u32 * z, h as u32 * z, |x, y| {
        let i = (y / z) as usize * w + (x / z) as usize;
        let grey = if hi > lo { (plane[i] - lo) / (hi - lo) } else { 0.0 };
        let heat = (map[i].abs() / top) as f32;
        let mix = |base: f32, tint: f32| ((base * (1.0 - 0.6 * heat) + tint * 0.6 * heat) * 255.0) as u8;
        image::Rgb([mix(grey, 1.0), mix(grey, 0.0), mix(grey, 0.0)])
    })
}

/// Tiles left to right with a 4-pixel white gap.
fn side_by_side(tiles: &[image::RgbImage]) -> image::RgbImage {
    let gap = 4;
    let width = tiles.iter().map(|t| t.width() + gap).sum::<u32>() - gap;
    let height = tiles.iter().map(|t| t.height()).max().unwrap_or(1);
    let mut out = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let mut x0 = 0;
    for t in tiles {
        for (x, y, p) in t.enumerate_pixels() {
            out.put_pixel(x0 + x, y, *p);
        }
        x0 += t.width() + gap;
    }
    out
}

/// Encodes a PNG in memory and writes it atomically.
fn save(img: &image::RgbImage, path: &Path) -> Result<()> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|err| Error::Gpu(format!("encoding {}: {err}", path.display())))?;
    medgpu::model::checkpoint::write_atomic(path, bytes.get_ref())
}
