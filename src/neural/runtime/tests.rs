use super::*;
use crate::neural::arch::syn_param_count;
use crate::neural::synth;

#[test]
fn library_candidates_are_versioned_core_libraries_only() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "libonnxruntime.so.1.9.0",
        "libonnxruntime.so.1.31.1",
        "libonnxruntime_providers_shared.so",
        "libonnxruntime.so.1.31.1.bak",
        "libonnxruntime.so",
        "onnxruntime.dll",
    ] {
        std::fs::write(dir.path().join(name), b"").unwrap();
    }
    let names: Vec<String> = libs_in(dir.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "libonnxruntime.so.1.31.1",
            "libonnxruntime.so.1.9.0",
            "libonnxruntime.so"
        ]
    );
    assert!(libs_in(&dir.path().join("absent")).is_empty());
}

/// ONNX's own statement of half-pixel bilinear Resize (onnx/reference/ops/op_resize.py, and
/// onnxruntime's UpsampleBilinear): `x_original = (x + 0.5) / scale - 0.5` with the float
/// `scale = out / in`, and the four-tap weighted sum. `synth::upsample` computes
/// `(x + 0.5) * in / out - 0.5`: equal in exact arithmetic, an ulp or so apart in f32.
fn onnx_upsample(grid: &[f32], gw: usize, gh: usize, w: usize, h: usize) -> Vec<f32> {
    let taps = |n_out: usize, n_in: usize| -> Vec<(usize, usize, f32)> {
        let scale = n_out as f32 / n_in as f32;
        (0..n_out)
            .map(|x| {
                let s = ((x as f32 + 0.5) / scale - 0.5).clamp(0.0, (n_in - 1) as f32);
                let x0 = s as usize;
                let x1 = (x0 + 1).min(n_in - 1);
                (x0, x1, s - x0 as f32)
            })
            .collect()
    };
    let tx = taps(w, gw);
    let ty = taps(h, gh);
    let mut out = vec![0f32; h * w];
    for (y, &(y0, y1, ty)) in ty.iter().enumerate() {
        for (x, &(x0, x1, tx)) in tx.iter().enumerate() {
            let (dx1, dx2, dy1, dy2) = (tx, 1.0 - tx, ty, 1.0 - ty);
            out[y * w + x] = dx2 * dy2 * grid[y0 * gw + x0]
                + dx1 * dy2 * grid[y0 * gw + x1]
                + dx2 * dy1 * grid[y1 * gw + x0]
                + dx1 * dy1 * grid[y1 * gw + x1];
        }
    }
    out
}

/// ONNX Resize (linear, half_pixel, sizes) against `synth::upsample`, one grid at a time:
/// the parameters route grid `k` alone to the output (non-negative latents pass the ReLUs).
#[test]
fn resize_matches_reference_upsampling() {
    let (w, h, c) = (37, 23, 1);
    let dims = grid_dims(w, h);
    let l = syn_layout(24, c);
    let mut x = 12345u32;
    let grids: Vec<Vec<f32>> = dims
        .iter()
        .map(|&(gw, gh)| {
            (0..gw * gh)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    ((x >> 16) % 201) as f32
                })
                .collect()
        })
        .collect();
    for k in 0..GRIDS {
        let mut p = vec![0f32; syn_param_count(24, c)];
        p[l[0].offset + k] = 1.0; // l1.w[0][k]
        p[l[2].offset] = 1.0; // l2.w[0][0]
        p[l[4].offset] = 1.0; // l3.w[0][0]
        let (got, _) = synthesize(&grids, &p, c, w, h, Device::Cpu, 1)
            .expect("ONNX Runtime (run ./tools/setup.sh)");
        let want = synth::upsample(&grids[k], dims[k].0, dims[k].1, w, h);
        let onnx = onnx_upsample(&grids[k], dims[k].0, dims[k].1, w, h);
        let d_onnx = got
            .iter()
            .zip(&onnx)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let d = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        // Values up to 200 (ulp 1.5e-5): ONNX's own formula within 2 ulps; the reference's
        // coordinates differ by about an ulp, times neighbour differences of up to 200.
        assert!(d_onnx <= 3.1e-5, "grid {k}: {d_onnx} from ONNX's formula");
        assert!(d <= 4e-4, "grid {k}: {d} from synth::upsample");
    }
}

#[test]
fn version_of_the_loaded_library() {
    check().expect("ONNX Runtime (run ./tools/setup.sh)");
    let rt = runtime().unwrap();
    let v = library_version(&rt.path).expect("a version string");
    assert!(v.starts_with("1."), "{v}");
}
