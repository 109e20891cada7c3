//! Read-latency and throughput probe for tools/bench/mount.sh (std only; built with `rustc -O`).
//!
//! `preadbench random DIR COUNT SEED`: COUNT preads of 4 KiB at random 4 KiB-aligned offsets of
//! random regular files under DIR (files picked in proportion to their size, walked in sorted
//! order so every tree with the same content gets the same reads); prints p50/p99/mean in µs.
//! `preadbench seq FILE`: reads FILE front to back in 1 MiB reads; prints MB/s.
//! `preadbench walk DIR`: lists and stats everything under DIR (what `ls -lR` does); prints
//! the time in ms and the number of entries.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn walk(d: &Path, out: &mut Vec<(PathBuf, u64)>) {
    let mut names: Vec<_> = fs::read_dir(d).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for p in names {
        let m = fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            walk(&p, out);
        } else if m.is_file() && m.len() >= 4096 {
            out.push((p, m.len()));
        }
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    match a.get(1).map(String::as_str) {
        Some("random") => {
            let mut files = Vec::new();
            walk(Path::new(&a[2]), &mut files);
            let count: usize = a[3].parse().unwrap();
            let mut x: u64 = a[4].parse::<u64>().unwrap() | 1;
            let mut rnd = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let total: u64 = files.iter().map(|f| f.1).sum();
            let mut cum = Vec::with_capacity(files.len());
            let mut at = 0;
            for f in &files {
                at += f.1;
                cum.push(at);
            }
            let mut open: Vec<Option<File>> = (0..files.len()).map(|_| None).collect();
            let mut buf = vec![0u8; 4096];
            let mut lat = Vec::with_capacity(count);
            for _ in 0..count {
                let r = rnd() % total;
                let k = cum.partition_point(|&c| c <= r);
                let (path, len) = &files[k];
                let off = (rnd() % (len / 4096)) * 4096;
                // Opening (lookup) is metadata, not what this measures.
                let f = open[k].get_or_insert_with(|| File::open(path).unwrap());
                let t = Instant::now();
                let n = f.read_at(&mut buf, off).unwrap();
                lat.push(t.elapsed().as_secs_f64() * 1e6);
                assert_eq!(n, 4096);
            }
            lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let q = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
            let mean = lat.iter().sum::<f64>() / lat.len() as f64;
            println!("p50_us={:.0} p99_us={:.0} mean_us={:.0}", q(0.5), q(0.99), mean);
        }
        Some("seq") => {
            let mut f = File::open(&a[2]).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            let t = Instant::now();
            let mut total = 0u64;
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            let s = t.elapsed().as_secs_f64();
            println!("mb_s={:.0} bytes={total} secs={s:.2}", total as f64 / s / 1e6);
        }
        Some("walk") => {
            fn walk_all(d: &Path) -> u64 {
                let mut n = 0;
                for e in fs::read_dir(d).unwrap() {
                    let p = e.unwrap().path();
                    n += 1;
                    if fs::symlink_metadata(&p).unwrap().is_dir() {
                        n += walk_all(&p);
                    }
                }
                n
            }
            let t = Instant::now();
            let n = walk_all(Path::new(&a[2]));
            let ms = t.elapsed().as_secs_f64() * 1e3;
            println!("walk_ms={ms:.0} entries={n}");
        }
        _ => eprintln!("usage: preadbench random DIR COUNT SEED | seq FILE | walk DIR"),
    }
}
