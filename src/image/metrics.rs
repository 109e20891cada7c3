//! Distortion metrics for the RD bench and the tests.

use super::Image;

/// Mean squared error over the colour channels (alpha excluded), averaged over channels, or
/// `None` if the shapes differ. For gray images this is the gray MSE.
pub fn mse(a: &Image, b: &Image) -> Option<f64> {
    if a.width != b.width || a.height != b.height || a.channels != b.channels {
        return None;
    }
    let ch = a.channels as usize;
    let colour = if a.has_alpha() { ch - 1 } else { ch };
    let mut sum = 0u64;
    for (pa, pb) in a.data.chunks_exact(ch).zip(b.data.chunks_exact(ch)) {
        for c in 0..colour {
            let d = i64::from(pa[c]) - i64::from(pb[c]);
            sum += (d * d) as u64;
        }
    }
    let n = a.pixels() as f64 * colour as f64;
    Some(if n == 0.0 { 0.0 } else { sum as f64 / n })
}

/// PSNR in dB for 8-bit data: 10·log10(255² / MSE), with MSE as in [`mse`]; `f64::INFINITY`
/// for identical images.
pub fn psnr(a: &Image, b: &Image) -> Option<f64> {
    let m = mse(a, b)?;
    Some(if m == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / m).log10()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_of_known_error() {
        let a = Image::from_raw(2, 1, 3, vec![0, 0, 0, 10, 10, 10]).unwrap();
        let b = Image::from_raw(2, 1, 3, vec![1, 1, 1, 9, 9, 9]).unwrap();
        assert!((psnr(&a, &b).unwrap() - 48.1308).abs() < 1e-3);
        assert_eq!(psnr(&a, &a).unwrap(), f64::INFINITY);
    }
}
