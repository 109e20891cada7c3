//! Round trips, learning, damage and the ratio bound of cm1, cm2 and cm3, and what models 2
//! and 3 add.

use super::super::test_util::lcg;
use super::tables::{squash, stretch};
use super::*;

/// The three codecs: every property below holds for each model.
const CM1: Cm = Cm(Version::V1);
const CM2: Cm = Cm(Version::V2);
const CM3: Cm = Cm(Version::V3);
const CODECS: [&dyn Codec; 3] = [&CM1, &CM2, &CM3];

fn roundtrip_with(codec: &dyn Codec, data: &[u8]) -> usize {
    let mut payload = Vec::new();
    codec.compress(data, 0, &mut payload).unwrap();
    let mut out = Vec::new();
    codec.decompress(&payload, data.len(), 0, &mut out).unwrap();
    assert!(
        out == data,
        "{} roundtrip of {} bytes",
        codec.name(),
        data.len()
    );
    payload.len()
}

#[test]
fn tables_are_monotone_inverses() {
    assert_eq!(squash(0), 2048);
    assert_eq!(squash(-3000), 1);
    assert_eq!(squash(3000), 4095);
    for d in -2047..2047 {
        assert!(squash(d) <= squash(d + 1));
    }
    for p in 1..4095u32 {
        assert!(stretch(p) <= stretch(p + 1));
        assert!(squash(stretch(p)) as u32 >= p, "p {p}");
    }
}

#[test]
fn roundtrips_and_learns() {
    // Words drawn at random from a small vocabulary: no long repeats for an LZ coder, but
    // strong order-1..3 statistics, which is what context mixing learns.
    let words = [
        "the ", "model ", "learns ", "while ", "it ", "codes ", "each ", "bit ", "\n",
    ];
    let text: Vec<u8> = lcg(60_000, 3)
        .iter()
        .flat_map(|&r| words[r as usize % words.len()].bytes())
        .collect();
    let mut lzr = Vec::new();
    super::super::lzr::encode(&text, 128, 128, &mut lzr);
    for codec in CODECS {
        for data in [
            &b""[..],
            b"a",
            b"abcabcabcabcabc",
            &[0u8; 5000],
            &lcg(20_000, 5),
        ] {
            roundtrip_with(codec, data);
        }
        let n = roundtrip_with(codec, &text);
        assert!(
            n * 100 < lzr.len() * 95,
            "{} {n} vs lzr {}",
            codec.name(),
            lzr.len()
        );
        let rnd = lcg(20_000, 9);
        assert_eq!(
            roundtrip_with(codec, &rnd),
            1 + rnd.len(),
            "random data is stored raw"
        );
    }
}

/// The payloads of a fixed input, pinned: archives written with either model must decode the
/// same on every machine and in every later version, so any change to a model's arithmetic
/// shows up here (the conformance corpus pins the same through whole archives).
#[test]
fn payloads_are_pinned() {
    let text: Vec<u8> = (0..4000u32)
        .flat_map(|i| format!("{} fox {} \u{1}\u{2}", i % 97, (i * 7) % 13).into_bytes())
        .collect();
    let pinned = [
        (&CM1, 1786, 0x5D18_380Au32),
        (&CM2, 1551, 0xC9FA_A122),
        (&CM3, 1119, 0x504F_4B21),
    ];
    for (codec, len, crc) in pinned {
        let mut p = Vec::new();
        codec.compress(&text, 0, &mut p).unwrap();
        assert_eq!(
            (p.len(), crc32fast::hash(&p)),
            (len, crc),
            "{}",
            codec.name()
        );
    }
}

/// What model 2 is for: fixed-size binary records whose fields repeat a few bytes apart, and
/// long repeats with a changed byte here and there. Model 2 must beat model 1 clearly on both,
/// and model 3 model 2.
#[test]
fn models_2_and_3_learn_records_and_patched_repeats() {
    // Records of 16 bytes: an increasing little-endian pointer, a small kind, a random id.
    let ids = lcg(4000, 11);
    let records: Vec<u8> = (0..4000u64)
        .flat_map(|i| {
            let mut r = (0x0040_0000 + i * 48).to_le_bytes().to_vec();
            r.extend_from_slice(&[(i % 5) as u8, 0, 0, 0, ids[i as usize], 0, 0, 0]);
            r
        })
        .collect();
    // 24 KiB of noise, then the same noise with every 37th byte changed.
    let noise = lcg(24_576, 12);
    let mut patched = noise.clone();
    patched.extend(
        noise
            .iter()
            .enumerate()
            .map(|(i, &b)| if i % 37 == 36 { b ^ 0x55 } else { b }),
    );
    for data in [&records, &patched] {
        let (m1, m2) = (roundtrip_with(&CM1, data), roundtrip_with(&CM2, data));
        assert!(m2 * 100 < m1 * 95, "model 2 {m2} vs model 1 {m1}");
        // Model 3 keeps what model 2 added.
        let m3 = roundtrip_with(&CM3, data);
        assert!(m3 < m2, "model 3 {m3} vs model 2 {m2}");
    }
}

/// Model 3's bit histories follow spec §10.2's rule: the count of the bit seen grows to 15, the
/// other one, above 2, loses half its excess; and the state map starts at what the counts say.
#[test]
fn bit_histories_follow_the_rule() {
    let next = |n0: u8, n1: u8, y: usize| {
        let s = model::NEXT[2 * usize::from(n0 << 4 | n1) + y];
        (s >> 4, s & 15)
    };
    assert_eq!(next(0, 0, 1), (0, 1));
    assert_eq!(next(0, 0, 0), (1, 0));
    assert_eq!(next(2, 7, 1), (2, 8));
    assert_eq!(next(3, 7, 1), (2, 8));
    assert_eq!(next(9, 3, 1), (5, 4));
    assert_eq!(next(15, 15, 0), (15, 8));
    assert_eq!(next(15, 15, 1), (8, 15));
    assert_eq!(next(4, 2, 0), (5, 2));
    let map = model::state_map_init();
    // (n0, n1) = (0, 0): one half; (0, 15): 31/32; (15, 0): 1/32 — of 2^22.
    assert_eq!(map[0], 1 << 21);
    assert_eq!(map[15], (31 << 22) / 32);
    assert_eq!(map[15 << 4], (1 << 22) / 32);
    assert!(map.iter().all(|&p| p < 1 << 22));
}

/// Data more predictable than `MAX_RATIO` is stored raw by the encoder, and a coded
/// payload declaring more is refused before any decoding work.
#[test]
fn coded_payloads_are_bounded_by_their_ratio() {
    let data = vec![b'a'; 20_000];
    for (version, codec) in [
        (Version::V1, &CM1),
        (Version::V2, &CM2),
        (Version::V3, &CM3),
    ] {
        let body = coded_body(&data, version).unwrap();
        assert!(data.len() as u64 > MAX_RATIO * (1 + body.len() as u64));
        assert_eq!(
            roundtrip_with(codec, &data),
            1 + data.len(),
            "over the ratio: raw"
        );
        let mut payload = vec![mode::CODED];
        payload.extend_from_slice(&body);
        // A well-formed stream of the right bytes: only the bound refuses it.
        let err = decode(&payload, data.len(), version, &mut Vec::new()).unwrap_err();
        assert_eq!(err.class(), "limit", "{err}");
    }
}

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn roundtrip_and_damage(
        data in proptest::collection::vec(0u8..6, 0..2000),
        at in any::<usize>(),
        flip in 1u8..=255,
        cut in any::<bool>(),
        model in 0usize..3,
    ) {
        let codec = CODECS[model];
        let mut p = Vec::new();
        codec.compress(&data, 0, &mut p).unwrap();
        let mut out = Vec::new();
        codec.decompress(&p, data.len(), 0, &mut out).unwrap();
        prop_assert!(out == data);
        // Damage: an error, or exactly the declared size.
        let i = at % p.len();
        if cut {
            p.truncate(i);
        } else {
            p[i] ^= flip;
        }
        if codec.decompress(&p, data.len(), 0, &mut out).is_ok() {
            prop_assert_eq!(out.len(), data.len());
        }
    }
}

#[test]
fn damaged_payloads_fail_cleanly() {
    let text: Vec<u8> = (0..3000u32)
        .flat_map(|i| format!("{} fox {} ", i % 17, i % 5).into_bytes())
        .collect();
    for codec in CODECS {
        let mut p = Vec::new();
        codec.compress(&text, 0, &mut p).unwrap();
        let mut out = Vec::new();
        for cut in [1, 2, p.len() / 2, p.len() - 1] {
            assert!(codec
                .decompress(&p[..cut], text.len(), 0, &mut out)
                .is_err());
        }
        let mut longer = p.clone();
        longer.push(0);
        assert!(codec.decompress(&longer, text.len(), 0, &mut out).is_err());
        for i in (1..p.len()).step_by(53) {
            let mut q = p.clone();
            q[i] ^= 0x21;
            match codec.decompress(&q, text.len(), 0, &mut out) {
                Ok(()) => assert_eq!(out.len(), text.len()),
                Err(e) => assert_eq!(e.class(), "corrupt"),
            }
        }
        assert!(codec.decompress(&[], 0, 0, &mut out).is_err());
        assert!(codec.decompress(&[2], 0, 0, &mut out).is_err());
    }
}

/// The AVX2 build of the coding loops (taken on machines that have it) and the portable one
/// write and read the same bits; and the split dot product equals the i64 one at the extremes.
#[test]
fn vector_and_portable_paths_agree() {
    let mut data = b"portable and vector paths code the same bits; ".repeat(40);
    data.extend(lcg(3_000, 9));
    for v in [Version::V1, Version::V2, Version::V3] {
        let (fast, portable) = match v {
            Version::V1 => (coded_stream::<1>(&data), coded_stream_with::<1>(&data)),
            Version::V2 => (coded_stream::<2>(&data), coded_stream_with::<2>(&data)),
            Version::V3 => (coded_stream::<3>(&data), coded_stream_with::<3>(&data)),
        };
        let body = fast.expect("compresses");
        assert!(Some(&body) == portable.as_ref(), "{}", v.name());
        let mut out = Vec::new();
        match v {
            Version::V1 => {
                let m = model::Model::<1>::new(data.len());
                decode_body_with(m, &body, data.len(), v, &mut out).unwrap()
            }
            Version::V2 => {
                let m = model::Model::<2>::new(data.len());
                decode_body_with(m, &body, data.len(), v, &mut out).unwrap()
            }
            Version::V3 => {
                let m = model::Model::<3>::new(data.len());
                decode_body_with(m, &body, data.len(), v, &mut out).unwrap()
            }
        }
        assert!(out == data);
    }
    let w = [
        model::WEIGHT_MAX,
        -model::WEIGHT_MAX,
        1023,
        -1,
        0,
        77,
        -1025,
        5,
        6,
        7,
        8,
        9,
        -9,
        1 << 14,
        -(1 << 18),
        3,
    ];
    let x = [
        2047, -2047, 2047, 2047, 0, -3, 1024, 256, -2047, 2047, -2047, 2047, 5, -5, 2047, 0,
    ];
    let exact: i64 = w
        .iter()
        .zip(&x)
        .map(|(&w, &x)| i64::from(w) * i64::from(x))
        .sum();
    assert_eq!(model::dot(&w, &x), exact);
    let coarse: i64 = w
        .iter()
        .zip(&x)
        .map(|(&w, &x)| i64::from(w >> 4) * i64::from(x))
        .sum();
    assert_eq!(i64::from(model::dot_coarse(&w, &x)), coarse);
    // The largest sums the mixers can meet: twelve inputs at the weights' bound.
    let mut big = [0; model::LANES];
    big[..12].fill(model::WEIGHT_MAX);
    let mut xs = [0; model::LANES];
    xs[..12].fill(2047);
    assert_eq!(
        model::dot(&big, &xs),
        12 * i64::from(model::WEIGHT_MAX) * 2047
    );
    assert_eq!(
        model::dot(&big.map(|w| -w), &xs),
        -12 * i64::from(model::WEIGHT_MAX) * 2047
    );
    assert_eq!(
        i64::from(model::dot_coarse(&big.map(|w| -w), &xs)),
        -12 * i64::from(model::WEIGHT_MAX >> 4) * 2047
    );
}
