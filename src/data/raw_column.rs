//! Compact storage for the columns of a raw table: numbers as `f32` while
//! every cell of a column is a number or a missing marker, text (all cells
//! back to back in one buffer) once a column holds anything else.

use std::borrow::Cow;
use std::collections::HashSet;

/// Missing-cell markers, matched in any case; a trimmed cell equal to one is missing.
const MISSING_MARKERS: [&str; 5] = ["", "NA", "N/A", "NaN", "?"];

/// Bits of `f32::NAN`; a missing cell is stored as this NaN with the
/// marker's index and letter case in the low payload bits.
const NAN_BITS: u32 = 0x7fc0_0000;

/// Integers below this magnitude are exact in `f32` (2^24).
const F32_EXACT_INT: f32 = 16_777_216.0;

/// Whether a (trimmed) cell means "missing": empty, `NA`, `N/A`, `NaN` or `?`, any case.
pub(crate) fn is_missing(cell: &str) -> bool {
    missing_marker(cell).is_some()
}

/// The index of the marker `cell` spells, if it is one.
fn missing_marker(cell: &str) -> Option<usize> {
    if cell.len() > 3 {
        return None;
    }
    MISSING_MARKERS.iter().position(|m| cell.eq_ignore_ascii_case(m))
}

/// A missing cell as a NaN that remembers its spelling (marker and case).
fn missing_value(marker: usize, cell: &str) -> f32 {
    let lower = cell.bytes().enumerate().fold(0u32, |m, (i, b)| m | (u32::from(b.is_ascii_lowercase()) << i));
    f32::from_bits(NAN_BITS | marker as u32 | lower << 3)
}

/// The spelling of a missing cell stored by [`missing_value`]; `""` for any other NaN.
fn missing_text(v: f32) -> String {
    let bits = v.to_bits();
    let payload = bits & !NAN_BITS;
    let marker = (payload & 7) as usize;
    if bits & NAN_BITS != NAN_BITS || bits >> 31 != 0 || payload >> 6 != 0 || marker >= MISSING_MARKERS.len()
    {
        return String::new();
    }
    let lower = payload >> 3;
    MISSING_MARKERS[marker]
        .bytes()
        .enumerate()
        .map(|(i, b)| char::from(if lower >> i & 1 == 1 { b.to_ascii_lowercase() } else { b }))
        .collect()
}

/// Reads a cell as a number: `Some((value, exact))` for a number or a
/// missing marker (NaN), `None` for anything else. `exact` is false when the
/// cell's text cannot be recovered from the value: an integer with a sign
/// or leading zeros, one too large for `f32` to hold exactly, or a value
/// that is not finite. Decimal numbers count as exact: their text comes back
/// as the shortest form of the `f32` (`"0.50"` gives `"0.5"`).
fn read_number(cell: &str) -> Option<(f32, bool)> {
    if let Some(m) = missing_marker(cell) {
        return Some((missing_value(m, cell), true));
    }
    let v = cell.parse::<f32>().ok()?;
    if !v.is_finite() {
        return Some((v, false));
    }
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    let exact = if digits.bytes().all(|b| b.is_ascii_digit()) {
        !(digits.len() > 1 && digits.starts_with('0')) && v.abs() < F32_EXACT_INT
    } else {
        !cell.starts_with('+')
    };
    Some((v, exact))
}

/// Strings stored back to back in one buffer: one allocation per column
/// instead of one per cell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextCells {
    text: String,
    ends: Vec<usize>,
}

impl TextCells {
    /// Number of cells.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no cells.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Cell `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// The cells in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Appends a cell.
    pub fn push(&mut self, cell: &str) {
        self.text.push_str(cell);
        self.ends.push(self.text.len());
    }

    /// Keeps only the first `n` cells.
    fn truncate(&mut self, n: usize) {
        self.ends.truncate(n);
        self.text.truncate(self.ends.last().copied().unwrap_or(0));
    }

    fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

/// The cells of a numeric column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NumericCells {
    values: Vec<f32>,
    /// Rows (ascending) whose text does not follow from the value, see
    /// [`NumericCells::text`]; their text is in `exact_text`, same order.
    exact_rows: Vec<usize>,
    exact_text: TextCells,
}

impl NumericCells {
    /// A column of plain numbers whose text is the value formatted back
    /// (integers below 2^24 or decimals, no missing markers), e.g. pixel
    /// values read from images.
    pub(crate) fn from_values(values: Vec<f32>) -> Self {
        NumericCells { values, exact_rows: Vec::new(), exact_text: TextCells::default() }
    }

    /// One value per row; NaN for a missing cell.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no cells.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The text of cell `row`: the original text for a missing marker, an
    /// integer with a sign or leading zeros, one beyond `f32` precision or
    /// a value that is not finite; otherwise the value formatted back
    /// (`"17"`, `"0.5"`).
    ///
    /// # Panics
    /// If `row >= self.len()`.
    pub fn text(&self, row: usize) -> Cow<'_, str> {
        let v = self.values[row];
        if let Ok(k) = self.exact_rows.binary_search(&row) {
            Cow::Borrowed(self.exact_text.get(k))
        } else if v.is_nan() {
            Cow::Owned(missing_text(v))
        } else {
            Cow::Owned(v.to_string())
        }
    }

    fn push(&mut self, value: f32, exact: bool, cell: &str) {
        if !exact {
            self.exact_rows.push(self.values.len());
            self.exact_text.push(cell);
        }
        self.values.push(value);
    }

    /// The distinct texts of the column.
    fn distinct(&self) -> Vec<Cow<'_, str>> {
        let mut seen = HashSet::new();
        let mut exact = self.exact_rows.iter().peekable();
        for (r, v) in self.values.iter().enumerate() {
            if exact.next_if_eq(&&r).is_none() {
                seen.insert(v.to_bits());
            }
        }
        let mut out: Vec<Cow<str>> = seen
            .into_iter()
            .map(|b| {
                let v = f32::from_bits(b);
                Cow::Owned(if v.is_nan() { missing_text(v) } else { v.to_string() })
            })
            .collect();
        out.extend(self.exact_text.iter().map(Cow::Borrowed));
        out
    }
}

/// One column of a raw table.
#[derive(Clone, Debug, PartialEq)]
pub enum RawColumn {
    /// Every cell a number or a missing marker (NaN).
    Numeric(NumericCells),
    /// At least one cell is neither: every cell kept as text, trimmed.
    Text(TextCells),
}

impl Default for RawColumn {
    fn default() -> Self {
        RawColumn::Numeric(NumericCells::default())
    }
}

impl RawColumn {
    /// Number of cells.
    pub fn len(&self) -> usize {
        match self {
            RawColumn::Numeric(n) => n.len(),
            RawColumn::Text(t) => t.len(),
        }
    }

    /// Whether there are no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text of cell `row` (see [`NumericCells::text`] for numeric columns).
    ///
    /// # Panics
    /// If `row >= self.len()`.
    pub fn text(&self, row: usize) -> Cow<'_, str> {
        match self {
            RawColumn::Numeric(n) => n.text(row),
            RawColumn::Text(t) => Cow::Borrowed(t.get(row)),
        }
    }

    /// Whether cell `row` is missing.
    ///
    /// # Panics
    /// If `row >= self.len()`.
    pub fn is_missing(&self, row: usize) -> bool {
        match self {
            RawColumn::Numeric(n) => n.values[row].is_nan(),
            RawColumn::Text(t) => is_missing(t.get(row)),
        }
    }

    /// The distinct cell texts, sorted.
    pub fn distinct(&self) -> Vec<Cow<'_, str>> {
        let mut out = match self {
            RawColumn::Numeric(n) => n.distinct(),
            RawColumn::Text(t) => {
                let seen: HashSet<&str> = t.iter().collect();
                seen.into_iter().map(Cow::Borrowed).collect()
            }
        };
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Appends a (trimmed) cell; the first cell that is neither a number nor
    /// a missing marker turns the column into text.
    pub(crate) fn push(&mut self, cell: &str) {
        match self {
            RawColumn::Text(t) => t.push(cell),
            RawColumn::Numeric(n) => match read_number(cell) {
                Some((v, exact)) => n.push(v, exact, cell),
                None => {
                    let mut t = TextCells::default();
                    for r in 0..n.len() {
                        t.push(&n.text(r));
                    }
                    t.push(cell);
                    *self = RawColumn::Text(t);
                }
            },
        }
    }

    /// Keeps only the first `rows` cells, handing back the memory of the others.
    pub(crate) fn truncate(&mut self, rows: usize) {
        match self {
            RawColumn::Numeric(n) => {
                n.values.truncate(rows);
                let k = n.exact_rows.partition_point(|&r| r < rows);
                n.exact_rows.truncate(k);
                n.exact_text.truncate(k);
            }
            RawColumn::Text(t) => t.truncate(rows),
        }
        self.shrink_to_fit();
    }

    /// Frees spare capacity once the column is complete.
    pub(crate) fn shrink_to_fit(&mut self) {
        match self {
            RawColumn::Numeric(n) => {
                n.values.shrink_to_fit();
                n.exact_rows.shrink_to_fit();
                n.exact_text.shrink_to_fit();
            }
            RawColumn::Text(t) => t.shrink_to_fit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(cells: &[&str]) -> RawColumn {
        let mut c = RawColumn::default();
        for cell in cells {
            c.push(cell);
        }
        c
    }

    fn texts(c: &RawColumn) -> Vec<String> {
        (0..c.len()).map(|r| c.text(r).into_owned()).collect()
    }

    #[test]
    fn numeric_cells_keep_their_text() {
        let cells = ["17", "-0.245", "", "NA", "n/a", "nan", "?", "007", "+5", "123456789", "inf", "-0"];
        let c = column(&cells);
        let RawColumn::Numeric(n) = &c else { panic!("not numeric: {c:?}") };
        assert_eq!(texts(&c), cells);
        assert_eq!(&n.values()[..2], &[17.0, -0.245]);
        assert!(n.values()[2..7].iter().all(|v| v.is_nan()));
        assert_eq!(n.values()[7..9], [7.0, 5.0]);
        assert_eq!(n.exact_rows, vec![7, 8, 9, 10]);
        assert!(c.is_missing(3) && !c.is_missing(0));
        // Decimals come back in their shortest form.
        assert_eq!(texts(&column(&["0.50", "1e3", "1.5"])), vec!["0.5", "1000", "1.5"]);
        assert_eq!(f32::NAN.to_bits(), NAN_BITS);
        assert_eq!(missing_text(f32::NAN), "");
    }

    #[test]
    fn text_cell_turns_the_column_into_text() {
        let c = column(&["1", "NA", "007", "x", "2.50"]);
        let RawColumn::Text(t) = &c else { panic!("not text: {c:?}") };
        assert_eq!(t.iter().collect::<Vec<_>>(), vec!["1", "NA", "007", "x", "2.50"]);
        assert!(c.is_missing(1) && !c.is_missing(3));
        assert_eq!(c.distinct(), vec!["007", "1", "2.50", "NA", "x"]);
    }

    #[test]
    fn distinct_numeric() {
        let c = column(&["2", "10", "2", "", "07", "07", "0.5"]);
        assert_eq!(c.distinct(), vec!["", "0.5", "07", "10", "2"]);
    }
}
