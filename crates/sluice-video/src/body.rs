//! Response bodies for the API: whole buffers and channel-fed streams
//! (PutMedia ACKs, GetMedia chunks), all as the `BoxBody` the CLI's
//! combined server expects.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use tokio::sync::mpsc;

/// The response body type of every API call.
pub type ApiBody = BoxBody<Bytes, std::io::Error>;

/// A complete body.
pub fn full(data: impl Into<Bytes>) -> ApiBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A body fed by a bounded channel (backpressure on the sender).
pub fn from_channel(rx: mpsc::Receiver<Bytes>) -> ApiBody {
    ChannelBody::Bounded(rx).boxed()
}

/// A body fed by an unbounded channel (the sender never waits).
pub fn from_unbounded(rx: mpsc::UnboundedReceiver<Bytes>) -> ApiBody {
    ChannelBody::Unbounded(rx).boxed()
}

enum ChannelBody {
    Bounded(mpsc::Receiver<Bytes>),
    Unbounded(mpsc::UnboundedReceiver<Bytes>),
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = match self.get_mut() {
            ChannelBody::Bounded(rx) => rx.poll_recv(cx),
            ChannelBody::Unbounded(rx) => rx.poll_recv(cx),
        };
        polled.map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}
