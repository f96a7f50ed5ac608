//! Object compression as Firehose applies it after buffering:
//! [`Compression`] names AWS's `CompressionFormat` values and turns a buffer's
//! bytes into the object body with AWS's file extension.
//!
//! - `GZIP`: one gzip member, `.gz`.
//! - `ZIP`: a zip archive with one deflated entry (the object name without
//!   `.zip`), `.zip`.
//! - `Snappy`: the Snappy framing format (stream identifier `sNaPpY`, CRC-32C
//!   masked chunks) that snappy-java's framed streams read, `.snappy`.
//! - `HADOOP_SNAPPY`: Hadoop's block format (for each block: big-endian
//!   uncompressed length, then big-endian compressed length and raw Snappy
//!   bytes), `.snappy`.

use std::io::Write;

use crate::error::{FirehoseError, Result};

/// Hadoop's default Snappy block size (256 KiB of input per block).
const HADOOP_SNAPPY_BLOCK: usize = 256 * 1024;

/// AWS's `CompressionFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// `UNCOMPRESSED`
    #[default]
    Uncompressed,
    /// `GZIP`
    Gzip,
    /// `ZIP`
    Zip,
    /// `Snappy`
    Snappy,
    /// `HADOOP_SNAPPY`
    HadoopSnappy,
}

/// The gzip encoder of GZIP objects, for about `len` bytes of input: one
/// member at flate2's default level, one-shot ([`Compression::compress`])
/// or streaming ([`Encoder`]) alike.
fn gzip_encoder(len: usize) -> flate2::write::GzEncoder<Vec<u8>> {
    flate2::write::GzEncoder::new(
        Vec::with_capacity(len / 4 + 64),
        flate2::Compression::default(),
    )
}

/// A streaming encoder: the object body is compressed as its bytes come,
/// with the same settings as [`Compression::compress`] and the same
/// decompressed content.
pub struct Encoder(flate2::write::GzEncoder<Vec<u8>>);

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encoder(GZIP)")
    }
}

impl Encoder {
    /// Compresses the next bytes of the body.
    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.0.write_all(data)
    }

    /// The whole compressed body.
    pub fn finish(self) -> std::io::Result<Vec<u8>> {
        self.0.finish()
    }
}

impl Compression {
    /// A streaming encoder for about `len` bytes of input, for the formats
    /// that compress a stream the way [`Compression::compress`] compresses
    /// the whole (GZIP); None for the others.
    pub fn encoder(self, len: usize) -> Option<Encoder> {
        self.streams().then(|| Encoder(gzip_encoder(len)))
    }

    /// Whether [`Compression::encoder`] gives an encoder.
    pub fn streams(self) -> bool {
        self == Self::Gzip
    }

    /// Parses AWS's spelling; `None` for anything else.
    pub fn from_aws(s: &str) -> Option<Self> {
        Some(match s {
            "UNCOMPRESSED" => Self::Uncompressed,
            "GZIP" => Self::Gzip,
            "ZIP" => Self::Zip,
            "Snappy" => Self::Snappy,
            "HADOOP_SNAPPY" => Self::HadoopSnappy,
            _ => return None,
        })
    }

    /// AWS's spelling.
    pub fn as_aws(self) -> &'static str {
        match self {
            Self::Uncompressed => "UNCOMPRESSED",
            Self::Gzip => "GZIP",
            Self::Zip => "ZIP",
            Self::Snappy => "Snappy",
            Self::HadoopSnappy => "HADOOP_SNAPPY",
        }
    }

    /// The file extension AWS gives objects in this format.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Uncompressed => "",
            Self::Gzip => ".gz",
            Self::Zip => ".zip",
            Self::Snappy | Self::HadoopSnappy => ".snappy",
        }
    }

    /// Compresses `data`; `key` names the object (for errors and the zip entry).
    pub fn compress(self, data: &[u8], key: &str) -> Result<Vec<u8>> {
        let wrap = |source: std::io::Error| FirehoseError::Compression {
            key: key.to_owned(),
            format: self.as_aws(),
            source,
        };
        match self {
            Self::Uncompressed => Ok(data.to_vec()),
            Self::Gzip => {
                let mut enc = gzip_encoder(data.len());
                enc.write_all(data).map_err(wrap)?;
                enc.finish().map_err(wrap)
            }
            Self::Zip => {
                let entry = key
                    .rsplit('/')
                    .next()
                    .unwrap_or(key)
                    .trim_end_matches(".zip");
                let entry = if entry.is_empty() { "data" } else { entry };
                let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
                let opts = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .large_file(data.len() as u64 >= u64::from(u32::MAX));
                zw.start_file(entry, opts)
                    .map_err(|e| wrap(std::io::Error::other(e)))?;
                zw.write_all(data).map_err(wrap)?;
                let cur = zw.finish().map_err(|e| wrap(std::io::Error::other(e)))?;
                Ok(cur.into_inner())
            }
            Self::Snappy => {
                let mut enc = snap::write::FrameEncoder::new(Vec::with_capacity(data.len() / 2));
                enc.write_all(data).map_err(wrap)?;
                enc.into_inner()
                    .map_err(|e| wrap(std::io::Error::other(e.to_string())))
            }
            Self::HadoopSnappy => {
                let mut out = Vec::with_capacity(data.len() / 2 + 16);
                let mut enc = snap::raw::Encoder::new();
                for block in data.chunks(HADOOP_SNAPPY_BLOCK) {
                    let compressed = enc
                        .compress_vec(block)
                        .map_err(|e| wrap(std::io::Error::other(e)))?;
                    out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                    out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
                    out.extend_from_slice(&compressed);
                }
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample() -> Vec<u8> {
        (0..300_000u32)
            .flat_map(|i| format!("{{\"n\":{i}}}").into_bytes())
            .collect()
    }

    #[test]
    fn gzip_round_trip() {
        let data = sample();
        let z = Compression::Gzip.compress(&data, "k.gz").unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn gzip_streaming_matches_one_shot() {
        let data = sample();
        let mut enc = Compression::Gzip.encoder(data.len()).unwrap();
        for part in data.chunks(60_000) {
            enc.write(part).unwrap();
        }
        let z = enc.finish().unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        assert!(Compression::Zip.encoder(1).is_none());
    }

    #[test]
    fn zip_has_one_entry() {
        let data = sample();
        let z = Compression::Zip.compress(&data, "a/b/s-1-x.zip").unwrap();
        let mut ar = zip::ZipArchive::new(std::io::Cursor::new(z)).unwrap();
        assert_eq!(ar.len(), 1);
        let mut f = ar.by_index(0).unwrap();
        assert_eq!(f.name().unwrap(), "s-1-x");
        let mut back = Vec::new();
        f.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn snappy_framed_round_trip() {
        let data = sample();
        let z = Compression::Snappy.compress(&data, "k").unwrap();
        assert_eq!(&z[..10], b"\xff\x06\x00\x00sNaPpY");
        let mut back = Vec::new();
        snap::read::FrameDecoder::new(&z[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn hadoop_snappy_blocks() {
        let data = sample();
        let z = Compression::HadoopSnappy.compress(&data, "k").unwrap();
        let mut back = Vec::new();
        let mut rest = &z[..];
        while !rest.is_empty() {
            let raw_len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let c_len = u32::from_be_bytes(rest[4..8].try_into().unwrap()) as usize;
            let block = snap::raw::Decoder::new()
                .decompress_vec(&rest[8..8 + c_len])
                .unwrap();
            assert_eq!(block.len(), raw_len);
            back.extend_from_slice(&block);
            rest = &rest[8 + c_len..];
        }
        assert_eq!(back, data);
    }
}
