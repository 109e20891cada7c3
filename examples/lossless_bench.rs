//! Side-by-side benchmark of yoz's own lossless codecs against gzip and zstd (CLI), printed as
//! Markdown tables. Driven by tools/bench/lossless.sh.
//!
//! Usage: `lossless_bench [CORPUS_DIR] [--block BYTES] [--only lz77|huffman|lzr|lzr1|lzr2|cm|cm1|cm2|cm3] [--level N]
//! [--filter SUBSTRING]` (default: lz77 levels 9 and 1, huffman, lzr, cm (= cm3), every file)
//!
//! The lzr and cm sections run xz -9, zstd -19 --long, bzip2 -9 and brotli -Z on the same
//! blocks yoz compresses (each block a separate input), so that every tool sees the same
//! independent pieces.
//!
//! Method: our codecs run in-process on one thread over the file cut into blocks of `--block`
//! bytes (yoz's default 1 MiB), exactly as the writer feeds them; speeds are original bytes per
//! second of wall time, decode taken as the best of two runs (each output is checked against
//! the input once, outside the timed runs). gzip and zstd run as CLI processes
//! on the whole file (`-c` to a temporary file, decompressing to /dev/null), so their times
//! include process start (≈ 1 ms, negligible against these file sizes).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use yoz::codec::{cm, huffman, lz77, lzr, Codec};

const MB: f64 = 1e6;

struct Ours {
    size: u64,
    comp_s: f64,
    dec_s: f64,
}

struct Peer {
    size: u64,
    comp_s: f64,
    dec_s: f64,
}

fn run_ours(
    data: &[u8],
    block: usize,
    enc: impl Fn(&[u8], &mut Vec<u8>),
    dec: impl Fn(&[u8], usize, &mut Vec<u8>) -> yoz::Result<()>,
) -> Ours {
    let t = Instant::now();
    let payloads: Vec<(Vec<u8>, usize)> = data
        .chunks(block.max(1))
        .map(|b| {
            let mut p = Vec::new();
            enc(b, &mut p);
            (p, b.len())
        })
        .collect();
    let comp_s = t.elapsed().as_secs_f64();
    let size = payloads.iter().map(|(p, _)| p.len() as u64).sum();
    let mut out = Vec::with_capacity(block);
    // Verify once, untimed, then time two plain decoding passes.
    let mut off = 0;
    for (p, n) in &payloads {
        dec(p, *n, &mut out).expect("our own payload decodes");
        assert!(out[..] == data[off..off + n], "roundtrip mismatch");
        off += n;
    }
    let mut best = f64::MAX;
    for _ in 0..2 {
        let t = Instant::now();
        for (p, n) in &payloads {
            dec(p, *n, &mut out).expect("our own payload decodes");
            std::hint::black_box(&out);
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ours {
        size,
        comp_s,
        dec_s: best,
    }
}

fn time_cmd(cmd: &str, args: &[&str], stdin: &Path, stdout: Option<&Path>) -> Option<f64> {
    let inp = std::fs::File::open(stdin).ok()?;
    let out = match stdout {
        Some(p) => Stdio::from(std::fs::File::create(p).ok()?),
        None => Stdio::null(),
    };
    let t = Instant::now();
    let st = Command::new(cmd)
        .args(args)
        .stdin(Stdio::from(inp))
        .stdout(out)
        .status()
        .ok()?;
    st.success().then(|| t.elapsed().as_secs_f64())
}

fn run_peer(tool: &str, level: &str, file: &Path, tmp: &Path) -> Option<Peer> {
    let mut args: Vec<&str> = level.split_whitespace().collect();
    args.push("-c");
    let comp_s = time_cmd(tool, &args, file, Some(tmp))?;
    let size = std::fs::metadata(tmp).ok()?.len();
    let mut best = f64::MAX;
    for _ in 0..2 {
        best = best.min(time_cmd(tool, &["-d", "-c"], tmp, None)?);
    }
    Some(Peer {
        size,
        comp_s,
        dec_s: best,
    })
}

fn mbs(bytes: u64, s: f64) -> String {
    if s <= 0.0 {
        return "-".into();
    }
    let v = bytes as f64 / MB / s;
    // Two decimals around 1 MB/s (cm's target), one where the integer would hide the
    // difference (lzr compression).
    if v < 2.0 {
        format!("{v:.2}")
    } else if v < 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

#[derive(Default)]
struct Tot {
    size: u64,
    comp_s: f64,
    dec_s: f64,
}

impl Tot {
    fn add(&mut self, size: u64, c: f64, d: f64) {
        self.size += size;
        self.comp_s += c;
        self.dec_s += d;
    }
}

/// Text files for the huffman target, by extension (the corpus's source tarballs are text).
fn is_text(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("txt" | "xml" | "json" | "tar" | "md" | "html" | "csv")
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut dir = PathBuf::from("../shared/corpus");
    let mut block = 1usize << 20;
    let mut only = String::new();
    let mut filter = String::new();
    let mut levels = vec![9u8, 1];
    while let Some(a) = args.next() {
        match a.as_str() {
            "--block" => block = args.next().and_then(|s| s.parse().ok()).unwrap_or(block),
            "--only" => only = args.next().unwrap_or_default(),
            "--filter" => filter = args.next().unwrap_or_default(),
            "--level" => {
                levels = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .into_iter()
                    .collect()
            }
            _ => dir = PathBuf::from(a),
        }
    }
    let Ok(rd) = std::fs::read_dir(&dir) else {
        println!(
            "corpus directory {} not found; nothing to benchmark",
            dir.display()
        );
        return;
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "MANIFEST.tsv"))
        .filter(|p| p.to_string_lossy().contains(&filter))
        .collect();
    files.sort();
    let tmp = std::env::temp_dir().join(format!("yoz-bench-{}", std::process::id()));
    println!(
        "Corpus: {} ({} files), yoz block size {} bytes, one thread.\n",
        dir.display(),
        files.len(),
        block
    );

    let lz = |level: u8| move |b: &[u8], o: &mut Vec<u8>| lz77::encode(b, level, o);
    if only.is_empty() || only == "lz77" {
        for &ours_level in &levels {
            let (peer_level, zl) = if ours_level >= 5 {
                ("-9", "-19")
            } else {
                ("-1", "-1")
            };
            println!("### lz77 -{ours_level} vs gzip {peer_level} vs zstd {zl}\n");
            println!("| file | bytes | lz77 -{ours_level} | gzip {peer_level} | zstd {zl} | lz77 c MB/s | gzip c MB/s | zstd c MB/s | lz77 d MB/s | gzip d MB/s | zstd d MB/s |");
            println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            let (mut to, mut tg, mut tz, mut raw) =
                (Tot::default(), Tot::default(), Tot::default(), 0u64);
            for f in &files {
                let Ok(data) = std::fs::read(f) else { continue };
                let o = run_ours(&data, block, lz(ours_level), lz77::decode);
                let g = run_peer("gzip", peer_level, f, &tmp);
                let z = run_peer("zstd", zl, f, &tmp);
                let n = data.len() as u64;
                raw += n;
                to.add(o.size, o.comp_s, o.dec_s);
                let cell = |p: &Option<Peer>, which: u8| match p {
                    Some(p) => match which {
                        0 => p.size.to_string(),
                        1 => mbs(n, p.comp_s),
                        _ => mbs(n, p.dec_s),
                    },
                    None => "-".into(),
                };
                if let Some(p) = &g {
                    tg.add(p.size, p.comp_s, p.dec_s);
                }
                if let Some(p) = &z {
                    tz.add(p.size, p.comp_s, p.dec_s);
                }
                println!(
                    "| {} | {n} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    f.file_name()
                        .map(|s| s.to_string_lossy())
                        .unwrap_or_default(),
                    o.size,
                    cell(&g, 0),
                    cell(&z, 0),
                    mbs(n, o.comp_s),
                    cell(&g, 1),
                    cell(&z, 1),
                    mbs(n, o.dec_s),
                    cell(&g, 2),
                    cell(&z, 2),
                );
            }
            println!(
                "| **total** | {raw} | **{}** | **{}** | **{}** | {} | {} | {} | {} | {} | {} |\n",
                to.size,
                tg.size,
                tz.size,
                mbs(raw, to.comp_s),
                mbs(raw, tg.comp_s),
                mbs(raw, tz.comp_s),
                mbs(raw, to.dec_s),
                mbs(raw, tg.dec_s),
                mbs(raw, tz.dec_s),
            );
        }
    }
    if only.is_empty() || only == "lzr" || only == "lzr2" {
        lzr_section(&files, block, &levels, &tmp, None, false);
    }
    if only == "lzr1" {
        lzr_section(&files, block, &levels, &tmp, None, true);
    }
    if only.is_empty() || only == "cm" || only == "cm3" {
        lzr_section(&files, block, &levels, &tmp, Some(cm::Version::V3), false);
    }
    if only == "cm2" {
        lzr_section(&files, block, &levels, &tmp, Some(cm::Version::V2), false);
    }
    if only == "cm1" {
        lzr_section(&files, block, &levels, &tmp, Some(cm::Version::V1), false);
    }
    if only.is_empty() || only == "huffman" {
        println!("### huffman vs the order-0 entropy bound\n");
        println!("Bound = Σ over blocks of the block's order-0 entropy (per-block tables), and the whole-file order-0 entropy for reference.\n");
        println!("| file | bytes | huffman | per-block bound | over bound | whole-file bound | encode MB/s | decode MB/s |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        let (mut raw, mut size, mut bound, mut c_s, mut d_s) = (0u64, 0u64, 0f64, 0f64, 0f64);
        // Text subtotal: ours, per-block bound, whole-file bound.
        let (mut t_size, mut t_bound, mut t_whole) = (0u64, 0f64, 0f64);
        for f in &files {
            let Ok(data) = std::fs::read(f) else { continue };
            let o = run_ours(&data, block, huffman::encode, huffman::decode);
            let b: f64 = data
                .chunks(block.max(1))
                .map(|c| huffman::order0_bits(c) / 8.0)
                .sum();
            let whole = huffman::order0_bits(&data) / 8.0;
            let n = data.len() as u64;
            raw += n;
            size += o.size;
            bound += b;
            if is_text(f) {
                t_size += o.size;
                t_bound += b;
                t_whole += whole;
            }
            c_s += o.comp_s;
            d_s += o.dec_s;
            println!(
                "| {} | {n} | {} | {:.0} | {:+.2} % | {:.0} | {} | {} |",
                f.file_name()
                    .map(|s| s.to_string_lossy())
                    .unwrap_or_default(),
                o.size,
                b,
                (o.size as f64 / b - 1.0) * 100.0,
                whole,
                mbs(n, o.comp_s),
                mbs(n, o.dec_s),
            );
        }
        println!(
            "| **total** | {raw} | **{size}** | {bound:.0} | {:+.2} % | | {} | {} |\n",
            (size as f64 / bound - 1.0) * 100.0,
            mbs(raw, c_s),
            mbs(raw, d_s)
        );
        println!(
            "Text files (.txt .xml .json .tar .md): huffman {t_size} bytes; {:+.2} % over the per-block bound ({t_bound:.0}), {:+.2} % over the whole-file bound ({t_whole:.0}).\n",
            (t_size as f64 / t_bound - 1.0) * 100.0,
            (t_size as f64 / t_whole - 1.0) * 100.0,
        );
    }
    let _ = std::fs::remove_file(&tmp);
}

/// Runs a peer CLI on each `block`-sized piece of `data` (written to `tmp`), summing sizes and
/// times, so that peers and yoz see the same independent blocks.
fn run_peer_blocks(tool: &str, level: &str, data: &[u8], block: usize, tmp: &Path) -> Option<Peer> {
    let piece = tmp.with_extension("piece");
    let mut tot = Peer {
        size: 0,
        comp_s: 0.0,
        dec_s: 0.0,
    };
    for b in data.chunks(block.max(1)) {
        std::fs::write(&piece, b).ok()?;
        let p = run_peer(tool, level, &piece, tmp)?;
        tot.size += p.size;
        tot.comp_s += p.comp_s;
        tot.dec_s += p.dec_s;
    }
    let _ = std::fs::remove_file(&piece);
    Some(tot)
}

/// lzr (at each level) or cm against xz -9, zstd -19 --long, bzip2 -9 and brotli -Z, peers
/// per block.
fn lzr_section(
    files: &[PathBuf],
    block: usize,
    levels: &[u8],
    tmp: &Path,
    cm: Option<cm::Version>,
    lzr1: bool,
) {
    let peers: [(&str, &str); 4] = [
        ("xz", "-9"),
        ("zstd", "-19 --long"),
        ("bzip2", "-9"),
        ("brotli", "-Z"),
    ];
    let levels = if cm.is_some() { &[0u8][..] } else { levels };
    for &level in levels {
        let level = if level <= 9 { 22 } else { level };
        let ours = match cm {
            Some(cm::Version::V1) => "cm1".to_string(),
            Some(cm::Version::V2) => "cm2".to_string(),
            Some(cm::Version::V3) => "cm3".to_string(),
            None if lzr1 => format!("lzr1 level {level}"),
            None => format!("lzr2 level {level}"),
        };
        println!("### {ours} vs xz -9, zstd -19 --long, bzip2 -9, brotli -Z (each on the same {block}-byte blocks)\n");
        println!("| file | bytes | {ours} | xz -9 | zstd -19 | bzip2 -9 | brotli -Z | ours/xz | ours c MB/s | xz c MB/s | ours d MB/s | xz d MB/s |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let mut tot = Tot::default();
        let mut ptot: Vec<Tot> = peers.iter().map(|_| Tot::default()).collect();
        let mut raw = 0u64;
        for f in files {
            let Ok(data) = std::fs::read(f) else { continue };
            let enc = |b: &[u8], o: &mut Vec<u8>| {
                if let Some(v) = cm {
                    cm::encode(b, v, o);
                } else {
                    let c: &dyn Codec = if lzr1 { &lzr::Lzr } else { &lzr::Lzr2 };
                    c.compress(b, i32::from(level), o)
                        .expect("in-memory compression");
                }
            };
            let dec = |p: &[u8], n: usize, o: &mut Vec<u8>| {
                if let Some(v) = cm {
                    cm::decode(p, n, v, o)
                } else if lzr1 {
                    lzr::decode(p, n, o)
                } else {
                    lzr::decode2(p, n, o)
                }
            };
            let o = run_ours(&data, block, enc, dec);
            let n = data.len() as u64;
            raw += n;
            tot.add(o.size, o.comp_s, o.dec_s);
            let ps: Vec<Option<Peer>> = peers
                .iter()
                .map(|(t, l)| run_peer_blocks(t, l, &data, block, tmp))
                .collect();
            for (t, p) in ptot.iter_mut().zip(&ps) {
                if let Some(p) = p {
                    t.add(p.size, p.comp_s, p.dec_s);
                }
            }
            let size = |p: &Option<Peer>| p.as_ref().map_or("-".into(), |p| p.size.to_string());
            let xz = ps[0].as_ref();
            println!(
                "| {} | {n} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                f.file_name()
                    .map(|s| s.to_string_lossy())
                    .unwrap_or_default(),
                o.size,
                size(&ps[0]),
                size(&ps[1]),
                size(&ps[2]),
                size(&ps[3]),
                xz.map_or("-".into(), |x| format!(
                    "{:.3}",
                    o.size as f64 / x.size as f64
                )),
                mbs(n, o.comp_s),
                xz.map_or("-".into(), |x| mbs(n, x.comp_s)),
                mbs(n, o.dec_s),
                xz.map_or("-".into(), |x| mbs(n, x.dec_s)),
            );
        }
        println!(
            "| **total** | {raw} | **{}** | **{}** | **{}** | **{}** | **{}** | **{:.3}** | {} | {} | {} | {} |\n",
            tot.size,
            ptot[0].size,
            ptot[1].size,
            ptot[2].size,
            ptot[3].size,
            tot.size as f64 / ptot[0].size.max(1) as f64,
            mbs(raw, tot.comp_s),
            mbs(raw, ptot[0].comp_s),
            mbs(raw, tot.dec_s),
            mbs(raw, ptot[0].dec_s),
        );
    }
}
