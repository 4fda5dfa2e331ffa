//! `medgpu serve` as a client meets it: the real server process on
//! 127.0.0.1, port 0, spoken to over HTTP by a real client (ureq). Its
//! answers equal `medgpu predict`'s, every bad request is a 4xx naming the
//! input, no bad request stops it, tokens are checked, and SIGTERM lets the
//! requests in flight finish.

mod common;
use common::{medgpu, s, signal};

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("medgpu-serve-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The default MLP, trained once for this test binary.
fn mlp_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let run = tmp("mlp").join("breast");
        let (code, out, err) = medgpu(&["train", "--epochs", "5", "--quiet", "--out", s(&run)]);
        assert_eq!(code, 0, "{out}\n{err}");
        run
    })
}

/// A running server; killed when dropped.
struct Server {
    child: Child,
    url: String,
    /// Its output lines after the ready line (the access log).
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `medgpu serve ARGS --port 0` and waits for its ready line.
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_medgpu"))
            .arg("serve")
            .args(args)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut url = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(u) = line.strip_prefix("listening on ") {
                assert!(u.starts_with("http://127.0.0.1:"), "{u}");
                url = u.to_string();
            }
            if line.starts_with("ready:") {
                break;
            }
        }
        assert!(!url.is_empty(), "the server printed no address");
        // keep reading the access log so the server never blocks on a full pipe
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(|l| l.ok()) {
                sink.lock().unwrap().push(line);
            }
        });
        Server { child, url, log }
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder().http_status_as_error(false).build().into()
    }

    fn get(&self, path: &str) -> (u16, String) {
        let mut r = Self::agent().get(format!("{}{path}", self.url)).call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default())
    }

    fn post(&self, path: &str, body: &str, token: Option<&str>) -> (u16, String) {
        let mut req =
            Self::agent().post(format!("{}{path}", self.url)).header("Content-Type", "application/json");
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        match req.send(body) {
            Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first `n` rows of the built-in breast cancer data: (header, rows of cells).
fn breast_rows(n: usize) -> (Vec<String>, Vec<Vec<String>>) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/breast_cancer.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    let rows = lines.take(n).map(|l| l.split(',').map(str::to_string).collect()).collect();
    (header, rows)
}

/// An infer body of one FP32 tensor holding the feature columns of `rows`.
fn tensor_body(rows: &[Vec<String>]) -> String {
    let data: Vec<f64> =
        rows.iter().flat_map(|r| r[..30].iter().map(|c| c.parse::<f64>().unwrap())).collect();
    json!({"id": "t1", "inputs": [{"name": "input", "shape": [rows.len(), 30], "datatype": "FP32", "data": data}]})
        .to_string()
}

fn output<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no {name}: {answer}"))
}

#[test]
fn metadata_health_and_answers_equal_predict() {
    let run = mlp_run();
    let server = Server::start(&["--run", s(run)]);
    assert_eq!(server.get("/v2/health/live").0, 200);
    assert_eq!(server.get("/v2/health/ready").0, 200);
    assert_eq!(server.get("/v2/models/breast/ready").0, 200);
    assert_eq!(server.get("/v2/models/breast/versions/1/ready").0, 200);
    let (code, body) = server.get("/v2");
    assert_eq!(code, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["models"][0], "breast");
    let meta: Value = serde_json::from_str(&server.get("/v2/models/breast").1).unwrap();
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, 30]));
    assert_eq!(meta["outputs"][0]["name"], "class");
    assert_eq!(meta["parameters"]["feature_names"][3], "mean_area");

    // the answer equals `medgpu predict` on the same rows
    let (header, rows) = breast_rows(5);
    let (code, body) = server.post("/v2/models/breast/infer", &tensor_body(&rows), None);
    assert_eq!(code, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (answer["model_name"].as_str(), answer["model_version"].as_str(), answer["id"].as_str()),
        (Some("breast"), Some("1"), Some("t1"))
    );
    let dir = tmp("predict");
    let csv = dir.join("rows.csv");
    let text = std::iter::once(header.join(","))
        .chain(rows.iter().map(|r| r.join(",")))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&csv, text + "\n").unwrap();
    let preds = dir.join("preds.csv");
    let (code, _, err) = medgpu(&["predict", "--run", s(run), "--data", s(&csv), "--out", s(&preds)]);
    assert_eq!(code, 0, "{err}");
    let predicted = std::fs::read_to_string(&preds).unwrap();
    let classes = output(&answer, "class")["data"].as_array().unwrap().clone();
    let probs = output(&answer, "probabilities")["data"].as_array().unwrap().clone();
    for (i, line) in predicted.lines().skip(1).enumerate() {
        let c: Vec<&str> = line.split(',').collect();
        assert_eq!(classes[i], c[1], "row {i}");
        let (p0, p1): (f64, f64) = (c[2].parse().unwrap(), c[3].parse().unwrap());
        assert!(
            (probs[2 * i].as_f64().unwrap() - p0).abs() < 2e-6
                && (probs[2 * i + 1].as_f64().unwrap() - p1).abs() < 2e-6,
            "row {i}: {line} vs {probs:?}"
        );
    }

    // one input per raw column, in the data's own units, gives the same answer
    let inputs: Vec<Value> = header[..30]
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let col: Vec<f64> = rows.iter().map(|r| r[j].parse().unwrap()).collect();
            json!({"name": name, "shape": [rows.len()], "datatype": "FP64", "data": col})
        })
        .collect();
    let body = json!({"inputs": inputs, "outputs": [{"name": "probabilities"}]}).to_string();
    let (code, named) = server.post("/v2/models/breast/versions/1/infer", &body, None);
    assert_eq!(code, 200, "{named}");
    let named: Value = serde_json::from_str(&named).unwrap();
    assert_eq!(named["outputs"].as_array().unwrap().len(), 1);
    let named_probs = output(&named, "probabilities")["data"].as_array().unwrap();
    for (a, b) in named_probs.iter().zip(&probs) {
        assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-6, "{a} vs {b}");
    }

    // attributions on request
    let mut explain: Value = serde_json::from_str(&tensor_body(&rows[..2])).unwrap();
    explain["parameters"] = json!({"explain": "integrated-gradients"});
    let (code, body) = server.post("/v2/models/breast/infer", &explain.to_string(), None);
    assert_eq!(code, 200, "{body}");
    let a: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(output(&a, "attributions")["shape"], json!([2, 30]));

    let (code, metrics) = server.get("/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("medgpu_requests_total{model=\"breast\",status=\"200\"} 3"), "{metrics}");
    assert!(metrics.contains("medgpu_batch_rows_count"), "{metrics}");
}

#[test]
fn batched_answers_equal_the_answers_of_requests_alone() {
    let run = mlp_run();
    let (_, rows) = breast_rows(24);
    let alone: Vec<Value> = {
        let server = Server::start(&["--run", s(run), "--max-batch", "1"]);
        rows.iter()
            .map(|r| {
                serde_json::from_str(
                    &server.post("/v2/models/breast/infer", &tensor_body(std::slice::from_ref(r)), None).1,
                )
                .unwrap()
            })
            .collect()
    };
    let server = Server::start(&["--run", s(run), "--max-batch", "64", "--max-delay-ms", "20"]);
    let together: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .iter()
            .map(|r| {
                let server = &server;
                scope.spawn(move || {
                    serde_json::from_str::<Value>(
                        &server
                            .post("/v2/models/breast/infer", &tensor_body(std::slice::from_ref(r)), None)
                            .1,
                    )
                    .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut shared = 0;
    for (a, b) in alone.iter().zip(&together) {
        assert_eq!(
            output(a, "probabilities"),
            output(b, "probabilities"),
            "a row's answer changed when batched"
        );
        assert_eq!(output(a, "class"), output(b, "class"));
        shared += usize::from(b["parameters"]["batch_rows"].as_u64().unwrap() > 1);
    }
    eprintln!("{shared} of {} requests shared a replay", rows.len());
}

#[test]
fn bad_requests_are_4xx_naming_the_input_and_the_server_keeps_answering() {
    let run = mlp_run();
    let server = Server::start(&["--run", s(run), "--max-rows", "4", "--max-body", "64K"]);
    let (_, rows) = breast_rows(5);
    let good = tensor_body(&rows[..1]);
    let row: Vec<f64> = (0..30).map(|i| i as f64).collect();
    let with = |v: Value| v.to_string();
    let (huge, text, zeros) = (vec![1e39; 30], vec![vec!["a"; 30]], vec![0.0; 150]);
    let cases: Vec<(String, &str, u16, &str)> = vec![
        ("{\"inputs\": [".into(), "/v2/models/breast/infer", 400, "line 1 column 12"),
        (with(json!({"inputs": []})), "/v2/models/breast/infer", 400, "no inputs"),
        (
            with(
                json!({"inputs": [{"name": "input", "shape": [1, 29], "datatype": "FP32", "data": &row[..29]}]}),
            ),
            "/v2/models/breast/infer",
            400,
            "input 'input': expected shape [-1, 30], received [1, 29]",
        ),
        (
            with(json!({"inputs": [{"name": "input", "shape": [1, 30], "datatype": "INT8", "data": row}]})),
            "/v2/models/breast/infer",
            400,
            "expected datatype FP32, received INT8",
        ),
        (
            with(json!({"inputs": [{"name": "input", "shape": [2, 30], "datatype": "FP32", "data": row}]})),
            "/v2/models/breast/infer",
            400,
            "needs 60 values, received 30",
        ),
        (
            with(json!({"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP32", "data": huge}]})),
            "/v2/models/breast/infer",
            400,
            "row 0, feature 0 (mean_radius): 1e+39 is not a finite number",
        ),
        (
            with(json!({"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP32", "data": text}]})),
            "/v2/models/breast/infer",
            400,
            "is not a finite number",
        ),
        (
            with(json!({"inputs": [{"name": "input", "shape": [5, 30], "datatype": "FP32", "data": zeros}]})),
            "/v2/models/breast/infer",
            400,
            "5 rows; a request holds at most 4",
        ),
        (
            with(json!({"inputs": [{"name": "input", "shape": [-1, 30], "datatype": "FP32", "data": row}]})),
            "/v2/models/breast/infer",
            400,
            "must be positive sizes",
        ),
        (
            with(
                json!({"inputs": [{"name": "tumour_size", "shape": [1], "datatype": "FP32", "data": [1.0]}]}),
            ),
            "/v2/models/breast/infer",
            400,
            "unknown input 'tumour_size'",
        ),
        (
            with(
                json!({"inputs": [{"name": "mean_radius", "shape": [1], "datatype": "FP32", "data": [1.0]}, {"name": "mean_area", "shape": [1], "datatype": "FP32", "data": [1.0]}]}),
            ),
            "/v2/models/breast/infer",
            400,
            "missing input 'mean_texture'",
        ),
        (
            good.replace("\"id\"", "\"parameters\":{\"explain\":\"lime\"},\"id\""),
            "/v2/models/breast/infer",
            400,
            "parameters.explain",
        ),
        (
            good.replace("\"id\"", "\"outputs\":[{\"name\":\"risk\"}],\"id\""),
            "/v2/models/breast/infer",
            400,
            "no output 'risk'",
        ),
        (good.clone(), "/v2/models/lungs/infer", 404, "no model 'lungs'; served: breast/1"),
        (good.clone(), "/v2/models/breast/versions/7/infer", 404, "no model 'breast' version '7'"),
        (
            format!("{{\"inputs\": [], \"pad\": \"{}\"}}", "x".repeat(70_000)),
            "/v2/models/breast/infer",
            413,
            "over 65536 bytes",
        ),
    ];
    for (body, path, status, needle) in &cases {
        let (code, answer) = server.post(path, body, None);
        assert_eq!(code, *status, "{path} {}: {answer}", &body[..body.len().min(120)]);
        let msg = serde_json::from_str::<Value>(&answer).unwrap_or_else(|_| panic!("not JSON: {answer}"))
            ["error"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(msg.contains(needle), "expected '{needle}' in: {msg}");
    }
    // a thousand malformed requests, then a good one
    let mut rng = medgpu::data::SplitMix64::new(5);
    for i in 0..1000 {
        let n = (rng.next_u64() % 200) as usize;
        let junk: String = (0..n).map(|_| (b' ' + (rng.next_u64() % 94) as u8) as char).collect();
        let body = if i % 2 == 0 { junk } else { good.replace("30]", &format!("{}]", rng.next_u64() % 40)) };
        let (code, _) = server.post("/v2/models/breast/infer", &body, None);
        assert!((400..500).contains(&code) || code == 200, "request {i}: status {code}");
    }
    let (code, body) = server.post("/v2/models/breast/infer", &good, None);
    assert_eq!(code, 200, "{body}");
}

#[test]
fn a_token_guards_everything_but_the_health_probes() {
    let dir = tmp("token");
    let token = "s3cret-token-of-some-length";
    std::fs::write(dir.join("token"), format!("{token}\n")).unwrap();
    let run = mlp_run();
    let server = Server::start(&["--run", s(run), "--token-file", s(&dir.join("token"))]);
    let (_, rows) = breast_rows(1);
    let body = tensor_body(&rows);
    assert_eq!(server.post("/v2/models/breast/infer", &body, None).0, 401);
    assert_eq!(server.post("/v2/models/breast/infer", &body, Some("s3cret-token-of-some-lengtX")).0, 401);
    assert_eq!(server.post("/v2/models/breast/infer", &body, Some(token)).0, 200);
    assert_eq!(server.get("/v2/models/breast").0, 401);
    assert_eq!(server.get("/v2/health/live").0, 200);
    assert_eq!(server.get("/v2/health/ready").0, 200);
    // a short token is refused at start
    std::fs::write(dir.join("short"), "abc").unwrap();
    let (code, _, err) =
        medgpu(&["serve", "--run", s(run), "--port", "0", "--token-file", s(&dir.join("short"))]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--token-file") && err.contains("at least 16"), "{err}");
}

#[test]
fn sigterm_finishes_the_requests_in_flight_and_exits_0() {
    let run = mlp_run();
    let mut server = Server::start(&["--run", s(run)]);
    let (_, rows) = breast_rows(3);
    // explanations keep the GPU thread busy for a while
    let mut body: Value = serde_json::from_str(&tensor_body(&rows)).unwrap();
    body["parameters"] = json!({"explain": "integrated-gradients"});
    let body = body.to_string();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            (0..4).map(|_| scope.spawn(|| server.post("/v2/models/breast/infer", &body, None).0)).collect();
        std::thread::sleep(std::time::Duration::from_millis(150));
        let pid = server.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // every request that reached the server was answered; none was cut off
    assert!(statuses.iter().all(|c| *c == 200 || *c == 0), "{statuses:?}");
    assert!(statuses.contains(&200), "no request was in flight: {statuses:?}");
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
}

#[test]
fn a_folder_of_models_serves_each_and_reports_the_one_that_fails() {
    let dir = tmp("folder");
    let run = mlp_run();
    let copy = |to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for f in ["model.json", "weights.safetensors"] {
            std::fs::copy(run.join(f), to.join(f)).unwrap();
        }
    };
    copy(&dir.join("models/breast/1"));
    copy(&dir.join("models/breast/2"));
    copy(&dir.join("models/broken"));
    std::fs::write(dir.join("models/broken/weights.safetensors"), b"not weights").unwrap();
    let server = Server::start(&["--models", s(&dir.join("models"))]);
    let meta: Value = serde_json::from_str(&server.get("/v2/models/breast").1).unwrap();
    assert_eq!(meta["versions"], json!(["1", "2"]));
    let (_, rows) = breast_rows(1);
    let (code, body) = server.post("/v2/models/breast/infer", &tensor_body(&rows), None);
    assert_eq!(code, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["model_version"], "2");
    assert_eq!(server.get("/v2/models/broken/ready").0, 404);
}

#[test]
fn images_come_as_nchw_tensors_or_as_png_files() {
    use base64::Engine;
    let dir = tmp("png");
    let run = dir.join("digits");
    let (code, out, err) = medgpu(&[
        "train",
        "--data",
        "builtin:digits",
        "--model",
        "cnn",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        s(&run),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let server = Server::start(&["--run", s(&run)]);
    let pixels: Vec<u8> = (0..64).map(|i| (i * 3 % 17) as u8 * 15).collect();
    let png = {
        let img = image::GrayImage::from_raw(8, 8, pixels.clone()).unwrap();
        let mut bytes = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let as_png = json!({"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": [png]}]});
    let values: Vec<f64> = pixels.iter().map(|p| *p as f64).collect();
    let as_tensor =
        json!({"inputs": [{"name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": values}]});
    let (c1, a) = server.post("/v2/models/digits/infer", &as_png.to_string(), None);
    let (c2, b) = server.post("/v2/models/digits/infer", &as_tensor.to_string(), None);
    assert_eq!((c1, c2), (200, 200), "{a}\n{b}");
    let (a, b): (Value, Value) = (serde_json::from_str(&a).unwrap(), serde_json::from_str(&b).unwrap());
    assert_eq!(
        output(&a, "probabilities"),
        output(&b, "probabilities"),
        "a PNG of the same pixels answers the same"
    );
    let bad = json!({"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": ["bm90IGFuIGltYWdl"]}]});
    let (code, answer) = server.post("/v2/models/digits/infer", &bad.to_string(), None);
    assert_eq!(code, 400);
    assert!(
        answer.contains("input 'input': row 0: cannot decode the image (PNG or JPEG expected)"),
        "{answer}"
    );
    let meta: Value = serde_json::from_str(&server.get("/v2/models/digits").1).unwrap();
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, 1, 8, 8]));
    let body = json!({"inputs": [{"name": "input", "shape": [1, 1, 8, 7], "datatype": "FP32", "data": &values[..56]}]});
    let (code, answer) = server.post("/v2/models/digits/infer", &body.to_string(), None);
    assert_eq!(code, 400);
    assert!(answer.contains("expected shape [-1, 1, 8, 8], received [1, 1, 8, 7]"), "{answer}");
}

#[test]
fn a_sequence_model_takes_windows_as_rows_steps_channels() {
    let dir = tmp("ecg");
    let csv = dir.join("sig.csv");
    signal(&csv, 1200);
    let run = dir.join("ecg");
    let args = [
        "train",
        "--data",
        s(&csv),
        "--model",
        "lstm",
        "--window",
        "16",
        "--stride",
        "4",
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        s(&run),
    ];
    let (code, out, err) = medgpu(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    let server = Server::start(&["--run", s(&run)]);
    let meta: Value = serde_json::from_str(&server.get("/v2/models/ecg").1).unwrap();
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, 16, 1]));
    let window: Vec<f64> = (0..32).map(|i| (i as f64 * 0.05).sin()).collect();
    let body =
        json!({"inputs": [{"name": "input", "shape": [2, 16, 1], "datatype": "FP32", "data": window}]});
    let (code, answer) = server.post("/v2/models/ecg/infer", &body.to_string(), None);
    assert_eq!(code, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(output(&answer, "value")["shape"], json!([2, 1]));
    let body = json!({"inputs": [{"name": "mv", "shape": [1], "datatype": "FP32", "data": [0.5]}]});
    let (code, answer) = server.post("/v2/models/ecg/infer", &body.to_string(), None);
    assert_eq!(code, 400);
    assert!(answer.contains("takes one FP32 tensor 'input' of shape [-1, 16, 1]"), "{answer}");
}

#[test]
fn a_full_queue_answers_503_and_a_slow_body_408() {
    let run = mlp_run();
    let server =
        Server::start(&["--run", s(run), "--queue", "1", "--max-batch", "1", "--read-timeout-s", "0.5"]);
    let (_, rows) = breast_rows(3);
    let mut body: Value = serde_json::from_str(&tensor_body(&rows)).unwrap();
    body["parameters"] = json!({"explain": "integrated-gradients"});
    let body = body.to_string();
    let answers: Vec<(u16, Option<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|_| {
                scope.spawn(|| {
                    let agent = Server::agent();
                    let r = agent.post(format!("{}/v2/models/breast/infer", server.url)).send(&body).unwrap();
                    (
                        r.status().as_u16(),
                        r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().any(|(c, _)| *c == 200), "{answers:?}");
    assert!(
        answers.iter().any(|(c, r)| *c == 503 && r.as_deref() == Some("1")),
        "no 503 with Retry-After: {answers:?}"
    );
    // a client that stops sending its body
    use std::io::{Read, Write};
    let addr = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(
            b"POST /v2/models/breast/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inputs\"",
        )
        .unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut answer = vec![0u8; 512];
    let n = stream.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // and the server still answers
    assert_eq!(server.post("/v2/models/breast/infer", &tensor_body(&rows), None).0, 200);
}

#[test]
fn the_access_log_has_a_json_line_per_request_and_no_patient_data_unless_asked() {
    let run = mlp_run();
    let (_, rows) = breast_rows(2);
    for (flag, payload) in [(None, false), (Some("--log-payloads"), true)] {
        let mut args = vec!["--run", s(run)];
        args.extend(flag);
        let server = Server::start(&args);
        assert_eq!(server.post("/v2/models/breast/infer", &tensor_body(&rows), None).0, 200);
        assert_eq!(server.post("/v2/models/breast/infer", "{", None).0, 400);
        std::thread::sleep(std::time::Duration::from_millis(200));
        let log = server.log.lock().unwrap().clone();
        let lines: Vec<Value> = log.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
        assert_eq!(lines.len(), 2, "{log:?}");
        assert_eq!(
            (lines[0]["status"].as_u64(), lines[0]["rows"].as_u64(), lines[0]["id"].as_str()),
            (Some(200), Some(2), Some("t1"))
        );
        assert_eq!((lines[1]["status"].as_u64(), lines[1]["model"].as_str()), (Some(400), Some("breast")));
        assert!(lines[0]["latency_ms"].as_f64().is_some() && lines[0]["time"].as_f64().is_some());
        assert_eq!(lines[0].get("inputs").is_some(), payload, "{}", lines[0]);
        assert_eq!(log.iter().any(|l| l.contains("17.99")), payload, "feature values in the log: {log:?}");
    }
}

#[test]
fn a_lost_device_turns_readiness_off_and_fails_the_jobs() {
    use medgpu::serve::worker::{run, Batching, Job};
    use std::sync::atomic::{AtomicBool, Ordering};
    let run_dir = mlp_run();
    let model = Arc::new(medgpu::model::TrainedModel::load(run_dir).unwrap());
    // a device of its own: this one gets destroyed
    let gpu = Arc::new(medgpu::gpu::Gpu::open(&Default::default()).unwrap());
    let (tx, rx) = std::sync::mpsc::sync_channel(8);
    let ready = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(medgpu::serve::stats::Stats::default());
    let (g, r, st) = (gpu.clone(), ready.clone(), stats.clone());
    let worker = std::thread::spawn(move || {
        let batching = Batching { max_batch: 8, max_delay: std::time::Duration::from_millis(1) };
        run(g, vec![model], batching, rx, r, st, &mut |results| assert!(results.iter().all(|r| r.is_ok())));
    });
    let ask = |tx: &std::sync::mpsc::SyncSender<Job>| {
        let (reply, answer) = tokio::sync::oneshot::channel();
        tx.send(Job { model: 0, inputs: vec![0.0; 30], explain: false, reply }).unwrap();
        answer.blocking_recv().unwrap()
    };
    assert!(ask(&tx).is_ok());
    assert!(ready.load(Ordering::SeqCst));
    gpu.device.destroy();
    let answer = ask(&tx);
    assert!(matches!(answer, Err(medgpu::Error::DeviceLost(_))), "{:?}", answer.err());
    assert!(!ready.load(Ordering::SeqCst), "still ready after the device was lost");
    drop(tx);
    worker.join().unwrap();
}
