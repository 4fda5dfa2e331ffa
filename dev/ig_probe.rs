//! Completeness gaps of integrated gradients on the default MLP by rule and steps.
use medgpu::model::explain::{Baseline, Method, Rule, Target};
use medgpu::{Data, Device, Trainer};
fn main() -> medgpu::Result<()> {
    let device = Device::open()?;
    let model = Trainer::mlp(&[64, 32]).fit(&device, &Data::builtin("breast_cancer"))?;
    let data = Data::builtin("breast_cancer");
    for (rule, steps) in [
        (Rule::GaussLegendre, 50),
        (Rule::GaussLegendre, 200),
        (Rule::RiemannMiddle, 50),
        (Rule::RiemannTrapezoid, 50),
        (Rule::RiemannMiddle, 200),
    ] {
        let t = std::time::Instant::now();
        let e = model.explain_data(
            &data,
            &Method::IntegratedGradients { steps, rule, baseline: Baseline::Zeros },
            Target::Default,
        )?;
        let secs = t.elapsed().as_secs_f64();
        let mut fails = 0;
        let mut worst: f64 = 0.0;
        let mut worst_abs: f64 = 0.0;
        for r in 0..e.rows() {
            let change = e.output[r] - e.baseline_output[r];
            if e.delta[r].abs() > (0.01 * change.abs()).max(1e-4) {
                fails += 1;
            }
            worst = worst.max(e.delta[r].abs() / change.abs().max(1e-12));
            worst_abs = worst_abs.max(e.delta[r].abs());
        }
        let refined = e.panels.iter().filter(|p| **p > 1).count();
        let most = e.panels.iter().max().copied().unwrap_or(1);
        println!("{rule:?} {steps}: {fails} of {} rows over 1% after refining {refined} rows (up to {most} panels; worst {:.3}%, largest |delta| {:.2e}); {secs:.2} s", e.rows(), worst * 100.0, worst_abs);
    }
    Ok(())
}
