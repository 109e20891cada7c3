//! Fitting the low-frequency residual (payload flag bit 3; `yoz::neural::residual`) to a
//! trained model, after training: least squares on the decoded output, then each channel's
//! step and the block size chosen by the real rate–distortion cost, and none at all where that
//! is cheaper (low rates, where a few hundred bytes outweigh what they fix).

use crate::coded::Coded;
use crate::fused::Geometry;
use yoz::neural::arch::{hidden_for_params, SYN_HIDDEN, SYN_HIDDEN_WIDE};
use yoz::neural::kernels::{forward, SynW};
use yoz::neural::residual::{dims, upsample_add, upsample_transpose_add, Residual};
use yoz::neural::weights::{step_of, tensor_bits, Q_MAX, SYN_EXP_BITS};

/// Block size exponents tried (8, 16 and 32 pixels): finer blocks fix more and cost more. Adding
/// 4 and 64 won on the trained loss at four high-rate points and lost on BD-rate (blinds +2.6 %,
/// mean ±0; docs/neural-rd.md, stop 31).
const LOG2S: [u8; 3] = [3, 4, 5];
/// Step exponents tried: 2^-6 (about 4 code values) to 2^-10 (a quarter of one).
const EXPS: std::ops::RangeInclusive<u8> = 6..=10;
/// Least-squares iterations (preconditioned gradient steps; the problem is well conditioned:
/// each coarse value sees about a block of pixels).
const ITERS: usize = 24;

/// The synthesis output planes `[c][h][w]` of a coded model, without the residual.
fn output_planes(g: &Geometry, coded: &Coded, threads: usize) -> Vec<f32> {
    let params = coded.syn_params_f32();
    let lat = coded.latents_f32();
    match hidden_for_params(params.len(), g.c) {
        Some(SYN_HIDDEN_WIDE) => forward(
            &SynW::<SYN_HIDDEN_WIDE>::from_packed(&params, g.c),
            g,
            &lat,
            threads,
        ),
        Some(SYN_HIDDEN) => forward(
            &SynW::<SYN_HIDDEN>::from_packed(&params, g.c),
            g,
            &lat,
            threads,
        ),
        _ => unreachable!("a coded model has an architecture's synthesis"),
    }
}

/// Squared error, in code values, of `round(clamp(p + a) · 255)` against `t` (8-bit).
fn sq_error(p: &[f32], a: &[f32], t: &[u8]) -> f64 {
    p.iter()
        .zip(a)
        .zip(t)
        .map(|((&p, &a), &t)| {
            let v = ((p + a).clamp(0.0, 1.0) * 255.0).round();
            let d = f64::from(v) - f64::from(t);
            d * d
        })
        .sum()
}

/// The least-squares coarse plane for one channel: minimises `Σ (t − clamp(p + U g))²`
/// by preconditioned gradient steps (pixels clamped against the error's sign do not pull).
fn least_squares(p: &[f32], t: &[f32], d: (usize, usize), wh: (usize, usize)) -> Vec<f32> {
    let n = wh.0 * wh.1;
    let mut norm = vec![0f32; d.0 * d.1];
    upsample_transpose_add(&vec![1.0; n], d, wh, &mut norm);
    let mut g = vec![0f32; d.0 * d.1];
    let mut up = vec![0f32; n];
    let mut r = vec![0f32; n];
    let mut grad = vec![0f32; d.0 * d.1];
    for _ in 0..ITERS {
        up.iter_mut().for_each(|v| *v = 0.0);
        upsample_add(&g, d, wh, &mut up);
        for ((r, (&p, &u)), &t) in r.iter_mut().zip(p.iter().zip(&up)).zip(t) {
            let v = p + u;
            let e = t - v.clamp(0.0, 1.0);
            // Outside [0, 1] moving further out changes nothing: no pull that way.
            *r = if (v > 1.0 && e > 0.0) || (v < 0.0 && e < 0.0) {
                0.0
            } else {
                e
            };
        }
        grad.iter_mut().for_each(|v| *v = 0.0);
        upsample_transpose_add(&r, d, wh, &mut grad);
        for ((g, &gr), &nm) in g.iter_mut().zip(&grad).zip(&norm) {
            *g += gr / nm.max(1e-6);
        }
    }
    g
}

/// One channel's best quantization of `g`: `(rate–distortion cost, exponent, integers)` with
/// cost `SE / (255² · pixels · c) + lambda · bits / pixels`.
fn best_channel(
    p: &[f32],
    t8: &[u8],
    g: &[f32],
    d: (usize, usize),
    wh: (usize, usize),
    lambda: f64,
    c: usize,
) -> (f64, u8, Vec<i32>) {
    let n = (wh.0 * wh.1) as f64;
    let mut best: Option<(f64, u8, Vec<i32>)> = None;
    let mut up = vec![0f32; wh.0 * wh.1];
    for e in EXPS {
        let step = step_of(e);
        let q: Vec<i32> = g
            .iter()
            .map(|&v| ((v / step).round() as i32).clamp(-Q_MAX, Q_MAX))
            .collect();
        let deq: Vec<f32> = q.iter().map(|&v| v as f32 * step).collect();
        up.iter_mut().for_each(|v| *v = 0.0);
        upsample_add(&deq, d, wh, &mut up);
        let se = sq_error(p, &up, t8);
        let bits = tensor_bits(&q) + f64::from(SYN_EXP_BITS);
        let cost = se / (255.0 * 255.0 * n * c as f64) + lambda * bits / n;
        if best.as_ref().is_none_or(|b| cost < b.0) {
            best = Some((cost, e, q));
        }
    }
    best.expect("at least one step")
}

/// `coded` with the residual that lowers `MSE + lambda · bpp` the most, or `coded` unchanged
/// (no residual) when none does by this estimate; the caller checks the real payload.
pub fn fit(g: &Geometry, coded: &Coded, pixels: &[u8], lambda: f64, threads: usize) -> Coded {
    let (w, h, c) = (g.w, g.h, g.c);
    let n = w * h;
    let planes = output_planes(g, coded, threads);
    let t8: Vec<Vec<u8>> = (0..c)
        .map(|o| (0..n).map(|i| pixels[i * c + o]).collect())
        .collect();
    let tf: Vec<Vec<f32>> = t8
        .iter()
        .map(|t| t.iter().map(|&v| f32::from(v) / 255.0).collect())
        .collect();
    let zero = vec![0f32; n];
    let base: f64 = (0..c)
        .map(|o| sq_error(&planes[o * n..][..n], &zero, &t8[o]))
        .sum::<f64>()
        / (255.0 * 255.0 * (n * c) as f64);
    let mut best: Option<(f64, Residual)> = None;
    for log2 in LOG2S {
        let d = dims(w, h, log2);
        // The channels are independent: fit and quantize each on its own thread.
        let per: Vec<(f64, u8, Vec<i32>)> = std::thread::scope(|s| {
            let jobs: Vec<_> = (0..c)
                .map(|o| {
                    let (p, t, t8) = (&planes[o * n..][..n], &tf[o], &t8[o]);
                    s.spawn(move || {
                        let gplane = least_squares(p, t, d, (w, h));
                        best_channel(p, t8, &gplane, d, (w, h), lambda, c)
                    })
                })
                .collect();
            jobs.into_iter()
                .map(|j| j.join().expect("residual worker"))
                .collect()
        });
        let header_bits = 3.0 + 16.0;
        let cost = per.iter().map(|x| x.0).sum::<f64>() + lambda * header_bits / n as f64;
        if best.as_ref().is_none_or(|b| cost < b.0) {
            best = Some((
                cost,
                Residual {
                    log2,
                    exps: per.iter().map(|x| x.1).collect(),
                    values: per.into_iter().map(|x| x.2).collect(),
                },
            ));
        }
    }
    match best {
        Some((cost, r)) if cost < base => Coded {
            residual: Some(r),
            ..coded.clone()
        },
        _ => Coded {
            residual: None,
            ..coded.clone()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coded::{coded_size, quantize, real_psnr};
    use yoz::neural::arch::{syn_param_count, SYN_HIDDEN};

    /// A model whose synthesis outputs a flat grey (all weights zero) against an image with a
    /// smooth colour ramp: the residual must take most of the ramp when bits are cheap, the
    /// real loss must fall, and when bits are dear no residual is sent.
    #[test]
    fn fits_a_smooth_colour_error_and_only_when_it_pays() {
        let (w, h, c) = (64, 48, 3);
        let g = Geometry::new(w, h, c);
        let mut pixels = vec![0u8; w * h * c];
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) * c;
                pixels[i] = (60 + x * 2) as u8;
                pixels[i + 1] = (200 - y * 2) as u8;
                pixels[i + 2] = (90 + (x + y)) as u8;
            }
        }
        let syn = vec![0f32; syn_param_count(SYN_HIDDEN, c)];
        let lat = vec![0f32; g.latents()];
        let coded = quantize(&g, &lat, &syn, &crate::prior::ARM, None);
        let px = (w * h) as f64;
        let loss = |m: &Coded, lambda: f64| {
            let (_, mse) = real_psnr(&g, m, &pixels);
            mse + lambda * coded_size(m).unwrap() as f64 * 8.0 / px
        };
        let cheap = 1e-6;
        let fitted = fit(&g, &coded, &pixels, cheap, 2);
        let r = fitted.residual.as_ref().expect("a residual pays here");
        assert_eq!(r.values.len(), c);
        let (before, after) = (
            real_psnr(&g, &coded, &pixels).0,
            real_psnr(&g, &fitted, &pixels).0,
        );
        assert!(after > before + 15.0, "{before:.2} dB -> {after:.2} dB");
        assert!(loss(&fitted, cheap) < loss(&coded, cheap));
        // It decodes to the same pixels through the payload.
        let p = yoz::neural::payload::encode(&fitted).unwrap();
        let back = yoz::neural::payload::decode(&p, 1 << 20).unwrap();
        assert_eq!(back, fitted);
        // A rate weight at which no block offset is worth its bits.
        assert!(fit(&g, &coded, &pixels, 10.0, 2).residual.is_none());
    }
}
