//! The command line: arguments, presets, the quality -> lambda mapping, training one image with
//! progress and early stop, and writing the bundle (`yoz::neural::bundle::BundleWriter`).

use crate::coded::{self, Coded, WeightCoding};
use crate::train::{Config, Eval, Networks, Proxy, Schedule, Trainer};
use clap::{Parser, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;
use yoz::image::png_io::decode_png;
use yoz::neural::arch::{SYN_HIDDEN, SYN_HIDDEN_WIDE};
use yoz::neural::bundle::BundleWriter;
use yoz::{Error, Result};

/// Pixels above this are refused: what the decoder accepts (16 MP), about 1.3 GB of training
/// state.
pub const MAX_PIXELS: u64 = yoz::neural::NEURAL_MAX_PIXELS;

/// Training budgets (see [`Preset::iterations`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    Fast,
    Medium,
    Slow,
}

/// Training throughput of the 2-core reference machine with `-j 2`, architecture 2, in
/// pixel-steps per second. Calibrated at 6.4 M (24.6–25.3 it/s at 512x512 and 15.9–17.6 at
/// 768x512 on the development VM, `--bench`, idle); since the entropy model's backward was
/// vectorized whole fast runs at 768x512 take 1/1.3 of the time (dogs Q 90, 111.2 → 85.2 s,
/// the same bytes), and 600-step runs at 512x512, where the checks weigh more, 1/1.13: the
/// constant takes 1.2 of the old one. Presets turn their time budgets into step counts
/// with it, so the budget follows the image size while the result stays a pure function of
/// the inputs (steps, not seconds).
pub const PIXEL_STEPS_PER_SECOND: f64 = 7.68e6;

/// A training step of the 32-wide synthesis in narrow steps: 1,453 against 925 multiply-adds
/// per pixel forward; measured 1.5x per step at the fast preset's 768x512 and 1.35–1.4x over
/// whole slow runs (which include the real-size checks). The slow-preset comparisons of
/// docs/neural-rd.md used this ratio (5,860 wide steps against 8,789 narrow ones).
pub const WIDE_STEP_COST: f64 = 1.5;

impl Preset {
    /// Seconds of training steps the preset aims at on the reference machine for an image of
    /// `pixels` pixels. The limits are per pixel count — fast ≤ 120 s for 512x512,
    /// slow ≤ 10 minutes for 768x512 — so a budget is fixed up to its reference size and grows
    /// with the pixel count above it; the warm-up, the real-size checks and the final weight
    /// search fit in what is left.
    pub fn seconds(self, pixels: usize) -> f64 {
        let (secs, reference) = match self {
            Preset::Fast => (110.0, 512 * 512),
            Preset::Medium => (270.0, 512 * 512),
            Preset::Slow => (540.0, 768 * 512),
        };
        secs * (pixels as f64 / reference as f64).max(1.0)
    }

    /// Iterations of the preset for an image of `pixels` pixels: its time budget at
    /// [`PIXEL_STEPS_PER_SECOND`], within [`Self::MIN_ITERATIONS`]..=[`Self::MAX_ITERATIONS`].
    /// Measured at 512x512 (docs/neural-rd.md): 2,700 fast steps lose about 4 % of the loss
    /// against 6,000; longer single cosine schedules than 12,000 steps were worse, not better
    /// (a 30,000-step run kept its step-6,000 checkpoint: the latent learning rate stays high
    /// too long).
    pub fn iterations(self, pixels: usize) -> usize {
        self.iterations_at(pixels, self.hidden())
    }

    /// [`Self::iterations`] for a synthesis of hidden width `hidden`: a wide step costs
    /// [`WIDE_STEP_COST`] narrow ones, so the preset's time buys fewer of them.
    pub fn iterations_at(self, pixels: usize, hidden: usize) -> usize {
        let cost = if hidden == SYN_HIDDEN_WIDE {
            WIDE_STEP_COST
        } else {
            1.0
        };
        let steps = self.seconds(pixels) * PIXEL_STEPS_PER_SECOND / cost / pixels.max(1) as f64;
        (steps.round() as usize).clamp(Self::MIN_ITERATIONS, Self::MAX_ITERATIONS)
    }

    /// The synthesis width the preset trains (`--hidden` overrides it).
    pub fn hidden(self) -> usize {
        SYN_HIDDEN
    }

    /// Fewer steps than this do not get through the noise phase's annealing.
    pub const MIN_ITERATIONS: usize = 1500;
    /// See [`Self::iterations`].
    pub const MAX_ITERATIONS: usize = 12000;
}

/// Quality 1..=100 to the rate weight lambda: `lambda = 10^(-2 - 3 * Q / 100)`, strictly
/// decreasing, so a higher Q is better and bigger (Q 1 -> 9.3e-3, Q 50 -> 3.2e-4,
/// Q 100 -> 1e-5). Calibrated on 512x512 crops of the dev photos with the fast preset:
/// lambda 2e-3 gave 0.12-0.34 bpp, so Q 50 sits near the 0.5-1 bpp the DCT codec's Q 50 gives.
pub fn quality_to_lambda(q: u8) -> f32 {
    10f32.powf(-2.0 - 3.0 * f32::from(q.clamp(1, 100)) / 100.0)
}

/// yoz-train: overfits yoz's neural image codec to PNG images and writes a bundle that
/// `yoz pack --from-bundle DIR` packs.
#[derive(Debug, Parser)]
#[command(name = "yoz-train", version)]
pub struct Args {
    /// Quality 1..100 (higher = better and bigger); mapped to lambda (see --lambda).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100), conflicts_with = "lambda")]
    pub quality: Option<u8>,
    /// Rate weight: loss = MSE (pixels in [0, 1]) + lambda * bits per pixel.
    #[arg(long)]
    pub lambda: Option<f32>,
    /// Time budget, turned into steps by the image's pixel count: about 110 s (fast) or 270 s
    /// (medium) of training for up to 512x512 pixels, 540 s (slow) for up to 768x512, in
    /// proportion above, on a 2-core machine; 1,500 to 12,000 steps.
    #[arg(long, value_enum, default_value = "medium")]
    pub preset: Preset,
    /// Iterations (overrides the preset).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Synthesis hidden width: 24 (architecture 2) or 32 (architecture 3, 1.6x the
    /// multiply-adds per pixel in training and decoding); default: the preset's.
    #[arg(long, value_parser = parse_hidden)]
    pub hidden: Option<usize>,
    /// Stop once this many real-size checks (every 250 steps) after the switch to rounding bring
    /// no better loss; 0 never stops early.
    #[arg(long, default_value_t = 8)]
    pub patience: usize,
    /// Fraction of the steps trained with noise before straight-through rounding (default: the
    /// recipe's).
    #[arg(long, hide = true)]
    pub noise_frac: Option<f32>,
    /// Start from the networks of this payload (a bundle's `.ynp`) instead of a random
    /// initialisation (experiments).
    #[arg(long, hide = true)]
    pub init_from: Option<PathBuf>,
    /// Start the entropy model from small random weights instead of the built-in prior.
    #[arg(long, hide = true)]
    pub no_arm_prior: bool,
    /// Do not add the low-frequency residual (payload flag bit 3) after training; the payload
    /// then decodes with readers that predate it.
    #[arg(long)]
    pub no_residual: bool,
    /// Keep the latents as training rounded them (no rate–distortion re-rounding after
    /// training; for the ablation).
    #[arg(long, hide = true)]
    pub no_refine: bool,
    /// How many of the finest grids the re-rounding revisits (default: the preset's; with
    /// --refit-residual: 2).
    #[arg(long, hide = true, value_parser = clap::value_parser!(u64).range(0..=3))]
    pub refine_grids: Option<u64>,
    /// Instead of training, fit the low-frequency residual to this payload (trained for the
    /// one image given, at the given quality) and write it to the bundle (experiments).
    #[arg(long, hide = true)]
    pub refit_residual: Option<PathBuf>,
    /// With --refit-residual: re-round the latents by rate–distortion cost first (experiments).
    #[arg(long, hide = true)]
    pub refine_latents: bool,
    /// Steps of the entropy model's refit to the rounded latents after training (0: off;
    /// default: the recipe's). With --refit-residual: refit first (experiments).
    #[arg(long, hide = true)]
    pub arm_refit: Option<usize>,
    /// With --refit-residual: the rate of --arm-refit's Adam steps (experiments).
    #[arg(long, hide = true, default_value_t = crate::train::ARM_REFIT_LR)]
    pub arm_refit_lr: f32,
    /// Skip the weights' greedy rate–distortion rounding after training (for the ablation).
    #[arg(long, hide = true)]
    pub no_rdoq: bool,
    /// With --refit-residual and --arm-refit: after the latents' re-rounding (default: before).
    #[arg(long, hide = true)]
    pub arm_refit_after: bool,
    /// Print the Rust source of the built-in entropy-model prior (`src/prior.rs`'s `ARM`) from
    /// a payload's entropy model, then exit.
    #[arg(long, hide = true)]
    pub print_arm_prior: Option<PathBuf>,
    /// Which starting networks to take: any of `syn,arm,ups` (experiments).
    #[arg(long, hide = true)]
    pub init_parts: Option<String>,
    /// Adam learning rates of the latents and of the networks (experiments).
    #[arg(long, hide = true)]
    pub lr_latents: Option<f32>,
    #[arg(long, hide = true)]
    pub lr_nets: Option<f32>,
    /// Adam's second-moment decay (experiments).
    #[arg(long, hide = true)]
    pub adam_b2: Option<f32>,
    /// Training recipe: v2 (soft rounding, warm-up candidates, ...) or v1 (the first
    /// release's), for comparisons; the hidden options below switch single ingredients.
    #[arg(long, value_enum, default_value = "v2", hide = true)]
    pub recipe: Recipe,
    #[arg(long, value_enum, hide = true)]
    pub proxy: Option<ProxyArg>,
    #[arg(long, value_enum, hide = true)]
    pub schedule: Option<ScheduleArg>,
    #[arg(long, hide = true)]
    pub warmup: Option<usize>,
    #[arg(long, hide = true)]
    pub clip: Option<f32>,
    /// Without the learned pre-upsampling filter (payload flag bit 1), for the ablation.
    #[arg(long, hide = true)]
    pub no_ups: bool,
    #[arg(long, hide = true)]
    pub hard_lr: Option<f32>,
    #[arg(long, hide = true)]
    pub reset_to_best: Option<bool>,
    #[arg(long, hide = true)]
    pub candidates: Option<usize>,
    /// Noise amplitude, start and end ("1,0.6"; 1: ±½).
    #[arg(long, hide = true, value_parser = parse_pair)]
    pub noise_amp: Option<(f32, f32)>,
    /// Soft-rounding temperature, start and end ("0.3,0.1").
    #[arg(long, hide = true, value_parser = parse_pair)]
    pub temperature: Option<(f32, f32)>,
    /// Kumaraswamy noise shape, start and end ("2,1").
    #[arg(long, hide = true, value_parser = parse_pair)]
    pub noise_shape: Option<(f32, f32)>,
    /// Weight coding: rd (each tensor's step chosen by rate–distortion) or coded (fixed
    /// int8-like steps), for the ablation.
    #[arg(long, value_enum, hide = true)]
    pub weights: Option<WeightsArg>,
    /// Bench only: crop side (default 512).
    #[arg(long, hide = true, default_value_t = 512)]
    pub crop: usize,
    /// Threads (default: all cores).
    #[arg(short = 'j', long = "jobs")]
    pub jobs: Option<usize>,
    /// Seed of the network initialisation and the noise (reproducible with -j 1).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Bundle directory to write.
    #[arg(long, required_unless_present_any = ["bench", "print_arm_prior"])]
    pub out: Option<PathBuf>,
    /// Overwrite an existing bundle.
    #[arg(long)]
    pub force: bool,
    /// Print a stats line per image.
    #[arg(short, long)]
    pub verbose: bool,
    /// Benchmark: train the 512x512 centre crop of each image (no output written) and print
    /// iterations per second.
    #[arg(long)]
    pub bench: bool,
    /// PNG images.
    #[arg(required_unless_present = "print_arm_prior")]
    pub images: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Recipe {
    V1,
    V2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WeightsArg {
    Rd,
    Coded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProxyArg {
    Uniform,
    Softround,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    Whole,
    NoisePhase,
}

fn parse_pair(s: &str) -> std::result::Result<(f32, f32), String> {
    let (a, b) = s.split_once(',').ok_or("expected A,B")?;
    let p = |x: &str| x.trim().parse::<f32>().map_err(|e| e.to_string());
    Ok((p(a)?, p(b)?))
}

/// One image to train: colour pixels (interleaved, 1 or 3 channels) and the alpha plane.
pub struct Input {
    pub w: usize,
    pub h: usize,
    pub c: usize,
    pub pixels: Vec<u8>,
    pub alpha: Option<Vec<u8>>,
}

/// Splits a decoded PNG into colour and alpha (gray -> 1, gray+alpha -> 1 + alpha, RGB -> 3,
/// RGBA -> 3 + alpha).
pub fn split_alpha(img: &yoz::image::Image) -> Input {
    let ch = img.channels as usize;
    let c = if ch <= 2 { 1 } else { 3 };
    let (w, h) = (img.width as usize, img.height as usize);
    if ch == c {
        return Input {
            w,
            h,
            c,
            pixels: img.data.clone(),
            alpha: None,
        };
    }
    let mut pixels = Vec::with_capacity(w * h * c);
    let mut alpha = Vec::with_capacity(w * h);
    for px in img.data.chunks_exact(ch) {
        pixels.extend_from_slice(&px[..c]);
        alpha.push(px[c]);
    }
    Input {
        w,
        h,
        c,
        pixels,
        alpha: Some(alpha),
    }
}

/// Centre crop to at most `side x side` (the bench's 512x512 crops).
pub fn centre_crop(inp: &Input, side: usize) -> Input {
    let (cw, ch) = (inp.w.min(side), inp.h.min(side));
    let (x0, y0) = ((inp.w - cw) / 2, (inp.h - ch) / 2);
    let c = inp.c;
    let mut pixels = Vec::with_capacity(cw * ch * c);
    for y in y0..y0 + ch {
        pixels.extend_from_slice(&inp.pixels[(y * inp.w + x0) * c..(y * inp.w + x0 + cw) * c]);
    }
    Input {
        w: cw,
        h: ch,
        c,
        pixels,
        alpha: None,
    }
}

/// What training one image gave.
pub struct Outcome {
    pub best: Eval,
    pub iterations: usize,
    pub seconds: f64,
}

/// Trains one image: evaluates the real coded model every `cfg.eval_every` steps, keeps the
/// best by real loss, stops early when phase 2 brings no progress for `cfg.patience` checks.
/// `cfg.hidden` chooses the synthesis width (and so the architecture).
pub fn train_image(
    inp: &Input,
    cfg: Config,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<Outcome> {
    if let Some(i) = &cfg.init {
        let want = (
            yoz::neural::arch::syn_param_count(cfg.hidden, inp.c),
            yoz::neural::arch::ARM2_PARAMS,
        );
        if (i.0.len(), i.1.len()) != want {
            return Err(Error::Usage(format!(
                "--init-from: its networks ({} synthesis and {} entropy-model parameters) do not \
                 fit this image's ({} and {}: {} channels, synthesis width {})",
                i.0.len(),
                i.1.len(),
                want.0,
                want.1,
                inp.c,
                cfg.hidden
            )));
        }
    }
    if cfg.hidden == SYN_HIDDEN_WIDE {
        train_with::<SYN_HIDDEN_WIDE>(inp, cfg, progress)
    } else {
        train_with::<SYN_HIDDEN>(inp, cfg, progress)
    }
}

fn train_with<const H: usize>(
    inp: &Input,
    cfg: Config,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<Outcome> {
    let start = Instant::now();
    let iters = cfg.iterations;
    let patience = cfg.patience;
    let reset = cfg.reset_to_best;
    let mut t = pick_candidate::<H>(inp, &cfg)?;
    let phase2 = t.phase2();
    let every_at = |step: usize| {
        if step >= phase2 {
            cfg.eval_every_hard.max(1)
        } else {
            cfg.eval_every.max(1)
        }
    };
    let mut best: Option<Eval> = None;
    let mut best_params = None;
    let mut stale = 0;
    let mut last_bpp = f64::NAN;
    let mut est_bpp = f64::NAN;
    while t.step < iters {
        // The step before a check also reports the rate the training optimizes (to watch it
        // against the real one).
        let st = t.step((t.step + 1) % every_at(t.step + 1) == 0);
        if let Some(b) = st.bits {
            est_bpp = b / (inp.w * inp.h) as f64;
        }
        if let Some(pb) = progress {
            pb.set_position(t.step as u64);
            if t.step % 10 == 0 {
                let psnr = -10.0 * st.mse.max(1e-12).log10();
                pb.set_message(format!("train {psnr:.2} dB, real {last_bpp:.3} bpp"));
            }
        }
        if t.step % every_at(t.step) == 0 || t.step == iters {
            let e = t.evaluate()?;
            last_bpp = e.bpp;
            let line = format!(
                "  step {:>6}: real {:.2} dB, {:.3} bpp (estimated {:.3}), loss {:.6}",
                e.step, e.psnr, e.bpp, est_bpp, e.loss
            );
            if let Some(pb) = progress {
                pb.println(&line);
            }
            if crate::tracing() {
                eprintln!("{line}");
            }
            let better = match &best {
                None => true,
                Some(b) => e.loss < b.loss,
            };
            if better {
                best = Some(e);
                stale = 0;
                if reset && t.step >= phase2 {
                    best_params = Some(t.params());
                }
            } else if t.step >= phase2 {
                stale += 1;
                if stale >= patience {
                    break;
                }
                // C3's rounding phase: back to the best point, at a lower rate.
                if let Some(p) = &best_params {
                    t.restore(p);
                    t.lr_scale *= 0.5;
                }
            }
        }
    }
    let best = match best {
        Some(b) => b,
        None => t.evaluate()?,
    };
    let best = t.finalize(best)?;
    Ok(Outcome {
        best,
        iterations: t.step,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The warm-up search: `cfg.candidates` initialisations, each trained `cfg.candidate_steps`
/// steps; the one with the lowest real loss goes on (its steps count in the budget).
fn pick_candidate<const H: usize>(inp: &Input, cfg: &Config) -> Result<Trainer<H>> {
    let steps = cfg.candidate_steps.min(cfg.iterations);
    let mut best: Option<(f64, Trainer<H>)> = None;
    for k in 0..cfg.candidates.max(1) {
        let mut c = cfg.clone();
        c.seed = cfg.seed.wrapping_add(k as u64);
        let mut t = Trainer::<H>::build(inp.w, inp.h, inp.c, &inp.pixels, c);
        if cfg.candidates <= 1 {
            return Ok(t);
        }
        while t.step < steps {
            t.step(false);
        }
        let loss = t.evaluate()?.loss;
        if crate::tracing() {
            eprintln!(
                "  candidate seed {}: loss {loss:.6} after {steps} steps",
                t.cfg.seed
            );
        }
        if best.as_ref().is_none_or(|(l, _)| loss < *l) {
            best = Some((loss, t));
        }
    }
    Ok(best.expect("at least one candidate").1)
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::io(what, e)
}

fn lambda_of(args: &Args) -> Result<f32> {
    match (args.lambda, args.quality) {
        (Some(l), _) if !(l.is_finite() && l >= 0.0) => Err(Error::Usage(format!(
            "--lambda {l} must be a finite number >= 0"
        ))),
        (Some(l), _) => Ok(l),
        (None, q) => Ok(quality_to_lambda(q.unwrap_or(50))),
    }
}

fn load(path: &Path) -> Result<(Vec<u8>, Input)> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(io_err(format!("reading {name}")))?;
    let img = decode_png(&bytes, &name, MAX_PIXELS)?;
    Ok((bytes, split_alpha(&img)))
}

/// The training configuration the arguments ask for, for `iterations` steps.
fn config(args: &Args, lambda: f32, threads: usize, iterations: usize) -> Config {
    let mut cfg = match args.recipe {
        Recipe::V1 => Config::new(lambda, iterations),
        Recipe::V2 => Config::v2(lambda, iterations),
    };
    if let Some(p) = args.proxy {
        cfg.proxy = match p {
            ProxyArg::Uniform => Proxy::Uniform,
            ProxyArg::Softround => Proxy::SoftRound,
        };
    }
    if let Some(s) = args.schedule {
        cfg.schedule = match s {
            ScheduleArg::Whole => Schedule::Whole,
            ScheduleArg::NoisePhase => Schedule::NoisePhase,
        };
    }
    if let Some(w) = args.warmup {
        cfg.warmup = w;
    }
    if let Some(c) = args.clip {
        cfg.clip = c;
    }
    if args.no_ups {
        cfg.ups = false;
    }
    if let Some(h) = args.hard_lr {
        cfg.hard_lr = h;
    }
    if let Some(r) = args.reset_to_best {
        cfg.reset_to_best = r;
    }
    if let Some(t) = args.temperature {
        cfg.temperature = t;
    }
    if let Some(n) = args.noise_shape {
        cfg.noise_shape = n;
    }
    if let Some(a) = args.noise_amp {
        cfg.noise_amp = a;
    }
    if let Some(k) = args.candidates {
        cfg.candidates = k.max(1);
    }
    if let Some(w) = args.weights {
        cfg.weights = match w {
            WeightsArg::Rd => WeightCoding::Rd,
            WeightsArg::Coded => WeightCoding::Coded,
        };
    }
    if let Some(f) = args.noise_frac {
        cfg.noise_frac = f.clamp(0.0, 1.0);
    }
    if let Some(l) = args.lr_latents {
        cfg.lr_latents = l;
    }
    if let Some(l) = args.lr_nets {
        cfg.lr_nets = l;
    }
    if args.no_arm_prior {
        cfg.arm_prior = false;
    }
    if let Some(b) = args.adam_b2 {
        cfg.adam_b2 = b;
    }
    if let Some(n) = args.refine_grids {
        cfg.refine = n as usize;
    }
    if args.no_refine {
        cfg.refine = 0;
    }
    if let Some(s) = args.arm_refit {
        cfg.arm_refit = s;
    }
    if args.no_residual {
        cfg.residual = false;
    }
    if args.no_rdoq {
        cfg.rdoq = false;
    }
    if let Some(p) = &args.init_parts {
        cfg.init_parts = ["syn", "arm", "ups"].map(|n| p.split(',').any(|x| x == n));
    }
    cfg.threads = threads;
    cfg.seed = args.seed;
    cfg.hidden = args.hidden.unwrap_or(args.preset.hidden());
    cfg.patience = if args.patience == 0 {
        usize::MAX
    } else {
        args.patience
    };
    cfg
}

/// The float networks of a neural payload file, dequantized as the decoder does: synthesis,
/// entropy model (Q8 to float), filter.
fn init_from(p: &std::path::Path) -> Result<Networks> {
    let bytes = std::fs::read(p).map_err(|e| Error::Usage(format!("{}: {e}", p.display())))?;
    let n = yoz::neural::payload::decode(&bytes, 1 << 28)?;
    let ups = n.filter.map_or(vec![0.0; crate::ups::PARAMS], |f| {
        (1..yoz::neural::arch::GRIDS)
            .flat_map(|k| {
                let (a, b) = yoz::neural::upsample::params_of(&f, k);
                [a, b]
            })
            .collect()
    });
    Ok((n.syn_params_f32(), n.arm.to_float(), ups))
}

/// Runs the command line.
pub fn run(args: Args) -> Result<()> {
    if let Some(p) = &args.print_arm_prior {
        let (_, arm, _) = init_from(p)?;
        if arm.len() != yoz::neural::arch::ARM2_PARAMS {
            return Err(Error::Usage(
                "--print-arm-prior wants an architecture 2 or 3 payload".into(),
            ));
        }
        print!("{}", crate::prior::source(&arm));
        return Ok(());
    }
    let lambda = lambda_of(&args)?;
    let threads = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let init = match &args.init_from {
        Some(p) => Some(std::sync::Arc::new(init_from(p)?)),
        None => None,
    };
    let cfg_for = |pixels: usize| {
        let hidden = args.hidden.unwrap_or(args.preset.hidden());
        let iterations = args
            .iterations
            .unwrap_or(args.preset.iterations_at(pixels, hidden))
            .max(1);
        let mut cfg = config(&args, lambda, threads, iterations);
        cfg.init = init.clone();
        cfg
    };
    if args.bench {
        return bench(&args, cfg_for);
    }
    let out = args
        .out
        .clone()
        .ok_or_else(|| Error::Usage("--out DIR is required".into()))?;
    // Read everything first: a bad input fails before any training.
    let mut inputs = Vec::with_capacity(args.images.len());
    for p in &args.images {
        inputs.push(load(p)?);
    }
    // Refuses an existing bundle (without --force) before any training.
    let mut bundle = BundleWriter::create(&out, args.force)?;
    if let Some(p) = &args.refit_residual {
        let payload =
            std::fs::read(p).map_err(|e| Error::Usage(format!("{}: {e}", p.display())))?;
        let mut n = yoz::neural::payload::decode(&payload, yoz::neural::NEURAL_MAX_PIXELS)?;
        let ((bytes, inp), path) = (&inputs[0], &args.images[0]);
        n.residual = None;
        let g = crate::fused::Geometry::new(inp.w, inp.h, inp.c);
        let px = (inp.w * inp.h) as f64;
        let refit = |n: Coded| -> Result<Coded> {
            let Some(steps) = args.arm_refit.filter(|&s| s > 0) else {
                return Ok(n);
            };
            let t = Instant::now();
            let before = crate::coded::coded_size(&n)?;
            let c = crate::armfit::refit_coded(
                &g,
                &n,
                steps,
                args.arm_refit_lr,
                f64::from(lambda),
                threads,
            )?;
            let after = crate::coded::coded_size(&c)?;
            eprintln!(
                "armfit {before} -> {after} bytes, {:.2} s",
                t.elapsed().as_secs_f64()
            );
            Ok(if after < before { c } else { n })
        };
        if !args.arm_refit_after {
            n = refit(n)?;
        }
        if args.refine_latents {
            let t = Instant::now();
            let grids = args.refine_grids.map_or(2, |n| n as usize);
            n = crate::refine::refine(&g, &n, &inp.pixels, f64::from(lambda), grids, threads);
            eprintln!("refine {:.2} s", t.elapsed().as_secs_f64());
        }
        if args.arm_refit_after {
            n = refit(n)?;
        }
        let measure = |c: &Coded| -> Result<(f64, f64, f64)> {
            let (psnr, mse) = crate::coded::real_psnr(&g, c, &inp.pixels);
            let bpp = crate::coded::coded_size(c)? as f64 * 8.0 / px;
            Ok((psnr, bpp, mse + f64::from(lambda) * bpp))
        };
        let before = measure(&n)?;
        let t = Instant::now();
        let fitted = crate::residual::fit(&g, &n, &inp.pixels, f64::from(lambda), threads);
        let after = measure(&fitted)?;
        eprintln!(
            "{}: without {:.2} dB {:.4} bpp, with {:.2} dB {:.4} bpp ({:?}), loss {:+.2} %, fit {:.2} s",
            path.display(),
            before.0,
            before.1,
            after.0,
            after.1,
            fitted.residual.as_ref().map(|r| (r.log2, r.exps.clone())),
            100.0 * (after.2 / before.2 - 1.0),
            t.elapsed().as_secs_f64()
        );
        let mut keep = if after.2 < before.2 { fitted } else { n };
        let fin = measure(&keep)?;
        eprintln!("final {:.2} dB {:.4} bpp", fin.0, fin.1);
        keep.alpha = inp.alpha.clone();
        bundle.add(
            bytes,
            &path.display().to_string(),
            &yoz::neural::payload::encode(&keep)?,
        )?;
        return bundle.finish();
    }
    let tty = std::io::stderr().is_terminal();
    for ((bytes, inp), path) in inputs.iter().zip(&args.images) {
        let cfg = cfg_for(inp.w * inp.h);
        let pb = tty.then(|| {
            let pb = indicatif::ProgressBar::new(cfg.iterations as u64);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} {per_sec} {msg}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            pb.set_prefix(path.display().to_string());
            pb
        });
        let o = train_image(inp, cfg.clone(), pb.as_ref())?;
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        let mut coded: Coded = o.best.coded.clone();
        coded.alpha = inp.alpha.clone();
        let payload = yoz::neural::payload::encode(&coded)?;
        bundle.add(bytes, &path.display().to_string(), &payload)?;
        if args.verbose {
            eprintln!(
                "{}: {}x{}x{}, {} iterations, {:.1} it/s, {:.1} s, {:.2} dB, {:.3} bpp (best at step {}), {} bytes, float weights {:.2} dB",
                path.display(),
                inp.w,
                inp.h,
                inp.c,
                o.iterations,
                o.iterations as f64 / o.seconds,
                o.seconds,
                o.best.psnr,
                o.best.bpp,
                o.best.step,
                payload.len(),
                o.best.float_psnr
            );
        }
    }
    bundle.finish()
}

/// Bare training steps per second (after one warm-up step that takes the page faults).
fn step_speed<const H: usize>(inp: &Input, cfg: &Config, steps: usize) -> f64 {
    let mut t = Trainer::<H>::build(inp.w, inp.h, inp.c, &inp.pixels, cfg.clone());
    t.step(false);
    let start = Instant::now();
    for _ in 0..steps {
        t.step(false);
    }
    steps as f64 / start.elapsed().as_secs_f64()
}

fn parse_hidden(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(h) if h == SYN_HIDDEN || h == SYN_HIDDEN_WIDE => Ok(h),
        _ => Err(format!(
            "the synthesis width is {SYN_HIDDEN} or {SYN_HIDDEN_WIDE}, not {s:?}"
        )),
    }
}

/// `--bench`: on the 512x512 centre crop of each image, the speed of 50 bare training steps,
/// then a full training run (`--preset` / `--iterations`, with its real-size checks) and the
/// PSNR and bpp it reaches. Writes nothing.
fn bench(args: &Args, cfg_for: impl Fn(usize) -> Config) -> Result<()> {
    const SPEED_STEPS: usize = 50;
    println!(
        "image\tsize\tthreads\tstep it/s\titerations\tseconds\tit/s\tPSNR\tbpp\tfloat-weights PSNR\tloss"
    );
    for p in &args.images {
        let (_, inp) = load(p)?;
        let crop = centre_crop(&inp, args.crop);
        let cfg = cfg_for(crop.w * crop.h);
        let speed = if cfg.hidden == SYN_HIDDEN_WIDE {
            step_speed::<SYN_HIDDEN_WIDE>(&crop, &cfg, SPEED_STEPS)
        } else {
            step_speed::<SYN_HIDDEN>(&crop, &cfg, SPEED_STEPS)
        };
        let o = train_image(&crop, cfg.clone(), None)?;
        println!(
            "{}\t{}x{}\t{}\t{:.1}\t{}\t{:.1}\t{:.1}\t{:.2}\t{:.3}\t{:.2}\t{:.4e}",
            p.display(),
            crop.w,
            crop.h,
            cfg.threads,
            speed,
            o.iterations,
            o.seconds,
            o.iterations as f64 / o.seconds,
            o.best.psnr,
            o.best.bpp,
            o.best.float_psnr,
            o.best.loss
        );
    }
    Ok(())
}

/// Decodes a coded model back to pixels (for tests and tools).
pub fn decode(coded: &Coded) -> Vec<u8> {
    let g = crate::fused::Geometry::new(
        coded.width as usize,
        coded.height as usize,
        coded.channels as usize,
    );
    coded::decode_pixels(&g, coded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_scale_with_pixels_within_their_limits() {
        let (p512, p768) = (512 * 512, 768 * 512);
        // The budgets meet the limits at the reference speed: fast <= 120 s at 512x512 (and
        // in proportion above it: <= 180 s at 768x512), slow <= 10 minutes at 768x512, with
        // room for the checks and the weight search.
        // A preset's steps in narrow-step time (slow trains the wide synthesis).
        let cost = |p: Preset| {
            if p.hidden() == SYN_HIDDEN_WIDE {
                WIDE_STEP_COST
            } else {
                1.0
            }
        };
        let work = |p: Preset, px: usize| p.iterations(px) as f64 * cost(p);
        let secs = |p: Preset, px: usize| work(p, px) * px as f64 / PIXEL_STEPS_PER_SECOND;
        assert!(secs(Preset::Fast, p512) <= 112.0);
        assert!(secs(Preset::Fast, p768) <= 168.0);
        assert!(secs(Preset::Slow, p768) <= 560.0);
        for px in [64 * 64, 256 * 256, p512, p768, 1024 * 1024, 4096 * 4096] {
            let (f, m, s) = (
                work(Preset::Fast, px),
                work(Preset::Medium, px),
                work(Preset::Slow, px),
            );
            assert!(f <= m && m <= s, "{px}: {f} {m} {s}");
            let steps = Preset::MIN_ITERATIONS..=Preset::MAX_ITERATIONS;
            for p in [Preset::Fast, Preset::Medium, Preset::Slow] {
                assert!(steps.contains(&p.iterations(px)), "{p:?} at {px}");
            }
            // Above its reference size a preset trains the same number of steps.
            if px >= p768 {
                assert_eq!(Preset::Slow.iterations(px), Preset::Slow.iterations(p768));
            }
        }
        // Up to the reference size, more pixels, fewer steps; above it, the same steps.
        assert!(Preset::Fast.iterations(256 * 256) > Preset::Fast.iterations(p512));
        assert_eq!(Preset::Fast.iterations(p768), Preset::Fast.iterations(p512));
        assert_eq!(
            Preset::Fast.iterations(4096 * 4096),
            Preset::Fast.iterations(p512)
        );
        assert_eq!(Preset::Slow.iterations(64 * 64), Preset::MAX_ITERATIONS);
        // Short budgets train the latents faster; from 6,000 steps on, the tuned rate.
        use crate::train::latent_lr;
        // Fast's 3,223 steps: 0.05 + 0.05 * 2,777 / 3,000.
        assert!((latent_lr(Preset::Fast.iterations(p512)) - 0.096_283).abs() < 1e-5);
        assert_eq!(latent_lr(3000), 0.1);
        assert_eq!(latent_lr(6000), 0.05);
        assert_eq!(latent_lr(Preset::Medium.iterations(p512)), 0.05);
        assert!((latent_lr(4500) - 0.075).abs() < 1e-6);
        // The networks' rate follows the same ramp; medium and slow keep the tuned 1e-2.
        use crate::train::net_lr;
        assert_eq!(net_lr(3000), 0.02);
        assert_eq!(net_lr(6000), 0.01);
        assert_eq!(net_lr(Preset::Medium.iterations(p512)), 0.01);
        assert_eq!(net_lr(Preset::Slow.iterations(p768)), 0.01);
        assert!((net_lr(Preset::Fast.iterations(p512)) - 0.019_257).abs() < 1e-5);
        // The re-rounding: grids 1 and 0 at fast, grid 2 as well from 6,000 steps.
        use crate::train::refine_grids;
        assert_eq!(refine_grids(Preset::Fast.iterations(p512)), 2);
        assert_eq!(refine_grids(5999), 2);
        assert_eq!(refine_grids(6000), 3);
        assert_eq!(refine_grids(Preset::Medium.iterations(p512)), 3);
        assert_eq!(refine_grids(Preset::Slow.iterations(p768)), 3);
        // The weights' greedy rounding: from 6,000 steps.
        use crate::train::weight_rdoq;
        assert!(!weight_rdoq(Preset::Fast.iterations(p512)));
        assert!(!weight_rdoq(5999));
        assert!(weight_rdoq(6000));
        assert!(weight_rdoq(Preset::Medium.iterations(p512)));
        assert!(weight_rdoq(Preset::Slow.iterations(p768)));
    }
}
