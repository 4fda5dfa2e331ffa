//! WFDB records (PhysioNet's format: MIT-BIH and most public ECG sets): the
//! header (`RECORD.hea`) and its signal files in format 16 or 212, read into
//! a table of physical values with one column per signal, named by its
//! description (`MLII`, `V5`).

use super::raw::RawTable;
use crate::error::{Error, Result};
use std::path::Path;

/// One signal line of a header.
#[derive(Clone, Debug, PartialEq)]
struct Signal {
    file: String,
    format: u32,
    offset: u64,
    gain: f64,
    baseline: f64,
    name: String,
}

/// Reads a single-segment record from its header into physical values,
/// (digital − baseline) / gain, one column per signal and one row per sample.
pub fn read_wfdb(header: &Path) -> Result<RawTable> {
    let source = header.display().to_string();
    let bad = |line: usize, message: String| Error::Data {
        file: source.clone(),
        line: line as u64,
        column: 0,
        message,
    };
    let text = std::fs::read_to_string(header).map_err(|e| Error::io(header, e))?;
    let mut lines =
        text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let (rec_line, record) = lines.next().ok_or_else(|| bad(1, "the header has no record line".into()))?;
    let fields: Vec<&str> = record.split_whitespace().collect();
    if fields[0].contains('/') {
        return Err(bad(
            rec_line + 1,
            "multi-segment records are not supported: read one segment's header".into(),
        ));
    }
    let nsig: usize = fields.get(1).and_then(|v| v.parse().ok()).ok_or_else(|| {
        bad(rec_line + 1, "the record line needs the number of signals: NAME NSIG FS NSAMP".into())
    })?;
    let nsamp: Option<usize> = fields.get(3).and_then(|v| v.parse().ok());
    let mut signals = Vec::new();
    for _ in 0..nsig {
        let (i, line) = lines
            .next()
            .ok_or_else(|| bad(0, format!("the header names {nsig} signals but has fewer signal lines")))?;
        signals.push(signal_line(line).map_err(|m| bad(i + 1, m))?);
    }
    let dir = header.parent().unwrap_or(Path::new("."));
    let mut columns: Vec<Vec<f32>> = vec![Vec::new(); nsig];
    let mut done = vec![false; nsig];
    for s in 0..nsig {
        if done[s] {
            continue;
        }
        // the signals of one file are interleaved, in header order
        let group: Vec<usize> = (s..nsig).filter(|j| signals[*j].file == signals[s].file).collect();
        let sig = &signals[s];
        let path = dir.join(&sig.file);
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::Dataset(format!("{source}: signal file {} cannot be read: {e}", path.display()))
        })?;
        let bytes = bytes.get(sig.offset as usize..).unwrap_or(&[]);
        let digital = match sig.format {
            16 => {
                bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as i32).collect::<Vec<i32>>()
            }
            212 => unpack_212(bytes),
            f => {
                return Err(Error::Dataset(format!(
                    "{source}: signal format {f} is not supported: formats 16 and 212 are"
                )))
            }
        };
        let frames = nsamp.unwrap_or(digital.len() / group.len()).min(digital.len() / group.len());
        for (k, j) in group.iter().enumerate() {
            let s = &signals[*j];
            columns[*j] = (0..frames)
                .map(|t| ((digital[t * group.len() + k] as f64 - s.baseline) / s.gain) as f32)
                .collect();
            done[*j] = true;
        }
    }
    let rows = columns.iter().map(Vec::len).min().unwrap_or(0);
    let mut t =
        RawTable { source: source.clone(), lines: (2..rows as u64 + 2).collect(), ..RawTable::default() };
    let mut names: Vec<String> = Vec::new();
    for (s, values) in signals.iter().zip(columns) {
        let mut name = s.name.clone();
        while names.contains(&name) {
            name.push('_');
        }
        t.push_numeric_column(&name, values[..rows].to_vec())?;
        names.push(name);
    }
    Ok(t)
}

/// `FILE FORMAT[+OFFSET] [GAIN[(BASELINE)][/UNITS] [RES [ZERO [INIT [CHECKSUM [BLOCK [DESCRIPTION]]]]]]]`.
fn signal_line(line: &str) -> std::result::Result<Signal, String> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let (file, format) = match f.as_slice() {
        [file, format, ..] => (file.to_string(), *format),
        _ => return Err("a signal line needs at least FILE FORMAT".into()),
    };
    let digits: String = format.chars().take_while(|c| c.is_ascii_digit()).collect();
    let fmt: u32 = digits.parse().map_err(|_| format!("signal format '{format}' is not a number"))?;
    let offset = format.split_once('+').and_then(|(_, o)| o.parse().ok()).unwrap_or(0);
    let zero: f64 = f.get(4).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let (mut gain, mut baseline) = (200.0, zero);
    if let Some(g) = f.get(2) {
        let g = g.split('/').next().unwrap_or("");
        let (value, base) = match g.split_once('(') {
            Some((v, b)) => (v, b.trim_end_matches(')').parse::<f64>().ok()),
            None => (g, None),
        };
        let value: f64 = value.parse().map_err(|_| format!("gain '{g}' is not a number"))?;
        if value != 0.0 {
            gain = value;
        }
        if let Some(b) = base {
            baseline = b;
        }
    }
    let name = if f.len() > 8 { f[8..].join(" ") } else { String::new() };
    let name = if name.is_empty() { file.trim_end_matches(".dat").to_string() } else { name };
    Ok(Signal { file, format: fmt, offset, gain, baseline, name })
}

/// Format 212: two 12-bit two's-complement samples in three bytes; the
/// first in byte 0 and the low nibble of byte 1, the second in byte 2 and
/// the high nibble of byte 1.
fn unpack_212(bytes: &[u8]) -> Vec<i32> {
    let sign = |v: i32| if v > 2047 { v - 4096 } else { v };
    let mut out = Vec::with_capacity(bytes.len() * 2 / 3);
    for c in bytes.chunks(3) {
        if c.len() >= 2 {
            out.push(sign(c[0] as i32 | ((c[1] as i32 & 0x0F) << 8)));
        }
        if c.len() == 3 {
            out.push(sign(c[2] as i32 | ((c[1] as i32 & 0xF0) << 4)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_212_unpacks_the_hand_worked_bytes() {
        // 0x123 and 0x456: bytes 0x23, 0x41 (high nibbles 4 and 1), 0x56
        assert_eq!(unpack_212(&[0x23, 0x41, 0x56]), [0x123, 0x456]);
        // 1 and -1 (0xFFF): 0x01, 0xF0, 0xFF
        assert_eq!(unpack_212(&[0x01, 0xF0, 0xFF]), [1, -1]);
        // an odd count: the last sample in two bytes
        assert_eq!(unpack_212(&[0x23, 0x41, 0x56, 0xFF, 0x07]), [0x123, 0x456, 2047]);
    }

    #[test]
    fn a_format_16_record_reads_back_as_physical_values() {
        let dir = std::env::temp_dir().join(format!("medgpu-wfdb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // two leads, 100 samples: a sine in mV, stored with gain 200 and baseline 1024
        let mv: Vec<[f64; 2]> =
            (0..100).map(|t| [(t as f64 * 0.1).sin(), 0.5 * (t as f64 * 0.05).cos()]).collect();
        let digital: Vec<i32> =
            mv.iter().flat_map(|p| p.map(|v| (v * 200.0).round() as i32 + 1024)).collect();
        let b16: Vec<u8> = digital.iter().flat_map(|d| (*d as i16).to_le_bytes()).collect();
        std::fs::write(dir.join("r16.dat"), b16).unwrap();
        // (format 212 is read back in tests/wfdb.rs, from the built-in ECG)
        let hea = "# a test record\nr16 2 360 100\nr16.dat 16 200(1024)/mV 11 1024 0 0 0 MLII\n\
                   r16.dat 16 200(1024)/mV 11 1024 0 0 0 V5\n";
        let path = dir.join("r16.hea");
        std::fs::write(&path, hea).unwrap();
        let t = read_wfdb(&path).unwrap();
        assert_eq!((t.headers.clone(), t.rows()), (vec!["MLII".to_string(), "V5".to_string()], 100));
        for (r, p) in mv.iter().enumerate() {
            for (c, want) in p.iter().enumerate() {
                let got: f64 = t.cell_text(r, c).parse().unwrap();
                assert!((got - want).abs() <= 0.5 / 200.0 + 1e-6, "row {r}, signal {c}: {got} vs {want}");
            }
        }
        std::fs::write(dir.join("bad.hea"), "bad 1 360 10\nbad.dat 80 200 11 0 0 0 0 I\n").unwrap();
        std::fs::write(dir.join("bad.dat"), [0u8; 10]).unwrap();
        let e = read_wfdb(&dir.join("bad.hea")).unwrap_err().to_string();
        assert!(e.contains("format 80 is not supported"), "{e}");
        std::fs::write(dir.join("gone.hea"), "gone 1 360 10\nnowhere.dat 16 200 11 0 0 0 0 I\n").unwrap();
        let e = read_wfdb(&dir.join("gone.hea")).unwrap_err().to_string();
        assert!(e.contains("nowhere.dat cannot be read"), "{e}");
        std::fs::write(dir.join("multi.hea"), "multi/2 1 360 10\n").unwrap();
        let e = read_wfdb(&dir.join("multi.hea")).unwrap_err().to_string();
        assert!(e.contains("multi-segment"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
