//! The integer building blocks of cm (spec §3, §4, §7): logistic tables, adaptive counters,
//! probability maps, and the memory helpers the model's tables use.

// ---------------------------------------------------------------------------------------------
// Logistic tables (spec §3)

/// The logistic function sampled at −16..16 in steps of 1/2 of its argument's unit, ×4096,
/// rounded: `round(4096 / (1 + e^(−(i − 16) / 2)))`, clamped to 1..4095 at the ends.
const SQUASH_KNOTS: [i32; 33] = [
    1, 2, 4, 6, 10, 17, 27, 45, 74, 120, 194, 311, 488, 747, 1102, 1546, 2048, 2550, 2994, 3349,
    3608, 3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090, 4092, 4094, 4095,
];

/// 4096 / (1 + e^(−d/256)) by linear interpolation between the knots, for d in −2047..=2047.
#[inline]
pub(super) const fn squash(d: i32) -> i32 {
    if d > 2047 {
        return 4095;
    }
    if d < -2047 {
        return 1;
    }
    let w = d & 127;
    let i = ((d >> 7) + 16) as usize;
    (SQUASH_KNOTS[i] * (128 - w) + SQUASH_KNOTS[i + 1] * w + 64) >> 7
}

/// The inverse of [`squash`]: for each p in 0..4096 the smallest d with squash(d) ≥ p
/// (2047 where none is).
const STRETCH: [i16; 4096] = {
    let mut t = [2047i16; 4096];
    let mut p = 0usize;
    let mut d = -2047;
    while d <= 2047 {
        let v = squash(d) as usize;
        while p <= v && p < 4096 {
            t[p] = d as i16;
            p += 1;
        }
        d += 1;
    }
    t
};

#[inline]
pub(super) fn stretch(p: u32) -> i32 {
    i32::from(STRETCH[(p as usize).min(4095)])
}

// ---------------------------------------------------------------------------------------------
// Adaptive counters (spec §4)

/// Reciprocal table of the counters' adaptation rate: `65536 · 2 / (2n + 3)`.
const RATE: [u32; 1024] = {
    let mut t = [0u32; 1024];
    let mut n = 0;
    while n < 1024 {
        t[n] = 131_072 / (2 * n as u32 + 3);
        n += 1;
    }
    t
};

/// A counter: 22-bit probability that the bit is 1 in the high bits, visit count in the low 10.
pub(super) const COUNTER_INIT: u32 = 1 << 31;

/// Probability (12 bits) of a counter.
#[inline]
pub(super) fn counter_p12(v: u32) -> u32 {
    v >> 20
}

#[inline]
pub(super) fn counter_update(v: &mut u32, bit: bool, limit: u32) {
    let n = *v & 1023;
    let p = (*v >> 10) as i32;
    let target = if bit { (1 << 22) - 1 } else { 0 };
    // (target − p) >> 7 fits 15 bits and the rate 16: the product fits an i32.
    let p = (p + ((((target - p) >> 7) * RATE[n as usize] as i32) >> 9)).clamp(0, (1 << 22) - 1);
    *v = ((p as u32) << 10) | (n + u32::from(n < limit));
}

/// Starts loading the cache line of `v`: the five buckets of a nibble are known one coder step
/// before the first of them is read, and their misses then overlap that work.
#[inline(always)]
pub(super) fn prefetch<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing the program sees and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch(v as *const T as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// A zeroed table that the kernel may back with huge pages: the hashed orders touch a random
/// line of 80 MiB per nibble, and with 4 KiB pages nearly every touch also missed the TLB.
/// Measured (one core): a 2.4 MB XML file coded at 0.92 → 1.24 MB/s, a 1 MB changelog at
/// 0.62 → 0.80 MB/s, the same bytes. Not part of the format.
pub(super) fn huge_zeroed<T: Copy + Default>(n: usize) -> Vec<T> {
    let v = vec![T::default(); n];
    #[cfg(target_os = "linux")]
    {
        let bytes = n * std::mem::size_of::<T>();
        let start = v.as_ptr() as usize;
        let page = 4096;
        let aligned = (start + page - 1) & !(page - 1);
        if bytes > 2 * page {
            let len = (start + bytes - aligned) & !(page - 1);
            // SAFETY: the range lies inside the vector's own allocation (rounded inwards to
            // whole pages); MADV_HUGEPAGE only changes how the kernel backs it, never its
            // contents, and failure is harmless (the hint is ignored).
            unsafe {
                libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            }
        }
    }
    v
}

/// Interpolation buckets of a probability map.
pub(super) const APM_BUCKETS: usize = 33;

/// An adaptive probability map (spec §7): refines a probability in the context `ctx`.
pub(super) struct Apm {
    pub(super) t: Vec<u16>,
    idx: usize,
}

impl Apm {
    pub(super) fn new(contexts: usize) -> Self {
        let row: Vec<u16> = (0..APM_BUCKETS)
            .map(|j| (squash((j as i32 - 16) * 128) * 16) as u16)
            .collect();
        let mut t = huge_zeroed(contexts * APM_BUCKETS);
        for (i, v) in t.iter_mut().enumerate() {
            *v = row[i % APM_BUCKETS];
        }
        Apm { t, idx: 0 }
    }

    /// Refined probability (16 bits) in context `ctx` of the probability whose stretch is `st`.
    #[inline]
    pub(super) fn p(&mut self, st: i32, ctx: usize) -> u32 {
        let s = (st + 2048) as usize; // 1..=4095
        let (j, w) = (s >> 7, (s & 127) as u32);
        let base = ctx * APM_BUCKETS + j;
        self.idx = if w < 64 { base } else { base + 1 };
        (u32::from(self.t[base]) * (128 - w) + u32::from(self.t[base + 1]) * w) >> 7
    }

    #[inline]
    pub(super) fn update(&mut self, bit: bool) {
        let v = i32::from(self.t[self.idx]);
        let target = if bit { 65535 } else { 0 };
        self.t[self.idx] = (v + ((target - v) >> 6)) as u16;
    }
}
