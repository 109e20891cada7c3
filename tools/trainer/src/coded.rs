//! The real, coded model: quantized weights, rounded latents, payload bytes, real PSNR.

use crate::fused::Geometry;
use yoz::neural::arch::{
    hidden_for_params, syn_layout, ARCH_V2, ARCH_V3, ARM2_TENSORS, GRIDS, LATENT_MAX,
    SYN_HIDDEN_WIDE, SYN_TENSORS,
};
use yoz::neural::arm::{encode_latents, ArmQ, TableSet};
use yoz::neural::payload::{self, NeuralImage};
use yoz::neural::weights::{arm_shift, step_exponent, step_of, tensor_bits, Q_MAX};

/// The quantized model of one image (alpha is added when writing).
pub type Coded = NeuralImage;

/// How the network's weights are quantized (architecture 2; architecture 1's int8 weights
/// went with its smaller entropy model, which the trainer no longer trains).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightCoding {
    /// A fixed rule: the power-of-two step just below `max|w| / 127`,
    /// entropy coded (the coder's gain alone, for the ablation).
    Coded,
    /// Architecture 2 with each tensor's step chosen by the real rate–distortion cost
    /// ([`rd_weights`]), the default.
    Rd,
}

/// The exponent of the power-of-two step just below `max|w| / 127` (about int8's precision).
fn fine_exponent(max_abs: f32) -> u8 {
    if max_abs <= 0.0 {
        return 0;
    }
    ((127.0 / max_abs).log2().ceil()).clamp(0.0, 31.0) as u8
}

/// Quantizes one synthesis tensor with step `step` (values clamped to the coder's range).
fn quantize_tensor(w: &[f32], step: f32, out: &mut [i32]) {
    for (o, &v) in out.iter_mut().zip(w) {
        *o = (v / step).round().clamp(-(Q_MAX as f32), Q_MAX as f32) as i32;
    }
}

/// Quantizes the model: synthesis tensors with the fine rule (which [`rd_weights`] may then
/// coarsen), the ARM to Q8, the latents rounded, the upsampling filter (if trained) to its
/// integers. The synthesis's width (told by `syn`'s length) picks architecture 2 or 3.
pub fn quantize(g: &Geometry, lat: &[f32], syn: &[f32], arm: &[f32], ups: Option<&[f32]>) -> Coded {
    let hid = hidden_for_params(syn.len(), g.c).expect("an architecture's synthesis");
    let arch = if hid == SYN_HIDDEN_WIDE {
        ARCH_V3
    } else {
        ARCH_V2
    };
    let mut q = vec![0i32; syn.len()];
    let mut steps = [0f32; SYN_TENSORS];
    for (t, spec) in syn_layout(hid, g.c).iter().enumerate() {
        let r = spec.offset..spec.offset + spec.len();
        let m = syn[r.clone()].iter().fold(0f32, |a, &v| a.max(v.abs()));
        steps[t] = step_of(fine_exponent(m));
        quantize_tensor(&syn[r.clone()], steps[t], &mut q[r]);
    }
    let latents = (0..GRIDS)
        .map(|k| {
            lat[g.offsets[k]..g.offsets[k + 1]]
                .iter()
                .map(|&v| (crate::round_latent(v) as i32).clamp(-LATENT_MAX, LATENT_MAX))
                .collect()
        })
        .collect();
    NeuralImage {
        arch,
        width: g.w as u32,
        height: g.h as u32,
        channels: g.c as u8,
        syn: q,
        steps,
        arm: ArmQ::from_float(arch, arm),
        latents,
        alpha: None,
        filter: ups.map(|p| {
            let mut q = [0i32; yoz::neural::upsample::FILTER_PARAMS];
            for (q, &v) in q.iter_mut().zip(p) {
                let m = yoz::neural::upsample::FILTER_Q_MAX;
                *q = ((v * yoz::neural::upsample::FILTER_SCALE).round() as i32).clamp(-m, m);
            }
            q
        }),
        // Smaller on every one of 48 trained payloads (docs/neural-rd.md, stop 30);
        // [`crate::train::Trainer::finalize`] still keeps set 1 where it codes them smaller.
        tables: TableSet::Set2,
        residual: None,
    }
}

/// How far [`rd_weights`] coarsens a tensor's step below the fine rule (2^8 = 256x coarser
/// reaches "all zero" for any tensor the fine rule codes in int8 range), and refines it.
const RD_COARSER: u8 = 8;
const RD_FINER: u8 = 1;
/// Coarsest shift tried for the entropy model's Q8 integers.
const RD_ARM_SHIFT: u32 = 6;

/// Chooses each tensor's step by the real rate–distortion cost, `MSE + lambda · bits / pixels`
/// with the MSE of the decoded pixels and the bits of the coded tensor (synthesis tensors),
/// or the bits of the tensor plus the really coded latents (entropy-model tensors, whose
/// values change the latents' rate, not the pixels). One coordinate pass in packing order,
/// candidates evaluated on `threads` threads. `syn` are the float weights `coded` was
/// quantized from.
pub fn rd_weights(
    g: &Geometry,
    coded: &Coded,
    syn: &[f32],
    pixels: &[u8],
    lambda: f64,
    threads: usize,
) -> yoz::Result<Coded> {
    let n = (g.w * g.h) as f64;
    let mut cur = coded.clone();
    for (t, spec) in syn_layout(coded.hidden(), g.c).iter().enumerate() {
        let r = spec.offset..spec.offset + spec.len();
        let e0 = step_exponent(cur.steps[t]).unwrap_or(0);
        let cands: Vec<u8> = (e0.saturating_sub(RD_COARSER)..=(e0 + RD_FINER).min(31)).collect();
        let cost = |e: u8| {
            let mut c = cur.clone();
            c.steps[t] = step_of(e);
            quantize_tensor(&syn[r.clone()], c.steps[t], &mut c.syn[r.clone()]);
            let bits = tensor_bits(&c.syn[r.clone()]);
            let mse = psnr_of(&decode_pixels(g, &c), pixels).1;
            (mse + lambda * bits / n, c)
        };
        let costs = par_map(&cands, threads, cost);
        if let Some((_, best)) = costs.into_iter().min_by(|a, b| a.0.total_cmp(&b.0)) {
            cur = best;
        }
        if crate::tracing() {
            let q = &cur.syn[r.clone()];
            eprintln!(
                "  rd {}: step 2^-{} (fine 2^-{e0}), {:.0} bits, {} of {} zero",
                spec.name,
                step_exponent(cur.steps[t]).unwrap_or(0),
                tensor_bits(q),
                q.iter().filter(|&&v| v == 0).count(),
                q.len()
            );
        }
    }
    rd_arm(g, &cur, lambda, threads)
}

/// The entropy-model part of [`rd_weights`]: each tensor's shift (a coarser step for its Q8
/// integers) chosen by the bits of the tensor plus the really coded latents.
pub fn rd_arm(g: &Geometry, coded: &Coded, lambda: f64, threads: usize) -> yoz::Result<Coded> {
    let n = (g.w * g.h) as f64;
    let mut cur = coded.clone();
    let (w, h) = (g.w, g.h);
    for &(name, off, len) in &ARM2_TENSORS {
        let base: Vec<i16> = cur.arm.params[off..off + len].to_vec();
        let cost = |s: &u32| -> yoz::Result<(f64, Coded)> {
            let mut c = cur.clone();
            for (p, &v) in c.arm.params[off..off + len].iter_mut().zip(&base) {
                let x = (f64::from(v) / f64::from(1u32 << s)).round() * f64::from(1u32 << s);
                *p = x.clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16;
            }
            let ints: Vec<i32> = c.arm.params[off..off + len]
                .iter()
                .map(|&v| i32::from(v) >> s)
                .collect();
            let lat_bits = encode_latents(&c.arm, &c.latents, w, h, c.tables)?.len() as f64 * 8.0;
            Ok((lambda * (lat_bits + tensor_bits(&ints)) / n, c))
        };
        let shifts: Vec<u32> = (0..=RD_ARM_SHIFT).collect();
        let mut best: Option<(f64, Coded)> = None;
        for r in par_map(&shifts, threads, |s| cost(&s)) {
            let r = r?;
            if best.as_ref().is_none_or(|b| r.0 < b.0) {
                best = Some(r);
            }
        }
        if let Some((_, b)) = best {
            cur = b;
        }
        if crate::tracing() {
            let v = &cur.arm.params[off..off + len];
            let s = arm_shift(v);
            let ints: Vec<i32> = v.iter().map(|&x| i32::from(x) >> s).collect();
            eprintln!(
                "  rd {name}: shift {s}, {:.0} bits, {} of {len} zero",
                tensor_bits(&ints),
                v.iter().filter(|&&x| x == 0).count()
            );
        }
    }
    Ok(cur)
}

/// `f` over `items` on up to `threads` scoped threads, results in item order.
fn par_map<T: Sync + Copy, R: Send, F: Fn(T) -> R + Sync>(
    items: &[T],
    threads: usize,
    f: F,
) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|sc| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let f = &f;
                sc.spawn(move || part.iter().map(|&x| f(x)).collect::<Vec<R>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("rd worker panicked"))
            .collect()
    })
}

/// The decoded pixels of a coded model (interleaved, `c` channels), through the decoder's own
/// kernels (one thread: the RD search runs its candidates on parallel threads).
pub fn decode_pixels(g: &Geometry, coded: &Coded) -> Vec<u8> {
    let add = coded.residual.as_ref().map(|r| r.upsampler(g.w, g.h));
    yoz::neural::kernels::pixels_packed_plus(
        g,
        &coded.syn_params_f32(),
        &coded.latents_f32(),
        1,
        add.as_ref(),
    )
}

/// PSNR of the coded model's latents with float synthesis weights `syn` (the ablation of the
/// weight quantization).
pub fn float_psnr(g: &Geometry, coded: &Coded, syn: &[f32], pixels: &[u8]) -> f64 {
    let add = coded.residual.as_ref().map(|r| r.upsampler(g.w, g.h));
    let px =
        yoz::neural::kernels::pixels_packed_plus(g, syn, &coded.latents_f32(), 1, add.as_ref());
    psnr_of(&px, pixels).0
}

/// PSNR (dB) and MSE (pixels in [0, 1]) of the coded model against the original pixels.
pub fn real_psnr(g: &Geometry, coded: &Coded, pixels: &[u8]) -> (f64, f64) {
    psnr_of(&decode_pixels(g, coded), pixels)
}

fn psnr_of(px: &[u8], pixels: &[u8]) -> (f64, f64) {
    let se: u64 = px
        .iter()
        .zip(pixels)
        .map(|(&a, &b)| {
            let d = i64::from(a) - i64::from(b);
            (d * d) as u64
        })
        .sum();
    let mse255 = se as f64 / px.len() as f64;
    let psnr = if mse255 == 0.0 {
        99.0
    } else {
        10.0 * (255.0 * 255.0 / mse255).log10()
    };
    (psnr, mse255 / (255.0 * 255.0))
}

/// Payload bytes of the coded model (without alpha).
pub fn coded_size(coded: &Coded) -> yoz::Result<usize> {
    Ok(payload::encode(coded)?.len())
}
