//! The training loop: Adam on latents and networks, noise then straight-through rounding, the
//! rate on what will be coded, and the real coded size checked every few hundred steps.

use crate::coded::{self, Coded, WeightCoding};
use crate::fused::{self, Band, Geometry, SynW, Workspace, HID};
use crate::quant::{NoiseTable, SoftRound, StepQuant};
use crate::rate::{self, ArmAcc, ArmW, RateRow};
use crate::simd::{noise, round_latent};
use yoz::neural::arch::{syn_layout, syn_param_count, ARM2_CTX, ARM2_PARAMS, GRIDS};

/// Packed float networks: synthesis, entropy model, pre-upsampling filter.
pub type Networks = (Vec<f32>, Vec<f32>, Vec<f32>);

/// Training settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Rate weight: loss = MSE (pixels in [0, 1]) + lambda * bits per pixel.
    pub lambda: f32,
    pub iterations: usize,
    pub threads: usize,
    pub seed: u64,
    /// Fraction of the budget trained with noise (then straight-through rounding).
    pub noise_frac: f32,
    /// Quantization proxy of the noise phase.
    pub proxy: Proxy,
    /// Soft-rounding temperature at the start and at the end of the noise phase.
    pub temperature: (f32, f32),
    /// Kumaraswamy noise shape `a` at the start and end of the noise phase (1 = uniform).
    pub noise_shape: (f32, f32),
    /// The noise's amplitude at the start and end of the noise phase (1: ±½).
    pub noise_amp: (f32, f32),
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Linear learning-rate warm-up over this many steps (0 = none).
    pub warmup: usize,
    /// Learning rate of the rounding phase, as a fraction of the base rates
    /// ([`Schedule::NoisePhase`] only).
    pub hard_lr: f32,
    /// Clip the networks' gradients to this L2 norm and each latent's to this magnitude
    /// before Adam (0 = off).
    pub clip: f32,
    /// In the rounding phase, return to the best parameters and halve the learning rate after
    /// each check that brings no improvement.
    pub reset_to_best: bool,
    /// Real-size checks every this many steps in the rounding phase.
    pub eval_every_hard: usize,
    /// Warm-up candidates: this many initialisations (seeds `seed..seed + n`) trained for
    /// `candidate_steps` each; the best by real loss goes on (1 = no search).
    pub candidates: usize,
    pub candidate_steps: usize,
    pub lr_latents: f32,
    pub lr_nets: f32,
    /// Adam's second-moment decay ([`ADAM_BETA2`]).
    pub adam_b2: f32,
    /// Real (coded) evaluation every this many steps.
    pub eval_every: usize,
    /// Early stop after this many evaluations without a better real loss (in phase 2).
    pub patience: usize,
    /// Fake-quantize the ARM weights to Q8 in training (what the coder will use); off only
    /// for the finite-difference tests, where rounding makes the loss piecewise constant.
    pub arm_fake_quant: bool,
    /// How the network's weights are quantized and stored (architecture 1 or 2).
    pub weights: WeightCoding,
    /// Train the learned pre-upsampling filter (`crate::ups`; payload flag bit 1). On in v2:
    /// −6.9 % real loss on three photos at the fast preset (docs/neural-rd.md).
    pub ups: bool,
    /// Synthesis hidden width: 24 (architecture 2) or 32 (architecture 3).
    pub hidden: usize,
    /// Start from these networks (synthesis, entropy model, filter; packed floats) instead
    /// of the random initialisation (experiments: `--init-from`).
    pub init: Option<std::sync::Arc<Networks>>,
    /// Which of the starting networks to take (synthesis, entropy model, filter); the others
    /// start from the random initialisation (experiments).
    pub init_parts: [bool; 3],
    /// Without `init`, start the entropy model from [`crate::prior::ARM`] instead of small
    /// random weights.
    pub arm_prior: bool,
    /// After training, fit the low-frequency residual ([`crate::residual`]; payload flag bit
    /// 3) and keep it where the real loss says it pays.
    pub residual: bool,
    /// After training, re-round the latents of this many of the finest grids by their exact
    /// rate–distortion cost ([`crate::refine`]) and keep the result where the real loss says
    /// it pays; 0: off ([`refine_grids`]).
    pub refine: usize,
    /// After training, this many full-batch steps refit the entropy model to the rounded
    /// latents ([`crate::armfit`]), kept where the payload is smaller; 0: off.
    pub arm_refit: usize,
    /// Last, move synthesis weights by one step (towards zero, else away) where that pays
    /// ([`crate::rdoq`]), kept where the real loss is lower ([`weight_rdoq`]).
    pub rdoq: bool,
}

impl Config {
    /// The v2 recipe (issue 11 §1), as the ablation in docs/neural-rd.md chose it: the
    /// soft-rounding proxy (T 0.5 → 0.2, uniform noise), a 2 % learning-rate warm-up, one
    /// cosine over the whole budget, gradient clipping, 85 % noise, and a rounding phase that
    /// returns to its best point at half the rate when a check brings no improvement. Left
    /// off because they measured no better: the cosine over the noise phase followed by a
    /// low constant rate, warm-up candidates (seed 0 won every time), C3's Kumaraswamy shape
    /// 2 → 1 and temperature 0.3 → 0.1. The latents' learning rate follows the budget
    /// ([`latent_lr`]). The entropy model starts from the built-in prior ([`crate::prior`]:
    /// −6.2 % BD-rate at the fast preset on the six dev photos, stop 27), the synthesis from
    /// random weights.
    pub fn v2(lambda: f32, iterations: usize) -> Config {
        Config {
            lr_latents: latent_lr(iterations),
            lr_nets: net_lr(iterations),
            adam_b2: ADAM_BETA2,
            proxy: Proxy::SoftRound,
            temperature: (0.5, 0.2),
            noise_shape: (1.0, 1.0),
            schedule: Schedule::Whole,
            noise_frac: 0.85,
            warmup: iterations / 50,
            clip: 1.0,
            reset_to_best: true,
            eval_every_hard: 100,
            candidates: 1,
            ups: true,
            arm_prior: true,
            residual: true,
            refine: refine_grids(iterations),
            arm_refit: ARM_REFIT_STEPS,
            rdoq: weight_rdoq(iterations),
            ..Config::new(lambda, iterations)
        }
    }

    pub fn new(lambda: f32, iterations: usize) -> Config {
        Config {
            lambda,
            iterations,
            threads: 1,
            seed: 0,
            noise_frac: 0.7,
            proxy: Proxy::Uniform,
            temperature: (0.3, 0.1),
            noise_shape: (2.0, 1.0),
            noise_amp: (1.0, 1.0),
            schedule: Schedule::Whole,
            warmup: 0,
            hard_lr: 0.02,
            clip: 0.0,
            reset_to_best: false,
            eval_every_hard: 250,
            candidates: 1,
            candidate_steps: 200,
            lr_latents: 5e-2,
            lr_nets: 1e-2,
            adam_b2: 0.999,
            eval_every: 250,
            patience: 8,
            arm_fake_quant: true,
            weights: WeightCoding::Rd,
            ups: false,
            hidden: HID,
            init: None,
            init_parts: [true; 3],
            arm_prior: false,
            residual: false,
            refine: 0,
            arm_refit: 0,
            rdoq: false,
        }
    }
}

/// The latents' Adam learning rate for a budget of `iterations` steps: 5e-2 from 6,000 steps
/// (tuned at 6,000 by earlier sessions), rising linearly to 0.1 at 3,000 and below, so a short
/// budget still moves the latents as far. Measured at 2,800 steps, Q 50, 512x512 crops (loss
/// MSE + λ·bpp of the real payload): 0.1 against 5e-2 gave −22.6 % on clock, −0.4 % on dogs
/// and −0.4 % on lake; 0.2 was worse than 0.1 on clock (docs/neural-rd.md).
pub fn latent_lr(iterations: usize) -> f32 {
    budget_ramp(0.05, iterations)
}

/// `base` from 6,000 steps, rising linearly to `2 * base` at 3,000 and below: the one ramp
/// both learning rates follow.
fn budget_ramp(base: f32, iterations: usize) -> f32 {
    (base + base * (6000.0 - iterations as f32) / 3000.0).clamp(base, 2.0 * base)
}

/// The networks' Adam learning rate (synthesis, entropy model, upsampling filter) for a budget
/// of `iterations` steps, on [`latent_lr`]'s ramp: 1e-2 from 6,000 steps (what earlier sessions
/// tuned), rising linearly to 2e-2 at 3,000 and below, so the short fast budget fits the
/// networks further. At the fast preset (3,223 steps, 768x512) 2e-2 against 1e-2 gave −2.0 %
/// real loss over nine photo/quality points, seven of them lower (docs/neural-rd.md, stop 33).
pub fn net_lr(iterations: usize) -> f32 {
    budget_ramp(0.01, iterations)
}

/// Adam's second-moment decay, at every budget: a squared-gradient average over about a
/// hundred steps follows the gradients' scale as it falls, where Adam's default 0.999 (a
/// thousand steps) lags. At the fast preset (3,223 steps, 768x512) 0.99 against 0.999 gave
/// −4.0 % real loss over nine photo/quality points, every one lower (stop 34); at the slow
/// preset (10,547 steps) −3.2 % BD-rate over the six dev photos, every photo lower, though
/// 5 of 24 points were higher (stop 37; docs/neural-rd.md). Medium, between them, was not
/// measured apart.
pub const ADAM_BETA2: f32 = 0.99;

/// How many of the finest latent grids the rate–distortion rounding after training revisits
/// for a budget of `iterations` steps: grids 1 and 0 below 6,000 steps (the fast preset, whose
/// 512x512 runs are within 15 s of their 120 s limit), grid 2 as well from 6,000 (medium and
/// slow), which doubles the rounding's time (8.4 s more at 768x512 on two threads) for
/// −0.34 % real loss over nine fast payloads, none higher (docs/neural-rd.md, stop 35): at
/// fast, the same seconds spent on training steps buy about as much.
pub fn refine_grids(iterations: usize) -> usize {
    if iterations < 6000 {
        2
    } else {
        3
    }
}

/// Whether a budget of `iterations` steps ends with the weights' greedy rate–distortion
/// quantization ([`crate::rdoq`]): from 6,000 steps (medium and slow). On the sixteen slow
/// payloads of four dev photos it lowered the real loss on every one, by 0.06–0.96 % (mean
/// 0.30 %, most at low rates, where the weights are a larger part of the payload; BD-rate
/// −0.3 to −0.9 %, mean −0.6 %) for about 17 s at 768x512 on two threads
/// (docs/neural-rd.md, stop 37); the fast preset, within 15 s of its time limit at 512x512,
/// leaves it off.
pub fn weight_rdoq(iterations: usize) -> bool {
    iterations >= 6000
}

/// Steps and Adam rate of the entropy model's refit after training ([`crate::armfit`]).
/// Measured on nine fast payloads (docs/neural-rd.md, stop 35).
pub const ARM_REFIT_STEPS: usize = 300;
pub const ARM_REFIT_LR: f32 = 5e-3;

/// The noise phase's stand-in for rounding ([`crate::quant`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxy {
    /// `y + U(-½, ½)` for synthesis and rate, rounded contexts (the v1 recipe).
    Uniform,
    /// `softround(softround(y, T) + n, T)` for synthesis, rate and contexts (C3).
    SoftRound,
}

/// How the learning rate moves over the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// One cosine decay over the whole budget (v1).
    Whole,
    /// Cosine decay over the noise phase, then a constant low rate (`hard_lr`) while rounding.
    NoisePhase,
}

/// Adam state of one parameter vector.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

const B1: f32 = 0.9;
const EPS: f32 = 1e-8;

impl Adam {
    fn new(n: usize) -> Adam {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }
}

/// Adam's second-moment decay and the step's bias corrections `1 - beta^t`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bias {
    c1: f32,
    c2: f32,
    b2: f32,
}

impl Bias {
    /// Step `t` (from 1) with second-moment decay `b2`.
    pub(crate) fn at(t: usize, b2: f32) -> Bias {
        let t = t as i32;
        Bias {
            c1: 1.0 - B1.powi(t),
            c2: 1.0 - b2.powi(t),
            b2,
        }
    }
}

/// One Adam update over slices.
pub(crate) fn adam_update(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    lr: f32,
    c: Bias,
) {
    let Bias { c1, c2, b2 } = c;
    let a = lr / c1;
    let ic2 = 1.0 / c2;
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = B1 * *m + (1.0 - B1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        *p -= a * *m / ((*v * ic2).sqrt() + EPS);
    }
}

/// A small deterministic generator for the network initialisation.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u32(&mut self) -> u32 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 32) as u32
    }
    /// Uniform in `[-a, a)`.
    pub fn uniform(&mut self, a: f32) -> f32 {
        (self.next_u32() as f32 / 4_294_967_296.0 * 2.0 - 1.0) * a
    }
}

/// Network initialisation: uniform `±1/sqrt(fan_in)` weights (as PyTorch's `Linear`), zero
/// biases except the output bias at mid-grey, zero residual conv; the ARM starts with small
/// weights and a unit scale.
pub fn init_params(hid: usize, c: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let l = syn_layout(hid, c);
    let mut syn = vec![0f32; syn_param_count(hid, c)];
    for (i, t) in l.iter().enumerate() {
        let s = &mut syn[t.offset..t.offset + t.len()];
        match i {
            0 | 2 | 4 => {
                let fan_in = t.shape[1] as f32;
                for v in s.iter_mut() {
                    *v = rng.uniform(1.0 / fan_in.sqrt());
                }
            }
            5 => s.fill(0.5),
            _ => {}
        }
    }
    // The hidden layers are residual (identity plus a small random perturbation); the
    // output layer starts small, so the first predictions are near mu 0, scale 1.
    let c2 = ARM2_CTX * ARM2_CTX;
    let mut arm = vec![0f32; ARM2_PARAMS];
    for v in arm[..c2].iter_mut() {
        *v = rng.uniform(0.1);
    }
    for v in arm[c2 + ARM2_CTX..2 * c2 + ARM2_CTX].iter_mut() {
        *v = rng.uniform(0.1);
    }
    // The output layer (w3); the linear branch (wl) starts at zero.
    for v in arm[2 * (c2 + ARM2_CTX) + 2 * ARM2_CTX..ARM2_PARAMS - 2].iter_mut() {
        *v = rng.uniform(0.1);
    }
    (syn, arm)
}

/// A copy of the trained parameters.
#[derive(Debug, Clone)]
pub struct Params {
    lat: Vec<f32>,
    syn: Vec<f32>,
    arm: Vec<f32>,
    ups: Vec<f32>,
}

/// What one step measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepStats {
    /// Training MSE (pixels in [0, 1]) of the synthesis input used this step.
    pub mse: f64,
    /// Estimated bits of the latents (only when asked for).
    pub bits: Option<f64>,
}

/// The result of a real evaluation of the quantized model.
#[derive(Debug, Clone)]
pub struct Eval {
    pub step: usize,
    pub psnr: f64,
    pub bpp: f64,
    pub loss: f64,
    /// PSNR with the same rounded latents but float (unquantized) network weights: what the
    /// int8 weights cost.
    pub float_psnr: f64,
    pub coded: Coded,
    /// The float synthesis weights the model was quantized from (for [`coded::rd_weights`]).
    pub syn: Vec<f32>,
}

/// Per-thread latent range for the rate, Adam and input preparation: flat `[a, b)` aligned to
/// grid rows, with the matching range in the padded rounded grids.
#[derive(Debug, Clone, Copy)]
struct Range {
    a: usize,
    b: usize,
    pa: usize,
    pb: usize,
}

/// The mutable slices one thread works on in the latent phase.
struct LatJob<'a> {
    acc: &'a mut ArmAcc,
    r: Range,
    gl: &'a mut [f32],
    lat: &'a mut [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    inp: &'a mut [f32],
    val: &'a mut [f32],
    dq: &'a mut [f32],
    qp: &'a mut [f32],
}

/// Trains one image, with a synthesis of hidden width `H` (architecture 2's 24 or 3's 32).
pub struct Trainer<const H: usize = HID> {
    pub g: Geometry,
    pub cfg: Config,
    /// Target planes `[c][h][w]` in [0, 1].
    target: Vec<f32>,
    /// Target pixels, interleaved, for the real PSNR.
    pixels: Vec<u8>,
    pub lat: Vec<f32>,
    pub syn: Vec<f32>,
    pub arm: Vec<f32>,
    adam_lat: Adam,
    adam_syn: Adam,
    adam_arm: Adam,
    /// Synthesis input (noisy or rounded latents).
    inp: Vec<f32>,
    /// Coded values the rate is measured on (noisy latents).
    val: Vec<f32>,
    /// d(value)/d(latent) of this step's proxy (1 for uniform noise and straight-through).
    dq: Vec<f32>,
    /// Rounded latents, padded per grid (contexts of the entropy model).
    qp: Vec<f32>,
    /// The next step's rounded latents (double buffer: the rate reads across range cuts).
    qp_next: Vec<f32>,
    pad_off: [usize; GRIDS + 1],
    glat: Vec<f32>,
    /// Network gradients of the step (reduced over threads).
    gsyn: Vec<f32>,
    garm: [f32; ARM2_PARAMS],
    ws: Vec<Workspace<H>>,
    accs: Vec<ArmAcc>,
    bands: Vec<(usize, usize)>,
    ranges: Vec<Range>,
    pub step: usize,
    /// Multiplies the learning rates (the driver lowers it when rounding stops improving).
    pub lr_scale: f32,
    /// Experiment state (`Config::ups`): filter parameters, their optimizer, the filtered
    /// synthesis input, the row pass, gradient scratch.
    ups: Vec<f32>,
    adam_ups: Adam,
    inpf: Vec<f32>,
    hbuf: Vec<f32>,
    gfilt: Vec<f32>,
    gtmp: Vec<f32>,
    gin: Vec<f32>,
}

/// Consecutive disjoint sub-slices `[a, b)` of one slice (cuts ascending), without allocating.
struct SplitMany<'a, T, I> {
    rest: &'a mut [T],
    pos: usize,
    cuts: I,
}

impl<'a, T, I: Iterator<Item = (usize, usize)>> Iterator for SplitMany<'a, T, I> {
    type Item = &'a mut [T];
    fn next(&mut self) -> Option<&'a mut [T]> {
        let (a, b) = self.cuts.next()?;
        let rest = std::mem::take(&mut self.rest);
        let (_, rest) = rest.split_at_mut(a - self.pos);
        let (mid, rest) = rest.split_at_mut(b - a);
        self.rest = rest;
        self.pos = b;
        Some(mid)
    }
}

fn split_many<T, I: Iterator<Item = (usize, usize)>>(s: &mut [T], cuts: I) -> SplitMany<'_, T, I> {
    SplitMany {
        rest: s,
        pos: 0,
        cuts,
    }
}

impl Trainer {
    /// A trainer of architecture 2's synthesis; see [`Trainer::build`].
    pub fn new(w: usize, h: usize, c: usize, pixels: &[u8], cfg: Config) -> Trainer {
        Trainer::build(w, h, c, pixels, cfg)
    }
}

impl<const H: usize> Trainer<H> {
    /// `pixels`: interleaved 8-bit, `c` channels (1 or 3). The width is `H`, whatever
    /// `cfg.hidden` says (which is set to it, so the config describes the run).
    pub fn build(w: usize, h: usize, c: usize, pixels: &[u8], mut cfg: Config) -> Trainer<H> {
        cfg.hidden = H;
        let g = Geometry::new(w, h, c);
        let n = w * h;
        let mut target = vec![0f32; c * n];
        for i in 0..n {
            for o in 0..c {
                target[o * n + i] = pixels[i * c + o] as f32 / 255.0;
            }
        }
        let (mut syn, mut arm) = init_params(H, c, cfg.seed);
        let mut ups = vec![0.0; crate::ups::PARAMS];
        if cfg.init.is_none() && cfg.arm_prior {
            arm.copy_from_slice(&crate::prior::ARM);
        }
        if let Some(i) = &cfg.init {
            // The caller checked the sizes (`cli::train_image`); a mismatch is a bug.
            let (s0, a0, u0) = (&i.0[..], &i.1[..], &i.2[..]);
            assert_eq!(
                (s0.len(), a0.len()),
                (syn.len(), arm.len()),
                "initial networks"
            );
            let [ps, pa, pu] = cfg.init_parts;
            if ps {
                syn.copy_from_slice(s0);
            }
            if pa {
                arm.copy_from_slice(a0);
            }
            if cfg.ups && pu {
                ups.copy_from_slice(u0);
            }
        }
        let threads = cfg.threads.clamp(1, h.max(1));
        let bands: Vec<(usize, usize)> = (0..threads)
            .map(|t| (t * h / threads, (t + 1) * h / threads))
            .collect();
        let mut pad_off = [0; GRIDS + 1];
        for k in 0..GRIDS {
            let (gw, gh) = g.dims[k];
            pad_off[k + 1] = pad_off[k] + rate::padded_len(gw, gh);
        }
        // Latent ranges: cut at the grid row closest to an equal share.
        let total = g.latents();
        let mut row_starts = Vec::new();
        for (k, &(gw, gh)) in g.dims.iter().enumerate() {
            for y in 0..gh {
                let row_start = rate::padded_at(gw, y) - rate::PAD_SIDE;
                row_starts.push((g.offsets[k] + y * gw, pad_off[k] + row_start));
            }
        }
        let mut cuts = vec![(0usize, row_starts[0].1)];
        for t in 1..threads {
            let want = t * total / threads;
            let &(a, pa) = row_starts
                .iter()
                .min_by_key(|(a, _)| a.abs_diff(want))
                .expect("at least one row");
            if a > cuts.last().map_or(0, |c| c.0) {
                cuts.push((a, pa));
            }
        }
        cuts.push((total, pad_off[GRIDS]));
        let ranges = cuts
            .windows(2)
            .map(|p| Range {
                a: p[0].0,
                b: p[1].0,
                pa: p[0].1,
                pb: p[1].1,
            })
            .collect();
        let lat = vec![0f32; total];
        // The filter's buffers, only when it is trained.
        let ups_buf = || vec![0.0; if cfg.ups { total } else { 0 }];
        let mut t = Trainer {
            ws: (0..threads).map(|_| Workspace::new(&g)).collect(),
            accs: (0..threads).map(|_| ArmAcc::new()).collect(),
            target,
            pixels: pixels.to_vec(),
            adam_lat: Adam::new(total),
            adam_syn: Adam::new(syn.len()),
            adam_arm: Adam::new(arm.len()),
            inp: vec![0.0; total],
            val: vec![0.0; total],
            dq: vec![1.0; total],
            qp: vec![0.0; pad_off[GRIDS]],
            qp_next: vec![0.0; pad_off[GRIDS]],
            glat: vec![0.0; total],
            gsyn: vec![0.0; syn.len()],
            garm: [0.0; ARM2_PARAMS],
            pad_off,
            lat,
            syn,
            arm,
            bands,
            ranges,
            ups,
            adam_ups: Adam::new(crate::ups::PARAMS),
            inpf: ups_buf(),
            hbuf: ups_buf(),
            gfilt: ups_buf(),
            gtmp: ups_buf(),
            gin: ups_buf(),
            g,
            cfg,
            step: 0,
            lr_scale: 1.0,
        };
        t.prepare_all();
        t
    }

    fn noise_key(&self, step: usize) -> u32 {
        let s = self.cfg.seed;
        (s as u32) ^ ((s >> 32) as u32).rotate_left(7) ^ (step as u32).wrapping_mul(0x85EB_CA6B)
    }

    /// First step of the rounding phase.
    pub fn phase2(&self) -> usize {
        (self.cfg.noise_frac * self.cfg.iterations as f32) as usize
    }

    /// How step `step` quantizes: the proxy in the noise phase (annealed), then rounding.
    fn quant_at(&self, step: usize) -> StepQuant {
        let p2 = self.phase2();
        if step >= p2 {
            return StepQuant::Hard;
        }
        match self.cfg.proxy {
            Proxy::Uniform => StepQuant::Uniform,
            Proxy::SoftRound => {
                let f = step as f32 / p2.max(1) as f32;
                let lerp = |(a, b): (f32, f32)| a + (b - a) * f;
                let shape = lerp(self.cfg.noise_shape);
                StepQuant::Soft {
                    sr: SoftRound::new(lerp(self.cfg.temperature)),
                    noise: (shape > 1.0).then(|| Box::new(NoiseTable::kumaraswamy(shape))),
                    amp: lerp(self.cfg.noise_amp),
                }
            }
        }
    }

    /// Prepares the step's inputs for every latent (single-threaded; used at start).
    fn prepare_all(&mut self) {
        let r = Range {
            a: 0,
            b: self.g.latents(),
            pa: 0,
            pb: self.pad_off[GRIDS],
        };
        let key = self.noise_key(self.step);
        let quant = self.quant_at(self.step);
        prepare_range(
            &self.g,
            &self.pad_off,
            r,
            &self.lat,
            Outputs {
                inp: &mut self.inp,
                val: &mut self.val,
                dq: &mut self.dq,
                qp: &mut self.qp,
            },
            key,
            &quant,
        );
    }

    /// Learning-rate factor of the current step.
    fn lr_factor(&self) -> f32 {
        let cosine = |t: f32| 0.5 * (1.0 + (std::f32::consts::PI * t.min(1.0)).cos());
        let warm = if self.step < self.cfg.warmup {
            (self.step + 1) as f32 / self.cfg.warmup as f32
        } else {
            1.0
        };
        let f = match self.cfg.schedule {
            Schedule::Whole => cosine(self.step as f32 / self.cfg.iterations.max(1) as f32),
            Schedule::NoisePhase => {
                let p2 = self.phase2();
                if self.step < p2 {
                    // Down to the rounding phase's rate, not to zero.
                    let h = self.cfg.hard_lr;
                    h + (1.0 - h) * cosine(self.step as f32 / p2.max(1) as f32)
                } else {
                    self.cfg.hard_lr
                }
            }
        };
        warm * f * self.lr_scale
    }

    /// One training step over the whole image.
    pub fn step(&mut self, want_bits: bool) -> StepStats {
        let g = &self.g;
        let n = g.w * g.h;
        let c = g.c;
        // Effective ARM parameters: fake-quantized to Q8 (straight-through gradient).
        let mut armq = [0f32; ARM2_PARAMS];
        for (q, &p) in armq.iter_mut().zip(&self.arm) {
            *q = if self.cfg.arm_fake_quant {
                (p * 256.0).round() / 256.0
            } else {
                p
            };
        }
        let aw = ArmW::from_packed(&armq);
        let sw = SynW::<H>::from_packed(&self.syn, c);
        let dscale = 2.0 / (n * c) as f32;
        let use_ups = self.cfg.ups;
        if use_ups {
            crate::ups::forward(g, &self.ups, &self.inp, &mut self.hbuf, &mut self.inpf);
        }
        // 1. Synthesis forward + backward, bands in parallel.
        {
            let (g0, _) = self.glat.split_at_mut(g.offsets[1]);
            let cuts = self.bands.iter().map(|&(lo, hi)| (lo * g.w, hi * g.w));
            let g0s = split_many(g0, cuts);
            let inp = if use_ups { &self.inpf } else { &self.inp };
            let target = &self.target;
            let jobs = self.ws.iter_mut().zip(g0s).zip(self.bands.iter());
            let run =
                |((ws, g0), &(lo, hi)): ((&mut Workspace<H>, &mut [f32]), &(usize, usize))| {
                    fused::run_band(
                        &sw,
                        g,
                        ws,
                        Band {
                            lo,
                            hi,
                            lat: inp,
                            target,
                            g0,
                            dscale,
                        },
                    )
                };
            par_each(jobs, run);
        }
        // The learned filter's backward: the coarse gradients summed here, then through it.
        let mut gups = [0f32; crate::ups::PARAMS];
        if use_ups {
            let base = g.offsets[1];
            self.gfilt[base..].fill(0.0);
            for w in &self.ws {
                for (d, &x) in self.gfilt[base..].iter_mut().zip(&w.gcoarse) {
                    *d += x;
                }
            }
            crate::ups::backward(
                g,
                &self.ups,
                &self.inp,
                &self.hbuf,
                &self.gfilt,
                &mut self.gtmp,
                &mut self.gin,
                &mut gups,
            );
        }
        // 2. Per latent range: sum the coarse gradients, the rate, Adam, next inputs.
        let lr_lat = self.cfg.lr_latents * self.lr_factor();
        let bias = Bias::at(self.step + 1, self.cfg.adam_b2);
        let next_key = self.noise_key(self.step + 1);
        let next_quant = self.quant_at(self.step + 1);
        let next_quant = &next_quant;
        let clip_lat = self.cfg.clip;
        let scale = self.cfg.lambda / n as f32;
        {
            let ranges = &self.ranges;
            let cuts = || ranges.iter().map(|r| (r.a, r.b));
            let mut glats = split_many(&mut self.glat, cuts());
            let mut lats = split_many(&mut self.lat, cuts());
            let mut ms = split_many(&mut self.adam_lat.m, cuts());
            let mut vs = split_many(&mut self.adam_lat.v, cuts());
            let mut inps = split_many(&mut self.inp, cuts());
            let mut vals = split_many(&mut self.val, cuts());
            let mut dqs = split_many(&mut self.dq, cuts());
            let mut qps = split_many(&mut self.qp_next, ranges.iter().map(|r| (r.pa, r.pb)));
            let qp_old = &self.qp;
            let ws = &self.ws;
            let coarse_in: Option<&[f32]> = use_ups.then_some(&self.gin[..]);
            let pad_off = &self.pad_off;
            let jobs = self
                .accs
                .iter_mut()
                .zip(ranges.iter())
                .map(|(acc, &r)| LatJob {
                    acc,
                    r,
                    gl: glats.next().expect("one slice per range"),
                    lat: lats.next().expect("one slice per range"),
                    m: ms.next().expect("one slice per range"),
                    v: vs.next().expect("one slice per range"),
                    inp: inps.next().expect("one slice per range"),
                    val: vals.next().expect("one slice per range"),
                    dq: dqs.next().expect("one slice per range"),
                    qp: qps.next().expect("one slice per range"),
                });
            let run = |job: LatJob| {
                let LatJob {
                    acc,
                    r,
                    gl,
                    lat,
                    m,
                    v,
                    inp,
                    val,
                    dq,
                    qp,
                } = job;
                // Coarse gradients from every band's buffer.
                let base = g.offsets[1];
                if r.b > base {
                    let s = r.a.max(base);
                    // Overwrite: grid 0's rows were written by the bands, the coarse part is the
                    // sum of the per-band buffers (through the learned filter, if any).
                    if let Some(c) = coarse_in {
                        gl[s - r.a..].copy_from_slice(&c[s..r.b]);
                    } else {
                        gl[s - r.a..].fill(0.0);
                        for w in ws.iter() {
                            let src = &w.gcoarse[s - base..r.b - base];
                            for (d, &x) in gl[s - r.a..].iter_mut().zip(src) {
                                *d += x;
                            }
                        }
                    }
                }
                // Rate of every row in the range.
                acc.reset();
                for k in 0..GRIDS {
                    let (gw, gh) = g.dims[k];
                    for y in 0..gh {
                        let i = g.offsets[k] + y * gw;
                        if i < r.a || i >= r.b {
                            continue;
                        }
                        let o = i - r.a;
                        rate::rate_row(
                            &aw,
                            RateRow {
                                qp: &qp_old[pad_off[k]..pad_off[k + 1]],
                                gw,
                                y,
                                val: &val[o..o + gw],
                                grad: &mut gl[o..o + gw],
                            },
                            scale,
                            want_bits,
                            acc,
                        );
                    }
                }
                // Through the proxy: the gradient so far is with respect to its value.
                for (g, &d) in gl.iter_mut().zip(dq.iter()) {
                    *g *= d;
                }
                if clip_lat > 0.0 {
                    clip_each(gl, clip_lat);
                }
                adam_update(lat, gl, m, v, lr_lat, bias);
                let lim = yoz::neural::arch::LATENT_MAX as f32;
                for x in lat.iter_mut() {
                    *x = x.clamp(-lim, lim);
                }
                prepare_range(
                    g,
                    pad_off,
                    r,
                    lat,
                    Outputs { inp, val, dq, qp },
                    next_key,
                    next_quant,
                );
            };
            par_each(jobs, run);
        }
        std::mem::swap(&mut self.qp, &mut self.qp_next);
        // 3. Networks.
        let (gsyn, garm) = (&mut self.gsyn, &mut self.garm);
        gsyn.fill(0.0);
        garm.fill(0.0);
        let mut sse = 0f64;
        for w in &self.ws {
            w.grad.add_to_packed(gsyn, c);
            sse += w.sse;
        }
        let mut bits = 0f64;
        for a in &self.accs {
            a.add_to(garm);
            bits += a.bits;
        }
        if self.cfg.clip > 0.0 {
            clip_norm(gsyn, self.cfg.clip);
            clip_norm(garm, self.cfg.clip);
        }
        let lr_net = self.cfg.lr_nets * self.lr_factor();
        adam_update(
            &mut self.syn,
            &self.gsyn,
            &mut self.adam_syn.m,
            &mut self.adam_syn.v,
            lr_net,
            bias,
        );
        adam_update(
            &mut self.arm,
            &self.garm,
            &mut self.adam_arm.m,
            &mut self.adam_arm.v,
            lr_net,
            bias,
        );
        if use_ups {
            if self.cfg.clip > 0.0 {
                clip_norm(&mut gups, self.cfg.clip);
            }
            adam_update(
                &mut self.ups,
                &gups,
                &mut self.adam_ups.m,
                &mut self.adam_ups.v,
                lr_net,
                bias,
            );
        }
        self.step += 1;
        StepStats {
            mse: sse / (n * c) as f64,
            bits: want_bits.then_some(bits),
        }
    }

    /// The real model: weights quantized, latents rounded and entropy coded, and its PSNR.
    pub fn evaluate(&self) -> yoz::Result<Eval> {
        let coded = coded::quantize(
            &self.g,
            &self.lat,
            &self.syn,
            &self.arm,
            self.cfg.ups.then_some(&self.ups[..]),
        );
        self.eval_coded(coded, self.syn.clone(), self.step)
    }

    /// Measures a coded model: real PSNR, payload size, loss.
    fn eval_coded(&self, coded: Coded, syn: Vec<f32>, step: usize) -> yoz::Result<Eval> {
        let (psnr, mse) = coded::real_psnr(&self.g, &coded, &self.pixels);
        let bytes = coded::coded_size(&coded)?;
        let bpp = bytes as f64 * 8.0 / (self.g.w * self.g.h) as f64;
        let float_psnr = coded::float_psnr(&self.g, &coded, &syn, &self.pixels);
        Ok(Eval {
            float_psnr,
            step,
            psnr,
            bpp,
            loss: mse + self.cfg.lambda as f64 * bpp,
            coded,
            syn,
        })
    }

    /// The final weight quantization: with [`WeightCoding::Rd`], each tensor's step chosen by
    /// the real rate–distortion cost from the best checkpoint's float weights; kept only if
    /// the real loss says it pays (it is measured, not assumed).
    /// Then the latents' table set that codes them in fewer bytes (§3.4), then the entropy
    /// model refitted to the rounded latents ([`Config::arm_refit`]), then the latents
    /// re-rounded by rate–distortion cost ([`Config::refine`]), then the low-frequency residual
    /// ([`Config::residual`]), then the weights' greedy rounding ([`Config::rdoq`]), each kept
    /// only if the real loss is lower.
    pub fn finalize(&self, best: Eval) -> yoz::Result<Eval> {
        let e = if self.cfg.weights != WeightCoding::Rd {
            self.smaller_table_set(best)?
        } else {
            let coded = coded::rd_weights(
                &self.g,
                &best.coded,
                &best.syn,
                &self.pixels,
                f64::from(self.cfg.lambda),
                self.cfg.threads,
            )?;
            let e = self.eval_coded(coded, best.syn.clone(), best.step)?;
            if crate::tracing() {
                // What quantizing the weights costs (dogs at fast, Q 30/90, stop 38: the
                // fine rule 0.14/0.45 dB below the float weights, the step search 0.05/0.08).
                eprintln!(
                    "  weights: float {:.3} dB, fine rule {:.3} dB {:.4} bpp, rd steps {:.3} dB {:.4} bpp",
                    best.float_psnr, best.psnr, best.bpp, e.psnr, e.bpp
                );
            }
            self.smaller_table_set(if e.loss <= best.loss { e } else { best })?
        };
        let (lambda, threads) = (f64::from(self.cfg.lambda), self.cfg.threads);
        let e = if self.cfg.arm_refit > 0 {
            let c = crate::armfit::refit_coded(
                &self.g,
                &e.coded,
                self.cfg.arm_refit,
                ARM_REFIT_LR,
                lambda,
                threads,
            )?;
            self.if_smaller(e, c)?
        } else {
            e
        };
        let e = if self.cfg.refine > 0 {
            let (g, px, grids) = (&self.g, &self.pixels, self.cfg.refine);
            let c = crate::refine::refine(g, &e.coded, px, lambda, grids, threads);
            self.if_lower(e, c)?
        } else {
            e
        };
        let e = if self.cfg.residual {
            let fitted = crate::residual::fit(&self.g, &e.coded, &self.pixels, lambda, threads);
            if fitted.residual.is_some() {
                self.if_lower(e, fitted)?
            } else {
                e
            }
        } else {
            e
        };
        if !self.cfg.rdoq {
            return Ok(e);
        }
        let (c, _) = crate::rdoq::rdoq(
            &e.coded,
            &self.pixels,
            lambda,
            crate::rdoq::RDOQ_PASSES,
            threads,
        );
        self.if_lower(e, c)
    }

    /// `e`'s model replaced by `coded` (the same float weights) where its real loss is lower.
    fn if_lower(&self, e: Eval, coded: Coded) -> yoz::Result<Eval> {
        let r = self.eval_coded(coded, e.syn.clone(), e.step)?;
        Ok(if r.loss < e.loss { r } else { e })
    }

    /// `e` with the other table set where it codes the same latents in fewer bytes: set 2
    /// won on every trained payload measured, so training uses it throughout and
    /// this only guards an image whose latents are heavier-tailed than the model says.
    fn smaller_table_set(&self, e: Eval) -> yoz::Result<Eval> {
        let mut coded = e.coded.clone();
        coded.tables = coded.tables.other();
        self.if_smaller(e, coded)
    }

    /// `e`'s model replaced by `coded`, which decodes to the same pixels (only how the latents
    /// are coded differs), where its payload is smaller: only the size is measured.
    fn if_smaller(&self, e: Eval, coded: Coded) -> yoz::Result<Eval> {
        let bpp = coded::coded_size(&coded)? as f64 * 8.0 / (self.g.w * self.g.h) as f64;
        Ok(if bpp < e.bpp {
            Eval {
                loss: e.loss - self.cfg.lambda as f64 * (e.bpp - bpp),
                bpp,
                coded,
                ..e
            }
        } else {
            e
        })
    }

    /// Gradients of the loss (MSE + lambda * bpp) at the current inputs, for the tests:
    /// `(latents, syn, arm, loss)`. Does not update anything.
    pub fn gradients(&mut self) -> (Vec<f32>, Vec<f32>, Vec<f32>, f64) {
        let saved = (
            self.lat.clone(),
            self.syn.clone(),
            self.arm.clone(),
            self.step,
        );
        let saved_adam = (
            self.adam_lat.m.clone(),
            self.adam_lat.v.clone(),
            self.adam_syn.m.clone(),
            self.adam_syn.v.clone(),
            self.adam_arm.m.clone(),
            self.adam_arm.v.clone(),
        );
        let (inp, val, qp, dq) = (
            self.inp.clone(),
            self.val.clone(),
            self.qp.clone(),
            self.dq.clone(),
        );
        let lr = (self.cfg.lr_latents, self.cfg.lr_nets);
        self.cfg.lr_latents = 0.0;
        self.cfg.lr_nets = 0.0;
        let st = self.step(true);
        let glat = self.glat.clone();
        let mut gsyn = vec![0f32; self.syn.len()];
        for w in &self.ws {
            w.grad.add_to_packed(&mut gsyn, self.g.c);
        }
        let mut garm = vec![0f32; ARM2_PARAMS];
        for a in &self.accs {
            a.add_to(&mut garm);
        }
        let loss =
            st.mse + self.cfg.lambda as f64 * st.bits.unwrap_or(0.0) / (self.g.w * self.g.h) as f64;
        (self.cfg.lr_latents, self.cfg.lr_nets) = lr;
        (self.lat, self.syn, self.arm, self.step) = saved;
        (
            self.adam_lat.m,
            self.adam_lat.v,
            self.adam_syn.m,
            self.adam_syn.v,
            self.adam_arm.m,
            self.adam_arm.v,
        ) = saved_adam;
        (self.inp, self.val, self.qp, self.dq) = (inp, val, qp, dq);
        (glat, gsyn, garm, loss)
    }

    /// Sets the step inputs directly (tests): synthesis input and coded values, and the
    /// rounded contexts from `lat`.
    pub fn set_inputs(&mut self, inp: &[f32], val: &[f32]) {
        self.prepare_all();
        self.inp.copy_from_slice(inp);
        self.val.copy_from_slice(val);
    }

    /// The trained parameters (latents, synthesis, entropy model), to return to later.
    pub fn params(&self) -> Params {
        Params {
            lat: self.lat.clone(),
            syn: self.syn.clone(),
            arm: self.arm.clone(),
            ups: self.ups.clone(),
        }
    }

    /// Returns to parameters taken by [`Trainer::params`] (the optimizer state is kept).
    pub fn restore(&mut self, p: &Params) {
        self.lat.copy_from_slice(&p.lat);
        self.syn.copy_from_slice(&p.syn);
        self.arm.copy_from_slice(&p.arm);
        self.ups.copy_from_slice(&p.ups);
        self.prepare_all();
    }

    /// Re-derives the step inputs from the latents (after editing them).
    pub fn refresh_inputs(&mut self) {
        self.prepare_all();
    }
}

/// Runs the jobs, the first on this thread and the others on scoped threads.
fn par_each<I, F>(jobs: I, f: F)
where
    I: Iterator,
    I::Item: Send,
    F: Fn(I::Item) + Sync,
{
    let mut jobs = jobs;
    let first = jobs.next();
    std::thread::scope(|s| {
        for j in jobs {
            let f = &f;
            s.spawn(move || f(j));
        }
        if let Some(j) = first {
            f(j);
        }
    });
}

/// Scales `g` so its L2 norm is at most `max` (gradient clipping of one parameter group).
fn clip_norm(g: &mut [f32], max: f32) {
    let n = g.iter().map(|&x| x * x).sum::<f32>().sqrt();
    if n > max {
        let k = max / n;
        g.iter_mut().for_each(|x| *x *= k);
    }
}

/// Clips each latent's gradient to `±max` (the latents are independent parameters; a norm
/// over all of them would depend on the image size and the thread split).
fn clip_each(g: &mut [f32], max: f32) {
    for x in g.iter_mut() {
        *x = x.clamp(-max, max);
    }
}

/// What [`prepare_range`] fills, as slices of one latent range.
struct Outputs<'a> {
    /// Synthesis input.
    inp: &'a mut [f32],
    /// The value the rate is measured on.
    val: &'a mut [f32],
    /// d(inp)/d(latent) = d(val)/d(latent) where they are the same value, else 1.
    dq: &'a mut [f32],
    /// Padded contexts of the entropy model.
    qp: &'a mut [f32],
}

/// Fills the step inputs of latents `r.a..r.b` (`lat` and the outputs relative to the range;
/// `qp` relative to `r.pa`).
fn prepare_range(
    g: &Geometry,
    pad_off: &[usize; GRIDS + 1],
    r: Range,
    lat: &[f32],
    out: Outputs,
    key: u32,
    quant: &StepQuant,
) {
    let Outputs { inp, val, dq, qp } = out;
    let lat = &lat[..r.b - r.a];
    match quant {
        StepQuant::Uniform | StepQuant::Hard => {
            let noisy = matches!(quant, StepQuant::Uniform);
            for (i, (((&y, iv), vv), d)) in lat
                .iter()
                .zip(inp.iter_mut())
                .zip(val.iter_mut())
                .zip(dq.iter_mut())
                .enumerate()
            {
                let u = noise(key, (r.a + i) as u32);
                *vv = y + u;
                *iv = if noisy { y + u } else { round_latent(y) };
                *d = 1.0;
            }
        }
        StepQuant::Soft {
            sr,
            noise: table,
            amp,
        } => {
            let base = r.a as u32;
            let soft = |y: f32, n: f32, iv: &mut f32, vv: &mut f32, d: &mut f32| {
                let (s1, d1) = sr.apply(y);
                let (s2, d2) = sr.apply(s1 + n);
                *iv = s2;
                *vv = s2;
                *d = d1 * d2;
            };
            let items = lat
                .iter()
                .zip(inp.iter_mut())
                .zip(val.iter_mut())
                .zip(dq.iter_mut())
                .enumerate();
            match table {
                // Two loops so the common one (uniform noise) has no table gather and
                // vectorizes.
                None => {
                    for (i, (((&y, iv), vv), d)) in items {
                        soft(y, amp * noise(key, base + i as u32), iv, vv, d);
                    }
                }
                Some(t) => {
                    for (i, (((&y, iv), vv), d)) in items {
                        soft(y, amp * t.sample(noise(key, base + i as u32)), iv, vv, d);
                    }
                }
            }
        }
    }
    // Contexts: the proxy value itself when it is soft (C3: one value everywhere), otherwise
    // the rounded latent the decoder will see.
    let soft = matches!(quant, StepQuant::Soft { .. });
    for (k, &(gw, gh)) in g.dims.iter().enumerate() {
        for yy in 0..gh {
            let i = g.offsets[k] + yy * gw;
            if i < r.a || i >= r.b {
                continue;
            }
            let p = pad_off[k] + rate::padded_at(gw, yy) - r.pa;
            let dst = &mut qp[p..p + gw];
            if soft {
                dst.copy_from_slice(&inp[i - r.a..i - r.a + gw]);
            } else {
                for (d, &s) in dst.iter_mut().zip(&lat[i - r.a..i - r.a + gw]) {
                    *d = round_latent(s);
                }
            }
        }
    }
}
