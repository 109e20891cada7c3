//! Fuzz-target bodies, kept in the library so that `tests/fuzz_regressions.rs` replays committed
//! inputs through exactly the code the fuzzers ran, under plain `cargo test` on stable.

use crate::codec;
use crate::container::{read_stream, Archive, Entry, Limits, NullSink, Sink};
use crate::error::Result;

/// Limits small enough that a fuzz input cannot make a reader allocate much.
fn limits() -> Limits {
    Limits {
        max_entries: 10_000,
        max_output: 16 << 20,
        max_index: 16 << 20,
    }
}

/// Counts bytes, asserting no entry yields more than it declared.
struct Counting {
    declared: u64,
    got: u64,
}

impl Sink for Counting {
    fn begin(&mut self, e: &Entry) -> Result<()> {
        self.declared = e.size;
        self.got = 0;
        Ok(())
    }
    fn data(&mut self, b: &[u8]) -> Result<()> {
        self.got += b.len() as u64;
        assert!(
            self.got <= self.declared,
            "entry yielded more than its size"
        );
        Ok(())
    }
    fn hole(&mut self, n: u64) -> Result<()> {
        self.got += n;
        assert!(
            self.got <= self.declared,
            "entry yielded more than its size"
        );
        Ok(())
    }
    fn copy(&mut self, source: &Entry) -> Result<bool> {
        self.got += source.size;
        assert!(
            self.got <= self.declared,
            "entry yielded more than its size"
        );
        Ok(true)
    }
    fn end(&mut self, _: &Entry) -> Result<()> {
        Ok(())
    }
}

/// Opens `data` with the random-access reader and reads every entry; must never panic.
pub fn archive_random_access(data: &[u8]) {
    if let Ok(ar) = Archive::from_bytes(data.to_vec(), limits()) {
        let mut sink = Counting {
            declared: 0,
            got: 0,
        };
        for i in 0..ar.entries().len() {
            let _ = ar.check_group(ar.group_of(i));
            if ar.send_entry(i, &mut sink).is_ok() {
                assert_eq!(sink.got, sink.declared, "entry shorter than declared");
            }
            if let Ok(mut r) = ar.open_entry_at(i) {
                let mut buf = [0u8; 4096];
                let _ = std::io::Read::read(&mut r, &mut buf);
            }
            // Lossy image entries: decode the blob to its PNG as cat and the mount do.
            if let Some(info) = ar.entries()[ar.resolve(i)].image {
                if let Ok(mut r) = ar.open_entry_at(i) {
                    let mut blob = Vec::new();
                    if std::io::Read::read_to_end(&mut r, &mut blob).is_ok() {
                        if let Ok(png) =
                            crate::image::entry::png_bytes(&blob, &info, &Default::default())
                        {
                            assert_eq!(png.len() as u64, info.output_size);
                        }
                    }
                }
            }
        }
    }
}

/// Reads `data` with the streaming reader; must never panic.
pub fn archive_stream(data: &[u8]) {
    let _ = read_stream(data, &mut NullSink, limits());
}

/// Decodes `data` (first 3 bytes: declared length) with codec `id`; never panics, and a
/// success yields exactly the declared length.
pub fn codec_decode(id: u8, data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let raw_len = (u32::from_le_bytes([data[0], data[1], data[2], 0]) as usize) % (1 << 20);
    let mut out = Vec::new();
    if let Ok(c) = codec::by_id(id) {
        if c.decompress(&data[3..], raw_len, 0, &mut out).is_ok() {
            assert_eq!(out.len(), raw_len);
        }
    }
}

/// A zstd block decoded with a dictionary (resource kind 1): the first 2 bytes give the
/// dictionary's length, then the dictionary, 3 bytes of declared length, the payload. Never
/// panics; a dictionary zstd refuses is an error; a success yields exactly the declared length.
pub fn zstd_dict_decode(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let n = (u16::from_le_bytes([data[0], data[1]]) as usize).min(data.len() - 2);
    let (dict, rest) = data[2..].split_at(n);
    if rest.len() < 3 {
        return;
    }
    let raw_len = (u32::from_le_bytes([rest[0], rest[1], rest[2], 0]) as usize) % (1 << 20);
    let Ok(d) = crate::codec::dict::ZstdDict::new(dict.to_vec()) else {
        return;
    };
    let mut out = Vec::new();
    if d.decompress(&rest[3..], raw_len, &mut out).is_ok() {
        assert_eq!(out.len(), raw_len);
    }
}

/// Builds a small tree from `data`, packs it, unpacks it through both readers, compares.
pub fn roundtrip(data: &[u8]) {
    use std::fs;
    let Ok(tmp) = tempfile::tempdir() else { return };
    let src = tmp.path().join("src");
    let _ = fs::create_dir(&src);
    // Each chunk: 1 byte name selector, 1 byte kind/size selector, then content.
    let names = ["a", "b", "c/d", "c/e", "ü", "f/g/h"];
    let mut want = std::collections::BTreeMap::new();
    for chunk in data.chunks(97).take(12) {
        if chunk.len() < 2 {
            continue;
        }
        let name = names[chunk[0] as usize % names.len()];
        let p = src.join(name);
        if want.keys().any(|k: &String| {
            k.starts_with(&format!("{name}/")) || name.starts_with(&format!("{k}/"))
        }) {
            continue;
        }
        if let Some(parent) = p.parent() {
            let _ = fs::create_dir_all(parent);
        }
        let mut content = chunk[2..].to_vec();
        let reps = (chunk[1] % 8) as usize * 600;
        for _ in 0..reps {
            content.push(chunk[1]);
        }
        if fs::write(&p, &content).is_ok() {
            want.insert(name.to_string(), content);
        }
    }
    let opts = crate::pack::PackOptions {
        block_size: 4096,
        threads: 1,
        ..Default::default()
    };
    let (bytes, _) = crate::pack::pack_to_writer(&[src], Vec::new(), &opts).expect("pack");
    let ar = Archive::from_bytes(bytes.clone(), Limits::default()).expect("open");
    read_stream(&bytes[..], &mut NullSink, Limits::default()).expect("stream");
    for (name, content) in &want {
        let mut r = ar.open_entry(&format!("src/{name}")).expect("entry");
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut got).expect("read");
        assert_eq!(&got, content, "{name}");
    }
}

/// Range decoder and both front ends on garbage: the first byte picks a frequency table shape,
/// the rest is the stream. Must never panic or loop forever.
pub fn range_decode(data: &[u8]) {
    use crate::entropy::binary::{BinDecoder, Context};
    use crate::entropy::multi::FreqTable;
    use crate::entropy::range::Decoder;
    let Some((&shape, stream)) = data.split_first() else {
        return;
    };
    let n = usize::from(shape % 40) + 1;
    let freqs: Vec<u32> = (0..n as u32)
        .map(|i| 1 + (i * 977 + u32::from(shape)) % 3000)
        .collect();
    let table = FreqTable::new(&freqs).expect("frequencies are 1..=3000, at most 40 of them");
    let mut dec = Decoder::new(stream);
    for _ in 0..4 * stream.len() + 8 {
        match table.decode(&mut dec) {
            Some(s) => assert!(s < n),
            None => break,
        }
        dec.decode_direct(3);
    }
    let mut ctx = [Context::default(); 4];
    let mut bin = BinDecoder::new(stream);
    for i in 0..8 * stream.len() + 8 {
        bin.get(&mut ctx[i % 4]);
    }
    let _ = bin.is_bad();
}

/// Neural payloads (codec-neural.md): the first byte picks the mode. Mode 0 parses a whole
/// payload (header, safetensors, latents, alpha) under a small pixel limit; mode 1 decodes a
/// raw latent stream for a small image with a fixed entropy model (mode bit 1: table set 2),
/// and whatever decodes must re-encode and decode to the same latents. Must never panic, hang or over-allocate.
#[cfg(feature = "neural")]
pub fn neural_decode(data: &[u8]) {
    use crate::neural::{arch::ARM_PARAMS, arm, payload};
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        if let Ok(n) = payload::decode(rest, 1 << 16) {
            assert_eq!(n.latents.len(), crate::neural::arch::GRIDS);
            let again = payload::encode(&n).expect("a decoded image re-encodes");
            assert_eq!(payload::decode(&again, 1 << 16).expect("and decodes"), n);
            // The synthesis on whatever weights and latents parsed (small images only, to keep
            // runs fast): never a panic, one byte per channel and pixel.
            let (w, h, c) = (n.width as usize, n.height as usize, n.channels as usize);
            if w * h <= 4096 {
                let add = n.residual.as_ref().map(|r| r.upsampler(w, h));
                let px = crate::neural::kernels::pixels_packed_plus(
                    &crate::neural::kernels::Geometry::new(w, h, c),
                    &n.syn_params_f32(),
                    &n.latents_f32(),
                    1 + usize::from(mode >> 7),
                    add.as_ref(),
                );
                assert_eq!(px.len(), w * h * c);
            }
        }
        return;
    }
    let Some((&dims, stream)) = rest.split_first() else {
        return;
    };
    let (w, h) = (usize::from(dims & 15) + 1, usize::from(dims >> 4) + 1);
    let p: Vec<f32> = (0..ARM_PARAMS)
        .map(|i| ((i * 37 + usize::from(mode)) % 17) as f32 / 8.0 - 1.0)
        .collect();
    let model = arm::ArmQ::from_float(crate::neural::arch::ARCH_V1, &p);
    // Bit 1 of the mode picks the table set (§3.4), so both sets' escapes are exercised.
    let set = if mode & 2 == 0 {
        arm::TableSet::Set1
    } else {
        arm::TableSet::Set2
    };
    if let Ok(grids) = arm::decode_latents(&model, stream, w, h, set) {
        let bytes =
            arm::encode_latents(&model, &grids, w, h, set).expect("decoded latents are in range");
        assert_eq!(
            arm::decode_latents(&model, &bytes, w, h, set).expect("re-decodes"),
            grids
        );
    }
}
