//! Replays fuzz inputs on stable `cargo test`: crashers found by `cargo +nightly fuzz run`
//! (fuzz/) are committed under tests/fuzz_regressions/<target>/ and must never panic again.
//! Each directory also holds a few inputs from the fuzz corpus that reach deep code paths.

use std::path::Path;

use yoz::entropy::binary::{BinDecoder, Context};
use yoz::entropy::multi::FreqTable;
use yoz::entropy::range::Decoder;
use yoz::image::{dct, DecodeLimits};

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|x| x != "md"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

/// Same body as fuzz/fuzz_targets/dct_decode.rs.
#[test]
fn dct_decode_regressions() {
    let limits = DecodeLimits {
        max_pixels: 1 << 16,
    };
    for (name, data) in inputs("dct_decode") {
        if let Ok(img) = dct::decode(&data, &limits) {
            assert_eq!(
                img.data.len(),
                img.width as usize * img.height as usize * img.channels as usize,
                "{name}"
            );
        }
    }
}

/// Same body as fuzz/fuzz_targets/range_decode.rs.
#[test]
fn range_decode_regressions() {
    for (_, data) in inputs("range_decode") {
        let Some((&shape, stream)) = data.split_first() else {
            continue;
        };
        let n = usize::from(shape % 40) + 1;
        let freqs: Vec<u32> = (0..n as u32)
            .map(|i| 1 + (i * 977 + u32::from(shape)) % 3000)
            .collect();
        let table = FreqTable::new(&freqs).unwrap();
        let mut dec = Decoder::new(stream);
        for _ in 0..4 * stream.len() + 8 {
            match table.decode(&mut dec) {
                Some(s) => assert!(s < n),
                None => break,
            }
            dec.decode_direct(3);
        }
        let mut ctx = [Context::default(); 4];
        let mut bin = BinDecoder::new(stream);
        for i in 0..8 * stream.len() + 8 {
            bin.get(&mut ctx[i % 4]);
        }
        let _ = bin.is_bad();
    }
}
