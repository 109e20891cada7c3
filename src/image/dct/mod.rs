//! The DCT lossy image codec (spec/codec-dct.md): YCbCr, 4:2:0 or 4:4:4, 8x8 DCT with
//! libjpeg-style quality scaling, and context-modelled adaptive binary arithmetic coding of the
//! coefficients over [`crate::entropy`].
//!
//! Decoding is bit-exact by specification (integer IDCT, fixed-point colour conversion, fixed
//! upsampling) and streams by rows of 8x8-block groups (MCUs): working memory is a few MCU rows
//! whatever the image height. The payload stores a CRC-32 of the decoded pixels, which the
//! decoder verifies.

pub(crate) mod decode;
mod encode;
pub mod format;
pub mod model;
pub mod tables;

pub use decode::{decode, decode_rows};
pub use encode::{encode, DctOptions, SamplingChoice};
pub use format::{Header, Sampling};

/// Block geometry derived from a header: MCU size, block grids per component.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    pub width: usize,
    pub height: usize,
    /// Number of DCT components (1 or 3).
    pub comps: usize,
    /// Chroma subsampling factor in each direction (1 or 2).
    pub sub: usize,
    /// MCU rows and columns.
    pub mcu_rows: usize,
    pub mcu_cols: usize,
}

impl Geometry {
    pub fn new(width: u32, height: u32, comps: usize, sampling: Sampling) -> Self {
        let sub = if comps == 3 && sampling == Sampling::S420 {
            2
        } else {
            1
        };
        let mcu = 8 * sub;
        let (width, height) = (width as usize, height as usize);
        Geometry {
            width,
            height,
            comps,
            sub,
            mcu_rows: height.div_ceil(mcu),
            mcu_cols: width.div_ceil(mcu),
        }
    }

    /// Blocks per MCU in each direction for component `c` (luma carries `sub` x `sub`).
    pub fn blocks_per_mcu(&self, c: usize) -> usize {
        if c == 0 {
            self.sub
        } else {
            1
        }
    }

    /// Width of component `c`'s block grid, in blocks.
    pub fn blocks_wide(&self, c: usize) -> usize {
        self.mcu_cols * self.blocks_per_mcu(c)
    }

    /// Sample rows of component `c` per MCU row.
    pub fn rows_per_mcu(&self, c: usize) -> usize {
        8 * self.blocks_per_mcu(c)
    }

    /// The blocks of MCU row `r` in coding order (spec §7.1), as (component, bx, by, y0):
    /// block coordinates in the component's grid and the block's first sample row within the
    /// MCU row's sample buffer. Encoder and decoder both walk this one sequence.
    pub fn mcu_row_blocks(
        &self,
        r: usize,
    ) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        (0..self.mcu_cols).flat_map(move |mx| {
            (0..self.comps).flat_map(move |c| {
                let n = self.blocks_per_mcu(c);
                (0..n).flat_map(move |j| (0..n).map(move |i| (c, mx * n + i, r * n + j, 8 * j)))
            })
        })
    }

    /// Real (unpadded) size of component `c`'s plane: chroma of 4:2:0 is ⌈w/2⌉ x ⌈h/2⌉.
    pub fn plane_size(&self, c: usize) -> (usize, usize) {
        if c == 0 || self.sub == 1 {
            (self.width, self.height)
        } else {
            (self.width.div_ceil(2), self.height.div_ceil(2))
        }
    }
}

/// Ring of the last three block rows of one component's quantized coefficients: the context
/// model looks one block row up, and a 4:2:0 luma MCU spans two block rows.
pub(crate) struct CoefRows {
    rows: [Vec<[i16; 64]>; 3],
}

impl CoefRows {
    pub fn new(blocks_wide: usize) -> Self {
        CoefRows {
            rows: std::array::from_fn(|_| vec![[0i16; 64]; blocks_wide]),
        }
    }

    /// Neighbours of block (bx, by) for the context model.
    pub fn neighbours(&self, bx: usize, by: usize) -> model::Neighbours<'_> {
        let cur = &self.rows[by % 3];
        let up = (by > 0).then(|| &self.rows[(by + 2) % 3]);
        model::Neighbours {
            above: up.map(|r| &r[bx]),
            left: (bx > 0).then(|| &cur[bx - 1]),
        }
    }

    pub fn store(&mut self, bx: usize, by: usize, blk: &[i16; 64]) {
        self.rows[by % 3][bx] = *blk;
    }
}

#[cfg(test)]
mod tests;
