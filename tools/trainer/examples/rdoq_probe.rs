//! Applies the weight RDOQ (`yoz_train::rdoq`) to trained payloads and prints the real loss
//! before and after: `cargo run --release -p yoz-train --example rdoq_probe -- Q PNG PAYLOAD...`.

use std::time::Instant;
use yoz_train::cli::quality_to_lambda;
use yoz_train::coded::{coded_size, real_psnr};
use yoz_train::fused::Geometry;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let lambda = f64::from(quality_to_lambda(a[0].parse()?));
    let png = std::fs::read(&a[1])?;
    let img = yoz::image::png_io::decode_png(&png, &a[1], 1 << 24)?;
    for p in &a[2..] {
        let n = yoz::neural::payload::decode(&std::fs::read(p)?, 1 << 24)?;
        let (w, h, c) = (n.width as usize, n.height as usize, n.channels as usize);
        assert_eq!(img.channels as usize, c);
        let g = Geometry::new(w, h, c);
        let px = (w * h) as f64;
        let measure = |c: &yoz_train::coded::Coded| -> (f64, f64, f64) {
            let (psnr, mse) = real_psnr(&g, c, &img.data);
            let bpp = coded_size(c).unwrap() as f64 * 8.0 / px;
            (psnr, bpp, mse + lambda * bpp)
        };
        let (p0, b0, l0) = measure(&n);
        let t = Instant::now();
        let (r, moved) =
            yoz_train::rdoq::rdoq(&n, &img.data, lambda, yoz_train::rdoq::RDOQ_PASSES, 2);
        let secs = t.elapsed().as_secs_f64();
        let (p1, b1, l1) = measure(&r);
        println!(
            "{p}: {p0:.4} dB {b0:.5} bpp -> {p1:.4} dB {b1:.5} bpp, loss {:+.3} %, moved {moved}, {secs:.1} s",
            (l1 / l0 - 1.0) * 100.0
        );
    }
    Ok(())
}
