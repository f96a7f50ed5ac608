//! Object bodies encoded while their records are buffered, so that
//! delivering a sealed GZIP buffer waits only for its last records'
//! compression, not the whole buffer's: [`BodyWriter::start`] starts an
//! encoder thread for an open buffer; the stream hands it each run of
//! records as it writes them to the buffer file ([`BodyWriter::send`]);
//! sealing the buffer ([`BodyWriter::finish`]) gives the [`Body`] that
//! delivery awaits ([`Body::wait`]).
//!
//! The encoder is the one [`Compression::compress`] uses, with the same
//! settings ([`Compression::encoder`]); the body holds the records
//! concatenated as [`crate::pipeline::encode`] would (a newline after each
//! when `AppendDelimiterToRecord` is on), then compressed. It is only a
//! head start: when the encoder fails, or its record count differs from the
//! sealed buffer's, delivery encodes the buffer's records as before
//! (recovered buffers always are).

use std::sync::mpsc;

use bytes::Bytes;
use tokio::sync::watch;

use crate::compress::Compression;

#[derive(Debug, Clone)]
enum Outcome {
    Pending,
    Done { body: Bytes, records: usize },
    Failed,
}

/// The encoder of an open buffer's object body.
#[derive(Debug)]
pub struct BodyWriter {
    runs: mpsc::Sender<Vec<Bytes>>,
    outcome: watch::Receiver<Outcome>,
}

impl BodyWriter {
    /// Starts encoding a body compressed as `compression` (about
    /// `size_hint` bytes of records): None when the format has no
    /// streaming encoder or no thread could be started.
    pub fn start(compression: Compression, delimit: bool, size_hint: usize) -> Option<Self> {
        let mut encoder = compression.encoder(size_hint)?;
        let (runs, received) = mpsc::channel::<Vec<Bytes>>();
        let (done, outcome) = watch::channel(Outcome::Pending);
        std::thread::Builder::new()
            .name("firehose-encode".into())
            .spawn(move || {
                // One encoder call per run: the records of a run are copied
                // together first (a call per record costs more than the copy).
                let mut scratch = Vec::new();
                let mut records = 0;
                let mut ok = true;
                for run in received {
                    if !ok {
                        continue;
                    }
                    scratch.clear();
                    for r in &run {
                        scratch.extend_from_slice(r);
                        if delimit {
                            scratch.push(b'\n');
                        }
                    }
                    records += run.len();
                    ok = encoder.write(&scratch).is_ok();
                }
                let outcome = match encoder.finish() {
                    Ok(body) if ok => Outcome::Done {
                        body: Bytes::from(body),
                        records,
                    },
                    _ => Outcome::Failed,
                };
                let _ = done.send(outcome);
            })
            .ok()?;
        Some(Self { runs, outcome })
    }

    /// Hands the encoder the next records of the buffer, in order.
    pub fn send(&self, run: Vec<Bytes>) {
        let _ = self.runs.send(run);
    }

    /// No more records: the encoder finishes the body.
    pub fn finish(self) -> Body {
        Body {
            outcome: self.outcome,
        }
    }
}

/// A sealed buffer's object body, being finished or done.
#[derive(Debug)]
pub struct Body {
    outcome: watch::Receiver<Outcome>,
}

impl Body {
    /// The encoded body once the encoder is done, if it holds exactly
    /// `records` records; None when it failed.
    pub async fn wait(&self, records: usize) -> Option<Bytes> {
        let mut rx = self.outcome.clone();
        let done = rx
            .wait_for(|o| !matches!(o, Outcome::Pending))
            .await
            .ok()?
            .clone();
        match done {
            Outcome::Done { body, records: n } if n == records => Some(body),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[tokio::test]
    async fn body_holds_every_run_in_order() {
        let w = BodyWriter::start(Compression::Gzip, true, 1000).unwrap();
        w.send(vec![Bytes::from("a"), Bytes::from("b")]);
        w.send(vec![Bytes::from("c")]);
        let body = w.finish();
        assert!(body.wait(2).await.is_none(), "wrong record count");
        let z = body.wait(3).await.unwrap();
        let mut back = String::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, "a\nb\nc\n");
        assert!(BodyWriter::start(Compression::Uncompressed, false, 1).is_none());
    }
}
