//! Decode-time benchmark of the neural codec's synthesis through ONNX Runtime
//! (src/neural/runtime.rs) and through yoz's own kernels (src/neural/kernels.rs), beside the
//! float reference (src/neural/synth.rs).
//!
//! `cargo run --release --example neural-runtime-bench -- [W H C THREADS RUNS]`
//! (default 768 512 3 2 5). Prints the median of RUNS of: session creation, the first run of
//! that fresh session, both together (a decode: `runtime::synthesize` makes a session per
//! image), `runtime::synthesize` itself, and a run of a reused session; plus the reference's
//! time and the max abs difference to it.

use std::time::Instant;
use yoz::neural::arch::{
    arm_params, grid_dims, syn_layout, syn_param_count, ARCH_V1, ARCH_V2, SYN_TENSORS,
};
use yoz::neural::arm::{ArmQ, TableSet};
use yoz::neural::kernels;
use yoz::neural::payload::{self, NeuralImage};
use yoz::neural::runtime::{self, Device, Synthesis};
use yoz::neural::synth;
use yoz::neural::weights;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(t: std::time::Duration) -> f64 {
    t.as_secs_f64() * 1e3
}

fn main() -> yoz::Result<()> {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("a number"))
        .collect();
    let arg = |i: usize, d: usize| a.get(i).copied().unwrap_or(d);
    let (w, h, c, threads, runs) = (arg(0, 768), arg(1, 512), arg(2, 3), arg(3, 2), arg(4, 5));

    // Weights scaled like a trained network's, small integer latents (as in the tests).
    let mut x = 0x9E37_79B9u32;
    let mut unit = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    };
    let mut params = vec![0f32; syn_param_count(24, c)];
    for t in syn_layout(24, c) {
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

    // Load the library outside the timings.
    runtime::check()?;
    // What a decoder does per image: a fresh session, one run. No other session is alive
    // meanwhile, so nothing else holds its memory or threads.
    let (mut create, mut first, mut decode) = (Vec::new(), Vec::new(), Vec::new());
    let mut out = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let mut s = Synthesis::new(&params, c, w, h, Device::Cpu, threads)?;
        let t1 = Instant::now();
        out = s.run(&grids)?;
        let t2 = Instant::now();
        create.push(ms(t1 - t0));
        first.push(ms(t2 - t1));
        decode.push(ms(t2 - t0));
    }
    let mut api = Vec::new();
    for _ in 0..runs {
        let (_, report) = runtime::synthesize(&grids, &params, c, w, h, Device::Cpu, threads)?;
        api.push(report.millis);
    }
    // One session reused for the same image: what caching sessions could buy at best.
    let mut reused = Vec::new();
    let mut s = Synthesis::new(&params, c, w, h, Device::Cpu, threads)?;
    s.run(&grids)?;
    for _ in 0..runs {
        let t = Instant::now();
        s.run(&grids)?;
        reused.push(ms(t.elapsed()));
    }
    drop(s);

    let t = Instant::now();
    let want = synth::synthesize(&grids, &params, c, w, h);
    let reference_ms = ms(t.elapsed());
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
    println!("| first run of that session | {:.1} |", median(first));
    println!(
        "| creation + first run (one decode) | {:.1} |",
        median(decode)
    );
    println!(
        "| runtime::synthesize (RunReport::millis) | {:.1} |",
        median(api)
    );
    println!("| run of a reused session | {:.1} |", median(reused));
    println!("| reference synth::synthesize (1 thread, 1 run) | {reference_ms:.1} |");
    println!("max abs diff to the reference: {diff:.2e}");

    // yoz's own kernels (the default CPU engine): the whole synthesis, to pixels, and to planes.
    let g = kernels::Geometry::new(w, h, c);
    let lat: Vec<f32> = grids.iter().flatten().copied().collect();
    for t in [1, threads] {
        let (mut px, mut planes) = (Vec::new(), Vec::new());
        let mut got = Vec::new();
        for _ in 0..runs {
            let t0 = Instant::now();
            let sw = kernels::SynW::<{ kernels::HID }>::from_packed(&params, c);
            kernels::pixels(&sw, &g, &lat, t);
            px.push(ms(t0.elapsed()));
            let t0 = Instant::now();
            got = kernels::forward(&sw, &g, &lat, t);
            planes.push(ms(t0.elapsed()));
        }
        let diff = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        println!(
            "built-in kernels, {t} thread(s): pixels {:.1} ms, planes {:.1} ms (median of {runs}), max abs diff {diff:.2e}",
            median(px),
            median(planes)
        );
    }

    // Parsing a payload (weights and the integer latent decoding), both architectures, with
    // these latents and an entropy model of trained scale.
    let latents: Vec<Vec<i32>> = grids
        .iter()
        .map(|g| g.iter().map(|&v| v as i32).collect())
        .collect();
    for arch in [ARCH_V1, ARCH_V2] {
        let arm_f: Vec<f32> = (0..arm_params(arch)).map(|_| unit() * 0.3).collect();
        let step = weights::step_of(7);
        let img = NeuralImage {
            arch,
            width: w as u32,
            height: h as u32,
            channels: c as u8,
            syn: params
                .iter()
                .map(|&p| (p / step).round().clamp(-127.0, 127.0) as i32)
                .collect(),
            steps: [step; SYN_TENSORS],
            arm: ArmQ::from_float(arch, &arm_f),
            latents: latents.clone(),
            alpha: None,
            filter: None,
            residual: None,
            tables: TableSet::Set1,
        };
        let bytes = payload::encode(&img)?;
        let mut parse = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let back = payload::decode(&bytes, 1 << 26)?;
            parse.push(ms(t.elapsed()));
            assert_eq!(back.latents, img.latents);
        }
        println!(
            "parse, architecture {arch} ({} latents): {:.1} ms",
            latents.iter().map(Vec::len).sum::<usize>(),
            median(parse)
        );
    }
    Ok(())
}
