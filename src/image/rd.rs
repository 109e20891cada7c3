//! Rate–distortion summaries for the image benches: Bjøntegaard delta rate and PSNR at a given
//! rate, over `(bpp, psnr)` points. Shared by the DCT and neural benches so both report the same
//! numbers the same way.

/// Least-squares cubic fit y = c0 + c1 x + c2 x² + c3 x³ (x centred by the caller).
fn cubic_fit(xs: &[f64], ys: &[f64]) -> Option<[f64; 4]> {
    if xs.len() < 4 {
        return None;
    }
    let mut a = [[0f64; 5]; 4];
    for (&x, &y) in xs.iter().zip(ys) {
        let p = [1.0, x, x * x, x * x * x];
        for i in 0..4 {
            for j in 0..4 {
                a[i][j] += p[i] * p[j];
            }
            a[i][4] += p[i] * y;
        }
    }
    for c in 0..4 {
        let piv = (c..4).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        a.swap(c, piv);
        if a[c][c].abs() < 1e-12 {
            return None;
        }
        for r in 0..4 {
            if r != c {
                let f = a[r][c] / a[c][c];
                let pivot_row = a[c];
                for (x, p) in a[r].iter_mut().zip(pivot_row).skip(c) {
                    *x -= f * p;
                }
            }
        }
    }
    Some(std::array::from_fn(|i| a[i][4] / a[i][i]))
}

fn integral(c: &[f64; 4], lo: f64, hi: f64) -> f64 {
    let f =
        |x: f64| c[0] * x + c[1] * x * x / 2.0 + c[2] * x.powi(3) / 3.0 + c[3] * x.powi(4) / 4.0;
    f(hi) - f(lo)
}

/// Bjøntegaard delta rate (percent) of `test` against `anchor`, points `(bpp, psnr)`:
/// ln(bpp) fitted as a cubic in PSNR over the points with bpp in `range`, averaged over the
/// common PSNR interval. Negative = smaller at equal PSNR. `None` with fewer than 4 points or
/// no overlap.
pub fn bd_rate(
    anchor: &[(f64, f64)],
    test: &[(f64, f64)],
    range: std::ops::RangeInclusive<f64>,
) -> Option<f64> {
    let sel = |v: &[(f64, f64)]| -> (Vec<f64>, Vec<f64>) {
        v.iter()
            .filter(|p| range.contains(&p.0))
            .map(|p| (p.1, p.0.ln()))
            .unzip()
    };
    let (da, ra) = sel(anchor);
    let (dt, rt) = sel(test);
    let max = |v: &[f64]| v.iter().cloned().fold(f64::MIN, f64::max);
    let min = |v: &[f64]| v.iter().cloned().fold(f64::MAX, f64::min);
    let (lo, hi) = (min(&da).max(min(&dt)), max(&da).min(max(&dt)));
    if (hi - lo).is_nan() || hi <= lo {
        return None;
    }
    let centre = (lo + hi) / 2.0;
    let ca = cubic_fit(&da.iter().map(|d| d - centre).collect::<Vec<_>>(), &ra)?;
    let ct = cubic_fit(&dt.iter().map(|d| d - centre).collect::<Vec<_>>(), &rt)?;
    let diff = (integral(&ct, lo - centre, hi - centre) - integral(&ca, lo - centre, hi - centre))
        / (hi - lo);
    Some((diff.exp() - 1.0) * 100.0)
}

/// PSNR at `bpp` by linear interpolation in ln(bpp) between neighbouring `(bpp, psnr)` points.
pub fn psnr_at(v: &[(f64, f64)], bpp: f64) -> Option<f64> {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.0.total_cmp(&b.0));
    s.windows(2)
        .find(|w| w[0].0 <= bpp && bpp <= w[1].0)
        .map(|w| {
            let t = (bpp.ln() - w[0].0.ln()) / (w[1].0.ln() - w[0].0.ln());
            w[0].1 + t * (w[1].1 - w[0].1)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_the_rate_is_minus_fifty() {
        let a: Vec<(f64, f64)> = (1..=6)
            .map(|i| (0.25 * i as f64, 30.0 + 2.0 * i as f64))
            .collect();
        let t: Vec<(f64, f64)> = a.iter().map(|&(b, p)| (b / 2.0, p)).collect();
        let d = bd_rate(&a, &t, 0.0..=10.0).unwrap();
        assert!((d + 50.0).abs() < 1e-6, "{d}");
        assert!(
            (psnr_at(&a, 0.375).unwrap() - (32.0 + 2.0 * (1.5f64.ln() / 2f64.ln()))).abs() < 1e-9
        );
        assert_eq!(bd_rate(&a[..3], &t, 0.0..=10.0), None);
    }
}
