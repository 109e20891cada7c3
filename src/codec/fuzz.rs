//! Checks shared by the cargo-fuzz targets in `fuzz/` and by `tests/fuzz_regressions.rs`, so
//! a crash input found by the fuzzer replays under plain `cargo test` through the same code.
//!
//! Each function panics when a codec breaks its contract — that panic is what the fuzzer
//! reports — and returns quietly otherwise.

use super::by_id;

/// Largest declared block size the decode harness uses: 1 MiB keeps each run fast while still
/// exceeding every table and window size the decoders special-case.
pub const MAX_FUZZ_RAW_LEN: usize = 1 << 20;

/// Decodes `data[3..]` as a payload of codec `id`, with the declared size taken from
/// `data[..3]` (little-endian, reduced modulo `MAX_FUZZ_RAW_LEN + 1`). Asserts that decoding
/// never panics, that a success yields exactly the declared size without allocating more, and
/// that decoding again into a dirty buffer gives the same result (no stale bytes leak through).
pub fn decode_one(id: u8, data: &[u8]) {
    let Some((head, payload)) = data.split_first_chunk::<3>() else {
        return;
    };
    let raw_len =
        (u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize) % (MAX_FUZZ_RAW_LEN + 1);
    let codec = by_id(id).expect("registered codec");
    let mut out = Vec::new();
    let first = codec.decompress(payload, raw_len, 0, &mut out);
    if first.is_ok() {
        assert_eq!(
            out.len(),
            raw_len,
            "decoded size differs from the declared size"
        );
        assert!(
            out.capacity() <= raw_len.max(8),
            "allocated {} bytes for a {raw_len}-byte block",
            out.capacity()
        );
    }
    let mut dirty = vec![0xA5u8; 100];
    let second = codec.decompress(payload, raw_len, 0, &mut dirty);
    assert_eq!(
        first.is_ok(),
        second.is_ok(),
        "decoding is not deterministic"
    );
    if first.is_ok() {
        assert!(
            out == dirty,
            "output depends on the buffer's previous contents"
        );
    }
}

/// Compresses `data[1..]` with codec `id` at a level picked by `data[0]` (1–9) and asserts the
/// payload decodes back to the same bytes.
pub fn roundtrip_one(id: u8, data: &[u8]) {
    let Some((&lvl, raw)) = data.split_first() else {
        return;
    };
    let level = i32::from(lvl % 9) + 1;
    let codec = by_id(id).expect("registered codec");
    let mut payload = Vec::new();
    let params = codec
        .compress(raw, level, &mut payload)
        .expect("compression of in-memory bytes cannot fail");
    let mut out = Vec::new();
    codec
        .decompress(&payload, raw.len(), params, &mut out)
        .expect("own payload decodes");
    assert!(out == raw, "roundtrip changed the data");
}
