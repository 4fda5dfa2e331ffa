//! Loads a saved model and predicts every row of a CSV file.
//!
//! ```sh
//! cargo run --release --example load_and_predict -- [RUN_DIR] [CSV]
//! ```
//!
//! Defaults: `target/example-run` (written by `examples/train_csv.rs`, or
//! any `medgpu train` run directory) and the built-in breast cancer file.

use medgpu::{Data, Device, Model, Predictions};

fn main() -> medgpu::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "target/example-run".into());
    let csv =
        args.next().unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/breast_cancer.csv").into());

    let device = Device::open()?;
    let model = Model::load(&device, &dir)?;
    let first: Vec<&str> = model.feature_names().iter().take(3).map(String::as_str).collect();
    println!("{} inputs, the first {}", model.feature_names().len(), first.join(", "));
    let data = Data::csv(&csv);
    match model.predict_data(&data)? {
        p @ Predictions::Classes { .. } => {
            let labels = p.predicted_labels();
            println!("{} rows; the first five are {:?}", labels.len(), &labels[..labels.len().min(5)]);
        }
        other => println!("{} rows predicted", other.rows()),
    }
    if model.file().encoding.target.is_some() {
        let (name, value) = model.evaluate(&data)?.headline();
        println!("{name} on {csv}: {value:.4}");
    }
    Ok(())
}
