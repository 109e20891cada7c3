//! Multi-symbol front end: symbols coded from caller-supplied cumulative frequency tables
//! (spec/entropy-range.md §4).
//!
//! The tables are static as far as this module is concerned: the caller (e.g. the neural
//! codec, from integer Laplace tables) builds them identically on both sides. Validation happens
//! once in [`FreqTable::new`], so coding itself never fails on a valid table.

use super::range::{Decoder, Encoder, MAX_TOTAL};
use crate::error::{Error, Result};

/// A cumulative frequency table: `cum[s]..cum[s+1]` is symbol `s`'s interval, `cum[0] = 0`,
/// `cum[n] = total ≤ 2^16`, every frequency ≥ 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreqTable {
    cum: Vec<u32>,
}

impl FreqTable {
    /// Builds the table from per-symbol frequencies. Errors (class `corrupt`, codec `range`) if
    /// a frequency is 0, the table is empty, or the total exceeds 2^16.
    pub fn new(freqs: &[u32]) -> Result<Self> {
        let bad = |why: &str| Error::Corrupt {
            codec: "range",
            why: why.to_string(),
        };
        if freqs.is_empty() {
            return Err(bad("empty frequency table"));
        }
        let mut cum = Vec::with_capacity(freqs.len() + 1);
        let mut acc = 0u32;
        cum.push(0);
        for &f in freqs {
            if f == 0 {
                return Err(bad("zero frequency"));
            }
            acc = acc.saturating_add(f);
            if acc > MAX_TOTAL {
                return Err(bad("frequency total above 2^16"));
            }
            cum.push(acc);
        }
        Ok(FreqTable { cum })
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.cum.len() - 1
    }

    /// Always false: a table has at least one symbol.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Frequency of symbol `s` (< `len()`).
    pub fn freq(&self, s: usize) -> u32 {
        self.cum[s + 1] - self.cum[s]
    }

    /// Sum of all frequencies.
    pub fn total(&self) -> u32 {
        self.cum[self.cum.len() - 1]
    }

    /// Codes symbol `s` (< `len()`; the caller's invariant).
    pub fn encode(&self, enc: &mut Encoder, s: usize) {
        enc.encode_interval(self.cum[s], self.cum[s + 1] - self.cum[s], self.total());
    }

    /// Decodes one symbol; `None` if the stream is inconsistent with the table.
    pub fn decode(&self, dec: &mut Decoder) -> Option<usize> {
        let (v, r) = dec.decode_target(self.total())?;
        // Largest s with cum[s] <= v; cum is strictly increasing and cum[0] = 0 <= v.
        let s = self.cum.partition_point(|&c| c <= v) - 1;
        dec.consume_interval(self.cum[s], self.cum[s + 1] - self.cum[s], r);
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laplace_like_roundtrip() {
        let freqs: Vec<u32> = (0..33)
            .map(|i: i32| 1 + (4000.0 * (-(i - 16).abs() as f64 / 3.0).exp()) as u32)
            .collect();
        let t = FreqTable::new(&freqs).unwrap();
        let mut x = 5u32;
        let syms: Vec<usize> = (0..20000)
            .map(|_| {
                x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                let u = (x >> 8) % t.total();
                t.cum.partition_point(|&c| c <= u) - 1
            })
            .collect();
        let mut enc = Encoder::new();
        for &s in &syms {
            t.encode(&mut enc, s);
        }
        let bytes = enc.finish();
        let mut dec = Decoder::new(&bytes);
        for &s in &syms {
            assert_eq!(t.decode(&mut dec), Some(s));
        }
        assert!(!dec.is_bad());
    }

    #[test]
    fn rejects_bad_tables() {
        assert!(FreqTable::new(&[]).is_err());
        assert!(FreqTable::new(&[1, 0, 2]).is_err());
        assert_eq!(
            FreqTable::new(&[40000, 30000]).unwrap_err().class(),
            "corrupt"
        );
        assert!(FreqTable::new(&[65536]).is_ok());
    }

    #[test]
    fn garbage_decodes_without_panic() {
        let t = FreqTable::new(&[1, 2, 3, 60000]).unwrap();
        for seed in 0..50u8 {
            let data: Vec<u8> = (0..seed).map(|i| i.wrapping_mul(37) ^ seed).collect();
            let mut dec = Decoder::new(&data);
            for _ in 0..500 {
                if t.decode(&mut dec).is_none() {
                    break;
                }
            }
        }
    }
}
