//! The conformance vectors: each valid one covers a feature of the spec, each invalid one breaks
//! exactly one rule. `tools/gen-corpus` writes them to `corpus/`; the spec's appendix B and
//! `corpus/README.md` list them.

use super::forge::{block, meta, Built, Forge, Rec};
use crate::codec::id;
use crate::container::format::*;

/// What a correct reader extracts for one entry of a valid vector.
#[derive(Debug, Clone)]
pub enum Expect {
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    Dir {
        path: String,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
    /// A FIFO with these permission bits (format 1.4).
    Fifo {
        path: String,
        mode: u32,
    },
    /// A lossy image entry: extracted as a PNG of this shape whose decoded pixels are exactly
    /// these (the DCT decoder is bit-exact).
    Image {
        path: String,
        width: u32,
        height: u32,
        channels: u8,
        pixels: Vec<u8>,
    },
    /// A neural image entry: extracted as a PNG of this shape whose pixels are each within
    /// `tolerance` code values of the reference decode (codec-neural.md §7).
    ImageApprox {
        path: String,
        width: u32,
        height: u32,
        channels: u8,
        tolerance: u8,
        pixels: Vec<u8>,
    },
}

/// A deterministic, untrained neural image (conformance needs a well-formed payload whose
/// output varies, not a good picture).
pub fn neural_sample(
    w: u32,
    h: u32,
    channels: u8,
    alpha: bool,
    seed: u32,
) -> crate::neural::payload::NeuralImage {
    use crate::neural::arch::{grid_dims, syn_param_count, ARM_PARAMS, SYN_TENSORS};
    let mut x = seed;
    let mut next = move || {
        x = x.wrapping_mul(1664525).wrapping_add(1013904223);
        x >> 8
    };
    let syn = (0..syn_param_count(24, channels as usize))
        .map(|_| (next() % 61) as i32 - 30)
        .collect();
    let arm: Vec<f32> = (0..ARM_PARAMS)
        .map(|_| (next() % 100) as f32 / 100.0 - 0.5)
        .collect();
    let latents = grid_dims(w as usize, h as usize)
        .iter()
        .map(|&(a, b)| (0..a * b).map(|_| (next() % 9) as i32 - 4).collect())
        .collect();
    crate::neural::payload::NeuralImage {
        arch: crate::neural::arch::ARCH_V1,
        width: w,
        height: h,
        channels,
        syn,
        steps: [0.02; SYN_TENSORS],
        arm: crate::neural::arm::ArmQ::from_float(crate::neural::arch::ARCH_V1, &arm),
        latents,
        alpha: alpha.then(|| (0..w * h).map(|i| (i * 5 % 256) as u8).collect()),
        filter: None,
        residual: None,
        tables: crate::neural::arm::TableSet::Set1,
    }
}

/// [`neural_sample`] in architecture 2 (codec-neural.md §5.2): the same integers behind
/// power-of-two steps, entropy coded.
pub fn neural_sample_v2(
    w: u32,
    h: u32,
    channels: u8,
    alpha: bool,
    seed: u32,
) -> crate::neural::payload::NeuralImage {
    let mut n = neural_sample(w, h, channels, alpha, seed);
    n.arch = crate::neural::arch::ARCH_V2;
    let mut x = seed ^ 0x5bd1_e995;
    let arm: Vec<f32> = (0..crate::neural::arch::ARM2_PARAMS)
        .map(|_| {
            x = x.wrapping_mul(1664525).wrapping_add(1013904223);
            ((x >> 8) % 100) as f32 / 400.0 - 0.125
        })
        .collect();
    n.arm = crate::neural::arm::ArmQ::from_float(n.arch, &arm);
    for (t, s) in n.steps.iter_mut().enumerate() {
        *s = crate::neural::weights::step_of([5, 6, 5, 7, 6, 8, 6, 9][t]);
    }
    // Some zeros, as a trained and pruned network has.
    for (i, q) in n.syn.iter_mut().enumerate() {
        if i % 3 == 0 {
            *q = 0;
        }
    }
    n
}

/// [`neural_sample_v2`] in architecture 3 (codec-neural.md §2): the 32-wide synthesis, its
/// integers drawn as the narrow sample's are, every third one zero.
pub fn neural_sample_v3(
    w: u32,
    h: u32,
    channels: u8,
    alpha: bool,
    seed: u32,
) -> crate::neural::payload::NeuralImage {
    use crate::neural::arch::{syn_param_count, ARCH_V3, SYN_HIDDEN_WIDE};
    let mut n = neural_sample_v2(w, h, channels, alpha, seed);
    n.arch = ARCH_V3;
    n.arm.arch = ARCH_V3;
    let mut x = seed ^ 0x2545_f491;
    n.syn = (0..syn_param_count(SYN_HIDDEN_WIDE, channels as usize))
        .map(|i| {
            x = x.wrapping_mul(1664525).wrapping_add(1013904223);
            if i % 3 == 0 {
                0
            } else {
                ((x >> 8) % 61) as i32 - 30
            }
        })
        .collect();
    n
}

/// `n` with a low-frequency residual of blocks `2^log2` (codec-neural.md §4 step 3b): per
/// channel the step `2^-e` of `exps` and integers in -40..=40, a few zero.
pub fn with_residual(
    mut n: crate::neural::payload::NeuralImage,
    log2: u8,
    exps: &[u8],
) -> crate::neural::payload::NeuralImage {
    let (gw, gh) = crate::neural::residual::dims(n.width as usize, n.height as usize, log2);
    let mut x = u32::from(log2) * 7919 + n.width;
    let values = exps
        .iter()
        .map(|_| {
            (0..gw * gh)
                .map(|i| {
                    x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                    if i % 4 == 1 {
                        0
                    } else {
                        ((x >> 8) % 81) as i32 - 40
                    }
                })
                .collect()
        })
        .collect();
    n.residual = Some(crate::neural::residual::Residual {
        log2,
        exps: exps.to_vec(),
        values,
    });
    n
}

/// The image blob, entry info and reference pixels (spec §4, plain-loop synthesis) of a
/// neural sample.
pub fn neural_entry(
    n: &crate::neural::payload::NeuralImage,
) -> (Vec<u8>, crate::container::format::ImageInfo, Vec<u8>) {
    let payload = crate::neural::payload::encode(n).expect("valid sample");
    neural_entry_with(n, &payload)
}

/// [`neural_entry`] around a given payload (which the invalid vectors damage).
pub fn neural_entry_with(
    n: &crate::neural::payload::NeuralImage,
    payload: &[u8],
) -> (Vec<u8>, crate::container::format::ImageInfo, Vec<u8>) {
    let mut img = crate::image::Image::new(n.width, n.height, n.output_channels()).expect("small");
    img.data.iter_mut().for_each(|p| *p = 7);
    let png = crate::image::png_io::encode_png(&img).expect("encodes");
    let (blob, info) = crate::neural::encode_blob(&png, "sample", payload).expect("wraps");
    let planes = crate::neural::synth::synthesize(
        &n.grids_f32(),
        &n.syn_params_f32(),
        n.channels as usize,
        n.width as usize,
        n.height as usize,
    );
    (blob, info, crate::neural::assemble_image(n, &planes).data)
}

/// A valid vector.
pub struct Valid {
    pub name: &'static str,
    pub about: &'static str,
    pub bytes: Vec<u8>,
    pub expect: Vec<Expect>,
}

/// An invalid vector: the classes `verify` and `unpack` must report (`ok` = must succeed).
pub struct Invalid {
    pub name: &'static str,
    pub about: &'static str,
    pub verify: &'static [&'static str],
    pub unpack: &'static [&'static str],
    pub bytes: Vec<u8>,
}

fn text(n: usize, seed: u32) -> Vec<u8> {
    let words = [
        "yoz ", "block ", "index ", "codec ", "stream ", "footer ", "entry\n",
    ];
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(words[(x % 7) as usize].as_bytes());
    }
    out.truncate(n);
    out
}

fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 11) as u8
        })
        .collect()
}

/// A file the manifest expects; manifest paths are in the escape form of spec §4.2.4.
fn file(path: &str, data: &[u8]) -> Expect {
    Expect::File {
        path: crate::path::escape_bytes(path.as_bytes()),
        mode: 0o644,
        data: data.to_vec(),
    }
}
fn dir(path: &str) -> Expect {
    Expect::Dir {
        path: crate::path::escape_bytes(path.as_bytes()),
        mode: 0o755,
    }
}

/// All valid vectors.
pub fn valid() -> Vec<Valid> {
    let mut v = Vec::new();
    let mut add = |name, about, f: &Forge, expect| {
        v.push(Valid {
            name,
            about,
            bytes: f.build().bytes,
            expect,
        });
    };

    add("empty", "an archive with no entries", &Forge::new(), vec![]);

    let d = text(3000, 1);
    add(
        "store-single",
        "one file in one stored block (codec 0)",
        Forge::new().file("a.txt", &d, id::STORE, 1 << 20),
        vec![file("a.txt", &d)],
    );

    let (d1, d2, d3) = (text(20_000, 2), text(20_000, 3), text(20_000, 4));
    let mut f = Forge::new();
    for (i, (p, d, lvl)) in [("l1.txt", &d1, 1), ("l3.txt", &d2, 3), ("l19.txt", &d3, 19)]
        .into_iter()
        .enumerate()
    {
        let mut e = meta(p, Kind::File);
        e.size = d.len() as u64;
        let mut payload = Vec::new();
        let params = crate::codec::by_id(id::ZSTD)
            .unwrap()
            .compress(d, lvl, &mut payload)
            .unwrap();
        e.storage = Storage::Blocks {
            first: i as u32,
            count: 1,
        };
        f.recs.push(Rec::Entry(e));
        let info = BlockInfo {
            params,
            comp_len: payload.len() as u32,
            ..block(d, id::STORE).0
        };
        f.push_block(
            BlockInfo {
                codec: id::ZSTD,
                ..info
            },
            payload,
        );
    }
    add(
        "zstd-levels",
        "zstd blocks (codec 1) written at levels 1, 3 and 19 (params differ)",
        &f,
        vec![
            file("l1.txt", &d1),
            file("l3.txt", &d2),
            file("l19.txt", &d3),
        ],
    );

    let d = text(50_000, 5);
    add(
        "multi-block",
        "a 50,000-byte file in 4 KiB zstd blocks, the last one partial",
        Forge::new().file("big.txt", &d, id::ZSTD, 4096),
        vec![file("big.txt", &d)],
    );

    let mut f = Forge::new();
    let mut exp = Vec::new();
    let files: Vec<(String, Vec<u8>)> = (0..300)
        .map(|i| {
            (
                format!("src/m{}/f{i:03}.txt", i % 7),
                text(50 + i * 3, i as u32),
            )
        })
        .collect();
    for chunk in files.chunks(150) {
        let refs: Vec<(&str, &[u8])> = chunk
            .iter()
            .map(|(p, d)| (p.as_str(), d.as_slice()))
            .collect();
        f.shared(&refs, id::ZSTD);
        exp.extend(chunk.iter().map(|(p, d)| file(p, d)));
    }
    add(
        "shared-blocks",
        "300 small files in two shared blocks, directories implied by paths only",
        &f,
        exp,
    );

    add(
        "empty-file-and-dir",
        "an empty file (no storage) and an empty directory",
        Forge::new()
            .dir("empty-dir")
            .file("empty.txt", b"", id::STORE, 4096),
        vec![dir("empty-dir"), file("empty.txt", b"")],
    );

    let d = text(100, 6);
    add(
        "symlinks",
        "relative, absolute and dangling symlinks (targets stored verbatim)",
        Forge::new()
            .file("target.txt", &d, id::STORE, 4096)
            .symlink("rel", "target.txt")
            .symlink("abs", "/etc/hostname")
            .symlink("dangling", "no/such/file"),
        vec![
            file("target.txt", &d),
            Expect::Symlink {
                path: "rel".into(),
                target: "target.txt".into(),
            },
            Expect::Symlink {
                path: "abs".into(),
                target: "/etc/hostname".into(),
            },
            Expect::Symlink {
                path: "dangling".into(),
                target: "no/such/file".into(),
            },
        ],
    );

    let d = text(5000, 7);
    add(
        "hardlinks",
        "a file and two hard links to it",
        Forge::new()
            .file("orig.txt", &d, id::ZSTD, 4096)
            .dir("d")
            .hardlink("d/link1", "orig.txt")
            .hardlink("link2", "orig.txt"),
        vec![
            file("orig.txt", &d),
            dir("d"),
            file("d/link1", &d),
            file("link2", &d),
        ],
    );

    let (big, s1, s2) = (text(9000, 60), text(700, 61), text(500, 62));
    let mut f = Forge::new();
    f.reader_minor = 2;
    f.file("big.txt", &big, id::ZSTD, 4096)
        .shared(&[("s1.txt", &s1), ("s2.txt", &s2)], id::ZSTD)
        .copy("big-copy.txt", 0, big.len())
        .copy("d/s2-copy.txt", 2, s2.len());
    f.last_entry().mode = 0o600;
    add(
        "copies",
        "files stored as copies of earlier ones (storage 3, format 1.2): of a file with blocks, and of a slice of a shared block, with a mode of its own",
        &f,
        vec![
            file("big.txt", &big),
            file("s1.txt", &s1),
            file("s2.txt", &s2),
            file("big-copy.txt", &big),
            Expect::File {
                path: "d/s2-copy.txt".into(),
                mode: 0o600,
                data: s2.clone(),
            },
        ],
    );

    let (dict, h1, h2, h3, big) = dictionary_sample();
    let mut f = Forge::new();
    f.reader_minor = 2;
    let zd = crate::codec::dict::ZstdDict::new(dict.clone()).expect("raw content dictionary");
    f.dictionary(0, &dict)
        .shared_with_dict(
            &[("inc/a.h", &h1), ("inc/b.h", &h2), ("inc/c.h", &h3)],
            &zd,
            0,
        )
        .file("big.txt", &big, id::ZSTD, 4096);
    add(
        "dictionary",
        "a zstd dictionary (resource kind 1, raw content, format 1.2) named by a shared block of three small files; a file with blocks of its own that names none",
        &f,
        vec![
            file("inc/a.h", &h1),
            file("inc/b.h", &h2),
            file("inc/c.h", &h3),
            file("big.txt", &big),
        ],
    );

    let long_comp = "n".repeat(255);
    let mut deep = String::new();
    while deep.len() + 101 < 4000 {
        if !deep.is_empty() {
            deep.push('/');
        }
        deep.push_str(&"d".repeat(100));
    }
    let deep_file = format!("{deep}/f");
    let names = [
        "ünïcødé.txt",
        "日本語/ファイル.txt",
        "emoji 🎉.txt",
        "sp ace & 'quote'.txt",
        "back\\slash",
        "..dots..",
        ".hidden",
    ];
    let mut f = Forge::new();
    let mut exp = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let d = text(10 + i, 8 + i as u32);
        f.file(n, &d, id::STORE, 4096);
        exp.push(file(n, &d));
    }
    f.file(&long_comp, b"255", id::STORE, 4096)
        .file(&deep_file, b"deep", id::STORE, 4096);
    exp.push(file(&long_comp, b"255"));
    exp.push(file(&deep_file, b"deep"));
    add(
        "unicode-long-paths",
        "unicode names, a 255-byte component, a path of nearly 4096 bytes",
        &f,
        exp,
    );

    let data_part = text(4096, 9);
    let mut sparse = vec![0u8; 8192];
    sparse.extend_from_slice(&data_part);
    sparse.extend(std::iter::repeat_n(0u8, 4096));
    let mut f = Forge::new();
    let mut e = meta("sparse.bin", Kind::File);
    e.size = sparse.len() as u64;
    e.storage = Storage::Blocks { first: 0, count: 4 };
    f.recs.push(Rec::Entry(e));
    for (c, codec) in sparse
        .chunks(4096)
        .zip([id::ZEROS, id::ZEROS, id::ZSTD, id::ZEROS])
    {
        let (info, p) = block(c, codec);
        f.push_block(info, p);
    }
    add(
        "sparse-zeros",
        "a file whose holes are zeros blocks (codec 2), including a trailing hole",
        &f,
        vec![file("sparse.bin", &sparse)],
    );

    let mixed: Vec<u8> = noise(4096, 10).into_iter().chain(text(4096, 11)).collect();
    let mut f = Forge::new();
    let mut e = meta("mixed.bin", Kind::File);
    e.size = mixed.len() as u64;
    e.storage = Storage::Blocks { first: 0, count: 2 };
    f.recs.push(Rec::Entry(e));
    for (c, codec) in mixed.chunks(4096).zip([id::STORE, id::ZSTD]) {
        let (info, p) = block(c, codec);
        f.push_block(info, p);
    }
    add(
        "per-block-codecs",
        "one file whose blocks use different codecs (store, then zstd)",
        &f,
        vec![file("mixed.bin", &mixed)],
    );

    let mut f = Forge::new();
    let mut exp = Vec::new();
    for i in 0..1000 {
        let p = format!("many/e{i:04}");
        f.file(&p, b"", id::STORE, 4096);
        exp.push(file(&p, b""));
    }
    add(
        "many-entries",
        "1000 empty files under one implied directory",
        &f,
        exp,
    );

    let mut f = Forge::new();
    f.dir("sticky");
    if let Rec::Entry(e) = f.recs.last_mut().unwrap() {
        e.mode = 0o1777;
    }
    f.file("private", b"secret", id::STORE, 4096);
    f.last_entry().mode = 0o600;
    f.file("exec", b"#!/bin/sh\n", id::STORE, 4096);
    f.last_entry().mode = 0o4755;
    f.last_entry().mtime = -86400;
    add(
        "modes-mtimes",
        "modes 1777 (directory), 600, 4755 (setuid: dropped on extraction), an mtime before 1970",
        &f,
        vec![
            Expect::Dir {
                path: "sticky".into(),
                mode: 0o1777,
            },
            Expect::File {
                path: "private".into(),
                mode: 0o600,
                data: b"secret".to_vec(),
            },
            Expect::File {
                path: "exec".into(),
                mode: 0o4755,
                data: b"#!/bin/sh\n".to_vec(),
            },
        ],
    );
    let (h, l) = (text(30_000, 50), text(30_000, 51));
    let lrep: Vec<u8> = l.iter().chain(l.iter()).copied().collect();
    let mut f = Forge::new();
    f.file("huff.txt", &h, id::HUFFMAN, 16_384)
        .file("lz.txt", &lrep, id::LZ77, 16_384);
    // Lossy image entries: an RGB image in a shared block with a kept tEXt chunk, and an RGBA
    // image (alpha lossless) spread over several blocks.
    let mut fi = Forge::new();
    let mut exp_img = Vec::new();
    for (name, w, h, ch, block) in [
        ("photo.png", 48u32, 32u32, 3u8, 1 << 20),
        ("sprite.png", 40, 40, 4, 512),
    ] {
        let mut img = crate::image::Image::new(w, h, ch).expect("small image");
        for (i, px) in img.data.iter_mut().enumerate() {
            let (x, y, c) = (
                (i / ch as usize) % w as usize,
                (i / ch as usize) / w as usize,
                i % ch as usize,
            );
            *px = ((x * 5 + y * 3 + c * 40) % 256) as u8
                ^ if (x / 8 + y / 8) % 2 == 0 { 0 } else { 0x30 };
        }
        let chunks = vec![crate::image::png_stored::PngChunk {
            kind: *b"tEXt",
            data: b"Comment\0yoz conformance".to_vec(),
        }];
        let (blob, info) =
            crate::image::entry::encode_image(&img, &chunks, 80, 4321).expect("encodes");
        let png =
            crate::image::entry::png_bytes(&blob, &info, &Default::default()).expect("decodes");
        let decoded = crate::image::png_io::decode_png(&png, name, 1 << 20).expect("valid PNG");
        fi.file(name, &blob, id::STORE, block);
        fi.last_entry().image = Some(info);
        exp_img.push(Expect::Image {
            path: name.into(),
            width: w,
            height: h,
            channels: ch,
            pixels: decoded.data,
        });
    }
    v.push(Valid {
        name: "lossy-dct",
        about: "lossy image entries (entry flag 0, codec dct): RGB with a kept tEXt chunk, RGBA over several blocks",
        bytes: fi.build().bytes,
        expect: exp_img,
    });
    let neural =
        |name: &'static str,
         about: &'static str,
         entries: [(&str, crate::neural::payload::NeuralImage, usize); 2]| {
            let mut f = Forge::new();
            f.reader_minor = 1;
            let mut expect = Vec::new();
            for (path, n, block) in entries {
                let (blob, info, pixels) = neural_entry(&n);
                f.file(path, &blob, id::STORE, block);
                f.last_entry().image = Some(info);
                expect.push(Expect::ImageApprox {
                    path: path.into(),
                    width: n.width,
                    height: n.height,
                    channels: info.channels,
                    tolerance: 2,
                    pixels,
                });
            }
            Valid {
                name,
                about,
                bytes: f.build().bytes,
                expect,
            }
        };
    v.push(neural(
        "lossy-neural",
        "neural image entries (image codec 2, format 1.1): RGB, and gray + alpha over several blocks; pixels within 2 of the reference (codec-neural.md §7)",
        [
            ("rgb.png", neural_sample(37, 23, 3, false, 37 * 31 + 23), 1 << 20),
            ("gray-alpha.png", neural_sample(20, 33, 1, true, 20 * 31 + 33), 1024),
        ],
    ));
    v.push(neural(
        "lossy-neural-v2",
        "neural image entries in architecture 2 (entropy-coded weights, codec-neural.md §5.2): RGB, and gray + alpha over several blocks; pixels within 2 of the reference (codec-neural.md §7)",
        [
            ("rgb.png", neural_sample_v2(29, 18, 3, false, 29 * 17 + 18), 1 << 20),
            ("gray-alpha.png", neural_sample_v2(17, 26, 1, true, 17 * 17 + 26), 1024),
        ],
    ));
    let filtered = |mut n: crate::neural::payload::NeuralImage, q: [i32; 12]| {
        n.filter = Some(q);
        n
    };
    v.push(neural(
        "lossy-neural-filter",
        "neural image entries in architecture 2 with the learned pre-upsampling filter (flag bit 1, codec-neural.md §4 step 0): sharpening and smoothing grids, RGB and gray + alpha; pixels within 2 of the reference (codec-neural.md §7)",
        [
            (
                "rgb.png",
                filtered(
                    neural_sample_v2(29, 18, 3, false, 29 * 17 + 18),
                    [-60, 10, 40, -5, -128, 0, 255, -255, 3, 0, -17, 90],
                ),
                1 << 20,
            ),
            (
                "gray-alpha.png",
                filtered(
                    neural_sample_v2(17, 26, 1, true, 17 * 17 + 26),
                    [12, -3, -40, 8, 0, 0, 64, 16, -200, 30, 5, -5],
                ),
                1024,
            ),
        ],
    ));
    v.push(neural(
        "lossy-neural-v3",
        "neural image entries in architecture 3 (the 32-wide synthesis, codec-neural.md §2): RGB with the pre-upsampling filter, and gray + alpha over several blocks; pixels within 2 of the reference (codec-neural.md §7)",
        [
            (
                "rgb.png",
                filtered(
                    neural_sample_v3(31, 19, 3, false, 31 * 17 + 19),
                    [-30, 12, 25, -9, -64, 3, 100, -20, 0, 0, 8, -8],
                ),
                1 << 20,
            ),
            ("gray-alpha.png", neural_sample_v3(18, 25, 1, true, 18 * 17 + 25), 1024),
        ],
    ));
    let set2 = |mut n: crate::neural::payload::NeuralImage| {
        n.tables = crate::neural::arm::TableSet::Set2;
        n
    };
    v.push(neural(
        "lossy-neural-tables2",
        "neural image entries whose latents use table set 2 (flag bit 2, codec-neural.md §3.4: means in eighths, alphabets narrowed to the scale): architecture 2 RGB with the pre-upsampling filter, architecture 3 gray + alpha over several blocks; pixels within 2 of the reference (codec-neural.md §7)",
        [
            (
                "rgb.png",
                set2(filtered(
                    neural_sample_v2(27, 21, 3, false, 27 * 17 + 21),
                    [-60, 10, 40, -5, -128, 0, 255, -255, 3, 0, -17, 90],
                )),
                1 << 20,
            ),
            (
                "gray-alpha.png",
                set2(neural_sample_v3(19, 24, 1, true, 19 * 17 + 24)),
                1024,
            ),
        ],
    ));
    v.push(neural(
        "lossy-neural-residual",
        "neural image entries with the low-frequency residual (flag bit 3, codec-neural.md §4 step 3b, §5.2): architecture 2 RGB with the filter, table set 2 and residual blocks of 4 pixels, architecture 3 gray + alpha with blocks of 64 pixels (one value) over several container blocks; pixels within 2 of the reference (codec-neural.md §7)",
        [
            (
                "rgb.png",
                with_residual(
                    set2(filtered(
                        neural_sample_v2(27, 21, 3, false, 27 * 17 + 21),
                        [-60, 10, 40, -5, -128, 0, 255, -255, 3, 0, -17, 90],
                    )),
                    2,
                    &[7, 8, 9],
                ),
                1 << 20,
            ),
            (
                "gray-alpha.png",
                with_residual(neural_sample_v3(19, 24, 1, true, 19 * 17 + 24), 6, &[6]),
                1024,
            ),
        ],
    ));
    let r = text(40_000, 55);
    let rrep: Vec<u8> = r.iter().chain(r.iter()).copied().collect();
    let mut fl = Forge::new();
    fl.reader_minor = crate::codec::reader_minor(id::LZR);
    fl.file("lzr.txt", &rrep, id::LZR, 16_384);
    v.push(Valid {
        name: "lzr",
        about: "a file coded with lzr (codec 5, format 1.3) over several blocks",
        bytes: fl.build().bytes,
        expect: vec![file("lzr.txt", &rrep)],
    });
    let c = text(20_000, 56);
    let mut fc = Forge::new();
    fc.reader_minor = crate::codec::reader_minor(id::CM);
    fc.file("cm.txt", &c, id::CM, 8192);
    v.push(Valid {
        name: "cm",
        about: "a file coded with cm (codec 6, context mixing, format 1.3) over several blocks",
        bytes: fc.build().bytes,
        expect: vec![file("cm.txt", &c)],
    });
    // Model 2 on what it is for: fixed-size binary records, then a repeat with changed bytes.
    let recs: Vec<u8> = (0..1500u64)
        .flat_map(|i| {
            let mut r = (0x0040_0000 + i * 40).to_le_bytes().to_vec();
            r.extend_from_slice(&[(i % 7) as u8, 0, (i * 13 % 251) as u8, 0]);
            r
        })
        .collect();
    let mut bin = recs.clone();
    bin.extend(
        recs.iter()
            .enumerate()
            .map(|(i, &b)| if i % 29 == 28 { !b } else { b }),
    );
    // lzr2: a text file, and machine-code-like bytes its x86 filter takes (codec-lzr §7.3).
    let code = x86_sample(40_000);
    assert_eq!(
        block(&code[..16_384], id::LZR2).1[..4],
        [1, 3, 2, 1],
        "the sample is coded with the x86 filter"
    );
    let mut f2 = Forge::new();
    f2.reader_minor = crate::codec::reader_minor(id::LZR2);
    f2.file("lzr2.txt", &rrep, id::LZR2, 16_384)
        .file("lzr2.bin", &code, id::LZR2, 16_384);
    v.push(Valid {
        name: "lzr2",
        about: "a text file and machine-code-like bytes (x86 filter, §7.3) coded with lzr2 (codec 9, format 1.7) over several blocks",
        bytes: f2.build().bytes,
        expect: vec![file("lzr2.txt", &rrep), file("lzr2.bin", &code)],
    });
    // Models 2 and 3 on the same data.
    for (codec, name, bin_name, txt_name, about) in [
        (
            id::CM2,
            "cm2",
            "cm2.bin",
            "cm2.txt",
            "a binary file over several blocks and a text file coded with cm2 (codec 7, context mixing model 2, format 1.5)",
        ),
        (
            id::CM3,
            "cm3",
            "cm3.bin",
            "cm3.txt",
            "a binary file over several blocks and a text file coded with cm3 (codec 8, context mixing model 3, format 1.6)",
        ),
    ] {
        let mut f = Forge::new();
        f.reader_minor = crate::codec::reader_minor(codec);
        f.file(bin_name, &bin, codec, 8192)
            .file(txt_name, &c[..7000], codec, 8192);
        v.push(Valid {
            name,
            about,
            bytes: f.build().bytes,
            expect: vec![file(bin_name, &bin), file(txt_name, &c[..7000])],
        });
    }
    let mut ff = Forge::new();
    ff.reader_minor = 4;
    ff.dir("run").node("run/ctl.fifo", Kind::Fifo, (0, 0)).file(
        "run/after.txt",
        b"after the FIFO\n",
        id::STORE,
        4096,
    );
    v.push(Valid {
        name: "fifo",
        about: "a FIFO entry (kind 4, format 1.4) between a directory and a file: extracted as a \
                named pipe with its mode, never opened",
        bytes: ff.build().bytes,
        expect: vec![
            dir("run"),
            Expect::Fifo {
                path: "run/ctl.fifo".into(),
                mode: 0o644,
            },
            file("run/after.txt", b"after the FIFO\n"),
        ],
    });
    // Names that are not UTF-8 (entry flag bit 2, §4.2.4): a directory, a file in it, a symlink
    // to it, and beside them a plain name with a backslash (no flag).
    let mut fn8 = Forge::new();
    fn8.reader_minor = 4;
    let mut d = meta("caf\\xe9", Kind::Dir);
    d.escaped = true;
    fn8.recs.push(Rec::Entry(d));
    fn8.file("caf\\xe9/menu\\xff.txt", b"croissant\n", id::STORE, 4096);
    for r in fn8.recs.iter_mut().rev() {
        if let Rec::Entry(e) = r {
            e.escaped = true;
            break;
        }
    }
    let mut l = meta("menu", Kind::Symlink);
    (l.target, l.escaped) = ("caf\\xe9/menu\\xff.txt".into(), true);
    fn8.recs.push(Rec::Entry(l));
    fn8.file("plain\\name", b"a backslash\n", id::STORE, 4096);
    v.push(Valid {
        name: "non-utf8-names",
        about: "a directory and a file whose names are not UTF-8 (bytes 0xE9, 0xFF) and a \
                symlink to them, stored in the escape form (entry flag bit 2, format 1.4), beside \
                a plain name with a backslash",
        bytes: fn8.build().bytes,
        expect: vec![
            Expect::Dir {
                path: "caf\\xe9".into(),
                mode: 0o755,
            },
            Expect::File {
                path: "caf\\xe9/menu\\xff.txt".into(),
                mode: 0o644,
                data: b"croissant\n".to_vec(),
            },
            Expect::Symlink {
                path: "menu".into(),
                target: "caf\\xe9/menu\\xff.txt".into(),
            },
            file("plain\\name", b"a backslash\n"),
        ],
    });
    let mut fx = Forge::new();
    fx.reader_minor = 4;
    let mut d = meta("tagged", Kind::Dir);
    d.xattrs = vec![("user.origin".into(), b"conformance".to_vec())];
    fx.recs.push(Rec::Entry(d));
    fx.file("tagged/notes.txt", b"with attributes\n", id::STORE, 4096);
    if let Some(Rec::Entry(e)) = fx
        .recs
        .iter_mut()
        .rev()
        .find(|r| matches!(r, Rec::Entry(_)))
    {
        e.xattrs = vec![
            ("user.empty".into(), Vec::new()),
            ("user.mime_type".into(), b"text/plain".to_vec()),
        ];
    }
    v.push(Valid {
        name: "xattrs",
        about: "a directory and a file with user.* extended attributes (entry flag bit 1, \
                format 1.4), one of them empty; the manifest checks the tree, an extractor \
                restores the attributes where the file system keeps them",
        bytes: fx.build().bytes,
        expect: vec![
            dir("tagged"),
            file("tagged/notes.txt", b"with attributes\n"),
        ],
    });
    v.push(Valid {
        name: "huffman-lz77",
        about: "files coded with huffman (codec 3) and lz77 (codec 4), several blocks each",
        bytes: f.build().bytes,
        expect: vec![file("huff.txt", &h), file("lz.txt", &lrep)],
    });
    v
}

/// A small well-formed archive that the invalid vectors break: a directory, a multi-block
/// file, two files in a shared block, a symlink.
/// A raw-content dictionary, three small files that share its strings, and a larger text.
type DictionarySample = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

fn dictionary_sample() -> DictionarySample {
    let header = |name: &str, body: &str| {
        format!(
            "/* SPDX-License-Identifier: MIT OR Apache-2.0 */\n/* Part of the yoz conformance corpus. */\n\
             #ifndef YOZ_{name}_H\n#define YOZ_{name}_H\n#include <stdint.h>\n{body}\n#endif /* YOZ_{name}_H */\n"
        )
        .into_bytes()
    };
    let dict = header(
        "DICT",
        "typedef uint32_t yoz_u32;\ntypedef uint64_t yoz_u64;",
    )
    .repeat(3);
    (
        dict,
        header("A", "yoz_u32 yoz_a(yoz_u32 x);"),
        header("B", "yoz_u64 yoz_b(yoz_u64 x);"),
        header("C", "void yoz_c(void);"),
        text(9000, 63),
    )
}

/// Forges a consistent archive with one dictionary (resource 0) and a shared block that names
/// it, letting `tweak` change the records first.
fn with_dictionary(tweak: &dyn Fn(&mut Forge)) -> Vec<u8> {
    let (dict, h1, h2, _, _) = dictionary_sample();
    let zd = crate::codec::dict::ZstdDict::new(dict.clone()).expect("raw content dictionary");
    let mut f = Forge::new();
    f.reader_minor = 2;
    f.dictionary(0, &dict)
        .shared_with_dict(&[("a.h", &h1), ("b.h", &h2)], &zd, 0);
    tweak(&mut f);
    f.build().bytes
}

/// The resource record of a forge, to change.
fn resource_of(f: &mut Forge) -> (&mut ResourceInfo, &mut Vec<u8>) {
    f.recs
        .iter_mut()
        .find_map(|r| match r {
            Rec::Resource(info, payload) => Some((info, payload)),
            _ => None,
        })
        .expect("a resource record")
}

pub fn base() -> Forge {
    let mut f = Forge::new();
    f.dir("d")
        .file("d/big.txt", &text(10_000, 20), id::STORE, 4096)
        .shared(
            &[("d/s1.txt", &text(300, 21)), ("d/s2.txt", &text(200, 22))],
            id::ZSTD,
        )
        .symlink("d/link", "big.txt");
    f
}

/// `n` bytes shaped like x86 code: relative calls (`E8` and a little-endian displacement) to a
/// few hundred targets from everywhere, between short runs of other instructions.
fn x86_sample(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 8);
    let mut x = 99u32;
    while out.len() < n {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let target = (x >> 20) % 300 * 48;
        let at = out.len() as u32 + 5;
        out.push(0xE8);
        out.extend_from_slice(&target.wrapping_sub(at).to_le_bytes());
        out.extend_from_slice(&[0x48, 0x89, 0xC7, 0x90][..1 + (x >> 8) as usize % 4]);
    }
    out.truncate(n);
    out
}

fn flip(mut b: Built, at: usize, x: u8) -> Vec<u8> {
    b.bytes[at] ^= x;
    b.bytes
}

fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// All invalid vectors.
/// Every invalid vector, spec section by spec section.
pub fn invalid() -> Vec<Invalid> {
    let mut v = Vectors(Vec::new());
    header(&mut v);
    truncations(&mut v);
    footer_and_index(&mut v);
    records(&mut v);
    sizes_and_ownership(&mut v);
    codec_payloads(&mut v);
    lossy_images(&mut v);
    neural_payloads(&mut v);
    paths(&mut v);
    resources(&mut v);
    copies(&mut v);
    precedence(&mut v);
    nodes(&mut v);
    xattrs(&mut v);
    escaped_names(&mut v);
    v.0
}

/// The invalid vectors collected so far.
struct Vectors(Vec<Invalid>);

impl Vectors {
    /// Adds a vector that `verify` refuses with one of `verify`'s classes and `unpack` with one
    /// of `unpack`'s (`ok` where that command must succeed).
    fn add(
        &mut self,
        name: &'static str,
        about: &'static str,
        verify: &'static [&'static str],
        unpack: &'static [&'static str],
        bytes: Vec<u8>,
    ) {
        self.0.push(Invalid {
            name,
            about,
            verify,
            unpack,
            bytes,
        });
    }
}

/// The base archive, built afresh.
fn b() -> Built {
    base().build()
}

/// The expectation of a command that must succeed.
const OK: &[&str] = &["ok"];

/// §2: the header.
fn header(v: &mut Vectors) {
    v.add(
        "bad-magic",
        "first byte of the magic changed",
        &["bad-magic"],
        &["bad-magic"],
        flip(b(), 0, 0x01),
    );
    v.add(
        "zip-file",
        "a zip local header instead of a yoz header",
        &["bad-magic"],
        &["bad-magic"],
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00 not a yoz archive".to_vec(),
    );
    v.add(
        "empty-file",
        "a zero-length file",
        &["truncated"],
        &["truncated"],
        Vec::new(),
    );
    v.add(
        "header-only-magic",
        "the 8 magic bytes and nothing else",
        &["truncated"],
        &["truncated"],
        b().bytes[..8].to_vec(),
    );
    let mut x = b();
    x.bytes[10] = 2;
    x.fix_crc();
    v.add(
        "reader-major-2",
        "needs reader 2.0",
        &["unsupported-version"],
        &["unsupported-version"],
        x.bytes,
    );
    let mut x = b();
    x.bytes[11] = crate::container::format::VERSION_MINOR + 1;
    x.fix_crc();
    v.add(
        "reader-minor-8",
        "needs reader 1.8, a minor version this reader does not know",
        &["unsupported-version"],
        &["unsupported-version"],
        x.bytes,
    );
    let mut x = b();
    x.bytes[8] = 0;
    x.fix_crc();
    v.add(
        "writer-older-than-reader",
        "writer 0.x claims to need reader 1.0",
        &["unsupported-version"],
        &["unsupported-version"],
        x.bytes,
    );
    let mut x = b();
    x.bytes[12] = 1;
    x.fix_crc();
    v.add(
        "header-flag",
        "header flag bit 0 set (no flag is defined in 1.0)",
        &["unknown-flag"],
        &["unknown-flag"],
        x.bytes,
    );
    let mut x = b();
    x.bytes[15] = 0x80;
    x.fix_crc();
    v.add(
        "header-flag-high",
        "header flag bit 31 set",
        &["unknown-flag"],
        &["unknown-flag"],
        x.bytes,
    );
    v.add(
        "header-damaged",
        "writer_minor changed, index CRC not updated (the CRC covers the header)",
        &["index-crc"],
        &["index-crc"],
        flip(b(), 9, 0x04),
    );
}

/// Truncation at each structure.
fn truncations(v: &mut Vectors) {
    let full = b();
    let cut = |n: usize| full.bytes[..n].to_vec();
    v.add(
        "truncated-header",
        "cut inside the header",
        &["truncated"],
        &["truncated"],
        cut(12),
    );
    v.add(
        "truncated-entry",
        "cut inside the first entry record",
        &["truncated"],
        &["truncated"],
        cut(full.group_at(0) + 25),
    );
    v.add(
        "truncated-block-header",
        "cut inside a block header",
        &["truncated"],
        &["truncated"],
        cut(full.block_at(0) + 7),
    );
    v.add(
        "truncated-payload",
        "cut inside a block payload",
        &["truncated"],
        &["truncated"],
        cut(full.block_at(1) + 100),
    );
    v.add(
        "truncated-at-end-tag",
        "cut right before the end-of-records tag",
        &["truncated"],
        &["truncated"],
        cut(full.index_offset - 1),
    );
    v.add(
        "truncated-index",
        "cut inside the index",
        &["truncated"],
        &["truncated"],
        cut(full.index_offset + 20),
    );
    v.add(
        "truncated-footer",
        "last byte of the footer missing",
        &["truncated"],
        &["truncated"],
        cut(full.bytes.len() - 1),
    );
}

/// §7 footer and §6 index.
fn footer_and_index(v: &mut Vectors) {
    let n = b().bytes.len();
    v.add(
        "index-crc",
        "one index byte changed, CRC not updated",
        &["index-crc"],
        &["index-crc"],
        flip(b(), b().index_offset + 5, 0x01),
    );
    v.add(
        "footer-crc",
        "the stored index CRC changed",
        &["index-crc"],
        &["index-crc"],
        flip(b(), n - 15, 0x01),
    );
    v.add(
        "footer-reserved",
        "footer reserved field not zero",
        &["reserved"],
        &["reserved"],
        flip(b(), n - 10, 0x01),
    );
    v.add(
        "footer-magic",
        "footer magic changed",
        &["truncated"],
        &["truncated"],
        flip(b(), n - 1, 0x01),
    );
    let mut x = b();
    let off = x.index_offset as u64 + 1;
    x.bytes[n - 32..n - 24].copy_from_slice(&off.to_le_bytes());
    v.add(
        "footer-index-offset",
        "index offset does not match the index length and file size",
        &["out-of-range"],
        &["out-of-range"],
        x.bytes,
    );
    let mut x = b();
    let off = x.index_offset as u64 + 1;
    let len = (n - 32 - x.index_offset) as u64 - 1;
    x.bytes[n - 32..n - 24].copy_from_slice(&off.to_le_bytes());
    x.bytes[n - 24..n - 16].copy_from_slice(&len.to_le_bytes());
    v.add(
        "footer-index-offset-shifted",
        "index offset one past the end tag, index length one less (consistent with the file size): the byte before the index is not the end tag, from a file as from a stream (§8.0)",
        &["index-mismatch"],
        &["index-mismatch"],
        x.bytes,
    );
    let mut x = b();
    x.bytes[n - 32..n - 24].copy_from_slice(&(u64::MAX - 8).to_le_bytes());
    v.add(
        "footer-offset-overflow",
        "index offset near 2^64 (overflow check)",
        &["out-of-range"],
        &["out-of-range"],
        x.bytes,
    );
    let mut x = b();
    let io = x.index_offset;
    x.bytes[io] = b'X';
    x.fix_crc();
    v.add(
        "index-magic",
        "index magic changed",
        &["bad-magic"],
        &["bad-magic"],
        x.bytes,
    );
    let mut x = b();
    let io = x.index_offset;
    set_u32(&mut x.bytes, io + 12, 10_000_000);
    x.fix_crc();
    v.add(
        "huge-entry-count",
        "10 million entries declared in a tiny index",
        &["truncated"],
        &["truncated"],
        x.bytes,
    );
    let mut x = b();
    let io = x.index_offset;
    set_u32(&mut x.bytes, io + 16, u32::MAX);
    x.fix_crc();
    v.add(
        "huge-block-count",
        "4 billion blocks declared in a tiny index",
        &["truncated"],
        &["truncated"],
        x.bytes,
    );
    let mut x = base();
    x.recs.push(Rec::Raw(vec![]));
    let mut y = x.build();
    let idx_end = y.bytes.len() - FOOTER_LEN;
    y.bytes.splice(idx_end..idx_end, [0u8; 3]);
    let nl = y.bytes.len() - FOOTER_LEN - y.index_offset;
    let n2 = y.bytes.len();
    y.bytes[n2 - 24..n2 - 16].copy_from_slice(&(nl as u64).to_le_bytes());
    y.fix_crc();
    v.add(
        "index-trailing-bytes",
        "three bytes after the last index entry",
        &["size-mismatch"],
        &["size-mismatch"],
        y.bytes,
    );
}

/// §4: records and entry fields.
fn records(v: &mut Vectors) {
    let mut x = b();
    let at = x.group_at(1);
    x.bytes[at] = b'Q';
    v.add(
        "unknown-record-tag",
        "an entry group's tag replaced by 'Q'",
        &["unknown-kind"],
        &["unknown-kind"],
        x.bytes,
    );
    let mut x = b();
    x.edit_entry_both(1, |r| r[0] = 9);
    v.add(
        "unknown-entry-kind",
        "entry kind 9",
        &["unknown-kind"],
        &["unknown-kind"],
        x.bytes,
    );
    let mut x = b();
    x.edit_entry_both(0, |r| r[1] = 8);
    v.add(
        "entry-flag",
        "entry flag bit 3 set (only bits 0 to 2 are defined)",
        &["unknown-flag"],
        &["unknown-flag"],
        x.bytes,
    );
    let mut x = b();
    x.edit_entry_both(0, |r| r[5] = 0x10);
    v.add(
        "entry-mode-high-bits",
        "mode bits above 0o7777 set",
        &["reserved"],
        &["reserved"],
        x.bytes,
    );
    let mut x = b();
    x.edit_entry_both(0, |r| {
        r[22..26].copy_from_slice(&1_000_000_000u32.to_le_bytes())
    });
    v.add(
        "entry-nsec-range",
        "mtime_nsec of 10^9",
        &["out-of-range"],
        &["out-of-range"],
        x.bytes,
    );
    let mut x = b();
    let plen = x.index.entries[0].path.len();
    x.edit_entry_both(0, |r| r[38 + plen] = 7);
    v.add(
        "unknown-storage-kind",
        "storage kind 7",
        &["unknown-kind"],
        &["unknown-kind"],
        x.bytes,
    );
    let mut x = b();
    let plen = x.index.entries[0].path.len();
    // The path's last byte (the path starts at offset 36 of the serialized entry).
    x.edit_entry_in_group(0, |r| r[35 + plen] ^= 1);
    v.add(
        "group-name-differs",
        "an entry group names its entry differently from the index, every CRC right (list and a file extraction refuse it before writing; a stream extraction writes the group's name, then fails at the index)",
        &["index-mismatch"],
        &["index-mismatch"],
        x.bytes,
    );
    let mut x = b();
    let at = x.group_at(1) + GROUP_HEADER_LEN + 20;
    x.bytes[at] ^= 1;
    v.add(
        "entry-group-crc",
        "a byte of a stored entry group changed (index copy intact)",
        &["record-crc"],
        &["record-crc"],
        x.bytes,
    );
    let x = b();
    let ga = x.group_at(1);
    let variant = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut y = x.bytes.clone();
        f(&mut y);
        y
    };
    v.add(
        "entry-group-empty",
        "an entry group declaring zero entries",
        &["size-mismatch"],
        &["size-mismatch"],
        variant(&|y| y[ga + 3..ga + 7].copy_from_slice(&0u32.to_le_bytes())),
    );
    v.add(
        "entry-group-codec",
        "an entry group with codec 9",
        &["unknown-codec"],
        &["unknown-codec"],
        variant(&|y| y[ga + 1] = 9),
    );
    v.add(
        "entry-group-flag",
        "an entry group with a flag bit set",
        &["unknown-flag"],
        &["unknown-flag"],
        variant(&|y| y[ga + 2] = 1),
    );
    v.add(
        "entry-group-too-long",
        "an entry group declaring 17 MiB of entries",
        &["limit"],
        &["limit"],
        variant(&|y| y[ga + 7..ga + 11].copy_from_slice(&(17u32 << 20).to_le_bytes())),
    );
    v.add(
        "entry-group-count-mismatch",
        "an entry group declaring one entry more than it holds",
        &["size-mismatch"],
        &["size-mismatch"],
        {
            let mut f = base();
            f.recs.push(Rec::EndGroup);
            let mut y = f.build();
            let g = y.group_at(1);
            let c = y.index.groups[1].count + 1;
            y.bytes[g + 3..g + 7].copy_from_slice(&c.to_le_bytes());
            y.bytes
        },
    );
    let mut f = Forge::new();
    let d = text(100, 40);
    let mut e = meta("a", Kind::File);
    e.size = 100;
    e.storage = Storage::Blocks { first: 0, count: 1 };
    f.recs.push(Rec::Entry(e));
    f.recs.push(Rec::Entry(meta("after", Kind::Dir)));
    let (info, payload) = block(&d, id::STORE);
    f.push_block(info, payload);
    v.add(
        "blocks-owner-not-last",
        "an entry with blocks is followed by another entry in its group",
        &["index-mismatch"],
        &["index-mismatch"],
        f.build().bytes,
    );
    let io = x.index_offset;
    let fixed = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut y = Built {
            bytes: x.bytes.clone(),
            index: x.index.clone(),
            index_offset: io,
        };
        f(&mut y.bytes);
        y.fix_crc();
        y.bytes
    };
    v.add(
        "index-codec",
        "index envelope with codec 7",
        &["unknown-codec"],
        &["unknown-codec"],
        fixed(&|y| y[io + 4] = 7),
    );
    v.add(
        "index-envelope-reserved",
        "index envelope reserved byte set",
        &["reserved"],
        &["reserved"],
        fixed(&|y| y[io + 6] = 1),
    );
    v.add("index-raw-len", "index declaring 4 GiB of decoded bytes (over a reader's limit, or not what the payload holds)", &["limit", "size-mismatch"], &["limit", "size-mismatch"],
        fixed(&|y| y[io + 8..io + 12].copy_from_slice(&u32::MAX.to_le_bytes())));
    v.add(
        "index-raw-len-short",
        "index declaring one decoded byte less than it stores",
        &["size-mismatch"],
        &["size-mismatch"],
        fixed(&|y| {
            let n = u32::from_le_bytes(y[io + 8..io + 12].try_into().unwrap()) - 1;
            y[io + 8..io + 12].copy_from_slice(&n.to_le_bytes());
        }),
    );

    let with_block = |f: &dyn Fn(&mut BlockInfo)| {
        let mut fg = base();
        for r in fg.recs.iter_mut() {
            if let Rec::Block(info, _) = r {
                f(info);
                break;
            }
        }
        fg.build().bytes
    };
    v.add(
        "unknown-codec",
        "block codec id 99",
        &["unknown-codec"],
        &["unknown-codec"],
        with_block(&|i| i.codec = 99),
    );
    v.add(
        "block-flag",
        "block flag bit set",
        &["unknown-flag"],
        &["unknown-flag"],
        with_block(&|i| i.flags = 4),
    );
    v.add(
        "block-resource",
        "a stored block names resource 0 (only zstd blocks take a resource)",
        &["reserved"],
        &["reserved"],
        with_block(&|i| i.resource = 0),
    );
    v.add(
        "block-raw-len-limit",
        "block raw_len of 64 MiB + 1",
        &["limit"],
        &["limit"],
        with_block(&|i| i.raw_len = (64 << 20) + 1),
    );
    v.add(
        "block-raw-len-zero",
        "a block whose raw_len is 0 (header and index row agree)",
        &["size-mismatch"],
        &["size-mismatch"],
        with_block(&|i| i.raw_len = 0),
    );
    v.add(
        "store-block-comp-len",
        "a store block whose payload length differs from its raw_len",
        &["size-mismatch"],
        &["size-mismatch"],
        with_block(&|i| {
            i.codec = id::STORE;
            i.comp_len = i.raw_len.saturating_sub(1).min(i.comp_len);
        }),
    );
    v.add(
        "block-comp-len-limit",
        "payload far longer than any codec produces for raw_len",
        &["limit"],
        &["limit"],
        with_block(&|i| i.comp_len = 1 << 30),
    );

    let mut x = base();
    x.recs.insert(
        1,
        Rec::Raw(vec![
            tag::RESOURCE,
            0,
            0,
            0,
            0,
            7,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ]),
    );
    let y = x.build().bytes;
    v.add(
        "resource-record",
        "a resource record of unregistered kind 7, not in the index",
        &["index-mismatch"],
        &["index-mismatch"],
        y,
    );

    v.add(
        "block-crc",
        "a stored payload byte changed",
        &["crc"],
        &["crc"],
        {
            let x = b();
            let at = x.block_at(0) + BLOCK_HEADER_LEN + 50;
            flip(x, at, 0x20)
        },
    );
    v.add(
        "zstd-payload-damaged",
        "a byte in the middle of a zstd frame changed (zstd libraries differ in what they check inside a frame: invalid, or valid with other bytes)",
        &["corrupt", "crc", "size-mismatch"],
        &["corrupt", "crc", "size-mismatch"],
        {
            let x = b();
            let at = x.block_at(3) + BLOCK_HEADER_LEN + 20;
            flip(x, at, 0x55)
        },
    );
    v.add(
        "stored-length-mismatch",
        "stored block whose raw_len differs from comp_len",
        &["size-mismatch"],
        &["size-mismatch"],
        with_block(&|i| i.raw_len -= 1),
    );
    let big = vec![b'z'; 9000];
    let mut frame = Vec::new();
    crate::codec::by_id(id::ZSTD)
        .unwrap()
        .compress(&big, 3, &mut frame)
        .unwrap();
    let mut f = Forge::new();
    let mut e = meta("bomb", Kind::File);
    e.size = 100;
    e.storage = Storage::Blocks { first: 0, count: 1 };
    f.recs.push(Rec::Entry(e));
    f.push_block(
        BlockInfo {
            codec: id::ZSTD,
            comp_len: frame.len() as u32,
            raw_len: 100,
            crc32: crc32fast::hash(&big[..100]),
            ..block(b"", id::STORE).0
        },
        frame,
    );
    v.add(
        "block-decodes-beyond-size",
        "a zstd block declaring 100 bytes whose frame holds 9000",
        &["size-mismatch"],
        &["size-mismatch"],
        f.build().bytes,
    );
    let mut f = Forge::new();
    let mut e = meta("z", Kind::File);
    e.size = 4;
    e.storage = Storage::Blocks { first: 0, count: 1 };
    f.recs.push(Rec::Entry(e));
    f.push_block(
        BlockInfo {
            codec: id::ZEROS,
            comp_len: 3,
            ..block(&[0; 4], id::STORE).0
        },
        vec![1, 2, 3],
    );
    v.add(
        "zeros-with-payload",
        "a zeros block carrying a payload",
        &["size-mismatch"],
        &["size-mismatch"],
        f.build().bytes,
    );
}

/// §4.2: sizes and which entry owns which bytes.
fn sizes_and_ownership(v: &mut Vectors) {
    let mut x = b();
    x.edit_entry_both(1, |r| {
        r[26..34].copy_from_slice(&(1u64 << 63).to_le_bytes())
    });
    v.add(
        "size-2-pow-63",
        "a file declaring 2^63 bytes",
        &["size-mismatch"],
        &["size-mismatch"],
        x.bytes,
    );
    let mut x = b();
    x.edit_entry_both(1, |r| r[26..34].copy_from_slice(&10_001u64.to_le_bytes()));
    v.add(
        "size-larger-than-blocks",
        "a file declaring one byte more than its blocks hold",
        &["size-mismatch"],
        &["size-mismatch"],
        x.bytes,
    );
    let mut x = b();
    x.edit_entry_both(1, |r| r[26..34].copy_from_slice(&9_999u64.to_le_bytes()));
    v.add(
        "size-smaller-than-blocks",
        "a file declaring one byte less than its blocks hold",
        &["size-mismatch"],
        &["size-mismatch"],
        x.bytes,
    );
    let mut x = b();
    x.edit_entry_both(0, |r| r[26..34].copy_from_slice(&5u64.to_le_bytes()));
    v.add(
        "dir-with-size",
        "a directory with a non-zero size",
        &["size-mismatch"],
        &["size-mismatch"],
        x.bytes,
    );
    let mut f = base();
    f.file("e", b"", id::STORE, 4096);
    f.last_entry().storage = Storage::Shared {
        block: 3,
        offset: 0,
    };
    v.add(
        "empty-file-with-storage",
        "an empty file that claims a shared slice",
        &["size-mismatch"],
        &["size-mismatch"],
        f.build().bytes,
    );
    let mut x = b();
    let n_s1 = x
        .index
        .entries
        .iter()
        .position(|e| e.path == "d/s2.txt")
        .unwrap();
    x.edit_entry_both(n_s1, |r| {
        let l = r.len();
        r[l - 4..].copy_from_slice(&150u32.to_le_bytes());
    });
    v.add(
        "shared-slice-overlap",
        "two files claim overlapping slices of one shared block",
        &["overlap"],
        &["overlap"],
        x.bytes,
    );
    let mut f = Forge::new();
    let data = vec![b'A'; 4000];
    let (info, payload) = block(&data, id::ZSTD);
    f.push_block(info, payload);
    for i in 0..50 {
        let mut e = meta(&format!("bomb{i}"), Kind::File);
        e.size = 4000;
        e.storage = Storage::Shared {
            block: 0,
            offset: 0,
        };
        f.recs.push(Rec::Entry(e));
    }
    v.add(
        "zip-bomb-shared-reuse",
        "50 entries expanding the same shared slice",
        &["overlap"],
        &["overlap"],
        f.build().bytes,
    );
    let x = base().build_with(|idx| {
        let o = idx.blocks[0].offset;
        idx.blocks[1].offset = o;
        idx.blocks[1].comp_len = idx.blocks[0].comp_len;
    });
    v.add(
        "zip-bomb-block-table",
        "two block-table rows point at the same record (overlapping payloads)",
        &["overlap"],
        &["overlap"],
        x.bytes,
    );
    let x = base().build_with(|idx| {
        idx.blocks[2].offset = 1 << 40;
    });
    v.add(
        "block-offset-out-of-range",
        "a block-table row points past the end of the file (the rows, in offset order, first leave a gap: index-mismatch)",
        &["index-mismatch"],
        &["index-mismatch"],
        x.bytes,
    );
    let x = base().build_with(|idx| {
        let last = idx.blocks.len() - 1;
        let io = idx.blocks[last].offset;
        idx.blocks[last].comp_len += 40;
        let _ = io;
    });
    v.add(
        "payload-overlaps-index",
        "the last block's length reaches into the index",
        &["overlap"],
        &["overlap"],
        x.bytes,
    );
    let mut f = base();
    let (info, payload) = block(b"orphan data", id::STORE);
    f.push_block(info, payload);
    v.add(
        "orphan-block",
        "a block that belongs to no entry",
        &["index-mismatch"],
        &["index-mismatch"],
        f.build().bytes,
    );
    let mut f = base();
    f.recs.insert(2, Rec::Raw(b"GAP!".to_vec()));
    v.add(
        "gap-between-records",
        "four bytes between records that belong to none",
        &["index-mismatch"],
        &["index-mismatch"],
        f.build().bytes,
    );
    let x = base().build_with(|idx| {
        idx.entries.swap(0, 3);
    });
    v.add(
        "index-order",
        "the index lists entries in another order than the records",
        &["index-mismatch"],
        &["index-mismatch"],
        x.bytes,
    );
    let x = base().build_with(|idx| {
        idx.entries.pop();
    });
    v.add(
        "index-missing-entry",
        "the index omits the last entry",
        &["index-mismatch"],
        &["index-mismatch"],
        x.bytes,
    );
    let mut f = Forge::new();
    f.file("a", &text(5000, 30), id::STORE, 4096);
    f.recs.swap(1, 0);
    v.add(
        "blocks-before-owner",
        "a file's blocks come before its entry record",
        &["index-mismatch"],
        &["index-mismatch"],
        f.build().bytes,
    );
    let mut f = Forge::new();
    f.shared(&[("a", b"aaa")], id::STORE).dir("between");
    let (info, payload) = block(b"other", id::STORE);
    f.push_block(info, payload);
    let mut e = meta("late", Kind::File);
    e.size = 3;
    e.storage = Storage::Shared {
        block: 0,
        offset: 0,
    };
    f.recs.push(Rec::Entry(e));
    f.recs.push(Rec::Entry({
        let mut e = meta("b", Kind::File);
        e.size = 5;
        e.storage = Storage::Shared {
            block: 1,
            offset: 0,
        };
        e
    }));
    v.add(
        "shared-not-last-block",
        "a shared entry names a block that is not the last one before it",
        &["index-mismatch"],
        &["index-mismatch"],
        f.build().bytes,
    );
    let mut f = Forge::new();
    let (info, payload) = block(b"aaabbb", id::STORE);
    f.push_block(info, payload);
    for (name, off) in [("a", 0u32), ("b", 3)] {
        let mut e = meta(name, Kind::File);
        e.size = 3;
        e.storage = Storage::Shared {
            block: 0,
            offset: off,
        };
        f.recs.push(Rec::Entry(e));
        f.recs.push(Rec::EndGroup);
    }
    v.add(
        "shared-block-two-groups",
        "one shared block serving two consecutive entry groups (it serves only the first group after it, §4.2.1)",
        &["index-mismatch"],
        &["index-mismatch"],
        f.build().bytes,
    );
    let mut f = Forge::new();
    f.file("a", &text(100, 31), id::STORE, 4096);
    f.last_entry().storage = Storage::Blocks { first: 0, count: 0 };
    v.add(
        "zero-block-count",
        "a non-empty file owning zero blocks",
        &["size-mismatch"],
        &["size-mismatch"],
        f.build().bytes,
    );
}

/// §5: codec payloads.
fn codec_payloads(v: &mut Vectors) {
    // The codecs are specified bit for bit, so where a damage is found, and its class, is too.
    for (codec, name, cut_name, damaged, cut) in [
        (
            id::HUFFMAN,
            "huffman-payload-damaged",
            "huffman-payload-truncated",
            &["crc"][..],
            &["corrupt"][..],
        ),
        (
            id::LZ77,
            "lz77-payload-damaged",
            "lz77-payload-truncated",
            &["corrupt"][..],
            &["corrupt"][..],
        ),
        (
            id::LZR,
            "lzr-payload-damaged",
            "lzr-payload-truncated",
            &["corrupt"][..],
            &["corrupt"][..],
        ),
        (
            id::CM,
            "cm-payload-damaged",
            "cm-payload-truncated",
            &["corrupt"][..],
            &["corrupt"][..],
        ),
        (
            id::LZR2,
            "lzr2-payload-damaged",
            "lzr2-payload-truncated",
            &["corrupt"][..],
            &["corrupt"][..],
        ),
        (
            id::CM2,
            "cm2-payload-damaged",
            "cm2-payload-truncated",
            &["corrupt"][..],
            &["corrupt"][..],
        ),
        (
            id::CM3,
            "cm3-payload-damaged",
            "cm3-payload-truncated",
            &["corrupt"][..],
            &["corrupt"][..],
        ),
    ] {
        let mut f = Forge::new();
        f.reader_minor = crate::codec::reader_minor(codec);
        f.file("t.txt", &text(8000, 52), codec, 8000);
        let x = f.build();
        let at = x.block_at(0) + BLOCK_HEADER_LEN + 40;
        v.add(
            name,
            "a byte inside the codec payload changed",
            damaged,
            damaged,
            flip(x, at, 0x5a),
        );
        // A payload cut in half, lengths consistent: the decoder runs out of input.
        let mut g = Forge::new();
        g.reader_minor = crate::codec::reader_minor(codec);
        let mut e = meta("t.txt", Kind::File);
        e.size = 8000;
        e.storage = Storage::Blocks { first: 0, count: 1 };
        g.recs.push(Rec::Entry(e));
        let (mut info, payload) = block(&text(8000, 53), codec);
        info.comp_len /= 2;
        g.push_block(info, payload[..info.comp_len as usize].to_vec());
        v.add(
            cut_name,
            "the codec payload cut in half (header lengths consistent)",
            cut,
            cut,
            g.build().bytes,
        );
    }

    // codec-lzr §7.1: a flags bit this version does not define.
    let mut f = Forge::new();
    f.reader_minor = crate::codec::reader_minor(id::LZR2);
    f.file("t.txt", &text(8000, 52), id::LZR2, 8000);
    let x = f.build();
    let at = x.block_at(0) + BLOCK_HEADER_LEN + 3;
    assert_eq!(x.bytes[at - 3], 1, "a coded lzr2 payload");
    v.add(
        "lzr2-unknown-flags",
        "an lzr2 coded payload whose flags byte sets bit 1, which no version defines (codec-lzr §7.1)",
        &["corrupt"],
        &["corrupt"],
        flip(x, at, 0x02),
    );

    // codec-cm §2: a coded payload stands for at most 64 decoded bytes per payload byte.
    for (codec, name, about) in [
        (
            id::CM,
            "cm-ratio-over-bound",
            "a cm block whose well-formed coded payload stands for more than 64 bytes per payload byte",
        ),
        (
            id::CM2,
            "cm2-ratio-over-bound",
            "a cm2 block whose well-formed coded payload stands for more than 64 bytes per payload byte",
        ),
        (
            id::CM3,
            "cm3-ratio-over-bound",
            "a cm3 block whose well-formed coded payload stands for more than 64 bytes per payload byte",
        ),
    ] {
        let raw = vec![b'a'; 20_000];
        let mut g = Forge::new();
        g.reader_minor = crate::codec::reader_minor(codec);
        let mut e = meta("a.txt", Kind::File);
        e.size = raw.len() as u64;
        e.storage = Storage::Blocks { first: 0, count: 1 };
        g.recs.push(Rec::Entry(e));
        let (mut info, _) = block(&raw, codec);
        let mut payload = vec![1u8];
        let version = match codec {
            id::CM => crate::codec::cm::Version::V1,
            id::CM2 => crate::codec::cm::Version::V2,
            _ => crate::codec::cm::Version::V3,
        };
        let body = crate::codec::cm::coded_body(&raw, version);
        payload.extend(body.expect("compressible"));
        info.comp_len = payload.len() as u32;
        g.push_block(info, payload);
        v.add(name, about, &["limit"], &["limit"], g.build().bytes);
    }

    // Table 5.1: a zstd payload is exactly one frame.
    let zstd_payload = |make: &dyn Fn(&[u8]) -> Vec<u8>| {
        let raw = text(8000, 57);
        let mut g = Forge::new();
        let mut e = meta("t.txt", Kind::File);
        e.size = raw.len() as u64;
        e.storage = Storage::Blocks { first: 0, count: 1 };
        g.recs.push(Rec::Entry(e));
        let (mut info, _) = block(&raw, id::ZSTD);
        let payload = make(&raw);
        info.comp_len = payload.len() as u32;
        g.push_block(info, payload);
        g.build().bytes
    };
    let frame = |raw: &[u8]| zstd::bulk::compress(raw, 3).expect("in-memory zstd");
    v.add(
        "zstd-two-frames",
        "a zstd block whose payload is two frames, each half of the data (together the right bytes)",
        &["corrupt"],
        &["corrupt"],
        zstd_payload(&|raw| {
            let mut p = frame(&raw[..4000]);
            p.extend(frame(&raw[4000..]));
            p
        }),
    );
    v.add(
        "zstd-trailing-bytes",
        "a zstd block whose single frame is followed by 3 more bytes",
        &["corrupt"],
        &["corrupt"],
        zstd_payload(&|raw| {
            let mut p = frame(raw);
            p.extend([0, 0, 0]);
            p
        }),
    );
    v.add(
        "zstd-skippable-frame",
        "a zstd block whose payload starts with a skippable frame (magic 0x184D2A50) before the data frame",
        &["corrupt"],
        &["corrupt"],
        zstd_payload(&|raw| {
            let mut p = vec![0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
            p.extend(frame(raw));
            p
        }),
    );

    // §2.1, §5: a codec of a later minor version in an archive that declares one version less.
    for (codec, name, about) in [
        (
            id::LZR,
            "lzr-in-1.2-archive",
            "a valid lzr block (codec 5, format 1.3) in an archive whose header declares reader 1.2 (§2.1, §5)",
        ),
        (
            id::CM2,
            "cm2-in-1.4-archive",
            "a valid cm2 block (codec 7, format 1.5) in an archive whose header declares reader 1.4 (§2.1, §5)",
        ),
        (
            id::CM3,
            "cm3-in-1.5-archive",
            "a valid cm3 block (codec 8, format 1.6) in an archive whose header declares reader 1.5 (§2.1, §5)",
        ),
        (
            id::LZR2,
            "lzr2-in-1.6-archive",
            "a valid lzr2 block (codec 9, format 1.7) in an archive whose header declares reader 1.6 (§2.1, §5)",
        ),
    ] {
        let mut f = Forge::new();
        f.reader_minor = crate::codec::reader_minor(codec) - 1;
        f.file("t.txt", &text(8000, 54), codec, 8000);
        v.add(
            name,
            about,
            &["version-mismatch"],
            &["version-mismatch"],
            f.build().bytes,
        );
    }
}

/// §4.2.2: lossy image entries.
fn lossy_images(v: &mut Vectors) {
    let img_forge = |tweak: &dyn Fn(&mut crate::container::format::ImageInfo, &mut Vec<u8>)| {
        let mut img = crate::image::Image::new(24, 16, 3).expect("small image");
        for (i, px) in img.data.iter_mut().enumerate() {
            *px = (i * 13 % 251) as u8;
        }
        let (mut blob, mut info) =
            crate::image::entry::encode_image(&img, &[], 75, 100).expect("encodes");
        tweak(&mut info, &mut blob);
        let mut f = Forge::new();
        f.file("i.png", &blob, id::STORE, 1 << 20);
        f.last_entry().image = Some(info);
        f.build().bytes
    };
    v.add(
        "image-chunk-past-blob",
        "an image blob whose one kept chunk declares 1,000,000 bytes, past the blob's end",
        OK,
        &["corrupt"],
        img_forge(&|_, b| {
            let payload = b.split_off(8);
            b[4..8].copy_from_slice(&1u32.to_le_bytes());
            b.extend_from_slice(b"tEXt");
            b.extend_from_slice(&1_000_000u32.to_le_bytes());
            b.extend_from_slice(&payload);
        }),
    );
    v.add(
        "image-blob-over-bound",
        "a 1x1 RGB image entry whose blob is 2^24 + 7 bytes (zeros blocks): over 2·W·H·C + 2^24",
        &["limit"],
        &["limit"],
        {
            let mut f = Forge::new();
            f.file("i.png", &vec![0u8; (1 << 24) + 7], id::ZEROS, 8 << 20);
            f.last_entry().image = Some(crate::container::format::ImageInfo {
                codec: crate::container::format::IMAGE_CODEC_DCT,
                channels: 3,
                width: 1,
                height: 1,
                input_size: 100,
                output_size: 100,
            });
            f.build().bytes
        },
    );
    v.add(
        "image-codec-unknown",
        "a lossy image entry with image codec 9",
        &["unknown-codec"],
        &["unknown-codec"],
        img_forge(&|i, _| i.codec = 9),
    );
    v.add(
        "image-channels",
        "a lossy image entry with 5 channels",
        &["out-of-range"],
        &["out-of-range"],
        img_forge(&|i, _| i.channels = 5),
    );
    v.add("image-output-size", "the recorded PNG size is not what the image decodes to (valid archive, refused at extraction)",
        OK, &["size-mismatch"], img_forge(&|i, _| i.output_size += 1));
    v.add(
        "image-shape",
        "the entry's dimensions disagree with the payload (refused at extraction)",
        OK,
        &["size-mismatch"],
        img_forge(&|i, _| i.width += 1),
    );
    v.add(
        "image-blob-damaged",
        "the image payload damaged, block CRCs consistent (refused at extraction)",
        OK,
        &["corrupt"],
        img_forge(&|_, b| {
            let n = b.len();
            b[n - 8] ^= 0x40;
            b[n / 2] ^= 0x11;
        }),
    );
    v.add(
        "image-blob-magic",
        "an image blob without its YIMG magic (refused at extraction)",
        OK,
        &["corrupt"],
        img_forge(&|_, b| b[0] = b'X'),
    );
}

/// codec-neural.md §5: neural payloads, all refused at extraction.
fn neural_payloads(v: &mut Vectors) {
    // One neural image entry `n.png` in an archive declaring `reader_minor`.
    let neural_archive =
        |blob: &[u8], info: crate::container::format::ImageInfo, reader_minor: u8| {
            let mut f = Forge::new();
            f.reader_minor = reader_minor;
            f.file("n.png", blob, id::STORE, 1 << 20);
            f.last_entry().image = Some(info);
            f.build().bytes
        };
    let neural_forge = |tweak: &dyn Fn(&mut crate::container::format::ImageInfo, &mut Vec<u8>)| {
        let (mut blob, mut info, _) = neural_entry(&neural_sample(24, 16, 3, false, 5));
        tweak(&mut info, &mut blob);
        neural_archive(&blob, info, 1)
    };
    // The payload starts after "YIMG" and a zero chunk count.
    const P: usize = 8;
    /// The architecture 2 sample (24x16 RGB) whose weight stream ends with `filter` and
    /// `residual` as given (unchecked: what a decoder must refuse), `flags` set in its header.
    fn with_weight_tail(
        filter: Option<&[i32; 12]>,
        residual: Option<&crate::neural::residual::Residual>,
        flags: u8,
    ) -> (Vec<u8>, crate::container::format::ImageInfo) {
        let n = neural_sample_v2(24, 16, 3, false, 5);
        let exps = n
            .steps
            .map(|s| crate::neural::weights::step_exponent(s).expect("power of two"));
        let mut arm = [0i32; crate::neural::arch::ARM2_PARAMS];
        for (a, &p) in arm.iter_mut().zip(&n.arm.params) {
            *a = i32::from(p);
        }
        let w = crate::neural::weights::encode_fields(
            2, &n.syn, &exps, &arm, &[0; 7], 3, filter, residual,
        );
        let (mut blob, info, _) = neural_entry(&n);
        let at = |o: usize| u32::from_le_bytes([blob[o], blob[o + 1], blob[o + 2], blob[o + 3]]);
        let wl = at(P + 16) as usize;
        blob[P + 16..P + 20].copy_from_slice(&(w.len() as u32).to_le_bytes());
        blob.splice(P + 28..P + 28 + wl, w);
        blob[P + 6] |= flags;
        (blob, info)
    }
    v.add(
        "neural-in-1.0-archive",
        "a valid neural image entry in an archive whose header declares reader 1.0 (§2.1)",
        &["version-mismatch"],
        &["version-mismatch"],
        {
            let (blob, info, _) = neural_entry(&neural_sample(24, 16, 3, false, 5));
            neural_archive(&blob, info, 0)
        },
    );
    v.add(
        "neural-arch-unknown",
        "a neural payload naming architecture 9",
        OK,
        &["unknown-codec"],
        neural_forge(&|_, b| b[P + 4] = 9),
    );
    v.add(
        "neural-weights-hole",
        "architecture 1 safetensors weights whose first tensor's data range starts at byte 1, leaving a hole (codec-neural §5.1)",
        OK,
        &["corrupt"],
        neural_forge(&|_, b| {
            let key = b"\"data_offsets\":[0,";
            let at = b
                .windows(key.len())
                .position(|w| w == key)
                .expect("safetensors header");
            b[at + key.len() - 2] = b'1';
        }),
    );
    // Rewrites the architecture 1 safetensors JSON header, keeping every length consistent.
    let st_header = |b: &mut Vec<u8>, edit: &dyn Fn(&str) -> String| {
        let n = u64::from_le_bytes(b[P + 28..P + 36].try_into().unwrap()) as usize;
        let json = std::str::from_utf8(&b[P + 36..P + 36 + n]).expect("JSON header");
        let new = edit(json);
        let grow = new.len() as u32 - n as u32;
        b.splice(P + 36..P + 36 + n, new.bytes());
        b[P + 28..P + 36].copy_from_slice(&(new.len() as u64).to_le_bytes());
        let w = u32::from_le_bytes(b[P + 16..P + 20].try_into().unwrap());
        b[P + 16..P + 20].copy_from_slice(&(w + grow).to_le_bytes());
    };
    v.add(
        "neural-weights-metadata-null",
        "architecture 1 safetensors weights with a member \"__metadata__\": null (codec-neural §5.1: no such member, whatever its value)",
        OK,
        &["corrupt"],
        neural_forge(&|_, b| st_header(b, &|j| j.replacen('{', "{\"__metadata__\":null,", 1))),
    );
    v.add(
        "neural-weights-extra-member",
        "architecture 1 safetensors weights whose first tensor object has a fourth member (codec-neural §5.1)",
        OK,
        &["corrupt"],
        neural_forge(&|_, b| st_header(b, &|j| j.replacen("\"dtype\"", "\"x\":1,\"dtype\"", 1))),
    );
    v.add(
        "neural-weights-damaged",
        "the safetensors header of a neural payload damaged",
        OK,
        &["corrupt"],
        neural_forge(&|_, b| b[P + 28 + 12] ^= 0x5a),
    );
    v.add(
        "neural-weights-missing",
        "a neural payload whose weights length is 0 (parts no longer add up)",
        OK,
        &["corrupt"],
        neural_forge(&|_, b| b[P + 16..P + 20].copy_from_slice(&0u32.to_le_bytes())),
    );
    v.add(
        "neural-payload-short",
        "a neural image blob whose payload is 20 bytes, shorter than the 28-byte header (codec-neural §5)",
        OK,
        &["corrupt"],
        neural_forge(&|_, b| b.truncate(P + 20)),
    );
    v.add(
        "neural-latents-truncated",
        "the latent stream of a neural payload cut short (lengths consistent)",
        OK,
        &["corrupt"],
        neural_forge(&|_, b| {
            let lat = u32::from_le_bytes([b[P + 20], b[P + 21], b[P + 22], b[P + 23]]);
            let cut = lat / 2;
            b[P + 20..P + 24].copy_from_slice(&(lat - cut).to_le_bytes());
            let end = b.len();
            b.truncate(end - cut as usize);
        }),
    );
    v.add(
        "neural-dimensions-absurd",
        "a neural entry and payload claiming 65535x65535 pixels (over max_pixels)",
        OK,
        &["limit"],
        neural_forge(&|i, b| {
            i.width = 65535;
            i.height = 65535;
            b[P + 8..P + 12].copy_from_slice(&65535u32.to_le_bytes());
            b[P + 12..P + 16].copy_from_slice(&65535u32.to_le_bytes());
        }),
    );
    // Architecture 2's weight section (§5.2): the payload rebuilt around a changed section.
    let neural_v2 = |weights: &dyn Fn(&[u8]) -> Vec<u8>| {
        let (mut blob, info, _) = neural_entry(&neural_sample_v2(24, 16, 3, false, 5));
        let at = |o: usize| u32::from_le_bytes([blob[o], blob[o + 1], blob[o + 2], blob[o + 3]]);
        let wl = at(P + 16) as usize;
        let new = weights(&blob[P + 28..P + 28 + wl]);
        blob[P + 16..P + 20].copy_from_slice(&(new.len() as u32).to_le_bytes());
        blob.splice(P + 28..P + 28 + wl, new);
        neural_archive(&blob, info, 1)
    };
    v.add(
        "neural-v2-weights-truncated",
        "an architecture 2 weight section missing its last byte (lengths consistent)",
        OK,
        &["corrupt"],
        neural_v2(&|w| w[..w.len() - 1].to_vec()),
    );
    v.add(
        "neural-v2-weights-trailing",
        "an architecture 2 weight section with a byte after the end of its stream",
        OK,
        &["corrupt"],
        neural_v2(&|w| [w, &[0]].concat()),
    );
    v.add(
        "neural-v2-arm-overflow",
        "an architecture 2 entropy-model value (2 << 15) that does not fit 16 bits",
        OK,
        &["corrupt"],
        neural_v2(&|_| {
            let n = neural_sample_v2(24, 16, 3, false, 5);
            let exps = n
                .steps
                .map(|s| crate::neural::weights::step_exponent(s).expect("power of two"));
            let mut arm = [0i32; crate::neural::arch::ARM2_PARAMS];
            arm[0] = 2;
            crate::neural::weights::encode_fields(
                2,
                &n.syn,
                &exps,
                &arm,
                &[15, 0, 0, 0, 0, 0, 0],
                3,
                None,
                None,
            )
        }),
    );
    // A valid payload whose header names another architecture than its weights were coded for.
    let relabelled = |n: &crate::neural::payload::NeuralImage, arch: u8| {
        let (mut blob, info, _) = neural_entry(n);
        blob[P + 4] = arch;
        neural_archive(&blob, info, 1)
    };
    v.add(
        "neural-v3-narrow-weights",
        "an architecture 3 header over an architecture 2 weight section (the 24-wide synthesis's tensors): the stream ends before architecture 3's last value",
        OK,
        &["corrupt"],
        relabelled(&neural_sample_v2(24, 16, 3, false, 5), crate::neural::arch::ARCH_V3),
    );
    v.add(
        "neural-v2-wide-weights",
        "an architecture 2 header over an architecture 3 weight section (the 32-wide synthesis's tensors): the stream does not end where architecture 2's last value does",
        OK,
        &["corrupt"],
        relabelled(&neural_sample_v3(24, 16, 3, false, 5), crate::neural::arch::ARCH_V2),
    );
    v.add(
        "neural-filter-in-architecture-1",
        "an architecture 1 payload with flag bit 1 (the pre-upsampling filter, architectures 2 and 3 only)",
        OK,
        &["reserved"],
        neural_forge(&|_, b| b[P + 6] |= 0x02),
    );
    v.add(
        "neural-tables2-in-architecture-1",
        "an architecture 1 payload with flag bit 2 (table set 2, architectures 2 and 3 only)",
        OK,
        &["reserved"],
        neural_forge(&|_, b| b[P + 6] |= 0x04),
    );
    v.add(
        "neural-residual-in-architecture-1",
        "an architecture 1 payload with flag bit 3 (the low-frequency residual, architectures 2 and 3 only)",
        OK,
        &["reserved"],
        neural_forge(&|_, b| b[P + 6] |= 0x08),
    );
    v.add(
        "neural-residual-missing",
        "an architecture 2 payload with flag bit 3 whose weight stream ends before the residual",
        OK,
        &["corrupt"],
        {
            let (mut blob, info, _) = neural_entry(&neural_sample_v2(24, 16, 3, false, 5));
            blob[P + 6] |= 0x08;
            neural_archive(&blob, info, 1)
        },
    );
    v.add(
        "neural-residual-block-exponent",
        "an architecture 2 residual whose block exponent is 7 (only 2 to 6 are valid)",
        OK,
        &["corrupt"],
        {
            // Blocks of 128 pixels: one value per channel (as the exponent-7 grid would be).
            let (blob, info) = with_weight_tail(
                None,
                Some(&crate::neural::residual::Residual {
                    log2: 7,
                    exps: vec![8; 3],
                    values: vec![vec![1]; 3],
                }),
                0x08,
            );
            neural_archive(&blob, info, 1)
        },
    );
    v.add(
        "neural-filter-missing",
        "an architecture 2 payload with flag bit 1 whose weight stream ends before the filter",
        OK,
        &["corrupt"],
        {
            let (mut blob, info, _) = neural_entry(&neural_sample_v2(24, 16, 3, false, 5));
            blob[P + 6] |= 0x02;
            neural_archive(&blob, info, 1)
        },
    );
    v.add(
        "neural-filter-over-range",
        "an architecture 2 pre-upsampling filter value of 300 (beyond ±255)",
        OK,
        &["corrupt"],
        {
            let mut q = [0i32; 12];
            q[5] = 300;
            let (blob, info) = with_weight_tail(Some(&q), None, 0x02);
            neural_archive(&blob, info, 1)
        },
    );
    v.add(
        "neural-reserved-flag",
        "a neural payload with a reserved flag bit set",
        OK,
        &["reserved"],
        neural_forge(&|_, b| b[P + 6] |= 0x80),
    );
    let mut f = Forge::new();
    f.dir("d");
    f.last_entry().image = Some(crate::container::format::ImageInfo {
        codec: 1,
        channels: 3,
        width: 1,
        height: 1,
        input_size: 1,
        output_size: 1,
    });
    v.add(
        "image-flag-on-dir",
        "the image flag on a directory",
        &["size-mismatch"],
        &["size-mismatch"],
        f.build().bytes,
    );
}

/// §3: paths.
fn paths(v: &mut Vectors) {
    let path_vec = |p: &str| {
        let mut f = Forge::new();
        f.file("ok", b"x", id::STORE, 4096)
            .file(p, b"pwned", id::STORE, 4096);
        f.build().bytes
    };
    v.add(
        "path-absolute",
        "/etc/passwd",
        &["path-escape"],
        &["path-escape"],
        path_vec("/etc/passwd"),
    );
    v.add(
        "path-dotdot",
        "../escape",
        &["path-escape"],
        &["path-escape"],
        path_vec("../escape"),
    );
    v.add(
        "path-dotdot-inner",
        "a/../../escape",
        &["path-escape"],
        &["path-escape"],
        path_vec("a/../../escape"),
    );
    v.add(
        "path-empty",
        "an empty path",
        &["path-invalid"],
        &["path-invalid"],
        path_vec(""),
    );
    v.add(
        "path-empty-component",
        "a//b",
        &["path-invalid"],
        &["path-invalid"],
        path_vec("a//b"),
    );
    v.add(
        "path-dot-component",
        "./a",
        &["path-invalid"],
        &["path-invalid"],
        path_vec("./a"),
    );
    v.add(
        "path-trailing-slash",
        "a/",
        &["path-invalid"],
        &["path-invalid"],
        path_vec("a/"),
    );
    v.add(
        "path-nul",
        "a NUL byte inside the path",
        &["path-invalid"],
        &["path-invalid"],
        path_vec("a\0b"),
    );
    v.add(
        "path-long-component",
        "a 256-byte component",
        &["path-invalid"],
        &["path-invalid"],
        path_vec(&"x".repeat(256)),
    );
    v.add(
        "path-too-long",
        "a path of 4097 bytes",
        &["path-invalid"],
        &["path-invalid"],
        path_vec(&format!("{}x", "y/".repeat(2048))),
    );
    let mut x = {
        let mut f = Forge::new();
        f.file("abc", b"x", id::STORE, 4096);
        f.build()
    };
    x.edit_entry_both(0, |r| r[37] = 0xff);
    v.add(
        "path-not-utf8",
        "a path that is not UTF-8",
        &["path-invalid"],
        &["path-invalid"],
        x.bytes,
    );
    let mut f = Forge::new();
    f.dir("x").dir("x");
    v.add(
        "duplicate-dir",
        "the same directory twice",
        &["duplicate-path"],
        &["duplicate-path"],
        f.build().bytes,
    );
    let mut f = Forge::new();
    f.file("f", b"1", id::STORE, 4096)
        .file("f", b"2", id::STORE, 4096);
    v.add(
        "duplicate-file",
        "the same file twice (a later one would overwrite)",
        &["duplicate-path"],
        &["duplicate-path"],
        f.build().bytes,
    );
    let mut f = Forge::new();
    f.file("f", b"1", id::STORE, 4096)
        .file("f/child", b"2", id::STORE, 4096);
    v.add(
        "file-as-parent",
        "a file used as a directory",
        &["path-conflict"],
        &["path-conflict"],
        f.build().bytes,
    );
    let mut f = Forge::new();
    f.file("p/child", b"1", id::STORE, 4096)
        .file("p", b"2", id::STORE, 4096);
    v.add(
        "file-after-children",
        "a file whose path an earlier entry used as a directory",
        &["path-conflict"],
        &["path-conflict"],
        f.build().bytes,
    );
    let mut f = Forge::new();
    f.symlink("link", "/tmp")
        .file("link/escaped", b"pwned", id::STORE, 4096);
    v.add(
        "path-through-symlink",
        "a file written through a symlink the archive made (valid archive, refused at extraction)",
        OK,
        &["path-symlink"],
        f.build().bytes,
    );
    // Extraction order (spec §8.0): an entry is created before its shared block is decoded,
    // so the path through the symlink is refused before the damaged block is met — by both
    // readers; `verify` creates nothing and meets the block's CRC.
    let mut f = Forge::new();
    f.symlink("link", "/tmp")
        .shared(&[("link/escaped", &[b'x'; 200][..])], id::STORE);
    let built = f.build();
    let at = built.block_at(0) + BLOCK_HEADER_LEN + 100;
    v.add(
        "shared-through-symlink-damaged",
        "a file of a damaged shared block written through a symlink the archive made: extraction refuses the path before it decodes the block",
        &["crc"],
        &["path-symlink"],
        flip(built, at, 0x20),
    );
    let mut f = Forge::new();
    f.symlink("up", "..").dir("up/sub");
    v.add(
        "dir-through-symlink",
        "a directory created through a symlink to ..",
        OK,
        &["path-symlink"],
        f.build().bytes,
    );
    let mut f = Forge::new();
    f.hardlink("h", "missing");
    v.add(
        "hardlink-missing-target",
        "a hard link to no entry",
        &["path-invalid"],
        &["path-invalid"],
        f.build().bytes,
    );
    let mut f = Forge::new();
    f.dir("d").hardlink("h", "d");
    v.add(
        "hardlink-to-dir",
        "a hard link to a directory",
        &["path-invalid"],
        &["path-invalid"],
        f.build().bytes,
    );
    let mut f = Forge::new();
    f.hardlink("h", "../../etc/passwd");
    v.add(
        "hardlink-escape",
        "a hard link whose target leaves the archive",
        &["path-escape"],
        &["path-escape"],
        f.build().bytes,
    );
    let mut f = Forge::new();
    f.hardlink("h", "later")
        .file("later", b"x", id::STORE, 4096);
    v.add(
        "hardlink-forward",
        "a hard link to a file that comes later",
        &["path-invalid"],
        &["path-invalid"],
        f.build().bytes,
    );
}

/// §4.3: resources (zstd dictionaries), each breaking one rule.
fn resources(v: &mut Vectors) {
    v.add(
        "resource-kind",
        "a resource of unregistered kind 7, listed in the index",
        &["unknown-kind"],
        &["unknown-kind"],
        with_dictionary(&|f| resource_of(f).0.kind = 7),
    );
    v.add(
        "resource-flag",
        "a resource with flag bit 0 set",
        &["unknown-flag"],
        &["unknown-flag"],
        with_dictionary(&|f| resource_of(f).0.flags = 1),
    );
    v.add(
        "resource-length-limit",
        "a resource declaring 1 MiB + 1 bytes (the check comes before the bytes are read)",
        &["limit"],
        &["limit"],
        with_dictionary(&|f| resource_of(f).0.length = (1 << 20) + 1),
    );
    v.add(
        "resource-id",
        "the first resource has id 1",
        &["index-mismatch"],
        &["index-mismatch"],
        with_dictionary(&|f| {
            resource_of(f).0.id = 1;
            for r in f.recs.iter_mut() {
                if let Rec::Block(info, _) = r {
                    info.resource = 1;
                }
            }
        }),
    );
    v.add(
        "resource-version",
        "a dictionary in an archive declaring reader 1.1",
        &["version-mismatch"],
        &["version-mismatch"],
        with_dictionary(&|f| f.reader_minor = 1),
    );
    v.add(
        "resource-crc",
        "a dictionary whose payload does not match its CRC",
        &["record-crc"],
        &["record-crc"],
        with_dictionary(&|f| resource_of(f).0.crc32 ^= 1),
    );
    v.add(
        "resource-corrupt",
        "a formatted dictionary (magic 37 A4 30 EC) whose entropy tables zstd refuses",
        &["corrupt"],
        &["corrupt"],
        with_dictionary(&|f| {
            let (info, payload) = resource_of(f);
            payload[..4].copy_from_slice(&[0x37, 0xA4, 0x30, 0xEC]);
            for b in &mut payload[8..40] {
                *b = 0xFF;
            }
            info.crc32 = crc32fast::hash(payload);
        }),
    );
    v.add(
        "resource-too-many",
        "17 resource records (at most 16)",
        &["limit"],
        &["limit"],
        with_dictionary(&|f| {
            let (info, payload) = resource_of(f);
            let (info, payload) = (*info, payload.clone());
            for id in 1..17 {
                let mut more = info;
                more.id = id;
                f.recs
                    .insert(id as usize, Rec::Resource(more, payload.clone()));
            }
        }),
    );
    v.add(
        "block-resource-missing",
        "a zstd block names resource 1; only resource 0 exists",
        &["index-mismatch"],
        &["index-mismatch"],
        with_dictionary(&|f| {
            for r in f.recs.iter_mut() {
                if let Rec::Block(info, _) = r {
                    info.resource = 1;
                }
            }
        }),
    );
    v.add(
        "block-resource-later",
        "a zstd block names a resource recorded after it",
        &["index-mismatch"],
        &["index-mismatch"],
        with_dictionary(&|f| {
            let r = f.recs.remove(0);
            f.recs.push(Rec::EndGroup);
            f.recs.push(r);
        }),
    );
}

/// §4.2.1: storage 3 (copies), each breaking one rule.
fn copies(v: &mut Vectors) {
    let d = text(600, 70);
    let copies = |build: &dyn Fn(&mut Forge)| {
        let mut f = Forge::new();
        f.reader_minor = 2;
        build(&mut f);
        f.build().bytes
    };
    let source = |f: &mut Forge| {
        f.shared(&[("a.txt", &d)], id::ZSTD);
    };
    let bad = &["index-mismatch"];
    v.add(
        "copy-forward",
        "a copy of a file that comes later",
        bad,
        bad,
        copies(&|f| {
            f.copy("c", 1, d.len()).shared(&[("a.txt", &d)], id::ZSTD);
        }),
    );
    v.add(
        "copy-self",
        "a copy of itself",
        bad,
        bad,
        copies(&|f| {
            source(f);
            f.copy("c", 1, d.len());
        }),
    );
    v.add(
        "copy-chain",
        "a copy of a copy",
        bad,
        bad,
        copies(&|f| {
            source(f);
            f.copy("c1", 0, d.len()).copy("c2", 1, d.len());
        }),
    );
    v.add(
        "copy-of-dir",
        "a copy of a directory",
        bad,
        bad,
        copies(&|f| {
            f.dir("d").copy("c", 0, 5);
        }),
    );
    v.add(
        "copy-of-empty",
        "a copy of an empty file (which has no storage)",
        bad,
        bad,
        copies(&|f| {
            f.file("e", b"", id::STORE, 4096).copy("c", 0, 1);
        }),
    );
    v.add(
        "copy-out-of-range",
        "a copy of entry 4,000,000,000",
        bad,
        bad,
        copies(&|f| {
            source(f);
            f.copy("c", 4_000_000_000, d.len());
        }),
    );
    let img = crate::image::Image::new(8, 8, 3).expect("small image");
    let (blob, info) = crate::image::entry::encode_image(&img, &[], 80, 1).expect("encodes");
    v.add(
        "copy-of-lossy",
        "a copy of a lossy image entry's blob",
        bad,
        bad,
        copies(&|f| {
            f.file("i.png", &blob, id::STORE, 4096);
            f.last_entry().image = Some(info);
            f.copy("c", 0, blob.len());
        }),
    );
    v.add(
        "copy-is-lossy",
        "a copy that carries an image trailer",
        bad,
        bad,
        copies(&|f| {
            f.file("i.png", &blob, id::STORE, 4096)
                .copy("c.png", 0, blob.len());
            f.last_entry().image = Some(info);
        }),
    );
    v.add(
        "copy-size",
        "a copy one byte longer than its source",
        &["size-mismatch"],
        &["size-mismatch"],
        copies(&|f| {
            source(f);
            f.copy("c", 0, d.len() + 1);
        }),
    );
    let mut f = Forge::new();
    f.reader_minor = 2;
    source(&mut f);
    f.copy("c", 0, d.len());
    let hooked = f.build_hooked(&|n, b| {
        if n == 1 {
            // `y` is the entry's last 4 bytes (no image trailer).
            let k = b.len() - 4;
            b[k] = 1;
        }
    });
    v.add(
        "copy-y",
        "a copy whose y field is 1",
        &["reserved"],
        &["reserved"],
        hooked.bytes,
    );
    let mut f = Forge::new();
    f.reader_minor = 1;
    source(&mut f);
    f.copy("c", 0, d.len());
    v.add(
        "copy-version",
        "a copy in an archive declaring reader 1.1",
        &["version-mismatch"],
        &["version-mismatch"],
        f.build().bytes,
    );

    let mut f = Forge::new();
    f.file("f", b"data", id::STORE, 1 << 20);
    f.last_entry().target = "x".into();
    v.add(
        "file-with-target",
        "a file entry with a non-empty target (only symlinks and hard links have one)",
        &["reserved"],
        &["reserved"],
        f.build().bytes,
    );
    let mut f = Forge::new();
    f.file("f", b"data", id::STORE, 1 << 20);
    f.last_entry().storage = Storage::Blocks { first: 5, count: 1 };
    v.add(
        "blocks-beyond-table",
        "a file whose blocks start at ordinal 5 of a table of one (a stream meets block 0 next, then ranks the index's out-of-range first, §8.0)",
        &["out-of-range"],
        &["out-of-range"],
        f.build().bytes,
    );
    let mut f = Forge::new();
    f.symlink("s", "");
    v.add(
        "symlink-empty-target",
        "a symlink with an empty target",
        &["path-invalid"],
        &["path-invalid"],
        f.build().bytes,
    );
}

/// §8.0: archives breaking two rules, each expecting the class the precedence decides.
fn precedence(v: &mut Vectors) {
    // Block 0 is stored (its damage is a `crc`, step 4); the other fault outranks it.
    let damaged = || {
        let mut x = b();
        let at = x.block_at(0) + BLOCK_HEADER_LEN + 5;
        x.bytes[at] ^= 0x40;
        x
    };
    let mut x = damaged();
    x.bytes[x.index_offset + 5] ^= 0x01;
    v.add(
        "two-faults-index-crc",
        "block 0's payload damaged and an index byte changed: the archive-level check (step 2) wins",
        &["index-crc"],
        &["index-crc"],
        x.bytes,
    );
    let mut x = damaged();
    let last = x.index.blocks.len() - 1;
    let at = x.block_at(last) + 17;
    x.bytes[at] ^= 0x01;
    v.add(
        "two-faults-late-header",
        "block 0's payload damaged and the last block's local CRC field differs from its row: every header (step 3) before any payload",
        &["index-mismatch"],
        &["index-mismatch"],
        x.bytes,
    );
    let mut x = damaged();
    let at = x.group_at(x.index.groups.len() - 1);
    x.bytes[at] = b'Q';
    v.add(
        "two-faults-late-tag",
        "block 0's payload damaged and the last entry group's tag replaced by 'Q': the header (step 3) wins",
        &["unknown-kind"],
        &["unknown-kind"],
        x.bytes,
    );
    let mut x = damaged();
    x.edit_entry_both(2, |r| r[36..39].copy_from_slice(b"../"));
    v.add(
        "two-faults-entry-rule",
        "block 0's payload damaged and a later entry named ../1.txt in its group and the index: the entry table's rules (step 2) win",
        &["path-escape"],
        &["path-escape"],
        x.bytes,
    );
}

/// §4.2.1: kinds 4–6 (FIFOs and devices, format 1.4), each breaking one rule.
fn nodes(v: &mut Vectors) {
    let node = |minor: u8, kind: Kind, edit: &dyn Fn(&mut Entry)| {
        let mut f = Forge::new();
        f.reader_minor = minor;
        f.dir("dev").file("dev/readme", b"nodes\n", id::STORE, 4096);
        let mut e = meta("dev/node", kind);
        edit(&mut e);
        f.recs.push(Rec::Entry(e));
        f.build().bytes
    };
    v.add(
        "fifo-version-1.3",
        "a FIFO entry (kind 4, registered in 1.4) in an archive declaring reader 1.3",
        &["version-mismatch"],
        &["version-mismatch"],
        node(3, Kind::Fifo, &|_| {}),
    );
    v.add(
        "device-version-1.3",
        "a character device entry (kind 5, registered in 1.4) in an archive declaring reader 1.3",
        &["version-mismatch"],
        &["version-mismatch"],
        node(3, Kind::CharDevice, &|e| e.device = (1, 3)),
    );
    v.add(
        "fifo-with-size",
        "a FIFO entry declaring 5 bytes of content (only files carry data)",
        &["size-mismatch"],
        &["size-mismatch"],
        node(4, Kind::Fifo, &|e| e.size = 5),
    );
    v.add(
        "fifo-with-device-numbers",
        "a FIFO entry whose storage-0 field x is 1 (device numbers belong to kinds 5 and 6 only)",
        &["reserved"],
        &["reserved"],
        node(4, Kind::Fifo, &|e| e.device = (1, 0)),
    );
    v.add(
        "device-with-target",
        "a block device entry with a non-empty target (only links have one)",
        &["reserved"],
        &["reserved"],
        node(4, Kind::BlockDevice, &|e| {
            e.device = (8, 1);
            e.target = "sda1".into();
        }),
    );
}

/// §4.2.3: extended attributes (format 1.4), each breaking one rule.
fn xattrs(v: &mut Vectors) {
    // The tagged directory is the archive's last entry, so a trailer that claims more than it
    // holds runs into the end of its group.
    let tagged = |minor: u8, xattrs: Vec<(String, Vec<u8>)>, edit: &dyn Fn(&mut [u8])| {
        let mut f = Forge::new();
        f.reader_minor = minor;
        f.file("x-before", b"before\n", id::STORE, 4096);
        f.dir("x");
        let mut e = meta("x/t", Kind::Dir);
        e.xattrs = xattrs;
        f.recs.push(Rec::Entry(e));
        let mut x = f.build();
        x.edit_entry_both(2, |r| edit(r));
        x.bytes
    };
    let one = || vec![("user.a".to_string(), b"v".to_vec())];
    // Entry 2 is "x/t" (path 3 bytes): its xattr trailer starts at byte 47 + 3.
    const XT: usize = 50;
    v.add(
        "xattr-version-1.3",
        "a directory with a user.* attribute (entry flag bit 1, registered in 1.4) in an archive declaring reader 1.3",
        &["version-mismatch"],
        &["version-mismatch"],
        tagged(3, one(), &|_| {}),
    );
    v.add(
        "xattr-count-zero",
        "entry flag bit 1 set with an xattr trailer of count 0",
        &["out-of-range"],
        &["out-of-range"],
        tagged(4, one(), &|r| {
            r[XT] = 0;
            r[XT + 1] = 0;
        }),
    );
    v.add(
        "xattr-bad-namespace",
        "an attribute named \"users.a\" (no registered namespace)",
        &["out-of-range"],
        &["out-of-range"],
        tagged(4, vec![("users.a".into(), b"v".to_vec())], &|_| {}),
    );
    v.add(
        "xattr-bare-prefix",
        "an attribute named \"user.\" (nothing after the namespace)",
        &["out-of-range"],
        &["out-of-range"],
        tagged(4, vec![("user.".into(), b"v".to_vec())], &|_| {}),
    );
    v.add(
        "xattr-out-of-order",
        "attributes user.b then user.a (names must increase)",
        &["out-of-range"],
        &["out-of-range"],
        tagged(
            4,
            vec![
                ("user.b".into(), b"1".to_vec()),
                ("user.a".into(), b"2".to_vec()),
            ],
            &|_| {},
        ),
    );
    v.add(
        "xattr-duplicate",
        "the attribute user.a twice",
        &["out-of-range"],
        &["out-of-range"],
        tagged(
            4,
            vec![
                ("user.a".into(), b"1".to_vec()),
                ("user.a".into(), b"2".to_vec()),
            ],
            &|_| {},
        ),
    );
    v.add(
        "xattr-value-over-limit",
        "an attribute value of 65,537 bytes (the bound is 65,536)",
        &["limit"],
        &["limit"],
        tagged(4, vec![("user.big".into(), vec![7u8; 65_537])], &|_| {}),
    );
    v.add(
        "xattr-trailer-truncated",
        "an xattr trailer whose count says 2 with one attribute present",
        &["truncated"],
        &["truncated"],
        tagged(4, one(), &|r| r[XT] = 2),
    );
}

/// §4.2.4: names in the escape form (format 1.4), each breaking one rule.
fn escaped_names(v: &mut Vectors) {
    let named = |minor: u8, path: &str| {
        let mut f = Forge::new();
        f.reader_minor = minor;
        f.file("before", b"before\n", id::STORE, 4096);
        let mut e = meta(path, Kind::Dir);
        e.escaped = true;
        f.recs.push(Rec::Entry(e));
        f.build().bytes
    };
    v.add(
        "escaped-name-version-1.3",
        "a directory named caf\\xe9 in the escape form (entry flag bit 2, registered in 1.4) in an archive declaring reader 1.3",
        &["version-mismatch"],
        &["version-mismatch"],
        named(3, "caf\\xe9"),
    );
    v.add(
        "escaped-name-not-canonical",
        "a name escaping the bytes of a valid UTF-8 character (caf\\xc3\\xa9 for café): one name, one spelling",
        &["path-invalid"],
        &["path-invalid"],
        named(4, "caf\\xc3\\xa9"),
    );
    v.add(
        "escaped-name-bad-escape",
        "a name with an undoubled backslash before q (a\\qb) under flag bit 2",
        &["path-invalid"],
        &["path-invalid"],
        named(4, "a\\qb"),
    );
    v.add(
        "escaped-name-uppercase-hex",
        "a name escaping byte 0xE9 as \\xE9 (the digits are lowercase)",
        &["path-invalid"],
        &["path-invalid"],
        named(4, "caf\\xE9"),
    );
}
