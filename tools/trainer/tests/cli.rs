//! The yoz-train binary: bundle layout, alpha, refusing to overwrite, bad input.

use std::process::Command;

fn png(dir: &std::path::Path, name: &str, w: u32, h: u32, ch: u8) -> std::path::PathBuf {
    let data: Vec<u8> = (0..w * h * ch as u32)
        .map(|i| ((i * 7 + (i / 13) * 3) % 256) as u8)
        .collect();
    let img = yoz::image::Image::from_raw(w, h, ch, data).expect("image");
    let p = dir.join(name);
    std::fs::write(&p, yoz::image::png_io::encode_png(&img).expect("png")).expect("write");
    p
}

fn run(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_yoz-train"))
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn writes_a_bundle_with_alpha_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rgba = png(dir.path(), "a.png", 20, 12, 4);
    let gray = png(dir.path(), "g.png", 9, 7, 1);
    let out = dir.path().join("bundle");
    let args = |force: bool| {
        let mut a: Vec<std::ffi::OsString> = vec![
            "--iterations".into(),
            "30".into(),
            "-j".into(),
            "2".into(),
            "--out".into(),
            out.clone().into(),
            rgba.clone().into(),
            gray.clone().into(),
        ];
        if force {
            a.push("--force".into());
        }
        a
    };
    let a = args(false);
    let o = run(&a.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tsv = std::fs::read_to_string(out.join("yoz-bundle.tsv")).expect("index");
    let lines: Vec<&str> = tsv.lines().collect();
    assert_eq!(lines[0], "yoz-bundle\t1");
    assert_eq!(lines.len(), 3);
    for (line, (src, ch, alpha)) in lines[1..].iter().zip([(&rgba, 3, true), (&gray, 1, false)]) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].len(), 64);
        assert_eq!(f[2], src.display().to_string());
        let payload = std::fs::read(out.join(f[1])).expect("payload");
        let img = yoz::neural::payload::decode(&payload, 1 << 20).expect("decodes");
        assert_eq!(img.channels, ch);
        assert_eq!(img.alpha.is_some(), alpha);
    }
    // The library's reader finds each payload by the source's content.
    let b = yoz::neural::bundle::Bundle::open(&out).expect("bundle opens");
    for src in [&rgba, &gray] {
        let bytes = std::fs::read(src).expect("png");
        assert!(b.payload_for(&bytes).expect("reads").is_some());
    }
    // Again without --force: refused, non-zero exit, nothing changed.
    let o = run(&a.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    let a = args(true);
    let o = run(&a.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.png");
    std::fs::write(&bad, b"not a png").expect("write");
    let out = dir.path().join("o");
    let o = run(&["--out".as_ref(), out.as_os_str(), bad.as_os_str()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("yoz-train: ") && err.contains("bad.png"),
        "{err}"
    );
}

/// `--hidden 32` writes architecture 3 payloads; a width no architecture has is refused.
#[test]
fn hidden_width_picks_the_architecture() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = png(dir.path(), "a.png", 12, 9, 3);
    let out = dir.path().join("b");
    let o = run(&[
        "--iterations".as_ref(),
        "20".as_ref(),
        "--hidden".as_ref(),
        "32".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        img.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p = std::fs::read(out.join("0000.ynp")).expect("payload");
    let n = yoz::neural::payload::decode(&p, 1 << 20).expect("decodes");
    assert_eq!((n.arch, n.hidden()), (yoz::neural::arch::ARCH_V3, 32));
    let o = run(&[
        "--hidden".as_ref(),
        "30".as_ref(),
        "--out".as_ref(),
        dir.path().join("c").as_os_str(),
        img.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("24 or 32"));
}

#[test]
fn degenerate_sizes_train_and_decode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args: Vec<std::ffi::OsString> = vec![
        "--iterations".into(),
        "12".into(),
        "-j".into(),
        "2".into(),
        "--out".into(),
        dir.path().join("b").into(),
    ];
    for (i, &(w, h, ch)) in [(1, 1, 3), (1, 5, 4), (7, 1, 1), (2, 2, 2), (17, 3, 3)]
        .iter()
        .enumerate()
    {
        args.push(png(dir.path(), &format!("{i}.png"), w, h, ch).into());
    }
    let o = run(&args.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for i in 0..5 {
        let p = std::fs::read(dir.path().join("b").join(format!("{i:04}.ynp"))).expect("payload");
        yoz::neural::payload::decode(&p, 1 << 20).expect("decodes");
    }
}

/// `--init-from` (experiments) trains from a bundle's networks; networks that do not fit the
/// image are a clear error. (That the trainer starts from them: `tests/kernels.rs`.)
#[test]
fn init_from_reads_a_payloads_networks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rgb = png(dir.path(), "c.png", 16, 12, 3);
    let gray = png(dir.path(), "g.png", 16, 12, 1);
    let train = |out: &str, img: &std::path::Path, extra: &[&str]| {
        let mut a: Vec<std::ffi::OsString> = vec![
            "--iterations".into(),
            "40".into(),
            "-j".into(),
            "1".into(),
            "--out".into(),
            dir.path().join(out).into(),
            img.into(),
        ];
        a.extend(extra.iter().map(|s| std::ffi::OsString::from(*s)));
        run(&a.iter().map(|s| s.as_os_str()).collect::<Vec<_>>())
    };
    let o = train("src", &rgb, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let payload = dir.path().join("src").join("0000.ynp");
    let p = payload.to_str().unwrap();
    let o = train(
        "again",
        &rgb,
        &["--init-from", p, "--init-parts", "syn,arm"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.path().join("again").join("0000.ynp").exists());
    // An RGB payload's networks for a gray image; a file that is not a payload.
    let o = train("gray", &gray, &["--init-from", p]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--init-from") && err.contains("do not fit"),
        "{err}"
    );
    let o = train("bad", &rgb, &["--init-from", rgb.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
}
