//! Greedy rate–distortion quantization of the synthesis weights (after Cool-chic 5.0.1's
//! "RDOQ"), the last step of `Trainer::finalize`: every integer weight of the coded synthesis
//! is tried one step closer to zero, then one step away, in packing order, and a move is kept
//! where it lowers `MSE + λ · bits / pixels` — the bits being the tensor's exact code length
//! (§5.2), the MSE the float output's against the image.
//!
//! Why incremental: a full synthesis per candidate (about 925 multiply-adds per pixel) over
//! a thousand weights would cost half a minute at 768x512. One weight only moves one hidden
//! unit (or one output, or one convolution tap), so with every layer's activations cached a
//! candidate costs its unit's pixels plus the 3x3 convolution of the change: 10–40 times less.
//! The estimate works on the unrounded output, so the caller keeps the result only where the
//! real payload's loss is lower.

use crate::coded::Coded;
use yoz::neural::arch::{grid_dims, syn_layout, GRIDS};
use yoz::neural::synth::upsample;
use yoz::neural::weights::{tensor_bits, Q_MAX};

/// The cached forward pass of one coded model, plane by plane (`[unit][pixel]`).
struct Cache {
    w: usize,
    h: usize,
    c: usize,
    hid: usize,
    /// Each synthesis tensor's offset in the packed parameters (and the end, last).
    offs: Vec<usize>,
    /// The synthesis parameters as floats, packed.
    p: Vec<f32>,
    u: Vec<Vec<f32>>,
    pre1: Vec<Vec<f32>>,
    h1: Vec<Vec<f32>>,
    pre2: Vec<Vec<f32>>,
    h2: Vec<Vec<f32>>,
    /// MLP outputs, zero-padded by one pixel on each side (`(w + 2) x (h + 2)`), as the
    /// convolution reads them.
    x: Vec<Vec<f32>>,
    /// Synthesis output (residual included) and target, in `[0, 1]` units.
    out: Vec<Vec<f32>>,
    t: Vec<Vec<f32>>,
}

/// One hidden layer, plane by plane: `pre[j] = b[j] + Σ_k w[j][k] · input[k]` (`w` row-major,
/// `input.len()` columns) and `act[j] = max(0, pre[j])`.
fn dense_relu(
    w: &[f32],
    b: &[f32],
    input: &[Vec<f32>],
    pre: &mut [Vec<f32>],
    act: &mut [Vec<f32>],
) {
    let n_in = input.len();
    for (j, (a, r)) in pre.iter_mut().zip(act.iter_mut()).enumerate() {
        a.fill(b[j]);
        for (k, plane) in input.iter().enumerate() {
            let wk = w[j * n_in + k];
            for (a, &u) in a.iter_mut().zip(plane) {
                *a += wk * u;
            }
        }
        for (r, &a) in r.iter_mut().zip(a.iter()) {
            *r = a.max(0.0);
        }
    }
}

/// One candidate's change, before the convolution.
enum Delta {
    /// Of the MLP output: padded planes, one per channel (a layer-1 parameter).
    X(Vec<Vec<f32>>),
    /// Of the MLP output, rank one: channel `o` moves by `a[o]` times one padded plane (a
    /// layer-2 or layer-3 parameter).
    Rank1(Vec<f32>, Vec<f32>),
    /// Of output channel `o` directly (the convolution's own parameters), unpadded.
    Out(usize, Vec<f32>),
}

impl Cache {
    fn new(coded: &Coded, pixels: &[u8]) -> Cache {
        let (w, h, c) = (
            coded.width as usize,
            coded.height as usize,
            coded.channels as usize,
        );
        let n = w * h;
        let hid = coded.hidden();
        let dims = grid_dims(w, h);
        let grids = coded.grids_f32();
        let u: Vec<Vec<f32>> = (0..GRIDS)
            .map(|k| upsample(&grids[k], dims[k].0, dims[k].1, w, h))
            .collect();
        let t = (0..c)
            .map(|o| {
                (0..n)
                    .map(|i| f32::from(pixels[i * c + o]) / 255.0)
                    .collect()
            })
            .collect();
        let l = syn_layout(hid, c);
        let mut offs: Vec<usize> = l.iter().map(|s| s.offset).collect();
        offs.push(l[l.len() - 1].offset + l[l.len() - 1].len());
        let pw = (w + 2) * (h + 2);
        let mut cache = Cache {
            w,
            h,
            c,
            hid,
            offs,
            p: coded.syn_params_f32(),
            u,
            pre1: vec![vec![0.0; n]; hid],
            h1: vec![vec![0.0; n]; hid],
            pre2: vec![vec![0.0; n]; hid],
            h2: vec![vec![0.0; n]; hid],
            x: vec![vec![0.0; pw]; c],
            out: vec![vec![0.0; n]; c],
            t,
        };
        cache.forward(coded);
        cache
    }

    fn forward(&mut self, coded: &Coded) {
        let (w, h, c, hid) = (self.w, self.h, self.c, self.hid);
        let o = self.offs.clone();
        let p = &self.p;
        dense_relu(
            &p[o[0]..o[1]],
            &p[o[1]..o[2]],
            &self.u,
            &mut self.pre1,
            &mut self.h1,
        );
        dense_relu(
            &p[o[2]..o[3]],
            &p[o[3]..o[4]],
            &self.h1,
            &mut self.pre2,
            &mut self.h2,
        );
        for oc in 0..c {
            let mut xo = vec![p[o[5] + oc]; w * h];
            for j in 0..hid {
                let wk = p[o[4] + oc * hid + j];
                for (a, &v) in xo.iter_mut().zip(&self.h2[j]) {
                    *a += wk * v;
                }
            }
            for y in 0..h {
                self.x[oc][(y + 1) * (w + 2) + 1..][..w].copy_from_slice(&xo[y * w..][..w]);
            }
        }
        let add = coded.residual.as_ref().map(|r| r.upsampler(w, h));
        let x = std::mem::take(&mut self.x);
        for oc in 0..c {
            let mut plane = vec![p[o[7] + oc]; w * h];
            self.conv_add(oc, &x, &mut plane);
            self.add_tap(&x[oc], 1.0, 4, &mut plane);
            if let Some(up) = &add {
                for y in 0..h {
                    up.add_row(oc, y, &mut plane[y * w..][..w]);
                }
            }
            self.out[oc] = plane;
        }
        self.x = x;
    }

    /// Adds `a ·` the padded plane `src` read at 3x3 tap `k` (`ky = k / 3`, `kx = k % 3`;
    /// tap 4 is the pixel itself) to the unpadded plane `dst`: row-wise, so the loops
    /// vectorize.
    fn add_tap(&self, src: &[f32], a: f32, k: usize, dst: &mut [f32]) {
        let (w, h, pw) = (self.w, self.h, self.w + 2);
        let (ky, kx) = (k / 3, k % 3);
        for y in 0..h {
            let row = &src[(y + ky) * pw + kx..][..w];
            for (d, &s) in dst[y * w..][..w].iter_mut().zip(row) {
                *d += a * s;
            }
        }
    }

    /// Adds the convolution's taps (no bias) for output `o` over padded input planes `x` to
    /// the unpadded plane `dst`.
    fn conv_add(&self, o: usize, x: &[Vec<f32>], dst: &mut [f32]) {
        let c = self.c;
        for (i, xi) in x.iter().enumerate().take(c) {
            for k in 0..9 {
                let wk = self.p[self.offs[6] + (o * c + i) * 9 + k];
                if wk != 0.0 {
                    self.add_tap(xi, wk, k, dst);
                }
            }
        }
    }

    /// The output channels `delta` changes.
    fn channels(&self, delta: &Delta) -> Vec<usize> {
        match delta {
            Delta::Out(o, _) => vec![*o],
            _ => (0..self.c).collect(),
        }
    }

    /// The change of output channel `o` that `delta` makes.
    fn dout(&self, delta: &Delta, o: usize) -> Vec<f32> {
        let (w, h, c) = (self.w, self.h, self.c);
        match delta {
            Delta::X(dx) => {
                let mut d = vec![0f32; w * h];
                self.add_tap(&dx[o], 1.0, 4, &mut d);
                self.conv_add(o, dx, &mut d);
                d
            }
            Delta::Rank1(a, plane) => {
                // Channel o's taps on the one plane: sum_i cw[o][i][k] · a[i].
                let mut d = vec![0f32; w * h];
                self.add_tap(plane, a[o], 4, &mut d);
                for k in 0..9 {
                    let wk: f32 = (0..c)
                        .map(|i| self.p[self.offs[6] + (o * c + i) * 9 + k] * a[i])
                        .sum();
                    if wk != 0.0 {
                        self.add_tap(plane, wk, k, &mut d);
                    }
                }
                d
            }
            Delta::Out(_, d) => d.clone(),
        }
    }

    /// The change of channel `o`'s summed squared error (outputs clamped to `[0, 1]`) when
    /// its output changes by `d`.
    fn dse(&self, o: usize, d: &[f32]) -> f64 {
        let mut s = 0f64;
        for ((dc, oc), tc) in d
            .chunks(1024)
            .zip(self.out[o].chunks(1024))
            .zip(self.t[o].chunks(1024))
        {
            let mut acc = 0f32;
            for ((&dv, &old), &t) in dc.iter().zip(oc).zip(tc) {
                let e0 = old.clamp(0.0, 1.0) - t;
                let e1 = (old + dv).clamp(0.0, 1.0) - t;
                acc += e1 * e1 - e0 * e0;
            }
            s += f64::from(acc);
        }
        s
    }

    /// Each changed channel's output change and the summed squared error's change, the
    /// channels spread over up to `threads` threads.
    fn evaluate(&self, delta: &Delta, threads: usize) -> (Vec<(usize, Vec<f32>)>, f64) {
        let chans = self.channels(delta);
        let one = |o: usize| {
            let d = self.dout(delta, o);
            let e = self.dse(o, &d);
            (o, d, e)
        };
        let per = chans.len().div_ceil(threads.clamp(1, chans.len()));
        let results: Vec<(usize, Vec<f32>, f64)> = if per >= chans.len() {
            chans.iter().map(|&o| one(o)).collect()
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = chans[per..]
                    .chunks(per)
                    .map(|part| {
                        scope.spawn(move || part.iter().map(|&o| one(o)).collect::<Vec<_>>())
                    })
                    .collect();
                let mut all: Vec<_> = chans[..per].iter().map(|&o| one(o)).collect();
                for h in handles {
                    all.extend(h.join().expect("rdoq worker panicked"));
                }
                all
            })
        };
        let dse = results.iter().map(|r| r.2).sum();
        (results.into_iter().map(|(o, d, _)| (o, d)).collect(), dse)
    }

    /// Applies `delta` (and its output changes) to the cached `x` and output.
    fn commit_x(&mut self, delta: &Delta, douts: &[(usize, Vec<f32>)]) {
        for (o, d) in douts {
            for (a, b) in self.out[*o].iter_mut().zip(d) {
                *a += b;
            }
        }
        match delta {
            Delta::X(dx) => {
                for (xo, d) in self.x.iter_mut().zip(dx) {
                    for (a, b) in xo.iter_mut().zip(d) {
                        *a += b;
                    }
                }
            }
            Delta::Rank1(a, plane) => {
                for (xo, &ao) in self.x.iter_mut().zip(a) {
                    for (x, b) in xo.iter_mut().zip(plane) {
                        *x += ao * b;
                    }
                }
            }
            Delta::Out(..) => {}
        }
    }

    /// Packed parameter `idx` as `(tensor, unit, input)`: a weight tensor (even index) names
    /// a unit and its input, a bias (odd) only its unit; the convolution's weights are
    /// returned as (6, index inside the tensor, None).
    fn locate(&self, idx: usize) -> (usize, usize, Option<usize>) {
        let o = &self.offs;
        let t = (0..o.len() - 1)
            .find(|&t| idx < o[t + 1])
            .expect("index inside the synthesis");
        let r = idx - o[t];
        let n_in = match t {
            0 => GRIDS,
            2 | 4 => self.hid,
            _ => return (t, r, None),
        };
        (t, r / n_in, Some(r % n_in))
    }

    /// The change of moving packed parameter `idx` by `dv` ([`Cache::commit_hidden`] then
    /// applies it to the hidden activations, [`Cache::commit_x`] to `x` and the output).
    fn delta_of(&self, idx: usize, dv: f32) -> Delta {
        let (w, h, c, hid) = (self.w, self.h, self.c, self.hid);
        let pw = w + 2;
        let (o2, o3) = (self.offs[2], self.offs[4]);
        match self.locate(idx) {
            // Layer 1: unit j's pre-activation moves by dv · u_k (or dv for its bias).
            (0 | 1, j, src) => {
                let d1 = self.layer1_change(j, src, dv);
                let mut dx = vec![vec![0f32; pw * (h + 2)]; c];
                let mut d2 = vec![0f32; w];
                for m in 0..hid {
                    let wm = self.p[o2 + m * hid + j];
                    if wm == 0.0 {
                        continue;
                    }
                    for y in 0..h {
                        let (pre, h2) = (&self.pre2[m][y * w..][..w], &self.h2[m][y * w..][..w]);
                        for (((d, &a), &p), &hv) in
                            d2.iter_mut().zip(&d1[y * w..][..w]).zip(pre).zip(h2)
                        {
                            *d = (p + wm * a).max(0.0) - hv;
                        }
                        for (oc, dxo) in dx.iter_mut().enumerate() {
                            let a = self.p[o3 + oc * hid + m];
                            for (x, &d) in dxo[(y + 1) * pw + 1..][..w].iter_mut().zip(&d2) {
                                *x += a * d;
                            }
                        }
                    }
                }
                Delta::X(dx)
            }
            // Layer 2: unit j's pre-activation moves by dv · h1_k (or dv).
            (2 | 3, j, src) => {
                let mut plane = vec![0f32; pw * (h + 2)];
                for y in 0..h {
                    for xx in 0..w {
                        let i = y * w + xx;
                        let np = self.pre2[j][i] + dv * src.map_or(1.0, |k| self.h1[k][i]);
                        plane[(y + 1) * pw + xx + 1] = np.max(0.0) - self.h2[j][i];
                    }
                }
                let a = (0..c).map(|oc| self.p[o3 + oc * hid + j]).collect();
                Delta::Rank1(a, plane)
            }
            // Layer 3: output o of x moves by dv · h2_j (or dv).
            (4 | 5, oc, src) => {
                let mut plane = vec![0f32; pw * (h + 2)];
                for y in 0..h {
                    for xx in 0..w {
                        plane[(y + 1) * pw + xx + 1] =
                            dv * src.map_or(1.0, |j| self.h2[j][y * w + xx]);
                    }
                }
                let mut a = vec![0f32; c];
                a[oc] = 1.0;
                Delta::Rank1(a, plane)
            }
            // The convolution: output o moves by dv · x_i(p + tap).
            (6, r, _) => {
                let (oc, i, k) = (r / (c * 9), (r / 9) % c, r % 9);
                let (ky, kx) = (k / 3, k % 3);
                let d: Vec<f32> = (0..w * h)
                    .map(|p| dv * self.x[i][(p / w + ky) * pw + p % w + kx])
                    .collect();
                Delta::Out(oc, d)
            }
            // Its bias: output o moves by dv.
            (_, r, _) => Delta::Out(r, vec![dv; w * h]),
        }
    }

    /// The change of layer-1 unit `j`'s activation when its pre-activation moves by
    /// `dv · u_src` (or `dv`), per pixel.
    fn layer1_change(&self, j: usize, src: Option<usize>, dv: f32) -> Vec<f32> {
        (0..self.w * self.h)
            .map(|i| {
                let np = self.pre1[j][i] + dv * src.map_or(1.0, |k| self.u[k][i]);
                np.max(0.0) - self.h1[j][i]
            })
            .collect()
    }

    /// Updates the cached hidden activations for packed parameter `idx` moved by `dv`.
    /// Activations are stored as relu(pre), not old + difference, so the cache stays a
    /// forward pass of the new parameters to the last bit.
    fn commit_hidden(&mut self, idx: usize, dv: f32) {
        let (w, h, hid) = (self.w, self.h, self.hid);
        let o2 = self.offs[2];
        match self.locate(idx) {
            (0 | 1, j, src) => {
                let d1 = self.layer1_change(j, src, dv);
                for i in 0..w * h {
                    self.pre1[j][i] += dv * src.map_or(1.0, |k| self.u[k][i]);
                    self.h1[j][i] = self.pre1[j][i].max(0.0);
                }
                for m in 0..hid {
                    let wm = self.p[o2 + m * hid + j];
                    if wm == 0.0 {
                        continue;
                    }
                    for ((p, hv), &a) in self.pre2[m].iter_mut().zip(&mut self.h2[m]).zip(&d1) {
                        *p += wm * a;
                        *hv = p.max(0.0);
                    }
                }
            }
            (2 | 3, j, src) => {
                for i in 0..w * h {
                    self.pre2[j][i] += dv * src.map_or(1.0, |k| self.h1[k][i]);
                    self.h2[j][i] = self.pre2[j][i].max(0.0);
                }
            }
            _ => {}
        }
    }
}

/// Greedy passes over the weights: a second pass moves about half as many weights again and
/// adds about a fifth to the first one's gain (three slow payloads at Q 30), a third was not
/// measured.
pub const RDOQ_PASSES: usize = 2;

/// `coded` with synthesis weights moved by one step ([`candidates`]) where that lowers the
/// estimated `MSE + lambda · bits / pixels` (greedy passes in packing order, at most `passes`,
/// stopping after one that moves nothing; the changed channels evaluated on up to `threads`
/// threads, with the same result for any count), and the number of moves.
pub fn rdoq(
    coded: &Coded,
    pixels: &[u8],
    lambda: f64,
    passes: usize,
    threads: usize,
) -> (Coded, usize) {
    let mut cache = Cache::new(coded, pixels);
    let mut out = coded.clone();
    let mut moved = 0;
    for _ in 0..passes {
        let m = pass(&mut cache, &mut out, lambda, threads);
        moved += m;
        if m == 0 {
            break;
        }
    }
    (out, moved)
}

/// The integers a weight `q` tries, in order, keeping the first that pays: one step towards
/// zero, then one step away from it (both signs for a zero). Moving towards zero alone gave
/// about four fifths of the gain on four slow payloads (docs/neural-rd.md, stop 37): most of
/// what the pass finds is distortion, not bits — rounding each weight to its nearest step is
/// not the best set of integers for the image.
fn candidates(q: i32) -> [i32; 2] {
    if q == 0 {
        [1, -1]
    } else {
        [q - q.signum(), q + q.signum()]
    }
}

/// One greedy pass of [`rdoq`] over `out`'s synthesis weights, `cache` kept in step with it.
fn pass(cache: &mut Cache, out: &mut Coded, lambda: f64, threads: usize) -> usize {
    let n = (cache.w * cache.h) as f64;
    let values = n * cache.c as f64;
    let mut moved = 0;
    for (t, spec) in syn_layout(cache.hid, cache.c).iter().enumerate() {
        let range = spec.offset..spec.offset + spec.len();
        let mut bits = tensor_bits(&out.syn[range.clone()]);
        for idx in range.clone() {
            let q = out.syn[idx];
            for nq in candidates(q) {
                if nq.abs() > Q_MAX {
                    continue;
                }
                out.syn[idx] = nq;
                let nbits = tensor_bits(&out.syn[range.clone()]);
                let dv = (nq - q) as f32 * out.steps[t];
                let delta = cache.delta_of(idx, dv);
                let (douts, dse) = cache.evaluate(&delta, threads);
                if dse / values + lambda * (nbits - bits) / n < 0.0 {
                    cache.commit_hidden(idx, dv);
                    cache.commit_x(&delta, &douts);
                    cache.p[idx] += dv;
                    bits = nbits;
                    moved += 1;
                    break;
                }
                out.syn[idx] = q;
            }
        }
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;
    use yoz::neural::arch::{grid_dims, syn_param_count, ARCH_V2, SYN_HIDDEN, SYN_TENSORS};
    use yoz::neural::arm::{ArmQ, TableSet};
    use yoz::neural::synth::synthesize;

    fn model(w: usize, h: usize, seed: u32) -> Coded {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(12345);
        let mut rnd = move |m: i32| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            ((s >> 8) % (2 * m as u32 + 1)) as i32 - m
        };
        let c = 3;
        let syn = (0..syn_param_count(SYN_HIDDEN, c))
            .map(|_| rnd(40))
            .collect();
        let latents = grid_dims(w, h)
            .iter()
            .map(|&(gw, gh)| (0..gw * gh).map(|_| rnd(3)).collect())
            .collect();
        Coded {
            arch: ARCH_V2,
            width: w as u32,
            height: h as u32,
            channels: c as u8,
            syn,
            steps: [1.0 / 128.0; SYN_TENSORS],
            arm: ArmQ::zeros(ARCH_V2),
            latents,
            alpha: None,
            filter: None,
            tables: TableSet::Set2,
            residual: None,
        }
    }

    fn se(coded: &Coded, pixels: &[u8]) -> f64 {
        let (w, h, c) = (coded.width as usize, coded.height as usize, 3);
        let planes = synthesize(&coded.grids_f32(), &coded.syn_params_f32(), c, w, h);
        let mut s = 0f64;
        for o in 0..c {
            for i in 0..w * h {
                let e = f64::from(planes[o * w * h + i].clamp(0.0, 1.0))
                    - f64::from(pixels[i * c + o]) / 255.0;
                s += e * e;
            }
        }
        s
    }

    /// The incremental error change of moving any one weight equals a full synthesis's, and a
    /// committed move leaves the cache equal to a fresh one.
    #[test]
    fn incremental_error_matches_the_reference_synthesis() {
        let (w, h) = (13, 9);
        let coded = model(w, h, 1);
        let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
        let base = se(&coded, &pixels);
        let l = syn_layout(SYN_HIDDEN, 3);
        // One index in every tensor, weights and biases, several in the convolution.
        let picks = [3, 170, 200, 780, 800, 865, 880, 890, 900, 949, 950];
        for (pi, &idx) in picks.iter().enumerate() {
            let t = (0..SYN_TENSORS)
                .find(|&t| idx < l[t].offset + l[t].len())
                .unwrap();
            let mut moved = coded.clone();
            moved.syn[idx] -= 7;
            let want = se(&moved, &pixels) - base;
            let mut cache = Cache::new(&coded, &pixels);
            let dv = -7.0 * coded.steps[t];
            let delta = cache.delta_of(idx, dv);
            let (douts, got) = cache.evaluate(&delta, 1 + pi % 3);
            assert!(
                (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                "pick {pi} (index {idx}, tensor {t}): incremental {got}, reference {want}"
            );
            cache.commit_hidden(idx, dv);
            cache.commit_x(&delta, &douts);
            cache.p[idx] += dv;
            let fresh = Cache::new(&moved, &pixels);
            let planes = |c: &Cache| -> Vec<Vec<f32>> {
                [&c.pre1, &c.h1, &c.pre2, &c.h2, &c.x, &c.out]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect()
            };
            for (k, (a, b)) in planes(&cache).iter().zip(&planes(&fresh)).enumerate() {
                for (a, b) in a.iter().zip(b) {
                    assert!(
                        (a - b).abs() < 1e-4,
                        "pick {pi}, plane {k}: cached {a}, fresh {b}"
                    );
                }
            }
        }
    }

    /// The greedy pass only takes moves its estimate says pay, so the estimated loss never
    /// rises; on a random model it moves some weights, each by one step in one pass.
    #[test]
    fn rdoq_lowers_the_estimated_loss() {
        let (w, h) = (16, 12);
        let coded = model(w, h, 2);
        let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i * 11 % 256) as u8).collect();
        let lambda = 1e-2;
        let n = (w * h) as f64;
        let loss = |c: &Coded| {
            let bits: f64 = syn_layout(SYN_HIDDEN, 3)
                .iter()
                .map(|s| tensor_bits(&c.syn[s.offset..s.offset + s.len()]))
                .sum();
            se(c, &pixels) / (3.0 * n) + lambda * bits / n
        };
        let (r, moved) = rdoq(&coded, &pixels, lambda, 1, 2);
        assert!(moved > 0, "nothing moved");
        let changed = r.syn.iter().zip(&coded.syn).filter(|(a, b)| a != b).count();
        assert_eq!(changed, moved);
        for (a, b) in r.syn.iter().zip(&coded.syn) {
            assert!((a - b).abs() <= 1, "{b} -> {a}");
        }
        assert!(loss(&r) < loss(&coded), "{} !< {}", loss(&r), loss(&coded));
    }
}
