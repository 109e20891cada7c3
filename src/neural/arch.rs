//! The neural image codec's architectures 1–3 — the one definition the trainer and the decoder
//! share (spec/codec-neural.md §2), so they cannot drift apart.
//!
//! Latents: [`GRIDS`] one-channel integer grids, grid `k` of `ceil(H/2^k) x ceil(W/2^k)`.
//! Synthesis: every grid bilinearly upsampled straight to `H x W` (half-pixel centres, edge
//! clamp), a per-pixel MLP `GRIDS -> N -> N -> C` with ReLU (`N` = [`syn_hidden`]), then
//! `x + conv3x3(x)` (zero padding), output in `[0, 1]`. Entropy model (architecture 1):
//! [`ARM_CTX`] causal neighbours -> [`ARM_HIDDEN`] (ReLU) -> (mu, log2 scale), in fixed point
//! (see `arm`); architectures 2 and 3: [`ARM2_CTX`] neighbours, two residual layers.

/// Architecture id of payloads whose weights are a safetensors blob of int8 tensors.
pub const ARCH_V1: u8 = 1;
/// Architecture id of payloads whose weights are entropy coded with power-of-two steps
/// (spec/codec-neural.md §5.2); the network is the same as architecture 1.
pub const ARCH_V2: u8 = 2;
/// Architecture 2 with a wider synthesis ([`SYN_HIDDEN_WIDE`]): what a long training can afford
/// (spec/codec-neural.md §2).
pub const ARCH_V3: u8 = 3;
/// Latent grids, full resolution down to 1/64.
pub const GRIDS: usize = 7;
/// Width of the synthesis MLP's hidden layers (architectures 1 and 2).
pub const SYN_HIDDEN: usize = 24;
/// Width of architecture 3's synthesis hidden layers.
pub const SYN_HIDDEN_WIDE: usize = 32;

/// The synthesis hidden width of an architecture.
pub fn syn_hidden(arch: u8) -> usize {
    if arch == ARCH_V3 {
        SYN_HIDDEN_WIDE
    } else {
        SYN_HIDDEN
    }
}
/// Causal neighbours the entropy model sees.
pub const ARM_CTX: usize = 4;
/// Hidden width of the entropy model.
pub const ARM_HIDDEN: usize = 8;
/// Neighbour offsets `(dy, dx)` in the same grid, in context order; outside the grid reads 0.
pub const ARM_NEIGHBOURS: [(isize, isize); ARM_CTX] = [(0, -1), (-1, -1), (-1, 0), (-1, 1)];
/// Fixed-point fraction bits of the entropy model's weights, biases and outputs (Q8).
pub const ARM_FRAC_BITS: u32 = 8;
/// Parameters of the entropy model: w1 `[H][CTX]`, b1 `[H]`, w2 `[2][H]`, b2 `[2]`.
pub const ARM_PARAMS: usize = ARM_HIDDEN * ARM_CTX + ARM_HIDDEN + 2 * ARM_HIDDEN + 2;
/// The entropy model's parameters as tensors `(name, offset, len)` in packing order: each has
/// its own power-of-two step in architecture 2.
pub const ARM_TENSORS: [(&str, usize, usize); 4] = [
    ("arm.w1", 0, ARM_HIDDEN * ARM_CTX),
    ("arm.b1", ARM_HIDDEN * ARM_CTX, ARM_HIDDEN),
    ("arm.w2", ARM_HIDDEN * ARM_CTX + ARM_HIDDEN, 2 * ARM_HIDDEN),
    ("arm.b2", ARM_HIDDEN * ARM_CTX + 3 * ARM_HIDDEN, 2),
];
/// Architecture 2's entropy model: [`ARM2_CTX`] causal neighbours, two residual hidden layers
/// as wide as the context (Cool-chic's ARM), then (mu, log2 scale), plus a linear branch from
/// the context to the outputs.
pub const ARM2_CTX: usize = 8;
/// Architecture 2's neighbours `(dy, dx)`, closest first; outside the grid reads 0.
pub const ARM2_NEIGHBOURS: [(isize, isize); ARM2_CTX] = [
    (0, -1),
    (-1, 0),
    (-1, -1),
    (-1, 1),
    (0, -2),
    (-2, 0),
    (-1, -2),
    (-1, 2),
];
/// Architecture 2's entropy-model parameters: w1 `[C][C]`, b1 `[C]`, w2 `[C][C]`, b2 `[C]`,
/// the linear branch wl `[2][C]`, w3 `[2][C]`, b3 `[2]` with `C` = [`ARM2_CTX`].
pub const ARM2_PARAMS: usize = 2 * (ARM2_CTX * ARM2_CTX + ARM2_CTX) + 4 * ARM2_CTX + 2;
const A2_B2: usize = 2 * ARM2_CTX * ARM2_CTX + ARM2_CTX;
const A2_WL: usize = A2_B2 + ARM2_CTX;
/// Architecture 2's entropy-model tensors `(name, offset, len)` in packing order.
pub const ARM2_TENSORS: [(&str, usize, usize); 7] = [
    ("arm.w1", 0, ARM2_CTX * ARM2_CTX),
    ("arm.b1", ARM2_CTX * ARM2_CTX, ARM2_CTX),
    (
        "arm.w2",
        ARM2_CTX * ARM2_CTX + ARM2_CTX,
        ARM2_CTX * ARM2_CTX,
    ),
    ("arm.b2", A2_B2, ARM2_CTX),
    ("arm.wl", A2_WL, 2 * ARM2_CTX),
    ("arm.w3", A2_WL + 2 * ARM2_CTX, 2 * ARM2_CTX),
    ("arm.b3", A2_WL + 4 * ARM2_CTX, 2),
];

/// The entropy model's parameter count of an architecture.
pub fn arm_params(arch: u8) -> usize {
    if arch == ARCH_V1 {
        ARM_PARAMS
    } else {
        ARM2_PARAMS
    }
}

/// The entropy model's tensors of an architecture.
pub fn arm_tensors(arch: u8) -> &'static [(&'static str, usize, usize)] {
    if arch == ARCH_V1 {
        &ARM_TENSORS
    } else {
        &ARM2_TENSORS
    }
}

/// The entropy model's tensor shapes (for the safetensors form), in [`arm_tensors`] order.
pub fn arm_shapes(arch: u8) -> Vec<Vec<usize>> {
    if arch == ARCH_V1 {
        vec![
            vec![ARM_HIDDEN, ARM_CTX],
            vec![ARM_HIDDEN],
            vec![2, ARM_HIDDEN],
            vec![2],
        ]
    } else {
        let c = ARM2_CTX;
        vec![
            vec![c, c],
            vec![c],
            vec![c, c],
            vec![c],
            vec![2, c],
            vec![2, c],
            vec![2],
        ]
    }
}

/// Latent values are bounded to `[-LATENT_MAX, LATENT_MAX]`.
pub const LATENT_MAX: i32 = 1 << 14;

/// Dimensions `(width, height)` of each grid for an image of `width x height`.
pub fn grid_dims(width: usize, height: usize) -> [(usize, usize); GRIDS] {
    let mut d = [(0, 0); GRIDS];
    for (k, g) in d.iter_mut().enumerate() {
        *g = (width.div_ceil(1 << k), height.div_ceil(1 << k));
    }
    d
}

/// Total latent count for an image.
pub fn latent_count(width: usize, height: usize) -> usize {
    grid_dims(width, height).iter().map(|(w, h)| w * h).sum()
}

/// One synthesis tensor: its name, shape, and offset in the packed parameter vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: &'static str,
    pub shape: [usize; 4],
    pub rank: usize,
    pub offset: usize,
}

impl TensorSpec {
    pub fn len(&self) -> usize {
        self.shape[..self.rank].iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Number of synthesis tensors (each has its own quantization step).
pub const SYN_TENSORS: usize = 8;

/// The synthesis parameters in packing order, for hidden width `h` ([`syn_hidden`]) and `c`
/// output channels (1 or 3). Weights are row-major `[out][in]`; the conv is `[out][in][ky][kx]`.
pub fn syn_layout(h: usize, c: usize) -> [TensorSpec; SYN_TENSORS] {
    let shapes: [(&'static str, [usize; 4], usize); SYN_TENSORS] = [
        ("l1.w", [h, GRIDS, 0, 0], 2),
        ("l1.b", [h, 0, 0, 0], 1),
        ("l2.w", [h, h, 0, 0], 2),
        ("l2.b", [h, 0, 0, 0], 1),
        ("l3.w", [c, h, 0, 0], 2),
        ("l3.b", [c, 0, 0, 0], 1),
        ("conv.w", [c, c, 3, 3], 4),
        ("conv.b", [c, 0, 0, 0], 1),
    ];
    let mut off = 0;
    shapes.map(|(name, shape, rank)| {
        let t = TensorSpec {
            name,
            shape,
            rank,
            offset: off,
        };
        off += t.len();
        t
    })
}

/// Total synthesis parameters for hidden width `h` and `c` output channels.
pub fn syn_param_count(h: usize, c: usize) -> usize {
    syn_layout(h, c).iter().map(|t| t.len()).sum()
}

/// The hidden width whose synthesis has `n` parameters for `c` channels, if any architecture's
/// has (the widths' counts never coincide).
pub fn hidden_for_params(n: usize, c: usize) -> Option<usize> {
    [SYN_HIDDEN, SYN_HIDDEN_WIDE]
        .into_iter()
        .find(|&h| syn_param_count(h, c) == n)
}

/// Multiply-accumulates per pixel of the synthesis (upsampling counted as 4 per grid).
pub fn macs_per_pixel(h: usize, c: usize) -> usize {
    GRIDS * 4 + GRIDS * h + h * h + h * c + c * c * 9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_packed_and_sized() {
        for h in [SYN_HIDDEN, SYN_HIDDEN_WIDE] {
            let l = syn_layout(h, 3);
            assert_eq!(l[0].offset, 0);
            for w in l.windows(2) {
                assert_eq!(w[1].offset, w[0].offset + w[0].len());
            }
        }
        assert_eq!(
            syn_param_count(24, 3),
            168 + 24 + 576 + 24 + 72 + 3 + 81 + 3
        );
        assert_eq!(
            syn_param_count(32, 3),
            224 + 32 + 1024 + 32 + 96 + 3 + 81 + 3
        );
        assert_eq!(
            syn_param_count(32, 1),
            224 + 32 + 1024 + 32 + 32 + 1 + 9 + 1
        );
        assert_eq!(macs_per_pixel(24, 3), 925);
        assert_eq!(macs_per_pixel(32, 3), 1453);
        assert_eq!((syn_hidden(1), syn_hidden(2), syn_hidden(3)), (24, 24, 32));
        for c in [1, 3] {
            for h in [24, 32] {
                assert_eq!(hidden_for_params(syn_param_count(h, c), c), Some(h));
            }
            assert_eq!(hidden_for_params(syn_param_count(24, c) + 1, c), None);
        }
        assert_eq!(ARM_PARAMS, 58);
        for w in ARM_TENSORS.windows(2) {
            assert_eq!(w[1].1, w[0].1 + w[0].2);
        }
        assert_eq!(ARM_TENSORS[3].1 + ARM_TENSORS[3].2, ARM_PARAMS);
        for w in ARM2_TENSORS.windows(2) {
            assert_eq!(w[1].1, w[0].1 + w[0].2);
        }
        assert_eq!(ARM2_TENSORS[6].1 + ARM2_TENSORS[6].2, ARM2_PARAMS);
        assert_eq!(ARM2_PARAMS, 178);
        for (t, shape) in arm_tensors(2).iter().zip(arm_shapes(2)) {
            assert_eq!(t.2, shape.iter().product::<usize>());
        }
        for (t, shape) in arm_tensors(1).iter().zip(arm_shapes(1)) {
            assert_eq!(t.2, shape.iter().product::<usize>());
        }
        assert_eq!(grid_dims(512, 300)[6], (8, 5));
        assert_eq!(latent_count(64, 64), 4096 + 1024 + 256 + 64 + 16 + 4 + 1);
    }
}
