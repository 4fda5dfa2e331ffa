//! The Open Inference Protocol (KServe v2) messages: an infer request
//! decoded into the model's normalized input rows, with a message naming
//! the input and what was expected for anything that does not fit, and the
//! model's answer encoded as output tensors.

use crate::data::{encode_apply_lenient, parse_raw_csv, Task};
use crate::model::predictions::csv_field;
use crate::model::{Inference, ModelFile, Predictions};
use serde::Deserialize;
use serde_json::{json, Value};

/// The name of the one-tensor input (the model's features in order).
pub const TENSOR_INPUT: &str = "input";

/// An infer request.
#[derive(Debug, Deserialize)]
pub struct InferRequest {
    /// Echoed in the response.
    #[serde(default)]
    pub id: Option<String>,
    /// The input tensors.
    pub inputs: Vec<InputTensor>,
    /// The outputs wanted (default: all).
    #[serde(default)]
    pub outputs: Option<Vec<RequestedOutput>>,
    /// `{"explain": "integrated-gradients"}` adds the attributions.
    #[serde(default)]
    pub parameters: Option<serde_json::Map<String, Value>>,
}

/// One input tensor of a request.
#[derive(Debug, Deserialize)]
pub struct InputTensor {
    /// `input`, or a raw column's name.
    pub name: String,
    /// Its shape, the batch (rows) first.
    pub shape: Vec<i64>,
    /// FP32, FP64, INT32, INT64 or BYTES.
    pub datatype: String,
    /// The values, row-major (flat, or nested arrays).
    pub data: Value,
}

/// An output a request asks for.
#[derive(Debug, Deserialize)]
pub struct RequestedOutput {
    /// Its name.
    pub name: String,
}

/// The model's input rows a request holds: normalized, rows x features.
pub struct Rows {
    /// Normalized features.
    pub normalized: Vec<f32>,
    /// Rows.
    pub rows: usize,
}

/// Flattens nested arrays into their leaves.
fn leaves(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| leaves(i, out)),
        other => out.push(other.clone()),
    }
}

/// The shape as sizes, with its row count first; a message if it is not
/// positive sizes.
fn sizes(t: &InputTensor) -> Result<Vec<usize>, String> {
    if t.shape.is_empty() || t.shape.iter().any(|d| *d < 1) {
        return Err(format!("input '{}': shape {:?} must be positive sizes, rows first", t.name, t.shape));
    }
    Ok(t.shape.iter().map(|d| *d as usize).collect())
}

/// Decodes `req`'s inputs for the model of `file`, up to `max_rows` rows.
pub fn decode(file: &ModelFile, req: &InferRequest, max_rows: usize) -> Result<Rows, String> {
    let f = file.encoding.num_features();
    match req.inputs.as_slice() {
        [] => {
            Err(format!("no inputs: send '{TENSOR_INPUT}' (FP32, shape [-1, {f}]) or one input per column"))
        }
        [t] if t.name == TENSOR_INPUT && t.datatype == "BYTES" => image_rows(file, t, max_rows),
        [t] if t.name == TENSOR_INPUT => tensor_rows(file, t, max_rows),
        _ => column_rows(file, &req.inputs, max_rows),
    }
}

/// One FP32 tensor of the model's features in the data's units: shape
/// `[rows, features]`, or `[rows, C, H, W]` for images and `[rows, T, F]`
/// for sequences.
fn tensor_rows(file: &ModelFile, t: &InputTensor, max_rows: usize) -> Result<Rows, String> {
    let f = file.encoding.num_features();
    let shape = sizes(t)?;
    let expected = expected_shape(file);
    let trailing: Vec<i64> = shape[1..].iter().map(|d| *d as i64).collect();
    let fits = trailing == [f as i64] || trailing == expected[1..];
    if !fits {
        return Err(format!(
            "input '{}': expected shape {}, received {:?}",
            t.name,
            shape_text(&expected),
            t.shape
        ));
    }
    if !matches!(t.datatype.as_str(), "FP32" | "FP64") {
        return Err(format!("input '{}': expected datatype FP32, received {}", t.name, t.datatype));
    }
    let rows = shape[0];
    if rows > max_rows {
        return Err(format!("input '{}': {rows} rows; a request holds at most {max_rows}", t.name));
    }
    let mut values = Vec::new();
    leaves(&t.data, &mut values);
    if values.len() != rows * f {
        return Err(format!(
            "input '{}': shape {:?} needs {} values, received {}",
            t.name,
            t.shape,
            rows * f,
            values.len()
        ));
    }
    let names = file.encoding.feature_names();
    let mut x = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let num = v.as_f64().filter(|n| n.is_finite() && n.abs() <= f32::MAX as f64);
        let Some(num) = num else {
            return Err(format!(
                "input '{}': row {}, feature {} ({}): {v} is not a finite number",
                t.name,
                i / f,
                i % f,
                names.get(i % f).map(String::as_str).unwrap_or("?")
            ));
        };
        x.push(num as f32);
    }
    file.preprocessor.apply(&mut x);
    Ok(Rows { normalized: x, rows })
}

/// Images as base64 PNG or JPEG files, one per row (shape `[rows]`),
/// resized and converted as an image folder's files are.
fn image_rows(file: &ModelFile, t: &InputTensor, max_rows: usize) -> Result<Rows, String> {
    use base64::Engine;
    let Some([c, h, w]) = file.model.input_shape else {
        return Err(format!(
            "input '{}': BYTES images are for image models; this one takes FP32 {}",
            t.name,
            shape_text(&expected_shape(file))
        ));
    };
    let shape = sizes(t)?;
    if shape.len() > 2 || shape.get(1).is_some_and(|d| *d != 1) {
        return Err(format!(
            "input '{}': BYTES images take shape [-1] (one file per row), received {:?}",
            t.name, t.shape
        ));
    }
    let rows = shape[0];
    if rows > max_rows {
        return Err(format!("input '{}': {rows} rows; a request holds at most {max_rows}", t.name));
    }
    let mut files = Vec::new();
    leaves(&t.data, &mut files);
    if files.len() != rows {
        return Err(format!(
            "input '{}': shape {:?} needs {rows} images, received {}",
            t.name,
            t.shape,
            files.len()
        ));
    }
    let mut x = Vec::with_capacity(rows * c * h * w);
    for (r, v) in files.iter().enumerate() {
        let text = v.as_str().ok_or_else(|| {
            format!("input '{}': row {r}: expected a base64 string of a PNG or JPEG file", t.name)
        })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("input '{}': row {r}: not base64: {e}", t.name))?;
        let pixels = crate::data::image_bytes_to_chw(&bytes, (h, w), c).map_err(|e| match e {
            crate::error::Error::Dataset(m) => format!("input '{}': row {r}: {m}", t.name),
            e => format!("input '{}': row {r}: {e}", t.name),
        })?;
        x.extend(pixels);
    }
    file.preprocessor.apply(&mut x);
    Ok(Rows { normalized: x, rows })
}

/// One input per raw column, in the data's own units (text for
/// categories; null for a missing value), encoded as `predict` encodes a
/// CSV file.
fn column_rows(file: &ModelFile, inputs: &[InputTensor], max_rows: usize) -> Result<Rows, String> {
    if file.source.window.is_some() || file.source.sequences.is_some() || file.model.input_shape.is_some() {
        return Err(format!(
            "this model takes one FP32 tensor '{TENSOR_INPUT}' of shape {}, not one input per column",
            shape_text(&expected_shape(file))
        ));
    }
    let columns: Vec<&str> = file.encoding.columns.iter().map(|c| c.name()).collect();
    if let Some(t) = inputs.iter().find(|t| !columns.contains(&t.name.as_str())) {
        return Err(format!(
            "unknown input '{}': the inputs are '{TENSOR_INPUT}' or the columns {}",
            t.name,
            columns.join(", ")
        ));
    }
    if let Some(c) = columns.iter().find(|c| !inputs.iter().any(|t| t.name == **c)) {
        return Err(format!("missing input '{c}': send every column ({})", columns.join(", ")));
    }
    let mut rows = None;
    let mut cells: Vec<Vec<String>> = Vec::new();
    for t in inputs {
        let shape = sizes(t)?;
        if shape.len() > 2 || shape.get(1).is_some_and(|d| *d != 1) {
            return Err(format!(
                "input '{}': expected shape [-1] or [-1, 1], received {:?}",
                t.name, t.shape
            ));
        }
        if *rows.get_or_insert(shape[0]) != shape[0] {
            return Err(format!(
                "input '{}': {} rows, the other inputs {}",
                t.name,
                shape[0],
                rows.unwrap_or(0)
            ));
        }
        let mut values = Vec::new();
        leaves(&t.data, &mut values);
        if values.len() != shape[0] {
            return Err(format!(
                "input '{}': shape {:?} needs {} values, received {}",
                t.name,
                t.shape,
                shape[0],
                values.len()
            ));
        }
        let column: Result<Vec<String>, String> =
            values.iter().enumerate().map(|(r, v)| cell(t, r, v)).collect();
        cells.push(column?);
    }
    let rows = rows.unwrap_or(0);
    if rows > max_rows {
        return Err(format!("{rows} rows; a request holds at most {max_rows}"));
    }
    let mut csv = inputs.iter().map(|t| csv_field(&t.name)).collect::<Vec<_>>().join(",");
    csv.push('\n');
    for r in 0..rows {
        let line: Vec<String> = cells.iter().map(|c| csv_field(&c[r])).collect();
        csv.push_str(&line.join(","));
        csv.push('\n');
    }
    let raw = parse_raw_csv(&csv, "request").map_err(|e| e.to_string())?;
    let (ds, bad) = encode_apply_lenient(&raw, &file.encoding).map_err(|e| e.to_string())?;
    if let Some((line, msg)) = bad.first() {
        // line 1 is the header: row r is line r + 2
        return Err(format!("row {}: {}", line.saturating_sub(2), msg.replace("request:", "")));
    }
    let mut x = ds.features;
    file.preprocessor.apply(&mut x);
    Ok(Rows { normalized: x, rows })
}

/// A raw column's cell as CSV text: a number, a text category, or empty
/// (missing) for null.
fn cell(t: &InputTensor, row: usize, v: &Value) -> Result<String, String> {
    match (t.datatype.as_str(), v) {
        (_, Value::Null) => Ok(String::new()),
        ("BYTES", Value::String(s)) => Ok(s.clone()),
        ("FP32" | "FP64" | "INT32" | "INT64", Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() => Ok(n.to_string()),
            _ => Err(format!("input '{}': row {row}: {n} is not a finite number", t.name)),
        },
        (d @ ("FP32" | "FP64" | "INT32" | "INT64" | "BYTES"), other) => {
            Err(format!("input '{}': row {row}: {other} does not fit datatype {d}", t.name))
        }
        (d, _) => {
            Err(format!("input '{}': datatype {d} is not one of FP32, FP64, INT32, INT64, BYTES", t.name))
        }
    }
}

/// The model's input tensor shape, -1 for the rows.
pub fn expected_shape(file: &ModelFile) -> Vec<i64> {
    let f = file.encoding.num_features() as i64;
    if let Some([c, h, w]) = file.model.input_shape {
        return vec![-1, c as i64, h as i64, w as i64];
    }
    match file.model.sequence_steps {
        Some(t) if t > 0 && f % t as i64 == 0 => vec![-1, t as i64, f / t as i64],
        _ => vec![-1, f],
    }
}

fn shape_text(s: &[i64]) -> String {
    format!("[{}]", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

/// The model's metadata: its inputs and outputs with datatypes and shapes.
pub fn metadata(name: &str, versions: &[String], file: &ModelFile) -> Value {
    let columns: Vec<Value> = file
        .encoding
        .columns
        .iter()
        .map(|c| {
            let dt = if matches!(c, crate::data::ColumnEncoding::OneHot { .. }) { "BYTES" } else { "FP32" };
            json!({"name": c.name(), "datatype": dt, "shape": [-1]})
        })
        .collect();
    json!({
        "name": name,
        "versions": versions,
        "platform": "medgpu",
        "inputs": [{"name": TENSOR_INPUT, "datatype": "FP32", "shape": expected_shape(file)}],
        "outputs": output_metadata(file),
        "parameters": {
            "task": file.task,
            "feature_names": file.encoding.feature_names(),
            "columns": columns,
            "labels": file.encoding.class_labels(),
            "temperature": file.decision.temperature,
            "threshold": file.decision.operating_point.as_ref().map(|o| o.threshold),
        }
    })
}

fn output_metadata(file: &ModelFile) -> Vec<Value> {
    let k = file.encoding.num_classes().unwrap_or(0) as i64;
    match file.task {
        Task::Classify => vec![
            json!({"name": "class", "datatype": "BYTES", "shape": [-1]}),
            json!({"name": "probabilities", "datatype": "FP32", "shape": [-1, k]}),
        ],
        Task::Regress => {
            vec![json!({"name": "value", "datatype": "FP32", "shape": [-1, file.encoding.target_width()]})]
        }
        Task::Reconstruct => vec![json!({"name": "reconstruction_error", "datatype": "FP32", "shape": [-1]})],
    }
}

/// The output tensors of the model's answer for `rows` rows.
pub fn outputs(file: &ModelFile, inf: &Inference, attributions: Option<&[f64]>) -> Vec<Value> {
    let rows = inf.outputs.len() / inf.cols.max(1);
    let mut out = match Predictions::from_inference(file, inf) {
        Predictions::Classes { labels, predicted, probabilities } => {
            let k = labels.len();
            let classes: Vec<&str> =
                predicted.iter().map(|c| labels.get(*c).map(String::as_str).unwrap_or("")).collect();
            vec![
                json!({"name": "class", "datatype": "BYTES", "shape": [rows], "data": classes}),
                json!({"name": "probabilities", "datatype": "FP32", "shape": [rows, k], "data": probabilities}),
            ]
        }
        Predictions::Values { names, values } => {
            vec![json!({"name": "value", "datatype": "FP32", "shape": [rows, names.len()], "data": values})]
        }
        Predictions::Reconstruction { errors, .. } => {
            vec![json!({"name": "reconstruction_error", "datatype": "FP32", "shape": [rows], "data": errors})]
        }
    };
    if let Some(a) = attributions {
        let f = file.encoding.num_features();
        out.push(json!({"name": "attributions", "datatype": "FP32", "shape": [rows, f], "data": a}));
    }
    out
}
