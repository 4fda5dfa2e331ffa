//! Per-kernel time of one training step of a built-in benchmark model:
//! `cargo run --release --example profile_step -- [mlp|autoencoder|cnn|lstm] [reps]`.
//! Each dispatch is replayed alone `reps` times (wall clock); the figures
//! show where a step's time goes when tuning kernels.

use medgpu::gpu::DeviceOptions;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let model = args.get(1).map_or("cnn", |s| s.as_str());
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let devs = medgpu::bench::Devices::open(&DeviceOptions::default())?;
    println!("{}", devs.pool.describe());
    for round in 0..rounds {
        let r = match model {
            "mlp" => medgpu::bench::bench_default_mlp(&devs, 3, 2)?,
            "autoencoder" => medgpu::bench::bench_autoencoder(&devs, 3, 2)?,
            "lstm" => medgpu::bench::bench_lstm(&devs, 1, 1)?,
            _ => medgpu::bench::bench_cnn(&devs, 3, 2)?,
        };
        println!("round {round}: {} samples/s {:.0}", r.model, r.samples_per_sec.median);
        let total: f64 = r.per_dispatch_us.iter().map(|(_, us)| us).sum();
        for (k, us) in &r.per_dispatch_us {
            println!("  {k:<28} {us:>9.1} us");
        }
        println!("  {:<28} {total:>9.1} us", "sum");
    }
    Ok(())
}
