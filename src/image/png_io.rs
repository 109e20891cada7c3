//! PNG reading and writing with the `png` crate (pure Rust, already the ecosystem's standard
//! decoder). Palette and low-bit-depth images are expanded to 8-bit; 16-bit images are refused,
//! because the lossy codecs are 8-bit and silently dropping precision is not ours to decide.

use super::Image;
use crate::error::{Error, Result};

fn input_err(path: &str, why: impl std::fmt::Display) -> Error {
    Error::Input {
        path: path.to_string(),
        why: why.to_string(),
    }
}

/// Decodes PNG bytes to an 8-bit [`Image`]; `name` is used in error messages only. Refuses
/// images above `max_pixels` before allocating their pixels.
pub fn decode_png(bytes: &[u8], name: &str, max_pixels: u64) -> Result<Image> {
    let mut dec = png::Decoder::new(bytes);
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().map_err(|e| input_err(name, e))?;
    let (w, h) = {
        let info = reader.info();
        (info.width, info.height)
    };
    let pixels = u64::from(w) * u64::from(h);
    if pixels > max_pixels {
        return Err(Error::Limit {
            what: "image pixels",
            got: pixels,
            max: max_pixels,
        });
    }
    let (color, depth) = reader.output_color_type();
    if depth != png::BitDepth::Eight {
        return Err(input_err(name, format!("{depth:?}-bit PNG is not 8-bit")));
    }
    let channels = match color {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(input_err(name, "palette was not expanded")),
    };
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| input_err(name, e))?;
    buf.truncate(frame.buffer_size());
    Image::from_raw(w, h, channels, buf)
}

/// Reads and decodes a PNG file.
pub fn read_png(path: &std::path::Path, max_pixels: u64) -> Result<Image> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::io(format!("reading {name}"), e))?;
    decode_png(&bytes, &name, max_pixels)
}

/// Encodes an image as PNG (default compression).
pub fn encode_png(img: &Image) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_png(&mut out, img, &[], png::Compression::Default)?;
    Ok(out)
}

/// Writes `img` as an 8-bit PNG with `chunks` (kept ancillary chunks, in order, before the
/// image data) at `compression`, with adaptive row filters when compressing harder than the
/// default.
pub fn write_png(
    out: &mut dyn std::io::Write,
    img: &Image,
    chunks: &[super::png_stored::PngChunk],
    compression: png::Compression,
) -> Result<()> {
    let mut enc = png::Encoder::new(out, img.width, img.height);
    enc.set_color(match img.channels {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    });
    enc.set_depth(png::BitDepth::Eight);
    // The encoder's defaults are left untouched for Default (set_compression also picks
    // filters), so default-compression output stays byte-identical to earlier releases.
    if !matches!(compression, png::Compression::Default) {
        enc.set_compression(compression);
        enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    }
    let perr = |e: png::EncodingError| match e {
        png::EncodingError::IoError(e) => Error::io("writing PNG", e),
        e => Error::Corrupt {
            codec: "png",
            why: format!("encoding an image: {e}"),
        },
    };
    let mut w = enc.write_header().map_err(perr)?;
    for c in chunks {
        w.write_chunk(png::chunk::ChunkType(c.kind), &c.data)
            .map_err(perr)?;
    }
    w.write_image_data(&img.data).map_err(perr)?;
    w.finish().map_err(perr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_roundtrip_all_channel_counts() {
        for ch in 1..=4u8 {
            let data: Vec<u8> = (0..5 * 3 * ch as usize).map(|i| (i * 7) as u8).collect();
            let img = Image::from_raw(5, 3, ch, data).unwrap();
            let png = encode_png(&img).unwrap();
            assert_eq!(decode_png(&png, "t", 100).unwrap(), img);
            assert_eq!(decode_png(&png, "t", 10).unwrap_err().class(), "limit");
        }
        assert_eq!(decode_png(b"nope", "t", 10).unwrap_err().class(), "input");
    }
}
