//! The HTTP side: routes of the Open Inference Protocol, bearer tokens,
//! body and row limits, the queue to the GPU thread, `/metrics`, the access
//! log, and a graceful stop on SIGTERM.

use super::protocol::{decode, metadata, outputs, InferRequest};
use super::registry::{find, Entry};
use super::stats::Stats;
use super::worker::{self, Batching, Job};
use super::ServeOptions;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What every handler shares.
struct App {
    entries: Vec<Entry>,
    loaded: Arc<Vec<AtomicBool>>,
    ready: Arc<AtomicBool>,
    queue: SyncSender<Job>,
    stats: Arc<Stats>,
    token: Option<String>,
    opts: ServeOptions,
}

type Shared = State<Arc<App>>;

/// Binds, prints the address, loads the models on the GPU thread, serves
/// until SIGTERM or Ctrl-C, then lets the requests in flight finish.
pub fn run(
    gpu: Arc<Gpu>,
    entries: Vec<Entry>,
    opts: ServeOptions,
    token: Option<String>,
    ready: Arc<AtomicBool>,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Options(format!("cannot start the HTTP runtime: {e}")))?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind((opts.host.as_str(), opts.port)))
        .map_err(|e| Error::Options(format!("cannot bind {}:{}: {e}", opts.host, opts.port)))?;
    let addr = listener.local_addr().map_err(|e| Error::Options(e.to_string()))?;
    println!("listening on http://{addr}");
    let (queue, jobs) = sync_channel(opts.queue);
    let stats = Arc::new(Stats::default());
    let loaded: Arc<Vec<AtomicBool>> = Arc::new(entries.iter().map(|_| AtomicBool::new(false)).collect());
    let names: Vec<String> = entries.iter().map(|e| format!("{}/{}", e.name, e.version)).collect();
    let models = entries.iter().map(|e| e.model.clone()).collect();
    let app = Arc::new(App {
        loaded: loaded.clone(),
        entries,
        ready: ready.clone(),
        queue,
        stats: stats.clone(),
        token,
        opts: opts.clone(),
    });
    let batching = Batching { max_batch: opts.max_batch, max_delay: opts.max_delay };
    // the GPU thread holds no sender of the queue: it ends once the HTTP side drops it
    let gpu_thread = std::thread::Builder::new()
        .name("medgpu-gpu".into())
        .spawn(move || {
            let mut report = |results: Vec<Result<()>>| {
                for (i, r) in results.into_iter().enumerate() {
                    match r {
                        Ok(()) => loaded[i].store(true, Ordering::SeqCst),
                        Err(e) => eprintln!("error: model {} not served: {e}", names[i]),
                    }
                }
                let served: Vec<&str> = (0..names.len())
                    .filter(|i| loaded[*i].load(Ordering::SeqCst))
                    .map(|i| names[i].as_str())
                    .collect();
                println!("ready: {} model(s): {}", served.len(), served.join(", "));
            };
            worker::run(gpu, models, batching, jobs, ready, stats, &mut report);
        })
        .map_err(|e| Error::Options(format!("cannot start the GPU thread: {e}")))?;
    let router = routes(app);
    let served =
        rt.block_on(async { axum::serve(listener, router).with_graceful_shutdown(stop_signal()).await });
    // the router (and with it the queue's sender) is gone: the GPU thread finishes and ends
    let _ = gpu_thread.join();
    served.map_err(|e| Error::Options(format!("the server stopped: {e}")))?;
    println!("stopped");
    Ok(())
}

fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/v2/health/live", get(|| async { StatusCode::OK }))
        .route("/v2/health/ready", get(server_ready))
        .route("/v2", get(server_metadata))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/versions/{version}", get(version_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/versions/{version}/ready", get(version_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .route("/v2/models/{name}/versions/{version}/infer", post(infer_version))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            error(StatusCode::NOT_FOUND, "no such endpoint: see GET /v2 and /v2/models/{name}")
        })
        .with_state(app)
}

/// SIGTERM or Ctrl-C.
async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    println!("stopping: finishing the requests in flight");
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// 401 unless the request carries the bearer token (compared in constant time).
fn unauthorized(app: &App, headers: &HeaderMap) -> Option<Response> {
    let token = app.token.as_ref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let ok = given.is_some_and(|g| same_bytes(g.trim().as_bytes(), token.as_bytes()));
    (!ok).then(|| {
        let mut r =
            error(StatusCode::UNAUTHORIZED, "this server needs a token: Authorization: Bearer <token>");
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r
    })
}

/// Equality whose time does not depend on where the bytes differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

async fn server_ready(State(app): Shared) -> StatusCode {
    if app.ready.load(Ordering::SeqCst) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn server_metadata(State(app): Shared, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&app, &headers) {
        return r;
    }
    let mut names: Vec<&str> = app.entries.iter().map(|e| e.name.as_str()).collect();
    names.dedup();
    Json(json!({"name": "medgpu", "version": env!("CARGO_PKG_VERSION"), "extensions": [], "models": names}))
        .into_response()
}

/// The entry a path names, or the 404 that says which models there are.
fn entry<'a>(
    app: &'a App,
    name: &str,
    version: Option<&str>,
) -> std::result::Result<(usize, &'a Entry), Response> {
    find(&app.entries, name, version).ok_or_else(|| {
        let known: Vec<String> = app.entries.iter().map(|e| format!("{}/{}", e.name, e.version)).collect();
        let what = version.map_or(format!("'{name}'"), |v| format!("'{name}' version '{v}'"));
        error(StatusCode::NOT_FOUND, &format!("no model {what}; served: {}", known.join(", ")))
    })
}

async fn model_metadata(state: Shared, Path(name): Path<String>, headers: HeaderMap) -> Response {
    metadata_of(state, name, None, headers)
}

async fn version_metadata(
    state: Shared,
    Path((name, v)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    metadata_of(state, name, Some(v), headers)
}

fn metadata_of(State(app): Shared, name: String, version: Option<String>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&app, &headers) {
        return r;
    }
    match entry(&app, &name, version.as_deref()) {
        Ok((_, e)) => {
            let versions: Vec<String> =
                app.entries.iter().filter(|x| x.name == name).map(|x| x.version.clone()).collect();
            Json(metadata(&e.name, &versions, &e.model.file)).into_response()
        }
        Err(r) => r,
    }
}

async fn model_ready(state: Shared, Path(name): Path<String>) -> Response {
    ready_of(state, name, None)
}

async fn version_ready(state: Shared, Path((name, v)): Path<(String, String)>) -> Response {
    ready_of(state, name, Some(v))
}

fn ready_of(State(app): Shared, name: String, version: Option<String>) -> Response {
    match entry(&app, &name, version.as_deref()) {
        Ok((i, _)) if app.ready.load(Ordering::SeqCst) && app.loaded[i].load(Ordering::SeqCst) => {
            StatusCode::OK.into_response()
        }
        Ok(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Err(r) => r,
    }
}

async fn metrics(State(app): Shared, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&app, &headers) {
        return r;
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.stats.render()).into_response()
}

async fn infer(state: Shared, Path(name): Path<String>, headers: HeaderMap, body: Body) -> Response {
    infer_logged(state, name, None, headers, body).await
}

async fn infer_version(
    state: Shared,
    Path((name, v)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    infer_logged(state, name, Some(v), headers, body).await
}

/// What the access log says of a request.
#[derive(Default)]
struct Logged {
    id: Option<String>,
    version: Option<String>,
    rows: usize,
    inputs: Option<Value>,
}

async fn infer_logged(
    State(app): Shared,
    name: String,
    version: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let t0 = Instant::now();
    let mut log = Logged { version: version.clone(), ..Logged::default() };
    let response = match infer_checked(&app, &name, version.as_deref(), &headers, body, &mut log).await {
        Ok(r) => r,
        Err(r) => r,
    };
    let status = response.status().as_u16();
    let seconds = t0.elapsed().as_secs_f64();
    app.stats.request(&name, status, seconds);
    let time = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let mut line = json!({
        "time": (time * 1000.0).round() / 1000.0, "id": log.id, "model": name, "version": log.version,
        "rows": log.rows, "status": status, "latency_ms": (seconds * 1e6).round() / 1000.0,
    });
    if let Some(inputs) = log.inputs {
        line["inputs"] = inputs;
    }
    println!("{line}");
    response
}

async fn infer_checked(
    app: &App,
    name: &str,
    version: Option<&str>,
    headers: &HeaderMap,
    body: Body,
    log: &mut Logged,
) -> std::result::Result<Response, Response> {
    if let Some(r) = unauthorized(app, headers) {
        return Err(r);
    }
    let (i, e) = entry(app, name, version)?;
    log.version = Some(e.version.clone());
    if !app.ready.load(Ordering::SeqCst) || !app.loaded[i].load(Ordering::SeqCst) {
        return Err(unavailable("the model is not ready (loading, or the GPU was lost)"));
    }
    let bytes = read_body(app, headers, body).await?;
    let req: InferRequest = serde_json::from_slice(&bytes).map_err(|e| {
        error(StatusCode::BAD_REQUEST, &format!("request body, line {} column {}: {e}", e.line(), e.column()))
    })?;
    log.id = req.id.clone();
    if app.opts.log_payloads {
        log.inputs = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| v.get("inputs").cloned());
    }
    let file = &e.model.file;
    let explain = explain_asked(&req)?;
    let wanted = wanted_outputs(&req, explain)?;
    let rows = decode(file, &req, app.opts.max_rows).map_err(|m| error(StatusCode::BAD_REQUEST, &m))?;
    log.rows = rows.rows;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = Job { model: i, inputs: rows.normalized, explain, reply };
    match app.queue.try_send(job) {
        Ok(()) => app.stats.enqueued(1),
        Err(TrySendError::Full(_)) => return Err(unavailable("the queue is full: retry shortly")),
        Err(TrySendError::Disconnected(_)) => return Err(unavailable("the server is stopping")),
    }
    let answer = match answer.await {
        Ok(Ok(a)) => a,
        Ok(Err(Error::DeviceLost(m))) => return Err(unavailable(&format!("the GPU was lost: {m}"))),
        Ok(Err(e)) => return Err(error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
        Err(_) => return Err(unavailable("the server is stopping")),
    };
    let mut outs = outputs(file, &answer.inference, answer.attributions.as_deref());
    if let Some(w) = &wanted {
        outs.retain(|o| o["name"].as_str().is_some_and(|n| w.iter().any(|x| x == n)));
    }
    Ok(Json(json!({
        "model_name": e.name, "model_version": e.version, "id": req.id, "outputs": outs,
        "parameters": {"batch_rows": answer.batch_rows},
    }))
    .into_response())
}

fn unavailable(message: &str) -> Response {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// The body, refused with 413 beyond the size limit and 408 when it takes
/// longer than the read timeout to arrive.
async fn read_body(
    app: &App,
    headers: &HeaderMap,
    body: Body,
) -> std::result::Result<bytes::Bytes, Response> {
    let limit = app.opts.max_body;
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is over {limit} bytes: send fewer rows per request"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(app.opts.read_timeout, limited.collect()).await {
        Err(_) => {
            Err(error(StatusCode::REQUEST_TIMEOUT, "the request body did not arrive within the read timeout"))
        }
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(error(StatusCode::BAD_REQUEST, &format!("reading the request body: {e}"))),
        Ok(Ok(c)) => Ok(c.to_bytes()),
    }
}

/// `"parameters": {"explain": "integrated-gradients"}`.
fn explain_asked(req: &InferRequest) -> std::result::Result<bool, Response> {
    match req.parameters.as_ref().and_then(|p| p.get("explain")) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(false),
        Some(Value::String(m)) if m == "integrated-gradients" => Ok(true),
        Some(other) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!(
                "parameters.explain: {other} is not a method this server runs: use \"integrated-gradients\""
            ),
        )),
    }
}

/// The outputs a request names, checked against the model's.
fn wanted_outputs(req: &InferRequest, explain: bool) -> std::result::Result<Option<Vec<String>>, Response> {
    let Some(list) = &req.outputs else { return Ok(None) };
    let known = ["class", "probabilities", "value", "reconstruction_error", "attributions"];
    for o in list {
        if !known.contains(&o.name.as_str()) || (o.name == "attributions" && !explain) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                &format!("outputs: no output '{}' (class, probabilities, value, reconstruction_error; attributions with parameters.explain)", o.name),
            ));
        }
    }
    Ok(Some(list.iter().map(|o| o.name.clone()).collect()))
}
