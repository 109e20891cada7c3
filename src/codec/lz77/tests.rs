use super::*;
use proptest::prelude::*;

fn rt_level(raw: &[u8], level: i32) -> Vec<u8> {
    let mut p = Vec::new();
    Lz77.compress(raw, level, &mut p).unwrap();
    let mut out = Vec::new();
    Lz77.decompress(&p, raw.len(), 0, &mut out).unwrap();
    assert!(out == raw, "level {level} roundtrip");
    p
}

fn rt(raw: &[u8]) -> usize {
    let mut best = usize::MAX;
    for level in [1, 3, 6, 9] {
        best = best.min(rt_level(raw, level).len());
    }
    best
}

use crate::codec::test_util::lcg;

#[test]
fn tables_match_code_functions() {
    for v in [0usize, 1, 15, 16, 17, 23, 24, 31, 32, 1000, 0xFFFF] {
        let (c, e, x) = len_code(v + MIN_MATCH);
        assert_eq!(LEN_TABLE[c], (v as u32 - x, e as u8), "len {v}");
    }
    for v in [0usize, 3, 4, 5, 6, 7, 8, 100, (1 << 26) - 1] {
        let (c, e, x) = dist_code(v + 1);
        assert_eq!(DIST_TABLE[c], (v as u32 - x, e as u8), "dist {v}");
    }
    assert_eq!(len_code(MAX_MATCH).0, LEN_CODES - 1);
    assert_eq!(dist_code(MAX_DISTANCE).0, DIST_CODES - 1);
}

#[test]
fn edge_cases_roundtrip() {
    rt(&[]);
    rt(&[1]);
    rt(b"abc");
    rt(b"abcd");
    assert!(rt(&[0x55u8; 100_000]) < 60);
    let all: Vec<u8> = (0..=255u8).collect();
    rt(&all);
    rt(&all.repeat(20));
    let r = lcg(20_000, 7);
    assert_eq!(rt(&r), 20_001);
    // Overlapping matches: short periods.
    for period in 1..20 {
        let v: Vec<u8> = (0..3000).map(|i| (i % period) as u8 * 7).collect();
        rt(&v);
    }
}

#[test]
fn long_runs_and_far_matches() {
    // A run much longer than MAX_MATCH (several maximal matches).
    rt_level(&vec![b'x'; 3 * MAX_MATCH + 17], 1);
    rt_level(&vec![b'x'; 3 * MAX_MATCH + 17], 9);
    // A random chunk repeated at the far end: distance close to the block size.
    let mut v = lcg(5000, 9);
    v.extend(std::iter::repeat_n(0xAB, 200_000));
    v.extend_from_slice(&lcg(5000, 9));
    let n = rt(&v);
    assert!(n < 6000, "{n}");
}

#[test]
fn max_distance_and_length_decode() {
    // Hand-built stream: one literal, then a maximal-length match at distance 1, exercising
    // the top length code; and a distance-code table at its limit.
    let raw_len = 1 + MAX_MATCH;
    let mut ll = vec![0u8; LITLEN_SYMS];
    ll[b'z' as usize] = 1;
    ll[256 + LEN_CODES - 1] = 1;
    let mut dl = vec![0u8; DIST_CODES];
    dl[0] = 1;
    dl[DIST_CODES - 1] = 1;
    let mut w = BitWriter::new(vec![mode::CODED]);
    write_lengths(&mut w, &ll);
    write_lengths(&mut w, &dl);
    let le = Encoder::new(&ll);
    let de = Encoder::new(&dl);
    le.put(&mut w, b'z' as usize);
    let (c, e, v) = len_code(MAX_MATCH);
    le.put(&mut w, 256 + c);
    w.put(u64::from(v), e);
    de.put(&mut w, 0);
    let p = w.finish();
    let mut out = Vec::new();
    decode(&p, raw_len, &mut out).unwrap();
    assert!(out.iter().all(|&b| b == b'z') && out.len() == raw_len);
    // The same stream declaring one byte less must fail (match past the end).
    assert!(decode(&p, raw_len - 1, &mut out).is_err());
    // Maximal distance code with the block too short for it.
    let mut w = BitWriter::new(vec![mode::CODED]);
    write_lengths(&mut w, &ll);
    write_lengths(&mut w, &dl);
    le.put(&mut w, b'z' as usize);
    le.put(&mut w, 256 + c);
    w.put(u64::from(v), e);
    de.put(&mut w, DIST_CODES - 1);
    w.put((1 << 24) - 1, 24);
    let p = w.finish();
    assert!(decode(&p, raw_len, &mut out).is_err());
}

#[test]
fn compresses_text() {
    let text = b"It was the best of times, it was the worst of times, it was the age of \
                 wisdom, it was the age of foolishness, it was the epoch of belief. "
        .repeat(50);
    let n = rt(&text);
    assert!(n < text.len() / 10, "{n}");
}

#[test]
fn corrupt_payloads_are_errors() {
    let mut text = b"hello lz77, hello world, some text to code here ".repeat(20);
    text.extend(lcg(300, 5));
    let mut p = Vec::new();
    Lz77.compress(&text, 6, &mut p).unwrap();
    assert_eq!(p[0], mode::CODED);
    let mut out = Vec::new();
    for cut in 0..p.len() {
        assert!(decode(&p[..cut], text.len(), &mut out).is_err());
    }
    for i in 0..p.len() {
        for bit in [0u8, 4, 7] {
            let mut q = p.clone();
            q[i] ^= 1 << bit;
            if decode(&q, text.len(), &mut out).is_ok() {
                assert_eq!(out.len(), text.len());
            }
        }
    }
    assert!(decode(&p, text.len() - 1, &mut out).is_err());
    assert!(decode(&p, text.len() + 1, &mut out).is_err());
    assert!(decode(&[7], 0, &mut out).is_err());
    assert!(decode(&[], 0, &mut out).is_err());
    assert!(decode(&[0, 1], 2, &mut out).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn roundtrip_repeated_slices(
        seed in proptest::collection::vec(any::<u8>(), 1..200),
        ops in proptest::collection::vec((0usize..200, 1usize..300, any::<bool>()), 0..40),
        level in 1i32..=9,
    ) {
        // Data with structure: copies of earlier slices mixed with fresh bytes.
        let raw = crate::codec::test_util::repeated_slices(&seed, &ops, |b| b);
        rt_level(&raw, level);
    }
}
