//! The privacy accountant of DP-SGD: Rényi differential privacy of the
//! sampled Gaussian mechanism (Mironov, Talwar and Zhang, 2019) over a grid
//! of orders, composed over steps, and converted to (ε, δ) with the bound of
//! Balle et al. (2020). The orders are those Opacus uses by default.

/// The RDP orders: 1.1, 1.2, ..., 10.9, then 12, 13, ..., 63.
pub fn default_orders() -> Vec<f64> {
    (1..100).map(|x| 1.0 + x as f64 / 10.0).chain((12..64).map(|a| a as f64)).collect()
}

/// log(e^a + e^b), with e^-inf = 0.
fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// log(e^a − e^b) for a ≥ b.
fn log_sub(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    if a <= b {
        return f64::NEG_INFINITY;
    }
    a + (-(b - a).exp()).ln_1p()
}

/// log(erfc(x)), accurate where erfc underflows (Chebyshev fit of erfc,
/// relative error below 1.2e-7, Numerical Recipes' erfcc; for x < 0,
/// erfc(x) = 2 − erfc(−x)).
fn log_erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let log_erfc_z = t.ln() + poly;
    if x >= 0.0 {
        log_erfc_z
    } else {
        (2.0 - log_erfc_z.exp()).ln()
    }
}

/// ln C(n, k) for integers.
fn log_binom(n: u64, k: u64) -> f64 {
    (1..=k).map(|i| ((n - k + i) as f64).ln() - (i as f64).ln()).sum()
}

/// log A_α for an integer order (Mironov et al., 2019, section 3.3).
fn log_a_int(q: f64, sigma: f64, alpha: u64) -> f64 {
    let mut log_a = f64::NEG_INFINITY;
    for i in 0..=alpha {
        let log_coef = log_binom(alpha, i) + i as f64 * q.ln() + (alpha - i) as f64 * (1.0 - q).ln();
        let s = log_coef + (i * i - i) as f64 / (2.0 * sigma * sigma);
        log_a = log_add(log_a, s);
    }
    log_a
}

/// log A_α for a fractional order (Mironov et al., 2019, section 3.3): the
/// two series summed until their terms are below e^-30.
fn log_a_frac(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (mut log_a0, mut log_a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    // the generalized binomial coefficient C(α, i) as a log magnitude and a sign
    let (mut log_coef, mut positive) = (0.0f64, true);
    let mut i = 0u64;
    loop {
        let fi = i as f64;
        let j = alpha - fi;
        let log_t0 = log_coef + fi * q.ln() + j * (1.0 - q).ln();
        let log_t1 = log_coef + j * q.ln() + fi * (1.0 - q).ln();
        let log_e0 = 0.5f64.ln() + log_erfc((fi - z0) / (2f64.sqrt() * sigma));
        let log_e1 = 0.5f64.ln() + log_erfc((z0 - j) / (2f64.sqrt() * sigma));
        let log_s0 = log_t0 + (fi * fi - fi) / (2.0 * sigma * sigma) + log_e0;
        let log_s1 = log_t1 + (j * j - j) / (2.0 * sigma * sigma) + log_e1;
        if positive {
            log_a0 = log_add(log_a0, log_s0);
            log_a1 = log_add(log_a1, log_s1);
        } else {
            log_a0 = log_sub(log_a0, log_s0);
            log_a1 = log_sub(log_a1, log_s1);
        }
        if log_s0.max(log_s1) < -30.0 || i > 10_000 {
            break;
        }
        // C(α, i + 1) = C(α, i) (α − i) / (i + 1)
        let step = alpha - fi;
        log_coef += step.abs().ln() - (fi + 1.0).ln();
        if step < 0.0 {
            positive = !positive;
        }
        i += 1;
    }
    log_add(log_a0, log_a1)
}

/// The RDP at order `alpha` of one step of the sampled Gaussian mechanism
/// with sampling rate `q` and noise multiplier `sigma`.
pub fn rdp_step(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q == 0.0 {
        return 0.0;
    }
    if q >= 1.0 {
        return alpha / (2.0 * sigma * sigma);
    }
    if alpha.fract() == 0.0 {
        log_a_int(q, sigma, alpha as u64) / (alpha - 1.0)
    } else {
        log_a_frac(q, sigma, alpha) / (alpha - 1.0)
    }
}

/// ε spent after `steps` steps at (`q`, `sigma`) for `delta`, and the order
/// that gives it: the smallest over the default orders of
/// RDP − (ln δ + ln α) / (α − 1) + ln((α − 1) / α) (Balle et al., 2020).
///
/// ```
/// let (eps, _) = medgpu::metrics::privacy::epsilon(0.04, 1.5, 2250, 1e-5);
/// assert!((eps - 7.32911).abs() < 1e-4);
/// ```
pub fn epsilon(q: f64, sigma: f64, steps: u64, delta: f64) -> (f64, f64) {
    let mut best = (f64::INFINITY, f64::NAN);
    for alpha in default_orders() {
        let rdp = rdp_step(q, sigma, alpha) * steps as f64;
        let eps = rdp - (delta.ln() + alpha.ln()) / (alpha - 1.0) + ((alpha - 1.0) / alpha).ln();
        if eps.is_finite() && eps < best.0 {
            best = (eps, alpha);
        }
    }
    (best.0.max(0.0), best.1)
}

/// The smallest noise multiplier whose ε after `steps` steps at rate `q`
/// stays within `target` for `delta` (bisection to a relative 1e-4), or
/// `None` when even σ = 1000 does not reach it.
pub fn noise_for(target: f64, q: f64, steps: u64, delta: f64) -> Option<f64> {
    let (mut lo, mut hi) = (0.01f64, 1000.0f64);
    if epsilon(q, hi, steps, delta).0 > target {
        return None;
    }
    while (hi - lo) / hi > 1e-4 {
        let mid = (lo * hi).sqrt();
        if epsilon(q, mid, steps, delta).0 > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opacus_golden_value() {
        // q = 0.04, sigma = 1.5, 2,250 steps, delta = 1e-5: epsilon 7.32911
        let (eps, _) = epsilon(0.04, 1.5, 2250, 1e-5);
        assert!((eps - 7.32911).abs() < 1e-4, "{eps}");
    }

    #[test]
    fn without_subsampling_the_rdp_is_that_of_the_gaussian() {
        for alpha in [1.5, 2.0, 7.3, 32.0] {
            assert_eq!(rdp_step(1.0, 2.0, alpha), alpha / 8.0);
        }
        // epsilon of 10 full-batch steps by hand at order 32 is an upper bound
        let (eps, _) = epsilon(1.0, 2.0, 10, 1e-5);
        let at32 = 10.0 * 32.0 / 8.0 - (1e-5f64.ln() + 32f64.ln()) / 31.0 + (31.0f64 / 32.0).ln();
        assert!(eps <= at32 + 1e-12);
    }

    #[test]
    fn integer_and_fractional_orders_agree_where_they_meet() {
        // the fractional series at 4 ± 1e-7 against the integer sum at 4
        let (q, s) = (0.01, 1.1);
        let int = rdp_step(q, s, 4.0);
        assert!((log_a_frac(q, s, 4.0 + 1e-7) / (3.0 + 1e-7) - int).abs() < 1e-5 * int.max(1e-9));
    }

    #[test]
    fn epsilon_grows_with_the_rate_and_the_steps_and_falls_with_the_noise() {
        let e = |q, s, n| epsilon(q, s, n, 1e-5).0;
        assert!(e(0.01, 1.0, 1000) < e(0.02, 1.0, 1000));
        assert!(e(0.01, 1.0, 1000) < e(0.01, 1.0, 2000));
        assert!(e(0.01, 2.0, 1000) < e(0.01, 1.0, 1000));
        // no sampling spends nothing: what is left is the conversion's floor at the largest order
        let floor = -(1e-5f64.ln() + 63f64.ln()) / 62.0 + (62.0f64 / 63.0).ln();
        assert!((e(0.0, 1.0, 1000) - floor).abs() < 1e-12);
        assert!(e(0.0, 1.0, 1000) < e(0.0001, 1.0, 1000));
    }

    #[test]
    fn the_noise_found_for_a_budget_meets_it() {
        let s = noise_for(1.0, 0.08, 250, 1e-5).unwrap();
        let (eps, _) = epsilon(0.08, s, 250, 1e-5);
        assert!(eps <= 1.0 && eps > 0.99, "sigma {s}: epsilon {eps}");
        assert!(noise_for(1e-9, 1.0, 1_000_000, 1e-5).is_none());
    }

    #[test]
    fn erfc_logs_match_known_values() {
        // erfc(0) = 1, erfc(1) = 0.157299207, erfc(5) = 1.5374597944e-12, erfc(-1) = 1.842700793
        for (x, want) in [(0.0, 1.0f64), (1.0, 0.157299207), (5.0, 1.5374597944e-12), (-1.0, 1.842700793)] {
            assert!((log_erfc(x) - want.ln()).abs() < 2e-7, "{x}: {} vs {}", log_erfc(x), want.ln());
        }
    }
}
