//! Ablation of the neural codec's weight storage, in the spirit of the seed thesis's table:
//! for a trained payload (from `yoz-train --out DIR`), the decoder's bytes and the image's PSNR
//! and bpp with int8 weights as stored, then with magnitude pruning at growing thresholds, each
//! with the weights raw (as the payload holds them) and zstd-compressed (as a yoz block holds
//! the entry). Float weights are the trainer's `-v` figure ("float weights … dB"), 4 bytes each.
//!
//! Usage: `cargo run --release --example neural-ablation -- IMAGE.png [PRESET [QUALITY]]`
//! trains the 512x512 centre crop of IMAGE.png with `yoz-train` (from target/release) first.

use yoz::image::metrics::psnr;
use yoz::image::png_io::read_png;
use yoz::neural::arch::{syn_param_count, ARM_PARAMS};
use yoz::neural::payload;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let png = args
        .first()
        .ok_or("usage: neural-ablation IMAGE.png [PRESET [QUALITY]]")?;
    let preset = args.get(1).map_or("fast", String::as_str);
    let quality = args.get(2).map_or("50", String::as_str);
    let full = read_png(std::path::Path::new(png), 1 << 28)?;
    let src = full.centre_crop(512);
    let tmp = tempfile::tempdir()?;
    let crop_png = tmp.path().join("crop.png");
    std::fs::write(&crop_png, yoz::image::png_io::encode_png(&src)?)?;
    let trainer = std::env::current_exe()?
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("yoz-train"))
        .ok_or("no target dir")?;
    let out = std::process::Command::new(&trainer)
        .args([
            "--preset",
            preset,
            "--quality",
            quality,
            "-j",
            "2",
            "-v",
            "--out",
        ])
        .arg(tmp.path().join("b"))
        .arg(&crop_png)
        .output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    println!("{}", String::from_utf8_lossy(&out.stderr).trim_end());
    let bytes = std::fs::read(tmp.path().join("b/0000.ynp"))?;
    let base = payload::decode(&bytes, 1 << 28)?;
    let h = payload::Header::parse(&bytes, 1 << 28)?;
    let px = f64::from(base.width) * f64::from(base.height);
    let c = base.channels as usize;
    let params = syn_param_count(24, c) + ARM_PARAMS;
    let other = bytes.len() - h.weights_len as usize;
    println!(
        "{}x{}, {} parameters; latents {} bytes",
        base.width, base.height, params, h.latents_len
    );
    println!("| weights | zeros | decoder bytes raw | zstd | PSNR dB | bpp (raw) | bpp (zstd) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| float32 | – | {} | – | (trainer -v) | {:.4} | – |",
        params * 4,
        (other + params * 4) as f64 * 8.0 / px
    );
    for t in [0i32, 1, 2, 3, 4, 6] {
        let mut n = base.clone();
        for q in n.syn.iter_mut() {
            if q.unsigned_abs() <= t.unsigned_abs() {
                *q = 0;
            }
        }
        let zeros = n.syn.iter().filter(|&&q| q == 0).count();
        let p = payload::encode(&n)?;
        let wl = payload::Header::parse(&p, 1 << 28)?.weights_len as usize;
        let weights = &p[28..28 + wl];
        let z = zstd::bulk::compress(weights, 19)?.len();
        let planes = yoz::neural::synth::synthesize(
            &n.grids_f32(),
            &n.syn_params_f32(),
            c,
            n.width as usize,
            n.height as usize,
        );
        let img = yoz::neural::assemble_image(&n, &planes);
        let name = if t == 0 {
            "int8".to_string()
        } else {
            format!("int8, pruned where q ≤ {t} in magnitude")
        };
        println!(
            "| {name} | {zeros} | {wl} | {z} | {:.2} | {:.4} | {:.4} |",
            psnr(&src, &img).ok_or("shape")?,
            p.len() as f64 * 8.0 / px,
            (p.len() - wl + z) as f64 * 8.0 / px
        );
    }
    Ok(())
}
