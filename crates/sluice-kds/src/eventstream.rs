//! The AWS event stream framing (`application/vnd.amazon.eventstream`) used
//! by SubscribeToShard, and a response body fed from a channel.
//!
//! ```text
//! message = total length u32 | headers length u32 | prelude CRC32 u32
//!           | headers | payload | message CRC32 u32          (big-endian)
//! header  = name length u8 | name | type u8 (7 = string) | value length u16 | value
//! ```
//!
//! CRC32 here is the IEEE/zlib polynomial, not the CRC32C of the segments.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use tokio::sync::mpsc;

/// Content type of an event stream.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// CRC32 (IEEE 802.3, reflected, as zlib).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Encodes one message with string headers.
pub fn encode_message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(name.len() as u8);
        h.extend_from_slice(name.as_bytes());
        h.push(7);
        h.extend_from_slice(&(value.len() as u16).to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// An event of type `event_type` whose payload is in `content_type`
/// (`application/x-amz-json-1.1` or `application/x-amz-cbor-1.1`).
pub fn event(event_type: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    encode_message(
        &[
            (":event-type", event_type),
            (":content-type", content_type),
            (":message-type", "event"),
        ],
        payload,
    )
}

/// An event of type `event_type` with a JSON payload.
pub fn json_event(event_type: &str, payload: &[u8]) -> Vec<u8> {
    event(event_type, "application/x-amz-json-1.1", payload)
}

/// An exception message inside a stream: `payload` (`{"message": ..}`) is
/// in `content_type`.
pub fn exception(kind: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    encode_message(
        &[
            (":exception-type", kind),
            (":content-type", content_type),
            (":message-type", "exception"),
        ],
        payload,
    )
}

/// One decoded message: its string headers in order, and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// (name, value) of each string header.
    pub headers: Vec<(String, String)>,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Message {
    /// The value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes the message at the start of `buf`: `Ok(Some((message, length)))`,
/// `Ok(None)` when `buf` holds only part of one, `Err` (a reason) when the
/// bytes are not a message: a bad CRC or length, or a header type other
/// than string.
pub fn decode_message(buf: &[u8]) -> Result<Option<(Message, usize)>, String> {
    let be32 = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let (Some(total), Some(headers_len), Some(prelude_crc)) =
        (be32(buf, 0), be32(buf, 4), be32(buf, 8))
    else {
        return Ok(None);
    };
    let (total, headers_len) = (total as usize, headers_len as usize);
    if prelude_crc != crc32(&buf[..8]) {
        return Err("prelude CRC mismatch".into());
    }
    if total < 16 + headers_len {
        return Err(format!("total length {total} too short"));
    }
    if buf.len() < total {
        return Ok(None);
    }
    let crc = be32(buf, total - 4).unwrap_or_default();
    if crc != crc32(&buf[..total - 4]) {
        return Err("message CRC mismatch".into());
    }
    let mut h = &buf[12..12 + headers_len];
    let mut headers = Vec::new();
    while let Some((&n, rest)) = h.split_first() {
        let n = usize::from(n);
        let bad = || "header runs past its block".to_string();
        let name = rest.get(..n).ok_or_else(bad)?;
        let (&kind, rest) = rest[n..].split_first().ok_or_else(bad)?;
        if kind != 7 {
            return Err(format!("header type {kind} is not a string"));
        }
        let len = rest.get(..2).ok_or_else(bad)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let value = rest.get(2..2 + len).ok_or_else(bad)?;
        headers.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
        h = &rest[2 + len..];
    }
    let payload = buf[12 + headers_len..total - 4].to_vec();
    Ok(Some((Message { headers, payload }, total)))
}

/// A response body whose chunks come from a channel; it ends when the sender is dropped.
#[derive(Debug)]
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    /// A body and the sender that feeds it.
    pub fn new(buffer: usize) -> (mpsc::Sender<Bytes>, ChannelBody) {
        let (tx, rx) = mpsc::channel(buffer);
        (tx, ChannelBody { rx })
    }
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn message_layout() {
        let m = json_event("initial-response", b"{}");
        let total = u32::from_be_bytes(m[0..4].try_into().unwrap()) as usize;
        assert_eq!(total, m.len());
        let prelude = u32::from_be_bytes(m[8..12].try_into().unwrap());
        assert_eq!(prelude, crc32(&m[0..8]));
        let end = u32::from_be_bytes(m[total - 4..].try_into().unwrap());
        assert_eq!(end, crc32(&m[..total - 4]));
    }

    #[test]
    fn decode_reads_what_encode_wrote() {
        let m = event(
            "SubscribeToShardEvent",
            "application/x-amz-cbor-1.1",
            b"\xa0",
        );
        assert_eq!(decode_message(&m[..m.len() - 1]), Ok(None));
        let (msg, used) = decode_message(&m).unwrap().unwrap();
        assert_eq!(used, m.len());
        assert_eq!(msg.header(":event-type"), Some("SubscribeToShardEvent"));
        assert_eq!(
            msg.header(":content-type"),
            Some("application/x-amz-cbor-1.1")
        );
        assert_eq!(msg.header(":message-type"), Some("event"));
        assert_eq!(msg.payload, b"\xa0");
        let mut bad = m.clone();
        let last = bad.len() - 5;
        bad[last] ^= 1;
        assert!(decode_message(&bad).is_err());
    }
}
