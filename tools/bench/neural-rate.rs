//! Where a neural payload's bytes go: header, each weight tensor, each latent grid, alpha.
//! `cargo run --release --example neural-rate -- PAYLOAD.ynp...` (payloads as `yoz-train --out`
//! writes them). Weight and latent figures are ideal code lengths from the coder's own models;
//! the coded sections are within a few bytes of their sums (tests hold this).

use yoz::neural::arch::{arm_tensors, grid_dims, syn_layout, ARCH_V1, ARCH_V2, GRIDS};
use yoz::neural::{arm, payload, weights};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path)?;
        let h = payload::Header::parse(&bytes, 1 << 26)?;
        let n = payload::decode(&bytes, 1 << 26)?;
        let mut times = parse_ms(&bytes);
        times.sort_by(f64::total_cmp);
        let (w, hh) = (n.width as usize, n.height as usize);
        let px = (w * hh) as f64;
        let bpp = |bits: f64| bits / px;
        println!(
            "{path}: {}x{} arch {}, {} bytes, {:.4} bpp",
            n.width,
            n.height,
            n.arch,
            bytes.len(),
            bpp(bytes.len() as f64 * 8.0)
        );
        println!(
            "  parse (weights + latents, median of 5): {:.1} ms",
            times[2]
        );
        println!("  header            {:>8} bytes", payload::HEADER_LEN);
        println!(
            "  weights           {:>8} bytes  {:.4} bpp",
            h.weights_len,
            bpp(f64::from(h.weights_len) * 8.0)
        );
        if n.arch == ARCH_V2 {
            for (t, spec) in syn_layout(n.hidden(), n.channels as usize)
                .iter()
                .enumerate()
            {
                let q = &n.syn[spec.offset..spec.offset + spec.len()];
                let zeros = q.iter().filter(|&&v| v == 0).count();
                println!(
                    "    {:<8} step {:<10} {:>7.0} bits, {zeros} of {} zero",
                    spec.name,
                    n.steps[t],
                    weights::tensor_bits(q) + 5.0,
                    q.len()
                );
            }
            for &(name, off, len) in arm_tensors(n.arch) {
                let v = &n.arm.params[off..off + len];
                let s = weights::arm_shift(v);
                let q: Vec<i32> = v.iter().map(|&x| i32::from(x) >> s).collect();
                println!(
                    "    {name:<8} shift {s:<9} {:>7.0} bits",
                    weights::tensor_bits(&q) + 4.0
                );
            }
        }
        // The low-frequency residual (flag bit 3) rides in the weight stream.
        if let Some(r) = &n.residual {
            for (o, (q, &e)) in r.values.iter().zip(&r.exps).enumerate() {
                let nz = q.iter().filter(|&&v| v != 0).count();
                println!(
                    "    residual channel {o}: blocks of {} px, step 2^-{e}, {:>7.0} bits, {nz} of {} nonzero",
                    1 << r.log2,
                    weights::tensor_bits(q) + 5.0,
                    q.len()
                );
            }
        }
        println!(
            "  latents           {:>8} bytes  {:.4} bpp",
            h.latents_len,
            bpp(f64::from(h.latents_len) * 8.0)
        );
        let bits = arm::latent_bits_per_grid(&n.arm, &n.latents, w, hh, n.tables)?;
        // The same latents with the other table set (§3.4): the ablation of flag bit 2.
        if n.arch != ARCH_V1 {
            let other = n.tables.other();
            let mut m = n.clone();
            m.tables = other;
            let again = payload::encode(&m)?;
            let coded = payload::Header::parse(&again, 1 << 26)?.latents_len;
            let mut t = parse_ms(&again);
            t.sort_by(f64::total_cmp);
            println!(
                "    (table {:?}; {other:?}: {coded} bytes, {:+} against the payload's; parse {:.1} ms)",
                n.tables,
                i64::from(coded) - i64::from(h.latents_len),
                t[2]
            );
        }
        let dims = grid_dims(w, hh);
        for k in 0..GRIDS {
            let nz = n.latents[k].iter().filter(|&&v| v != 0).count();
            println!(
                "    grid {k} {:>4}x{:<4} {:>9.0} bits  {:.4} bpp, {nz} of {} nonzero",
                dims[k].0,
                dims[k].1,
                bits[k],
                bpp(bits[k]),
                n.latents[k].len()
            );
        }
        if h.alpha_len > 0 {
            println!("  alpha             {:>8} bytes", h.alpha_len);
        }
    }
    Ok(())
}

/// Five timed parses of a payload, in milliseconds.
fn parse_ms(bytes: &[u8]) -> Vec<f64> {
    (0..5)
        .map(|_| {
            let t = std::time::Instant::now();
            let _ = payload::decode(bytes, 1 << 26);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}
