//! Image folders in the usual "ImageFolder" layout, one subfolder per class:
//!
//! ```text
//! ROOT/
//!   benign/    a.png  b.jpg  ...
//!   malignant/ c.jpeg d.PNG  ...
//! ```
//!
//! [`read_image_folder`] reads every image into one row of a [`RawTable`]:
//! the pixels, resized to one size, as numeric columns in channel, row,
//! column (CHW) order, the layout conv2d layers take, then a text column
//! `label` with the class (subfolder) name. From there the table follows the
//! path of a CSV file (encoding, splits, normalization).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageReader};

use crate::error::{Error, Result};

use super::raw::RawTable;
use super::raw_column::{is_missing, NumericCells, RawColumn, TextCells};

/// The layout expected, for messages.
const LAYOUT: &str = "ROOT/<class>/<image>.png (or .jpg, .jpeg)";

/// Reads the images under `root`, one subfolder per class, into a table with
/// one row per image.
///
/// - `size` is `(height, width)`: every image is resized to it (bilinear,
///   [`FilterType::Triangle`]; an image already that size is kept as is).
/// - `channels` is 1 (grey) or 3 (RGB); images are converted to it.
///
/// Columns: `channels * height * width` numeric columns named `c{c}_y{y}_x{x}`
/// in CHW order (`c0_y0_x0`, `c0_y0_x1`, ...), pixel values `0.0..=255.0`
/// unscaled (16-bit images are brought down to 8 bits), then the text column
/// `label`. Classes are the subfolders sorted by name, and the images of a
/// class are sorted by file name, so the row order is the same on every
/// run. Files ending in `.png`, `.jpg` or `.jpeg` (any case) are images;
/// other files, nested folders and hidden entries (names starting with `.`)
/// are skipped. `lines` numbers the rows 2, 3, ... as if a header line came
/// first; `source` is `root` as text.
///
/// Errors:
/// - [`Error::Options`] for `channels` other than 1 or 3, or a zero or too
///   large `size`;
/// - [`Error::Io`] when `root`, a class folder or an image file cannot be read;
/// - [`Error::Dataset`] when `root` is not a folder, has no class
///   subfolders or only one, a class folder has no images or a name that
///   is not UTF-8 or reads as a missing value (`NA`, `?`, ...), an image cannot be decoded (the message names
///   the file), or the table would not fit in memory.
pub fn read_image_folder(root: &Path, size: (usize, usize), channels: usize) -> Result<RawTable> {
    let (height, width) = size;
    if channels != 1 && channels != 3 {
        return Err(Error::Options(format!("image channels must be 1 (grey) or 3 (RGB), got {channels}")));
    }
    let (Ok(h32), Ok(w32)) = (u32::try_from(height), u32::try_from(width)) else {
        return Err(Error::Options(format!("image size {height}x{width} is too large; pick a smaller size")));
    };
    if height == 0 || width == 0 {
        return Err(Error::Options(format!(
            "image size {height}x{width} (height x width) has no pixels; give both sides at least 1"
        )));
    }
    // Numeric columns per row (C * H * W) and pixels per channel (H * W).
    let Some(features) = height.checked_mul(width).and_then(|p| p.checked_mul(channels)) else {
        return Err(Error::Options(format!("image size {height}x{width} is too large; pick a smaller size")));
    };

    let ImageList { classes, files } = list_images(root)?;

    // One Vec per pixel column, filled image by image: no row-major copy of
    // the whole data set. Reserve it all up front so that a data set too
    // large for memory fails here with a message, not midway with an abort.
    let rows = files.len();
    let mut pixels: Vec<Vec<f32>> = Vec::new();
    let too_large = || {
        Error::Dataset(format!(
            "{}: {rows} images of {channels}x{height}x{width} pixels need about {:.1} GiB of memory \
             as f32; pick a smaller image size or fewer images",
            root.display(),
            (rows as f64) * (features as f64) * 4.0 / f64::from(1u32 << 30)
        ))
    };
    pixels.try_reserve_exact(features).map_err(|_| too_large())?;
    for _ in 0..features {
        let mut column = Vec::new();
        column.try_reserve_exact(rows).map_err(|_| too_large())?;
        pixels.push(column);
    }

    let mut labels = TextCells::default();
    for (class, path) in &files {
        let image = decode(path)?;
        let chw = chw_pixels(&image, (h32, w32), channels);
        drop(image);
        debug_assert_eq!(chw.len(), features);
        for (column, v) in pixels.iter_mut().zip(chw) {
            column.push(v);
        }
        labels.push(&classes[*class]);
    }

    let mut headers = Vec::with_capacity(features + 1);
    for c in 0..channels {
        for y in 0..height {
            for x in 0..width {
                headers.push(format!("c{c}_y{y}_x{x}"));
            }
        }
    }
    headers.push("label".to_string());
    let mut columns: Vec<RawColumn> = Vec::with_capacity(features + 1);
    columns.extend(pixels.into_iter().map(|v| RawColumn::Numeric(NumericCells::from_values(v))));
    columns.push(RawColumn::Text(labels));
    Ok(RawTable {
        source: root.display().to_string(),
        headers,
        columns,
        lines: (2..rows as u64 + 2).collect(),
    })
}

/// The classes and image files found under a root folder.
struct ImageList {
    /// Class (subfolder) names, sorted.
    classes: Vec<String>,
    /// Every image as (index into `classes`, path), by class then file name.
    files: Vec<(usize, PathBuf)>,
}

/// Finds the classes and image files under `root`, checking the layout (see
/// [`read_image_folder`] for the errors).
fn list_images(root: &Path) -> Result<ImageList> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::Dataset(format!(
                "{} is not a folder; pass the folder that holds the class subfolders: {LAYOUT}",
                root.display()
            )))
        }
        Err(e) => return Err(io_err(root, e, "cannot read the image folder", "check the path")),
    }

    let mut classes = Vec::new();
    let mut class_dirs = Vec::new();
    for (name, path, is_dir) in list_dir(root)? {
        if !is_dir {
            continue; // loose files next to the class folders: not part of any class
        }
        let Some(name) = name.to_str() else {
            return Err(Error::Dataset(format!(
                "{}: the folder name is not UTF-8 text, so it cannot be a class label; rename it",
                path.display()
            )));
        };
        if is_missing(name) {
            return Err(Error::Dataset(format!(
                "{}: the class name '{name}' reads as a missing value; rename the folder",
                path.display()
            )));
        }
        classes.push(name.to_string());
        class_dirs.push(path);
    }
    match classes.len() {
        0 => {
            return Err(Error::Dataset(format!(
                "{} has no class subfolders; put the images in one subfolder per class: {LAYOUT}",
                root.display()
            )))
        }
        1 => {
            return Err(Error::Dataset(format!(
                "{} has only one class subfolder ('{}'); a classifier needs at least two: add one \
                 subfolder per class, {LAYOUT}",
                root.display(),
                classes[0]
            )))
        }
        _ => {}
    }

    let mut files = Vec::new();
    for (class, dir) in class_dirs.iter().enumerate() {
        let before = files.len();
        for (name, path, is_dir) in list_dir(dir)? {
            if !is_dir && is_image_name(&name) {
                files.push((class, path));
            }
        }
        if files.len() == before {
            return Err(Error::Dataset(format!(
                "{} has no PNG or JPEG images; add images of class '{}' or remove the folder",
                dir.display(),
                classes[class]
            )));
        }
    }
    Ok(ImageList { classes, files })
}

/// The entries of `dir` that are not hidden, sorted by name, each as (name,
/// path, whether it is a folder). Symbolic links are followed; one that
/// leads nowhere counts as a file (and fails when read, if it is an image).
fn list_dir(dir: &Path) -> Result<Vec<(OsString, PathBuf, bool)>> {
    let list_err = |e| io_err(dir, e, "cannot list the folder", "check that it exists and is readable");
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(list_err)? {
        let entry = entry.map_err(list_err)?;
        let name = entry.file_name();
        if name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        let is_dir = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
        entries.push((name, path, is_dir));
    }
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// Whether a file name ends in `.png`, `.jpg` or `.jpeg`, in any case.
fn is_image_name(name: &OsStr) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg"].iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Decodes one image, its format guessed from its first bytes (the
/// extension when they say nothing), so that a JPEG named `.png` still reads.
/// An image resized to `(height, width)` (bilinear) as grey or RGB pixels
/// (`channels` of 1 or 3), 0-255, in channel, row, column order: what an
/// image folder's row holds.
fn chw_pixels(image: &DynamicImage, (h, w): (u32, u32), channels: usize) -> Vec<f32> {
    // interleaved samples, row-major: sample i is channel i % C of pixel i / C
    let samples: Vec<u8> = if channels == 1 {
        imageops::resize(&image.to_luma8(), w, h, FilterType::Triangle).into_raw()
    } else {
        imageops::resize(&image.to_rgb8(), w, h, FilterType::Triangle).into_raw()
    };
    let plane = (h * w) as usize;
    let mut out = vec![0.0; samples.len()];
    for (i, &v) in samples.iter().enumerate() {
        out[(i % channels) * plane + i / channels] = f32::from(v);
    }
    out
}

/// A PNG or JPEG file's bytes as an image folder's row would hold them
/// (see [`read_image_folder`]): resized to `size` (height, width), grey
/// or RGB by `channels`, in channel, row, column order.
pub fn image_bytes_to_chw(bytes: &[u8], size: (usize, usize), channels: usize) -> Result<Vec<f32>> {
    let reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Dataset(format!("cannot read the image: {e}")))?;
    let image = reader.decode().map_err(|e| {
        Error::Dataset(format!(
            "cannot decode the image (PNG or JPEG expected): {}",
            e.to_string().trim_end_matches('.')
        ))
    })?;
    Ok(chw_pixels(&image, (size.0 as u32, size.1 as u32), channels))
}

fn decode(path: &Path) -> Result<DynamicImage> {
    let read_err = |e| io_err(path, e, "cannot read the image file", "check that it is readable");
    let reader = ImageReader::open(path).map_err(read_err)?.with_guessed_format().map_err(read_err)?;
    reader.decode().map_err(|e| {
        // The decoders' messages may end in '.', which reads badly before "; ".
        let reason = e.to_string();
        let reason = reason.trim_end_matches('.');
        Error::Dataset(format!(
            "{}: cannot decode image: {reason}; remove or replace the file",
            path.display()
        ))
    })
}

/// An [`Error::Io`] for `path` whose message says what failed and what to do.
fn io_err(path: &Path, e: std::io::Error, what: &str, todo: &str) -> Error {
    Error::io(path, std::io::Error::new(e.kind(), format!("{what} ({e}); {todo}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, ImageFormat, Luma, Rgb, RgbImage};

    /// A fresh folder under the system temp folder, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("medgpu_image_folder_{}_{tag}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        /// Creates `ROOT/rel` (and its parents) and returns its path.
        fn dir(&self, rel: &str) -> PathBuf {
            let p = self.0.join(rel);
            std::fs::create_dir_all(&p).unwrap();
            p
        }

        /// Writes `bytes` to `ROOT/rel`, creating the folders on the way.
        fn file(&self, rel: &str, bytes: &[u8]) -> PathBuf {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, bytes).unwrap();
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A 5-wide, 7-high grey image with pixel (x, y) = base + 10 y + x.
    fn grey(base: u8) -> GrayImage {
        GrayImage::from_fn(5, 7, |x, y| Luma([base + 10 * y as u8 + x as u8]))
    }

    /// Saves `image` as `ROOT/rel` in `format`.
    fn save(t: &TempDir, rel: &str, image: &DynamicImage, format: ImageFormat) -> PathBuf {
        let p = t.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        image.save_with_format(&p, format).unwrap();
        p
    }

    /// The values of numeric column `name`.
    fn values<'a>(t: &'a RawTable, name: &str) -> &'a [f32] {
        let c = t.column(name).unwrap_or_else(|| panic!("no column {name}"));
        let RawColumn::Numeric(n) = &t.columns[c] else { panic!("{name} is not numeric") };
        n.values()
    }

    fn labels(t: &RawTable) -> Vec<String> {
        let RawColumn::Text(l) = t.columns.last().unwrap() else { panic!("label is not text") };
        l.iter().map(str::to_string).collect()
    }

    fn err(root: &Path, size: (usize, usize), channels: usize) -> String {
        read_image_folder(root, size, channels).unwrap_err().to_string()
    }

    #[test]
    fn image_folder_shape_labels_and_order() {
        let t = TempDir::new("shape");
        // Class "b" first on disk, files out of order, mixed case and formats.
        save(&t, "b/z.png", &grey(100).into(), ImageFormat::Png);
        save(&t, "b/a.JPG", &grey(0).into(), ImageFormat::Jpeg);
        save(&t, "a/m.jpeg", &grey(50).into(), ImageFormat::Jpeg);
        save(&t, "a/B.PNG", &grey(20).into(), ImageFormat::Png);
        // Skipped: hidden files and folders, other extensions, nested
        // folders, loose files in the root.
        save(&t, "a/.hidden.png", &grey(1).into(), ImageFormat::Png);
        save(&t, ".cache/x.png", &grey(1).into(), ImageFormat::Png);
        save(&t, "a/nested/x.png", &grey(1).into(), ImageFormat::Png);
        t.file("a/notes.txt", b"not an image");
        t.file("a/x.png.bak", b"not an image");
        t.file("README.md", b"readme");

        let table = read_image_folder(&t.0, (7, 5), 1).unwrap();
        assert_eq!(table.rows(), 4);
        assert_eq!(table.headers.len(), 7 * 5 + 1);
        assert_eq!(table.columns.len(), 7 * 5 + 1);
        assert!(table.columns.iter().all(|c| c.len() == 4));
        assert_eq!(table.headers[0], "c0_y0_x0");
        assert_eq!(table.headers[1], "c0_y0_x1");
        assert_eq!(table.headers[5], "c0_y1_x0");
        assert_eq!(table.headers[34], "c0_y6_x4");
        assert_eq!(table.headers[35], "label");
        assert_eq!(labels(&table), vec!["a", "a", "b", "b"]);
        assert_eq!(table.lines, vec![2, 3, 4, 5]);
        assert_eq!(table.source, t.0.display().to_string());
        // Rows by class, then file name: a/B.PNG, a/m.jpeg, b/a.JPG, b/z.png.
        // PNG is exact; JPEG is lossy but close on a smooth ramp.
        let first = values(&table, "c0_y0_x0");
        assert_eq!((first[0], first[3]), (20.0, 100.0));
        assert!((first[1] - 50.0).abs() <= 4.0 && first[2].abs() <= 4.0, "{first:?}");
        let last = values(&table, "c0_y6_x4");
        assert_eq!((last[0], last[3]), (84.0, 164.0));
        assert!((last[1] - 114.0).abs() <= 4.0 && (last[2] - 64.0).abs() <= 4.0, "{last:?}");
    }

    #[test]
    fn image_folder_grey_png_same_size_is_exact() {
        let t = TempDir::new("grey");
        save(&t, "x/1.png", &grey(7).into(), ImageFormat::Png);
        save(&t, "y/1.png", &grey(90).into(), ImageFormat::Png);
        let table = read_image_folder(&t.0, (7, 5), 1).unwrap();
        for y in 0..7 {
            for x in 0..5 {
                let v = values(&table, &format!("c0_y{y}_x{x}"));
                let expected = (10 * y + x) as f32;
                assert_eq!(v, [7.0 + expected, 90.0 + expected], "y {y} x {x}");
                // Column position: y * W + x.
                assert_eq!(table.column(&format!("c0_y{y}_x{x}")), Some(y * 5 + x));
            }
        }
        assert_eq!(table.cell_text(1, 0), "90");
    }

    #[test]
    fn image_folder_rgb_chw_order() {
        let t = TempDir::new("rgb");
        // 3 wide, 2 high; channel c of pixel (x, y) = 100 c + 10 y + x.
        let rgb = RgbImage::from_fn(3, 2, |x, y| {
            let v = 10 * y as u8 + x as u8;
            Rgb([v, 100 + v, 200 + v])
        });
        save(&t, "p/1.png", &rgb.into(), ImageFormat::Png);
        save(&t, "q/1.png", &GrayImage::from_pixel(3, 2, Luma([42])).into(), ImageFormat::Png);
        let table = read_image_folder(&t.0, (2, 3), 3).unwrap();
        assert_eq!(table.headers.len(), 3 * 2 * 3 + 1);
        for c in 0..3 {
            for y in 0..2 {
                for x in 0..3 {
                    let name = format!("c{c}_y{y}_x{x}");
                    assert_eq!(table.column(&name), Some(c * 6 + y * 3 + x), "{name}");
                    // The grey image becomes RGB with equal channels.
                    assert_eq!(values(&table, &name), [(100 * c + 10 * y + x) as f32, 42.0], "{name}");
                }
            }
        }
        // The same folder read as grey: one channel, luma of the RGB pixels.
        let grey_table = read_image_folder(&t.0, (2, 3), 1).unwrap();
        assert_eq!(grey_table.headers.len(), 2 * 3 + 1);
        assert_eq!(values(&grey_table, "c0_y1_x2")[1], 42.0);
    }

    #[test]
    fn image_folder_resize_to_other_size() {
        let t = TempDir::new("resize");
        save(&t, "a/1.png", &RgbImage::from_pixel(5, 7, Rgb([10, 20, 30])).into(), ImageFormat::Png);
        save(&t, "b/1.jpg", &grey(0).into(), ImageFormat::Jpeg);
        let table = read_image_folder(&t.0, (4, 6), 3).unwrap();
        assert_eq!(table.rows(), 2);
        assert_eq!(table.headers.len(), 3 * 4 * 6 + 1);
        assert_eq!(table.headers[3 * 4 * 6 - 1], "c2_y3_x5");
        // A flat image stays flat when resized.
        assert_eq!(values(&table, "c0_y0_x0")[0], 10.0);
        assert_eq!(values(&table, "c1_y2_x3")[0], 20.0);
        assert_eq!(values(&table, "c2_y3_x5")[0], 30.0);
        // Smaller, grey.
        let small = read_image_folder(&t.0, (1, 2), 1).unwrap();
        assert_eq!(small.headers, vec!["c0_y0_x0", "c0_y0_x1", "label"]);
    }

    #[test]
    fn image_folder_bad_arguments() {
        let t = TempDir::new("args");
        save(&t, "a/1.png", &grey(0).into(), ImageFormat::Png);
        save(&t, "b/1.png", &grey(0).into(), ImageFormat::Png);
        for channels in [0, 2, 4] {
            assert!(matches!(read_image_folder(&t.0, (7, 5), channels), Err(Error::Options(_))));
            assert!(err(&t.0, (7, 5), channels).contains(&format!("1 (grey) or 3 (RGB), got {channels}")));
        }
        assert!(matches!(read_image_folder(&t.0, (0, 5), 1), Err(Error::Options(_))));
        assert!(matches!(read_image_folder(&t.0, (5, 0), 3), Err(Error::Options(_))));
        assert!(matches!(read_image_folder(&t.0, (usize::MAX, 2), 1), Err(Error::Options(_))));
        // Fits in u32 per side, but not in memory: refused before decoding.
        let e = err(&t.0, (1 << 30, 1 << 30), 3);
        assert!(e.contains("GiB of memory"), "{e}");
    }

    #[test]
    fn image_folder_root_missing_or_not_a_folder() {
        let t = TempDir::new("root");
        let missing = t.0.join("nope");
        assert!(matches!(read_image_folder(&missing, (7, 5), 1), Err(Error::Io { .. })));
        let e = err(&missing, (7, 5), 1);
        assert!(e.contains("nope") && e.contains("cannot read the image folder"), "{e}");
        let file = t.file("f.png", b"x");
        let e = err(&file, (7, 5), 1);
        assert!(e.contains("f.png is not a folder") && e.contains("ROOT/<class>/<image>.png"), "{e}");
    }

    #[test]
    fn image_folder_no_classes_or_one_class() {
        let t = TempDir::new("classes");
        t.file("loose.png", b"x");
        t.dir(".hidden");
        let e = err(&t.0, (7, 5), 1);
        assert!(matches!(read_image_folder(&t.0, (7, 5), 1), Err(Error::Dataset(_))));
        assert!(e.contains("has no class subfolders") && e.contains(&t.0.display().to_string()), "{e}");
        save(&t, "only/1.png", &grey(0).into(), ImageFormat::Png);
        let e = err(&t.0, (7, 5), 1);
        assert!(e.contains("only one class subfolder ('only')") && e.contains("at least two"), "{e}");
    }

    #[test]
    fn image_folder_class_without_images() {
        let t = TempDir::new("empty_class");
        save(&t, "a/1.png", &grey(0).into(), ImageFormat::Png);
        t.file("b/notes.txt", b"x");
        t.file("b/.hidden.png", b"x");
        let e = err(&t.0, (7, 5), 1);
        assert!(e.contains("has no PNG or JPEG images") && e.contains("class 'b'"), "{e}");
        assert!(e.contains(&t.0.join("b").display().to_string()), "{e}");
    }

    #[test]
    fn image_folder_class_named_like_a_missing_value() {
        let t = TempDir::new("na_class");
        save(&t, "a/1.png", &grey(0).into(), ImageFormat::Png);
        save(&t, "NA/1.png", &grey(0).into(), ImageFormat::Png);
        let e = err(&t.0, (7, 5), 1);
        assert!(e.contains("'NA' reads as a missing value"), "{e}");
    }

    #[test]
    fn image_folder_corrupt_file_is_named() {
        let t = TempDir::new("corrupt");
        save(&t, "a/1.png", &grey(0).into(), ImageFormat::Png);
        t.file("b/x.png", b"this is not a PNG file at all");
        let e = err(&t.0, (7, 5), 1);
        assert!(matches!(read_image_folder(&t.0, (7, 5), 1), Err(Error::Dataset(_))));
        assert!(e.contains("x.png: cannot decode image:") && e.contains("remove or replace the file"), "{e}");
        // A truncated JPEG: a real header, then nothing.
        let mut jpeg = Vec::new();
        DynamicImage::from(grey(0))
            .write_to(&mut std::io::Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        std::fs::remove_file(t.0.join("b/x.png")).unwrap();
        t.file("b/y.jpg", &jpeg[..20]);
        let e = err(&t.0, (7, 5), 1);
        assert!(e.contains("y.jpg: cannot decode image:"), "{e}");
        // An empty file.
        std::fs::remove_file(t.0.join("b/y.jpg")).unwrap();
        t.file("b/z.jpeg", b"");
        let e = err(&t.0, (7, 5), 1);
        assert!(e.contains("z.jpeg: cannot decode image:"), "{e}");
    }
}
