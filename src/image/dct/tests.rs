//! Roundtrip, edge-case and hostile-payload tests of the DCT codec.

use super::*;
use crate::image::metrics::psnr;
use crate::image::{DecodeLimits, Image};

/// A deterministic test picture: gradients, a hard edge, a little noise.
pub(crate) fn test_image(w: u32, h: u32, ch: u8) -> Image {
    let mut data = Vec::with_capacity((w * h * ch as u32) as usize);
    let mut x = 12345u32;
    for y in 0..h {
        for xx in 0..w {
            x = x.wrapping_mul(1664525).wrapping_add(1013904223);
            let noise = (x >> 28) as i32 - 8;
            let edge = if xx * 3 > w + y { 60 } else { 0 };
            let base = [
                (xx * 255 / w.max(1)) as i32,
                (y * 255 / h.max(1)) as i32,
                128 + edge - 30,
                255 - ((xx + y) * 2 % 256) as i32,
            ];
            for c in 0..ch as usize {
                let v = if c == 3 || (ch == 2 && c == 1) {
                    base[3]
                } else {
                    base[c] + edge + noise
                };
                data.push(v.clamp(0, 255) as u8);
            }
        }
    }
    Image::from_raw(w, h, ch, data).unwrap()
}

fn roundtrip(img: &Image, opts: &DctOptions) -> (Vec<u8>, Image) {
    let p = encode(img, opts).unwrap();
    let d = decode(&p, &DecodeLimits::default()).unwrap();
    assert_eq!(
        (d.width, d.height, d.channels),
        (img.width, img.height, img.channels)
    );
    (p, d)
}

#[test]
fn odd_sizes_roundtrip() {
    for (w, h) in [(1, 1), (17, 33), (4095, 1), (1, 40), (16, 16), (33, 17)] {
        for ch in 1..=4 {
            let img = test_image(w, h, ch);
            let (_, d) = roundtrip(&img, &DctOptions::default());
            let p = psnr(&img, &d).unwrap();
            assert!(p > 25.0, "{w}x{h}x{ch}: {p:.2} dB");
        }
    }
}

#[test]
fn alpha_is_lossless() {
    for ch in [2, 4] {
        let img = test_image(37, 21, ch);
        let (_, d) = roundtrip(&img, &DctOptions::default());
        let c = ch as usize;
        let a: Vec<u8> = img.data.chunks(c).map(|p| p[c - 1]).collect();
        let b: Vec<u8> = d.data.chunks(c).map(|p| p[c - 1]).collect();
        assert_eq!(a, b);
    }
}

#[test]
fn quality_is_monotone_and_444_works() {
    let img = test_image(64, 48, 3);
    let mut last = (0usize, 0f64);
    for q in [10, 50, 75, 90, 100] {
        for s in [
            SamplingChoice::S420,
            SamplingChoice::S444,
            SamplingChoice::Auto,
        ] {
            let (p, d) = roundtrip(
                &img,
                &DctOptions {
                    quality: q,
                    sampling: s,
                    ..Default::default()
                },
            );
            if s == SamplingChoice::S420 {
                let ps = psnr(&img, &d).unwrap();
                assert!(
                    p.len() > last.0 && ps > last.1,
                    "q{q}: {} bytes {ps:.2} dB",
                    p.len()
                );
                last = (p.len(), ps);
            }
        }
    }
}

#[test]
fn corrupted_payloads_are_errors_not_panics() {
    let img = test_image(40, 30, 3);
    let p = encode(&img, &DctOptions::default()).unwrap();
    // Every truncation and a flipped bit in every byte: an error (or, rarely for a flip in
    // padding bits, the same image), never a panic.
    for cut in 0..p.len() {
        assert!(decode(&p[..cut], &DecodeLimits::default()).is_err());
    }
    for i in 0..p.len() {
        let mut q = p.clone();
        q[i] ^= 0x10;
        if let Err(e) = decode(&q, &DecodeLimits::default()) {
            assert!(
                ["corrupt", "truncated", "limit"].contains(&e.class()),
                "{e}"
            );
        }
    }
}

#[test]
fn pixel_limit_is_enforced_before_allocation() {
    let img = test_image(100, 100, 1);
    let p = encode(&img, &DctOptions::default()).unwrap();
    let e = decode(&p, &DecodeLimits { max_pixels: 9999 }).unwrap_err();
    assert_eq!(e.class(), "limit");
    // A forged header claiming 2^32-1 x 2^32-1 pixels.
    let mut q = p.clone();
    q[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
    q[14..18].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        decode(&q, &DecodeLimits::default()).unwrap_err().class(),
        "limit"
    );
}
