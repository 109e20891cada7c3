//! Decode-time benchmark of the neural codec's synthesis through ONNX Runtime
//! (src/neural/runtime.rs), beside the float reference (src/neural/synth.rs).
//!
//! `cargo run --release --example neural-runtime-bench -- [W H C THREADS RUNS]`
//! (default 768 512 3 2 5). Prints the median of RUNS of: session creation alone, the first
//! run of a fresh session, a run of a reused session, and `runtime::synthesize` as a decoder calls it (both), plus the max
//! abs difference to the reference.

use std::time::Instant;
use yoz::neural::arch::{grid_dims, syn_layout, syn_param_count};
use yoz::neural::runtime::{self, Device, Synthesis};
use yoz::neural::synth;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> yoz::Result<()> {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("a number"))
        .collect();
    let arg = |i: usize, d: usize| a.get(i).copied().unwrap_or(d);
    let (w, h, c, threads, runs) = (arg(0, 768), arg(1, 512), arg(2, 3), arg(3, 2), arg(4, 5));

    let mut x = 0x9E37_79B9u32;
    let mut unit = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    };
    let mut params = vec![0f32; syn_param_count(c)];
    for t in syn_layout(c) {
        let fan_in: usize = if t.rank == 1 {
            1
        } else {
            t.shape[1..t.rank].iter().product()
        };
        for p in &mut params[t.offset..t.offset + t.len()] {
            *p = unit() / (fan_in as f32).sqrt();
        }
    }
    let grids: Vec<Vec<f32>> = grid_dims(w, h)
        .iter()
        .map(|&(gw, gh)| (0..gw * gh).map(|_| (unit() * 6.5).round()).collect())
        .collect();

    runtime::check()?; // load the library outside the timings
    let (mut create, mut first, mut run, mut total) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut out = Vec::new();
    let mut s = Synthesis::new(&params, c, w, h, Device::Cpu, threads)?;
    s.run(&grids)?; // warm-up run (first-run allocations)
    for _ in 0..runs {
        let t = Instant::now();
        out = s.run(&grids)?;
        run.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let mut s2 = Synthesis::new(&params, c, w, h, Device::Cpu, threads)?;
        create.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        s2.run(&grids)?;
        first.push(t.elapsed().as_secs_f64() * 1e3);
        drop(s2);
        let (_, rep) = runtime::synthesize(&grids, &params, c, w, h, Device::Cpu, threads)?;
        total.push(rep.millis);
    }
    let t = Instant::now();
    let want = synth::synthesize(&grids, &params, c, w, h);
    let reference_ms = t.elapsed().as_secs_f64() * 1e3;
    let diff = out
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);

    println!(
        "synthesis {w}x{h} c={c}, ONNX Runtime CPU, {threads} intra-op threads, median of {runs}"
    );
    println!("| what | ms |");
    println!("|---|---:|");
    println!(
        "| session creation (graph + session) | {:.1} |",
        median(create)
    );
    println!("| first run of a fresh session | {:.1} |", median(first));
    println!("| run (session reused) | {:.1} |", median(run));
    println!(
        "| runtime::synthesize (creation + run) | {:.1} |",
        median(total)
    );
    println!("| reference synth::synthesize (1 thread, 1 run) | {reference_ms:.1} |");
    println!("max abs diff to the reference: {diff:.2e}");
    Ok(())
}
