//! The serving benchmark: a `medgpu serve` process on 127.0.0.1 loaded by
//! many keep-alive connections, each sending one-row infer requests back to
//! back; requests per second, latency percentiles, the server's mean batch
//! (from its `/metrics`) and its memory after 1 and after many requests.

use crate::error::{Error, Result};
use serde::Serialize;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One load run against one server configuration.
#[derive(Clone, Debug, Serialize)]
pub struct ServeFigure {
    /// The server's `--max-batch`.
    pub max_batch: usize,
    /// Concurrent connections.
    pub connections: usize,
    /// Seconds of measured load.
    pub seconds: f64,
    /// Answered requests per second.
    pub requests_per_sec: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Responses other than 200.
    pub errors: u64,
    /// Mean rows per replay on the server.
    pub mean_batch: f64,
    /// Server resident memory after its first request, MiB.
    pub rss_after_first_mib: f64,
    /// Server resident memory after the measured load, MiB.
    pub rss_after_load_mib: f64,
    /// Requests answered when the last memory figure was taken.
    pub requests_total: u64,
    /// Server resident memory after `requests_total` requests, MiB.
    pub rss_after_total_mib: f64,
}

/// A server child process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(exe: &Path, run: &Path, max_batch: usize) -> Result<Server> {
    let mut child = Command::new(exe)
        .args(["serve", "--run"])
        .arg(run)
        .args(["--port", "0", "--queue", "4096", "--max-batch", &max_batch.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::Options(format!("cannot start {}: {e}", exe.display())))?;
    let stdout = child.stdout.take().ok_or_else(|| Error::Options("no server output".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let mut addr = String::new();
    for line in lines.by_ref() {
        let line = line.map_err(|e| Error::Options(e.to_string()))?;
        if let Some(a) = line.strip_prefix("listening on http://") {
            addr = a.to_string();
        }
        if line.starts_with("ready:") {
            break;
        }
    }
    // the access log goes on: drain it so the server never blocks on the pipe
    std::thread::spawn(move || for _ in lines {});
    if addr.is_empty() {
        return Err(Error::Options("the server did not start".into()));
    }
    Ok(Server { child, addr })
}

/// A keep-alive HTTP/1.1 connection speaking just enough of the protocol.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(addr: &str) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(Conn { reader: BufReader::new(s.try_clone()?), writer: s })
    }

    /// Sends one request and reads the answer: (status, body).
    fn call(&mut self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.writer.write_all(req.as_bytes())?;
        let mut status = 0;
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(rest) = l.strip_prefix("HTTP/1.1 ") {
                status = rest.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
            } else if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut buf = vec![0u8; length];
        self.reader.read_exact(&mut buf)?;
        Ok((status, String::from_utf8_lossy(&buf).into_owned()))
    }
}

/// Resident memory of a process, MiB (0 where /proc is not there).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Latencies (µs) and errors of `connections` connections sending `body`
/// for `duration`, or until `stop_after` requests in all.
fn load(
    addr: &str,
    path: &str,
    body: &str,
    connections: usize,
    duration: Duration,
    stop_after: u64,
) -> (Vec<u64>, u64, f64) {
    let stop = AtomicBool::new(false);
    let (done, errors) = (AtomicU64::new(0), AtomicU64::new(0));
    let t0 = Instant::now();
    let lat: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..connections)
            .map(|_| {
                let (stop, done, errors) = (&stop, &done, &errors);
                scope.spawn(move || {
                    let mut lat = Vec::new();
                    let Ok(mut c) = Conn::open(addr) else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        return lat;
                    };
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        match c.call("POST", path, body) {
                            Ok((200, _)) => lat.push(t.elapsed().as_micros() as u64),
                            _ => {
                                errors.fetch_add(1, Ordering::Relaxed);
                                match Conn::open(addr) {
                                    Ok(n) => c = n,
                                    Err(_) => break,
                                }
                            }
                        }
                        if done.fetch_add(1, Ordering::Relaxed) + 1 >= stop_after {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    lat
                })
            })
            .collect();
        while t0.elapsed() < duration && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    (lat, errors.load(Ordering::Relaxed), t0.elapsed().as_secs_f64())
}

/// Mean rows per replay from the server's `/metrics`.
fn mean_batch(addr: &str) -> f64 {
    let Ok(mut c) = Conn::open(addr) else { return 0.0 };
    let Ok((_, text)) = c.call("GET", "/metrics", "") else { return 0.0 };
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    value("medgpu_batch_rows_sum") / value("medgpu_batch_rows_count").max(1.0)
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0
}

/// How to load a server.
#[derive(Clone, Copy, Debug)]
pub struct LoadPlan {
    /// The server's `--max-batch`.
    pub max_batch: usize,
    /// Concurrent connections.
    pub connections: usize,
    /// Seconds of measured load.
    pub seconds: f64,
    /// Requests in all before the last memory figure.
    pub total: u64,
}

/// Serves the run in `run` (model `model`) with `exe serve` and loads it
/// with `body` as `plan` says.
pub fn serve_load(exe: &Path, run: &Path, model: &str, body: &str, plan: LoadPlan) -> Result<ServeFigure> {
    let LoadPlan { max_batch, connections, seconds, total } = plan;
    let server = start(exe, run, max_batch)?;
    let path = format!("/v2/models/{model}/infer");
    let mut first = Conn::open(&server.addr).map_err(|e| Error::Options(e.to_string()))?;
    let (status, answer) = first.call("POST", &path, body).map_err(|e| Error::Options(e.to_string()))?;
    if status != 200 {
        return Err(Error::Options(format!("the benchmark request failed ({status}): {answer}")));
    }
    let rss_after_first_mib = rss_mib(server.child.id());
    // a short warm-up, then the measured load
    load(&server.addr, &path, body, connections, Duration::from_millis(500), u64::MAX);
    let (mut lat, errors, secs) =
        load(&server.addr, &path, body, connections, Duration::from_secs_f64(seconds), u64::MAX);
    let mut answered = lat.len() as u64;
    let mean_batch = mean_batch(&server.addr);
    let rss_after_load_mib = rss_mib(server.child.id());
    // more requests for the memory figure
    if answered < total {
        let (more, _, _) =
            load(&server.addr, &path, body, connections, Duration::from_secs(300), total - answered);
        answered += more.len() as u64;
    }
    let rss_after_total_mib = rss_mib(server.child.id());
    lat.sort_unstable();
    Ok(ServeFigure {
        max_batch,
        connections,
        seconds: secs,
        requests_per_sec: lat.len() as f64 / secs.max(1e-9),
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        errors,
        mean_batch,
        rss_after_first_mib,
        rss_after_load_mib,
        requests_total: answered + 1,
        rss_after_total_mib,
    })
}
