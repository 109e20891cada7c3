//! Lossy image entries end to end: `pack --image-codec dct`, list, info, unpack (file and
//! stream), cat; and everything that must stay lossless.

mod common;

use common::{class_of, run};
use std::fs;
use yoz::image::png_io::{decode_png, encode_png};
use yoz::image::Image;

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// A smooth test image with an edge and (for 4 channels) a varied alpha.
fn picture(w: u32, h: u32, channels: u8) -> Image {
    let mut img = Image::new(w, h, channels).unwrap();
    for y in 0..h as usize {
        for x in 0..w as usize {
            for c in 0..channels as usize {
                let i = (y * w as usize + x) * channels as usize + c;
                img.data[i] = if c == 3 {
                    ((x * 7 + y * 3) % 256) as u8
                } else {
                    let base = (x * 200 / w as usize + y * 50 / h as usize + c * 20) as u8;
                    if x > w as usize / 2 {
                        base.wrapping_add(40)
                    } else {
                        base
                    }
                };
            }
        }
    }
    img
}

#[test]
fn png_roundtrip_through_the_dct_codec() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("pics");
    fs::create_dir(&d).unwrap();
    let rgb = picture(97, 61, 3);
    let rgba = picture(33, 17, 4);
    fs::write(d.join("rgb.png"), encode_png(&rgb).unwrap()).unwrap();
    fs::write(d.join("rgba.png"), encode_png(&rgba).unwrap()).unwrap();
    let a = t.path().join("a.yoz");
    let out = run(&[
        "pack",
        "--image-codec",
        "dct",
        "--quality",
        "90",
        "-o",
        s(&a),
        s(&d),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 images encoded lossily"));
    let list = String::from_utf8(run(&["list", "-l", s(&a)]).stdout).unwrap();
    assert!(list.contains("pics/rgb.png [lossy dct 97x61 rgb"), "{list}");
    assert!(
        list.contains("pics/rgba.png [lossy dct 33x17 rgba"),
        "{list}"
    );
    let info = String::from_utf8(run(&["info", s(&a)]).stdout).unwrap();
    assert!(
        info.contains("lossy       dct pics/rgb.png 97x61") && info.contains("bpp"),
        "{info}"
    );
    assert!(run(&["verify", s(&a)]).status.success());

    let o = t.path().join("o");
    let out = run(&["unpack", "-C", s(&o), s(&a)]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 entries were lossy"));
    let back = decode_png(&fs::read(o.join("pics/rgb.png")).unwrap(), "rgb", 1 << 20).unwrap();
    let psnr = yoz::image::metrics::psnr(&rgb, &back).unwrap();
    assert!(psnr > 35.0, "PSNR {psnr:.2} dB at quality 90");
    let back4 = decode_png(&fs::read(o.join("pics/rgba.png")).unwrap(), "rgba", 1 << 20).unwrap();
    for (p, q) in back4.data.chunks(4).zip(rgba.data.chunks(4)) {
        assert_eq!(p[3], q[3], "alpha must be lossless");
    }
    // The size in the index is the stored form's (the mount's); unpack writes a smaller,
    // compressed PNG of the same pixels, and cat and the streaming reader agree with it.
    let size_in_list = list
        .lines()
        .find(|l| l.contains("pics/rgb.png"))
        .and_then(|l| l.split(", png ").nth(1))
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse::<u64>()
        .unwrap();
    let written = fs::read(o.join("pics/rgb.png")).unwrap();
    assert!((written.len() as u64) < size_in_list, "{}", written.len());
    assert_eq!(run(&["cat", s(&a), "pics/rgb.png"]).stdout, written);
    let o2 = t.path().join("o2");
    let out = common::run_with_stdin(&["unpack", "-C", s(&o2), "-"], &fs::read(&a).unwrap());
    assert!(out.status.success());
    assert_eq!(fs::read(o2.join("pics/rgb.png")).unwrap(), written);
}

#[test]
fn lossy_is_always_explicit_and_limited_to_what_is_asked() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    let png = encode_png(&picture(40, 30, 3)).unwrap();
    fs::write(d.join("a.png"), &png).unwrap();
    fs::write(d.join("b.png"), &png).unwrap();
    // Not a PNG inside, even if named like one; and a JPEG is never re-encoded.
    fs::write(d.join("fake.png"), b"not really a png").unwrap();
    fs::write(d.join("photo.jpg"), b"\xff\xd8\xff\xe0 jpeg bytes").unwrap();
    // A 16-bit PNG is stored losslessly with a notice.
    let mut png16 = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png16, 4, 4);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Sixteen);
        enc.write_header()
            .unwrap()
            .write_image_data(&[7u8; 32])
            .unwrap();
    }
    fs::write(d.join("deep.png"), &png16).unwrap();

    // Without --image-codec: every byte back as it was.
    let a = t.path().join("plain.yoz");
    assert!(run(&["pack", "-o", s(&a), s(&d)]).status.success());
    let o = t.path().join("o");
    assert!(run(&["unpack", "-C", s(&o), s(&a)]).status.success());
    for f in ["a.png", "b.png", "fake.png", "photo.jpg", "deep.png"] {
        assert_eq!(
            fs::read(o.join("d").join(f)).unwrap(),
            fs::read(d.join(f)).unwrap(),
            "{f}"
        );
    }

    // With --lossy: only the matching PNG is lossy.
    let a = t.path().join("some.yoz");
    let out = run(&[
        "pack",
        "--image-codec",
        "dct",
        "--lossy",
        "a.png",
        "-o",
        s(&a),
        s(&d),
    ]);
    assert!(out.status.success());
    let list = String::from_utf8(run(&["list", "-l", s(&a)]).stdout).unwrap();
    assert_eq!(list.matches("[lossy").count(), 1, "{list}");
    assert!(list.lines().any(|l| l.contains("d/a.png [lossy")));

    // All PNGs: deep.png and fake.png stay lossless, the 16-bit one with a notice.
    let a = t.path().join("all.yoz");
    let out = run(&["pack", "--image-codec", "dct", "-o", s(&a), s(&d)]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deep.png: stored losslessly"), "{err}");
    let o = t.path().join("o3");
    assert!(run(&["unpack", "-C", s(&o), s(&a)]).status.success());
    for f in ["fake.png", "photo.jpg", "deep.png"] {
        assert_eq!(
            fs::read(o.join("d").join(f)).unwrap(),
            fs::read(d.join(f)).unwrap(),
            "{f}"
        );
    }

    // Usage errors.
    let out = run(&[
        "pack",
        "--image-codec",
        "webp",
        "-o",
        s(&t.path().join("x.yoz")),
        s(&d),
    ]);
    assert_eq!(class_of(&out).as_deref(), Some("usage"));
    let out = run(&[
        "pack",
        "--lossy",
        "*.png",
        "-o",
        s(&t.path().join("x.yoz")),
        s(&d),
    ]);
    assert_eq!(class_of(&out).as_deref(), Some("usage"));
}

#[test]
fn mounted_image_shows_its_png_with_the_size_from_the_index() {
    if !std::path::Path::new("/dev/fuse").exists() || unsafe { libc::geteuid() } != 0 {
        println!("skipping: mounting needs /dev/fuse and root here");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("p.png"), encode_png(&picture(64, 40, 3)).unwrap()).unwrap();
    let a = t.path().join("a.yoz");
    assert!(run(&["pack", "--image-codec", "dct", "-o", s(&a), s(&d)])
        .status
        .success());
    let o = t.path().join("o");
    assert!(run(&["unpack", "-C", s(&o), s(&a)]).status.success());
    let want = fs::read(o.join("d/p.png")).unwrap();
    let mnt = t.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let out = run(&["mount", s(&a), s(&mnt)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = fs::metadata(mnt.join("d/p.png")).map(|m| m.len());
    let got = fs::read(mnt.join("d/p.png"));
    let um = run(&["umount", s(&mnt)]);
    assert!(
        um.status.success(),
        "{}",
        String::from_utf8_lossy(&um.stderr)
    );
    // The mount presents the stored form: the index's size, the pixels unpack writes.
    let list = String::from_utf8(run(&["list", "-l", s(&a)]).stdout).unwrap();
    let indexed: u64 = list
        .split(", png ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    let got = got.unwrap();
    assert_eq!(size.unwrap(), indexed);
    assert_eq!(got.len() as u64, indexed);
    assert_eq!(
        decode_png(&got, "m", 1 << 20).unwrap(),
        decode_png(&want, "u", 1 << 20).unwrap()
    );
}

#[test]
fn colour_and_text_chunks_are_written_back() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    let img = picture(20, 10, 3);
    let mut png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png, 20, 10);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_source_gamma(png::ScaledFloat::new(0.45455));
        enc.add_text_chunk("Author".into(), "yoz tests".into())
            .unwrap();
        enc.write_header()
            .unwrap()
            .write_image_data(&img.data)
            .unwrap();
    }
    fs::write(d.join("c.png"), &png).unwrap();
    let a = t.path().join("a.yoz");
    assert!(run(&["pack", "--image-codec", "dct", "-o", s(&a), s(&d)])
        .status
        .success());
    let out = run(&["cat", s(&a), "d/c.png"]).stdout;
    let has = |kind: &[u8]| out.windows(4).any(|w| w == kind);
    assert!(has(b"gAMA") && has(b"tEXt"), "chunks lost");
    assert!(out.windows(9).any(|w| w == b"yoz tests"));
}

#[test]
fn unpacked_and_catted_pngs_are_compressed_with_the_stored_forms_pixels() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("p.png");
    fs::write(&src, encode_png(&picture(160, 120, 3)).unwrap()).unwrap();
    let a = t.path().join("a.yoz");
    assert!(run(&["pack", "--image-codec", "dct", "-o", s(&a), s(&src)])
        .status
        .success());
    let ar = yoz::Archive::open(&a).unwrap();
    let info = ar.entries()[0].image.expect("a lossy entry");
    let mut blob = Vec::new();
    std::io::Read::read_to_end(&mut ar.open_entry("p.png").unwrap(), &mut blob).unwrap();
    // The stored form (what the mount presents) has exactly the index's size.
    let stored = yoz::image::entry::png_bytes(&blob, &info, &Default::default()).unwrap();
    assert_eq!(stored.len() as u64, info.output_size);
    let x = t.path().join("x");
    assert!(run(&["unpack", "-C", s(&x), s(&a)]).status.success());
    let unpacked = fs::read(x.join("p.png")).unwrap();
    assert!(
        unpacked.len() * 3 < stored.len(),
        "{} bytes written, stored form {}",
        unpacked.len(),
        stored.len()
    );
    assert_eq!(
        decode_png(&unpacked, "u", 1 << 20).unwrap(),
        decode_png(&stored, "s", 1 << 20).unwrap()
    );
    assert_eq!(run(&["cat", s(&a), "p.png"]).stdout, unpacked);
}
