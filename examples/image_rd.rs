//! The image rate–distortion bench (issue 4): for a folder of PNGs, each codec at several
//! qualities → bits per pixel and RGB PSNR, per-image Bjøntegaard delta rate against
//! `cjpeg -optimize`, encode/decode speed, and a CSV, a Markdown table and an RD plot.
//!
//! Usage: `cargo run --release --example image_rd -- [--images DIR] [--out DIR] [--no-avif]
//! [--yoz-only] [--neural PRESETS --neural-q LIST [--keep-payloads DIR]]`. Peers
//! (cjpeg/djpeg, cwebp/dwebp, avifenc/avifdec) are used when installed.
//! Times are CPU times (the bench machine is shared): yoz-dct in process (PNG I/O excluded),
//! peers as whole processes on PPM files (PNG for avif).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use yoz::image::dct::{self, DctOptions};
use yoz::image::metrics::psnr;
use yoz::image::png_io::{encode_png, read_png};
use yoz::image::{DecodeLimits, Image};

/// BD-rate uses RD points within this bpp range (issue 4).
const BPP_MIN: f64 = 0.2;
const BPP_MAX: f64 = 2.0;
const QUALITIES: [u32; 14] = [5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 98];
/// avifenc 0.11 takes quantizers (0 best .. 63 worst) rather than a quality.
const AVIF_Q: [u32; 10] = [2, 6, 10, 14, 18, 22, 27, 33, 40, 48];

#[derive(Clone, Debug)]
struct Point {
    image: String,
    codec: &'static str,
    q: u32,
    bpp: f64,
    psnr: f64,
    enc_s: f64,
    dec_s: f64,
    mpix: f64,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("image_rd: {e}");
        std::process::exit(1);
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut images = PathBuf::from("../shared/images/dev");
    let mut out = PathBuf::from("docs");
    let (mut avif, mut peers) = (true, true);
    let mut opts = DctOptions::default();
    let mut crop: Option<u32> = None;
    let mut neural: Vec<&'static str> = Vec::new();
    let mut neural_q: Vec<u32> = vec![15, 35, 55, 75];
    let mut max_images = usize::MAX;
    let mut keep: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--images" => images = args.next().ok_or("--images DIR")?.into(),
            "--out" => out = args.next().ok_or("--out DIR")?.into(),
            "--no-avif" => avif = false,
            "--yoz-only" => peers = false,
            // Centre crops (the neural issue's 512x512 protocol).
            "--crop" => crop = Some(args.next().ok_or("--crop N")?.parse()?),
            // Redraw the tables and plot from an earlier run's CSV.
            "--replot" => {
                let csv = std::fs::read_to_string(args.next().ok_or("--replot CSV")?)?;
                return report(&points_from_csv(&csv)?, &out);
            }
            "--max-images" => max_images = args.next().ok_or("--max-images N")?.parse()?,
            // Keep every neural payload as DIR/<image>-<codec>-q<Q>.ynp (for `neural-rate`).
            "--keep-payloads" => keep = Some(args.next().ok_or("--keep-payloads DIR")?.into()),
            // Neural presets to train (yoz-train from target/release), e.g. fast,medium.
            "--neural" => {
                for p in args.next().ok_or("--neural PRESETS")?.split(',') {
                    neural.push(match p {
                        "fast" => "yoz-neural-fast",
                        "medium" => "yoz-neural-medium",
                        "slow" => "yoz-neural-slow",
                        _ => return Err(format!("unknown preset {p}").into()),
                    });
                }
            }
            "--neural-q" => {
                neural_q = args
                    .next()
                    .ok_or("--neural-q LIST")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            // Experiment knobs for tuning the encoder (see docs/image-rd.md).
            "--rdo-lambda" => opts.rdo_lambda = args.next().ok_or("--rdo-lambda N")?.parse()?,
            "--deblock" => {
                opts.deblock = match args.next().as_deref() {
                    Some("on") => Some(true),
                    Some("off") => Some(false),
                    _ => None,
                }
            }
            "--ac-rounding" => opts.ac_rounding = args.next().ok_or("--ac-rounding N")?.parse()?,
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&images)
        .map_err(|e| format!("{}: {e}", images.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    files.sort();
    files.truncate(max_images);
    if files.is_empty() {
        return Err(format!("no PNGs in {}", images.display()).into());
    }
    let tmp = std::env::temp_dir().join(format!("yoz-image-rd-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let jpeg = peers && have("cjpeg") && have("djpeg");
    let webp = peers && have("cwebp") && have("dwebp");
    let avif = peers && avif && have("avifenc") && have("avifdec");
    let mut pts = Vec::new();
    for f in &files {
        let name = f
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let mut img = to_rgb(read_png(f, 1 << 28)?);
        if let Some(n) = crop {
            img = img.centre_crop(n);
        }
        eprintln!("{name}: {}x{}", img.width, img.height);
        let ppm = tmp.join("in.ppm");
        std::fs::write(&ppm, to_ppm(&img))?;
        let png = tmp.join("in.png");
        std::fs::write(&png, encode_png(&img)?)?;
        for codec in &neural {
            for &q in &neural_q {
                let kept = keep.as_deref();
                pts.push(neural_point(&img, &name, codec, q, &png, &tmp, kept)?);
            }
        }
        for q in QUALITIES {
            pts.push(yoz_point(&img, &name, "yoz-dct", q, &opts)?);
            let psnr_tables = DctOptions {
                table_set: 1,
                ..opts
            };
            pts.push(yoz_point(&img, &name, "yoz-dct-psnr", q, &psnr_tables)?);
            if jpeg {
                let j = tmp.join("o.jpg");
                let o = tmp.join("o.ppm");
                let qs = q.to_string();
                let enc = timed(
                    &["cjpeg", "-optimize", "-quality", &qs, "-outfile"],
                    &[&j, &ppm],
                )?;
                let dec = timed(&["djpeg", "-outfile"], &[&o, &j])?;
                pts.push(peer_point(
                    &img,
                    &name,
                    "cjpeg",
                    q,
                    &j,
                    from_ppm(&std::fs::read(&o)?)?,
                    enc,
                    dec,
                )?);
            }
            if webp {
                let wf = tmp.join("o.webp");
                let o = tmp.join("o.ppm");
                let qs = q.to_string();
                let enc = timed(&["cwebp", "-quiet", "-q", &qs, "-o"], &[&wf, &ppm])?;
                let dec = timed(&["dwebp", "-quiet", "-ppm", "-o"], &[&o, &wf])?;
                pts.push(peer_point(
                    &img,
                    &name,
                    "cwebp",
                    q,
                    &wf,
                    from_ppm(&std::fs::read(&o)?)?,
                    enc,
                    dec,
                )?);
            }
        }
        if avif {
            for q in AVIF_Q {
                let af = tmp.join("o.avif");
                let o = tmp.join("o.png");
                let qs = q.to_string();
                let enc = timed(
                    &[
                        "avifenc", "-s", "6", "-y", "444", "--min", &qs, "--max", &qs,
                    ],
                    &[&png, &af],
                )?;
                let dec = timed(&["avifdec"], &[&af, &o])?;
                let dimg = to_rgb(read_png(&o, 1 << 28)?);
                pts.push(peer_point(
                    &img,
                    &name,
                    "avifenc",
                    63 - q,
                    &af,
                    dimg,
                    enc,
                    dec,
                )?);
            }
        }
    }
    std::fs::remove_dir_all(&tmp).ok();
    report(&pts, &out)
}

/// Points back from `image-rd.csv` (codec names are leaked: a bench runs once).
fn points_from_csv(csv: &str) -> Result<Vec<Point>, Box<dyn std::error::Error>> {
    let mut v = Vec::new();
    for line in csv.lines().skip(1).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 8 {
            return Err(format!("bad CSV line {line:?}").into());
        }
        v.push(Point {
            image: f[0].into(),
            codec: Box::leak(f[1].to_string().into_boxed_str()),
            q: f[2].parse()?,
            bpp: f[3].parse()?,
            psnr: f[4].parse()?,
            enc_s: f[5].parse()?,
            dec_s: f[6].parse()?,
            mpix: f[7].parse()?,
        });
    }
    Ok(v)
}

/// Trains the neural codec on `png` (the image as a PNG file) with `yoz-train`, then decodes the
/// payload through ONNX Runtime (CPU, 2 threads). Encode time is the trainer's wall time (it
/// uses both cores); its iterations per second come from its `-v` line.
fn neural_point(
    img: &Image,
    name: &str,
    codec: &'static str,
    q: u32,
    png: &Path,
    tmp: &Path,
    keep: Option<&Path>,
) -> Result<Point, Box<dyn std::error::Error>> {
    let preset = codec.trim_start_matches("yoz-neural-");
    let trainer = std::env::current_exe()?
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("yoz-train"))
        .ok_or("no target dir")?;
    let bundle = tmp.join("bundle");
    let t = std::time::Instant::now();
    let out = Command::new(&trainer)
        .args([
            "--preset",
            preset,
            "--quality",
            &q.to_string(),
            "-j",
            "2",
            "-v",
            "--force",
        ])
        .arg("--out")
        .arg(&bundle)
        .arg(png)
        .output()?;
    let enc_s = t.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(format!("{} failed: {log}", trainer.display()).into());
    }
    eprintln!("  {codec} q{q}: {}", log.lines().last().unwrap_or_default());
    let payload = std::fs::read(bundle.join("0000.ynp"))?;
    if let Some(dir) = keep {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(format!("{name}-{codec}-q{q}.ynp")), &payload)?;
    }
    let opts = yoz::image::codec::DecodeOptions {
        threads: 2,
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let d = yoz::neural::decode_image(&payload, &opts)?;
    let dec_s = t.elapsed().as_secs_f64();
    point(img, name, codec, q, payload.len() as u64, &d, enc_s, dec_s)
}

/// Drops alpha / expands gray so every codec sees the same RGB picture.
fn to_rgb(img: Image) -> Image {
    if img.channels == 3 {
        return img;
    }
    let ch = img.channels as usize;
    let mut d = Vec::with_capacity(img.pixels() as usize * 3);
    for p in img.data.chunks_exact(ch) {
        if ch <= 2 {
            d.extend_from_slice(&[p[0], p[0], p[0]]);
        } else {
            d.extend_from_slice(&p[..3]);
        }
    }
    Image {
        channels: 3,
        data: d,
        ..img
    }
}

fn to_ppm(img: &Image) -> Vec<u8> {
    let mut v = format!("P6\n{} {}\n255\n", img.width, img.height).into_bytes();
    v.extend_from_slice(&img.data);
    v
}

/// Parses a binary PPM (P6, maxval 255) as written by djpeg/dwebp.
fn from_ppm(b: &[u8]) -> Result<Image, Box<dyn std::error::Error>> {
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b.get(i) == Some(&b'#') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let s = i;
        while i < b.len() && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        if s == i {
            return Err("short PPM header".into());
        }
        fields.push(std::str::from_utf8(&b[s..i])?.to_string());
    }
    if fields[0] != "P6" || fields[3] != "255" {
        return Err("not an 8-bit P6 PPM".into());
    }
    let (w, h): (u32, u32) = (fields[1].parse()?, fields[2].parse()?);
    let data = b.get(i + 1..).ok_or("PPM without data")?.to_vec();
    Ok(Image::from_raw(w, h, 3, data)?)
}

/// CPU seconds (user + system) of this thread: on a shared, oversubscribed machine wall
/// time mostly measures the neighbours.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// CPU seconds (user + system) of all waited-for children so far.
fn children_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct we pass; all-zero is a valid rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs a peer tool and returns the CPU time it used (process start-up included).
fn timed(args: &[&str], paths: &[&Path]) -> Result<f64, Box<dyn std::error::Error>> {
    let t = children_cpu();
    let st = Command::new(args[0])
        .args(&args[1..])
        .args(paths)
        .status()?;
    if !st.success() {
        return Err(format!("{} failed", args[0]).into());
    }
    Ok(children_cpu() - t)
}

fn yoz_point(
    img: &Image,
    name: &str,
    codec: &'static str,
    q: u32,
    opts: &DctOptions,
) -> Result<Point, Box<dyn std::error::Error>> {
    let opts = DctOptions {
        quality: q as u8,
        ..*opts
    };
    let t = thread_cpu();
    let p = dct::encode(img, &opts)?;
    let enc_s = thread_cpu() - t;
    let t = thread_cpu();
    let d = dct::decode(&p, &DecodeLimits::default())?;
    let dec_s = thread_cpu() - t;
    point(img, name, codec, q, p.len() as u64, &d, enc_s, dec_s)
}

/// A point from the original, the decoded image, the coded size and the two times.
#[allow(clippy::too_many_arguments)]
fn point(
    img: &Image,
    name: &str,
    codec: &'static str,
    q: u32,
    bytes: u64,
    dec: &Image,
    enc_s: f64,
    dec_s: f64,
) -> Result<Point, Box<dyn std::error::Error>> {
    let mp = img.pixels() as f64;
    Ok(Point {
        image: name.into(),
        codec,
        q,
        bpp: bytes as f64 * 8.0 / mp,
        psnr: psnr(img, dec).ok_or("decoded size differs")?,
        enc_s,
        dec_s,
        mpix: mp / 1e6,
    })
}

#[allow(clippy::too_many_arguments)]
fn peer_point(
    img: &Image,
    name: &str,
    codec: &'static str,
    q: u32,
    file: &Path,
    dec: Image,
    enc_s: f64,
    dec_s: f64,
) -> Result<Point, Box<dyn std::error::Error>> {
    let bytes = std::fs::metadata(file)?.len();
    point(img, name, codec, q, bytes, &dec, enc_s, dec_s)
}

/// `(bpp, psnr)` pairs for the shared RD summaries.
fn pairs(v: &[&Point]) -> Vec<(f64, f64)> {
    v.iter().map(|p| (p.bpp, p.psnr)).collect()
}

fn bd_rate(anchor: &[&Point], test: &[&Point]) -> Option<f64> {
    yoz::image::rd::bd_rate(&pairs(anchor), &pairs(test), BPP_MIN..=BPP_MAX)
}

fn psnr_at(v: &[&Point], bpp: f64) -> Option<f64> {
    yoz::image::rd::psnr_at(&pairs(v), bpp)
}

fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.prec$}"))
}

fn report(pts: &[Point], out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out)?;
    let mut csv = String::from("image,codec,q,bpp,psnr_rgb,enc_s,dec_s,mpix\n");
    for p in pts {
        writeln!(
            csv,
            "{},{},{},{:.5},{:.4},{:.6},{:.6},{:.6}",
            p.image, p.codec, p.q, p.bpp, p.psnr, p.enc_s, p.dec_s, p.mpix
        )?;
    }
    std::fs::write(out.join("image-rd.csv"), &csv)?;

    let mut images: Vec<&str> = pts.iter().map(|p| p.image.as_str()).collect();
    images.dedup();
    let mut codecs: Vec<&'static str> = Vec::new();
    for p in pts {
        if !codecs.contains(&p.codec) {
            codecs.push(p.codec);
        }
    }
    let of = |img: &str, c: &str| -> Vec<&Point> {
        pts.iter()
            .filter(|p| p.image == img && p.codec == c)
            .collect()
    };
    let mut md = String::new();
    writeln!(md, "BD-rate against `cjpeg -optimize` (4:2:0), RGB PSNR, points within {BPP_MIN}–{BPP_MAX} bpp; negative = smaller files at equal PSNR; – where a codec has fewer than 4 points in that range. PSNR in dB at 0.5 / 1.0 bpp (interpolated; the mean only where every image reaches that rate).\n")?;
    writeln!(md, "Plot (`image-rd.png`): mean curve per codec, x = bpp 0–2, y = PSNR 28–52 dB; colours in column order: red, blue, green, orange, purple, cyan, black.\n")?;
    write!(md, "| image |")?;
    for c in &codecs {
        write!(md, " {c} BD-rate | {c} @0.5 | {c} @1.0 |")?;
    }
    writeln!(md)?;
    writeln!(md, "|---|{}", "---:|".repeat(codecs.len() * 3))?;
    let mut sums: Vec<(f64, usize, f64, usize, f64, usize)> =
        vec![(0.0, 0, 0.0, 0, 0.0, 0); codecs.len()];
    for img in &images {
        write!(md, "| {img} |")?;
        let anchor = of(img, "cjpeg");
        for (i, c) in codecs.iter().enumerate() {
            let v = of(img, c);
            let bd = if anchor.is_empty() {
                None
            } else {
                bd_rate(&anchor, &v)
            };
            let (a, b) = (psnr_at(&v, 0.5), psnr_at(&v, 1.0));
            for (val, (s, n)) in [(bd, (0, 1)), (a, (2, 3)), (b, (4, 5))] {
                if let Some(x) = val {
                    let t = &mut sums[i];
                    let arr: [&mut f64; 3] = [&mut t.0, &mut t.2, &mut t.4];
                    let cnt: [&mut usize; 3] = [&mut t.1, &mut t.3, &mut t.5];
                    *arr[s / 2] += x;
                    *cnt[n / 2] += 1;
                }
            }
            write!(
                md,
                " {}% | {} | {} |",
                fmt_opt(bd, 1),
                fmt_opt(a, 2),
                fmt_opt(b, 2)
            )?;
        }
        writeln!(md)?;
    }
    write!(md, "| **mean** |")?;
    for s in &sums {
        let m = |x: f64, n: usize| (n == images.len()).then(|| x / n as f64);
        // BD-rate: mean over the images where it is defined, with their count if not all.
        let bd = if s.1 == images.len() || s.1 == 0 {
            format!("{}%", fmt_opt(m(s.0, s.1), 1))
        } else {
            format!("{:.1}% ({} of {})", s.0 / s.1 as f64, s.1, images.len())
        };
        write!(
            md,
            " **{}** | {} | {} |",
            bd,
            fmt_opt(m(s.2, s.3), 2),
            fmt_opt(m(s.4, s.5), 2)
        )?;
    }
    writeln!(md)?;
    writeln!(md, "\nSpeed at quality 75 (avifenc: quantizer 27), CPU ms per megapixel (user + system), mean over images; yoz-dct in process (PNG I/O excluded), peers as whole processes reading and writing PPM (PNG for avif), start-up included:\n")?;
    writeln!(
        md,
        "| codec | encode ms/MP | decode ms/MP |\n|---|---:|---:|"
    )?;
    for c in &codecs {
        let v: Vec<&Point> = pts
            .iter()
            .filter(|p| p.codec == *c && (p.q == 75 || (*c == "avifenc" && p.q == 63 - 27)))
            .collect();
        if v.is_empty() {
            continue;
        }
        let e = v.iter().map(|p| p.enc_s / p.mpix).sum::<f64>() / v.len() as f64 * 1e3;
        let d = v.iter().map(|p| p.dec_s / p.mpix).sum::<f64>() / v.len() as f64 * 1e3;
        writeln!(md, "| {c} | {e:.1} | {d:.1} |")?;
    }
    summary(&mut md, pts, &images, &codecs)?;
    std::fs::write(out.join("image-rd.md"), &md)?;
    print!("{md}");
    plot(pts, &codecs, &out.join("image-rd.png"))?;
    Ok(())
}

/// One row per codec: mean BD-rate against cjpeg, mean PSNR at 0.25 / 0.5 / 1.0 bpp (where every
/// image reaches that rate), mean encode seconds and decode milliseconds per image and point.
fn summary(
    md: &mut String,
    pts: &[Point],
    images: &[&str],
    codecs: &[&'static str],
) -> Result<(), Box<dyn std::error::Error>> {
    let of = |img: &str, c: &str| -> Vec<&Point> {
        pts.iter()
            .filter(|p| p.image == img && p.codec == c)
            .collect()
    };
    writeln!(md, "\nBy codec (means over images; encode = wall or CPU seconds per image and point as above, neural = training wall time on 2 threads; decode ms per image):\n")?;
    writeln!(md, "| codec | BD-rate vs cjpeg | PSNR @0.25 | @0.5 | @1.0 | encode s | decode ms |\n|---|---:|---:|---:|---:|---:|---:|")?;
    let mean = |v: Vec<Option<f64>>| -> Option<f64> {
        let n = v.len();
        let s: Option<Vec<f64>> = v.into_iter().collect();
        s.filter(|s| !s.is_empty())
            .map(|s| s.iter().sum::<f64>() / n as f64)
    };
    for c in codecs {
        let bd = mean(
            images
                .iter()
                .map(|i| bd_rate(&of(i, "cjpeg"), &of(i, c)))
                .collect(),
        );
        let at = |b: f64| mean(images.iter().map(|i| psnr_at(&of(i, c), b)).collect());
        let all: Vec<&Point> = pts.iter().filter(|p| p.codec == *c).collect();
        let enc = all.iter().map(|p| p.enc_s).sum::<f64>() / all.len().max(1) as f64;
        let dec = all.iter().map(|p| p.dec_s).sum::<f64>() / all.len().max(1) as f64 * 1e3;
        writeln!(
            md,
            "| {c} | {}% | {} | {} | {} | {enc:.3} | {dec:.1} |",
            fmt_opt(bd, 1),
            fmt_opt(at(0.25), 2),
            fmt_opt(at(0.5), 2),
            fmt_opt(at(1.0), 2)
        )?;
    }
    Ok(())
}

/// 3x5 glyphs for the axis labels: digits and '.', one row per u8 (bit 2 = left column).
const GLYPHS: [(char, [u8; 5]); 11] = [
    ('0', [7, 5, 5, 5, 7]),
    ('1', [2, 6, 2, 2, 7]),
    ('2', [7, 1, 7, 4, 7]),
    ('3', [7, 1, 7, 1, 7]),
    ('4', [5, 5, 7, 1, 1]),
    ('5', [7, 4, 7, 1, 7]),
    ('6', [7, 4, 7, 5, 7]),
    ('7', [7, 1, 1, 1, 1]),
    ('8', [7, 5, 7, 5, 7]),
    ('9', [7, 5, 7, 1, 7]),
    ('.', [0, 0, 0, 0, 2]),
];

/// Mean RD curve per codec (mean bpp and PSNR over images at each quality), drawn as a PNG
/// without a plotting dependency: x = 0..2 bpp (labels every 0.5), y = 28..52 dB (labels
/// every 4 dB); legend swatches bottom right in the order of the Markdown table's columns.
fn plot(
    pts: &[Point],
    codecs: &[&'static str],
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    const W: usize = 800;
    const H: usize = 560;
    const M: usize = 48;
    let (x0, x1, y0, y1) = (0.0, 2.0, 28.0, 52.0);
    let mut px = vec![255u8; W * H * 3];
    let put = |px: &mut Vec<u8>, x: i64, y: i64, c: [u8; 3]| {
        if x >= M as i64 && y >= M as i64 && x <= (W - M) as i64 && y <= (H - M) as i64 {
            let i = (y as usize * W + x as usize) * 3;
            px[i..i + 3].copy_from_slice(&c);
        }
    };
    let text = |px: &mut Vec<u8>, x: usize, y: usize, s: &str| {
        for (k, ch) in s.chars().enumerate() {
            let Some((_, g)) = GLYPHS.iter().find(|(c, _)| *c == ch) else {
                continue;
            };
            for (r, bits) in g.iter().enumerate() {
                for col in 0..3 {
                    if bits >> (2 - col) & 1 == 1 {
                        for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                            let (xx, yy) = (x + k * 8 + col * 2 + dx, y + r * 2 + dy);
                            if xx < W && yy < H {
                                px[(yy * W + xx) * 3..(yy * W + xx) * 3 + 3].fill(0);
                            }
                        }
                    }
                }
            }
        }
    };
    let sx = |b: f64| M as f64 + (b - x0) / (x1 - x0) * (W - 2 * M) as f64;
    let sy = |d: f64| (H - M) as f64 - (d - y0) / (y1 - y0) * (H - 2 * M) as f64;
    for i in 0..=8 {
        let x = sx(i as f64 * 0.25) as i64;
        for y in M..=H - M {
            put(&mut px, x, y as i64, if i == 0 { [0; 3] } else { [210; 3] });
        }
        if i % 2 == 0 {
            text(
                &mut px,
                x as usize - 6,
                H - M + 8,
                &format!("{}", i as f64 * 0.25),
            );
        }
    }
    for i in 0..=12 {
        let d = y0 + i as f64 * 2.0;
        let y = sy(d) as i64;
        for x in M..=W - M {
            put(&mut px, x as i64, y, if i == 0 { [0; 3] } else { [210; 3] });
        }
        if i % 2 == 0 {
            text(&mut px, 12, y as usize - 5, &format!("{d}"));
        }
    }
    let colours = [
        [220, 30, 30],
        [30, 30, 220],
        [30, 160, 30],
        [200, 130, 0],
        [130, 0, 160],
        [0, 170, 190],
        [0, 0, 0],
    ];
    for (ci, c) in codecs.iter().enumerate() {
        let col = colours[ci % colours.len()];
        let mut qs: Vec<u32> = pts.iter().filter(|p| p.codec == *c).map(|p| p.q).collect();
        qs.sort();
        qs.dedup();
        let curve: Vec<(f64, f64)> = qs
            .iter()
            .map(|&q| {
                let v: Vec<&Point> = pts.iter().filter(|p| p.codec == *c && p.q == q).collect();
                let n = v.len() as f64;
                (
                    v.iter().map(|p| p.bpp).sum::<f64>() / n,
                    v.iter().map(|p| p.psnr).sum::<f64>() / n,
                )
            })
            .collect();
        for w in curve.windows(2) {
            let (ax, ay, bx, by) = (sx(w[0].0), sy(w[0].1), sx(w[1].0), sy(w[1].1));
            let steps = ((bx - ax).abs().max((by - ay).abs()) as usize).max(1);
            for s in 0..=steps {
                let t = s as f64 / steps as f64;
                let (x, y) = ((ax + t * (bx - ax)) as i64, (ay + t * (by - ay)) as i64);
                for d in -1..=1 {
                    put(&mut px, x + d, y, col);
                    put(&mut px, x, y + d, col);
                }
            }
        }
        for y in 0..10 {
            for x in 0..30 {
                let (lx, ly) = (
                    W - M - 50 + x,
                    H - M - 20 - (codecs.len() - 1 - ci) * 16 + y,
                );
                put(&mut px, lx as i64, ly as i64, col);
            }
        }
    }
    let img = Image::from_raw(W as u32, H as u32, 3, px)?;
    std::fs::write(path, encode_png(&img)?)?;
    Ok(())
}
