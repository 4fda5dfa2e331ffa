//! `cargo bench`: matmul GFLOPS up to 512 and the training benchmarks of
//! the MLP, the dense autoencoder, the digits CNN and the ECG LSTM, each
//! with the time of every kernel of its step (`medgpu bench` has every
//! suite).

use medgpu::bench::Devices;
use medgpu::gpu::DeviceOptions;

/// A training benchmark: (devices, repetitions, epochs per repetition).
type TrainBenchFn = fn(&Devices, usize, usize) -> medgpu::Result<medgpu::bench::TrainBench>;

fn main() {
    if std::env::var_os("VK_LOADER_LAYERS_DISABLE").is_none() {
        std::env::set_var("VK_LOADER_LAYERS_DISABLE", "*device_select*");
    }
    let devs = match Devices::open(&DeviceOptions::default()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let gpu = devs.pool.clone();
    let mut cache = medgpu::kernels::PipelineCache::new();
    match medgpu::bench::kernels::matmul(&gpu, &mut cache, 512, 5) {
        Ok(figs) => {
            for f in figs {
                println!(
                    "{:<40} {:>8.2} {} (min {:.2}, max {:.2})",
                    f.name, f.value.median, f.unit, f.value.min, f.value.max
                );
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
    println!("adapter: {}; kernels timed by {}", gpu.describe(), medgpu::graph::timing::timing(&gpu));
    // (name, benchmark, repetitions, epochs each): an LSTM epoch takes ~15 s on lavapipe
    let models: [(&str, TrainBenchFn, usize, usize); 4] = [
        ("mlp", medgpu::bench::bench_default_mlp, 5, 5),
        ("autoencoder", medgpu::bench::bench_autoencoder, 5, 5),
        ("cnn", medgpu::bench::bench_cnn, 5, 5),
        ("lstm", medgpu::bench::bench_lstm, 3, 1),
    ];
    for (name, run, reps, epochs) in models {
        match run(&devs, reps, epochs) {
            Ok(r) => {
                println!(
                    "{name} {} batch {}: {:.0} samples/s (min {:.0}, max {:.0}), {} dispatches/step{}, {:.1} us CPU to record a step, first step {:.3} s",
                    r.model,
                    r.batch,
                    r.samples_per_sec.median,
                    r.samples_per_sec.min,
                    r.samples_per_sec.max,
                    r.dispatches_per_step,
                    if r.kernels_inline { " (kernels inline)" } else { "" },
                    r.encode_us_per_step.median,
                    r.first_step_secs
                );
                for (kernel, us) in &r.per_dispatch_us {
                    println!("    {kernel:<28} {us:>9.1} us");
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
}
