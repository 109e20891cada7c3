//! Refits the entropy model to the latents as they are coded.
//!
//! Training fits the entropy model to noisy, soft-rounded latents (the rate proxy), which
//! spreads each latent over a wider interval than the integer it ends as: the model's scales
//! come out wider than the integers need (docs/neural-rd.md measured the proxy at 1.6–2.3x the
//! real latent rate). Once the latents are integers and fixed, their code length under the
//! float model is an exact, smooth function of the model's parameters alone, so a short
//! full-batch descent on it (no synthesis, no pixels) moves the model to the integers it codes.

use crate::coded::Coded;
use crate::fused::Geometry;
use crate::rate::{self, ArmAcc, ArmW, RateRow};
use crate::train::{adam_update, Bias};
use yoz::neural::arch::{ARM2_PARAMS, GRIDS};

/// One row of one grid: `(grid, row)`.
type Job = (usize, usize);

/// The float entropy-model parameters after `steps` Adam steps of rate `lr` on the exact
/// float code length of `coded`'s latents, starting from `coded`'s own (dequantized) model;
/// the parameters of the step with the fewest bits (the start included). Rows are shared
/// among `threads` threads; the sum is reduced in a fixed order, so the result depends on
/// `threads` but is otherwise deterministic.
pub fn refit(g: &Geometry, coded: &Coded, steps: usize, lr: f32, threads: usize) -> Vec<f32> {
    let mut p = coded.arm.to_float();
    assert_eq!(p.len(), ARM2_PARAMS, "an architecture 2 or 3 entropy model");
    let pads: Vec<Vec<f32>> = (0..GRIDS)
        .map(|k| {
            let (gw, gh) = g.dims[k];
            let mut qp = vec![0f32; rate::padded_len(gw, gh)];
            for y in 0..gh {
                let at = rate::padded_at(gw, y);
                for (d, &v) in qp[at..at + gw].iter_mut().zip(&coded.latents[k][y * gw..]) {
                    *d = v as f32;
                }
            }
            qp
        })
        .collect();
    let jobs: Vec<Job> = (0..GRIDS)
        .flat_map(|k| (0..g.dims[k].1).map(move |y| (k, y)))
        .collect();
    // Contiguous shares of about equal latent counts.
    let total = g.offsets[GRIDS];
    let threads = threads.max(1);
    let mut shares: Vec<&[Job]> = Vec::with_capacity(threads);
    let (mut start, mut seen) = (0, 0);
    for (i, &(k, _)) in jobs.iter().enumerate() {
        seen += g.dims[k].0;
        if seen * threads >= total * (shares.len() + 1) && shares.len() + 1 < threads {
            shares.push(&jobs[start..=i]);
            start = i + 1;
        }
    }
    shares.push(&jobs[start..]);
    let mut accs: Vec<ArmAcc> = shares.iter().map(|_| ArmAcc::new()).collect();
    let scale = 1.0 / (g.w * g.h) as f32;
    let (mut m, mut v) = (vec![0f32; p.len()], vec![0f32; p.len()]);
    let mut best = (f64::INFINITY, p.clone());
    let mut first = None;
    for t in 0..=steps {
        let a = ArmW::from_packed(&p);
        std::thread::scope(|sc| {
            for (share, acc) in shares.iter().zip(accs.iter_mut()) {
                let (a, pads) = (&a, &pads);
                sc.spawn(move || {
                    acc.reset();
                    let mut grad = vec![0f32; g.dims[0].0];
                    for &(k, y) in *share {
                        let gw = g.dims[k].0;
                        let at = rate::padded_at(gw, y);
                        let row = RateRow {
                            qp: &pads[k],
                            gw,
                            y,
                            val: &pads[k][at..at + gw],
                            grad: &mut grad[..gw],
                        };
                        rate::rate_row(a, row, scale, true, acc);
                    }
                });
            }
        });
        let bits: f64 = accs.iter().map(|a| a.bits).sum();
        first.get_or_insert(bits);
        if bits < best.0 {
            best = (bits, p.clone());
        }
        if t == steps {
            break;
        }
        let mut gr = vec![0f32; p.len()];
        for acc in &accs {
            acc.add_to(&mut gr);
        }
        // Adam's default decay: a full-batch gradient, no noise to follow.
        adam_update(&mut p, &gr, &mut m, &mut v, lr, Bias::at(t + 1, 0.999));
    }
    if crate::tracing() {
        eprintln!(
            "  armfit: {:.0} float bits, {:.0} at best",
            first.unwrap_or(0.0),
            best.0
        );
    }
    best.1
}

/// `coded` with its entropy model refitted ([`refit`], `steps` steps of rate `lr`), quantized to
/// Q8 and each tensor's shift chosen again by rate ([`crate::coded::rd_arm`]). The caller keeps
/// it only where the payload is smaller: the float code length is not the integer coder's.
pub fn refit_coded(
    g: &Geometry,
    coded: &Coded,
    steps: usize,
    lr: f32,
    lambda: f64,
    threads: usize,
) -> yoz::Result<Coded> {
    let p = refit(g, coded, steps, lr, threads);
    let mut c = coded.clone();
    c.arm = yoz::neural::arm::ArmQ::from_float(coded.arch, &p);
    crate::coded::rd_arm(g, &c, lambda, threads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coded::quantize;
    use yoz::neural::arch::SYN_HIDDEN;
    use yoz::neural::arm::latent_bits_per_grid;

    fn latent_bits(g: &Geometry, c: &Coded) -> f64 {
        latent_bits_per_grid(&c.arm, &c.latents, g.w, g.h, c.tables)
            .unwrap()
            .iter()
            .sum()
    }

    /// Latents far narrower than the prior expects (mostly zeros) and correlated with their
    /// left neighbour: the refitted model codes them in at least 10 % fewer real bits, the
    /// same way on a second run, and two threads find what one finds up to float rounding.
    #[test]
    fn refit_lowers_the_real_code_length_deterministically() {
        let (w, h, c) = (64, 48, 3);
        let g = Geometry::new(w, h, c);
        let (syn, _) = crate::train::init_params(SYN_HIDDEN, c, 5);
        let mut rng = crate::train::Rng::new(3);
        let mut lat = vec![0f32; g.latents()];
        for k in 0..GRIDS {
            let gw = g.dims[k].0;
            for i in g.offsets[k]..g.offsets[k + 1] {
                let left = if (i - g.offsets[k]) % gw > 0 {
                    lat[i - 1]
                } else {
                    0.0
                };
                let u = rng.uniform(1.0);
                lat[i] = 0.7 * left + if u.abs() > 0.8 { u.signum() * 2.0 } else { 0.0 };
            }
        }
        let coded = quantize(&g, &lat, &syn, &crate::prior::ARM, None);
        let before = latent_bits(&g, &coded);
        let a = refit_coded(&g, &coded, 100, ARM_LR, 1e-3, 2).unwrap();
        let b = refit_coded(&g, &coded, 100, ARM_LR, 1e-3, 2).unwrap();
        assert_eq!(a.arm.params, b.arm.params, "same inputs, same model");
        let after = latent_bits(&g, &a);
        assert!(after < 0.9 * before, "latent bits {before} -> {after}");
        assert_eq!(a.latents, coded.latents, "only the model moves");
        assert_eq!(a.syn, coded.syn);
        let one = refit(&g, &coded, 100, ARM_LR, 1);
        let two = refit(&g, &coded, 100, ARM_LR, 2);
        let worst = one
            .iter()
            .zip(&two)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-2, "threads moved a parameter by {worst}");
    }

    const ARM_LR: f32 = crate::train::ARM_REFIT_LR;
}
