//! `medgpu privacy`: the DP-SGD budget planned before any data is touched:
//! ε for a noise multiplier, or the noise multiplier an ε needs.

use clap::Args;
use medgpu::metrics::privacy::{epsilon, noise_for};
use medgpu::{Error, Result};

/// Options of `medgpu privacy`.
#[derive(Args, Debug)]
pub struct PrivacyArgs {
    /// Probability that a training unit (row or patient) joins a step's batch: batch size / units
    #[arg(long)]
    sample_rate: f64,
    /// Training steps (epochs / sample rate)
    #[arg(long)]
    steps: u64,
    /// δ of the (ε, δ) guarantee; keep it below 1 / units
    #[arg(long, default_value_t = 1e-5)]
    delta: f64,
    /// Noise multiplier σ: prints the ε it spends
    #[arg(long, conflicts_with = "epsilon", required_unless_present = "epsilon")]
    noise: Option<f64>,
    /// Target ε: prints the smallest σ that stays within it
    #[arg(long)]
    epsilon: Option<f64>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

/// Runs `medgpu privacy`.
pub fn run(a: PrivacyArgs) -> Result<()> {
    if !(a.sample_rate > 0.0 && a.sample_rate <= 1.0) {
        return Err(Error::Usage(format!("--sample-rate must be in (0, 1], got {}", a.sample_rate)));
    }
    if !(a.delta > 0.0 && a.delta < 1.0) {
        return Err(Error::Usage(format!("--delta must be in (0, 1), got {}", a.delta)));
    }
    if a.steps == 0 {
        return Err(Error::Usage("--steps must be at least 1".into()));
    }
    let sigma = match (a.noise, a.epsilon) {
        (Some(s), _) if s > 0.0 && s.is_finite() => s,
        (Some(s), _) => return Err(Error::Usage(format!("--noise must be positive, got {s}"))),
        (None, Some(e)) if e > 0.0 && e.is_finite() => noise_for(e, a.sample_rate, a.steps, a.delta).ok_or_else(|| {
            Error::Usage(format!(
                "--epsilon {e} cannot be reached in {} steps at sample rate {} even with noise 1000: train fewer steps or sample less",
                a.steps, a.sample_rate
            ))
        })?,
        (None, Some(e)) => return Err(Error::Usage(format!("--epsilon must be positive, got {e}"))),
        (None, None) => return Err(Error::Usage("give --noise SIGMA or --epsilon E".into())),
    };
    let (eps, order) = epsilon(a.sample_rate, sigma, a.steps, a.delta);
    if a.json {
        let v = serde_json::json!({
            "epsilon": eps, "delta": a.delta, "noise_multiplier": sigma, "sample_rate": a.sample_rate,
            "steps": a.steps, "order": order, "accountant": "rdp (sampled Gaussian, Mironov et al. 2019; Balle et al. 2020 conversion)",
        });
        println!("{v}");
    } else {
        println!(
            "epsilon {eps:.4} at delta {} after {} steps at sample rate {} with noise multiplier {sigma:.4} (RDP order {order})",
            a.delta, a.steps, a.sample_rate
        );
    }
    Ok(())
}
