//! `medgpu bench`: kernel, overhead, training and memory suites.

use medgpu::bench::kernels::Figure;
use medgpu::bench::{self, TrainBench, SUITES};
use medgpu::gpu::DeviceOptions;
use medgpu::kernels::PipelineCache;
use medgpu::{Error, Result};
use serde_json::json;
use std::path::Path;

fn print_figures(title: &str, figs: &[Figure]) {
    println!("\n{title}");
    println!("  {:<44} {:>10} {:>10} {:>10}  unit", "figure", "median", "min", "max");
    for f in figs {
        let peak = f.percent_of_peak.map_or(String::new(), |p| format!("  {p:.1}% of peak"));
        let kernel = f.kernel.map_or(String::new(), |k| format!("  {k}"));
        println!(
            "  {:<44} {:>10.2} {:>10.2} {:>10.2}  {}{peak}{kernel}",
            f.name, f.value.median, f.value.min, f.value.max, f.unit
        );
    }
}

/// The largest square matmul of the suite: 512 quick, else 2048 on CPU
/// adapters (4096^3 takes seconds per run there) and 4096 on GPUs, the
/// size of the real-GPU target.
fn matmul_max(quick: bool, cpu: bool) -> usize {
    match (quick, cpu) {
        (true, _) => 512,
        (false, true) => 2048,
        (false, false) => 4096,
    }
}

/// Sets each GFLOPS figure's share of `peak` GFLOPS.
fn add_percent_of_peak(figs: &mut [Figure], peak: Option<f64>) {
    for f in figs.iter_mut().filter(|f| f.unit == "GFLOPS") {
        f.percent_of_peak = peak.map(|p| 100.0 * f.value.median / p);
    }
}

fn print_train(r: &TrainBench, target: &str) {
    let s = &r.samples_per_sec;
    let inline = format!(
        "{}{}",
        if r.kernels_inline { ", kernels inline" } else { "" },
        if r.cores_kept_awake { ", cores kept awake" } else { "" }
    );
    println!("  {} (batch {}), {} dispatches per step{inline}", r.model, r.batch, r.dispatches_per_step);
    println!(
        "    train samples/s        {:>10.0} {:>10.0} {:>10.0}  target {target}",
        s.median, s.min, s.max
    );
    let e = &r.encode_us_per_step;
    println!("    CPU us to record step  {:>10.1} {:>10.1} {:>10.1}", e.median, e.min, e.max);
    println!(
        "    first step             {:>10.3} s (compile + pipelines + one step; target <= 2 s; pipeline cache {})",
        r.first_step_secs, r.pipeline_cache
    );
}

/// What decides a software adapter's first-step times: Mesa compiles each
/// kernel at its first dispatch and keeps it in its own disk cache (wgpu's
/// pipeline cache holds only a header there), which
/// `MESA_SHADER_CACHE_DISABLE` (`disable`: its value) turns off.
fn mesa_cache_line(disable: Option<&str>) -> String {
    let off = disable.is_some_and(|v| matches!(v.trim().to_lowercase().as_str(), "1" | "true" | "yes"));
    if off {
        "first steps: Mesa's shader cache is off (MESA_SHADER_CACHE_DISABLE): every kernel compiles, \
         so these are cold starts"
            .to_string()
    } else {
        "first steps: Mesa compiles each kernel at its first dispatch and keeps it in its shader cache, \
         so these are warm after a machine's first run (MESA_SHADER_CACHE_DISABLE=true: cold)"
            .to_string()
    }
}

/// Runs the chosen suites (all by default), prints tables, optionally writes
/// JSON; `peak_gflops`: the adapter's FP32 peak, for the matmul figures'
/// share of it.
pub fn run(
    opts: &DeviceOptions,
    quick: bool,
    suites: Option<&[String]>,
    json: Option<&Path>,
    peak_gflops: Option<f64>,
) -> Result<()> {
    if let Some(p) = peak_gflops.filter(|p| !(p.is_finite() && *p > 0.0)) {
        return Err(Error::Usage(format!(
            "--peak-gflops {p}: give the adapter's FP32 peak, a positive number"
        )));
    }
    let chosen: Vec<String> = match suites {
        Some(s) => s.iter().map(|x| x.trim().to_lowercase()).collect(),
        None => SUITES.iter().map(|s| s.to_string()).collect(),
    };
    if let Some(bad) = chosen.iter().find(|s| !SUITES.contains(&s.as_str())) {
        return Err(Error::Usage(format!("unknown suite '{bad}': use {}", SUITES.join(","))));
    }
    let devs = bench::Devices::open(opts)?;
    print_header(&devs, quick);
    let reps = if quick { 3 } else { 7 };
    let has = |s: &str| chosen.iter().any(|c| c == s);
    let mut out = kernel_suites(&devs, quick, reps, peak_gflops, &has)?;
    let mut trained = Vec::new();
    if has("train") || has("memory") {
        trained = train_suite(&devs, quick, reps)?;
    }
    if has("train") {
        out.insert("train".into(), json!(trained));
    }
    if has("memory") {
        out.insert("memory".into(), memory_suite(&trained));
    }
    if has("startup") {
        out.insert("startup".into(), startup_suite(opts)?);
    }
    if has("explain") {
        out.insert("explain".into(), explain_suite(&devs, reps)?);
    }
    if has("serve") {
        out.insert("serve".into(), serve_suite(&devs, quick)?);
    }
    match json {
        Some(path) => write_json(path, &devs.pool, out),
        None => Ok(()),
    }
}

/// The adapter, how it runs kernels and how figures are timed.
fn print_header(devs: &bench::Devices, quick: bool) {
    let gpu = &devs.pool;
    println!("adapter: {} (driver {} {})", gpu.describe(), gpu.info.driver, gpu.info.driver_info);
    if devs.inline.is_some() {
        println!(
            "software adapter: kernels on its thread pool, and inline (LP_NUM_THREADS=0) where marked \
             (the models medgpu train runs inline; LP_NUM_THREADS set by you decides for all)"
        );
    }
    if gpu.keeps_awake() {
        println!(
            "thread-pool training steps keep the cores awake between dispatches \
             (idle-priority spinners; MEDGPU_KEEP_AWAKE=0 turns them off)"
        );
    }
    if gpu.info.device_type == wgpu::DeviceType::Cpu {
        println!("{}", mesa_cache_line(std::env::var("MESA_SHADER_CACHE_DISABLE").ok().as_deref()));
    }
    let variants = medgpu::kernels::Variants::detect(gpu);
    println!(
        "kernels: {}{} (subgroup sizes {}-{}; MEDGPU_PORTABLE_KERNELS=1 for the portable ones)",
        if variants.subgroup8 { "subgroup variants for convolutions and matmuls" } else { "portable" },
        if variants.tiled_matmul.is_some() { ", workgroup-tiled matmuls for large ones" } else { "" },
        gpu.info.subgroup_min_size,
        gpu.info.subgroup_max_size
    );
    println!(
        "medgpu {}; {}; kernels and per-dispatch profiles timed by {}; training throughput by wall clock",
        env!("CARGO_PKG_VERSION"),
        if quick { "quick" } else { "full" },
        medgpu::graph::timing::timing(gpu)
    );
}

/// The matmul, elementwise and dispatch suites among those `has` names.
fn kernel_suites(
    devs: &bench::Devices,
    quick: bool,
    reps: usize,
    peak_gflops: Option<f64>,
    has: &dyn Fn(&str) -> bool,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let gpu = &devs.pool;
    let mut cache = PipelineCache::new();
    let mut out = serde_json::Map::new();
    if has("matmul") {
        let cpu = gpu.info.device_type == wgpu::DeviceType::Cpu;
        let mut f = bench::kernels::matmul(gpu, &mut cache, matmul_max(quick, cpu), reps)?;
        add_percent_of_peak(&mut f, peak_gflops);
        let title = match peak_gflops {
            Some(p) => format!("matmul (GFLOPS; targets: 15 at 1024 on lavapipe, 40% of the {p} GFLOPS peak at 4096 on a GPU)"),
            None => "matmul (GFLOPS; targets: 15 at 1024 on lavapipe, 40% of FP32 peak at 4096 on a GPU: give --peak-gflops)".into(),
        };
        print_figures(&title, &f);
        out.insert("matmul".into(), json!(f));
        if let Some(p) = peak_gflops {
            out.insert("peak_gflops".into(), json!(p));
        }
    }
    if has("elementwise") {
        let f = bench::kernels::elementwise(gpu, &mut cache, reps)?;
        print_figures("elementwise bandwidth", &f);
        out.insert("elementwise".into(), json!(f));
    }
    if has("dispatch") {
        let mut f = bench::kernels::dispatch(gpu, &mut cache, reps)?;
        if let Some(inline) = &devs.inline {
            let mut inline_cache = PipelineCache::new();
            for mut g in bench::kernels::dispatch(inline, &mut inline_cache, reps)? {
                g.name = format!("{} (inline)", g.name);
                f.push(g);
            }
        }
        print_figures("overheads", &f);
        out.insert("dispatch".into(), json!(f));
    }
    Ok(out)
}

/// Training throughput of each benchmark model.
fn train_suite(devs: &bench::Devices, quick: bool, reps: usize) -> Result<Vec<TrainBench>> {
    let epochs = if quick { 5 } else { 20 };
    println!("\ntraining throughput ({reps} reps of {epochs} epochs; training splits of the built-in data)");
    let mlp = bench::bench_default_mlp(devs, reps, epochs)?;
    print_train(&mlp, ">= 25000 (issue 2), 60000 (issue 6)");
    let ae = bench::bench_autoencoder(devs, reps, epochs)?;
    print_train(&ae, ">= 60000");
    let cnn = bench::bench_cnn(devs, reps, epochs)?;
    print_train(&cnn, ">= 10000 (issue 4), first step <= 2 s");
    let lstm = bench::bench_lstm(devs, reps, if quick { 1 } else { 2 })?;
    print_train(&lstm, ">= 6500 (issue 5), first step <= 2 s");
    let mut trained = vec![mlp, ae, cnn, lstm];
    if quick {
        println!("  gru, rnn: in the full run (medgpu bench without --quick)");
    } else {
        for cell in [medgpu::graph::Cell::Gru, medgpu::graph::Cell::Elman(medgpu::graph::Act::Tanh)] {
            let r = bench::bench_recurrent(devs, cell, reps, 2)?;
            print_train(&r, "(no target; LSTM's is 6500)");
            trained.push(r);
        }
    }
    Ok(trained)
}

/// The GPU memory each training benchmark planned and created.
fn memory_suite(trained: &[TrainBench]) -> serde_json::Value {
    println!("\nmemory (GPU buffers medgpu created for each training benchmark, bytes)");
    for r in trained {
        let m = &r.memory_planned;
        println!(
            "  {:<28} planned {:>9} (params {}, grads {}, optimizer {}, activations {} of {} without reuse, other {}, matmul scratch {})",
            r.model, m.total(), m.params, m.grads, m.optimizer_state, m.activations, m.activations_unshared, m.other, m.scratch,
        );
        println!(
            "  {:<28} created {:>9} after the first rep, {} after all reps (data set {}, program and run {})",
            "",
            r.gpu_bytes_after_first_rep,
            r.gpu_bytes_after_all,
            r.gpu_bytes_data_set,
            r.gpu_bytes_after_all.saturating_sub(r.gpu_bytes_data_set)
        );
    }
    let mem: Vec<_> = trained
        .iter()
        .map(|r| json!({"model": r.model, "planned": r.memory_planned, "created_after_first_rep": r.gpu_bytes_after_first_rep, "created_after_all": r.gpu_bytes_after_all, "created_data_set": r.gpu_bytes_data_set}))
        .collect();
    json!(mem)
}

/// Cold and warm first steps of each model, each in a fresh process.
fn startup_suite(opts: &DeviceOptions) -> Result<serde_json::Value> {
    println!(
        "\nstartup (seconds from compilation to the first finished step, each in a fresh process; \
         cold: {}; warm: after a run that filled the caches)",
        super::startup::COLD_ENV.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    );
    println!("  {:<14} {:>8} {:>8}", "model", "cold", "warm");
    let mut s = Vec::new();
    for model in bench::STARTUP_MODELS {
        let r = super::startup::measure(opts, model)?;
        println!("  {:<14} {:>8.2} {:>8.2}", r.model, r.cold_secs, r.warm_secs);
        s.push(r);
    }
    Ok(json!(s))
}

/// Integrated gradients over every breast cancer row, batched and not.
fn explain_suite(devs: &bench::Devices, reps: usize) -> Result<serde_json::Value> {
    println!("\nexplanations (integrated gradients, 50 Gauss-Legendre points, all 569 breast cancer rows, default MLP; grad-cam, all 1797 digits, default CNN; target: each < 1 s and >= 20x a row-at-a-time loop)");
    let figures = bench::explain::integrated_gradients(devs.pool.clone(), reps, 40)?;
    let mut figures = figures;
    figures.push(bench::explain::grad_cam(devs.pool.clone(), reps)?);
    for f in &figures {
        println!(
            "  {:<52} {:>7.3} s ({:.3}-{:.3}), {:.3} ms per row, {} submits, {:.1}x the batched time",
            f.name,
            f.seconds.median,
            f.seconds.min,
            f.seconds.max,
            f.ms_per_row,
            f.submits,
            f.batched_speedup
        );
    }
    Ok(json!(figures))
}

/// `medgpu serve` on the default MLP under 64 connections of one-row
/// requests, batching on (`--max-batch 64`) and off (`--max-batch 1`).
fn serve_suite(devs: &bench::Devices, quick: bool) -> Result<serde_json::Value> {
    let (seconds, total) = if quick { (3.0, 10_000) } else { (10.0, 100_000) };
    println!("\nserving (default MLP, 64 connections, one row per request, {seconds} s each; targets: >= 5000 requests/s with p99 < 25 ms, batching >= 5x --max-batch 1, memory flat)");
    let model = bench::explain::default_mlp(devs.pool.clone())?;
    let dir = std::env::temp_dir().join(format!("medgpu-bench-serve-{}", std::process::id()));
    let run = dir.join("breast");
    model.save(&run)?;
    let exe = std::env::current_exe()
        .map_err(|e| medgpu::Error::Options(format!("cannot find medgpu itself: {e}")))?;
    let raw = medgpu::data::builtin_raw("breast_cancer")?.0;
    let row = medgpu::data::encode_apply(&raw, &model.file.encoding, false)?.features[..30].to_vec();
    let body =
        json!({"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP32", "data": row}]}).to_string();
    let mut figures = Vec::new();
    for max_batch in [64, 1] {
        let plan = bench::serve::LoadPlan { max_batch, connections: 64, seconds, total };
        let f = bench::serve::serve_load(&exe, &run, "breast", &body, plan)?;
        println!(
            "  --max-batch {:<3} {:>8.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, mean batch {:.1} rows, {} errors; server RSS {:.1} MiB after 1 request, {:.1} MiB after the load, {:.1} MiB after {}",
            f.max_batch, f.requests_per_sec, f.p50_ms, f.p99_ms, f.mean_batch, f.errors, f.rss_after_first_mib, f.rss_after_load_mib, f.rss_after_total_mib, f.requests_total
        );
        figures.push(f);
    }
    println!(
        "  batching: {:.1}x the requests/s of --max-batch 1",
        figures[0].requests_per_sec / figures[1].requests_per_sec.max(1e-9)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!(figures))
}

/// The suites' figures with the adapter and how they were timed, as JSON at `path`.
fn write_json(
    path: &Path,
    gpu: &medgpu::gpu::Gpu,
    suites: serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let variants = medgpu::kernels::Variants::detect(gpu);
    let v = json!({
        "medgpu_version": env!("CARGO_PKG_VERSION"),
        "adapter": {"name": gpu.info.name, "backend": format!("{:?}", gpu.info.backend),
                    "driver": gpu.info.driver, "driver_info": gpu.info.driver_info},
        "timing": {"kernels": medgpu::graph::timing::timing(gpu), "training": "wall clock, loss readback included"},
        "subgroup_kernels": variants.subgroup8,
        "tiled_matmuls": variants.tiled_matmul.is_some(),
        "suites": suites,
    });
    let bytes = serde_json::to_vec_pretty(&v).map_err(|e| Error::Gpu(e.to_string()))?;
    medgpu::model::checkpoint::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::{add_percent_of_peak, matmul_max, mesa_cache_line};
    use medgpu::bench::kernels::Figure;
    use medgpu::bench::Stat;

    #[test]
    fn gpus_run_the_matmul_suite_up_to_4096_and_cpus_to_2048() {
        assert_eq!(matmul_max(false, false), 4096);
        assert_eq!(matmul_max(false, true), 2048);
        assert_eq!(matmul_max(true, false), 512);
        assert_eq!(matmul_max(true, true), 512);
    }

    #[test]
    fn gflops_figures_get_their_share_of_the_peak() {
        let mut figs = vec![
            Figure::new("matmul_nn 4096x4096x4096", "GFLOPS", Stat::of(&[30_000.0, 26_000.0, 28_000.0])),
            Figure::new("one dispatch within a pass", "us", Stat::of(&[5.0])),
        ];
        add_percent_of_peak(&mut figs, Some(70_000.0));
        assert_eq!(figs[0].percent_of_peak, Some(40.0));
        assert_eq!(figs[1].percent_of_peak, None);
        add_percent_of_peak(&mut figs, None);
        assert_eq!(figs[0].percent_of_peak, None);
    }

    #[test]
    fn first_steps_are_called_cold_only_when_mesas_cache_is_off() {
        for off in ["true", "1", " TRUE "] {
            assert!(mesa_cache_line(Some(off)).contains("cold starts"), "{off}");
        }
        for on in [None, Some("false"), Some("0"), Some("")] {
            assert!(mesa_cache_line(on).contains("warm after"), "{on:?}");
        }
    }
}
