//! Large-image check for the DCT codec: `dct_large encode W H FILE` writes the payload of a
//! synthetic W x H RGB picture; `dct_large decode FILE` streams it back row by row without
//! keeping the pixels and prints the CRC, so `/usr/bin/time -v` shows the decoder's working
//! memory (bounded by a few MCU rows, not by the image).

use yoz::image::dct::{self, DctOptions};
use yoz::image::{DecodeLimits, Image};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, w, h, file] if cmd == "encode" => {
            let (w, h): (u32, u32) = (w.parse()?, h.parse()?);
            let mut data = Vec::with_capacity(w as usize * h as usize * 3);
            for y in 0..h {
                for x in 0..w {
                    let v = ((x / 7) ^ (y / 5)) as u8;
                    data.extend_from_slice(&[x as u8, y as u8, v]);
                }
            }
            let img = Image::from_raw(w, h, 3, data)?;
            let t = std::time::Instant::now();
            let p = dct::encode(&img, &DctOptions::default())?;
            eprintln!("encoded {} bytes in {:.2?}", p.len(), t.elapsed());
            std::fs::write(file, p)?;
        }
        [cmd, file] if cmd == "decode" => {
            let p = std::fs::read(file)?;
            let t = std::time::Instant::now();
            let mut rows = 0u64;
            let h = dct::decode_rows(&p, &DecodeLimits::default(), |_, _| {
                rows += 1;
                Ok(())
            })?;
            eprintln!(
                "decoded {}x{} ({rows} rows) in {:.2?}, CRC {:#010x} verified",
                h.width,
                h.height,
                t.elapsed(),
                h.pixel_crc
            );
        }
        _ => return Err("usage: dct_large encode W H FILE | dct_large decode FILE".into()),
    }
    Ok(())
}
