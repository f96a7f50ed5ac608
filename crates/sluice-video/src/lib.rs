//! Kinesis Video Streams for Sluice: MKV fragments in via PutMedia, stored
//! and indexed, served back via GetMedia, ListFragments and
//! GetMediaForFragmentList.
//!
//! Entry point: [`VideoApi`] — [`VideoApi::matches`] tells whether a request
//! path is a KVS rest-json path, [`VideoApi::handle`] serves it, and
//! [`VideoApi::subscribe_fragments`] hands out every accepted or rejected
//! fragment as a [`FragmentEvent`]. Underneath: [`store`] (segments, header
//! blocks, fragment index, retention), [`mkv`] (splitting a live PutMedia
//! body into fragments, with AWS's error codes) and [`ebml`].

pub mod clock;
pub mod ebml;
pub mod error;
pub mod mkv;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Result, VideoError};
pub mod api;
pub mod body;
pub mod events;
mod putmedia;

pub use api::{VideoApi, VideoConfig};
pub use events::{AckStatus, FragmentEvent};
pub mod mp4;
pub mod server;
