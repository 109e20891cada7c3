//! `cm1` (id 6), `cm2` (id 7) and `cm3` (id 8): learned context mixing (spec/codec-cm.md). Every bit of the
//! block is predicted by several context models — orders 0–4 and 6, the current word (model 2
//! adds two sparse orders), and a match model that follows the longest earlier occurrence of
//! the recent bytes — whose predictions a small neural network (a gated logistic mixer, its
//! weight set chosen by the match state and the bits of the current byte) combines; two
//! adaptive probability maps refine the mix, and the range coder codes the bit with it. Encoder
//! and decoder run the same learning on the same bits in integer arithmetic, so the network
//! needs no stored weights: it *is* the model that learns on the block ("compression is
//! modelling").
//!
//! Why integer everywhere: a decoder on another machine must reproduce every prediction bit
//! for bit; floats would make the payload depend on the FPU. The logistic tables are defined by
//! integer interpolation (§3 of the spec), counters and weights are fixed point.
//!
//! The three codecs share the payload and the logistic tables; model 2 (`cm2`, format 1.5) adds
//! what binaries and long-range repeats need (spec §9), model 3 (`cm3`, format 1.6) bit
//! histories read through adaptive state maps (spec §10). Models 1 and 2 stay for the archives
//! that use them.

mod model;
mod tables;
#[cfg(test)]
mod tests;

use super::{id, raw_or_coded, Codec};
use crate::entropy::range::{Decoder, Encoder};
use crate::error::{Error, Result};
use model::Model;

/// Payload mode byte (spec §2).
mod mode {
    pub const RAW: u8 = 0;
    pub const CODED: u8 = 1;
}

/// Which predictor codes a payload: model 1 is codec `cm1` (id 6, format 1.3), model 2 codec
/// `cm2` (id 7, format 1.5), model 3 codec `cm3` (id 8, format 1.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// Model 1 (spec/codec-cm.md §3–§8).
    V1,
    /// Model 2 (spec/codec-cm.md §9).
    V2,
    /// Model 3 (spec/codec-cm.md §10).
    V3,
}

/// The cm codecs: `Cm(Version::V1)` is `cm1` (id 6), `Cm(Version::V2)` is `cm2` (id 7),
/// `Cm(Version::V3)` is `cm3` (id 8).
pub struct Cm(pub Version);

fn corrupt(version: Version, why: impl Into<String>) -> Error {
    Error::Corrupt {
        codec: version.name(),
        why: why.into(),
    }
}

impl Version {
    fn name(self) -> &'static str {
        match self {
            Version::V1 => "cm1",
            Version::V2 => "cm2",
            Version::V3 => "cm3",
        }
    }
}

impl Codec for Cm {
    fn id(&self) -> u8 {
        match self.0 {
            Version::V1 => id::CM,
            Version::V2 => id::CM2,
            Version::V3 => id::CM3,
        }
    }
    fn name(&self) -> &'static str {
        self.0.name()
    }
    /// The level does not change the model (params 0).
    fn compress(&self, input: &[u8], _level: i32, out: &mut Vec<u8>) -> Result<u16> {
        encode(input, self.0, out);
        Ok(0)
    }
    fn decompress(&self, payload: &[u8], raw_len: usize, _p: u16, out: &mut Vec<u8>) -> Result<()> {
        decode(payload, raw_len, self.0, out)
    }
}

// ---------------------------------------------------------------------------------------------
// Encoder and decoder

/// The most decoded bytes a coded payload may stand for, per payload byte (spec §2). cm decodes
/// at about 1 MB/s, so without a bound a few kilobytes of payload could declare minutes of work;
/// data that compresses better than this is data lzr or zstd code almost as small, 100 times
/// faster.
pub const MAX_RATIO: u64 = 64;

/// Appends the cm payload of `input` to `out`: coded when that is smaller than raw and within
/// [`MAX_RATIO`], raw otherwise.
pub fn encode(input: &[u8], version: Version, out: &mut Vec<u8>) {
    if let Some(body) = coded_body(input, version) {
        let len = 1 + body.len() as u64;
        if len < 1 + input.len() as u64 && input.len() as u64 <= MAX_RATIO * len {
            out.push(mode::CODED);
            out.extend_from_slice(&body);
            return;
        }
    }
    out.push(mode::RAW);
    out.extend_from_slice(input);
}

/// The range-coded stream of `input` under `version`'s model, or `None` once it is longer than
/// `input` (or for an empty input).
pub(crate) fn coded_body(input: &[u8], version: Version) -> Option<Vec<u8>> {
    match version {
        Version::V1 => coded_stream::<1>(input),
        Version::V2 => coded_stream::<2>(input),
        Version::V3 => coded_stream::<3>(input),
    }
}

fn coded_stream<const M: u8>(input: &[u8]) -> Option<Vec<u8>> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { coded_stream_avx2::<M>(input) };
    }
    coded_stream_with::<M>(input)
}

/// [`coded_stream_with`] compiled for AVX2, where the mixer's loops become vector code. The
/// arithmetic is integer, so the bits are the same either way.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn coded_stream_avx2<const M: u8>(input: &[u8]) -> Option<Vec<u8>> {
    coded_stream_with::<M>(input)
}

#[inline(always)]
fn coded_stream_with<const M: u8>(input: &[u8]) -> Option<Vec<u8>> {
    if input.is_empty() {
        return None;
    }
    let mut m = Model::<M>::new(input.len());
    let mut rc = Encoder::new();
    for (i, &byte) in input.iter().enumerate() {
        for k in (0..8).rev() {
            let bit = (byte >> k) & 1 == 1;
            rc.encode_bit(m.predict(), bit);
            m.update(bit, &input[..i]);
        }
        if rc.len() > input.len() {
            return None;
        }
    }
    Some(rc.finish())
}

/// Decodes a cm payload into `out` (cleared first); `out` ends up exactly `raw_len` long.
pub fn decode(payload: &[u8], raw_len: usize, version: Version, out: &mut Vec<u8>) -> Result<()> {
    let Some(body) = raw_or_coded(version.name(), payload, raw_len, out)? else {
        return Ok(());
    };
    let max = MAX_RATIO * payload.len() as u64;
    if raw_len as u64 > max {
        return Err(Error::Limit {
            what: "cm block size per payload byte",
            got: raw_len as u64,
            max,
        });
    }
    out.reserve_exact(raw_len);
    match version {
        Version::V1 => decode_body(Model::<1>::new(raw_len), body, raw_len, version, out),
        Version::V2 => decode_body(Model::<2>::new(raw_len), body, raw_len, version, out),
        Version::V3 => decode_body(Model::<3>::new(raw_len), body, raw_len, version, out),
    }
}

fn decode_body<const M: u8>(
    model: Model<M>,
    body: &[u8],
    raw_len: usize,
    version: Version,
    out: &mut Vec<u8>,
) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { decode_body_avx2(model, body, raw_len, version, out) };
    }
    decode_body_with(model, body, raw_len, version, out)
}

/// [`decode_body_with`] compiled for AVX2 (see [`coded_stream_avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn decode_body_avx2<const M: u8>(
    model: Model<M>,
    body: &[u8],
    raw_len: usize,
    version: Version,
    out: &mut Vec<u8>,
) -> Result<()> {
    decode_body_with(model, body, raw_len, version, out)
}

#[inline(always)]
fn decode_body_with<const M: u8>(
    mut model: Model<M>,
    body: &[u8],
    raw_len: usize,
    version: Version,
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut rc = Decoder::new(body);
    while out.len() < raw_len {
        if rc.is_bad() {
            return Err(corrupt(
                version,
                "range-coded stream is malformed or ends early",
            ));
        }
        let mut byte = 0u8;
        for _ in 0..8 {
            let bit = rc.decode_bit(model.predict());
            byte = (byte << 1) | u8::from(bit);
            model.update(bit, out);
        }
        out.push(byte);
    }
    if rc.is_bad() || !rc.at_exact_end() {
        return Err(corrupt(
            version,
            "range-coded stream does not end where the block does",
        ));
    }
    Ok(())
}
