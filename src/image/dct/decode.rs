//! The normative decoder (spec/codec-dct.md §3–§6), streaming by MCU rows.
//!
//! Working memory is three MCU rows of samples per component (4:2:0 upsampling of an output row
//! needs the chroma rows just above and below) plus three block rows of coefficients for the
//! context model, independent of the image height. The alpha plane, when present, is
//! decompressed whole (it is one byte per pixel, bounded by the pixel limit).

use super::format::{Header, FLAG_DEBLOCK, HEADER_LEN};
use super::model::{code_block, ClassModel, Neighbours};
use super::tables::{idct_block, quant_matrix};
use super::{CoefRows, Geometry};
use crate::entropy::binary::BinDecoder;
use crate::error::{Error, Result};
use crate::image::color::ycbcr_to_rgb;
use crate::image::{DecodeLimits, Image};

fn corrupt(why: impl Into<String>) -> Error {
    Error::Corrupt {
        codec: "dct",
        why: why.into(),
    }
}

/// Largest output buffer [`decode`] reserves before decoding (bytes).
const INITIAL_RESERVE_MAX: usize = 64 << 20;

/// Decodes a payload to an image, verifying the pixel CRC.
pub fn decode(payload: &[u8], limits: &DecodeLimits) -> Result<Image> {
    let h = Header::parse(payload)?;
    check_limits(&h, limits)?;
    let len = h.width as usize * h.height as usize * h.channels as usize;
    // Reserve up front only what a payload of this size plausibly needs: a forged header must
    // not reserve gigabytes before the stream turns out to be garbage; growth does the rest.
    let mut data = Vec::with_capacity(len.min(INITIAL_RESERVE_MAX));
    decode_rows(payload, limits, |_, row| {
        data.extend_from_slice(row);
        Ok(())
    })?;
    Image::from_raw(h.width, h.height, h.channels, data)
}

/// Decodes a payload row by row: `sink(y, pixels)` receives each output row (interleaved
/// channels) in order. The CRC can only be checked after the last row, so a sink that must not
/// act on corrupt data should buffer or be prepared to undo.
pub fn decode_rows(
    payload: &[u8],
    limits: &DecodeLimits,
    sink: impl FnMut(u32, &[u8]) -> Result<()>,
) -> Result<Header> {
    decode_inner(payload, limits, true, sink)
}

pub(crate) fn check_limits(h: &Header, limits: &DecodeLimits) -> Result<()> {
    let pixels = u64::from(h.width) * u64::from(h.height);
    if pixels > limits.max_pixels {
        return Err(Error::Limit {
            what: "image pixels",
            got: pixels,
            max: limits.max_pixels,
        });
    }
    Ok(())
}

/// The 4:2:0 upsampler of spec §6.1: for output column x, the nearest chroma sample gets
/// weight 3/4 and the next one away 1/4, in each direction, clamped at the plane's edges.
#[inline]
fn upsample_row(near: &[u8], far: &[u8], cw: usize, out: &mut [u8]) {
    for (x, o) in out.iter_mut().enumerate() {
        let cx = x / 2;
        let fx = if x % 2 == 0 {
            cx.saturating_sub(1)
        } else {
            (cx + 1).min(cw - 1)
        };
        let v = 9 * u32::from(near[cx])
            + 3 * u32::from(far[cx])
            + 3 * u32::from(near[fx])
            + u32::from(far[fx]);
        *o = ((v + 8) >> 4) as u8;
    }
}

/// Deblocking thresholds from the component's DC quantizer step `q` (spec §8): an edge is
/// smoothed only where the step across it (< α) and the texture on each side (< β) are small
/// enough to be quantization artefacts, and by at most tc.
#[inline]
fn deblock_params(q: u16) -> (i32, i32, i32) {
    let q = i32::from(q);
    (q + 2, q / 4 + 1, q / 4 + 1)
}

/// Filters one edge p1 p0 | q0 q1; returns the new (p0, q0), or None to leave it.
#[inline]
fn filter_edge(
    p1: u8,
    p0: u8,
    q0: u8,
    q1: u8,
    (alpha, beta, tc): (i32, i32, i32),
) -> Option<(u8, u8)> {
    let (p1, p0, q0, q1) = (i32::from(p1), i32::from(p0), i32::from(q0), i32::from(q1));
    if (p0 - q0).abs() >= alpha || (p1 - p0).abs() >= beta || (q1 - q0).abs() >= beta {
        return None;
    }
    let delta = ((4 * (q0 - p0) + (p1 - q1) + 4) >> 3).clamp(-tc, tc);
    Some((
        (p0 + delta).clamp(0, 255) as u8,
        (q0 - delta).clamp(0, 255) as u8,
    ))
}

/// Deblocks MCU row `r` of one component plane (spec §8): first every vertical block edge
/// inside the row, then the horizontal edges at the row's top (against MCU row r − 1, held in
/// the previous ring slot) and inside it. Each edge reads two samples and writes one on each
/// side, so this streaming order equals "all vertical edges, then all horizontal edges" over
/// the whole plane.
fn deblock_mcu_row(slots: &mut [Vec<u8>; 3], rows: usize, pw: usize, r: usize, q: u16) {
    let prm = deblock_params(q);
    {
        let plane = &mut slots[r % 3];
        for y in 0..rows {
            let line = &mut plane[y * pw..(y + 1) * pw];
            for x in (8..pw).step_by(8) {
                if let Some((a, b)) =
                    filter_edge(line[x - 2], line[x - 1], line[x], line[x + 1], prm)
                {
                    line[x - 1] = a;
                    line[x] = b;
                }
            }
        }
    }
    let (cur_i, prev_i) = (r % 3, (r + 2) % 3);
    for edge in (0..rows).step_by(8) {
        if edge == 0 && r == 0 {
            continue;
        }
        for x in 0..pw {
            // Rows edge-2, edge-1 (maybe in the previous MCU row) and edge, edge+1.
            let at = |slots: &[Vec<u8>; 3], y: isize| -> u8 {
                if y < 0 {
                    slots[prev_i][(rows as isize + y) as usize * pw + x]
                } else {
                    slots[cur_i][y as usize * pw + x]
                }
            };
            let e = edge as isize;
            if let Some((a, b)) = filter_edge(
                at(slots, e - 2),
                at(slots, e - 1),
                at(slots, e),
                at(slots, e + 1),
                prm,
            ) {
                if edge == 0 {
                    slots[prev_i][(rows - 1) * pw + x] = a;
                } else {
                    slots[cur_i][(edge - 1) * pw + x] = a;
                }
                slots[cur_i][edge * pw + x] = b;
            }
        }
    }
}

/// Where the pixel pipeline gets each block's quantized coefficients, in coding order: the
/// range decoder for a payload, or the encoder's own blocks when it reconstructs what a decoder
/// will see (to store the CRC) without paying for entropy decoding.
pub(crate) trait BlockSource {
    /// Fills `blk` (zeroed by the caller) with the next block of component class `class`.
    fn block(&mut self, class: usize, nb: &Neighbours, blk: &mut [i16; 64]) -> Result<()>;
    /// Called after each MCU row.
    fn row_done(&mut self) -> Result<()> {
        Ok(())
    }
    /// Called after the last block.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Blocks decoded from the coefficient stream with the context model.
struct EntropySource<'a> {
    dec: BinDecoder<'a>,
    models: [ClassModel; 2],
}

impl BlockSource for EntropySource<'_> {
    fn block(&mut self, class: usize, nb: &Neighbours, blk: &mut [i16; 64]) -> Result<()> {
        if !code_block(&mut self.dec, &mut self.models[class], blk, nb) {
            return Err(corrupt("DC value out of range"));
        }
        Ok(())
    }

    fn row_done(&mut self) -> Result<()> {
        if self.dec.is_bad() {
            return Err(corrupt("coefficient stream is truncated or malformed"));
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if !self.dec.at_exact_end() {
            return Err(corrupt(
                "coefficient stream length does not match its content",
            ));
        }
        Ok(())
    }
}

/// Blocks the encoder kept, in coding order.
pub(crate) struct StoredBlocks<'a>(pub std::slice::Iter<'a, [i16; 64]>);

impl BlockSource for StoredBlocks<'_> {
    fn block(&mut self, _: usize, _: &Neighbours, blk: &mut [i16; 64]) -> Result<()> {
        *blk = *self
            .0
            .next()
            .ok_or_else(|| corrupt("too few stored blocks"))?;
        Ok(())
    }
}

/// Decodes; with `verify` false the stored CRC is not checked. Returns the header with
/// `pixel_crc` set to the CRC of the produced pixels.
pub(crate) fn decode_inner(
    payload: &[u8],
    limits: &DecodeLimits,
    verify: bool,
    sink: impl FnMut(u32, &[u8]) -> Result<()>,
) -> Result<Header> {
    let h = Header::parse(payload)?;
    check_limits(&h, limits)?;
    let ch = h.channels as usize;
    let (w, height) = (h.width as usize, h.height as usize);
    let alpha_end = HEADER_LEN + h.alpha_len as usize;
    let alpha = if ch == 2 || ch == 4 {
        let mut a = crate::codec::zstd_codec::decode_plane(
            &payload[HEADER_LEN..alpha_end],
            w * height,
            "dct",
        )?;
        // Undo the left-neighbour prediction (spec §3): a running sum per row, mod 256.
        for row in a.chunks_exact_mut(w) {
            let mut prev = 0u8;
            for v in row {
                prev = prev.wrapping_add(*v);
                *v = prev;
            }
        }
        a
    } else {
        Vec::new()
    };
    let mut source = EntropySource {
        dec: BinDecoder::new(&payload[alpha_end..]),
        models: [
            ClassModel::new(quant_matrix(h.table_set, 0, h.quality)),
            ClassModel::new(quant_matrix(h.table_set, 1, h.quality)),
        ],
    };
    let crc = reconstruct(&h, &alpha, &mut source, sink)?;
    if verify && crc != h.pixel_crc {
        return Err(corrupt(format!(
            "pixel CRC mismatch: stored {:#010x}, decoded {crc:#010x}",
            h.pixel_crc
        )));
    }
    Ok(Header {
        pixel_crc: crc,
        ..h
    })
}

/// The pixel pipeline (spec §4–§8): blocks from `source` → dequantize + IDCT → deblock →
/// upsample → RGB → rows to `sink`, by MCU rows. `alpha` is the full alpha plane (empty
/// without alpha). Returns the CRC-32 of all output rows.
pub(crate) fn reconstruct(
    h: &Header,
    alpha: &[u8],
    source: &mut impl BlockSource,
    mut sink: impl FnMut(u32, &[u8]) -> Result<()>,
) -> Result<u32> {
    let ch = h.channels as usize;
    let has_alpha = ch == 2 || ch == 4;
    let g = Geometry::new(h.width, h.height, h.components(), h.sampling);
    let (w, height) = (g.width, g.height);
    let qm = [
        quant_matrix(h.table_set, 0, h.quality),
        quant_matrix(h.table_set, 1, h.quality),
    ];
    let mut rings: Vec<CoefRows> = (0..g.comps)
        .map(|c| CoefRows::new(g.blocks_wide(c)))
        .collect();
    // samples[c][slot]: MCU row r lives in slot r % 3.
    let mut samples: Vec<[Vec<u8>; 3]> = (0..g.comps)
        .map(|c| std::array::from_fn(|_| vec![0u8; g.rows_per_mcu(c) * g.blocks_wide(c) * 8]))
        .collect();
    let mut out_row = vec![0u8; w * ch];
    let mut chroma = [vec![0u8; w], vec![0u8; w]];
    let mut crc = crc32fast::Hasher::new();

    let mut emit = |r: usize, samples: &[[Vec<u8>; 3]]| -> Result<()> {
        let mcu = 8 * g.sub;
        for y in r * mcu..((r + 1) * mcu).min(height) {
            let pw0 = g.blocks_wide(0) * 8;
            let luma = &samples[0][r % 3][(y - r * mcu) * pw0..][..w];
            if g.comps == 3 {
                for c in 1..3 {
                    let pwc = g.blocks_wide(c) * 8;
                    let rpm = g.rows_per_mcu(c);
                    let row_of = |j: usize| -> &[u8] {
                        &samples[c][(j / rpm) % 3][(j % rpm) * pwc..][..pwc]
                    };
                    if g.sub == 1 {
                        chroma[c - 1].copy_from_slice(&row_of(y)[..w]);
                    } else {
                        let (cw, chh) = g.plane_size(c);
                        let cy = y / 2;
                        let far = if y % 2 == 0 {
                            cy.saturating_sub(1)
                        } else {
                            (cy + 1).min(chh - 1)
                        };
                        upsample_row(row_of(cy), row_of(far), cw, &mut chroma[c - 1]);
                    }
                }
            }
            let arow = if has_alpha {
                &alpha[y * w..(y + 1) * w]
            } else {
                &[][..]
            };
            for x in 0..w {
                let px = &mut out_row[x * ch..(x + 1) * ch];
                if g.comps == 3 {
                    px[..3].copy_from_slice(&ycbcr_to_rgb(luma[x], chroma[0][x], chroma[1][x]));
                } else {
                    px[0] = luma[x];
                }
                if has_alpha {
                    px[ch - 1] = arow[x];
                }
            }
            crc.update(&out_row);
            sink(y as u32, &out_row)?;
        }
        Ok(())
    };

    for r in 0..g.mcu_rows {
        for (c, bx, by, y0) in g.mcu_row_blocks(r) {
            let class = usize::from(c > 0);
            let stride = g.blocks_wide(c) * 8;
            let mut blk = [0i16; 64];
            let nb = rings[c].neighbours(bx, by);
            source.block(class, &nb, &mut blk)?;
            rings[c].store(bx, by, &blk);
            let plane = &mut samples[c][r % 3];
            idct_block(&blk, &qm[class], &mut plane[y0 * stride + bx * 8..], stride);
        }
        source.row_done()?;
        if h.flags & FLAG_DEBLOCK != 0 {
            for (c, slots) in samples.iter_mut().enumerate() {
                let q = qm[usize::from(c > 0)][0];
                deblock_mcu_row(slots, g.rows_per_mcu(c), g.blocks_wide(c) * 8, r, q);
            }
        }
        if r >= 1 {
            emit(r - 1, &samples)?;
        }
    }
    source.finish()?;
    emit(g.mcu_rows - 1, &samples)?;
    Ok(crc.finalize())
}
