//! The lzr decoder (spec/codec-lzr.md §3–§5): the range-coded symbols back to bytes.

use super::*;

/// A `BITS`-bit symbol, most significant bit first, through the binary tree `probs` of
/// `N = 2^BITS` contexts (index 0 unused). Indices are masked with `N − 1`, which they never
/// exceed, so the compiler drops the bounds checks on this hottest path.
#[inline(always)]
fn tree_get<C: BitModel, const N: usize>(rc: &mut LocalBits, probs: &mut [C; N]) -> u32 {
    (rc.get_tree(probs, 1, N) - N) as u32
}

/// Like [`tree_get`] with the bits least significant first; `bits` may be below the tree's.
#[inline(always)]
fn rtree_get<C: BitModel, const N: usize>(
    rc: &mut LocalBits,
    probs: &mut [C; N],
    bits: u32,
) -> u32 {
    let mut m = 1usize;
    let mut v = 0u32;
    for i in 0..bits {
        let b = rc.get(&mut probs[m & (N - 1)]);
        m = (m << 1) | usize::from(b);
        v |= u32::from(b) << i;
    }
    v
}

/// One literal (spec §4.2): eight bits through the 0x300 contexts of its coder, while the
/// bits agree with `matched` (the byte at the last distance, after a match) in the contexts
/// for that byte's bit. Kept out of line with its own locals copy of the range coder's state:
/// inside the main loop that state did not fit the registers and was reloaded at every bit.
#[inline(never)]
fn literal_get<C: BitModel>(rc: &mut LocalBits, probs: &mut [C; 0x300], matched: Option<u8>) -> u8 {
    let mut rc = rc.local();
    let (plain, matched_probs) = probs.split_at_mut(0x100);
    let plain: &mut [C; 0x100] = plain.try_into().expect("0x100");
    let Some(mb) = matched else {
        return rc.get_tree(plain, 1, 0x100) as u8;
    };
    let mut mb = usize::from(mb) << 1;
    let mut mbit = (mb >> 8) & 1;
    let mut sym = 1usize;
    let mut p = matched_probs[(mbit << 8) + 1].p1();
    loop {
        // Both contexts the next bit may use, read before this bit is known (see
        // `LocalBits::get_tree`): the next matched context if the bit agrees with the
        // matched byte's, the plain tree's if not. Neither is the one updated now.
        mb <<= 1;
        let next_mbit = (mb >> 8) & 1;
        let agree = ((sym << 1) | mbit) & 0xFF;
        let p_agree = matched_probs[(next_mbit << 8) + agree].p1();
        let p_plain = plain[agree ^ 1].p1();
        let cur = (mbit << 8) + (sym & 0xFF);
        let bit = rc.get_read_ahead(&mut matched_probs[cur], p);
        sym = (sym << 1) | usize::from(bit);
        if sym >= 0x100 {
            return sym as u8;
        }
        if usize::from(bit) != mbit {
            return rc.get_tree_read_ahead(plain, sym, 0x100, p_plain) as u8;
        }
        p = p_agree;
        mbit = next_mbit;
    }
}

#[inline(always)]
fn len_get<C: BitModel>(rc: &mut LocalBits, lm: &mut LenModel<C>, ps: usize) -> usize {
    MIN_MATCH
        + if !rc.get(&mut lm.choice) {
            tree_get(rc, &mut lm.low[ps]) as usize
        } else if !rc.get(&mut lm.choice2) {
            8 + tree_get(rc, &mut lm.mid[ps]) as usize
        } else {
            16 + tree_get(rc, &mut lm.high) as usize
        }
}

/// Zero-based distance (u64: slot 63 reaches past u32 once one is added).
fn dist_get<C: BitModel>(rc: &mut LocalBits, m: &mut Model<C>, len: usize) -> u64 {
    let slot = tree_get(rc, &mut m.slot[len_state(len)]) as usize;
    if slot < 4 {
        return slot as u64;
    }
    let fb = (slot as u32 >> 1) - 1;
    let base = u64::from(2 | (slot as u32 & 1)) << fb;
    if slot < FIRST_ALIGN_SLOT {
        return base + u64::from(rtree_get(rc, &mut m.special[slot - 4], fb));
    }
    let mut direct = 0u64;
    let mut left = fb - 4;
    while left > 0 {
        let n = left.min(16);
        direct = (direct << n) | u64::from(rc.get_direct(n));
        left -= n;
    }
    base + (direct << 4) + u64::from(rtree_get(rc, &mut m.align, 4))
}

/// Decodes an lzr payload into `out` (cleared first); `out` ends up exactly `raw_len` long.
pub fn decode(payload: &[u8], raw_len: usize, out: &mut Vec<u8>) -> Result<()> {
    let Some(body) = raw_or_coded("lzr1", payload, raw_len, out)? else {
        return Ok(());
    };
    let [lc, pb, ref stream @ ..] = *body else {
        return Err(corrupt("coded payload shorter than its properties"));
    };
    decode_stream::<Context>("lzr1", lc, pb, stream, raw_len, out)
}

/// Decodes an lzr2 payload (spec §7) into `out` (cleared first).
pub fn decode2(payload: &[u8], raw_len: usize, out: &mut Vec<u8>) -> Result<()> {
    let Some(body) = raw_or_coded("lzr2", payload, raw_len, out)? else {
        return Ok(());
    };
    let [lc, pb, fl, ref stream @ ..] = *body else {
        return Err(corrupt_in(
            "lzr2",
            "coded payload shorter than its properties",
        ));
    };
    if fl & !flags::KNOWN != 0 {
        return Err(corrupt_in("lzr2", format!("unknown flags {fl:#04x}")));
    }
    decode_stream::<Context1>("lzr2", lc, pb, stream, raw_len, out)?;
    if fl & flags::X86 != 0 {
        x86::decode(out);
    }
    Ok(())
}

/// The range-coded symbols of either payload back to bytes (§3–§5), with contexts of kind `C`.
fn decode_stream<C: BitModel>(
    codec: &'static str,
    lc: u8,
    pb: u8,
    stream: &[u8],
    raw_len: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    let corrupt = |why: String| corrupt_in(codec, why);
    if lc > LC_MAX || pb > PB_MAX {
        return Err(corrupt(format!("properties lc {lc}, pb {pb} out of range")));
    }
    // Written through an index into a buffer sized up front (exactly: a block's memory is
    // bounded by its size).
    out.clear();
    out.reserve_exact(raw_len);
    out.resize(raw_len, 0);
    let buf = &mut out[..];
    let mut pos = 0usize;
    let mut md = Model::<C>::new(lc, pb);
    let mut home = BinDecoder::new(stream);
    let mut rc = home.local();
    let mut state = 0usize;
    let mut reps = [0u64; 4];
    while pos < raw_len {
        if rc.is_bad() {
            return Err(corrupt(
                "range-coded stream is malformed or ends early".into(),
            ));
        }
        let ps = pos & md.pb_mask;
        if !rc.get(&mut md.is_match[state][ps]) {
            let base = md.lit_base(if pos > 0 { buf[pos - 1] } else { 0 });
            let probs: &mut [C; 0x300] = (&mut md.lit[base..base + 0x300])
                .try_into()
                .expect("a literal coder is 0x300 contexts");
            // reps[0] < pos holds in a match state: it is only entered through a checked match.
            let matched = (state >= FIRST_MATCH_STATE).then(|| buf[pos - reps[0] as usize - 1]);
            let sym = literal_get(&mut rc, probs, matched);
            buf[pos] = sym;
            pos += 1;
            state = after_literal(state);
            continue;
        }
        let len;
        if !rc.get(&mut md.is_rep[state]) {
            len = len_get(&mut rc, &mut md.match_len, ps);
            let d = dist_get(&mut rc, &mut md, len);
            reps = [d, reps[0], reps[1], reps[2]];
            state = after(state, MATCH);
        } else if !rc.get(&mut md.is_rep0[state]) {
            if !rc.get(&mut md.is_rep0_long[state][ps]) {
                if reps[0] >= pos as u64 {
                    return Err(corrupt("short repeat reaches before the block".into()));
                }
                buf[pos] = buf[pos - reps[0] as usize - 1];
                pos += 1;
                state = after(state, SHORT_REP);
                continue;
            }
            len = len_get(&mut rc, &mut md.rep_len, ps);
            state = after(state, REP);
        } else {
            let d = if !rc.get(&mut md.is_rep1[state]) {
                reps[1]
            } else if !rc.get(&mut md.is_rep2[state]) {
                let d = reps[2];
                reps[2] = reps[1];
                d
            } else {
                let d = reps[3];
                reps[3] = reps[2];
                reps[2] = reps[1];
                d
            };
            reps[1] = reps[0];
            reps[0] = d;
            len = len_get(&mut rc, &mut md.rep_len, ps);
            state = after(state, REP);
        }
        let dist = reps[0] + 1;
        if dist > pos as u64 {
            return Err(corrupt(format!(
                "match distance {dist} at offset {pos} reaches before the block"
            )));
        }
        if len > raw_len - pos {
            return Err(corrupt("match runs past the block's declared size".into()));
        }
        copy_match(buf, pos, dist as usize, len);
        pos += len;
    }
    drop(rc);
    if home.is_bad() || !home.at_exact_end() {
        return Err(corrupt(
            "range-coded stream does not end where the block does".into(),
        ));
    }
    Ok(())
}

/// Bytes a match copy moves at a time.
const COPY_CHUNK: usize = 16;

/// Copies `len` bytes from `dist` back to `pos`. A source at least [`COPY_CHUNK`] back goes in
/// whole chunks — each reads only bytes already final, and the last may spill past the match
/// into bytes the next symbols overwrite, as long as it stays inside the buffer — since most
/// matches are short and a byte loop or a call into memmove costs more than two 16-byte moves.
/// Closer sources, and the tail at the buffer's end, go byte by byte. The caller guarantees
/// `dist <= pos` and `pos + len <= buf.len()`.
#[inline]
fn copy_match(buf: &mut [u8], pos: usize, dist: usize, len: usize) {
    let from = pos - dist;
    let mut k = 0;
    if dist >= COPY_CHUNK {
        while k < len && pos + k + COPY_CHUNK <= buf.len() {
            let chunk: [u8; COPY_CHUNK] = buf[from + k..from + k + COPY_CHUNK]
                .try_into()
                .expect("chunk length");
            buf[pos + k..pos + k + COPY_CHUNK].copy_from_slice(&chunk);
            k += COPY_CHUNK;
        }
    }
    while k < len {
        buf[pos + k] = buf[from + k];
        k += 1;
    }
}
