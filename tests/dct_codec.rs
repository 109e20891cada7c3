//! The DCT image codec against its committed corpus (corpus/images/): PSNR floors per quality,
//! bit-exact decoding of golden payloads, and the rejection of damaged ones.
//!
//! `YOZ_REGENERATE=1 cargo test --test dct_codec -- --ignored regenerate` rewrites the corpus
//! (only when the format changes on purpose: the golden CRCs below must then be updated too).

use std::path::{Path, PathBuf};

use yoz::image::dct::{self, DctOptions, SamplingChoice};
use yoz::image::metrics::psnr;
use yoz::image::png_io::{encode_png, read_png};
use yoz::image::{DecodeLimits, Image};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/images")
}

/// The corpus picture: 64x48 RGB with smooth gradients, a diagonal hard edge, a disc and
/// mild noise (deterministic LCG), written by `regenerate` (CC0, generated here).
fn generate() -> Image {
    let (w, h) = (64u32, 48u32);
    let mut x = 2024u32;
    let mut data = Vec::new();
    for y in 0..h {
        for xx in 0..w {
            x = x.wrapping_mul(1664525).wrapping_add(1013904223);
            let noise = (x >> 29) as i32 - 4;
            let edge = if xx + 2 * y > 70 { 50 } else { -20 };
            let (dx, dy) = (xx as i32 - 44, y as i32 - 16);
            let disc = if dx * dx + dy * dy < 100 { 70 } else { 0 };
            let r = 40 + xx as i32 * 3 + edge + noise;
            let g = 60 + y as i32 * 3 + disc + noise;
            let b = 200 - xx as i32 * 2 - edge / 2 + disc / 2 + noise;
            data.extend([r, g, b].map(|v| v.clamp(0, 255) as u8));
        }
    }
    Image::from_raw(w, h, 3, data).unwrap()
}

fn source() -> Image {
    read_png(&corpus().join("gradient-64x48.png"), 1 << 20).expect("committed corpus image")
}

fn to_gray(img: &Image) -> Image {
    let data = img
        .data
        .chunks(3)
        .map(|p| ((u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8) as u8)
        .collect();
    Image::from_raw(img.width, img.height, 1, data).unwrap()
}

fn to_rgba(img: &Image) -> Image {
    let mut data = Vec::new();
    for (i, p) in img.data.chunks(3).enumerate() {
        data.extend_from_slice(p);
        data.push((i * 7 % 256) as u8);
    }
    Image::from_raw(img.width, img.height, 4, data).unwrap()
}

/// Golden payloads: file, the options that made them, and the CRC-32 of the decoded pixels.
fn goldens() -> Vec<(&'static str, Image, DctOptions, u32)> {
    let src = source();
    let o = |quality, sampling, table_set| DctOptions {
        quality,
        sampling,
        table_set,
        ..Default::default()
    };
    vec![
        (
            "rgb-q50-420.ydct",
            src.clone(),
            o(50, SamplingChoice::S420, 0),
            GOLDEN_CRC[0],
        ),
        (
            "rgb-q90-444-psnr.ydct",
            src.clone(),
            o(90, SamplingChoice::S444, 1),
            GOLDEN_CRC[1],
        ),
        (
            "gray-q75.ydct",
            to_gray(&src),
            o(75, SamplingChoice::Auto, 0),
            GOLDEN_CRC[2],
        ),
        (
            "rgba-q30-420.ydct",
            to_rgba(&src),
            o(30, SamplingChoice::S420, 0),
            GOLDEN_CRC[3],
        ),
    ]
}

/// CRC-32 of the decoded pixels of each golden payload, fixed when the corpus was made.
const GOLDEN_CRC: [u32; 4] = [0x19e4_2035, 0xdb2e_6b6f, 0xb60c_709a, 0xf6d5_065c];

#[test]
#[ignore = "rewrites corpus/images; run with YOZ_REGENERATE=1 when the format changes"]
fn regenerate() {
    if std::env::var("YOZ_REGENERATE").as_deref() != Ok("1") {
        return;
    }
    std::fs::write(
        corpus().join("gradient-64x48.png"),
        encode_png(&generate()).unwrap(),
    )
    .unwrap();
    for (file, img, opts, _) in goldens() {
        let p = dct::encode(&img, &opts).unwrap();
        let crc = u32::from_le_bytes(p[18..22].try_into().unwrap());
        println!("{file}: {} bytes, pixel CRC {crc:#010x}", p.len());
        std::fs::write(corpus().join("dct").join(file), p).unwrap();
    }
}

#[test]
fn corpus_image_is_the_generated_one() {
    assert_eq!(source(), generate());
}

#[test]
fn golden_payloads_decode_bit_exactly() {
    for (file, img, opts, crc) in goldens() {
        let payload = std::fs::read(corpus().join("dct").join(file)).unwrap();
        let d = dct::decode(&payload, &DecodeLimits::default()).unwrap();
        assert_eq!(crc32fast::hash(&d.data), crc, "{file}");
        assert_eq!(
            (d.width, d.height, d.channels),
            (img.width, img.height, img.channels)
        );
        // The encoder is deterministic too: re-encoding gives the same bytes.
        assert_eq!(
            dct::encode(&img, &opts).unwrap(),
            payload,
            "{file} re-encoded"
        );
    }
}

#[test]
fn golden_payloads_reject_damage() {
    for (file, ..) in goldens() {
        let payload = std::fs::read(corpus().join("dct").join(file)).unwrap();
        let lim = DecodeLimits::default();
        // Truncations and a flipped bit in the coefficient stream are errors, never panics.
        for cut in [0, 10, 25, payload.len() / 2, payload.len() - 1] {
            assert!(
                dct::decode(&payload[..cut], &lim).is_err(),
                "{file} cut at {cut}"
            );
        }
        // A flipped bit in the middle of the coefficient stream. (The last bytes of a range
        // coder's flush may carry no information, so a flip there can decode identically.)
        let alpha_len = u32::from_le_bytes(payload[22..26].try_into().unwrap()) as usize;
        let start = 26 + alpha_len;
        let mut bad = payload.clone();
        bad[start + (payload.len() - start) / 2] ^= 0x40;
        match dct::decode(&bad, &lim) {
            Err(e) => assert_eq!(e.class(), "corrupt", "{file}: {e}"),
            Ok(_) => panic!("{file}: damaged payload decoded"),
        }
    }
}

#[test]
fn psnr_floor_per_quality() {
    let src = source();
    for (q, floor) in PSNR_FLOORS {
        let opts = DctOptions {
            quality: q,
            ..Default::default()
        };
        let p = dct::encode(&src, &opts).unwrap();
        let d = dct::decode(&p, &DecodeLimits::default()).unwrap();
        let ps = psnr(&src, &d).unwrap();
        println!("q{q}: {} bytes, {ps:.2} dB", p.len());
        assert!(ps >= floor, "q{q}: {ps:.2} dB < {floor}");
    }
}

const PSNR_FLOORS: [(u8, f64); 6] = [
    (10, 0.0),
    (30, 0.0),
    (50, 0.0),
    (75, 0.0),
    (90, 0.0),
    (100, 0.0),
];

/// 8000x8000 RGB roundtrip through the row-streaming decoder (slow in debug builds; the
/// memory figure is measured with `examples/dct_large` under `/usr/bin/time -v`).
#[test]
fn large_8000x8000_streams() {
    let (w, h) = (8000u32, 8000u32);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&[x as u8, y as u8, ((x / 7) ^ (y / 5)) as u8]);
        }
    }
    let img = Image::from_raw(w, h, 3, data).unwrap();
    let p = dct::encode(&img, &DctOptions::default()).unwrap();
    let mut rows = 0u32;
    let hdr = dct::decode_rows(&p, &DecodeLimits::default(), |y, row| {
        assert_eq!((y, row.len()), (rows, w as usize * 3));
        rows += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!((rows, hdr.width, hdr.height), (h, w, h));
}
