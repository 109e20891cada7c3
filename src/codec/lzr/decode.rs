//! The lzr decoder (spec/codec-lzr.md §3–§5): the range-coded symbols back to bytes.

use super::*;

fn tree_get(rc: &mut BinDecoder, probs: &mut [Context], bits: u32) -> u32 {
    let mut m = 1usize;
    for _ in 0..bits {
        m = (m << 1) | usize::from(rc.get(&mut probs[m]));
    }
    (m - (1 << bits)) as u32
}

fn rtree_get(rc: &mut BinDecoder, probs: &mut [Context], bits: u32) -> u32 {
    let mut m = 1usize;
    let mut v = 0u32;
    for i in 0..bits {
        let b = rc.get(&mut probs[m]);
        m = (m << 1) | usize::from(b);
        v |= u32::from(b) << i;
    }
    v
}

fn len_get(rc: &mut BinDecoder, lm: &mut LenModel, ps: usize) -> usize {
    MIN_MATCH
        + if !rc.get(&mut lm.choice) {
            tree_get(rc, &mut lm.low[ps], 3) as usize
        } else if !rc.get(&mut lm.choice2) {
            8 + tree_get(rc, &mut lm.mid[ps], 3) as usize
        } else {
            16 + tree_get(rc, &mut lm.high, 8) as usize
        }
}

/// Zero-based distance (u64: slot 63 reaches past u32 once one is added).
fn dist_get(rc: &mut BinDecoder, m: &mut Model, len: usize) -> u64 {
    let slot = tree_get(rc, &mut m.slot[len_state(len)], 6) as usize;
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
    let Some(body) = raw_or_coded("lzr", payload, raw_len, out)? else {
        return Ok(());
    };
    let [lc, pb, ref stream @ ..] = *body else {
        return Err(corrupt("coded payload shorter than its properties"));
    };
    if lc > LC_MAX || pb > PB_MAX {
        return Err(corrupt(format!("properties lc {lc}, pb {pb} out of range")));
    }
    out.reserve_exact(raw_len);
    let mut md = Model::new(lc, pb);
    let mut rc = BinDecoder::new(stream);
    let mut state = 0usize;
    let mut reps = [0u64; 4];
    while out.len() < raw_len {
        if rc.is_bad() {
            return Err(corrupt("range-coded stream is malformed or ends early"));
        }
        let pos = out.len();
        let ps = pos & md.pb_mask;
        if !rc.get(&mut md.is_match[state][ps]) {
            let base = md.lit_base(out.last().copied().unwrap_or(0));
            let probs = &mut md.lit[base..base + 0x300];
            let mut sym = 1usize;
            if state >= FIRST_MATCH_STATE {
                // reps[0] < pos holds: a match state is only entered through a checked match.
                let mut mb = usize::from(out[pos - reps[0] as usize - 1]);
                while sym < 0x100 {
                    let mbit = (mb >> 7) & 1;
                    mb <<= 1;
                    let b = rc.get(&mut probs[0x100 + (mbit << 8) + sym]);
                    sym = (sym << 1) | usize::from(b);
                    if usize::from(b) != mbit {
                        break;
                    }
                }
            }
            while sym < 0x100 {
                sym = (sym << 1) | usize::from(rc.get(&mut probs[sym]));
            }
            out.push(sym as u8);
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
                    return Err(corrupt("short repeat reaches before the block"));
                }
                let b = out[pos - reps[0] as usize - 1];
                out.push(b);
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
            return Err(corrupt("match runs past the block's declared size"));
        }
        let from = pos - dist as usize;
        // Short copies byte by byte: a call into memmove costs more than they do.
        if len > 32 && dist as usize >= len {
            out.extend_from_within(from..from + len);
        } else {
            for k in 0..len {
                let b = out[from + k];
                out.push(b);
            }
        }
    }
    if rc.is_bad() || !rc.at_exact_end() {
        return Err(corrupt(
            "range-coded stream does not end where the block does",
        ));
    }
    Ok(())
}
