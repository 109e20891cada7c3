//! The encoder. It is not normative: anything that produces a valid payload is allowed. This
//! one pads by edge replication, box-filters chroma for 4:2:0, uses a float forward DCT and
//! rounds coefficients toward zero a little (a dead zone: the cheapest rate–distortion gain,
//! measured in docs/image-rd.md), then decodes its own payload to store the pixel CRC.

use super::decode::{reconstruct, StoredBlocks};
use super::format::{Header, Sampling, FLAG_DEBLOCK, HEADER_LEN};
use super::model::{code_block, ClassModel, CostIo, Neighbours, MAX_MAG};
use super::tables::{fdct_block, quant_matrix, ZIGZAG};
use super::{CoefRows, Geometry};
use crate::entropy::binary::BinEncoder;
use crate::error::{Error, Result};
use crate::image::color::rgb_to_ycbcr;
use crate::image::Image;

/// Default quality, as libjpeg's.
pub const QUALITY_DEFAULT: u8 = 75;
/// From this quality on, [`SamplingChoice::Auto`] also tries 4:4:4 and keeps the better.
pub const AUTO_444_QUALITY: u8 = 90;
/// zstd level for the lossless alpha plane.
const ALPHA_ZSTD_LEVEL: i32 = 9;

/// Which chroma subsampling to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplingChoice {
    /// 4:2:0, except at high qualities (`AUTO_444_QUALITY`) where 4:4:4 is kept if it is
    /// better at equal PSNR (estimated with a slope of `DB_PER_RATE_DOUBLING` dB per doubling).
    Auto,
    /// Always 4:2:0 (colour images).
    S420,
    /// Always full-resolution chroma.
    S444,
}

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DctOptions {
    /// 1..=100, higher is better and bigger (libjpeg scaling of the quantization matrices).
    pub quality: u8,
    /// Chroma subsampling (ignored for gray).
    pub sampling: SamplingChoice,
    /// Rounding offset for AC coefficients, in 1/256 of a quantization step: 128 is plain
    /// rounding, smaller values widen the dead zone around zero.
    pub ac_rounding: u16,
    /// Base quantization matrices: 0 = ITU-T T.81 Annex K (libjpeg's), 1 = flattened for
    /// PSNR (see `tables.rs`).
    pub table_set: u8,
    /// Whether the decoder deblocks. `None` lets the encoder reconstruct both ways and keep the
    /// one with the smaller error (the flag costs no bits, the extra reconstruction ~25 %
    /// encode time); the default is on, which chose the same on every dev image.
    pub deblock: Option<bool>,
    /// Greedy RDO strength: λ in 1/256 units of q² per bit; 0 turns RDO off.
    pub rdo_lambda: u16,
}

impl Default for DctOptions {
    fn default() -> Self {
        DctOptions {
            quality: QUALITY_DEFAULT,
            sampling: SamplingChoice::Auto,
            ac_rounding: AC_ROUNDING_DEFAULT,
            rdo_lambda: RDO_LAMBDA_DEFAULT,
            deblock: Some(true),
            table_set: 0,
        }
    }
}

/// Default AC rounding (see [`DctOptions::ac_rounding`]): plain rounding, because the RDO
/// pass does the dead zone's job better (docs/dct-codec.md).
pub const AC_ROUNDING_DEFAULT: u16 = 128;
/// Default RDO strength (see [`DctOptions::rdo_lambda`]), tuned on the dev images.
pub const RDO_LAMBDA_DEFAULT: u16 = 15;
/// Upper bound on the bits one RDO step can save, for skipping hopeless candidates.
const RDO_MAX_BITS: f32 = 8.0;
/// Rate–PSNR slope used to compare 4:2:0 and 4:4:4 candidates at different PSNRs: doubling
/// the rate of a photo at high quality buys roughly this many dB.
pub const DB_PER_RATE_DOUBLING: f64 = 5.0;

/// Encodes `img` (1–4 channels) into a DCT payload.
pub fn encode(img: &Image, opts: &DctOptions) -> Result<Vec<u8>> {
    if opts.table_set >= super::tables::TABLE_SETS {
        return Err(Error::InvalidArgument(format!(
            "unknown table set {}",
            opts.table_set
        )));
    }
    if !(1..=100).contains(&opts.quality) {
        return Err(Error::InvalidArgument(format!(
            "quality {} out of range 1..=100",
            opts.quality
        )));
    }
    if img.width == 0 || img.height == 0 {
        return Err(Error::InvalidArgument(
            "cannot encode an empty image".into(),
        ));
    }
    if img.width.max(img.height) > super::format::MAX_SIDE {
        return Err(Error::Limit {
            what: "image side",
            got: u64::from(img.width.max(img.height)),
            max: u64::from(super::format::MAX_SIDE),
        });
    }
    if img.data.len() != img.width as usize * img.height as usize * img.channels as usize {
        return Err(Error::SizeMismatch {
            what: "image data length does not match its shape".into(),
        });
    }
    let colour = img.channels >= 3;
    let sampling = match opts.sampling {
        SamplingChoice::S444 => Sampling::S444,
        _ if !colour => Sampling::S444,
        SamplingChoice::S420 => Sampling::S420,
        SamplingChoice::Auto if opts.quality < AUTO_444_QUALITY => Sampling::S420,
        SamplingChoice::Auto => {
            let (p420, sse420) = encode_with(img, opts, Sampling::S420)?;
            let (p444, sse444) = encode_with(img, opts, Sampling::S444)?;
            let score = |len: usize, sse: f64| {
                let psnr = 10.0
                    * (255.0f64.powi(2) / (sse / (img.pixels() as f64 * 3.0)).max(1e-9)).log10();
                (len as f64).log2() - psnr / DB_PER_RATE_DOUBLING
            };
            return Ok(if score(p444.len(), sse444) < score(p420.len(), sse420) {
                p444
            } else {
                p420
            });
        }
    };
    Ok(encode_with(img, opts, sampling)?.0)
}

/// Encodes with a fixed sampling; returns the payload and the sum of squared colour errors.
fn encode_with(img: &Image, opts: &DctOptions, sampling: Sampling) -> Result<(Vec<u8>, f64)> {
    let ch = img.channels as usize;
    let comps = if ch <= 2 { 1 } else { 3 };
    let g = Geometry::new(img.width, img.height, comps, sampling);
    let mut header = Header {
        channels: img.channels,
        sampling,
        quality: opts.quality,
        table_set: opts.table_set,
        flags: 0,
        width: img.width,
        height: img.height,
        pixel_crc: 0,
        alpha_len: 0,
    };
    let alpha = if img.has_alpha() {
        encode_alpha(img)?
    } else {
        Vec::new()
    };
    header.alpha_len = u32::try_from(alpha.len()).map_err(|_| Error::OutOfRange {
        what: "alpha stream above 4 GiB".into(),
    })?;
    let (stream, blocks) = encode_coefficients(img, &g, opts)?;
    let mut out = Vec::with_capacity(HEADER_LEN + alpha.len() + stream.len());
    header.write(&mut out);
    out.extend_from_slice(&alpha);
    out.extend_from_slice(&stream);

    // Decode our own payload: the CRC is of what decoders will produce, by construction.
    let candidates: &[u8] = match opts.deblock {
        Some(false) => &[0],
        Some(true) => &[FLAG_DEBLOCK],
        None => &[0, FLAG_DEBLOCK],
    };
    let mut best: Option<(f64, u8, u32)> = None;
    let alpha_plane: Vec<u8> = if img.has_alpha() {
        img.data.chunks_exact(ch).map(|p| p[ch - 1]).collect()
    } else {
        Vec::new()
    };
    for &flags in candidates {
        let h = Header { flags, ..header };
        let (sse, crc) = reconstruct_sse(img, &h, &alpha_plane, &blocks)?;
        if best.is_none_or(|b| sse < b.0) {
            best = Some((sse, flags, crc));
        }
    }
    let (sse, flags, crc) = best.expect("at least one candidate");
    out[9] = flags;
    out[18..22].copy_from_slice(&crc.to_le_bytes());
    Ok((out, sse))
}

/// Reconstructs what a decoder will produce from the encoder's own blocks and returns its
/// squared colour error against `img` and the CRC of the pixels.
fn reconstruct_sse(
    img: &Image,
    h: &Header,
    alpha: &[u8],
    blocks: &[[i16; 64]],
) -> Result<(f64, u32)> {
    let ch = img.channels as usize;
    let mut sse = 0f64;
    let row_len = img.width as usize * ch;
    let colour_ch = if img.has_alpha() { ch - 1 } else { ch };
    let crc = reconstruct(h, alpha, &mut StoredBlocks(blocks.iter()), |y, row| {
        let src = &img.data[y as usize * row_len..(y as usize + 1) * row_len];
        let mut s = 0u64;
        for (a, b) in src.chunks_exact(ch).zip(row.chunks_exact(ch)) {
            for c in 0..colour_ch {
                let d = i64::from(a[c]) - i64::from(b[c]);
                s += (d * d) as u64;
            }
        }
        sse += s as f64;
        Ok(())
    })?;
    Ok((sse, crc))
}

/// Alpha: left-neighbour differences (wrapping, 0 before each row), then one zstd frame.
fn encode_alpha(img: &Image) -> Result<Vec<u8>> {
    let ch = img.channels as usize;
    let w = img.width as usize;
    let mut res = Vec::with_capacity(img.pixels() as usize);
    for row in img.data.chunks_exact(w * ch) {
        let mut prev = 0u8;
        for px in row.chunks_exact(ch) {
            let a = px[ch - 1];
            res.push(a.wrapping_sub(prev));
            prev = a;
        }
    }
    zstd::bulk::compress(&res, ALPHA_ZSTD_LEVEL).map_err(|e| Error::io("zstd (alpha)", e))
}

/// Fills each component's sample rows for MCU row `r`: edge-replicated padding, YCbCr
/// conversion, 2x2 box filter for 4:2:0 chroma.
fn fill_planes(img: &Image, g: &Geometry, r: usize, planes: &mut [Vec<u8>], full: &mut [Vec<u8>]) {
    let ch = img.channels as usize;
    let w = g.width;
    let mcu = 8 * g.sub;
    let pw = g.mcu_cols * mcu;
    for ly in 0..mcu {
        let y = (r * mcu + ly).min(g.height - 1);
        let row = &img.data[y * w * ch..(y + 1) * w * ch];
        for x in 0..pw {
            let px = &row[x.min(w - 1) * ch..];
            let i = ly * pw + x;
            if g.comps == 1 {
                planes[0][i] = px[0];
            } else {
                let (yy, cb, cr) = rgb_to_ycbcr(px[0], px[1], px[2]);
                planes[0][i] = yy;
                if g.sub == 1 {
                    planes[1][i] = cb;
                    planes[2][i] = cr;
                } else {
                    full[0][i] = cb;
                    full[1][i] = cr;
                }
            }
        }
    }
    if g.comps == 3 && g.sub == 2 {
        let cw = pw / 2;
        for c in 0..2 {
            let f = &full[c];
            for cy in 0..8 {
                for cx in 0..cw {
                    let i = 2 * cy * pw + 2 * cx;
                    let s = u32::from(f[i])
                        + u32::from(f[i + 1])
                        + u32::from(f[i + pw])
                        + u32::from(f[i + pw + 1]);
                    planes[c + 1][cy * cw + cx] = ((s + 2) >> 2) as u8;
                }
            }
        }
    }
}

/// Forward DCT of the block at (x, y) of a sample plane.
fn block_dct(plane: &[u8], stride: usize, x: usize, y: usize, f: &mut [f32; 64]) {
    let mut px = [0f32; 64];
    for j in 0..8 {
        for i in 0..8 {
            px[j * 8 + i] = f32::from(plane[(y + j) * stride + x + i]) - 128.0;
        }
    }
    fdct_block(&px, f);
}

/// Dead-zone quantization: DC rounds to nearest, AC with the `ac_rounding` offset.
fn quantize_block(f: &[f32; 64], q: &[u16; 64], ac_rounding: f32, out: &mut [i16; 64]) {
    for i in 0..64 {
        let v = f[i] / f32::from(q[i]);
        let round = if i == 0 { 0.5 } else { ac_rounding };
        // `as` truncates, which is floor for the non-negative sum (and avoids a libm call).
        let m = ((v.abs() + round) as i32).min(MAX_MAG);
        out[i] = (if v < 0.0 { -m } else { m }) as i16;
    }
}

/// Greedy rate–distortion optimisation of one quantized block: walking the zigzag order
/// backwards, each coefficient of magnitude 1 is set to zero when the
/// squared error it adds is below λ·q²·(bits saved), the bits estimated from the current
/// adaptive contexts with [`CostIo`]. Distortion is measured in the (orthonormal) DCT domain,
/// which equals the pixel-domain squared error.
fn rdo_block(
    model: &mut ClassModel,
    blk: &mut [i16; 64],
    f: &[f32; 64],
    q: &[u16; 64],
    nb: &Neighbours,
    lambda: f32,
) {
    let cost = |model: &mut ClassModel, b: &[i16; 64]| {
        let mut io = CostIo::default();
        let mut b = *b;
        code_block(&mut io, model, &mut b, nb);
        io.cost as f32 / 256.0
    };
    let mut cur = cost(model, blk);
    for k in (1..64).rev() {
        let pos = ZIGZAG[k];
        let l = blk[pos];
        if l.unsigned_abs() != 1 {
            continue;
        }
        let qk = f32::from(q[pos]);
        let cand = l - l.signum();
        let d_old = (f[pos] - qk * f32::from(l)).powi(2);
        let d_new = (f[pos] - qk * f32::from(cand)).powi(2);
        // No change to one coefficient saves more than RDO_MAX_BITS: skip the rate estimate
        // when even that could not pay for the added error (most candidates).
        if d_new - d_old >= lambda * qk * qk * RDO_MAX_BITS {
            continue;
        }
        blk[pos] = cand;
        let c = cost(model, blk);
        if (d_new - d_old) < lambda * qk * qk * (cur - c) {
            cur = c;
        } else {
            blk[pos] = l;
        }
    }
}

/// Codes every block; returns the coefficient stream and the blocks in coding order.
fn encode_coefficients(
    img: &Image,
    g: &Geometry,
    opts: &DctOptions,
) -> Result<(Vec<u8>, Vec<[i16; 64]>)> {
    let qm = [
        quant_matrix(opts.table_set, 0, opts.quality),
        quant_matrix(opts.table_set, 1, opts.quality),
    ];
    let mut models = [ClassModel::new(qm[0]), ClassModel::new(qm[1])];
    let mut rings: Vec<CoefRows> = (0..g.comps)
        .map(|c| CoefRows::new(g.blocks_wide(c)))
        .collect();
    let mut planes: Vec<Vec<u8>> = (0..g.comps)
        .map(|c| vec![0u8; g.rows_per_mcu(c) * g.blocks_wide(c) * 8])
        .collect();
    let full_len = if g.sub == 2 { planes[0].len() } else { 0 };
    let mut full = vec![vec![0u8; full_len]; 2];
    let rounding = f32::from(opts.ac_rounding) / 256.0;
    let mut enc = BinEncoder::new();
    let per_mcu: usize = (0..g.comps).map(|c| g.blocks_per_mcu(c).pow(2)).sum();
    let mut blocks = Vec::with_capacity(g.mcu_rows * g.mcu_cols * per_mcu);
    for r in 0..g.mcu_rows {
        fill_planes(img, g, r, &mut planes, &mut full);
        for (c, bx, by, y0) in g.mcu_row_blocks(r) {
            let class = usize::from(c > 0);
            let stride = g.blocks_wide(c) * 8;
            let mut blk = [0i16; 64];
            let mut f = [0f32; 64];
            block_dct(&planes[c], stride, bx * 8, y0, &mut f);
            quantize_block(&f, &qm[class], rounding, &mut blk);
            let nb = rings[c].neighbours(bx, by);
            if opts.rdo_lambda > 0 {
                let lambda = f32::from(opts.rdo_lambda) / 256.0;
                rdo_block(&mut models[class], &mut blk, &f, &qm[class], &nb, lambda);
            }
            let ok = code_block(&mut enc, &mut models[class], &mut blk, &nb);
            debug_assert!(ok, "encoder DC within range");
            rings[c].store(bx, by, &blk);
            blocks.push(blk);
        }
    }
    Ok((enc.finish(), blocks))
}
