//! The neural image codec end to end through the CLI: packing from a bundle, the 1.1 header,
//! unpack / cat / verify --decode against the reference synthesis (within the spec's 1-code-value
//! tolerance), lossless fallback, and clear errors for missing components.

mod common;

use common::{class_of, run, yoz};
use std::fs;
use yoz::image::png_io::{decode_png, encode_png};
use yoz::image::Image;
use yoz::neural::arch::{grid_dims, syn_param_count, ARM_PARAMS, SYN_TENSORS};
use yoz::neural::arm::{ArmQ, TableSet};
use yoz::neural::bundle::BundleWriter;
use yoz::neural::payload::{self, NeuralImage};

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

fn lcg(seed: &mut u32) -> u32 {
    *seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
    *seed >> 8
}

/// An untrained but well-formed neural image whose output varies across the picture.
fn neural_image(w: u32, h: u32, channels: u8, alpha: bool, mut seed: u32) -> NeuralImage {
    let n = syn_param_count(24, channels as usize);
    NeuralImage {
        arch: yoz::neural::arch::ARCH_V1,
        width: w,
        height: h,
        channels,
        syn: (0..n).map(|_| (lcg(&mut seed) % 61) as i32 - 30).collect(),
        steps: [0.02; SYN_TENSORS],
        arm: ArmQ::from_float(
            yoz::neural::arch::ARCH_V1,
            &(0..ARM_PARAMS)
                .map(|_| (lcg(&mut seed) % 100) as f32 / 100.0 - 0.5)
                .collect::<Vec<_>>(),
        ),
        latents: grid_dims(w as usize, h as usize)
            .iter()
            .map(|&(a, b)| {
                (0..a * b)
                    .map(|_| (lcg(&mut seed) % 9) as i32 - 4)
                    .collect()
            })
            .collect(),
        filter: None,
        residual: None,
        alpha: alpha.then(|| (0..w * h).map(|i| (i * 5 % 256) as u8).collect()),
        tables: TableSet::Set1,
    }
}

/// The reference decode: plain-loop synthesis (spec §4), pixels interleaved with alpha.
fn reference(n: &NeuralImage) -> Image {
    let planes = yoz::neural::synth::synthesize(
        &n.grids_f32(),
        &n.syn_params_f32(),
        n.channels as usize,
        n.width as usize,
        n.height as usize,
    );
    yoz::neural::assemble_image(n, &planes)
}

fn png_of(w: u32, h: u32, c: u8, seed: u32) -> Vec<u8> {
    let mut img = Image::new(w, h, c).unwrap();
    let mut x = seed;
    for v in img.data.iter_mut() {
        *v = lcg(&mut x) as u8;
    }
    encode_png(&img).unwrap()
}

fn within_one(a: &Image, b: &Image) {
    assert_eq!(
        (a.width, a.height, a.channels),
        (b.width, b.height, b.channels)
    );
    let worst = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| (x as i32 - y as i32).abs())
        .max()
        .unwrap();
    assert!(worst <= 1, "pixels differ by {worst} code values");
}

#[test]
fn bundle_pack_unpack_cat_verify() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(src.join("pics")).unwrap();
    let cases = [
        (37u32, 23u32, 3u8, false),
        (16, 9, 1, true),
        (20, 12, 3, true),
    ];
    let bundle = t.path().join("bundle");
    let mut bw = BundleWriter::create(&bundle, false).unwrap();
    let mut want = Vec::new();
    for (i, &(w, h, c, a)) in cases.iter().enumerate() {
        let png = png_of(w, h, c + u8::from(a), i as u32 + 1);
        let name = format!("pics/{i}.png");
        fs::write(src.join(&name), &png).unwrap();
        let n = neural_image(w, h, c, a, 40 + i as u32);
        bw.add(&png, &name, &payload::encode(&n).unwrap()).unwrap();
        want.push((name, reference(&n)));
    }
    bw.finish().unwrap();
    // One PNG the bundle does not know: stored losslessly.
    let other = png_of(8, 8, 3, 99);
    fs::write(src.join("other.png"), &other).unwrap();

    let ar = t.path().join("a.yoz");
    let out = run(&["pack", "--from-bundle", s(&bundle), "-o", s(&ar), s(&src)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("other.png: stored losslessly"));
    let bytes = fs::read(&ar).unwrap();
    assert_eq!(
        (bytes[9], bytes[11]),
        (yoz::container::format::VERSION_MINOR, 1),
        "a neural archive needs reader 1.1"
    );

    let list = String::from_utf8(run(&["list", "-l", s(&ar)]).stdout).unwrap();
    assert!(
        list.contains("src/pics/0.png [lossy neural 37x23 rgb"),
        "{list}"
    );
    assert!(
        list.contains("src/pics/1.png [lossy neural 16x9 gray+alpha"),
        "{list}"
    );
    let info = String::from_utf8(run(&["info", s(&ar)]).stdout).unwrap();
    assert!(info.contains("needs reader 1.1"), "{info}");
    assert!(
        info.contains("lossy       neural src/pics/2.png 20x12"),
        "{info}"
    );

    let dest = t.path().join("out");
    let out = run(&["unpack", "-C", s(&dest), s(&ar)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, img) in &want {
        let got = decode_png(
            &fs::read(dest.join("src").join(name)).unwrap(),
            "x",
            1 << 20,
        )
        .unwrap();
        within_one(&got, img);
        // Both CPU engines: the built-in kernels (default) and ONNX Runtime.
        for device in ["cpu", "ort-cpu"] {
            let cat = run(&[
                "cat",
                "--device",
                device,
                "-v",
                s(&ar),
                &format!("src/{name}"),
            ]);
            assert!(
                cat.status.success(),
                "{device}: {}",
                String::from_utf8_lossy(&cat.stderr)
            );
            assert!(
                String::from_utf8_lossy(&cat.stderr).contains(&format!(" on {device} in ")),
                "{}",
                String::from_utf8_lossy(&cat.stderr)
            );
            within_one(&decode_png(&cat.stdout, "x", 1 << 20).unwrap(), img);
        }
    }
    assert_eq!(fs::read(dest.join("src/other.png")).unwrap(), other);

    // From a pipe too (the runtime is resolved from the header before anything is written).
    let dest2 = t.path().join("out2");
    let out = yoz()
        .args(["unpack", "-C", s(&dest2), "-"])
        .stdin(fs::File::open(&ar).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (name, img) = &want[0];
    within_one(
        &decode_png(
            &fs::read(dest2.join("src").join(name)).unwrap(),
            "x",
            1 << 20,
        )
        .unwrap(),
        img,
    );

    let out = run(&["verify", "--decode", s(&ar)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 images decoded"));
}

/// Packs one PNG from a one-entry bundle holding `payload`; returns the
/// error class and whether an archive was left behind.
fn pack_one_from_bundle(png: &[u8], payload: &[u8]) -> (Option<String>, bool) {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("p.png"), png).unwrap();
    let bundle = t.path().join("b");
    let mut bw = BundleWriter::create(&bundle, false).unwrap();
    bw.add(png, "p.png", payload).unwrap();
    bw.finish().unwrap();
    let ar = t.path().join("a.yoz");
    let out = run(&[
        "pack",
        "--from-bundle",
        s(&bundle),
        "-o",
        s(&ar),
        s(&t.path().join("p.png")),
    ]);
    (class_of(&out), ar.exists())
}

#[test]
fn bundle_payload_of_the_wrong_shape_is_refused() {
    let payload = payload::encode(&neural_image(11, 10, 3, false, 1)).unwrap();
    let (class, left) = pack_one_from_bundle(&png_of(10, 10, 3, 5), &payload);
    assert_eq!(class.as_deref(), Some("size-mismatch"));
    assert!(!left, "no archive is left behind");
}

#[test]
fn damaged_bundle_payload_is_refused_at_pack() {
    let mut p = payload::encode(&neural_image(12, 10, 3, false, 1)).unwrap();
    // The latent stream cut in half, lengths kept consistent: the header still matches the PNG.
    let lat = u32::from_le_bytes(p[20..24].try_into().unwrap());
    p[20..24].copy_from_slice(&(lat - lat / 2).to_le_bytes());
    p.truncate(p.len() - (lat / 2) as usize);
    let (class, left) = pack_one_from_bundle(&png_of(12, 10, 3, 5), &p);
    assert_eq!(class.as_deref(), Some("corrupt"));
    assert!(!left);
}

/// PNGs the neural codec does not take never reach the trainer: stored losslessly with the
/// reason, and the pack succeeds (here without any trainer at all).
#[test]
fn untrainable_pngs_are_stored_losslessly() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let mut broken = yoz::image::entry::PNG_SIGNATURE.to_vec();
    broken.extend_from_slice(b"not really a png");
    fs::write(src.join("broken.png"), &broken).unwrap();
    // A 16-bit gray PNG.
    let mut sixteen = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut sixteen, 4, 3);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Sixteen);
        enc.write_header()
            .unwrap()
            .write_image_data(&[7u8; 24])
            .unwrap();
    }
    fs::write(src.join("deep.png"), &sixteen).unwrap();
    let ar = t.path().join("a.yoz");
    let out = yoz()
        .env("YOZ_TRAIN", t.path().join("no-such-trainer"))
        .args(["pack", "--image-codec", "neural", "-o", s(&ar), s(&src)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("broken.png: stored losslessly"), "{err}");
    assert!(err.contains("deep.png: stored losslessly"), "{err}");
    let dest = t.path().join("out");
    assert!(run(&["unpack", "-C", s(&dest), s(&ar)]).status.success());
    assert_eq!(fs::read(dest.join("src/broken.png")).unwrap(), broken);
    assert_eq!(fs::read(dest.join("src/deep.png")).unwrap(), sixteen);
}

/// `pack --neural-width 32 --preset fast` hands the trainer `--hidden 32` and the preset (a
/// stand-in trainer records its arguments and fails), and a failed training leaves no archive.
#[cfg(unix)]
#[test]
fn pack_passes_the_width_and_preset_to_the_trainer() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("p.png"), png_of(8, 8, 3, 1)).unwrap();
    let args = t.path().join("args.txt");
    let fake = t.path().join("fake-train");
    fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$@\" > '{}'\nexit 3\n", args.display()),
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let ar = t.path().join("a.yoz");
    for (width, want) in [(Some("32"), Some("--hidden 32")), (None, None)] {
        let mut cmd = vec!["pack", "--image-codec", "neural", "--preset", "fast"];
        if let Some(w) = width {
            cmd.extend(["--neural-width", w]);
        }
        let p = t.path().join("p.png");
        cmd.extend(["-o", s(&ar), s(&p)]);
        let out = yoz().env("YOZ_TRAIN", &fake).args(&cmd).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("fake-train failed"), "{err}");
        assert!(!ar.exists());
        let got = fs::read_to_string(&args).unwrap();
        assert!(got.contains("--preset fast"), "{got}");
        match want {
            Some(w) => assert!(got.contains(w), "{got}"),
            None => assert!(!got.contains("--hidden"), "{got}"),
        }
    }
}

#[test]
fn missing_trainer_is_a_clear_error() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("p.png"), png_of(8, 8, 3, 1)).unwrap();
    let ar = t.path().join("a.yoz");
    let out = yoz()
        .env("YOZ_TRAIN", t.path().join("no-such-trainer"))
        .args([
            "pack",
            "--image-codec",
            "neural",
            "-o",
            s(&ar),
            s(&t.path().join("p.png")),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cargo build --release"), "{err}");
    assert!(!ar.exists());
}

#[test]
fn usage_errors() {
    for args in [
        vec!["pack", "--lambda", "0.01", "-o", "x.yoz", "."],
        // A neural-only option without the neural codec is refused, not ignored.
        vec!["pack", "--preset", "slow", "-o", "x.yoz", "."],
        vec![
            "pack",
            "--image-codec",
            "dct",
            "--preset",
            "fast",
            "-o",
            "x.yoz",
            ".",
        ],
        vec![
            "pack",
            "--image-codec",
            "dct",
            "--seed",
            "3",
            "-o",
            "x.yoz",
            ".",
        ],
        vec![
            "pack",
            "--image-codec",
            "dct",
            "--lambda",
            "0.01",
            "-o",
            "x.yoz",
            ".",
        ],
        vec![
            "pack",
            "--image-codec",
            "dct",
            "--from-bundle",
            "b",
            "-o",
            "x.yoz",
            ".",
        ],
        vec![
            "pack",
            "--image-codec",
            "neural",
            "--lambda",
            "-1",
            "-o",
            "x.yoz",
            ".",
        ],
        vec![
            "pack",
            "--image-codec",
            "neural",
            "--preset",
            "turbo",
            "-o",
            "x.yoz",
            ".",
        ],
        // The width is 24 or 32, only for the neural codec, and not for a bundle (its payloads
        // have theirs).
        vec![
            "pack",
            "--image-codec",
            "neural",
            "--neural-width",
            "30",
            "-o",
            "x.yoz",
            ".",
        ],
        vec!["pack", "--neural-width", "32", "-o", "x.yoz", "."],
        vec![
            "pack",
            "--image-codec",
            "dct",
            "--neural-width",
            "32",
            "-o",
            "x.yoz",
            ".",
        ],
        vec![
            "pack",
            "--from-bundle",
            "b",
            "--neural-width",
            "32",
            "-o",
            "x.yoz",
            ".",
        ],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// The whole path the issue names: `yoz pack --image-codec neural` runs the real trainer (built
/// beside `yoz` by the workspace), then unpack decodes through ONNX Runtime.
#[test]
fn train_tiny_pack_unpack() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    // A smooth picture with an edge, and an RGBA one whose alpha must come back exactly.
    let mut img = Image::new(40, 28, 4).unwrap();
    for y in 0..28usize {
        for x in 0..40usize {
            let i = (y * 40 + x) * 4;
            img.data[i] = (x * 6) as u8;
            img.data[i + 1] = (y * 9) as u8;
            img.data[i + 2] = if x > 20 { 200 } else { 40 };
            img.data[i + 3] = ((x * 7 + y * 3) % 256) as u8;
        }
    }
    fs::write(src.join("a.png"), encode_png(&img).unwrap()).unwrap();
    let ar = t.path().join("a.yoz");
    let out = run(&[
        "pack",
        "--image-codec",
        "neural",
        "--preset",
        "fast",
        "--quality",
        "90",
        "--seed",
        "1",
        "-j",
        "2",
        "-o",
        s(&ar),
        s(&src),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = String::from_utf8(run(&["info", s(&ar)]).stdout).unwrap();
    assert!(
        info.contains("lossy       neural src/a.png 40x28"),
        "{info}"
    );
    let dest = t.path().join("out");
    let out = run(&["unpack", "-v", "-C", s(&dest), s(&ar)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("neural decode 40x28 on cpu"));
    let got = decode_png(&fs::read(dest.join("src/a.png")).unwrap(), "x", 1 << 20).unwrap();
    assert_eq!((got.width, got.height, got.channels), (40, 28, 4));
    let (mut se, mut n) = (0f64, 0f64);
    for (a, b) in got.data.chunks(4).zip(img.data.chunks(4)) {
        assert_eq!(a[3], b[3], "alpha is lossless");
        for c in 0..3 {
            se += (a[c] as f64 - b[c] as f64).powi(2);
            n += 1.0;
        }
    }
    let psnr = 10.0 * (255.0f64 * 255.0 / (se / n)).log10();
    assert!(psnr > 30.0, "PSNR {psnr:.2} dB after training");
}

/// Architecture 2's and 3's weights, decoded, have a canonical safetensors form (codec-neural.md
/// §5.2) that Python's reference `safetensors` reader opens (installed by tools/setup.sh into
/// `.venv-ort/py`), holding the decoded integers in their layer shapes and each step in its
/// metadata.
#[test]
fn architecture_2_weights_open_in_python_safetensors() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let py = root.join(".venv-ort/py");
    assert!(
        py.join("safetensors").is_dir() && py.join("numpy").is_dir(),
        "Python safetensors/numpy missing under {}: run tools/setup.sh",
        py.display()
    );
    for n in [
        yoz::conformance::vectors::neural_sample_v2(19, 12, 3, false, 4),
        yoz::conformance::vectors::neural_sample_v3(19, 12, 3, false, 4),
    ] {
        safetensors_form_in_python(&py, &n);
    }
}

fn safetensors_form_in_python(py: &std::path::Path, n: &payload::NeuralImage) {
    let d = payload::decode(&payload::encode(n).unwrap(), 1 << 20).unwrap();
    assert_eq!(d.arch, n.arch);
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("w.safetensors");
    fs::write(&file, d.weights_safetensors().unwrap()).unwrap();
    let script = r#"
import sys
from safetensors import safe_open
with safe_open(sys.argv[1], framework="numpy") as f:
    meta = f.metadata()
    print("arch", meta["arch"])
    for k in sorted(f.keys()):
        a = f.get_tensor(k)
        shape = "x".join(str(s) for s in a.shape)
        vals = ",".join(str(int(v)) for v in a.reshape(-1))
        print(k, a.dtype, shape, meta[k + ".step"], vals)
"#;
    let out = std::process::Command::new("python3")
        .arg("-I")
        .arg("-c")
        .arg(format!(
            "import sys; sys.path.insert(0, {:?})\n{script}",
            py.display().to_string()
        ))
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(format!("arch {}", d.arch).as_str()));
    let tensors: std::collections::HashMap<&str, Vec<&str>> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0], f[1..].to_vec())
        })
        .collect();
    assert_eq!(
        tensors.len(),
        SYN_TENSORS + yoz::neural::arch::ARM2_TENSORS.len()
    );
    for (t, spec) in yoz::neural::arch::syn_layout(d.hidden(), 3)
        .iter()
        .enumerate()
    {
        let f = &tensors[spec.name];
        assert_eq!(f[0], "int32", "{}", spec.name);
        let shape: Vec<String> = spec.shape[..spec.rank]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(f[1], shape.join("x"));
        assert_eq!(f[2].parse::<f32>().unwrap(), d.steps[t]);
        let vals: Vec<i32> = f[3].split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(vals, d.syn[spec.offset..spec.offset + spec.len()]);
    }
    let arm: Vec<i16> = yoz::neural::arch::ARM2_TENSORS
        .iter()
        .map(|t| t.0)
        .flat_map(|k| {
            assert_eq!(tensors[k][0], "int16");
            assert_eq!(tensors[k][2].parse::<f32>().unwrap(), 1.0 / 256.0);
            tensors[k][3].split(',').map(|v| v.parse::<i16>().unwrap())
        })
        .collect();
    assert_eq!(arm, d.arm.params);
}
