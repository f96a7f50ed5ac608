//! A minimal EBML reader and writer: just what Matroska ingest and the
//! GetMedia layout need.
//!
//! EBML elements are `ID | size | data`. The ID is a variable-length integer
//! (vint) whose marker bit is kept (`0x1A45DFA3`); the size is a vint whose
//! marker bit is stripped, and a size with every value bit set means
//! "unknown size" (live Segments and Clusters use it). Entry points:
//! [`read_header`] for one element header from a byte prefix, [`Children`]
//! to walk the children of a complete master element, and [`aws_tags`] to
//! write the `Tags` element KVS puts around each fragment.

/// EBML header.
pub const ID_EBML: u32 = 0x1A45_DFA3;
/// Segment (usually unknown-size in a live stream).
pub const ID_SEGMENT: u32 = 0x1853_8067;
/// Cluster: one cluster becomes one fragment.
pub const ID_CLUSTER: u32 = 0x1F43_B675;
/// SeekHead.
pub const ID_SEEK_HEAD: u32 = 0x114D_9B74;
/// Segment Info.
pub const ID_INFO: u32 = 0x1549_A966;
/// Tracks.
pub const ID_TRACKS: u32 = 0x1654_AE6B;
/// Cues.
pub const ID_CUES: u32 = 0x1C53_BB6B;
/// Chapters.
pub const ID_CHAPTERS: u32 = 0x1043_A770;
/// Attachments.
pub const ID_ATTACHMENTS: u32 = 0x1941_A469;
/// Tags.
pub const ID_TAGS: u32 = 0x1254_C367;
/// Tag.
pub const ID_TAG: u32 = 0x7373;
/// SimpleTag.
pub const ID_SIMPLE_TAG: u32 = 0x67C8;
/// TagName.
pub const ID_TAG_NAME: u32 = 0x45A3;
/// TagString.
pub const ID_TAG_STRING: u32 = 0x4487;
/// Void (padding, allowed anywhere).
pub const ID_VOID: u32 = 0xEC;
/// Cluster Timecode.
pub const ID_TIMECODE: u32 = 0xE7;
/// SimpleBlock.
pub const ID_SIMPLE_BLOCK: u32 = 0xA3;
/// BlockGroup.
pub const ID_BLOCK_GROUP: u32 = 0xA0;
/// Block (inside a BlockGroup).
pub const ID_BLOCK: u32 = 0xA1;
/// ReferenceBlock (inside a BlockGroup; absent on keyframes).
pub const ID_REFERENCE_BLOCK: u32 = 0xFB;
/// TimecodeScale (inside Info), nanoseconds per timecode tick.
pub const ID_TIMECODE_SCALE: u32 = 0x2A_D7B1;
/// TrackEntry.
pub const ID_TRACK_ENTRY: u32 = 0xAE;
/// TrackNumber.
pub const ID_TRACK_NUMBER: u32 = 0xD7;
/// TrackType.
pub const ID_TRACK_TYPE: u32 = 0x83;
/// CodecID.
pub const ID_CODEC_ID: u32 = 0x86;
/// CodecPrivate.
pub const ID_CODEC_PRIVATE: u32 = 0x63A2;
/// DefaultDuration (nanoseconds per frame).
pub const ID_DEFAULT_DURATION: u32 = 0x23_E383;
/// Video settings.
pub const ID_VIDEO: u32 = 0xE0;
/// PixelWidth.
pub const ID_PIXEL_WIDTH: u32 = 0xB0;
/// PixelHeight.
pub const ID_PIXEL_HEIGHT: u32 = 0xBA;
/// Audio settings.
pub const ID_AUDIO: u32 = 0xE1;
/// SamplingFrequency (inside Audio), Hz as a float.
pub const ID_SAMPLING_FREQUENCY: u32 = 0xB5;
/// Channels (inside Audio).
pub const ID_CHANNELS: u32 = 0x9F;

/// The 8-byte "unknown size" marker KVS writes after each Segment ID.
pub const UNKNOWN_SIZE_8: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// Is `id` a top-level child of a Segment (it ends an unknown-size Cluster)?
pub fn is_segment_child(id: u32) -> bool {
    matches!(
        id,
        ID_CLUSTER
            | ID_SEEK_HEAD
            | ID_INFO
            | ID_TRACKS
            | ID_CUES
            | ID_CHAPTERS
            | ID_ATTACHMENTS
            | ID_TAGS
    )
}

/// What is wrong with a byte sequence that should be EBML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EbmlFault {
    /// A vint's first byte is 0 (longer than 8 bytes) or an ID longer than 4.
    BadVint,
}

/// One element header: ID, data size (`None` = unknown size), header length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementHeader {
    /// Element ID with its marker bit.
    pub id: u32,
    /// Data size in bytes, `None` for "unknown size".
    pub size: Option<u64>,
    /// Bytes taken by the ID and the size.
    pub header_len: usize,
}

fn vint_len(first: u8) -> Option<usize> {
    if first == 0 {
        None
    } else {
        Some(first.leading_zeros() as usize + 1)
    }
}

/// Read an element header from the start of `buf`. `Ok(None)` means more
/// bytes are needed.
pub fn read_header(buf: &[u8]) -> Result<Option<ElementHeader>, EbmlFault> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let id_len = vint_len(first).ok_or(EbmlFault::BadVint)?;
    if id_len > 4 {
        return Err(EbmlFault::BadVint);
    }
    if buf.len() < id_len + 1 {
        return Ok(None);
    }
    let id = buf[..id_len]
        .iter()
        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
    let size_first = buf[id_len];
    let size_len = vint_len(size_first).ok_or(EbmlFault::BadVint)?;
    if buf.len() < id_len + size_len {
        return Ok(None);
    }
    let mask: u8 = if size_len == 8 { 0 } else { 0xFF >> size_len };
    let mut value = u64::from(size_first & mask);
    let mut all_ones = (size_first & mask) == mask;
    for b in &buf[id_len + 1..id_len + size_len] {
        value = (value << 8) | u64::from(*b);
        all_ones &= *b == 0xFF;
    }
    Ok(Some(ElementHeader {
        id,
        size: if all_ones { None } else { Some(value) },
        header_len: id_len + size_len,
    }))
}

/// Read a vint with its marker stripped (track numbers in blocks).
pub fn read_vint(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let len = vint_len(first)?;
    if buf.len() < len {
        return None;
    }
    let mask: u8 = if len == 8 { 0 } else { 0xFF >> len };
    let value = buf[1..len]
        .iter()
        .fold(u64::from(first & mask), |acc, b| (acc << 8) | u64::from(*b));
    Some((value, len))
}

/// Big-endian unsigned integer element data (0 to 8 bytes).
pub fn read_uint(data: &[u8]) -> u64 {
    data.iter()
        .take(8)
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// Big-endian float element data (0, 4 or 8 bytes; 0 bytes is 0.0).
/// `None` for any other length.
pub fn read_float(data: &[u8]) -> Option<f64> {
    match data.len() {
        0 => Some(0.0),
        4 => Some(f64::from(f32::from_be_bytes(data.try_into().ok()?))),
        8 => Some(f64::from_be_bytes(data.try_into().ok()?)),
        _ => None,
    }
}

/// Iterates the children of a complete master element's data. Stops (and
/// records `fault`) at the first child that does not fit.
pub struct Children<'a> {
    data: &'a [u8],
    pos: usize,
    /// Set when a child was malformed or overran the parent.
    pub fault: bool,
}

impl<'a> Children<'a> {
    /// Walk the children in `data` (the parent's data, without its header).
    pub fn new(data: &'a [u8]) -> Self {
        Children {
            data,
            pos: 0,
            fault: false,
        }
    }
}

impl<'a> Iterator for Children<'a> {
    /// (ID, child data, offset of the child header within the parent data)
    type Item = (u32, &'a [u8], usize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() || self.fault {
            return None;
        }
        let rest = &self.data[self.pos..];
        let header = match read_header(rest) {
            Ok(Some(h)) => h,
            _ => {
                self.fault = true;
                return None;
            }
        };
        let size = match header.size {
            Some(s) => usize::try_from(s).unwrap_or(usize::MAX),
            // An unknown-size child runs to the end of its parent.
            None => rest.len() - header.header_len,
        };
        let Some(end) = header.header_len.checked_add(size) else {
            self.fault = true;
            return None;
        };
        if end > rest.len() {
            self.fault = true;
            return None;
        }
        let start = self.pos;
        self.pos += end;
        Some((header.id, &rest[header.header_len..end], start))
    }
}

/// Append an element ID (1 to 4 bytes, marker kept).
pub fn write_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    out.extend_from_slice(&bytes[skip..]);
}

/// Append a 4-byte size vint (`0x10 xx xx xx`), as KVS writes in its tags.
pub fn write_size4(out: &mut Vec<u8>, size: usize) {
    let v = (size as u32 & 0x0FFF_FFFF) | 0x1000_0000;
    out.extend_from_slice(&v.to_be_bytes());
}

/// Append a master or binary element with a 4-byte size.
pub fn write_element4(out: &mut Vec<u8>, id: u32, data: &[u8]) {
    write_id(out, id);
    write_size4(out, data.len());
    out.extend_from_slice(data);
}

/// The `Tags` element KVS writes: one `Tag` holding one `SimpleTag` per
/// (name, value), every size written in 4 bytes (see kvs-samples).
pub fn aws_tags(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut tag = Vec::new();
    for (name, value) in pairs {
        let mut simple = Vec::new();
        write_element4(&mut simple, ID_TAG_NAME, name.as_bytes());
        write_element4(&mut simple, ID_TAG_STRING, value.as_bytes());
        write_element4(&mut tag, ID_SIMPLE_TAG, &simple);
    }
    let mut tags = Vec::new();
    write_element4(&mut tags, ID_TAG, &tag);
    let mut out = Vec::new();
    write_element4(&mut out, ID_TAGS, &tags);
    out
}

/// Read every (TagName, TagString) pair from a complete `Tags` element's data.
pub fn read_simple_tags(tags_data: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (id, tag, _) in Children::new(tags_data) {
        if id != ID_TAG {
            continue;
        }
        for (id, simple, _) in Children::new(tag) {
            if id != ID_SIMPLE_TAG {
                continue;
            }
            let mut name = String::new();
            let mut value = String::new();
            for (id, data, _) in Children::new(simple) {
                match id {
                    ID_TAG_NAME => name = String::from_utf8_lossy(data).into_owned(),
                    ID_TAG_STRING => value = String::from_utf8_lossy(data).into_owned(),
                    _ => {}
                }
            }
            out.push((name, value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_known_and_unknown_sizes() {
        let h = read_header(&[0x1A, 0x45, 0xDF, 0xA3, 0xA3])
            .unwrap()
            .unwrap();
        assert_eq!((h.id, h.size, h.header_len), (ID_EBML, Some(0x23), 5));
        let mut seg = vec![0x18, 0x53, 0x80, 0x67];
        seg.extend_from_slice(&UNKNOWN_SIZE_8);
        let h = read_header(&seg).unwrap().unwrap();
        assert_eq!((h.id, h.size, h.header_len), (ID_SEGMENT, None, 12));
        let h = read_header(&[0x1F, 0x43, 0xB6, 0x75, 0xFF])
            .unwrap()
            .unwrap();
        assert_eq!(h.size, None);
        assert_eq!(read_header(&[0x1F, 0x43]).unwrap(), None);
        assert_eq!(read_header(&[0x00, 0x81]), Err(EbmlFault::BadVint));
    }

    #[test]
    fn tags_round_trip_with_four_byte_sizes() {
        let tags = aws_tags(&[("AWS_KINESISVIDEO_FRAGMENT_NUMBER", "123")]);
        assert_eq!(&tags[..8], &[0x12, 0x54, 0xC3, 0x67, 0x10, 0, 0, 59]);
        let h = read_header(&tags).unwrap().unwrap();
        let pairs = read_simple_tags(&tags[h.header_len..]);
        assert_eq!(
            pairs,
            vec![("AWS_KINESISVIDEO_FRAGMENT_NUMBER".into(), "123".into())]
        );
    }

    #[test]
    fn vint_and_uint() {
        assert_eq!(read_vint(&[0x81]), Some((1, 1)));
        assert_eq!(read_vint(&[0x40, 0x02]), Some((2, 2)));
        assert_eq!(read_uint(&[0x0F, 0x42, 0x40]), 1_000_000);
        assert_eq!(read_float(&48_000f32.to_be_bytes()), Some(48_000.0));
        assert_eq!(read_float(&44_100f64.to_be_bytes()), Some(44_100.0));
        assert_eq!(read_float(&[1, 2, 3]), None);
    }
}
