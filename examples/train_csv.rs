//! Trains a classifier on a CSV file with the library, prints its test
//! metrics and saves it as a run directory.
//!
//! ```sh
//! cargo run --release --example train_csv -- [CSV] [TARGET] [OUT_DIR]
//! ```
//!
//! Defaults: the built-in breast cancer file (`data/breast_cancer.csv`),
//! its `malignant` column, and `target/example-run`
//! (`examples/load_and_predict.rs` reads it back).

use medgpu::{Data, Device, Trainer};

fn main() -> medgpu::Result<()> {
    let mut args = std::env::args().skip(1);
    let csv =
        args.next().unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/breast_cancer.csv").into());
    let target = args.next().unwrap_or_else(|| "malignant".into());
    let out = args.next().unwrap_or_else(|| "target/example-run".into());

    let device = Device::open()?;
    println!("adapter: {}", device.describe());
    let data = Data::csv(&csv).target(&target);
    let model = Trainer::mlp(&[64, 32])
        .epochs(20)
        .early_stopping(5)
        .fit_with(&device, &data, &mut |e| println!("epoch {:>2}: val loss {:.4}", e.epoch, e.val_loss))?;
    if let Some(m) = model.test_metrics() {
        let (name, value) = m.headline();
        println!("test {name}: {value:.4}");
    }
    model.save(&out)?;
    println!("saved to {out}");
    Ok(())
}
