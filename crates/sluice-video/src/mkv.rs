//! Splits a live PutMedia body (Matroska with unknown-size Segment and
//! Clusters, arriving in arbitrary chunks) into header blocks and fragments,
//! validating as it goes. Entry point: [`MkvSplitter`].
//!
//! Layout handled: `EBML header`, `Segment`, then Segment children. Every
//! child before the first Cluster (SeekHead, Void, Info, Tracks, Tags ...)
//! belongs to the *header block*; each Cluster starts a *fragment*, which
//! also takes the Segment-level elements that follow it (Cues, Tags) until
//! the next Cluster, a new EBML header or the end of the body. A fragment's
//! bytes are kept exactly as the producer sent them; the header block is the
//! producer's EBML header, a Segment header with an 8-byte unknown size (as
//! KVS writes it), and the pre-Cluster children.
//!
//! Problems become AWS PutMedia error codes: [`ERR_INVALID_MKV`] (fatal,
//! the session ends), [`ERR_TOO_MANY_TRACKS`] (fatal), and per-fragment
//! [`ERR_FRAGMENT_SIZE`], [`ERR_FRAGMENT_DURATION`], [`ERR_TIMECODE_ORDER`],
//! [`ERR_TRACK_MISMATCH`], [`ERR_MISSING_TRACK`] (the fragment is dropped and
//! the session goes on).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Buf as _, Bytes};

use crate::ebml::{self, Children, EbmlFault, ElementHeader};
use crate::fragment_bytes::FragmentBytes;

/// Bytes of a SimpleBlock the splitter reads its track, time and flags
/// from; the rest of a block cut by the end of the input goes straight
/// from the next input to its fragment.
const BLOCK_PREFIX: usize = 16;

/// The most an element cut by the end of the input is reserved for, up
/// front, while its bytes gather.
const SPILL_RESERVE_MAX: usize = 16 << 20;

/// 4000: error reading the data stream.
pub const ERR_READ: u32 = 4000;
/// 4001: fragment larger than the limit (50 MB).
pub const ERR_FRAGMENT_SIZE: u32 = 4001;
/// 4002: fragment longer than the limit (10 s).
pub const ERR_FRAGMENT_DURATION: u32 = 4002;
/// 4004: fragment timecode not after the previous fragment's.
pub const ERR_TIMECODE_ORDER: u32 = 4004;
/// 4006: not parseable as MKV.
pub const ERR_INVALID_MKV: u32 = 4006;
/// 4008: the stream was deleted.
pub const ERR_STREAM_DELETED: u32 = 4008;
/// 4010: a frame's track number is not in the header's Tracks.
pub const ERR_TRACK_MISMATCH: u32 = 4010;
/// 4011: a header track has no frame in the fragment.
pub const ERR_MISSING_TRACK: u32 = 4011;
/// 4012: more tracks than allowed.
pub const ERR_TOO_MANY_TRACKS: u32 = 4012;
/// 5001: the fragment could not be persisted.
pub const ERR_PERSIST: u32 = 5001;

/// Limits PutMedia enforces (AWS's defaults in [`Limits::default`]).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest fragment in bytes (AWS: 50 MB).
    pub max_fragment_bytes: u64,
    /// Longest fragment in milliseconds (AWS: 10 s).
    pub max_fragment_ms: i64,
    /// Most tracks in a header (AWS: 3).
    pub max_tracks: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_fragment_bytes: 50 * 1024 * 1024,
            max_fragment_ms: 10_000,
            max_tracks: 3,
        }
    }
}

/// One track from the header's Tracks element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackInfo {
    /// TrackNumber.
    pub number: u64,
    /// TrackType (1 video, 2 audio).
    pub track_type: u64,
    /// CodecID, e.g. `V_MPEG4/ISO/AVC`.
    pub codec_id: String,
    /// PixelWidth for video.
    pub width: Option<u64>,
    /// PixelHeight for video.
    pub height: Option<u64>,
    /// DefaultDuration in nanoseconds.
    pub default_duration_ns: Option<u64>,
    /// CodecPrivate bytes (`avcC` for H.264, `hvcC` for H.265, the
    /// AudioSpecificConfig for AAC, a WAVEFORMATEX for `A_MS/ACM`).
    pub codec_private: Vec<u8>,
    /// Audio SamplingFrequency, rounded to whole Hz.
    pub sample_rate: Option<u32>,
    /// Audio Channels.
    pub channels: Option<u64>,
}

/// A complete header block and what was read from it.
#[derive(Debug, Clone)]
pub struct HeaderInfo {
    /// EBML header + Segment header (unknown size) + pre-Cluster children.
    pub bytes: Bytes,
    /// Nanoseconds per timecode tick (Info/TimecodeScale, default 1 ms).
    pub timecode_scale_ns: u64,
    /// The tracks.
    pub tracks: Vec<TrackInfo>,
}

impl HeaderInfo {
    /// Parse a header block made by the splitter (or stored by the store).
    pub fn parse(bytes: Bytes) -> Result<HeaderInfo, String> {
        let mut scale = 1_000_000u64;
        let mut tracks = Vec::new();
        let mut pos = 0usize;
        let mut saw_segment = false;
        while pos < bytes.len() {
            let header = match ebml::read_header(&bytes[pos..]) {
                Ok(Some(h)) => h,
                _ => return Err(format!("bad element header at byte {pos}")),
            };
            if header.id == ebml::ID_SEGMENT {
                saw_segment = true;
                pos += header.header_len;
                continue;
            }
            let size = header
                .size
                .and_then(|s| usize::try_from(s).ok())
                .ok_or_else(|| format!("unknown-size element {:X} in header", header.id))?;
            let end = pos + header.header_len + size;
            let data = bytes
                .get(pos + header.header_len..end)
                .ok_or_else(|| format!("element {:X} at byte {pos} overruns", header.id))?;
            match header.id {
                ebml::ID_INFO => {
                    for (id, d, _) in Children::new(data) {
                        if id == ebml::ID_TIMECODE_SCALE {
                            scale = ebml::read_uint(d).max(1);
                        }
                    }
                }
                ebml::ID_TRACKS => {
                    for (id, entry, _) in Children::new(data) {
                        if id == ebml::ID_TRACK_ENTRY {
                            tracks.push(parse_track(entry));
                        }
                    }
                }
                _ => {}
            }
            pos = end;
        }
        if !saw_segment {
            return Err("header block has no Segment".into());
        }
        Ok(HeaderInfo {
            bytes,
            timecode_scale_ns: scale,
            tracks,
        })
    }

    /// Ticks (cluster timecode units) to milliseconds.
    pub fn ticks_to_ms(&self, ticks: i64) -> i64 {
        (i128::from(ticks) * i128::from(self.timecode_scale_ns) / 1_000_000) as i64
    }
}

fn parse_track(entry: &[u8]) -> TrackInfo {
    let mut t = TrackInfo::default();
    for (id, d, _) in Children::new(entry) {
        match id {
            ebml::ID_TRACK_NUMBER => t.number = ebml::read_uint(d),
            ebml::ID_TRACK_TYPE => t.track_type = ebml::read_uint(d),
            ebml::ID_CODEC_ID => {
                t.codec_id = String::from_utf8_lossy(d)
                    .trim_end_matches('\0')
                    .to_string()
            }
            ebml::ID_DEFAULT_DURATION => t.default_duration_ns = Some(ebml::read_uint(d)),
            ebml::ID_CODEC_PRIVATE => t.codec_private = d.to_vec(),
            ebml::ID_VIDEO => {
                for (id, d, _) in Children::new(d) {
                    match id {
                        ebml::ID_PIXEL_WIDTH => t.width = Some(ebml::read_uint(d)),
                        ebml::ID_PIXEL_HEIGHT => t.height = Some(ebml::read_uint(d)),
                        _ => {}
                    }
                }
            }
            ebml::ID_AUDIO => {
                for (id, d, _) in Children::new(d) {
                    match id {
                        ebml::ID_SAMPLING_FREQUENCY => {
                            t.sample_rate = ebml::read_float(d)
                                .filter(|hz| {
                                    hz.is_finite() && *hz >= 1.0 && *hz <= f64::from(u32::MAX)
                                })
                                .map(|hz| hz.round() as u32);
                        }
                        ebml::ID_CHANNELS => t.channels = Some(ebml::read_uint(d)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    t
}

/// A fragment as it came off the wire, with its statistics.
#[derive(Debug, Clone, Default)]
pub struct ParsedFragment {
    /// The Cluster's Timecode, in ticks.
    pub cluster_timecode: u64,
    /// The Cluster and the Segment-level elements after it, as sent:
    /// slices of the input, not copies. Empty when the fragment is rejected.
    pub bytes: FragmentBytes,
    /// Bytes the fragment took on the wire.
    pub size: u64,
    /// Frames (laced frames counted one by one).
    pub frames: u64,
    /// Keyframes.
    pub keyframes: u64,
    /// Earliest frame time, ms on the producer's timeline.
    pub min_ms: Option<i64>,
    /// Latest frame time, ms on the producer's timeline.
    pub max_ms: Option<i64>,
    /// Frames per track number.
    pub frames_per_track: BTreeMap<u64, u64>,
    /// Length in ms: the frame span plus one frame.
    pub duration_ms: i64,
    /// PutMedia error code when the fragment is rejected.
    pub error: Option<u32>,
    /// Byte offset in the body where the Cluster started.
    pub offset: u64,
}

/// What the splitter found in the bytes fed so far.
#[derive(Debug, Clone)]
pub enum ParseEvent {
    /// A new header block; fragments that follow belong to it.
    Header(Arc<HeaderInfo>),
    /// A fragment's Cluster Timecode arrived (BUFFERING).
    FragmentStart {
        /// The Cluster Timecode, in ticks.
        timecode: u64,
    },
    /// A fragment is complete (accepted, or rejected with `error`).
    FragmentEnd(ParsedFragment),
    /// The body cannot be read on; the session must end.
    Fatal {
        /// PutMedia error code.
        code: u32,
        /// Byte offset in the body.
        offset: u64,
        /// What was wrong.
        reason: String,
        /// Cluster Timecode of the fragment it hit, if one was open.
        timecode: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    TopLevel,
    InSegment,
    Failed,
}

struct Open {
    frag: ParsedFragment,
    timecode_seen: bool,
    /// `None` = unknown-size cluster; `Some(end)` = absolute end offset.
    cluster_end: Option<u64>,
    in_cluster: bool,
    /// A Segment-level element followed the Cluster (GetMedia's tags).
    trailer: bool,
}

/// Incremental splitter: [`MkvSplitter::feed`] bytes as they arrive, then
/// [`MkvSplitter::finish`] at the end of the body.
pub struct MkvSplitter {
    limits: Limits,
    /// The input being read; `buf[start..]` is not read yet.
    buf: Bytes,
    start: usize,
    /// An element cut by the end of the input, gathering its bytes until
    /// it is whole (only elements taken whole wait here).
    spill: Vec<u8>,
    /// Absolute body offset of `buf[start]`.
    pos: u64,
    state: State,
    pending_header: Vec<u8>,
    header: Option<Arc<HeaderInfo>>,
    header_emitted: bool,
    segment_end: Option<u64>,
    open: Option<Open>,
    /// Element data bytes still to skip (oversize elements are not buffered).
    skip: u64,
    /// Bytes of a SimpleBlock still to come, which go from the input
    /// straight to the open fragment.
    copy: u64,
    last_cluster_tc: Option<u64>,
    last_max_ms: Option<i64>,
    /// Keep the bytes of fragments that break a rule (the PutMedia
    /// client sends them on and lets the server judge).
    passthrough: bool,
}

impl MkvSplitter {
    /// A splitter enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        MkvSplitter {
            limits,
            buf: Bytes::new(),
            start: 0,
            spill: Vec::new(),
            pos: 0,
            state: State::TopLevel,
            pending_header: Vec::new(),
            header: None,
            header_emitted: false,
            segment_end: None,
            open: None,
            skip: 0,
            copy: 0,
            last_cluster_tc: None,
            last_max_ms: None,
            passthrough: false,
        }
    }

    /// A splitter that only cuts a body into its header blocks and
    /// fragments: no size, duration or track limits, and a fragment that
    /// breaks a rule keeps its bytes (its `error` still says which rule).
    /// The PutMedia client reads its source with it.
    pub fn passthrough() -> Self {
        let mut s = MkvSplitter::new(Limits {
            max_fragment_bytes: u64::MAX / 4,
            max_fragment_ms: i64::MAX,
            max_tracks: usize::MAX,
        });
        s.passthrough = true;
        s
    }

    /// The bytes of the fragment being read, so far (its Cluster's element
    /// header at least), if one is open. They are a prefix of the bytes
    /// its [`ParseEvent::FragmentEnd`] will carry, unless it is rejected
    /// outside passthrough mode.
    pub fn open_bytes(&self) -> Option<&FragmentBytes> {
        self.open.as_ref().map(|o| &o.frag.bytes)
    }

    /// The header block fragments are currently read against.
    pub fn header(&self) -> Option<&Arc<HeaderInfo>> {
        self.header.as_ref()
    }

    /// Feed the next bytes of the body (copied; [`MkvSplitter::feed_bytes`]
    /// takes a buffer without copying); events found are pushed to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<ParseEvent>) {
        self.feed_bytes(Bytes::copy_from_slice(data), out);
    }

    /// Feed the next bytes of the body; events found are pushed to `out`.
    /// Fragments keep slices of `data`, not copies. The input is copied
    /// only where an element is cut by its end and must be read whole
    /// (a SimpleBlock is not: the rest of it is sliced from the next
    /// input), so nearly every byte of a fragment is copied never.
    pub fn feed_bytes(&mut self, mut data: Bytes, out: &mut Vec<ParseEvent>) {
        while !data.is_empty() && self.state != State::Failed {
            if self.skip > 0 {
                let n = self.skip.min(data.len() as u64);
                self.skip -= n;
                self.pos += n;
                data.advance(n as usize);
                continue;
            }
            if self.copy > 0 {
                let n = self.copy.min(data.len() as u64);
                let part = data.split_to(n as usize);
                self.copy -= n;
                self.pos += n;
                if let Some(open) = self.open.as_mut()
                    && (open.frag.error.is_none() || self.passthrough)
                {
                    open.frag.bytes.push(part);
                }
                continue;
            }
            if self.start == self.buf.len() && self.spill.is_empty() {
                self.buf = std::mem::take(&mut data);
                self.start = 0;
            } else {
                // An element was cut by the end of the last input: join it
                // with this one, and wait while it is still not whole.
                if self.spill.is_empty() {
                    let cut = &self.buf[self.start..];
                    let whole = self.waiting_for(cut).unwrap_or(0);
                    self.spill
                        .reserve(whole.min(SPILL_RESERVE_MAX).max(cut.len() + data.len()));
                    self.spill.extend_from_slice(cut);
                    self.buf = Bytes::new();
                    self.start = 0;
                }
                self.spill.extend_from_slice(&data);
                data = Bytes::new();
                if self
                    .waiting_for(&self.spill)
                    .is_some_and(|whole| self.spill.len() < whole)
                {
                    continue;
                }
                self.buf = Bytes::from(std::mem::take(&mut self.spill));
                self.start = 0;
            }
            self.run(out);
        }
    }

    /// The bytes the element at the start of `avail` takes, when it is
    /// one the splitter reads whole and its size is known and allowed;
    /// `None` when its header is cut short or it is read as it comes
    /// (Segment, Cluster, SimpleBlock, or bytes skipped as too big).
    fn waiting_for(&self, avail: &[u8]) -> Option<usize> {
        let Ok(Some(h)) = ebml::read_header(avail) else {
            return None;
        };
        if matches!(
            h.id,
            ebml::ID_SEGMENT | ebml::ID_CLUSTER | ebml::ID_SIMPLE_BLOCK
        ) {
            return None;
        }
        let total = h.size?.checked_add(h.header_len as u64)?;
        let held = self.open.as_ref().map_or(0, |o| o.frag.size);
        if held.saturating_add(total) > self.limits.max_fragment_bytes {
            return None;
        }
        usize::try_from(total).ok()
    }

    /// End the open fragment now if its Cluster is complete and a
    /// Segment-level element (GetMedia's trailing `Tags`) followed it.
    /// A reader of a live GetMedia stream calls this after each
    /// [`MkvSplitter::feed`], so a fragment's end does not wait for the
    /// next fragment to begin.
    pub fn end_after_trailer(&mut self, out: &mut Vec<ParseEvent>) {
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.trailer && !o.in_cluster)
        {
            self.close_fragment(out);
        }
    }

    /// The body ended. `clean` is false when the connection broke.
    pub fn finish(&mut self, clean: bool, out: &mut Vec<ParseEvent>) {
        if self.state == State::Failed {
            return;
        }
        let mid_element =
            self.skip > 0 || self.copy > 0 || self.start < self.buf.len() || !self.spill.is_empty();
        let cluster_incomplete = self
            .open
            .as_ref()
            .is_some_and(|o| o.in_cluster && o.cluster_end.is_some_and(|e| e > self.pos));
        if mid_element || cluster_incomplete || !clean {
            if let Some(open) = self.open.take() {
                let mut frag = open.frag;
                frag.error = Some(ERR_INVALID_MKV);
                frag.bytes = FragmentBytes::default();
                out.push(ParseEvent::FragmentEnd(frag));
            } else if mid_element {
                self.fail(ERR_INVALID_MKV, "body ends inside an element", out);
            }
            self.state = State::Failed;
            return;
        }
        self.close_fragment(out);
        if !self.header_emitted && !self.pending_header.is_empty() && self.header.is_none() {
            self.fail(ERR_INVALID_MKV, "body ends before the first Cluster", out);
        }
    }

    fn fail(&mut self, code: u32, reason: &str, out: &mut Vec<ParseEvent>) {
        let timecode = self
            .open
            .take()
            .filter(|o| o.timecode_seen)
            .map(|o| o.frag.cluster_timecode);
        out.push(ParseEvent::Fatal {
            code,
            offset: self.pos,
            reason: reason.to_string(),
            timecode,
        });
        self.state = State::Failed;
    }

    fn avail(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.pos += n as u64;
    }

    fn run(&mut self, out: &mut Vec<ParseEvent>) {
        while self.state != State::Failed && self.skip == 0 && self.copy == 0 {
            let progressed = match self.state {
                State::TopLevel => self.step_top(out),
                State::InSegment => self.step_segment(out),
                State::Failed => false,
            };
            if !progressed {
                break;
            }
        }
    }

    fn next_header(&mut self, out: &mut Vec<ParseEvent>) -> Option<ElementHeader> {
        match ebml::read_header(self.avail()) {
            Ok(h) => h,
            Err(EbmlFault::BadVint) => {
                self.fail(ERR_INVALID_MKV, "invalid EBML element header", out);
                None
            }
        }
    }

    /// Take a whole element of known size, if it is all here.
    fn take_element(&mut self, header: &ElementHeader) -> Option<Bytes> {
        let size = usize::try_from(header.size?).ok()?;
        let total = header.header_len.checked_add(size)?;
        if self.avail().len() < total {
            return None;
        }
        let bytes = self.buf.slice(self.start..self.start + total);
        self.consume(total);
        Some(bytes)
    }

    fn step_top(&mut self, out: &mut Vec<ParseEvent>) -> bool {
        let Some(header) = self.next_header(out) else {
            return false;
        };
        match header.id {
            ebml::ID_EBML => {
                if header.size.is_none_or(|s| s > 4096) {
                    self.fail(ERR_INVALID_MKV, "EBML header of unknown or huge size", out);
                    return false;
                }
                let Some(bytes) = self.take_element(&header) else {
                    return false;
                };
                self.pending_header = bytes.to_vec();
                self.header_emitted = false;
                true
            }
            ebml::ID_SEGMENT if !self.pending_header.is_empty() && !self.header_emitted => {
                self.consume(header.header_len);
                self.segment_end = header.size.map(|s| self.pos + s);
                ebml::write_id(&mut self.pending_header, ebml::ID_SEGMENT);
                self.pending_header.extend_from_slice(&ebml::UNKNOWN_SIZE_8);
                self.state = State::InSegment;
                true
            }
            ebml::ID_VOID if header.size.is_some() => {
                let Some(_) = self.take_element(&header) else {
                    return false;
                };
                true
            }
            _ => {
                self.fail(
                    ERR_INVALID_MKV,
                    &format!(
                        "expected an EBML header or Segment, found ID {:X}",
                        header.id
                    ),
                    out,
                );
                false
            }
        }
    }

    fn step_segment(&mut self, out: &mut Vec<ParseEvent>) -> bool {
        if self.segment_end == Some(self.pos) {
            self.close_fragment(out);
            self.state = State::TopLevel;
            return true;
        }
        if let Some(open) = &mut self.open
            && open.in_cluster
            && open.cluster_end == Some(self.pos)
        {
            open.in_cluster = false;
        }
        let Some(header) = self.next_header(out) else {
            return false;
        };
        if header.id == ebml::ID_EBML {
            if self.segment_end.is_some() {
                self.fail(ERR_INVALID_MKV, "EBML header inside a sized Segment", out);
                return false;
            }
            self.close_fragment(out);
            self.state = State::TopLevel;
            return true;
        }
        if let Some(open) = &mut self.open
            && open.in_cluster
            && open.cluster_end.is_none()
            && ebml::is_segment_child(header.id)
        {
            open.in_cluster = false;
        }
        let in_cluster = self.open.as_ref().is_some_and(|o| o.in_cluster);
        if in_cluster {
            return self.step_cluster_child(header, out);
        }
        if header.id == ebml::ID_CLUSTER {
            return self.start_cluster(header, out);
        }
        // Another Segment child: header material before the first Cluster,
        // part of the open fragment after it.
        let Some(size) = header.size else {
            self.fail(
                ERR_INVALID_MKV,
                &format!("unknown-size element {:X} in the Segment", header.id),
                out,
            );
            return false;
        };
        if size > self.limits.max_fragment_bytes {
            self.fail(
                ERR_FRAGMENT_SIZE,
                "Segment child larger than a fragment",
                out,
            );
            return false;
        }
        if let Some(end) = self.segment_end
            && self.pos + header.header_len as u64 + size > end
        {
            self.fail(ERR_INVALID_MKV, "element overruns its Segment", out);
            return false;
        }
        let Some(bytes) = self.take_element(&header) else {
            return false;
        };
        match &mut self.open {
            Some(open) => {
                open.trailer = true;
                open.frag.size += bytes.len() as u64;
                if open.frag.error.is_none() || self.passthrough {
                    open.frag.bytes.push(bytes);
                }
            }
            None => self.pending_header.extend_from_slice(&bytes),
        }
        true
    }

    fn start_cluster(&mut self, header: ElementHeader, out: &mut Vec<ParseEvent>) -> bool {
        self.close_fragment(out);
        if !self.header_emitted {
            match HeaderInfo::parse(Bytes::from(std::mem::take(&mut self.pending_header))) {
                Ok(info) => {
                    if info.tracks.is_empty() {
                        self.fail(ERR_INVALID_MKV, "no Tracks before the first Cluster", out);
                        return false;
                    }
                    if info.tracks.len() > self.limits.max_tracks {
                        self.fail(
                            ERR_TOO_MANY_TRACKS,
                            &format!(
                                "{} tracks, at most {}",
                                info.tracks.len(),
                                self.limits.max_tracks
                            ),
                            out,
                        );
                        return false;
                    }
                    let info = Arc::new(info);
                    self.header = Some(info.clone());
                    self.header_emitted = true;
                    out.push(ParseEvent::Header(info));
                }
                Err(reason) => {
                    self.fail(ERR_INVALID_MKV, &reason, out);
                    return false;
                }
            }
        }
        let offset = self.pos;
        let raw = self.start..self.start + header.header_len;
        let mut bytes = FragmentBytes::default();
        bytes.push_slice(&self.buf, raw.clone());
        self.consume(header.header_len);
        let cluster_end = header.size.map(|s| self.pos + s);
        if let (Some(end), Some(seg_end)) = (cluster_end, self.segment_end)
            && end > seg_end
        {
            self.fail(ERR_INVALID_MKV, "Cluster overruns its Segment", out);
            return false;
        }
        self.open = Some(Open {
            frag: ParsedFragment {
                size: raw.len() as u64,
                bytes,
                offset,
                ..ParsedFragment::default()
            },
            timecode_seen: false,
            cluster_end,
            in_cluster: true,
            trailer: false,
        });
        true
    }

    fn step_cluster_child(&mut self, header: ElementHeader, out: &mut Vec<ParseEvent>) -> bool {
        let Some(size) = header.size else {
            self.fail(
                ERR_INVALID_MKV,
                "unknown-size element inside a Cluster",
                out,
            );
            return false;
        };
        let total = header.header_len as u64 + size;
        let max = self.limits.max_fragment_bytes;
        let Some(open) = &mut self.open else {
            return false;
        };
        if let Some(end) = open.cluster_end
            && self.pos + total > end
        {
            self.fail(ERR_INVALID_MKV, "element overruns its Cluster", out);
            return false;
        }
        if open.frag.size + total > max {
            // Too big: drop what we have and skip the rest of the fragment
            // without buffering it.
            open.frag.error.get_or_insert(ERR_FRAGMENT_SIZE);
            open.frag.bytes = FragmentBytes::default();
        }
        if open.frag.error == Some(ERR_FRAGMENT_SIZE) {
            open.frag.size += total;
            let here = (self.avail().len() as u64).min(total);
            self.consume(here as usize);
            self.skip = total - here;
            return true;
        }
        let Ok(total) = usize::try_from(total) else {
            return false;
        };
        let here = self.avail().len();
        if here < total {
            return self.start_block_copy(&header, size, total);
        }
        let begin = self.start;
        let data = &self.buf[begin + header.header_len..begin + total];
        let Some(open) = self.open.as_mut() else {
            return false;
        };
        open.frag.size += total as u64;
        match header.id {
            ebml::ID_TIMECODE if !open.timecode_seen => {
                open.timecode_seen = true;
                open.frag.cluster_timecode = ebml::read_uint(data);
                out.push(ParseEvent::FragmentStart {
                    timecode: open.frag.cluster_timecode,
                });
            }
            ebml::ID_SIMPLE_BLOCK => {
                if let Some(h) = &self.header {
                    note_block(&mut open.frag, h, data, None);
                }
            }
            ebml::ID_BLOCK_GROUP => {
                if let Some(h) = &self.header {
                    let mut block = None;
                    let mut referenced = false;
                    for (id, d, _) in Children::new(data) {
                        match id {
                            ebml::ID_BLOCK => block = Some(d),
                            ebml::ID_REFERENCE_BLOCK => referenced = true,
                            _ => {}
                        }
                    }
                    if let Some(block) = block {
                        note_block(&mut open.frag, h, block, Some(!referenced));
                    }
                }
            }
            _ => {}
        }
        if open.frag.error.is_none() || self.passthrough {
            open.frag.bytes.push_slice(&self.buf, begin..begin + total);
        }
        self.consume(total);
        true
    }

    /// A SimpleBlock cut by the end of the input: once its first
    /// [`BLOCK_PREFIX`] bytes are here, note it, keep what is here and
    /// take the rest straight from the next inputs ([`Self::copy`]).
    /// Other elements wait until they are whole.
    fn start_block_copy(&mut self, header: &ElementHeader, size: u64, total: usize) -> bool {
        let here = self.avail().len();
        let prefix =
            header.header_len + usize::try_from(size).map_or(BLOCK_PREFIX, |s| s.min(BLOCK_PREFIX));
        if header.id != ebml::ID_SIMPLE_BLOCK || here < prefix {
            return false;
        }
        let part = self.start..self.buf.len();
        let Some(open) = self.open.as_mut() else {
            return false;
        };
        open.frag.size += total as u64;
        if let Some(h) = &self.header {
            note_block(
                &mut open.frag,
                h,
                &self.buf[part.start + header.header_len..],
                None,
            );
        }
        if open.frag.error.is_none() || self.passthrough {
            open.frag.bytes.push_slice(&self.buf, part);
        }
        self.consume(here);
        self.copy = (total - here) as u64;
        true
    }

    fn close_fragment(&mut self, out: &mut Vec<ParseEvent>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let mut frag = open.frag;
        let header = self.header.clone();
        if !open.timecode_seen {
            frag.error.get_or_insert(ERR_INVALID_MKV);
        }
        if let Some(h) = &header {
            if frag.error.is_none() {
                for t in &h.tracks {
                    if !frag.frames_per_track.contains_key(&t.number) {
                        frag.error = Some(ERR_MISSING_TRACK);
                    }
                }
            }
            if let (Some(min), Some(max)) = (frag.min_ms, frag.max_ms) {
                let frame_ms = h
                    .tracks
                    .iter()
                    .find_map(|t| t.default_duration_ns)
                    .map(|ns| (ns / 1_000_000) as i64)
                    .unwrap_or_else(|| {
                        let n = frag.frames_per_track.values().copied().max().unwrap_or(1);
                        if n > 1 {
                            (max - min) / (n as i64 - 1)
                        } else {
                            0
                        }
                    });
                frag.duration_ms = max - min + frame_ms;
                if frag.error.is_none() && max - min > self.limits.max_fragment_ms {
                    frag.error = Some(ERR_FRAGMENT_DURATION);
                }
            }
            if frag.error.is_none() {
                let tc_back = self
                    .last_cluster_tc
                    .is_some_and(|last| frag.cluster_timecode <= last);
                let frames_back = matches!((self.last_max_ms, frag.min_ms), (Some(last), Some(min)) if min < last);
                if tc_back || frames_back {
                    frag.error = Some(ERR_TIMECODE_ORDER);
                }
            }
        }
        if frag.error.is_none() {
            self.last_cluster_tc = Some(frag.cluster_timecode);
            self.last_max_ms = frag.max_ms;
        } else if !self.passthrough {
            frag.bytes = FragmentBytes::default();
        }
        out.push(ParseEvent::FragmentEnd(frag));
    }
}

/// Account one Block/SimpleBlock: track check, frame and keyframe counts,
/// frame times. `keyframe` is `None` for a SimpleBlock (read its flags).
fn note_block(frag: &mut ParsedFragment, header: &HeaderInfo, data: &[u8], keyframe: Option<bool>) {
    let Some((track, n)) = ebml::read_vint(data) else {
        frag.error.get_or_insert(ERR_INVALID_MKV);
        return;
    };
    let Some(rest) = data.get(n..n + 3) else {
        frag.error.get_or_insert(ERR_INVALID_MKV);
        return;
    };
    let rel = i64::from(i16::from_be_bytes([rest[0], rest[1]]));
    let flags = rest[2];
    let key = keyframe.unwrap_or(flags & 0x80 != 0);
    let frames = if flags & 0x06 != 0 {
        data.get(n + 3).map_or(1, |c| u64::from(*c) + 1)
    } else {
        1
    };
    if !header.tracks.iter().any(|t| t.number == track) {
        frag.error.get_or_insert(ERR_TRACK_MISMATCH);
    }
    let ms = header.ticks_to_ms(frag.cluster_timecode as i64 + rel);
    frag.min_ms = Some(frag.min_ms.map_or(ms, |m| m.min(ms)));
    frag.max_ms = Some(frag.max_ms.map_or(ms, |m| m.max(ms)));
    frag.frames += frames;
    if key {
        frag.keyframes += 1;
    }
    *frag.frames_per_track.entry(track).or_insert(0) += frames;
}

/// Hand-built live Matroska for tests and benchmarks (one place for the
/// crate's unit tests, its integration tests and its bench): header blocks
/// with an unknown-size Segment, unknown-size Clusters of SimpleBlocks.
pub mod testing {
    use super::ebml::{self, ID_CLUSTER, write_id};

    /// An element with a 4-byte size.
    pub fn element(id: u32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_id(&mut out, id);
        ebml::write_size4(&mut out, data.len());
        out.extend_from_slice(data);
        out
    }

    /// An unsigned-integer element (8 bytes wide).
    pub fn uint(id: u32, v: u64) -> Vec<u8> {
        element(id, &v.to_be_bytes())
    }

    /// EBML header + unknown-size Segment + Info (1 ms ticks) + Tracks: one
    /// H.264 track per number with this DefaultDuration and, when given,
    /// a Video element with this width and height.
    pub fn header_with(
        tracks: &[u64],
        default_duration_ns: u64,
        size: Option<(u64, u64)>,
    ) -> Vec<u8> {
        header_with_codec(tracks, default_duration_ns, size, None)
    }

    /// [`header_with`], each track also carrying this CodecPrivate (an
    /// `avcC` record for GetClip) when given.
    pub fn header_with_codec(
        tracks: &[u64],
        default_duration_ns: u64,
        size: Option<(u64, u64)>,
        codec_private: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut out = element(ebml::ID_EBML, &element(0x4282, b"matroska"));
        write_id(&mut out, ebml::ID_SEGMENT);
        out.extend_from_slice(&ebml::UNKNOWN_SIZE_8);
        out.extend(element(
            ebml::ID_INFO,
            &uint(ebml::ID_TIMECODE_SCALE, 1_000_000),
        ));
        let mut entries = Vec::new();
        for n in tracks {
            let mut e = uint(ebml::ID_TRACK_NUMBER, *n);
            e.extend(element(ebml::ID_CODEC_ID, b"V_MPEG4/ISO/AVC"));
            e.extend(uint(ebml::ID_DEFAULT_DURATION, default_duration_ns));
            if let Some(cp) = codec_private {
                e.extend(element(ebml::ID_CODEC_PRIVATE, cp));
            }
            if let Some((w, h)) = size {
                e.extend(element(
                    ebml::ID_VIDEO,
                    &[
                        uint(ebml::ID_PIXEL_WIDTH, w),
                        uint(ebml::ID_PIXEL_HEIGHT, h),
                    ]
                    .concat(),
                ));
            }
            entries.extend(element(ebml::ID_TRACK_ENTRY, &e));
        }
        out.extend(element(ebml::ID_TRACKS, &entries));
        out
    }

    /// One TrackEntry for [`header_of`].
    #[derive(Debug, Clone, Default)]
    pub struct TrackSpec<'a> {
        /// TrackNumber.
        pub number: u64,
        /// TrackType (1 video, 2 audio).
        pub track_type: u64,
        /// CodecID.
        pub codec_id: &'a str,
        /// CodecPrivate, when given.
        pub codec_private: Option<&'a [u8]>,
        /// DefaultDuration in ns, when given.
        pub default_duration_ns: Option<u64>,
        /// Video (PixelWidth, PixelHeight), when given.
        pub video: Option<(u64, u64)>,
        /// Audio (SamplingFrequency as an 8-byte float, Channels), when given.
        pub audio: Option<(f64, u64)>,
    }

    /// EBML header + unknown-size Segment + Info (1 ms ticks) + Tracks
    /// with these entries.
    pub fn header_of(tracks: &[TrackSpec<'_>]) -> Vec<u8> {
        let mut out = element(ebml::ID_EBML, &element(0x4282, b"matroska"));
        write_id(&mut out, ebml::ID_SEGMENT);
        out.extend_from_slice(&ebml::UNKNOWN_SIZE_8);
        out.extend(element(
            ebml::ID_INFO,
            &uint(ebml::ID_TIMECODE_SCALE, 1_000_000),
        ));
        let mut entries = Vec::new();
        for t in tracks {
            let mut e = uint(ebml::ID_TRACK_NUMBER, t.number);
            e.extend(uint(ebml::ID_TRACK_TYPE, t.track_type));
            e.extend(element(ebml::ID_CODEC_ID, t.codec_id.as_bytes()));
            if let Some(d) = t.default_duration_ns {
                e.extend(uint(ebml::ID_DEFAULT_DURATION, d));
            }
            if let Some(cp) = t.codec_private {
                e.extend(element(ebml::ID_CODEC_PRIVATE, cp));
            }
            if let Some((w, h)) = t.video {
                e.extend(element(
                    ebml::ID_VIDEO,
                    &[
                        uint(ebml::ID_PIXEL_WIDTH, w),
                        uint(ebml::ID_PIXEL_HEIGHT, h),
                    ]
                    .concat(),
                ));
            }
            if let Some((hz, channels)) = t.audio {
                e.extend(element(
                    ebml::ID_AUDIO,
                    &[
                        element(ebml::ID_SAMPLING_FREQUENCY, &hz.to_be_bytes()),
                        uint(ebml::ID_CHANNELS, channels),
                    ]
                    .concat(),
                ));
            }
            entries.extend(element(ebml::ID_TRACK_ENTRY, &e));
        }
        out.extend(element(ebml::ID_TRACKS, &entries));
        out
    }

    /// An unknown-size cluster at `tc` ms of SimpleBlocks, each (track
    /// number, time relative to `tc` in ms, keyframe, frame bytes).
    pub fn cluster_blocks(tc: u64, blocks: &[(u64, i16, bool, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        write_id(&mut out, ID_CLUSTER);
        out.push(0xFF);
        out.extend(uint(ebml::ID_TIMECODE, tc));
        for (track, rel, key, data) in blocks {
            // Track numbers below 127 as a one-byte vint.
            let mut b = vec![0x80 | (*track as u8 & 0x7F)];
            b.extend_from_slice(&rel.to_be_bytes());
            b.push(if *key { 0x80 } else { 0 });
            b.extend_from_slice(data);
            out.extend(element(ebml::ID_SIMPLE_BLOCK, &b));
        }
        out
    }

    /// [`header_with`] 100 ms frames, 640x360.
    pub fn header_bytes(tracks: &[u64]) -> Vec<u8> {
        header_with(tracks, 100_000_000, Some((640, 360)))
    }

    /// An unknown-size cluster at `tc` ms with `frames` frames on track 1,
    /// `spacing_ms` apart, the first a keyframe; frame i's data is
    /// `payload(i)`.
    pub fn cluster_of(
        tc: u64,
        frames: u16,
        spacing_ms: u16,
        payload: impl Fn(u16) -> Vec<u8>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        write_id(&mut out, ID_CLUSTER);
        out.push(0xFF);
        out.extend(uint(ebml::ID_TIMECODE, tc));
        for i in 0..frames {
            let mut b = vec![0x81];
            b.extend_from_slice(&(i * spacing_ms).to_be_bytes());
            b.push(if i == 0 { 0x80 } else { 0 });
            b.extend(payload(i));
            out.extend(element(ebml::ID_SIMPLE_BLOCK, &b));
        }
        out
    }

    /// [`cluster_of`] frames 100 ms apart of `payload` bytes each.
    pub fn cluster(tc: u64, frames: u16, payload: usize) -> Vec<u8> {
        cluster_of(tc, frames, 100, |i| vec![i as u8; payload])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::testing::{cluster, element, header_bytes};
    use super::*;

    fn split(body: &[u8], chunk: usize, limits: Limits) -> Vec<ParseEvent> {
        let mut s = MkvSplitter::new(limits);
        let mut out = Vec::new();
        for c in body.chunks(chunk) {
            s.feed(c, &mut out);
        }
        s.finish(true, &mut out);
        out
    }

    fn ends(events: &[ParseEvent]) -> Vec<(u64, Option<u32>, usize)> {
        events
            .iter()
            .filter_map(|e| match e {
                ParseEvent::FragmentEnd(f) => Some((f.cluster_timecode, f.error, f.bytes.len())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn splits_clusters_into_fragments_in_any_chunking() {
        let c1 = cluster(0, 20, 10);
        let c2 = cluster(2000, 20, 10);
        let body = [header_bytes(&[1]), c1.clone(), c2.clone()].concat();
        for chunk in [1, 7, 100, 100_000] {
            let events = split(&body, chunk, Limits::default());
            assert!(matches!(events[0], ParseEvent::Header(_)));
            let frags: Vec<_> = events
                .iter()
                .filter_map(|e| match e {
                    ParseEvent::FragmentEnd(f) => Some(f),
                    _ => None,
                })
                .collect();
            assert_eq!(frags.len(), 2, "chunk {chunk}");
            assert_eq!(frags[0].bytes, c1);
            assert_eq!(frags[1].bytes, c2);
            assert_eq!(frags[0].frames, 20);
            assert_eq!(frags[0].keyframes, 1);
            assert_eq!(frags[0].duration_ms, 2000);
            assert_eq!(frags[1].error, None);
        }
    }

    #[test]
    fn header_block_gets_unknown_size_segment() {
        let body = [header_bytes(&[1]), cluster(0, 2, 1)].concat();
        let events = split(&body, 5, Limits::default());
        let ParseEvent::Header(h) = &events[0] else {
            panic!("no header: {events:?}")
        };
        assert_eq!(&h.bytes[..], &header_bytes(&[1])[..]);
        assert_eq!(h.tracks[0].width, Some(640));
    }

    #[test]
    fn non_monotonic_timecode_is_4004_and_session_goes_on() {
        let body = [
            header_bytes(&[1]),
            cluster(4000, 5, 1),
            cluster(1000, 5, 1),
            cluster(6000, 5, 1),
        ]
        .concat();
        let got = ends(&split(&body, 3, Limits::default()));
        assert_eq!(got[0].1, None);
        assert_eq!(got[1].1, Some(ERR_TIMECODE_ORDER));
        assert_eq!(got[1].2, 0);
        assert_eq!(got[2].1, None);
    }

    /// A Cluster of big SimpleBlocks with a BlockGroup (read whole) and
    /// Tags after it, as `feed_bytes` gets it in any chunking.
    #[test]
    fn fragments_are_sliced_from_the_input_in_any_chunking() {
        let block = |rel: i16, fill: u8| {
            let mut b = vec![0x81];
            b.extend_from_slice(&rel.to_be_bytes());
            b.push(0x80);
            b.extend(std::iter::repeat_n(fill, 3000));
            b
        };
        let mut body_of_cluster = testing::uint(ebml::ID_TIMECODE, 0);
        body_of_cluster.extend(element(ebml::ID_SIMPLE_BLOCK, &block(0, 1)));
        let group = [
            element(ebml::ID_BLOCK, &block(33, 2)),
            testing::uint(ebml::ID_REFERENCE_BLOCK, 1),
        ]
        .concat();
        body_of_cluster.extend(element(ebml::ID_BLOCK_GROUP, &group));
        body_of_cluster.extend(element(ebml::ID_SIMPLE_BLOCK, &block(66, 3)));
        let c1 = element(ebml::ID_CLUSTER, &body_of_cluster);
        let tags = element(ebml::ID_TAGS, &element(ebml::ID_TAG, b"t"));
        let c2 = cluster(2000, 3, 5000);
        let body = [header_bytes(&[1]), c1.clone(), tags.clone(), c2.clone()].concat();
        for chunk in [1, 2, 3, 5, 16, 17, 100, 2999, 3001, 4096, body.len()] {
            let mut s = MkvSplitter::new(Limits::default());
            let mut out = Vec::new();
            let input: Vec<Bytes> = body.chunks(chunk).map(Bytes::copy_from_slice).collect();
            for c in &input {
                s.feed_bytes(c.clone(), &mut out);
            }
            s.finish(true, &mut out);
            let frags: Vec<&ParsedFragment> = out
                .iter()
                .filter_map(|e| match e {
                    ParseEvent::FragmentEnd(f) => Some(f),
                    _ => None,
                })
                .collect();
            assert_eq!(frags.len(), 2, "chunk {chunk}: {out:?}");
            assert_eq!(frags[0].error, None, "chunk {chunk}");
            assert_eq!(
                frags[0].bytes,
                [c1.clone(), tags.clone()].concat(),
                "chunk {chunk}"
            );
            assert_eq!(frags[0].frames, 3, "chunk {chunk}");
            assert_eq!(
                frags[0].keyframes, 2,
                "chunk {chunk}: the grouped block is referenced"
            );
            assert_eq!(frags[1].bytes, c2, "chunk {chunk}");
            assert_eq!(frags[1].frames, 3, "chunk {chunk}");
            if chunk >= 17 {
                // Every slice of a big SimpleBlock points into the input.
                let inside = |b: &Bytes| {
                    input.iter().any(|c| {
                        let (start, end) = (c.as_ptr() as usize, c.as_ptr() as usize + c.len());
                        let p = b.as_ptr() as usize;
                        p >= start && p + b.len() <= end
                    })
                };
                let shared: usize = frags[1]
                    .bytes
                    .chunks()
                    .iter()
                    .filter(|b| inside(b))
                    .map(Bytes::len)
                    .sum();
                assert!(
                    shared * 10 >= c2.len() * 9,
                    "chunk {chunk}: {shared} of {} bytes shared",
                    c2.len()
                );
            }
        }
    }

    #[test]
    fn oversize_and_overlong_fragments() {
        let limits = Limits {
            max_fragment_bytes: 1000,
            ..Limits::default()
        };
        let body = [header_bytes(&[1]), cluster(0, 5, 500), cluster(2000, 5, 10)].concat();
        let got = ends(&split(&body, 13, limits));
        assert_eq!(got[0].1, Some(ERR_FRAGMENT_SIZE));
        assert_eq!(got[1].1, None);
        let body = [header_bytes(&[1]), cluster(0, 120, 1)].concat();
        assert_eq!(
            ends(&split(&body, 64, Limits::default()))[0].1,
            Some(ERR_FRAGMENT_DURATION)
        );
    }

    #[test]
    fn garbage_truncation_and_tracks() {
        let events = split(b"this is not matroska at all", 4, Limits::default());
        assert!(matches!(
            events[0],
            ParseEvent::Fatal {
                code: ERR_INVALID_MKV,
                ..
            }
        ));
        let body = [header_bytes(&[1]), cluster(0, 5, 100)].concat();
        let got = ends(&split(&body[..body.len() - 30], 50, Limits::default()));
        assert_eq!(got, vec![(0, Some(ERR_INVALID_MKV), 0)]);
        let body = [header_bytes(&[1, 2]), cluster(0, 5, 1)].concat();
        assert_eq!(
            ends(&split(&body, 50, Limits::default()))[0].1,
            Some(ERR_MISSING_TRACK)
        );
        let body = [header_bytes(&[1, 2, 3, 4]), cluster(0, 5, 1)].concat();
        let events = split(&body, 50, Limits::default());
        assert!(matches!(
            events[0],
            ParseEvent::Fatal {
                code: ERR_TOO_MANY_TRACKS,
                ..
            }
        ));
        let body = [header_bytes(&[2]), cluster(0, 5, 1)].concat();
        assert_eq!(
            ends(&split(&body, 50, Limits::default()))[0].1,
            Some(ERR_TRACK_MISMATCH)
        );
    }

    #[test]
    fn audio_settings_are_read_from_the_track_entry() {
        use super::testing::{TrackSpec, header_of};
        let bytes = header_of(&[
            TrackSpec {
                number: 1,
                track_type: 1,
                codec_id: "V_MPEGH/ISO/HEVC",
                codec_private: Some(&[1, 2]),
                video: Some((1280, 720)),
                ..TrackSpec::default()
            },
            TrackSpec {
                number: 2,
                track_type: 2,
                codec_id: "A_AAC",
                codec_private: Some(&[0x11, 0x90]),
                audio: Some((48_000.0, 2)),
                ..TrackSpec::default()
            },
        ]);
        let h = HeaderInfo::parse(Bytes::from(bytes)).unwrap();
        assert_eq!(h.tracks[0].codec_id, "V_MPEGH/ISO/HEVC");
        assert_eq!(
            (h.tracks[0].width, h.tracks[0].sample_rate),
            (Some(1280), None)
        );
        let a = &h.tracks[1];
        assert_eq!((a.track_type, a.codec_id.as_str()), (2, "A_AAC"));
        assert_eq!((a.sample_rate, a.channels), (Some(48_000), Some(2)));
        assert_eq!(a.codec_private, vec![0x11, 0x90]);
    }

    #[test]
    fn trailing_segment_elements_join_the_fragment() {
        let c1 = cluster(0, 3, 1);
        let tags = element(ebml::ID_TAGS, &element(ebml::ID_TAG, b""));
        let body = [
            header_bytes(&[1]),
            c1.clone(),
            tags.clone(),
            cluster(1000, 3, 1),
        ]
        .concat();
        let events = split(&body, 9, Limits::default());
        let ParseEvent::FragmentEnd(f) = &events[2] else {
            panic!("{events:?}")
        };
        assert_eq!(f.bytes, [c1, tags].concat());
    }
}
