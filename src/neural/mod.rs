//! The neural image codec (spec/codec-neural.md): an overfitted synthesis network plus
//! integer latent grids coded with an integer auto-regressive entropy model.
//!
//! One module per concern: [`arch`] is the single definition of the architecture that the
//! trainer (`tools/trainer`) and the decoder share; [`synth`] is the float reference synthesis
//! (what ONNX Runtime must match within the spec's tolerance); [`arm`] is the fixed-point
//! entropy model and latent coding; [`payload`] the byte layout; [`runtime`] finds and drives
//! ONNX Runtime.

pub mod arch;
pub mod arm;
pub mod bundle;
pub mod kernels;
pub mod payload;
pub mod runtime;
pub mod simd;
pub mod synth;
pub mod train;
pub mod upsample;
pub mod weights;

use crate::error::Result;
use crate::image::{DecodeLimits, Image};
use std::sync::Mutex;

/// What runs the synthesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// yoz's own kernels on the CPU ([`kernels`]): the default, no library to load.
    Builtin,
    /// ONNX Runtime on one of its execution providers.
    Ort(runtime::Device),
}

impl Engine {
    /// The name used by `--device` and in verbose reports.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Builtin => "cpu",
            Engine::Ort(runtime::Device::Cpu) => "ort-cpu",
            Engine::Ort(runtime::Device::Cuda) => "cuda",
        }
    }

    /// Whether this engine needs ONNX Runtime loaded.
    pub fn needs_runtime(self) -> bool {
        matches!(self, Engine::Ort(_))
    }
}

impl std::str::FromStr for Engine {
    type Err = crate::error::Error;
    fn from_str(s: &str) -> Result<Engine> {
        match s {
            "cpu" => Ok(Engine::Builtin),
            "ort-cpu" => Ok(Engine::Ort(runtime::Device::Cpu)),
            "cuda" => Ok(Engine::Ort(runtime::Device::Cuda)),
            _ => Err(crate::error::Error::Usage(format!(
                "unknown device {s:?} (expected cpu, ort-cpu or cuda)"
            ))),
        }
    }
}

/// How neural entries are decoded: chosen once by the CLI (`--device`, `-v`) for the whole
/// process, because every reader (unpack, cat, the mount) reaches the decoder through the same
/// image-entry path and the choice is a property of the machine, not of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    pub engine: Engine,
    /// Synthesis threads (the built-in kernels' bands, or ONNX Runtime's intra-op threads).
    pub threads: usize,
    /// Say on stderr which device ran each decode and how long it took.
    pub verbose: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            engine: Engine::Builtin,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            verbose: false,
        }
    }
}

static DECODE_OPTIONS: Mutex<Option<DecodeOptions>> = Mutex::new(None);

/// Sets the process-wide decode options.
pub fn set_decode_options(o: DecodeOptions) {
    *DECODE_OPTIONS.lock().unwrap_or_else(|e| e.into_inner()) = Some(o);
}

/// The process-wide decode options (defaults until the CLI sets them).
pub fn decode_options() -> DecodeOptions {
    DECODE_OPTIONS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or_default()
}

/// Largest neural image decoded (16 MP, e.g. 4096x4096). The built-in kernels need little
/// beyond the output and the latents, but ONNX Runtime's synthesis holds about 650 bytes of
/// intermediates per pixel (≈ 11 GB here), and training such an image would take hours anyway.
pub const NEURAL_MAX_PIXELS: u64 = 1 << 24;

/// Decodes a neural payload to pixels: integer parsing (bit-exact), then the synthesis on the
/// chosen engine, then alpha.
pub fn decode_image(payload: &[u8], limits: &DecodeLimits) -> Result<Image> {
    let t = std::time::Instant::now();
    let n = payload::decode(payload, limits.max_pixels.min(NEURAL_MAX_PIXELS))?;
    let parse_ms = t.elapsed().as_secs_f64() * 1e3;
    let o = decode_options();
    let (w, h, c) = (n.width as usize, n.height as usize, n.channels as usize);
    let t_syn = std::time::Instant::now();
    let px = match o.engine {
        Engine::Builtin => {
            let g = kernels::Geometry::new(w, h, c);
            let lat = n.latents_f32();
            let s = kernels::SynW::from_packed(&n.syn_params_f32(), c);
            kernels::pixels(&s, &g, &lat, o.threads)
        }
        Engine::Ort(device) => {
            let (planes, _) = runtime::synthesize(
                &n.grids_f32(),
                &n.syn_params_f32(),
                c,
                w,
                h,
                device,
                o.threads,
            )?;
            synth::to_pixels(&planes, c, w * h)
        }
    };
    if o.verbose {
        eprintln!(
            "yoz: neural decode {w}x{h} on {} in {:.1} ms (latents and weights {parse_ms:.1} ms, synthesis {:.1} ms)",
            o.engine.name(),
            t.elapsed().as_secs_f64() * 1e3,
            t_syn.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(assemble_pixels(&n, px))
}

/// Interleaves synthesis planes (and the alpha plane) into an 8-bit image.
pub fn assemble_image(n: &payload::NeuralImage, planes: &[f32]) -> Image {
    let (w, h, c) = (n.width as usize, n.height as usize, n.channels as usize);
    assemble_pixels(n, synth::to_pixels(planes, c, w * h))
}

/// Adds the alpha plane (if any) to interleaved colour pixels.
fn assemble_pixels(n: &payload::NeuralImage, px: Vec<u8>) -> Image {
    let c = n.channels as usize;
    let data = match &n.alpha {
        None => px,
        Some(a) => {
            let mut d = Vec::with_capacity(a.len() * (c + 1));
            for (p, &al) in px.chunks(c).zip(a) {
                d.extend_from_slice(p);
                d.push(al);
            }
            d
        }
    };
    Image {
        width: n.width,
        height: n.height,
        channels: n.output_channels(),
        data,
    }
}
