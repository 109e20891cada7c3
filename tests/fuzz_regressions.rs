//! Replays every input under `tests/fuzz_regressions/<target>/` through the same checks the
//! cargo-fuzz target of that name runs (`yoz::codec::fuzz`), so crashers found by fuzzing stay
//! fixed under plain `cargo test` on stable. Seed inputs live beside the crashers.

use std::path::Path;

use yoz::codec::{fuzz, id};

fn replay(target: &str, check: impl Fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("regression directory exists") {
        let path = entry.expect("readable directory entry").path();
        let data = std::fs::read(&path).expect("readable regression input");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data)));
        assert!(result.is_ok(), "{target}: {} fails", path.display());
        n += 1;
    }
    assert!(n > 0, "{target}: no inputs");
}

#[test]
fn huffman_decode() {
    replay("huffman_decode", |d| fuzz::decode_one(id::HUFFMAN, d));
}

#[test]
fn lz77_decode() {
    replay("lz77_decode", |d| fuzz::decode_one(id::LZ77, d));
}

#[test]
fn huffman_roundtrip() {
    replay("huffman_roundtrip", |d| fuzz::roundtrip_one(id::HUFFMAN, d));
}

#[test]
fn lz77_roundtrip() {
    replay("lz77_roundtrip", |d| fuzz::roundtrip_one(id::LZ77, d));
}

#[test]
fn lzr_decode() {
    replay("lzr_decode", |d| fuzz::decode_one(id::LZR, d));
}

#[test]
fn lzr_roundtrip() {
    replay("lzr_roundtrip", |d| fuzz::roundtrip_one(id::LZR, d));
}

#[test]
fn cm_decode() {
    replay("cm_decode", |d| fuzz::decode_one(id::CM, d));
}

#[test]
fn cm_roundtrip() {
    replay("cm_roundtrip", |d| fuzz::roundtrip_one(id::CM, d));
}

#[test]
fn cm2_decode() {
    replay("cm2_decode", |d| fuzz::decode_one(id::CM2, d));
}

#[test]
fn cm2_roundtrip() {
    replay("cm2_roundtrip", |d| fuzz::roundtrip_one(id::CM2, d));
}

#[test]
fn cm3_decode() {
    replay("cm3_decode", |d| fuzz::decode_one(id::CM3, d));
}

#[test]
fn cm3_roundtrip() {
    replay("cm3_roundtrip", |d| fuzz::roundtrip_one(id::CM3, d));
}

#[test]
fn lzr2_decode() {
    replay("lzr2_decode", |d| fuzz::decode_one(id::LZR2, d));
}

#[test]
fn lzr2_roundtrip() {
    replay("lzr2_roundtrip", |d| fuzz::roundtrip_one(id::LZR2, d));
}
