//! Images as the lossy codecs see them: 8-bit interleaved pixels, PNG I/O, colour conversion,
//! quality metrics, the DCT codec ([`dct`]) and the seam every image codec decodes behind
//! ([`codec`]).

pub mod codec;
pub mod color;
pub mod dct;
pub mod entry;
pub mod metrics;
pub mod png_io;
pub mod png_stored;
/// Rate-distortion summaries for the benchmarks: not API.
#[doc(hidden)]
pub mod rd;

use crate::error::{Error, Result};

/// Default bound on `width * height` that decoders accept (2^28 pixels: 16384x16384).
pub const MAX_PIXELS_DEFAULT: u64 = 1 << 28;

/// An 8-bit image, channels interleaved row by row: 1 = gray, 2 = gray+alpha, 3 = RGB,
/// 4 = RGBA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    /// `width * height * channels` bytes.
    pub data: Vec<u8>,
}

impl Image {
    /// An image of the given shape filled with zeros. Errors on a channel count outside 1..=4
    /// or a size that overflows memory arithmetic.
    pub fn new(width: u32, height: u32, channels: u8) -> Result<Self> {
        let len = Self::byte_len(width, height, channels)?;
        Ok(Image {
            width,
            height,
            channels,
            data: vec![0; len],
        })
    }

    /// Wraps existing pixel bytes, checking that the length matches the shape.
    pub fn from_raw(width: u32, height: u32, channels: u8, data: Vec<u8>) -> Result<Self> {
        let len = Self::byte_len(width, height, channels)?;
        if data.len() != len {
            return Err(Error::SizeMismatch {
                what: format!(
                    "{width}x{height}x{channels} image needs {len} bytes, got {}",
                    data.len()
                ),
            });
        }
        Ok(Image {
            width,
            height,
            channels,
            data,
        })
    }

    fn byte_len(width: u32, height: u32, channels: u8) -> Result<usize> {
        if !(1..=4).contains(&channels) {
            return Err(Error::OutOfRange {
                what: format!("channel count {channels} (expected 1..=4)"),
            });
        }
        (width as usize)
            .checked_mul(height as usize)
            .and_then(|n| n.checked_mul(channels as usize))
            .ok_or_else(|| Error::OutOfRange {
                what: format!("image size {width}x{height}x{channels}"),
            })
    }

    /// Number of pixels.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The centre `n x n` of the image (the whole width or height where it is smaller): the
    /// benches' crop protocol.
    pub fn centre_crop(&self, n: u32) -> Image {
        let (w, h) = (n.min(self.width), n.min(self.height));
        let (x0, y0) = ((self.width - w) / 2, (self.height - h) / 2);
        let ch = self.channels as usize;
        let row = w as usize * ch;
        let mut data = Vec::with_capacity(row * h as usize);
        for y in y0..y0 + h {
            let r = (y as usize * self.width as usize + x0 as usize) * ch;
            data.extend_from_slice(&self.data[r..r + row]);
        }
        Image {
            width: w,
            height: h,
            channels: self.channels,
            data,
        }
    }

    /// True if the image carries an alpha channel (2 or 4 channels).
    pub fn has_alpha(&self) -> bool {
        self.channels == 2 || self.channels == 4
    }
}

/// Limits a lossy image decoder enforces on untrusted payloads before allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest `width * height` accepted.
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_pixels: MAX_PIXELS_DEFAULT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_crop_takes_the_middle() {
        let mut img = Image::new(5, 4, 2).unwrap();
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = i as u8;
        }
        let c = img.centre_crop(2);
        assert_eq!((c.width, c.height, c.channels), (2, 2, 2));
        // Rows 1..3, columns 1..3 of a 5-wide, 2-channel image.
        assert_eq!(c.data, vec![12, 13, 14, 15, 22, 23, 24, 25]);
        assert_eq!(img.centre_crop(9), img);
    }
}
