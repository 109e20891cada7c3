//! The real, coded model: quantized weights, rounded latents, payload bytes, real PSNR.

use crate::fused::{self, Geometry, SynW};
use yoz::neural::arch::{syn_layout, GRIDS, LATENT_MAX, SYN_TENSORS};
use yoz::neural::arm::ArmQ;
use yoz::neural::payload::{self, NeuralImage};

/// The quantized model of one image (alpha is added when writing).
pub type Coded = NeuralImage;

/// Quantizes: synthesis tensors to int8 with step `max|w| / 127` (the smallest step that
/// clips nothing; the payload stores plain int8, so a coarser step saves no bytes), the ARM to
/// Q8, the latents rounded.
pub fn quantize(g: &Geometry, lat: &[f32], syn: &[f32], arm: &[f32]) -> Coded {
    let mut q = vec![0i8; syn.len()];
    let mut steps = [0f32; SYN_TENSORS];
    for (t, spec) in syn_layout(g.c).iter().enumerate() {
        let r = spec.offset..spec.offset + spec.len();
        let m = syn[r.clone()].iter().fold(0f32, |a, &v| a.max(v.abs()));
        let step = if m > 0.0 { m / 127.0 } else { 1.0 / 127.0 };
        steps[t] = step;
        for (o, &v) in q[r.clone()].iter_mut().zip(&syn[r]) {
            *o = (v / step).round().clamp(-127.0, 127.0) as i8;
        }
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
        width: g.w as u32,
        height: g.h as u32,
        channels: g.c as u8,
        syn: q,
        steps,
        arm: ArmQ::from_float(arm),
        latents,
        alpha: None,
    }
}

/// The decoded pixels of a coded model (interleaved, `c` channels), through the trainer's
/// forward (which the tests hold equal to the reference synthesis).
pub fn decode_pixels(g: &Geometry, coded: &Coded) -> Vec<u8> {
    let sw = SynW::from_packed(&coded.syn_params_f32(), g.c);
    let lat: Vec<f32> = coded.latents.iter().flatten().map(|&v| v as f32).collect();
    let planes = fused::forward(&sw, g, &lat);
    yoz::neural::synth::to_pixels(&planes, g.c, g.w * g.h)
}

/// PSNR of the coded model's latents with float synthesis weights `syn` (the ablation of the
/// weight quantization).
pub fn float_psnr(g: &Geometry, coded: &Coded, syn: &[f32], pixels: &[u8]) -> f64 {
    let sw = SynW::from_packed(syn, g.c);
    let lat: Vec<f32> = coded.latents.iter().flatten().map(|&v| v as f32).collect();
    let planes = fused::forward(&sw, g, &lat);
    let px = yoz::neural::synth::to_pixels(&planes, g.c, g.w * g.h);
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
