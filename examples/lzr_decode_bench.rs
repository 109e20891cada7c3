//! Decode-only speed of `lzr2` (`--v1`: `lzr`) against `xz -d`, on the same independent pieces: each file is cut
//! into blocks (8 MiB by default), every block encoded once with lzr (level 19) and with `xz -9`,
//! then both decoders run over all pieces, alternating, `--rounds` times (best kept). Files lzr
//! stores raw are left out: they say nothing about decoding.
//!
//! Usage: `lzr_decode_bench FILE... [--block BYTES] [--rounds N] [--sizes-only] [--v1]`. Pin it to one
//! core (`taskset -c 1`) on an otherwise idle machine. `--sizes-only` prints each file's lzr
//! size (level 19) and the total, for quick model experiments.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use yoz::codec::{lzr, Codec};

fn main() {
    let mut files = Vec::new();
    let (mut block, mut rounds) = (8usize << 20, 6usize);
    let mut sizes_only = false;
    let mut v1 = false;
    let codec: fn(bool) -> &'static dyn Codec = |v1| if v1 { &lzr::Lzr } else { &lzr::Lzr2 };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--block" => block = args.next().and_then(|v| v.parse().ok()).expect("--block N"),
            "--sizes-only" => sizes_only = true,
            "--v1" => v1 = true,
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--rounds N")
            }
            _ => files.push(a),
        }
    }
    if sizes_only {
        let mut total = 0;
        for f in &files {
            let data = std::fs::read(f).expect("read input");
            let mut n = 0;
            for b in data.chunks(block) {
                let mut p = Vec::new();
                codec(v1).compress(b, 19, &mut p).expect("lzr encodes");
                n += p.len();
            }
            println!("{f}\t{n}");
            total += n;
        }
        println!("total\t{total}");
        return;
    }
    let tmp = std::env::temp_dir().join(format!("lzr-decode-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    println!("| file | bytes | lzr MB/s | xz -d MB/s | lzr / xz |");
    println!("|---|---:|---:|---:|---:|");
    let (mut all_bytes, mut all_ours, mut all_xz) = (0usize, 0f64, 0f64);
    for f in &files {
        let data = std::fs::read(f).expect("read input");
        let mut ours = Vec::new();
        let mut xz = Vec::new();
        for (i, b) in data.chunks(block).enumerate() {
            let mut p = Vec::new();
            codec(v1).compress(b, 19, &mut p).expect("lzr encodes");
            if p.first() == Some(&0) {
                continue; // stored raw
            }
            ours.push((p, b.len()));
            let path = tmp.join(format!("{i}.xz"));
            let mut c = Command::new("xz")
                .args(["-9", "-T1", "-c"])
                .stdin(Stdio::piped())
                .stdout(std::fs::File::create(&path).expect("xz piece"))
                .spawn()
                .expect("xz is installed");
            c.stdin.take().unwrap().write_all(b).unwrap();
            assert!(c.wait().unwrap().success());
            xz.push(path);
        }
        if ours.is_empty() {
            continue;
        }
        let bytes: usize = ours.iter().map(|(_, n)| n).sum();
        let mut out = Vec::with_capacity(block);
        let (mut best_ours, mut best_xz) = (f64::MAX, f64::MAX);
        for _ in 0..rounds {
            let t = Instant::now();
            for (p, n) in &ours {
                codec(v1)
                    .decompress(p, *n, 0, &mut out)
                    .expect("own payload decodes");
            }
            best_ours = best_ours.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            for p in &xz {
                let ok = Command::new("xz")
                    .args(["-d", "-T1", "-c"])
                    .arg(p)
                    .stdout(Stdio::null())
                    .status()
                    .expect("xz -d");
                assert!(ok.success());
            }
            best_xz = best_xz.min(t.elapsed().as_secs_f64());
        }
        for p in &xz {
            let _ = std::fs::remove_file(p);
        }
        let name = std::path::Path::new(f)
            .file_name()
            .unwrap()
            .to_string_lossy();
        let (o, x) = (bytes as f64 / best_ours / 1e6, bytes as f64 / best_xz / 1e6);
        println!("| {name} | {bytes} | {o:.1} | {x:.1} | {:.3} |", o / x);
        all_bytes += bytes;
        all_ours += best_ours;
        all_xz += best_xz;
    }
    let (o, x) = (
        all_bytes as f64 / all_ours / 1e6,
        all_bytes as f64 / all_xz / 1e6,
    );
    println!(
        "| **total** | {all_bytes} | **{o:.1}** | **{x:.1}** | **{:.3}** |",
        o / x
    );
    let _ = std::fs::remove_dir(&tmp);
}
