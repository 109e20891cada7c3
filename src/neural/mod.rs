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
pub mod residual;
pub mod runtime;
pub mod simd;
pub mod synth;
pub mod train;
pub mod upsample;
pub mod weights;

use crate::error::Result;
use crate::image::codec::{DecodeOptions, Engine, ImageCodec};
use crate::image::{DecodeLimits, Image};

/// Largest neural image decoded (16 MP, e.g. 4096x4096). The built-in kernels need little
/// beyond the output and the latents, but ONNX Runtime's synthesis holds about 650 bytes of
/// intermediates per pixel (≈ 11 GB here; 780 bytes and 13 GB at architecture 3's width), and
/// training such an image would take hours anyway.
pub const NEURAL_MAX_PIXELS: u64 = 1 << 24;

/// Decodes a neural payload to pixels: integer parsing (bit-exact), then the synthesis on the
/// engine `o` names, then alpha.
pub fn decode_image(payload: &[u8], o: &DecodeOptions) -> Result<Image> {
    let t = std::time::Instant::now();
    let n = payload::decode(payload, o.limits.max_pixels.min(NEURAL_MAX_PIXELS))?;
    let parse_ms = t.elapsed().as_secs_f64() * 1e3;
    let (w, h, c) = (n.width as usize, n.height as usize, n.channels as usize);
    let threads = o.threads.max(1);
    let t_syn = std::time::Instant::now();
    let px = match o.engine {
        Engine::Builtin => {
            let g = kernels::Geometry::new(w, h, c);
            let lat = n.latents_f32();
            let add = n.residual.as_ref().map(|r| r.upsampler(w, h));
            kernels::pixels_packed_plus(&g, &n.syn_params_f32(), &lat, threads, add.as_ref())
        }
        Engine::OrtCpu | Engine::Cuda => {
            let device = if o.engine == Engine::Cuda {
                runtime::Device::Cuda
            } else {
                runtime::Device::Cpu
            };
            let (mut planes, _) = runtime::synthesize(
                &n.grids_f32(),
                &n.syn_params_f32(),
                c,
                w,
                h,
                device,
                threads,
            )?;
            if let Some(r) = &n.residual {
                planes
                    .iter_mut()
                    .zip(r.planes(w, h))
                    .for_each(|(p, r)| *p += r);
            }
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

/// The neural codec behind the image-codec seam ([`crate::image::codec`]).
pub struct NeuralCodec;

impl ImageCodec for NeuralCodec {
    fn id(&self) -> u8 {
        crate::container::format::IMAGE_CODEC_NEURAL
    }
    fn name(&self) -> &'static str {
        "neural"
    }
    fn shape(&self, payload: &[u8], limits: &DecodeLimits) -> Result<(u32, u32, u8)> {
        let h = payload::Header::parse(payload, limits.max_pixels.min(NEURAL_MAX_PIXELS))?;
        Ok((h.width, h.height, h.channels + u8::from(h.alpha)))
    }
    fn decode_rows(
        &self,
        payload: &[u8],
        opts: &DecodeOptions,
        row: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        // The synthesis' 3x3 convolution and the bands make it whole-image; rows come after.
        let img = decode_image(payload, opts)?;
        let len = img.width as usize * img.channels as usize;
        img.data.chunks(len).try_for_each(row)
    }
    fn prepare(&self, opts: &DecodeOptions) -> Result<()> {
        if opts.engine.needs_runtime() {
            runtime::check()?;
        }
        Ok(())
    }
}

/// Checks a neural payload made for the PNG `png` and wraps it as an image blob with its entry
/// fields. The payload's shape must match the PNG's: a bundle is matched by content hash, but a
/// payload is still checked before it goes into an archive.
pub fn encode_blob(
    png: &[u8],
    name: &str,
    payload: &[u8],
) -> Result<(Vec<u8>, crate::container::format::ImageInfo)> {
    let img = crate::image::png_io::decode_png(png, name, crate::image::MAX_PIXELS_DEFAULT)?;
    // Parse it all (integer-only, cheap next to training): a damaged or stale payload is refused
    // here rather than packed into an entry that can never be extracted.
    let h = payload::decode(payload, NEURAL_MAX_PIXELS)?;
    let channels = h.output_channels();
    if (h.width, h.height, channels) != (img.width, img.height, img.channels) {
        return Err(crate::error::Error::SizeMismatch {
            what: format!(
                "{name}: neural payload is {}x{}x{channels}, the PNG is {}x{}x{}",
                h.width, h.height, img.width, img.height, img.channels
            ),
        });
    }
    crate::image::entry::wrap_payload(
        png,
        &img,
        crate::container::format::IMAGE_CODEC_NEURAL,
        payload,
    )
}

/// Interleaves synthesis planes (and the alpha plane) into an 8-bit image, adding the
/// payload's low-frequency residual (§4 step 3b) first.
pub fn assemble_image(n: &payload::NeuralImage, planes: &[f32]) -> Image {
    let (w, h, c) = (n.width as usize, n.height as usize, n.channels as usize);
    match &n.residual {
        None => assemble_pixels(n, synth::to_pixels(planes, c, w * h)),
        Some(r) => {
            let mut p = planes.to_vec();
            p.iter_mut().zip(r.planes(w, h)).for_each(|(p, r)| *p += r);
            assemble_pixels(n, synth::to_pixels(&p, c, w * h))
        }
    }
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
