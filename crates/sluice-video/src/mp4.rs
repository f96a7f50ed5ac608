//! GetClip's container: a progressive MP4 (ftyp, moov, mdat) of the video
//! track of a run of fragments and, when there is one, its audio track.
//! Entry points: [`clip_tracks`] (which tracks, checked as AWS does),
//! [`fragment_frames`] (their frames from one stored fragment) and [`clip`].
//!
//! What AWS muxes (Kinesis Video developer guide, "GetClip requirements"),
//! and the MP4 sample entry each becomes:
//!
//! | video               | Matroska CodecID   | CodecPrivate | sample entry   |
//! |---------------------|--------------------|--------------|----------------|
//! | H.264               | `V_MPEG4/ISO/AVC`  | `avcC`       | `avc1` + avcC  |
//! | H.265               | `V_MPEGH/ISO/HEVC` | `hvcC`       | `hvc1` + hvcC  |
//!
//! | audio (optional)    | Matroska CodecID   | CodecPrivate         | sample entry  |
//! |---------------------|--------------------|----------------------|---------------|
//! | AAC                 | `A_AAC`            | AudioSpecificConfig  | `mp4a` + esds |
//! | G.711 A-law (H.264) | `A_MS/ACM`, tag 6  | WAVEFORMATEX         | `alaw`        |
//!
//! Frames are taken from the stored Clusters as they are: Matroska's AVC and
//! HEVC frames are already length-prefixed NAL units, AAC frames are raw
//! access units and G.711 frames raw 8-bit samples. The clip starts at the
//! video track's first keyframe; audio before it is left out and audio that
//! starts after it is delayed with an edit list.
//!
//! Layout: `ftyp`, `moov` (`mvhd`, one `trak` per track: video is track 1,
//! audio track 2), `mdat` holding every video frame and then every audio
//! frame, so each track is one chunk. Video runs on a 90 kHz media clock,
//! audio on its sample rate; the movie clock is milliseconds and `mvhd`'s
//! duration is the longest track's. Video presentation times that do not
//! rise in decode order (B-frames) get a `ctts` table; only video has a
//! `stss` (every audio frame is a sync sample).

use bytes::Bytes;

use crate::ebml::{self, Children};
use crate::mkv::{HeaderInfo, TrackInfo};

/// Matroska CodecID of H.264 video.
pub const CODEC_H264: &str = "V_MPEG4/ISO/AVC";
/// Matroska CodecID of H.265 video.
pub const CODEC_H265: &str = "V_MPEGH/ISO/HEVC";
/// Matroska CodecID of AAC audio.
pub const CODEC_AAC: &str = "A_AAC";
/// Matroska CodecID of audio described by a WAVEFORMATEX (G.711 here).
pub const CODEC_MS_ACM: &str = "A_MS/ACM";

/// WAVEFORMATEX wFormatTag of G.711 A-law.
const WAVE_FORMAT_ALAW: u16 = 6;
/// WAVEFORMATEX wFormatTag of G.711 µ-law.
const WAVE_FORMAT_MULAW: u16 = 7;

/// One frame pulled out of a Cluster.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The Matroska track number it belongs to.
    pub track: u64,
    /// Presentation time in nanoseconds on the producer's timeline.
    pub pts_ns: i64,
    /// Keyframe flag.
    pub keyframe: bool,
    /// The frame bytes (for video, length-prefixed NAL units).
    pub data: Bytes,
}

/// Why a clip could not be made; [`ClipFault::aws`] names AWS's exception.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClipFault {
    /// No H.264 or H.265 track in the header.
    #[error("no {CODEC_H264} or {CODEC_H265} track (codec IDs {codec_ids:?})")]
    NoVideo {
        /// The CodecIDs the header has.
        codec_ids: Vec<String>,
    },
    /// An audio track with a codec GetClip does not mux.
    #[error("audio track {track}: {reason}")]
    UnsupportedAudio {
        /// Its track number.
        track: u64,
        /// Which codec, and why it is refused.
        reason: String,
    },
    /// The tracks change between fragments of the clip (AWS: tracks must
    /// stay the same through the queried media).
    #[error("fragment {fragment}: the tracks change within the clip ({reason})")]
    TracksChange {
        /// The fragment number where they change.
        fragment: String,
        /// What changed.
        reason: String,
    },
    /// A track has no CodecPrivate.
    #[error("track {track} ({codec_id}) has no codec private data")]
    MissingCodecPrivate {
        /// Its track number.
        track: u64,
        /// Its CodecID.
        codec_id: String,
    },
    /// A track's CodecPrivate cannot be read, or it changes within the clip.
    #[error("track {track}: invalid codec private data: {reason}")]
    InvalidCodecPrivate {
        /// Its track number.
        track: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A block's frames cannot be read (bad lacing).
    #[error("track {track}: frame at {pts_ns} ns cannot be read: {reason}")]
    InvalidFrame {
        /// Its track number.
        track: u64,
        /// The block's time, ns.
        pts_ns: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// No video keyframe in the frames given.
    #[error("no keyframe in the clip's frames")]
    NoKeyframe,
    /// The clip would not fit the 64-bit box sizes (cannot happen within
    /// AWS's 100 MB limit).
    #[error("clip of {bytes} bytes is too large")]
    TooLarge {
        /// Its size.
        bytes: u64,
    },
}

impl ClipFault {
    /// The AWS exception GetClip answers with.
    pub fn aws(&self) -> &'static str {
        match self {
            ClipFault::NoVideo { .. }
            | ClipFault::UnsupportedAudio { .. }
            | ClipFault::TracksChange { .. } => "UnsupportedStreamMediaTypeException",
            ClipFault::MissingCodecPrivate { .. } => "MissingCodecPrivateDataException",
            ClipFault::InvalidCodecPrivate { .. } => "InvalidCodecPrivateDataException",
            ClipFault::InvalidFrame { .. } | ClipFault::NoKeyframe | ClipFault::TooLarge { .. } => {
                "InvalidMediaFrameException"
            }
        }
    }
}

/// The video codecs GetClip muxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264: `avc1` with `avcC`.
    H264,
    /// H.265: `hvc1` with `hvcC`.
    H265,
}

/// The audio codecs GetClip muxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// AAC: `mp4a` with `esds`; `frame_samples` samples (at the track's
    /// sample rate) per frame.
    Aac {
        /// Samples per frame: 1024 (or 960), doubled for implicit HE-AAC.
        frame_samples: u32,
    },
    /// G.711 A-law: `alaw`, one byte per sample and channel.
    G711ALaw,
}

/// The audio track of a clip, with what its sample entry needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTrack {
    /// The Matroska track.
    pub info: TrackInfo,
    /// Its codec.
    pub codec: AudioCodec,
    /// Samples per second: the audio media timescale.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
}

/// The tracks a clip is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipTracks {
    /// The video track.
    pub video: TrackInfo,
    /// Its codec.
    pub video_codec: VideoCodec,
    /// The first audio track, when there is one.
    pub audio: Option<AudioTrack>,
}

impl ClipTracks {
    /// The track numbers whose frames the clip takes.
    pub fn numbers(&self) -> Vec<u64> {
        let mut v = vec![self.video.number];
        v.extend(self.audio.as_ref().map(|a| a.info.number));
        v
    }

    /// Check that a later fragment's tracks are the same as these (AWS:
    /// tracks and codec private data must not change within the clip).
    pub fn check_same(&self, later: &ClipTracks, fragment: &str) -> Result<(), ClipFault> {
        let change = |reason: String| ClipFault::TracksChange {
            fragment: fragment.to_string(),
            reason,
        };
        if self.video_codec != later.video_codec {
            return Err(change(format!(
                "video {} becomes {}",
                self.video.codec_id, later.video.codec_id
            )));
        }
        if self.video.codec_private != later.video.codec_private {
            return Err(ClipFault::InvalidCodecPrivate {
                track: later.video.number,
                reason: format!(
                    "fragment {fragment}: the codec private data changes within the clip"
                ),
            });
        }
        match (&self.audio, &later.audio) {
            (None, None) => Ok(()),
            (Some(a), Some(b)) if a.codec == b.codec => {
                if a.info.codec_private != b.info.codec_private {
                    return Err(ClipFault::InvalidCodecPrivate {
                        track: b.info.number,
                        reason: format!(
                            "fragment {fragment}: the codec private data changes within the clip"
                        ),
                    });
                }
                if (a.sample_rate, a.channels) != (b.sample_rate, b.channels) {
                    return Err(change(format!(
                        "audio {} Hz x{} becomes {} Hz x{}",
                        a.sample_rate, a.channels, b.sample_rate, b.channels
                    )));
                }
                Ok(())
            }
            (Some(a), Some(b)) => Err(change(format!("audio {:?} becomes {:?}", a.codec, b.codec))),
            (None, Some(b)) => Err(change(format!(
                "an audio track ({}) appears",
                b.info.codec_id
            ))),
            (Some(a), None) => Err(change(format!(
                "the audio track ({}) goes away",
                a.info.codec_id
            ))),
        }
    }
}

/// Pick and check a header's clip tracks as AWS does: the first H.264 or
/// H.265 track is the video (with its CodecPrivate, an `avcC` or `hvcC`
/// record); the first audio track, if any, must be AAC (an
/// AudioSpecificConfig) or, with H.264 video, G.711 A-law (`A_MS/ACM` with
/// a WAVEFORMATEX). Any other audio codec, µ-law included, refuses the clip.
pub fn clip_tracks(header: &HeaderInfo) -> Result<ClipTracks, ClipFault> {
    let (video, video_codec) = header
        .tracks
        .iter()
        .find_map(|t| match t.codec_id.as_str() {
            CODEC_H264 => Some((t, VideoCodec::H264)),
            CODEC_H265 => Some((t, VideoCodec::H265)),
            _ => None,
        })
        .ok_or_else(|| ClipFault::NoVideo {
            codec_ids: header.tracks.iter().map(|t| t.codec_id.clone()).collect(),
        })?;
    if video.codec_private.is_empty() {
        return Err(ClipFault::MissingCodecPrivate {
            track: video.number,
            codec_id: video.codec_id.clone(),
        });
    }
    if video_codec == VideoCodec::H265 {
        check_hvcc(video.number, &video.codec_private)?;
    }
    let audio = header
        .tracks
        .iter()
        .find(|t| t.track_type == 2 || t.codec_id.starts_with("A_"))
        .map(|t| audio_track(t, video_codec))
        .transpose()?;
    Ok(ClipTracks {
        video: video.clone(),
        video_codec,
        audio,
    })
}

/// An `hvcC` record: configurationVersion 1 and at least its 23-byte fixed
/// part (ISO/IEC 14496-15, 8.3.3.1).
fn check_hvcc(track: u64, cp: &[u8]) -> Result<(), ClipFault> {
    if cp.len() < 23 || cp[0] != 1 {
        return Err(ClipFault::InvalidCodecPrivate {
            track,
            reason: format!(
                "not an hvcC record ({} bytes, first byte {:#04x})",
                cp.len(),
                cp.first().copied().unwrap_or(0)
            ),
        });
    }
    Ok(())
}

fn audio_track(t: &TrackInfo, video: VideoCodec) -> Result<AudioTrack, ClipFault> {
    let missing = || ClipFault::MissingCodecPrivate {
        track: t.number,
        codec_id: t.codec_id.clone(),
    };
    let invalid = |reason: String| ClipFault::InvalidCodecPrivate {
        track: t.number,
        reason,
    };
    let unsupported = |reason: String| ClipFault::UnsupportedAudio {
        track: t.number,
        reason,
    };
    let mkv_channels = t.channels.and_then(|c| u16::try_from(c).ok());
    match t.codec_id.as_str() {
        CODEC_AAC => {
            if t.codec_private.is_empty() {
                return Err(missing());
            }
            let asc = AudioSpecificConfig::parse(&t.codec_private).map_err(invalid)?;
            let sample_rate = t.sample_rate.unwrap_or(asc.sample_rate);
            // Implicit HE-AAC: Matroska gives the output rate, twice the
            // core rate; each frame then holds twice the samples.
            let ratio = (f64::from(sample_rate) / f64::from(asc.sample_rate)).round();
            let frame_samples = asc.frame_samples * (ratio.max(1.0) as u32);
            Ok(AudioTrack {
                info: t.clone(),
                codec: AudioCodec::Aac { frame_samples },
                sample_rate,
                channels: mkv_channels.unwrap_or(asc.channels.max(1)),
            })
        }
        CODEC_MS_ACM => {
            let cp = &t.codec_private;
            if cp.is_empty() {
                return Err(missing());
            }
            if cp.len() < 16 {
                return Err(invalid(format!(
                    "a WAVEFORMATEX is at least 16 bytes, this one {}",
                    cp.len()
                )));
            }
            let tag = u16::from_le_bytes([cp[0], cp[1]]);
            let channels = u16::from_le_bytes([cp[2], cp[3]]);
            let rate = u32::from_le_bytes([cp[4], cp[5], cp[6], cp[7]]);
            match tag {
                WAVE_FORMAT_ALAW if video == VideoCodec::H264 => {}
                WAVE_FORMAT_ALAW => {
                    return Err(unsupported(
                        "G.711 A-law is muxed with H.264 video only".into(),
                    ));
                }
                WAVE_FORMAT_MULAW => {
                    return Err(unsupported("G.711 µ-law (only A-law is supported)".into()));
                }
                other => {
                    return Err(unsupported(format!(
                        "{CODEC_MS_ACM} format tag {other:#06x} is not G.711 A-law"
                    )));
                }
            }
            let sample_rate = if rate > 0 {
                rate
            } else {
                t.sample_rate.unwrap_or(8000)
            };
            let channels = if channels > 0 {
                channels
            } else {
                mkv_channels.unwrap_or(1)
            };
            Ok(AudioTrack {
                info: t.clone(),
                codec: AudioCodec::G711ALaw,
                sample_rate,
                channels,
            })
        }
        other => Err(unsupported(format!(
            "codec {other} (GetClip takes {CODEC_AAC} or G.711 A-law {CODEC_MS_ACM})"
        ))),
    }
}

/// What GetClip reads from an AAC AudioSpecificConfig (ISO/IEC 14496-3,
/// 1.6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AudioSpecificConfig {
    sample_rate: u32,
    channels: u16,
    frame_samples: u32,
}

const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

impl AudioSpecificConfig {
    fn parse(data: &[u8]) -> Result<Self, String> {
        let mut bits = BitReader { data, pos: 0 };
        let short = || format!("AudioSpecificConfig of {} bytes is cut short", data.len());
        let mut object_type = bits.read(5).ok_or_else(short)?;
        if object_type == 31 {
            object_type = 32 + bits.read(6).ok_or_else(short)?;
        }
        if object_type == 0 {
            return Err("AudioSpecificConfig has audio object type 0".into());
        }
        let index = bits.read(4).ok_or_else(short)?;
        let sample_rate = if index == 15 {
            bits.read(24).ok_or_else(short)?
        } else {
            *AAC_RATES
                .get(index as usize)
                .ok_or_else(|| format!("AudioSpecificConfig sampling index {index} is reserved"))?
        };
        if sample_rate == 0 {
            return Err("AudioSpecificConfig sampling frequency is 0".into());
        }
        let channels = bits.read(4).ok_or_else(short)? as u16;
        // GASpecificConfig's frameLengthFlag (AAC main, LC, SSR, LTP,
        // scalable, TwinVQ, ER variants): 960-sample frames when set.
        let ga = matches!(object_type, 1..=4 | 6 | 7 | 17 | 19..=23);
        let frame_samples = if ga && bits.read(1) == Some(1) {
            960
        } else {
            1024
        };
        Ok(AudioSpecificConfig {
            sample_rate,
            channels,
            frame_samples,
        })
    }
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn read(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self.data.get(self.pos / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Some(v)
    }
}

/// The frames of `tracks` in one stored fragment (a Cluster plus whatever
/// Segment-level elements followed it), in block order. Laced blocks
/// (Xiph, fixed-size, EBML) give one frame per laced frame, each
/// DefaultDuration after the one before.
pub fn fragment_frames(
    fragment: &Bytes,
    header: &HeaderInfo,
    tracks: &[u64],
) -> Result<Vec<Frame>, ClipFault> {
    let mut out = Vec::new();
    let Ok(Some(h)) = ebml::read_header(fragment) else {
        return Ok(out);
    };
    if h.id != ebml::ID_CLUSTER {
        return Ok(out);
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
        if !tracks.contains(&tn) || b.len() < n + 3 {
            continue;
        }
        let rel = i64::from(i16::from_be_bytes([b[n], b[n + 1]]));
        let flags = b[n + 2];
        let pts_ns = (cluster_tc + rel) * scale;
        let keyframe = key.unwrap_or(flags & 0x80 != 0);
        let base = b.as_ptr() as usize - fragment.as_ptr() as usize;
        let ranges = laced_frames(&b[n + 3..], (flags >> 1) & 3).map_err(|reason| {
            ClipFault::InvalidFrame {
                track: tn,
                pts_ns,
                reason,
            }
        })?;
        let step = header
            .tracks
            .iter()
            .find(|t| t.number == tn)
            .and_then(|t| t.default_duration_ns)
            .unwrap_or(0) as i64;
        for (i, (from, to)) in ranges.into_iter().enumerate() {
            out.push(Frame {
                track: tn,
                pts_ns: pts_ns + i as i64 * step,
                keyframe,
                data: fragment.slice(base + n + 3 + from..base + n + 3 + to),
            });
        }
    }
    Ok(out)
}

/// The (start, end) byte ranges of the frames in a block's payload (after
/// track number, timecode and flags), by lacing kind: 0 none, 1 Xiph,
/// 2 fixed-size, 3 EBML.
fn laced_frames(payload: &[u8], lacing: u8) -> Result<Vec<(usize, usize)>, String> {
    if lacing == 0 {
        return Ok(vec![(0, payload.len())]);
    }
    let count = usize::from(*payload.first().ok_or("laced block without a frame count")?) + 1;
    let mut pos = 1usize;
    let mut sizes = Vec::with_capacity(count);
    match lacing {
        1 => {
            for _ in 0..count - 1 {
                let mut size = 0usize;
                loop {
                    let b = *payload
                        .get(pos)
                        .ok_or("Xiph lace sizes run past the block")?;
                    pos += 1;
                    size += usize::from(b);
                    if b != 255 {
                        break;
                    }
                }
                sizes.push(size);
            }
        }
        2 => {
            let rest = payload.len() - pos;
            if !rest.is_multiple_of(count) {
                return Err(format!(
                    "{rest} bytes do not split into {count} fixed-size frames"
                ));
            }
            sizes = vec![rest / count; count - 1];
        }
        _ => {
            let (first, len) = ebml::read_vint(&payload[pos..]).ok_or("bad EBML lace size")?;
            pos += len;
            let mut size = first as i64;
            sizes.push(first as usize);
            for _ in 1..count - 1 {
                let (raw, len) = ebml::read_vint(&payload[pos..]).ok_or("bad EBML lace size")?;
                pos += len;
                let bias = (1i64 << (7 * len - 1)) - 1;
                size += raw as i64 - bias;
                if size < 0 {
                    return Err("negative EBML lace size".into());
                }
                sizes.push(size as usize);
            }
        }
    }
    let mut out = Vec::with_capacity(count);
    for size in sizes {
        let end = pos + size;
        if end > payload.len() {
            return Err("laced frames run past the block".into());
        }
        out.push((pos, end));
        pos = end;
    }
    out.push((pos, payload.len()));
    Ok(out)
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

/// Run-length (count, value) pairs.
fn runs(values: impl IntoIterator<Item = u32>) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for v in values {
        match out.last_mut() {
            Some((count, last)) if *last == v => *count += 1,
            _ => out.push((1, v)),
        }
    }
    out
}

fn pairs_body(pairs: &[(u32, u32)]) -> Vec<u8> {
    let mut body = u32s(&[pairs.len() as u32]);
    for (a, b) in pairs {
        body.extend(u32s(&[*a, *b]));
    }
    body
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];
/// Video media clock.
const VIDEO_TIMESCALE: i64 = 90_000;
/// Movie clock (mvhd, tkhd, elst).
const MOVIE_TIMESCALE: i64 = 1000;

/// One track of the MP4, its sample tables ready.
struct Mp4Track {
    id: u32,
    /// `None` for audio; (width, height) for video.
    video_size: Option<(u32, u32)>,
    timescale: u32,
    /// Media duration, in `timescale` ticks.
    duration: u64,
    /// Movie-clock delay before the first sample (an empty edit).
    delay_ms: u64,
    /// The `stsd` entry (`avc1`, `hvc1`, `mp4a`, `alaw`).
    sample_entry: Vec<u8>,
    stts: Vec<(u32, u32)>,
    ctts: Option<Vec<(u32, u32)>>,
    /// 1-based sync sample numbers (video only).
    stss: Option<Vec<u32>>,
    sizes: Vec<u32>,
}

impl Mp4Track {
    fn movie_duration_ms(&self) -> u64 {
        self.delay_ms + self.duration * MOVIE_TIMESCALE as u64 / u64::from(self.timescale.max(1))
    }

    fn bytes(&self) -> u64 {
        self.sizes.iter().map(|s| u64::from(*s)).sum()
    }

    /// The `trak` box with its one chunk at `chunk_offset` (`co64` when
    /// `wide`).
    fn trak(&self, chunk_offset: u64, wide: bool) -> Vec<u8> {
        let n = self.sizes.len() as u32;
        let mut stsz = u32s(&[0, n]);
        stsz.extend(u32s(&self.sizes));
        let chunk = if wide {
            let mut b = u32s(&[1]);
            b.extend_from_slice(&chunk_offset.to_be_bytes());
            full(b"co64", 0, 0, &b)
        } else {
            full(b"stco", 0, 0, &u32s(&[1, chunk_offset as u32]))
        };
        let stbl = bx(
            b"stbl",
            &[
                full(
                    b"stsd",
                    0,
                    0,
                    &[u32s(&[1]), self.sample_entry.clone()].concat(),
                ),
                full(b"stts", 0, 0, &pairs_body(&self.stts)),
                self.ctts
                    .as_ref()
                    .map(|c| full(b"ctts", 1, 0, &pairs_body(c)))
                    .unwrap_or_default(),
                self.stss
                    .as_ref()
                    .map(|keys| {
                        let mut b = u32s(&[keys.len() as u32]);
                        b.extend(u32s(keys));
                        full(b"stss", 0, 0, &b)
                    })
                    .unwrap_or_default(),
                full(b"stsc", 0, 0, &u32s(&[1, 1, n, 1])),
                full(b"stsz", 0, 0, &stsz),
                chunk,
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
        let header = match self.video_size {
            Some(_) => full(b"vmhd", 0, 1, &[0u8; 8]),
            None => full(b"smhd", 0, 0, &[0u8; 4]),
        };
        let minf = bx(b"minf", &[header, dinf, stbl].concat());
        let (handler, name): (&[u8; 4], &[u8]) = match self.video_size {
            Some(_) => (b"vide", b"VideoHandler\0"),
            None => (b"soun", b"SoundHandler\0"),
        };
        let mut hdlr = u32s(&[0]);
        hdlr.extend_from_slice(handler);
        hdlr.extend_from_slice(&[0u8; 12]);
        hdlr.extend_from_slice(name);
        let mut mdhd = u32s(&[0, 0, self.timescale, self.duration as u32]);
        mdhd.extend_from_slice(&[0x55, 0xC4, 0, 0]);
        let mdia = bx(
            b"mdia",
            &[full(b"mdhd", 0, 0, &mdhd), full(b"hdlr", 0, 0, &hdlr), minf].concat(),
        );
        let movie_ms = self.movie_duration_ms() as u32;
        let mut tkhd = u32s(&[0, 0, self.id, 0, movie_ms, 0, 0]);
        // layer, alternate_group, volume (full for audio), reserved
        let volume: u16 = if self.video_size.is_some() { 0 } else { 0x0100 };
        tkhd.extend_from_slice(&[0, 0, 0, 0]);
        tkhd.extend_from_slice(&volume.to_be_bytes());
        tkhd.extend_from_slice(&[0, 0]);
        tkhd.extend(u32s(&MATRIX));
        let (w, h) = self.video_size.unwrap_or((0, 0));
        tkhd.extend(u32s(&[w << 16, h << 16]));
        let edts = if self.delay_ms > 0 {
            let media_ms = (movie_ms as u64).saturating_sub(self.delay_ms) as u32;
            let elst = u32s(&[
                2,
                self.delay_ms as u32,
                u32::MAX,
                0x0001_0000,
                media_ms,
                0,
                0x0001_0000,
            ]);
            bx(b"edts", &full(b"elst", 0, 0, &elst))
        } else {
            Vec::new()
        };
        bx(b"trak", &[full(b"tkhd", 0, 3, &tkhd), edts, mdia].concat())
    }
}

/// A made clip.
#[derive(Debug, Clone)]
pub struct Clip {
    /// The MP4 file.
    pub bytes: Vec<u8>,
    /// Video samples in it.
    pub video_samples: usize,
    /// Audio samples in it.
    pub audio_samples: usize,
}

/// A progressive MP4 of `frames` (decode order, any of `tracks`' track
/// numbers; others are ignored) from the video track's first keyframe on.
pub fn clip(tracks: &ClipTracks, frames: &[Frame]) -> Result<Clip, ClipFault> {
    let video_frames: Vec<&Frame> = frames
        .iter()
        .filter(|f| f.track == tracks.video.number)
        .collect();
    let first_key = video_frames
        .iter()
        .position(|f| f.keyframe)
        .ok_or(ClipFault::NoKeyframe)?;
    let video_frames = &video_frames[first_key..];
    let t0 = video_frames.iter().map(|f| f.pts_ns).min().unwrap_or(0);
    let video = video_mp4_track(tracks, video_frames, t0);
    let audio = match &tracks.audio {
        Some(a) => {
            let audio_frames: Vec<&Frame> = frames
                .iter()
                .filter(|f| f.track == a.info.number && f.pts_ns >= t0)
                .collect();
            (!audio_frames.is_empty())
                .then(|| (audio_mp4_track(a, &audio_frames, t0), audio_frames))
        }
        None => None,
    };

    let mut ftyp = b"isom".to_vec();
    ftyp.extend(u32s(&[0x200]));
    ftyp.extend_from_slice(b"isomiso2");
    ftyp.extend_from_slice(match tracks.video_codec {
        VideoCodec::H264 => b"avc1",
        VideoCodec::H265 => b"hvc1",
    });
    ftyp.extend_from_slice(b"mp41");
    let ftyp = bx(b"ftyp", &ftyp);
    let mdat_payload = video.bytes() + audio.as_ref().map_or(0, |(t, _)| t.bytes());
    let build_moov = |data_offset: u64, wide: bool| -> Vec<u8> {
        let mut traks = video.trak(data_offset, wide);
        let mut duration = video.movie_duration_ms();
        if let Some((a, _)) = &audio {
            traks.extend(a.trak(data_offset + video.bytes(), wide));
            duration = duration.max(a.movie_duration_ms());
        }
        let next_track = if audio.is_some() { 3 } else { 2 };
        let mut mvhd = u32s(&[0, 0, MOVIE_TIMESCALE as u32, duration as u32, 0x0001_0000]);
        mvhd.extend_from_slice(&[0x01, 0x00]);
        mvhd.extend_from_slice(&[0u8; 10]);
        mvhd.extend(u32s(&MATRIX));
        mvhd.extend_from_slice(&[0u8; 24]);
        mvhd.extend(u32s(&[next_track]));
        bx(b"moov", &[full(b"mvhd", 0, 0, &mvhd), traks].concat())
    };
    // A 32-bit mdat and stco while everything fits; a 64-bit (largesize)
    // mdat and co64 otherwise.
    let narrow_end = (ftyp.len() + build_moov(0, false).len() + 8) as u64 + mdat_payload;
    let wide = narrow_end > u64::from(u32::MAX);
    let mdat_header = if wide { 16 } else { 8 };
    let data_offset = (ftyp.len() + build_moov(0, wide).len() + mdat_header) as u64;
    let moov = build_moov(data_offset, wide);
    let total = data_offset + mdat_payload;
    let capacity = usize::try_from(total).map_err(|_| ClipFault::TooLarge { bytes: total })?;
    let mut out = Vec::with_capacity(capacity);
    out.extend(ftyp);
    out.extend(moov);
    if wide {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(b"mdat");
        out.extend_from_slice(&(mdat_payload + 16).to_be_bytes());
    } else {
        out.extend_from_slice(&((mdat_payload + 8) as u32).to_be_bytes());
        out.extend_from_slice(b"mdat");
    }
    for f in video_frames {
        out.extend_from_slice(&f.data);
    }
    let mut audio_samples = 0;
    if let Some((_, audio_frames)) = &audio {
        for f in audio_frames {
            out.extend_from_slice(&f.data);
        }
        audio_samples = audio_frames.len();
    }
    Ok(Clip {
        bytes: out,
        video_samples: video_frames.len(),
        audio_samples,
    })
}

/// The video track: 90 kHz, decode times the sorted presentation times,
/// the last frame DefaultDuration long (or the mean frame spacing).
fn video_mp4_track(tracks: &ClipTracks, frames: &[&Frame], t0: i64) -> Mp4Track {
    let track = &tracks.video;
    let to_ticks =
        |ns: i64| (i128::from(ns - t0) * i128::from(VIDEO_TIMESCALE) / 1_000_000_000) as i64;
    let pts: Vec<i64> = frames.iter().map(|f| to_ticks(f.pts_ns)).collect();
    let mut dts = pts.clone();
    dts.sort_unstable();
    let default_delta = track
        .default_duration_ns
        .map(|ns| (i128::from(ns as i64) * i128::from(VIDEO_TIMESCALE) / 1_000_000_000) as i64)
        .unwrap_or_else(|| {
            if dts.len() > 1 {
                (dts[dts.len() - 1] - dts[0]) / (dts.len() as i64 - 1)
            } else {
                VIDEO_TIMESCALE / 30
            }
        });
    let deltas: Vec<u32> = (0..dts.len())
        .map(|i| {
            let d = dts.get(i + 1).map_or(default_delta, |next| next - dts[i]);
            d.max(0) as u32
        })
        .collect();
    let duration: u64 = deltas.iter().map(|d| u64::from(*d)).sum();
    let offsets: Vec<i64> = pts.iter().zip(&dts).map(|(p, d)| p - d).collect();
    let ctts = offsets
        .iter()
        .any(|o| *o != 0)
        .then(|| runs(offsets.iter().map(|o| *o as i32 as u32)));
    let keys: Vec<u32> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.keyframe)
        .map(|(i, _)| i as u32 + 1)
        .collect();
    let width = track.width.unwrap_or(0) as u32;
    let height = track.height.unwrap_or(0) as u32;

    let mut entry = vec![0u8; 6];
    entry.extend_from_slice(&1u16.to_be_bytes());
    entry.extend_from_slice(&[0u8; 16]);
    entry.extend_from_slice(&(width as u16).to_be_bytes());
    entry.extend_from_slice(&(height as u16).to_be_bytes());
    entry.extend(u32s(&[0x0048_0000, 0x0048_0000, 0]));
    entry.extend_from_slice(&1u16.to_be_bytes());
    entry.extend_from_slice(&[0u8; 32]);
    entry.extend_from_slice(&0x0018u16.to_be_bytes());
    entry.extend_from_slice(&0xFFFFu16.to_be_bytes());
    let sample_entry = match tracks.video_codec {
        VideoCodec::H264 => {
            entry.extend(bx(b"avcC", &track.codec_private));
            bx(b"avc1", &entry)
        }
        VideoCodec::H265 => {
            entry.extend(bx(b"hvcC", &track.codec_private));
            bx(b"hvc1", &entry)
        }
    };
    Mp4Track {
        id: 1,
        video_size: Some((width, height)),
        timescale: VIDEO_TIMESCALE as u32,
        duration,
        delay_ms: 0,
        sample_entry,
        stts: runs(deltas),
        ctts,
        stss: Some(keys),
        sizes: frames.iter().map(|f| f.data.len() as u32).collect(),
    }
}

/// The audio track: its sample rate as the media clock; each frame lasts
/// until the next one's timestamp, snapped to the frame's nominal length
/// (AAC: 1024 samples; G.711: its byte count per channel) when within
/// 2 ms of it, so millisecond timecodes do not make the durations jitter.
fn audio_mp4_track(audio: &AudioTrack, frames: &[&Frame], t0: i64) -> Mp4Track {
    let rate = i64::from(audio.sample_rate.max(1));
    let to_ticks = |ns: i64| (i128::from(ns - t0) * i128::from(rate) / 1_000_000_000) as i64;
    let nominal = |f: &Frame| -> i64 {
        match audio.codec {
            AudioCodec::Aac { frame_samples } => i64::from(frame_samples),
            AudioCodec::G711ALaw => (f.data.len() / usize::from(audio.channels.max(1))) as i64,
        }
    };
    let slack = rate / 500;
    let ticks: Vec<i64> = frames.iter().map(|f| to_ticks(f.pts_ns)).collect();
    let deltas: Vec<u32> = (0..frames.len())
        .map(|i| {
            let nominal = nominal(frames[i]);
            let d = match ticks.get(i + 1) {
                Some(next) if (next - ticks[i] - nominal).abs() > slack => next - ticks[i],
                _ => nominal,
            };
            d.max(0) as u32
        })
        .collect();
    let duration: u64 = deltas.iter().map(|d| u64::from(*d)).sum();
    let delay_ms =
        (ticks.first().copied().unwrap_or(0).max(0) as u64) * MOVIE_TIMESCALE as u64 / rate as u64;

    let mut entry = vec![0u8; 6];
    entry.extend_from_slice(&1u16.to_be_bytes());
    entry.extend_from_slice(&[0u8; 8]);
    entry.extend_from_slice(&audio.channels.to_be_bytes());
    entry.extend_from_slice(&16u16.to_be_bytes());
    entry.extend_from_slice(&[0u8; 4]);
    entry.extend(u32s(&[audio.sample_rate.min(0xFFFF) << 16]));
    let sample_entry = match audio.codec {
        AudioCodec::Aac { .. } => {
            let bytes: u64 = frames.iter().map(|f| f.data.len() as u64).sum();
            let bitrate = (bytes * 8 * rate as u64 / duration.max(1)) as u32;
            let max_frame = frames.iter().map(|f| f.data.len()).max().unwrap_or(0) as u32;
            entry.extend(esds(&audio.info.codec_private, bitrate, max_frame));
            bx(b"mp4a", &entry)
        }
        AudioCodec::G711ALaw => bx(b"alaw", &entry),
    };
    Mp4Track {
        id: 2,
        video_size: None,
        timescale: audio.sample_rate.max(1),
        duration,
        delay_ms,
        sample_entry,
        stts: runs(deltas),
        ctts: None,
        stss: None,
        sizes: frames.iter().map(|f| f.data.len() as u32).collect(),
    }
}

/// An MPEG-4 descriptor: tag, 4-byte size, body (ISO/IEC 14496-1, 8.3.3).
fn descriptor(tag: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len() as u32;
    let mut out = vec![
        tag,
        0x80 | ((n >> 21) & 0x7F) as u8,
        0x80 | ((n >> 14) & 0x7F) as u8,
        0x80 | ((n >> 7) & 0x7F) as u8,
        (n & 0x7F) as u8,
    ];
    out.extend_from_slice(body);
    out
}

/// The `esds` box of an AAC track: ES_Descriptor → DecoderConfigDescriptor
/// (MPEG-4 audio, 0x40; audio stream) → DecoderSpecificInfo (the
/// AudioSpecificConfig), and the SL config.
fn esds(asc: &[u8], bitrate: u32, buffer_size: u32) -> Vec<u8> {
    let mut config = vec![0x40, 0x15];
    config.extend_from_slice(&buffer_size.min(0xFF_FFFF).to_be_bytes()[1..]);
    config.extend(u32s(&[bitrate, bitrate]));
    config.extend(descriptor(0x05, asc));
    let mut es = vec![0, 2, 0];
    es.extend(descriptor(0x04, &config));
    es.extend(descriptor(0x06, &[0x02]));
    full(b"esds", 0, 0, &descriptor(0x03, &es))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal hvcC: version 1, the fixed 23 bytes, no arrays.
    fn hvcc() -> Vec<u8> {
        let mut v = vec![1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 90];
        v.extend_from_slice(&[0xF0, 0, 0xFC, 0xFD, 0xF8, 0xF8, 0, 0, 0x0F, 0]);
        v
    }

    fn track(number: u64, track_type: u64, codec_id: &str, cp: Vec<u8>) -> TrackInfo {
        TrackInfo {
            number,
            track_type,
            codec_id: codec_id.into(),
            width: (track_type == 1).then_some(320),
            height: (track_type == 1).then_some(240),
            default_duration_ns: (track_type == 1).then_some(100_000_000),
            codec_private: cp,
            ..TrackInfo::default()
        }
    }

    fn header(tracks: Vec<TrackInfo>) -> HeaderInfo {
        HeaderInfo {
            bytes: Bytes::new(),
            timecode_scale_ns: 1_000_000,
            tracks,
        }
    }

    fn frame(track: u64, ms: i64, key: bool, byte: u8, len: usize) -> Frame {
        Frame {
            track,
            pts_ns: ms * 1_000_000,
            keyframe: key,
            data: Bytes::from(vec![byte; len]),
        }
    }

    /// Top-level and nested boxes: (path, offset of the box, its bytes).
    fn boxes(data: &[u8], path: &str, base: usize, out: &mut Vec<(String, usize, Vec<u8>)>) {
        let mut p = 0;
        while p + 8 <= data.len() {
            let size = u32::from_be_bytes(data[p..p + 4].try_into().unwrap()) as usize;
            let kind = String::from_utf8_lossy(&data[p + 4..p + 8]).into_owned();
            let here = format!("{path}/{kind}");
            let body = &data[p + 8..p + size];
            out.push((here.clone(), base + p, body.to_vec()));
            let skip = match kind.as_str() {
                "moov" | "trak" | "mdia" | "minf" | "stbl" | "edts" | "dinf" => Some(0),
                "stsd" => Some(8),
                "avc1" | "hvc1" => Some(78),
                "mp4a" | "alaw" => Some(28),
                _ => None,
            };
            if let Some(skip) = skip {
                boxes(&body[skip..], &here, base + p + 8 + skip, out);
            }
            p += size;
        }
    }

    fn find<'a>(all: &'a [(String, usize, Vec<u8>)], path: &str) -> Vec<&'a Vec<u8>> {
        all.iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, _, b)| b)
            .collect()
    }

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn h265_clip_has_hvc1_with_the_hvcc_record() {
        let tracks = clip_tracks(&header(vec![track(1, 1, CODEC_H265, hvcc())])).unwrap();
        assert_eq!(tracks.video_codec, VideoCodec::H265);
        let frames: Vec<Frame> = (0..10)
            .map(|i| frame(1, i * 100, i % 5 == 0, i as u8, 20))
            .collect();
        let c = clip(&tracks, &frames).unwrap();
        assert_eq!((c.video_samples, c.audio_samples), (10, 0));
        let mut all = Vec::new();
        boxes(&c.bytes, "", 0, &mut all);
        let path = "/moov/trak/mdia/minf/stbl/stsd/hvc1/hvcC";
        assert_eq!(find(&all, path), vec![&hvcc()]);
        assert!(find(&all, "/moov/trak/mdia/minf/stbl/stsd/avc1").is_empty());
        assert_eq!(&find(&all, "/ftyp")[0][8..], b"isomiso2hvc1mp41");
        let stss = find(&all, "/moov/trak/mdia/minf/stbl/stss")[0];
        assert_eq!(u32s(&[0, 2, 1, 6]), *stss);
    }

    #[test]
    fn audio_and_video_are_two_traks_whose_chunks_point_into_mdat() {
        // AAC-LC, 48 kHz, stereo.
        let asc = vec![0x11, 0x90];
        let mut aac = track(2, 2, CODEC_AAC, asc.clone());
        aac.sample_rate = Some(48_000);
        aac.channels = Some(2);
        let tracks = clip_tracks(&header(vec![
            track(1, 1, CODEC_H264, vec![1, 0x42, 0, 0x1e]),
            aac,
        ]))
        .unwrap();
        let audio = tracks.audio.as_ref().unwrap();
        assert_eq!(
            audio.codec,
            AudioCodec::Aac {
                frame_samples: 1024
            }
        );
        assert_eq!((audio.sample_rate, audio.channels), (48_000, 2));
        // Interleaved like a Cluster: audio before the first keyframe is
        // left out; 21.333 ms AAC frames on millisecond timecodes.
        let mut frames = vec![
            frame(2, -21, false, 0xEE, 7),
            frame(1, -100, false, 0xDD, 9),
        ];
        for i in 0..10i64 {
            frames.push(frame(1, i * 100, i == 0, 0x10 + i as u8, 30 + i as usize));
            for j in 0..5i64 {
                let k = i * 5 + j;
                frames.push(frame(2, k * 64 / 3, false, 0x80 + k as u8, 11));
            }
        }
        let c = clip(&tracks, &frames).unwrap();
        assert_eq!((c.video_samples, c.audio_samples), (10, 50));
        let mut all = Vec::new();
        boxes(&c.bytes, "", 0, &mut all);
        let traks = find(&all, "/moov/trak");
        assert_eq!(traks.len(), 2);
        let tkhds = find(&all, "/moov/trak/tkhd");
        assert_eq!((be32(tkhds[0], 12), be32(tkhds[1], 12)), (1, 2));
        let hdlrs = find(&all, "/moov/trak/mdia/hdlr");
        assert_eq!(
            (&hdlrs[0][8..12], &hdlrs[1][8..12]),
            (&b"vide"[..], &b"soun"[..])
        );
        assert_eq!(find(&all, "/moov/trak/mdia/minf/smhd").len(), 1);
        assert_eq!(
            find(&all, "/moov/trak/mdia/minf/stbl/stss").len(),
            1,
            "video only"
        );
        let esds = find(&all, "/moov/trak/mdia/minf/stbl/stsd/mp4a/esds")[0];
        assert!(esds.ends_with(&[
            0x05, 0x80, 0x80, 0x80, 2, 0x11, 0x90, 0x06, 0x80, 0x80, 0x80, 1, 2
        ]));
        let mdhds = find(&all, "/moov/trak/mdia/mdhd");
        assert_eq!((be32(mdhds[0], 12), be32(mdhds[1], 12)), (90_000, 48_000));
        // 50 AAC frames of exactly 1024 samples despite the ms timecodes.
        let stts = find(&all, "/moov/trak/mdia/minf/stbl/stts");
        assert_eq!(*stts[1], u32s(&[0, 1, 50, 1024]));
        assert_eq!(be32(mdhds[1], 16), 50 * 1024);
        // mvhd: the longer track (video 1000 ms, audio 1066 ms).
        let mvhd = find(&all, "/moov/mvhd")[0];
        assert_eq!(be32(mvhd, 16), 50 * 1024 * 1000 / 48_000);
        // Each chunk offset points at its track's first frame.
        let stcos = find(&all, "/moov/trak/mdia/minf/stbl/stco");
        let (v, a) = (be32(stcos[0], 8) as usize, be32(stcos[1], 8) as usize);
        assert_eq!(&c.bytes[v..v + 30], &[0x10; 30][..]);
        assert_eq!(&c.bytes[a..a + 11], &[0x80; 11][..]);
        let (_, mdat_at, mdat) = all.iter().find(|(p, _, _)| p == "/mdat").unwrap();
        assert_eq!(v, mdat_at + 8);
        let video_bytes: usize = (0..10).map(|i| 30 + i).sum();
        assert_eq!(a, v + video_bytes);
        assert_eq!(mdat.len(), video_bytes + 50 * 11);
        assert_eq!(&c.bytes[c.bytes.len() - 11..], &[0x80 + 49; 11][..]);
    }

    #[test]
    fn late_audio_gets_an_empty_edit_and_g711_alaw_an_alaw_entry() {
        // WAVEFORMATEX: A-law, mono, 8 kHz, 8000 B/s, align 1, 8 bits.
        let wave = vec![
            6, 0, 1, 0, 0x40, 0x1F, 0, 0, 0x40, 0x1F, 0, 0, 1, 0, 8, 0, 0, 0,
        ];
        let alaw = track(2, 2, CODEC_MS_ACM, wave);
        let tracks =
            clip_tracks(&header(vec![track(1, 1, CODEC_H264, vec![1, 2, 3]), alaw])).unwrap();
        let audio = tracks.audio.as_ref().unwrap();
        assert_eq!(
            (audio.codec, audio.sample_rate, audio.channels),
            (AudioCodec::G711ALaw, 8000, 1)
        );
        let mut frames: Vec<Frame> = (0..5).map(|i| frame(1, i * 100, i == 0, 1, 10)).collect();
        frames.extend((0..4).map(|i| frame(2, 200 + i * 20, false, 2, 160)));
        let c = clip(&tracks, &frames).unwrap();
        let mut all = Vec::new();
        boxes(&c.bytes, "", 0, &mut all);
        assert_eq!(find(&all, "/moov/trak/mdia/minf/stbl/stsd/alaw").len(), 1);
        let stts = find(&all, "/moov/trak/mdia/minf/stbl/stts");
        assert_eq!(*stts[1], u32s(&[0, 1, 4, 160]));
        let elst = find(&all, "/moov/trak/edts/elst")[0];
        assert_eq!(
            *elst,
            [
                vec![0; 4],
                u32s(&[2, 200, u32::MAX, 0x0001_0000, 80, 0, 0x0001_0000])
            ]
            .concat()
        );
    }

    #[test]
    fn track_rules_follow_aws() {
        let avc = || track(1, 1, CODEC_H264, vec![1, 2, 3]);
        let hevc = || track(1, 1, CODEC_H265, hvcc());
        let fault = |tracks: Vec<TrackInfo>| clip_tracks(&header(tracks)).unwrap_err();
        let f = fault(vec![track(1, 1, "V_MPEG4/ISO/ASP", vec![1])]);
        assert_eq!(f.aws(), "UnsupportedStreamMediaTypeException");
        let f = fault(vec![track(1, 1, CODEC_H265, vec![])]);
        assert_eq!(f.aws(), "MissingCodecPrivateDataException");
        let f = fault(vec![track(1, 1, CODEC_H265, vec![0, 0, 0, 1, 0x40])]);
        assert_eq!(f.aws(), "InvalidCodecPrivateDataException", "{f}");
        let f = fault(vec![avc(), track(2, 2, "A_OPUS", vec![1])]);
        assert_eq!(f.aws(), "UnsupportedStreamMediaTypeException");
        let f = fault(vec![avc(), track(2, 2, CODEC_AAC, vec![])]);
        assert_eq!(f.aws(), "MissingCodecPrivateDataException");
        let f = fault(vec![avc(), track(2, 2, CODEC_AAC, vec![0x11])]);
        assert_eq!(f.aws(), "InvalidCodecPrivateDataException");
        let mulaw = vec![7, 0, 1, 0, 0x40, 0x1F, 0, 0, 0x40, 0x1F, 0, 0, 1, 0, 8, 0];
        let f = fault(vec![avc(), track(2, 2, CODEC_MS_ACM, mulaw.clone())]);
        assert_eq!(f.aws(), "UnsupportedStreamMediaTypeException", "{f}");
        let mut alaw = mulaw;
        alaw[0] = 6;
        let f = fault(vec![hevc(), track(2, 2, CODEC_MS_ACM, alaw.clone())]);
        assert_eq!(f.aws(), "UnsupportedStreamMediaTypeException", "{f}");
        assert!(clip_tracks(&header(vec![avc(), track(2, 2, CODEC_MS_ACM, alaw)])).is_ok());
        // Tracks that change between fragments.
        let with = |v: TrackInfo, a: Option<TrackInfo>| {
            clip_tracks(&header([Some(v), a].into_iter().flatten().collect())).unwrap()
        };
        let aac = |cp: u8| Some(track(2, 2, CODEC_AAC, vec![0x11, cp]));
        let first = with(avc(), aac(0x90));
        assert!(first.check_same(&with(avc(), aac(0x90)), "9").is_ok());
        let f = first.check_same(&with(avc(), aac(0x88)), "9").unwrap_err();
        assert_eq!(f.aws(), "InvalidCodecPrivateDataException");
        let f = first.check_same(&with(avc(), None), "9").unwrap_err();
        assert_eq!(f.aws(), "UnsupportedStreamMediaTypeException");
        let f = first.check_same(&with(hevc(), aac(0x90)), "9").unwrap_err();
        assert_eq!(f.aws(), "UnsupportedStreamMediaTypeException");
    }

    #[test]
    fn laced_blocks_split_into_frames() {
        let payload = [&[2u8, 3, 2][..], &[1, 1, 1, 2, 2, 3, 3, 3, 3]].concat();
        assert_eq!(
            laced_frames(&payload, 1).unwrap(),
            vec![(3, 6), (6, 8), (8, 12)]
        );
        let payload = [&[2u8][..], &[9; 9]].concat();
        assert_eq!(
            laced_frames(&payload, 2).unwrap(),
            vec![(1, 4), (4, 7), (7, 10)]
        );
        assert!(laced_frames(&[1u8, 9, 9, 9], 2).is_err());
        // EBML: first size 3 (0x83), then a difference of -1 (0xBE = 62 - 63).
        let payload = [&[2u8, 0x83, 0xBE][..], &[0; 9]].concat();
        assert_eq!(
            laced_frames(&payload, 3).unwrap(),
            vec![(3, 6), (6, 8), (8, 12)]
        );
        assert!(laced_frames(&[2u8, 0x8F, 0x81, 0], 3).is_err());
    }

    #[test]
    fn audio_specific_config() {
        let asc = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(
            (asc.sample_rate, asc.channels, asc.frame_samples),
            (44_100, 2, 1024)
        );
        let asc = AudioSpecificConfig::parse(&[0x11, 0x94]).unwrap();
        assert_eq!(
            (asc.sample_rate, asc.channels, asc.frame_samples),
            (48_000, 2, 960)
        );
        assert!(
            AudioSpecificConfig::parse(&[0x17, 0x10]).is_err(),
            "reserved index 14"
        );
    }
}
