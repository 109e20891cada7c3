//! The portable kernels (machines without AVX2/FMA) compute what the AVX2 ones do. A separate
//! test binary, since the switch is process-wide.

use yoz_train::fused;
use yoz_train::train::{Config, Trainer};

fn grads() -> (Vec<f32>, Vec<f32>, Vec<f32>, f64) {
    let (w, h, c) = (37, 21, 3);
    let px: Vec<u8> = (0..w * h * c).map(|i| ((i * 29) % 253) as u8).collect();
    let mut cfg = Config::new(0.01, 50);
    cfg.threads = 2;
    let mut t = Trainer::new(w, h, c, &px, cfg);
    for _ in 0..20 {
        t.step(false);
    }
    t.gradients()
}

#[test]
fn portable_kernels_match_avx2() {
    fused::force_portable(false);
    let a = grads();
    fused::force_portable(true);
    let b = grads();
    fused::force_portable(false);
    assert!(
        (a.3 - b.3).abs() <= 1e-3 * a.3.abs(),
        "loss {} vs {}",
        a.3,
        b.3
    );
    let scale = |v: &[f32]| v.iter().fold(0f32, |m, x| m.max(x.abs()));
    for (x, y) in [(&a.0, &b.0), (&a.1, &b.1), (&a.2, &b.2)] {
        let s = scale(x);
        for (u, v) in x.iter().zip(y.iter()) {
            assert!((u - v).abs() <= 2e-2 * s, "{u} vs {v} (scale {s})");
        }
    }
}
