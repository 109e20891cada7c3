//! The seam between image entries and the codecs that decode their payloads.
//!
//! An image entry names its codec by id (spec/yoz-v1.md §4.2.2); every reader — extraction, `cat`,
//! `verify --decode`, the mount — reaches the decoder through [`by_id`] and one [`ImageCodec`]
//! trait, so adding a codec is one impl and one registry line, and no reader matches ids itself.
//! How to decode (limits, which engine runs a neural synthesis) is passed in as
//! [`DecodeOptions`], never held in process state, so two readers in one program may decode
//! differently.

use super::{DecodeLimits, MAX_PIXELS_DEFAULT};
use crate::container::format::IMAGE_CODEC_DCT;
use crate::error::{Error, Result};

/// What runs a neural synthesis. The classical codecs ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// yoz's own kernels on the CPU: the default, no library to load.
    #[default]
    Builtin,
    /// ONNX Runtime's CPU execution provider.
    OrtCpu,
    /// ONNX Runtime's CUDA execution provider (an error where it cannot run, never a silent
    /// fallback).
    Cuda,
}

impl Engine {
    /// The name used by `--device` and in verbose reports.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Builtin => "cpu",
            Engine::OrtCpu => "ort-cpu",
            Engine::Cuda => "cuda",
        }
    }

    /// Whether this engine needs ONNX Runtime loaded.
    pub fn needs_runtime(self) -> bool {
        !matches!(self, Engine::Builtin)
    }
}

impl std::str::FromStr for Engine {
    type Err = Error;
    fn from_str(s: &str) -> Result<Engine> {
        match s {
            "cpu" => Ok(Engine::Builtin),
            "ort-cpu" => Ok(Engine::OrtCpu),
            "cuda" => Ok(Engine::Cuda),
            _ => Err(Error::InvalidArgument(format!(
                "unknown device {s:?} (expected cpu, ort-cpu or cuda)"
            ))),
        }
    }
}

/// How image payloads are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Bounds every decoder checks before allocating.
    pub limits: DecodeLimits,
    /// What runs a neural synthesis.
    pub engine: Engine,
    /// Threads a decoder may use (the neural synthesis' bands or ONNX Runtime's intra-op
    /// threads); at least 1.
    pub threads: usize,
    /// Say on stderr which engine decoded each image and how long it took.
    pub verbose: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            limits: DecodeLimits {
                max_pixels: MAX_PIXELS_DEFAULT,
            },
            engine: Engine::Builtin,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            verbose: false,
        }
    }
}

/// A lossy image codec as readers see it.
pub trait ImageCodec: Send + Sync {
    /// The id image entries store (spec/yoz-v1.md §4.2.2).
    fn id(&self) -> u8;
    /// The name listings show.
    fn name(&self) -> &'static str;
    /// The width, height and channel count (alpha included) the payload declares, its header
    /// checked against `limits` without decoding the rest.
    fn shape(&self, payload: &[u8], limits: &DecodeLimits) -> Result<(u32, u32, u8)>;
    /// Decodes the payload and hands its rows of interleaved 8-bit pixels to `row`, top to
    /// bottom. A codec that must hold the whole image (the neural synthesis) still delivers it
    /// by rows.
    fn decode_rows(
        &self,
        payload: &[u8],
        opts: &DecodeOptions,
        row: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()>;
    /// Loads what decoding with `opts` needs from outside the process (a runtime library).
    /// Extraction calls it before it writes anything, so that a library an archive itself
    /// writes can never be the one loaded (`neural::runtime`); the outcome is kept for the
    /// process and a failure is reported again at the first decode.
    fn prepare(&self, _opts: &DecodeOptions) -> Result<()> {
        Ok(())
    }
}

/// The DCT codec (spec/codec-dct.md).
struct Dct;

impl ImageCodec for Dct {
    fn id(&self) -> u8 {
        IMAGE_CODEC_DCT
    }
    fn name(&self) -> &'static str {
        "dct"
    }
    fn shape(&self, payload: &[u8], limits: &DecodeLimits) -> Result<(u32, u32, u8)> {
        let h = super::dct::Header::parse(payload)?;
        super::dct::decode::check_limits(&h, limits)?;
        Ok((h.width, h.height, h.channels))
    }
    fn decode_rows(
        &self,
        payload: &[u8],
        opts: &DecodeOptions,
        row: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        super::dct::decode_rows(payload, &opts.limits, |_, r| row(r)).map(|_| ())
    }
}

/// Every image codec this build decodes, by id.
fn registry() -> &'static [&'static dyn ImageCodec] {
    &[
        &Dct,
        #[cfg(feature = "neural")]
        &crate::neural::NeuralCodec,
    ]
}

/// Calls [`ImageCodec::prepare`] of the codecs `ids` names (every registered codec for
/// `None`, as for a stream whose entries are not known yet). Failures are ignored here: they
/// are reported at the first image that needs what failed, and other entries still extract.
pub fn prepare(ids: Option<&[u8]>, opts: &DecodeOptions) {
    for c in registry() {
        if ids.is_none_or(|ids| ids.contains(&c.id())) {
            let _ = c.prepare(opts);
        }
    }
}

/// The codec for an image codec id, `None` for an id this build does not decode.
pub fn by_id(id: u8) -> Option<&'static dyn ImageCodec> {
    registry().iter().copied().find(|c| c.id() == id)
}

/// [`by_id`], or the `unknown-codec` error a reader reports for an id it cannot decode.
pub fn require(id: u8) -> Result<&'static dyn ImageCodec> {
    match by_id(id) {
        Some(c) => Ok(c),
        None if id == crate::container::format::IMAGE_CODEC_NEURAL => Err(Error::CodecNotBuilt {
            name: "neural",
            feature: "neural",
        }),
        None => Err(Error::UnknownCodec { id }),
    }
}

/// The listing name of an image codec id (`unknown` for one this build does not decode).
pub fn name_of(id: u8) -> &'static str {
    by_id(id).map_or("unknown", |c| c.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_codec_is_found_by_its_id_and_nothing_else_is() {
        for c in registry() {
            assert_eq!(by_id(c.id()).map(|x| x.name()), Some(c.name()));
        }
        assert!(by_id(0).is_none());
        assert!(by_id(200).is_none());
        assert!(matches!(require(200), Err(Error::UnknownCodec { id: 200 })));
        assert_eq!(name_of(IMAGE_CODEC_DCT), "dct");
        assert_eq!(name_of(99), "unknown");
    }

    #[test]
    fn the_neural_codec_is_there_exactly_when_its_feature_is() {
        let r = require(crate::container::format::IMAGE_CODEC_NEURAL);
        if cfg!(feature = "neural") {
            assert_eq!(r.unwrap().name(), "neural");
        } else {
            let e = r.err().expect("not built");
            assert_eq!(e.class(), "unknown-codec");
            assert!(e.to_string().contains("--features neural"), "{e}");
        }
    }

    #[test]
    fn engine_names_round_trip() {
        for e in [Engine::Builtin, Engine::OrtCpu, Engine::Cuda] {
            assert_eq!(e.name().parse::<Engine>().unwrap(), e);
        }
        assert!("gpu".parse::<Engine>().is_err());
    }
}
