//! GetClip's container: a progressive MP4 (ftyp, moov, mdat) of the H.264
//! track of a run of fragments. Entry point: [`clip`].
//!
//! Frames are taken from the stored Clusters as they are (Matroska's
//! `V_MPEG4/ISO/AVC` frames are already length-prefixed NAL units and its
//! CodecPrivate is the `avcC` record), starting at the first keyframe. The
//! clip has one track, one chunk, 90 kHz media time; presentation times
//! that do not rise in decode order (B-frames) get a `ctts` table.

use bytes::Bytes;

use crate::ebml::{self, Children};
use crate::mkv::{HeaderInfo, TrackInfo};

/// One video frame pulled out of a Cluster.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Presentation time in nanoseconds on the producer's timeline.
    pub pts_ns: i64,
    /// Keyframe flag.
    pub keyframe: bool,
    /// The frame bytes (AVCC NAL units).
    pub data: Bytes,
}

/// Why a clip could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClipFault {
    /// No H.264 track in the header.
    NotH264,
    /// The H.264 track has no CodecPrivate (avcC).
    MissingCodecPrivate,
    /// No keyframe in the frames given.
    NoKeyframe,
}

/// The first H.264 track of a header.
pub fn h264_track(header: &HeaderInfo) -> Option<&TrackInfo> {
    header
        .tracks
        .iter()
        .find(|t| t.codec_id == "V_MPEG4/ISO/AVC")
}

/// The frames of `track` in one stored fragment (a Cluster plus whatever
/// Segment-level elements followed it).
pub fn fragment_frames(fragment: &Bytes, header: &HeaderInfo, track: u64) -> Vec<Frame> {
    let mut out = Vec::new();
    let Ok(Some(h)) = ebml::read_header(fragment) else {
        return out;
    };
    if h.id != ebml::ID_CLUSTER {
        return out;
    }
    let start = h.header_len;
    let end = match h.size {
        Some(s) => (start + s as usize).min(fragment.len()),
        None => {
            // Unknown size: up to the first Segment-level element.
            let mut p = start;
            while p < fragment.len() {
                match ebml::read_header(&fragment[p..]) {
                    Ok(Some(c)) if !ebml::is_segment_child(c.id) => {
                        p += c.header_len + c.size.unwrap_or(0) as usize;
                    }
                    _ => break,
                }
            }
            p.min(fragment.len())
        }
    };
    let data = &fragment[start..end];
    let mut cluster_tc = 0i64;
    let scale = header.timecode_scale_ns as i64;
    for (id, d, _) in Children::new(data) {
        let block = match id {
            ebml::ID_TIMECODE => {
                cluster_tc = ebml::read_uint(d) as i64;
                continue;
            }
            ebml::ID_SIMPLE_BLOCK => Some((d, None)),
            ebml::ID_BLOCK_GROUP => {
                let mut block = None;
                let mut referenced = false;
                for (cid, cd, _) in Children::new(d) {
                    match cid {
                        ebml::ID_BLOCK => block = Some(cd),
                        ebml::ID_REFERENCE_BLOCK => referenced = true,
                        _ => {}
                    }
                }
                block.map(|b| (b, Some(!referenced)))
            }
            _ => None,
        };
        let Some((b, key)) = block else { continue };
        let Some((tn, n)) = ebml::read_vint(b) else {
            continue;
        };
        if tn != track || b.len() < n + 3 {
            continue;
        }
        let rel = i64::from(i16::from_be_bytes([b[n], b[n + 1]]));
        let flags = b[n + 2];
        let frame_offset = b.as_ptr() as usize - fragment.as_ptr() as usize + n + 3;
        let frame_end = b.as_ptr() as usize - fragment.as_ptr() as usize + b.len();
        out.push(Frame {
            pts_ns: (cluster_tc + rel) * scale,
            keyframe: key.unwrap_or(flags & 0x80 != 0),
            data: fragment.slice(frame_offset..frame_end),
        });
    }
    out
}

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 8);
    v.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

fn full(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(body.len() + 4);
    b.push(version);
    b.extend_from_slice(&flags.to_be_bytes()[1..]);
    b.extend_from_slice(body);
    bx(kind, &b)
}

fn u32s(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];
const TIMESCALE: i64 = 90_000;

/// A progressive MP4 of `frames` (decode order) for an H.264 `track`.
/// Returns the file and the number of frames in it.
pub fn clip(track: &TrackInfo, frames: &[Frame]) -> Result<(Vec<u8>, usize), ClipFault> {
    if track.codec_id != "V_MPEG4/ISO/AVC" {
        return Err(ClipFault::NotH264);
    }
    if track.codec_private.is_empty() {
        return Err(ClipFault::MissingCodecPrivate);
    }
    let first_key = frames
        .iter()
        .position(|f| f.keyframe)
        .ok_or(ClipFault::NoKeyframe)?;
    let frames = &frames[first_key..];
    let t0 = frames.iter().map(|f| f.pts_ns).min().unwrap_or(0);
    let to_ticks = |ns: i64| (i128::from(ns - t0) * i128::from(TIMESCALE) / 1_000_000_000) as i64;
    let pts: Vec<i64> = frames.iter().map(|f| to_ticks(f.pts_ns)).collect();
    let mut dts = pts.clone();
    dts.sort_unstable();
    let default_delta = track
        .default_duration_ns
        .map(|ns| (i128::from(ns as i64) * i128::from(TIMESCALE) / 1_000_000_000) as i64)
        .unwrap_or_else(|| {
            if dts.len() > 1 {
                (dts[dts.len() - 1] - dts[0]) / (dts.len() as i64 - 1)
            } else {
                TIMESCALE / 30
            }
        });
    let deltas: Vec<u32> = (0..dts.len())
        .map(|i| {
            let d = dts.get(i + 1).map_or(default_delta, |next| next - dts[i]);
            d.max(0) as u32
        })
        .collect();
    let duration: i64 = deltas.iter().map(|d| i64::from(*d)).sum();
    let n = frames.len();

    // stts: run-length deltas.
    let mut stts: Vec<(u32, u32)> = Vec::new();
    for d in &deltas {
        match stts.last_mut() {
            Some((count, delta)) if delta == d => *count += 1,
            _ => stts.push((1, *d)),
        }
    }
    let mut stts_body = u32s(&[stts.len() as u32]);
    for (c, d) in &stts {
        stts_body.extend(u32s(&[*c, *d]));
    }
    let offsets: Vec<i64> = pts.iter().zip(&dts).map(|(p, d)| p - d).collect();
    let ctts = if offsets.iter().any(|o| *o != 0) {
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for o in &offsets {
            let o = *o as i32 as u32;
            match runs.last_mut() {
                Some((count, off)) if *off == o => *count += 1,
                _ => runs.push((1, o)),
            }
        }
        let mut body = u32s(&[runs.len() as u32]);
        for (c, o) in runs {
            body.extend(u32s(&[c, o]));
        }
        full(b"ctts", 1, 0, &body)
    } else {
        Vec::new()
    };
    let keys: Vec<u32> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.keyframe)
        .map(|(i, _)| i as u32 + 1)
        .collect();
    let mut stss_body = u32s(&[keys.len() as u32]);
    stss_body.extend(u32s(&keys));
    let mut stsz_body = u32s(&[0, n as u32]);
    stsz_body.extend(
        frames
            .iter()
            .flat_map(|f| (f.data.len() as u32).to_be_bytes()),
    );
    let width = track.width.unwrap_or(0) as u32;
    let height = track.height.unwrap_or(0) as u32;

    let mut avc1 = vec![0u8; 6];
    avc1.extend_from_slice(&1u16.to_be_bytes());
    avc1.extend_from_slice(&[0u8; 16]);
    avc1.extend_from_slice(&(width as u16).to_be_bytes());
    avc1.extend_from_slice(&(height as u16).to_be_bytes());
    avc1.extend(u32s(&[0x0048_0000, 0x0048_0000, 0]));
    avc1.extend_from_slice(&1u16.to_be_bytes());
    avc1.extend_from_slice(&[0u8; 32]);
    avc1.extend_from_slice(&0x0018u16.to_be_bytes());
    avc1.extend_from_slice(&0xFFFFu16.to_be_bytes());
    avc1.extend(bx(b"avcC", &track.codec_private));
    let stsd = full(b"stsd", 0, 0, &[u32s(&[1]), bx(b"avc1", &avc1)].concat());

    let build_moov = |mdat_data_offset: u32| -> Vec<u8> {
        let stbl = bx(
            b"stbl",
            &[
                stsd.clone(),
                full(b"stts", 0, 0, &stts_body),
                ctts.clone(),
                full(b"stss", 0, 0, &stss_body),
                full(b"stsc", 0, 0, &u32s(&[1, 1, n as u32, 1])),
                full(b"stsz", 0, 0, &stsz_body),
                full(b"stco", 0, 0, &u32s(&[1, mdat_data_offset])),
            ]
            .concat(),
        );
        let dinf = bx(
            b"dinf",
            &full(
                b"dref",
                0,
                0,
                &[u32s(&[1]), full(b"url ", 0, 1, &[])].concat(),
            ),
        );
        let minf = bx(
            b"minf",
            &[full(b"vmhd", 0, 1, &[0u8; 8]), dinf, stbl].concat(),
        );
        let mut hdlr = u32s(&[0]);
        hdlr.extend_from_slice(b"vide");
        hdlr.extend_from_slice(&[0u8; 12]);
        hdlr.extend_from_slice(b"VideoHandler\0");
        let mut mdhd = u32s(&[0, 0, TIMESCALE as u32, duration as u32]);
        mdhd.extend_from_slice(&[0x55, 0xC4, 0, 0]);
        let mdia = bx(
            b"mdia",
            &[full(b"mdhd", 0, 0, &mdhd), full(b"hdlr", 0, 0, &hdlr), minf].concat(),
        );
        let movie_ms = (duration * 1000 / TIMESCALE) as u32;
        let mut tkhd = u32s(&[0, 0, 1, 0, movie_ms, 0, 0]);
        tkhd.extend_from_slice(&[0u8; 8]);
        tkhd.extend(u32s(&MATRIX));
        tkhd.extend(u32s(&[width << 16, height << 16]));
        let trak = bx(b"trak", &[full(b"tkhd", 0, 3, &tkhd), mdia].concat());
        let mut mvhd = u32s(&[0, 0, 1000, movie_ms, 0x0001_0000]);
        mvhd.extend_from_slice(&[0x01, 0x00]);
        mvhd.extend_from_slice(&[0u8; 10]);
        mvhd.extend(u32s(&MATRIX));
        mvhd.extend_from_slice(&[0u8; 24]);
        mvhd.extend(u32s(&[2]));
        bx(b"moov", &[full(b"mvhd", 0, 0, &mvhd), trak].concat())
    };
    let mut ftyp = b"isom".to_vec();
    ftyp.extend(u32s(&[0x200]));
    ftyp.extend_from_slice(b"isomiso2avc1mp41");
    let ftyp = bx(b"ftyp", &ftyp);
    let moov_len = build_moov(0).len();
    let data_offset = (ftyp.len() + moov_len + 8) as u32;
    let moov = build_moov(data_offset);
    let mdat_len: usize = frames.iter().map(|f| f.data.len()).sum();
    let mut out = Vec::with_capacity(data_offset as usize + mdat_len);
    out.extend(ftyp);
    out.extend(moov);
    out.extend_from_slice(&((mdat_len + 8) as u32).to_be_bytes());
    out.extend_from_slice(b"mdat");
    for f in frames {
        out.extend_from_slice(&f.data);
    }
    Ok((out, n))
}
