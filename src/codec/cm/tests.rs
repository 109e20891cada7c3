//! Round trips, learning, damage and the ratio bound of cm.

use super::super::test_util::lcg;
use super::tables::{squash, stretch};
use super::*;

fn roundtrip(data: &[u8]) -> usize {
    let mut payload = Vec::new();
    Cm.compress(data, 0, &mut payload).unwrap();
    let mut out = Vec::new();
    Cm.decompress(&payload, data.len(), 0, &mut out).unwrap();
    assert!(out == data, "roundtrip of {} bytes", data.len());
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
    for data in [
        &b""[..],
        b"a",
        b"abcabcabcabcabc",
        &[0u8; 5000],
        &lcg(20_000, 5),
    ] {
        roundtrip(data);
    }
    // Words drawn at random from a small vocabulary: no long repeats for an LZ coder, but
    // strong order-1..3 statistics, which is what context mixing learns.
    let words = [
        "the ", "model ", "learns ", "while ", "it ", "codes ", "each ", "bit ", "\n",
    ];
    let text: Vec<u8> = lcg(60_000, 3)
        .iter()
        .flat_map(|&r| words[r as usize % words.len()].bytes())
        .collect();
    let n = roundtrip(&text);
    let mut lzr = Vec::new();
    super::super::lzr::encode(&text, 128, 128, &mut lzr);
    assert!(n * 100 < lzr.len() * 95, "cm {n} vs lzr {}", lzr.len());
    let rnd = lcg(20_000, 9);
    assert_eq!(roundtrip(&rnd), 1 + rnd.len(), "random data is stored raw");
}

/// Data more predictable than `MAX_RATIO` is stored raw by the encoder, and a coded
/// payload declaring more is refused before any decoding work.
#[test]
fn coded_payloads_are_bounded_by_their_ratio() {
    let data = vec![b'a'; 20_000];
    let body = coded_body(&data).unwrap();
    assert!(data.len() as u64 > MAX_RATIO * (1 + body.len() as u64));
    assert_eq!(roundtrip(&data), 1 + data.len(), "over the ratio: raw");
    let mut payload = vec![mode::CODED];
    payload.extend_from_slice(&body);
    // A well-formed stream of the right bytes: only the bound refuses it.
    let err = decode(&payload, data.len(), &mut Vec::new()).unwrap_err();
    assert_eq!(err.class(), "limit", "{err}");
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
    ) {
        let mut p = Vec::new();
        Cm.compress(&data, 0, &mut p).unwrap();
        let mut out = Vec::new();
        Cm.decompress(&p, data.len(), 0, &mut out).unwrap();
        prop_assert!(out == data);
        // Damage: an error, or exactly the declared size.
        let i = at % p.len();
        if cut {
            p.truncate(i);
        } else {
            p[i] ^= flip;
        }
        if Cm.decompress(&p, data.len(), 0, &mut out).is_ok() {
            prop_assert_eq!(out.len(), data.len());
        }
    }
}

#[test]
fn damaged_payloads_fail_cleanly() {
    let text: Vec<u8> = (0..3000u32)
        .flat_map(|i| format!("{} fox {} ", i % 17, i % 5).into_bytes())
        .collect();
    let mut p = Vec::new();
    Cm.compress(&text, 0, &mut p).unwrap();
    let mut out = Vec::new();
    for cut in [1, 2, p.len() / 2, p.len() - 1] {
        assert!(Cm.decompress(&p[..cut], text.len(), 0, &mut out).is_err());
    }
    let mut longer = p.clone();
    longer.push(0);
    assert!(Cm.decompress(&longer, text.len(), 0, &mut out).is_err());
    for i in (1..p.len()).step_by(53) {
        let mut q = p.clone();
        q[i] ^= 0x21;
        match Cm.decompress(&q, text.len(), 0, &mut out) {
            Ok(()) => assert_eq!(out.len(), text.len()),
            Err(e) => assert_eq!(e.class(), "corrupt"),
        }
    }
    assert!(Cm.decompress(&[], 0, 0, &mut out).is_err());
    assert!(Cm.decompress(&[2], 0, 0, &mut out).is_err());
}
