//! The neural payload (spec/codec-neural.md §5): a fixed header, the network weights as a
//! safetensors blob, the range-coded latents, and an optional losslessly coded alpha plane.
//!
//! Weights travel as three tensors so the safetensors JSON header stays small (every byte of it
//! is rate): `syn` (I8, the packed synthesis parameters of `arch::syn_layout`), `syn.step`
//! (F32, one dequantization step per synthesis tensor) and `arm` (I16, the entropy model in Q8).

use super::arch::{
    arm_params, grid_dims, syn_hidden, syn_layout, syn_param_count, ARCH_V1, ARCH_V2, ARCH_V3,
    ARM_PARAMS, GRIDS, SYN_HIDDEN, SYN_TENSORS,
};
use super::arm::{decode_latents, encode_latents, ArmQ, TableSet};
use super::residual::{self, Residual};
use super::upsample::{FILTER_PARAMS, FILTER_Q_MAX};
use super::weights;
use crate::error::{Error, Result};
use safetensors::tensor::{Dtype, TensorView};

/// Payload magic.
pub const MAGIC: &[u8; 4] = b"YNN1";
/// Header bytes before the weights.
pub const HEADER_LEN: usize = 28;
/// Flag bit 0: an alpha plane follows the latents.
pub const FLAG_ALPHA: u8 = 1;
/// Flag bit 1: the weights carry the learned pre-upsampling filter (architectures 2 and 3;
/// codec-neural §4 step 0, `super::upsample`).
pub const FLAG_FILTER: u8 = 2;
/// Flag bit 2: the latents are coded with table set 2 (architectures 2 and 3; codec-neural
/// §3.3–§3.5, [`TableSet::Set2`]).
pub const FLAG_TABLES2: u8 = 4;
/// Flag bit 3: the weights end with the low-frequency residual (architectures 2 and 3;
/// codec-neural §4 step 3b, [`Residual`]).
pub const FLAG_RESIDUAL: u8 = 8;

/// A decoded (or to-be-encoded) neural image: everything the payload carries.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuralImage {
    /// [`ARCH_V1`] (int8 weights in safetensors), [`ARCH_V2`] (entropy-coded weights) or
    /// [`ARCH_V3`] (architecture 2 with the wider synthesis).
    pub arch: u8,
    pub width: u32,
    pub height: u32,
    /// Coded colour channels: 1 (gray) or 3 (RGB).
    pub channels: u8,
    /// Packed synthesis parameters; tensor `t`'s values are `syn[i] * steps[t]`. Architecture
    /// 1 holds int8 values and any steps; architecture 2 values within ±[`weights::Q_MAX`] and
    /// power-of-two steps.
    pub syn: Vec<i32>,
    pub steps: [f32; SYN_TENSORS],
    pub arm: ArmQ,
    /// [`GRIDS`] integer grids, sizes from [`grid_dims`].
    pub latents: Vec<Vec<i32>>,
    /// `width * height` alpha bytes, stored losslessly.
    pub alpha: Option<Vec<u8>>,
    /// The learned pre-upsampling filter's integers (architecture 2, flag bit 1), or none.
    pub filter: Option<[i32; FILTER_PARAMS]>,
    /// The latents' frequency tables (flag bit 2; architecture 1: always [`TableSet::Set1`]).
    pub tables: TableSet,
    /// The low-frequency residual added to the synthesis output (flag bit 3), or none.
    pub residual: Option<Residual>,
}

/// A malformed neural payload (class `corrupt`), for every part of it.
pub(super) fn corrupt(why: impl Into<String>) -> Error {
    Error::Corrupt {
        codec: "neural",
        why: why.into(),
    }
}

impl NeuralImage {
    /// The synthesis parameters as floats (`q * step`, per tensor).
    pub fn syn_params_f32(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.syn.len()];
        for (t, spec) in syn_layout(self.hidden(), self.channels as usize)
            .iter()
            .enumerate()
        {
            let r = spec.offset..spec.offset + spec.len();
            for (o, &q) in out[r.clone()].iter_mut().zip(&self.syn[r]) {
                *o = q as f32 * self.steps[t];
            }
        }
        out
    }

    /// The latents as the floats the synthesis reads: through the pre-upsampling filter when
    /// the payload has one.
    pub fn grids_f32(&self) -> Vec<Vec<f32>> {
        let mut grids: Vec<Vec<f32>> = self
            .latents
            .iter()
            .map(|g| g.iter().map(|&v| v as f32).collect())
            .collect();
        if let Some(q) = &self.filter {
            let dims = grid_dims(self.width as usize, self.height as usize);
            super::upsample::apply(&mut grids, &dims, q);
        }
        grids
    }

    /// [`NeuralImage::grids_f32`] laid end to end, grid 0 first (the kernels' layout).
    pub fn latents_f32(&self) -> Vec<f32> {
        self.grids_f32().concat()
    }

    /// The weights as a standalone safetensors file (integer tensors per layer, steps in its
    /// `__metadata__`): what the weight section decodes to, for any safetensors reader.
    pub fn weights_safetensors(&self) -> Result<Vec<u8>> {
        weights::to_safetensors(
            self.arch,
            &self.syn,
            &self.steps,
            &self.arm,
            self.channels as usize,
        )
    }

    /// The synthesis hidden width of the image's architecture.
    pub fn hidden(&self) -> usize {
        syn_hidden(self.arch)
    }

    /// Output channels of the decoded image (colour plus alpha).
    pub fn output_channels(&self) -> u8 {
        self.channels + u8::from(self.alpha.is_some())
    }

    fn check_shape(&self) -> Result<()> {
        let bad = |why: String| Error::Input {
            path: "neural image".into(),
            why,
        };
        if self.channels != 1 && self.channels != 3 {
            return Err(bad(format!("{} colour channels (1 or 3)", self.channels)));
        }
        if self.width == 0 || self.height == 0 {
            return Err(bad("empty image".into()));
        }
        if self.syn.len() != syn_param_count(self.hidden(), self.channels as usize) {
            return Err(bad(format!("{} synthesis parameters", self.syn.len())));
        }
        if self.steps.iter().any(|s| !s.is_finite() || *s < 0.0) {
            return Err(bad("non-finite or negative quantization step".into()));
        }
        if self.arm.arch != self.arch || self.arm.params.len() != arm_params(self.arch) {
            return Err(bad(format!(
                "an architecture {} entropy model in an architecture {} image",
                self.arm.arch, self.arch
            )));
        }
        match self.arch {
            ARCH_V1 => {
                if self.syn.iter().any(|&q| i8::try_from(q).is_err()) {
                    return Err(bad("architecture 1 stores int8 weights".into()));
                }
            }
            ARCH_V2 | ARCH_V3 => {}
            a => return Err(bad(format!("architecture {a}"))),
        }
        if let Some(q) = &self.filter {
            if self.arch == ARCH_V1 || q.iter().any(|v| v.abs() > FILTER_Q_MAX) {
                return Err(bad(
                    "an upsampling filter in architecture 1 or beyond ±255".into()
                ));
            }
        }
        if self.arch == ARCH_V1 && self.tables != TableSet::Set1 {
            return Err(bad("table set 2 in architecture 1".into()));
        }
        if let Some(r) = &self.residual {
            let (gw, gh) = residual::dims(self.width as usize, self.height as usize, r.log2);
            if self.arch == ARCH_V1 || r.values.iter().any(|v| v.len() != gw * gh) {
                return Err(bad(
                    "a residual in architecture 1 or of the wrong size".into()
                ));
            }
        }
        if let Some(a) = &self.alpha {
            if a.len() as u64 != u64::from(self.width) * u64::from(self.height) {
                return Err(bad("alpha plane size".into()));
            }
        }
        Ok(())
    }
}

/// Serializes the weights as safetensors.
fn weights_blob(img: &NeuralImage) -> Result<Vec<u8>> {
    let syn: Vec<u8> = img.syn.iter().map(|&v| v as i8 as u8).collect();
    let steps: Vec<u8> = img.steps.iter().flat_map(|s| s.to_le_bytes()).collect();
    let arm: Vec<u8> = img
        .arm
        .params
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let st = |e: safetensors::SafeTensorError| Error::Failed {
        what: format!("safetensors: {e}"),
    };
    let views = [
        (
            "syn",
            TensorView::new(Dtype::I8, vec![syn.len()], &syn).map_err(st)?,
        ),
        (
            "syn.step",
            TensorView::new(Dtype::F32, vec![SYN_TENSORS], &steps).map_err(st)?,
        ),
        (
            "arm",
            TensorView::new(Dtype::I16, vec![ARM_PARAMS], &arm).map_err(st)?,
        ),
    ];
    safetensors::serialize(views, None).map_err(st)
}

/// What §5.1 refuses and the safetensors reader lets through: a `__metadata__` member
/// (whatever its value: the reader takes `null` for none) and members of a tensor's object
/// beyond `dtype`, `shape` and `data_offsets`. Called after the reader accepted `blob`, so the
/// header length is in bounds and the JSON is well formed; this pass only looks at member
/// names (the reader checked the values).
fn strict_header(blob: &[u8]) -> Result<()> {
    use serde::de::{Error as _, IgnoredAny, MapAccess, Visitor};
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Tensor {
        #[serde(rename = "dtype")]
        _dtype: IgnoredAny,
        #[serde(rename = "shape")]
        _shape: IgnoredAny,
        #[serde(rename = "data_offsets")]
        _data_offsets: IgnoredAny,
    }
    struct Header;
    impl<'de> Visitor<'de> for Header {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object of tensors")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<(), A::Error> {
            while let Some(name) = m.next_key::<String>()? {
                if name == "__metadata__" {
                    return Err(A::Error::custom("a __metadata__ member"));
                }
                m.next_value::<Tensor>()?;
            }
            Ok(())
        }
    }
    let n = u64::from_le_bytes(blob[..8].try_into().expect("checked by the reader")) as usize;
    let mut de = serde_json::Deserializer::from_slice(&blob[8..8 + n]);
    serde::Deserializer::deserialize_map(&mut de, Header)
        .and_then(|()| de.end())
        .map_err(|e| corrupt(format!("weights header: {e}")))
}

/// Reads the weights back, checking names, dtypes and shapes exactly.
fn parse_weights(blob: &[u8], channels: usize) -> Result<(Vec<i32>, [f32; SYN_TENSORS], ArmQ)> {
    let st = safetensors::SafeTensors::deserialize(blob)
        .map_err(|e| corrupt(format!("weights are not valid safetensors: {e}")))?;
    // Any `__metadata__` member, and members beyond the three of a tensor's object.
    strict_header(blob)?;
    if st.len() != 3 {
        return Err(corrupt(format!("{} weight tensors, expected 3", st.len())));
    }
    let get = |name: &str, dtype: Dtype, n: usize| -> Result<&[u8]> {
        let t = st
            .tensor(name)
            .map_err(|_| corrupt(format!("weight tensor {name:?} is missing")))?;
        if t.dtype() != dtype || t.shape() != [n] {
            return Err(corrupt(format!(
                "weight tensor {name:?} is {:?} {:?}, expected {dtype:?} [{n}]",
                t.dtype(),
                t.shape()
            )));
        }
        Ok(t.data())
    };
    let syn = get("syn", Dtype::I8, syn_param_count(SYN_HIDDEN, channels))?
        .iter()
        .map(|&b| i32::from(b as i8))
        .collect();
    let mut steps = [0f32; SYN_TENSORS];
    for (s, b) in steps
        .iter_mut()
        .zip(get("syn.step", Dtype::F32, SYN_TENSORS)?.chunks_exact(4))
    {
        *s = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if !s.is_finite() || *s < 0.0 {
            return Err(corrupt("non-finite or negative quantization step"));
        }
    }
    let mut arm = ArmQ::zeros(ARCH_V1);
    for (q, b) in arm
        .params
        .iter_mut()
        .zip(get("arm", Dtype::I16, ARM_PARAMS)?.chunks_exact(2))
    {
        *q = i16::from_le_bytes([b[0], b[1]]);
    }
    Ok((syn, steps, arm))
}

/// Encodes a neural image as payload bytes.
pub fn encode(img: &NeuralImage) -> Result<Vec<u8>> {
    img.check_shape()?;
    let (w, h) = (img.width as usize, img.height as usize);
    let weights = match img.arch {
        ARCH_V1 => weights_blob(img)?,
        _ => weights::encode(
            &img.syn,
            &img.steps,
            &img.arm,
            img.channels as usize,
            img.filter.as_ref(),
            img.residual.as_ref(),
        )?,
    };
    let latents = encode_latents(&img.arm, &img.latents, w, h, img.tables)?;
    let alpha = match &img.alpha {
        Some(a) => zstd::bulk::compress(a, 19).map_err(|e| Error::Io {
            context: "compressing the alpha plane".into(),
            source: e,
        })?,
        None => Vec::new(),
    };
    let mut out = Vec::with_capacity(HEADER_LEN + weights.len() + latents.len() + alpha.len());
    out.extend_from_slice(MAGIC);
    out.push(img.arch);
    out.push(img.channels);
    out.push(
        if img.alpha.is_some() { FLAG_ALPHA } else { 0 }
            | if img.filter.is_some() { FLAG_FILTER } else { 0 }
            | if img.residual.is_some() {
                FLAG_RESIDUAL
            } else {
                0
            }
            | if img.tables == TableSet::Set2 {
                FLAG_TABLES2
            } else {
                0
            },
    );
    out.push(0);
    out.extend_from_slice(&img.width.to_le_bytes());
    out.extend_from_slice(&img.height.to_le_bytes());
    for part in [&weights, &latents, &alpha] {
        out.extend_from_slice(&(part.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(&weights);
    out.extend_from_slice(&latents);
    out.extend_from_slice(&alpha);
    Ok(out)
}

/// The fixed header fields, parsed and checked without decoding anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub arch: u8,
    pub channels: u8,
    pub alpha: bool,
    /// Flag bit 1: the weights end with the pre-upsampling filter.
    pub filter: bool,
    /// Flag bit 2: the latents use table set 2.
    pub tables: TableSet,
    /// Flag bit 3: the weights end with the low-frequency residual.
    pub residual: bool,
    pub width: u32,
    pub height: u32,
    pub weights_len: u32,
    pub latents_len: u32,
    pub alpha_len: u32,
}

impl Header {
    /// Parses and validates the header against the payload length and `max_pixels`.
    pub fn parse(p: &[u8], max_pixels: u64) -> Result<Header> {
        if p.len() < HEADER_LEN {
            return Err(corrupt("payload shorter than its header"));
        }
        if &p[..4] != MAGIC {
            return Err(corrupt("missing YNN1 magic"));
        }
        let u32at = |o: usize| u32::from_le_bytes([p[o], p[o + 1], p[o + 2], p[o + 3]]);
        let h = Header {
            arch: p[4],
            channels: p[5],
            alpha: p[6] & FLAG_ALPHA != 0,
            filter: p[6] & FLAG_FILTER != 0,
            tables: if p[6] & FLAG_TABLES2 != 0 {
                TableSet::Set2
            } else {
                TableSet::Set1
            },
            residual: p[6] & FLAG_RESIDUAL != 0,
            width: u32at(8),
            height: u32at(12),
            weights_len: u32at(16),
            latents_len: u32at(20),
            alpha_len: u32at(24),
        };
        if !matches!(h.arch, ARCH_V1 | ARCH_V2 | ARCH_V3) {
            return Err(Error::UnknownCodec { id: h.arch });
        }
        if h.channels != 1 && h.channels != 3 {
            return Err(corrupt(format!("{} colour channels", h.channels)));
        }
        let known = if h.arch == ARCH_V1 {
            FLAG_ALPHA
        } else {
            FLAG_ALPHA | FLAG_FILTER | FLAG_TABLES2 | FLAG_RESIDUAL
        };
        if p[6] & !known != 0 || p[7] != 0 {
            return Err(Error::Reserved {
                what: "neural payload flags",
            });
        }
        let pixels = u64::from(h.width) * u64::from(h.height);
        if pixels == 0 {
            return Err(corrupt("empty image"));
        }
        if pixels > max_pixels {
            return Err(Error::Limit {
                what: "neural image pixels",
                got: pixels,
                max: max_pixels,
            });
        }
        if h.alpha != (h.alpha_len > 0) {
            return Err(corrupt("alpha flag and alpha length disagree"));
        }
        let total = HEADER_LEN as u64
            + u64::from(h.weights_len)
            + u64::from(h.latents_len)
            + u64::from(h.alpha_len);
        if total != p.len() as u64 {
            return Err(corrupt(format!(
                "parts add up to {total} bytes, the payload has {}",
                p.len()
            )));
        }
        Ok(h)
    }
}

/// Parses a payload completely: weights, latents (integer decoding, bit-exact) and alpha.
pub fn decode(p: &[u8], max_pixels: u64) -> Result<NeuralImage> {
    let h = Header::parse(p, max_pixels)?;
    let (w, hh) = (h.width as usize, h.height as usize);
    let mut pos = HEADER_LEN;
    let mut take = |n: u32| {
        let s = &p[pos..pos + n as usize];
        pos += n as usize;
        s
    };
    let (weights, latents, alpha) = (take(h.weights_len), take(h.latents_len), take(h.alpha_len));
    let (syn, steps, arm, filter, residual) = match h.arch {
        ARCH_V1 => {
            let (syn, steps, arm) = parse_weights(weights, h.channels as usize)?;
            (syn, steps, arm, None, None)
        }
        _ => weights::decode(
            weights,
            h.arch,
            h.channels as usize,
            h.filter,
            h.residual.then_some((w, hh)),
        )?,
    };
    let grids = decode_latents(&arm, latents, w, hh, h.tables)?;
    debug_assert_eq!(grids.len(), GRIDS);
    debug_assert_eq!(
        grids[0].len(),
        grid_dims(w, hh)[0].0 * grid_dims(w, hh)[0].1
    );
    let alpha = if h.alpha {
        Some(crate::codec::zstd_codec::decode_plane(
            alpha,
            w * hh,
            "neural",
        )?)
    } else {
        None
    };
    Ok(NeuralImage {
        arch: h.arch,
        width: h.width,
        height: h.height,
        channels: h.channels,
        syn,
        steps,
        arm,
        latents: grids,
        alpha,
        filter,
        tables: h.tables,
        residual,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small deterministic neural image for tests (not a trained one).
    pub fn sample(width: u32, height: u32, channels: u8, alpha: bool) -> NeuralImage {
        let mut x = 12345u32;
        let mut next = move || {
            x = x.wrapping_mul(1664525).wrapping_add(1013904223);
            x >> 8
        };
        let dims = grid_dims(width as usize, height as usize);
        NeuralImage {
            arch: ARCH_V1,
            width,
            height,
            channels,
            syn: (0..syn_param_count(SYN_HIDDEN, channels as usize))
                .map(|_| i32::from((next() % 255) as u8 as i8))
                .collect(),
            steps: [0.01; SYN_TENSORS],
            arm: ArmQ::from_float(
                ARCH_V1,
                &(0..ARM_PARAMS)
                    .map(|_| (next() % 200) as f32 / 100.0 - 1.0)
                    .collect::<Vec<_>>(),
            ),
            latents: dims
                .iter()
                .map(|&(a, b)| (0..a * b).map(|_| (next() % 7) as i32 - 3).collect())
                .collect(),
            alpha: alpha.then(|| (0..width * height).map(|i| (i % 256) as u8).collect()),
            filter: None,
            residual: None,
            tables: TableSet::Set1,
        }
    }

    #[test]
    fn roundtrip_with_and_without_alpha() {
        for (c, a) in [(3, false), (1, true), (3, true)] {
            let img = sample(21, 13, c, a);
            let p = encode(&img).unwrap();
            assert_eq!(decode(&p, 1 << 20).unwrap(), img);
        }
    }

    /// The alpha field is one zstd frame (§5): the same plane as two frames, which libzstd
    /// alone would decode, is `corrupt`.
    #[test]
    fn alpha_in_two_frames_is_corrupt() {
        let img = sample(21, 13, 3, true);
        let p = encode(&img).unwrap();
        let alpha_len = u32::from_le_bytes(p[24..28].try_into().unwrap()) as usize;
        let plane = img.alpha.as_ref().unwrap();
        let mut two = zstd::bulk::compress(&plane[..100], 3).unwrap();
        two.extend_from_slice(&zstd::bulk::compress(&plane[100..], 3).unwrap());
        let mut q = p[..p.len() - alpha_len].to_vec();
        q[24..28].copy_from_slice(&(two.len() as u32).to_le_bytes());
        q.extend_from_slice(&two);
        let e = decode(&q, 1 << 20).unwrap_err();
        assert_eq!(e.class(), "corrupt", "{e}");
        assert!(e.to_string().contains("bytes after the zstd frame"), "{e}");
    }

    /// Architecture 2 carries the same image with entropy-coded weights; a sample's int8
    /// weights behind power-of-two steps come back exactly, in fewer bytes.
    pub fn sample_v2(width: u32, height: u32, channels: u8, alpha: bool) -> NeuralImage {
        let mut img = sample(width, height, channels, alpha);
        img.arch = ARCH_V2;
        img.steps = [weights::step_of(7); SYN_TENSORS];
        img.arm = ArmQ::from_float(
            ARCH_V2,
            &(0..arm_params(ARCH_V2))
                .map(|i| ((i * 37) % 200) as f32 / 400.0 - 0.25)
                .collect::<Vec<_>>(),
        );
        img
    }

    /// Architecture 3: architecture 2 with the wide synthesis.
    pub fn sample_v3(width: u32, height: u32, channels: u8, alpha: bool) -> NeuralImage {
        let mut img = sample_v2(width, height, channels, alpha);
        img.arch = ARCH_V3;
        img.arm.arch = ARCH_V3;
        img.syn = (0..syn_param_count(32, channels as usize))
            .map(|i| (i as i32 * 7919) % 255 - 127)
            .collect();
        img
    }

    /// §5.1's header rules that the safetensors reader alone lets through: each edit below is
    /// one it accepts, and the payload's weights must still refuse it.
    #[test]
    fn architecture_1_header_members_are_checked_exactly() {
        let blob = weights_blob(&sample(8, 8, 3, false)).unwrap();
        let n = u64::from_le_bytes(blob[..8].try_into().unwrap()) as usize;
        let json = std::str::from_utf8(&blob[8..8 + n]).unwrap();
        assert!(parse_weights(&blob, 3).is_ok());
        let with = |j: String| {
            let mut b = (j.len() as u64).to_le_bytes().to_vec();
            b.extend_from_slice(j.as_bytes());
            b.extend_from_slice(&blob[8 + n..]);
            b
        };
        // (edit, whether the safetensors reader alone accepts it)
        for (edited, lenient) in [
            (json.replacen('{', "{\"__metadata__\":null,", 1), true),
            (json.replacen("\"dtype\"", "\"x\":1,\"dtype\"", 1), true),
            (
                json.replacen("\"dtype\"", "\"dtype\":\"I8\",\"dtype\"", 1),
                false,
            ),
        ] {
            let b = with(edited.clone());
            assert_eq!(
                safetensors::SafeTensors::deserialize(&b).is_ok(),
                lenient,
                "{edited}"
            );
            assert_eq!(
                parse_weights(&b, 3).unwrap_err().class(),
                "corrupt",
                "{edited}"
            );
        }
        // Whitespace around tokens and after the object stays valid.
        assert!(parse_weights(&with(format!(" {json}  ")), 3).is_ok());
    }

    #[test]
    fn architecture_2_roundtrips() {
        for (c, a) in [(3, false), (1, true)] {
            let img = sample_v2(21, 13, c, a);
            let p = encode(&img).unwrap();
            assert_eq!(p[4], ARCH_V2);
            assert_eq!(decode(&p, 1 << 20).unwrap(), img);
            let img = sample_v3(21, 13, c, a);
            let p = encode(&img).unwrap();
            assert_eq!(p[4], ARCH_V3);
            assert_eq!(decode(&p, 1 << 20).unwrap(), img);
            // The same weights under the other width's layout do not parse.
            let mut q = p.clone();
            q[4] = ARCH_V2;
            assert_eq!(decode(&q, 1 << 20).unwrap_err().class(), "corrupt");
        }
        // Architecture 3 keeps the filter flag.
        let mut img = sample_v3(12, 10, 3, false);
        img.filter = Some([3, -4, 0, 1, 255, -255, 7, 7, 0, 0, 1, 2]);
        assert_eq!(decode(&encode(&img).unwrap(), 1 << 20).unwrap(), img);
        // Flag bit 2: table set 2, in architectures 2 and 3; architecture 1 has none (refused
        // when encoding, `reserved` when read).
        for mut img in [sample_v2(21, 13, 3, true), sample_v3(12, 10, 1, false)] {
            let set1 = encode(&img).unwrap();
            img.tables = TableSet::Set2;
            let p = encode(&img).unwrap();
            assert_eq!(p[6] & FLAG_TABLES2, FLAG_TABLES2);
            assert_eq!(decode(&p, 1 << 20).unwrap(), img);
            // The sets code these latents differently (the samples reach narrow tables and
            // odd eighths), and each stream read with the other set is other latents or none.
            assert_ne!(set1[HEADER_LEN..], p[HEADER_LEN..]);
            let mut q = p.clone();
            q[6] &= !FLAG_TABLES2;
            assert_ne!(
                decode(&q, 1 << 20).ok().map(|n| n.latents),
                Some(img.latents.clone())
            );
            let mut q = set1.clone();
            q[6] |= FLAG_TABLES2;
            assert_ne!(
                decode(&q, 1 << 20).ok().map(|n| n.latents),
                Some(img.latents.clone())
            );
        }
        let mut img = sample(8, 8, 3, false);
        img.tables = TableSet::Set2;
        assert_eq!(encode(&img).unwrap_err().class(), "input");
        let mut p = encode(&sample(8, 8, 3, false)).unwrap();
        p[6] |= FLAG_TABLES2;
        assert_eq!(decode(&p, 1 << 20).unwrap_err().class(), "reserved");
        // A wide synthesis under a 24-wide architecture's header is refused.
        let mut img = sample_v3(8, 8, 3, false);
        img.arch = ARCH_V2;
        img.arm.arch = ARCH_V2;
        assert_eq!(encode(&img).unwrap_err().class(), "input");
        // An entropy model of the other architecture is refused.
        let mut img = sample_v2(8, 8, 3, false);
        img.arm = ArmQ::zeros(ARCH_V1);
        assert_eq!(encode(&img).unwrap_err().class(), "input");
        // Steps that are not powers of two cannot be coded in architecture 2.
        let mut img = sample_v2(8, 8, 3, false);
        img.steps[0] = 0.01;
        assert_eq!(encode(&img).unwrap_err().class(), "input");
        // Architecture 1 stores int8 only.
        let mut img = sample(8, 8, 3, false);
        img.syn[0] = 300;
        assert_eq!(encode(&img).unwrap_err().class(), "input");
    }

    /// What the `neural_decode` fuzz target checks, exhaustively on a small architecture 2
    /// payload: every truncation and every single-bit flip is refused or decodes to an image
    /// that re-encodes and decodes to itself — never a panic.
    /// Flag bit 3: the residual rides at the end of the weight stream in architectures 2 and
    /// 3, round trips, changes the decoded pixels by its upsampled values, and is refused in
    /// architecture 1, with a block exponent outside 2..=6, or with the wrong grid size.
    #[test]
    fn residual_roundtrips_and_is_checked() {
        use crate::neural::residual::dims;
        for (mut img, log2) in [
            (sample_v2(21, 13, 3, true), 2u8),
            (sample_v3(12, 10, 1, false), 6),
        ] {
            let bare = encode(&img).unwrap();
            let (gw, gh) = dims(img.width as usize, img.height as usize, log2);
            img.residual = Some(Residual {
                log2,
                exps: vec![7; img.channels as usize],
                values: (0..img.channels)
                    .map(|o| {
                        (0..gw * gh)
                            .map(|i| (i as i32 % 5) - 2 + i32::from(o))
                            .collect()
                    })
                    .collect(),
            });
            let p = encode(&img).unwrap();
            assert_eq!(p[6] & FLAG_RESIDUAL, FLAG_RESIDUAL);
            assert_eq!(decode(&p, 1 << 20).unwrap(), img);
            // Without the flag the stream does not end where its last value does.
            let mut q = p.clone();
            q[6] &= !FLAG_RESIDUAL;
            assert_eq!(decode(&q, 1 << 20).unwrap_err().class(), "corrupt");
            // With the flag but no residual coded, the stream ends too early.
            let mut q = bare.clone();
            q[6] |= FLAG_RESIDUAL;
            assert_eq!(decode(&q, 1 << 20).unwrap_err().class(), "corrupt");
            every_flip_and_cut(&p);
        }
        // A grid of the wrong size and architecture 1 are refused when encoding.
        let mut img = sample_v2(8, 8, 3, false);
        img.residual = Some(Residual {
            log2: 2,
            exps: vec![7; 3],
            values: vec![vec![0; 3]; 3],
        });
        assert_eq!(encode(&img).unwrap_err().class(), "input");
        let mut p = encode(&sample(8, 8, 3, false)).unwrap();
        p[6] |= FLAG_RESIDUAL;
        assert_eq!(decode(&p, 1 << 20).unwrap_err().class(), "reserved");
        // Block exponents 0, 1 and 7 are refused when encoding, and read as `corrupt`.
        let img = sample_v2(8, 8, 3, false);
        for log2 in [0u8, 1, 7] {
            let mut bad = img.clone();
            let (gw, gh) = dims(8, 8, log2);
            bad.residual = Some(Residual {
                log2,
                exps: vec![7; 3],
                values: vec![vec![1; gw * gh]; 3],
            });
            assert_eq!(encode(&bad).unwrap_err().class(), "input");
            let exps = img.steps.map(|s| weights::step_exponent(s).unwrap());
            let mut arm = [0i32; crate::neural::arch::ARM2_PARAMS];
            for (a, &v) in arm.iter_mut().zip(&img.arm.params) {
                *a = i32::from(v);
            }
            let w = weights::encode_fields(
                ARCH_V2,
                &img.syn,
                &exps,
                &arm,
                &[0; 7],
                3,
                None,
                bad.residual.as_ref(),
            );
            assert_eq!(
                weights::decode(&w, ARCH_V2, 3, false, Some((8, 8)))
                    .unwrap_err()
                    .class(),
                "corrupt"
            );
        }
    }

    #[test]
    fn architecture_2_survives_every_bit_flip_and_truncation() {
        let mut set2 = sample_v2(6, 5, 3, false);
        set2.tables = TableSet::Set2;
        for img in [sample_v2(9, 7, 3, true), sample_v3(5, 4, 1, false), set2] {
            every_flip_and_cut(&encode(&img).unwrap());
        }
    }

    fn every_flip_and_cut(p: &[u8]) {
        let check = |q: &[u8]| {
            if let Ok(n) = decode(q, 1 << 12) {
                let again = encode(&n).expect("a decoded image re-encodes");
                assert_eq!(decode(&again, 1 << 12).expect("and decodes"), n);
            }
        };
        for cut in 0..p.len() {
            assert!(decode(&p[..cut], 1 << 12).is_err(), "cut at {cut}");
        }
        let mut q = p.to_vec();
        for i in 0..p.len() {
            for bit in 0..8 {
                q[i] ^= 1 << bit;
                check(&q);
                q[i] ^= 1 << bit;
            }
        }
    }

    #[test]
    fn rejects_damage_clearly() {
        let img = sample(16, 16, 3, false);
        let p = encode(&img).unwrap();
        let class = |p: &[u8]| decode(p, 1 << 20).unwrap_err().class();
        assert_eq!(class(&p[..p.len() - 1]), "corrupt");
        let mut q = p.clone();
        q[4] = 9;
        assert_eq!(class(&q), "unknown-codec");
        let mut q = p.clone();
        q[7] = 1;
        assert_eq!(class(&q), "reserved");
        // Absurd dimensions are refused before anything is allocated.
        let mut q = p.clone();
        q[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        q[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(class(&q), "limit");
        // A damaged safetensors blob (its JSON header) is a corrupt payload.
        let mut q = p.clone();
        q[HEADER_LEN + 10] ^= 0x55;
        assert_eq!(class(&q), "corrupt");
        // Missing weights: lengths no longer add up.
        let mut q = p.clone();
        q[16..20].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(class(&q), "corrupt");
    }

    #[test]
    fn weights_with_metadata_are_refused() {
        let img = sample(8, 8, 1, false);
        let p = encode(&img).unwrap();
        let h = Header::parse(&p, 1 << 20).unwrap();
        let st = safetensors::SafeTensors::deserialize(
            &p[HEADER_LEN..HEADER_LEN + h.weights_len as usize],
        )
        .unwrap();
        let views: Vec<(String, TensorView)> = st.tensors();
        let meta = std::collections::HashMap::from([("model".to_string(), "x".to_string())]);
        let weights = safetensors::serialize(views, Some(meta)).unwrap();
        let mut q = p[..HEADER_LEN].to_vec();
        q[16..20].copy_from_slice(&(weights.len() as u32).to_le_bytes());
        q.extend_from_slice(&weights);
        q.extend_from_slice(&p[HEADER_LEN + h.weights_len as usize..]);
        let e = decode(&q, 1 << 20).unwrap_err();
        assert_eq!(e.class(), "corrupt");
        assert!(e.to_string().contains("__metadata__"), "{e}");
    }

    #[test]
    fn dequantized_params_follow_steps() {
        let mut img = sample(8, 8, 1, false);
        img.steps[2] = 0.5;
        let f = img.syn_params_f32();
        let l = syn_layout(24, 1);
        assert_eq!(f[l[2].offset], img.syn[l[2].offset] as f32 * 0.5);
    }
}
