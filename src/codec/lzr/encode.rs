//! The lzr encoder: a binary-tree match finder and a forward optimal parse priced from the
//! live contexts (see the module documentation of `lzr`).

use super::*;

fn tree_put<C: BitModel>(rc: &mut BinEncoder, probs: &mut [C], bits: u32, v: u32) {
    let mut m = 1usize;
    for i in (0..bits).rev() {
        let b = (v >> i) & 1 == 1;
        rc.put(&mut probs[m], b);
        m = (m << 1) | usize::from(b);
    }
}

fn rtree_put<C: BitModel>(rc: &mut BinEncoder, probs: &mut [C], bits: u32, v: u32) {
    let mut m = 1usize;
    for i in 0..bits {
        let b = (v >> i) & 1 == 1;
        rc.put(&mut probs[m], b);
        m = (m << 1) | usize::from(b);
    }
}

fn tree_price<C: BitModel>(probs: &[C], bits: u32, v: u32) -> u32 {
    let mut m = 1usize;
    let mut p = 0;
    for i in (0..bits).rev() {
        let b = (v >> i) & 1 == 1;
        p += probs[m].cost(b);
        m = (m << 1) | usize::from(b);
    }
    p
}

fn rtree_price<C: BitModel>(probs: &[C], bits: u32, v: u32) -> u32 {
    let mut m = 1usize;
    let mut p = 0;
    for i in 0..bits {
        let b = (v >> i) & 1 == 1;
        p += probs[m].cost(b);
        m = (m << 1) | usize::from(b);
    }
    p
}

fn len_put<C: BitModel>(rc: &mut BinEncoder, lm: &mut LenModel<C>, ps: usize, len: usize) {
    let v = (len - MIN_MATCH) as u32;
    if v < 8 {
        rc.put(&mut lm.choice, false);
        tree_put(rc, &mut lm.low[ps], 3, v);
    } else if v < 16 {
        rc.put(&mut lm.choice, true);
        rc.put(&mut lm.choice2, false);
        tree_put(rc, &mut lm.mid[ps], 3, v - 8);
    } else {
        rc.put(&mut lm.choice, true);
        rc.put(&mut lm.choice2, true);
        tree_put(rc, &mut lm.high, 8, v - 16);
    }
}

fn len_price<C: BitModel>(lm: &LenModel<C>, ps: usize, len: usize) -> u32 {
    let v = (len - MIN_MATCH) as u32;
    if v < 8 {
        lm.choice.cost(false) + tree_price(&lm.low[ps], 3, v)
    } else if v < 16 {
        lm.choice.cost(true) + lm.choice2.cost(false) + tree_price(&lm.mid[ps], 3, v - 8)
    } else {
        lm.choice.cost(true) + lm.choice2.cost(true) + tree_price(&lm.high, 8, v - 16)
    }
}

/// Price (1/256 bit) of coding byte `b` after `prev`, as a matched literal against `mb` when
/// `matched`.
fn literal_price<C: BitModel>(m: &Model<C>, prev: u8, b: u8, matched: Option<u8>) -> u32 {
    let base = m.lit_base(prev);
    let probs = &m.lit[base..base + 0x300];
    let mut sym = 1usize;
    let mut p = 0;
    let mut i = 8;
    if let Some(mb) = matched {
        while i > 0 {
            i -= 1;
            let mbit = usize::from((mb >> i) & 1);
            let bit = (b >> i) & 1 == 1;
            p += probs[0x100 + (mbit << 8) + sym].cost(bit);
            sym = (sym << 1) | usize::from(bit);
            if usize::from(bit) != mbit {
                break;
            }
        }
    }
    while i > 0 {
        i -= 1;
        let bit = (b >> i) & 1 == 1;
        p += probs[sym].cost(bit);
        sym = (sym << 1) | usize::from(bit);
    }
    p
}

/// One step of a parse. `dist` is zero-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Literal,
    ShortRep,
    Rep {
        idx: u8,
        len: u16,
    },
    Match {
        len: u16,
        dist: u32,
    },
    /// A literal then a repeat match at repeat distance 0, coded as those two steps.
    LitRep0 {
        len: u16,
    },
}

impl Op {
    fn len(self) -> usize {
        match self {
            Op::Literal | Op::ShortRep => 1,
            Op::Rep { len, .. } | Op::Match { len, .. } => usize::from(len),
            Op::LitRep0 { len } => 1 + usize::from(len),
        }
    }
}

/// The real coder: contexts, state and repeat distances.
struct Enc<C> {
    rc: BinEncoder,
    m: Model<C>,
    state: usize,
    reps: [u32; 4],
}

impl<C: BitModel> Enc<C> {
    fn op(&mut self, data: &[u8], pos: usize, op: Op) {
        let ps = pos & self.m.pb_mask;
        let s = self.state;
        match op {
            Op::LitRep0 { len } => {
                self.op(data, pos, Op::Literal);
                self.op(data, pos + 1, Op::Rep { idx: 0, len });
            }
            Op::Literal => {
                self.rc.put(&mut self.m.is_match[s][ps], false);
                let prev = if pos > 0 { data[pos - 1] } else { 0 };
                let base = self.m.lit_base(prev);
                let probs = &mut self.m.lit[base..base + 0x300];
                let b = data[pos];
                let mut sym = 1usize;
                let mut i = 8;
                if s >= FIRST_MATCH_STATE {
                    let mb = data[pos - self.reps[0] as usize - 1];
                    while i > 0 {
                        i -= 1;
                        let mbit = usize::from((mb >> i) & 1);
                        let bit = (b >> i) & 1 == 1;
                        self.rc.put(&mut probs[0x100 + (mbit << 8) + sym], bit);
                        sym = (sym << 1) | usize::from(bit);
                        if usize::from(bit) != mbit {
                            break;
                        }
                    }
                }
                while i > 0 {
                    i -= 1;
                    let bit = (b >> i) & 1 == 1;
                    self.rc.put(&mut probs[sym], bit);
                    sym = (sym << 1) | usize::from(bit);
                }
                self.state = after_literal(s);
            }
            Op::ShortRep => {
                self.rc.put(&mut self.m.is_match[s][ps], true);
                self.rc.put(&mut self.m.is_rep[s], true);
                self.rc.put(&mut self.m.is_rep0[s], false);
                self.rc.put(&mut self.m.is_rep0_long[s][ps], false);
                self.state = after(s, SHORT_REP);
            }
            Op::Rep { idx, len } => {
                self.rc.put(&mut self.m.is_match[s][ps], true);
                self.rc.put(&mut self.m.is_rep[s], true);
                if idx == 0 {
                    self.rc.put(&mut self.m.is_rep0[s], false);
                    self.rc.put(&mut self.m.is_rep0_long[s][ps], true);
                } else {
                    self.rc.put(&mut self.m.is_rep0[s], true);
                    if idx == 1 {
                        self.rc.put(&mut self.m.is_rep1[s], false);
                    } else {
                        self.rc.put(&mut self.m.is_rep1[s], true);
                        self.rc.put(&mut self.m.is_rep2[s], idx == 3);
                    }
                    self.reps = promote(self.reps, idx);
                }
                len_put(&mut self.rc, &mut self.m.rep_len, ps, usize::from(len));
                self.state = after(s, REP);
            }
            Op::Match { len, dist } => {
                let len = usize::from(len);
                self.rc.put(&mut self.m.is_match[s][ps], true);
                self.rc.put(&mut self.m.is_rep[s], false);
                len_put(&mut self.rc, &mut self.m.match_len, ps, len);
                let slot = slot_of(dist);
                tree_put(
                    &mut self.rc,
                    &mut self.m.slot[len_state(len)],
                    6,
                    slot as u32,
                );
                if slot >= 4 {
                    let fb = (slot as u32 >> 1) - 1;
                    let rem = dist - ((2 | (slot as u32 & 1)) << fb);
                    if slot < FIRST_ALIGN_SLOT {
                        rtree_put(&mut self.rc, &mut self.m.special[slot - 4], fb, rem);
                    } else {
                        let mut left = fb - 4;
                        while left > 0 {
                            let n = left.min(16);
                            left -= n;
                            self.rc.put_direct((rem >> (4 + left)) & ((1 << n) - 1), n);
                        }
                        rtree_put(&mut self.rc, &mut self.m.align, 4, rem & 15);
                    }
                }
                self.reps = [dist, self.reps[0], self.reps[1], self.reps[2]];
                self.state = after(s, MATCH);
            }
        }
    }
}

/// Repeat distances after using repeat `idx` (it moves to the front).
#[inline]
fn promote(r: [u32; 4], idx: u8) -> [u32; 4] {
    match idx {
        0 => r,
        1 => [r[1], r[0], r[2], r[3]],
        2 => [r[2], r[0], r[1], r[3]],
        _ => [r[3], r[0], r[1], r[2]],
    }
}

/// Price tables of one chunk, from the contexts at its start.
struct Prices {
    match_len: Vec<[u32; MAX_MATCH + 1]>,
    rep_len: Vec<[u32; MAX_MATCH + 1]>,
    slot: [[u32; SLOTS]; 4],
    align: [u32; 16],
}

impl Prices {
    fn new<C: BitModel>(m: &Model<C>) -> Self {
        let n_ps = m.pb_mask + 1;
        let table = |lm: &LenModel<C>| -> Vec<[u32; MAX_MATCH + 1]> {
            (0..n_ps)
                .map(|ps| {
                    let mut t = [0u32; MAX_MATCH + 1];
                    for (len, p) in t.iter_mut().enumerate().skip(MIN_MATCH) {
                        *p = len_price(lm, ps, len);
                    }
                    t
                })
                .collect()
        };
        let mut slot = [[0u32; SLOTS]; 4];
        for (ls, row) in slot.iter_mut().enumerate() {
            for (s, p) in row.iter_mut().enumerate() {
                *p = tree_price(&m.slot[ls], 6, s as u32);
            }
        }
        let mut align = [0u32; 16];
        for (v, p) in align.iter_mut().enumerate() {
            *p = rtree_price(&m.align, 4, v as u32);
        }
        Prices {
            match_len: table(&m.match_len),
            rep_len: table(&m.rep_len),
            slot,
            align,
        }
    }

    /// Price of the distance part of a match of length class `ls` (without the slot tree for
    /// slots 4–13 priced from the live model).
    fn dist<C: BitModel>(&self, m: &Model<C>, dist: u32, ls: usize) -> u32 {
        let slot = slot_of(dist);
        let mut p = self.slot[ls][slot];
        if slot >= 4 {
            let fb = (slot as u32 >> 1) - 1;
            let rem = dist - ((2 | (slot as u32 & 1)) << fb);
            if slot < FIRST_ALIGN_SLOT {
                p += rtree_price(&m.special[slot - 4], fb, rem);
            } else {
                p += (fb - 4) * 256 + self.align[(rem & 15) as usize];
            }
        }
        p
    }
}

/// Shortest match the encoder's tree finds (repeat matches may be shorter).
const ENC_MIN: usize = 4;
/// log2 of the 3-byte hash heads.
const HASH3_BITS: u32 = 16;
/// Farthest 3-byte match the encoder considers: farther ones never pay for their distance.
const SHORT3_DIST: usize = 1 << 14;
/// Largest window the encoder searches: the tree costs 8 bytes per window byte.
const ENC_WINDOW_MAX: usize = 1 << 24;

/// Binary-tree match finder (the structure LZMA's bt4 and zstd's btopt use): every position is a
/// node of a search tree of the earlier positions with the same 4-byte hash, ordered by the
/// strings that start there, so one descent visits the candidates in order of common prefix and
/// reports each longer match once, instead of walking a hash chain of every occurrence.
struct Tree<'a> {
    data: &'a [u8],
    head: Vec<u32>,
    /// Most recent position (+ 1) of each 3-byte hash: 3-byte matches at short distances,
    /// which the 4-byte tree cannot see (binaries are full of them).
    head3: Vec<u32>,
    /// Children (smaller, greater) of each window position; positions are stored + 1.
    son: Vec<u32>,
    mask: usize,
    window: usize,
    hash_shift: u32,
    depth: u32,
    nice: usize,
}

impl<'a> Tree<'a> {
    fn new(data: &'a [u8], depth: u32, nice: usize) -> Self {
        let window = data.len().next_power_of_two().clamp(1, ENC_WINDOW_MAX);
        let hash_bits = (usize::BITS - data.len().leading_zeros()).clamp(8, 20);
        Tree {
            data,
            head: vec![0; 1 << hash_bits],
            head3: vec![0; 1 << HASH3_BITS],
            son: vec![0; 2 * window],
            mask: window - 1,
            window,
            hash_shift: 32 - hash_bits,
            depth,
            nice,
        }
    }

    /// Inserts position `i` (which needs 4 bytes) and, when `out` is given, pushes every match
    /// longer than the previous one as (length, distance), lengths up to `nice`.
    fn insert(&mut self, i: usize, mut out: Option<&mut Vec<(usize, usize)>>) {
        let data = self.data;
        let limit = (data.len() - i).min(self.nice);
        let mut b = [0u8; 4];
        b.copy_from_slice(&data[i..i + 4]);
        let h3 = ((u32::from_le_bytes(b) & 0xFF_FFFF).wrapping_mul(0x9E37_79B1)
            >> (32 - HASH3_BITS)) as usize;
        let c3 = self.head3[h3] as usize;
        self.head3[h3] = i as u32 + 1;
        if let Some(o) = out.as_deref_mut() {
            if c3 > 0 && i - (c3 - 1) <= SHORT3_DIST && data[c3 - 1..c3 + 2] == data[i..i + 3] {
                o.push((3, i - (c3 - 1)));
            }
        }
        let h = (u32::from_le_bytes(b).wrapping_mul(0x9E37_79B1) >> self.hash_shift) as usize;
        let mut cur = self.head[h] as usize;
        self.head[h] = i as u32 + 1;
        let node = (i & self.mask) << 1;
        // Where the next smaller / greater candidate hangs.
        let (mut ptr_lt, mut ptr_gt) = (node, node + 1);
        let (mut len_lt, mut len_gt) = (0usize, 0usize);
        let mut best = ENC_MIN - 1;
        let mut depth = self.depth;
        loop {
            if cur == 0 || depth == 0 || i - (cur - 1) >= self.window {
                self.son[ptr_lt] = 0;
                self.son[ptr_gt] = 0;
                return;
            }
            depth -= 1;
            let c = cur - 1;
            let pair = (c & self.mask) << 1;
            let mut len = len_lt.min(len_gt);
            len += match_len(data, c + len, i + len, limit - len);
            if len > best {
                best = len;
                if let Some(o) = out.as_deref_mut() {
                    o.push((len, i - c));
                }
            }
            if len >= limit {
                // Equal up to the limit: the new node takes the candidate's place.
                self.son[ptr_lt] = self.son[pair];
                self.son[ptr_gt] = self.son[pair + 1];
                return;
            }
            if data[c + len] < data[i + len] {
                self.son[ptr_lt] = cur as u32;
                ptr_lt = pair + 1;
                cur = self.son[ptr_lt] as usize;
                len_lt = len;
            } else {
                self.son[ptr_gt] = cur as u32;
                ptr_gt = pair;
                cur = self.son[ptr_gt] as usize;
                len_gt = len;
            }
        }
    }
}

/// A node of the shortest path: the cheapest arrival found so far.
#[derive(Clone, Copy)]
struct Node {
    price: u32,
    /// Chunk offset the arrival comes from.
    from: u32,
    op: Op,
    state: u8,
    reps: [u32; 4],
}

const UNREACHED: Node = Node {
    price: u32::MAX,
    from: 0,
    op: Op::Literal,
    state: 0,
    reps: [0; 4],
};

/// Search parameters of the parse.
struct Parser<'a> {
    data: &'a [u8],
    tree: Tree<'a>,
    nice: usize,
    nodes: Vec<Node>,
    cands: Vec<(usize, usize)>,
}

impl<'a> Parser<'a> {
    /// Relaxes the arrival at chunk offset `to`.
    #[inline]
    fn relax(&mut self, to: usize, price: u32, from: usize, op: Op, state: usize, reps: [u32; 4]) {
        let n = &mut self.nodes[to];
        if price < n.price {
            *n = Node {
                price,
                from: from as u32,
                op,
                state: state as u8,
                reps,
            };
        }
    }

    /// Parses `[start, end)` with the coder's model at `start`; appends the path to `ops`.
    fn chunk<C: BitModel>(&mut self, enc: &Enc<C>, start: usize, end: usize, ops: &mut Vec<Op>) {
        let data = self.data;
        let m = &enc.m;
        let prices = Prices::new(m);
        let len = end - start;
        self.nodes[..=len].fill(UNREACHED);
        self.nodes[0] = Node {
            price: 0,
            from: 0,
            op: Op::Literal,
            state: enc.state as u8,
            reps: enc.reps,
        };
        let last_hash = data.len().saturating_sub(ENC_MIN);
        let can_hash = data.len() >= ENC_MIN;
        let mut k = 0;
        while k < len {
            let i = start + k;
            let node = self.nodes[k];
            let (base, s, reps) = (node.price, usize::from(node.state), node.reps);
            let ps = i & m.pb_mask;
            let max = (end - i).min(MAX_MATCH);
            // Literal (matched after a match state).
            let prev = if i > 0 { data[i - 1] } else { 0 };
            let matched = (s >= FIRST_MATCH_STATE).then(|| data[i - reps[0] as usize - 1]);
            let lit =
                base + m.is_match[s][ps].cost(false) + literal_price(m, prev, data[i], matched);
            self.relax(k + 1, lit, k, Op::Literal, after_literal(s), reps);
            // A literal then a repeat match at this node's rep0: the arrival at k + 1 may keep
            // other repeat distances, so the pair is priced here as one step (LZMA's encoder
            // looks for the same pair).
            let r0 = reps[0] as usize + 1;
            if max > 2 && r0 <= i && data[i] != data[i - r0] {
                let l = match_len(data, i + 1 - r0, i + 1, max - 1);
                if l >= MIN_MATCH {
                    let s1 = after_literal(s);
                    let ps1 = (i + 1) & m.pb_mask;
                    let p = lit
                        + m.is_match[s1][ps1].cost(true)
                        + m.is_rep[s1].cost(true)
                        + m.is_rep0[s1].cost(false)
                        + m.is_rep0_long[s1][ps1].cost(true);
                    let table = &prices.rep_len[ps1];
                    for (ml, &lp) in table.iter().enumerate().take(l + 1).skip(MIN_MATCH) {
                        let op = Op::LitRep0 { len: ml as u16 };
                        self.relax(k + 1 + ml, p + lp, k, op, after(s1, REP), reps);
                    }
                }
            }
            let match_base = base + m.is_match[s][ps].cost(true);
            let rep_base = match_base + m.is_rep[s].cost(true);
            // Short repeat: one byte at repeat distance 0.
            if r0 <= i && data[i] == data[i - r0] {
                let p = rep_base + m.is_rep0[s].cost(false) + m.is_rep0_long[s][ps].cost(false);
                self.relax(k + 1, p, k, Op::ShortRep, after(s, SHORT_REP), reps);
            }
            // Repeat matches.
            let mut longest = 0usize;
            for idx in 0..4u8 {
                let d = reps[idx as usize] as usize + 1;
                if d > i || max < MIN_MATCH {
                    continue;
                }
                let l = match_len(data, i - d, i, max);
                if l < MIN_MATCH {
                    continue;
                }
                let mut p = rep_base;
                p += if idx == 0 {
                    m.is_rep0[s].cost(false) + m.is_rep0_long[s][ps].cost(true)
                } else {
                    m.is_rep0[s].cost(true)
                        + if idx == 1 {
                            m.is_rep1[s].cost(false)
                        } else {
                            m.is_rep1[s].cost(true) + m.is_rep2[s].cost(idx == 3)
                        }
                };
                let new_reps = promote(reps, idx);
                let table = &prices.rep_len[ps];
                for (ml, &lp) in table.iter().enumerate().take(l + 1).skip(MIN_MATCH) {
                    let op = Op::Rep {
                        idx,
                        len: ml as u16,
                    };
                    self.relax(k + ml, p + lp, k, op, after(s, REP), new_reps);
                }
                longest = longest.max(l);
            }
            // New matches from the tree.
            if can_hash && i <= last_hash {
                let mut cands = std::mem::take(&mut self.cands);
                cands.clear();
                self.tree.insert(i, Some(&mut cands));
                // The tree reports lengths up to the data's end; the chunk ends sooner.
                if let Some(cut) = cands.iter().position(|&(l, _)| l >= max) {
                    cands[cut].0 = max;
                    cands.truncate(cut + 1);
                }
                let p0 = match_base + m.is_rep[s].cost(false);
                let table = &prices.match_len[ps];
                let mut lo = 3;
                for &(l, d) in &cands {
                    let dist = (d - 1) as u32;
                    let new_reps = [dist, reps[0], reps[1], reps[2]];
                    let mut dp = [0u32; 4];
                    for (ls, v) in dp.iter_mut().enumerate() {
                        *v = prices.dist(m, dist, ls);
                    }
                    for ml in lo..=l {
                        let p = p0 + table[ml] + dp[len_state(ml)];
                        let op = Op::Match {
                            len: ml as u16,
                            dist,
                        };
                        self.relax(k + ml, p, k, op, after(s, MATCH), new_reps);
                    }
                    lo = l + 1;
                    longest = longest.max(l);
                }
                self.cands = cands;
            }
            if longest >= self.nice {
                // A long match is taken whole: the positions inside are reachable only
                // through it (they are still indexed for later searches).
                // The loops above relaxed its arrival at full length, which is all that
                // remains of it here.
                let l = longest;
                if can_hash {
                    for p in i + 1..(i + l).min(last_hash + 1) {
                        self.tree.insert(p, None);
                    }
                }
                k += l;
                continue;
            }
            k += 1;
        }
        // Walk back from the chunk's end.
        let mark = ops.len();
        let mut k = len;
        while k > 0 {
            let n = self.nodes[k];
            ops.push(n.op);
            k = n.from as usize;
        }
        ops[mark..].reverse();
    }
}

/// Appends the lzr payload of `input` to `out`, searching `chain` candidates per position and
/// taking matches of `nice` bytes or more whole.
pub fn encode(input: &[u8], chain: u32, nice: usize, out: &mut Vec<u8>) {
    encode_with::<Context>(input, chain, nice, None, out)
}

/// Encodes `input` as an `lzr2` payload (spec/codec-lzr.md §7): single-estimate contexts, and
/// the x86 branch filter where [`x86::looks_like_code`] says the block is machine code.
pub fn encode2(input: &[u8], chain: u32, nice: usize, out: &mut Vec<u8>) {
    if x86::looks_like_code(input) {
        let start = out.len();
        let mut filtered = input.to_vec();
        x86::encode(&mut filtered);
        encode_with::<Context1>(&filtered, chain, nice, Some(flags::X86), out);
        if out.get(start) == Some(&mode::CODED) {
            return;
        }
        // Its raw fallback would hold the filtered bytes: code the block as it is instead.
        out.truncate(start);
    }
    encode_with::<Context1>(input, chain, nice, Some(0), out)
}

/// The encoder of both payloads: `flags` is `None` for `lzr` (no flags byte) and the flags
/// byte of an `lzr2` payload, whose `input` is then already filtered.
fn encode_with<C: BitModel>(
    input: &[u8],
    chain: u32,
    nice: usize,
    flags: Option<u8>,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    if !input.is_empty() {
        let mut enc = Enc {
            rc: BinEncoder::new(),
            m: Model::<C>::new(LC, PB),
            state: 0,
            reps: [0; 4],
        };
        let mut parser = Parser {
            data: input,
            tree: Tree::new(input, chain, nice.clamp(ENC_MIN, MAX_MATCH)),
            nice: nice.clamp(ENC_MIN, MAX_MATCH),
            nodes: vec![UNREACHED; OPT_CHUNK.min(input.len()) + 1],
            cands: Vec::with_capacity(64),
        };
        let mut ops = Vec::with_capacity(OPT_CHUNK);
        let mut pos = 0;
        while pos < input.len() {
            let end = (pos + chunk_len(pos)).min(input.len());
            ops.clear();
            parser.chunk(&enc, pos, end, &mut ops);
            for &op in &ops {
                enc.op(input, pos, op);
                pos += op.len();
            }
            debug_assert_eq!(pos, end);
        }
        let body = enc.rc.finish();
        // Coded only where it saves at least 1/128 of the block (zstd's rule for its strongest
        // levels): a block that barely compresses (a JPEG: 0.16 %) decodes at ~15 MB/s coded
        // and at memory speed raw.
        let head = 3 + usize::from(flags.is_some());
        if head + body.len() + min_gain(input.len()) <= 1 + input.len() {
            out.extend_from_slice(&[mode::CODED, LC, PB]);
            out.extend(flags);
            out.extend_from_slice(&body);
            return;
        }
    }
    out.truncate(start);
    out.push(mode::RAW);
    out.extend_from_slice(input);
}

/// The least saving, in bytes, for which the encoder writes a coded body instead of raw bytes.
pub(super) fn min_gain(raw_len: usize) -> usize {
    (raw_len >> 7) + 2
}
