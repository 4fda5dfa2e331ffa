//! Trains on rows that are already in memory (no file), then predicts new
//! rows given in the data's own units.
//!
//! ```sh
//! cargo run --release --example train_in_memory
//! ```
//!
//! The data are synthetic: a risk score from age and systolic blood
//! pressure, labelled `high` above a threshold.

use medgpu::{Data, Device, Labels, Predictions, Trainer};

fn main() -> medgpu::Result<()> {
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for i in 0..400u32 {
        let age = 30.0 + (i * 37 % 50) as f32;
        let systolic = 100.0 + (i * 53 % 80) as f32;
        rows.extend([age, systolic]);
        let high = 0.04 * age + 0.02 * systolic > 5.0;
        labels.push(if high { "high" } else { "low" }.to_string());
    }
    let data = Data::from_rows(&["age", "systolic_bp"], &rows, Labels::Classes(labels))?;

    let device = Device::open()?;
    let model = Trainer::mlp(&[16]).epochs(40).learning_rate(1e-2).fit(&device, &data)?;
    println!("test: {:?}", model.test_metrics().map(|m| m.headline()));

    // two new patients: 75 years at 170 mmHg, 35 years at 110 mmHg
    let p = model.predict(&[75.0, 170.0, 35.0, 110.0])?;
    if let Predictions::Classes { labels, probabilities, .. } = &p {
        for (row, label) in p.predicted_labels().iter().enumerate() {
            let probs = &probabilities[row * labels.len()..(row + 1) * labels.len()];
            println!("patient {row}: {label} (probabilities {labels:?} = {probs:.3?})");
        }
    }
    Ok(())
}
