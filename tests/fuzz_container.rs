//! Replays committed fuzz inputs (crashers and seeds) for the container targets under plain
//! `cargo test`, through the same bodies the fuzzers run (`yoz::fuzzing`).

use std::fs;
use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut n = 0;
    for e in fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            f(&fs::read(&p).unwrap());
            n += 1;
        }
    }
    n
}

#[test]
fn archive_mmap_inputs() {
    assert!(replay("archive_mmap", yoz::fuzzing::archive_random_access) > 0);
    // Every conformance vector is also a fuzz seed.
    for sub in ["valid", "invalid"] {
        for e in fs::read_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("corpus")
                .join(sub),
        )
        .unwrap()
        {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yoz") {
                let data = fs::read(&p).unwrap();
                yoz::fuzzing::archive_random_access(&data);
                yoz::fuzzing::archive_stream(&data);
            }
        }
    }
}

#[test]
fn archive_stream_inputs() {
    assert!(replay("archive_stream", yoz::fuzzing::archive_stream) > 0);
}

#[test]
fn zstd_decode_inputs() {
    assert!(
        replay("zstd_decode", |d| yoz::fuzzing::codec_decode(
            yoz::codec::id::ZSTD,
            d
        )) > 0
    );
}

#[test]
fn zstd_dict_decode_inputs() {
    assert!(replay("zstd_dict_decode", yoz::fuzzing::zstd_dict_decode) > 0);
    // The raw-content seed is a real frame made by the zstd CLI with that dictionary: it
    // reaches the decoding path, not only the error paths.
    let seed = fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz_regressions/zstd_dict_decode/seed-raw-dict"),
    )
    .unwrap();
    let n = u16::from_le_bytes([seed[0], seed[1]]) as usize;
    let d = yoz::codec::dict::ZstdDict::new(seed[2..2 + n].to_vec()).unwrap();
    let rest = &seed[2 + n..];
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], 0]) as usize;
    let mut out = Vec::new();
    d.decompress(&rest[3..], len, &mut out).unwrap();
    assert!(out.starts_with(b"/* SPDX-License-Identifier: MIT */"));
}

#[test]
fn roundtrip_inputs() {
    assert!(replay("roundtrip", yoz::fuzzing::roundtrip) > 0);
}
