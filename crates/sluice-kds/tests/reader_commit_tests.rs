//! `StreamReader::commit_through`: a reader that commits only what its
//! caller has fully processed resumes there after a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sluice_kds::checkpoint::CheckpointStore;
use sluice_kds::{Kds, KdsOptions, ManualClock, PutEntry, ReaderSource, ReaderStart, StreamReader};

fn entry(i: usize) -> PutEntry {
    PutEntry {
        partition_key: "k".into(),
        explicit_hash_key: None,
        data: format!("r{i}").into_bytes(),
    }
}

async fn read_all(reader: &mut StreamReader) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for _ in 0..50 {
        let got = reader
            .next_batch(1000, Duration::from_millis(20))
            .await
            .unwrap();
        if got.is_empty() && !out.is_empty() {
            break;
        }
        out.extend(got.into_iter().map(|r| {
            (
                r.shard_id,
                r.sequence_number,
                String::from_utf8(r.data).unwrap(),
            )
        }));
    }
    out
}

#[tokio::test]
async fn commit_through_resumes_after_the_last_processed_record() {
    let dir = tempfile::tempdir().unwrap();
    let kds = Kds::open(
        dir.path().join("log"),
        KdsOptions::default(),
        Arc::new(ManualClock::new(1_700_000_000_000)),
    )
    .unwrap();
    kds.create_stream("s", Some(1)).unwrap();
    kds.put_records("s", (0..10).map(entry).collect()).unwrap();
    let ckpt = dir.path().join("s.checkpoint");

    let mut reader = StreamReader::open(
        ReaderSource::Embedded(kds.clone()),
        "s",
        ReaderStart::TrimHorizon,
        Some(CheckpointStore::open(&ckpt).unwrap()),
    )
    .await
    .unwrap();
    let first = read_all(&mut reader).await;
    assert_eq!(first.len(), 10);
    // The caller processed r0..=r5 only (say r6.. sit in an open window).
    let (shard, seq, _) = &first[5];
    let through: HashMap<&str, &str> = [(shard.as_str(), seq.as_str())].into();
    reader.commit_through(&through).unwrap();
    drop(reader);

    let mut again = StreamReader::open(
        ReaderSource::Embedded(kds.clone()),
        "s",
        ReaderStart::TrimHorizon,
        Some(CheckpointStore::open(&ckpt).unwrap()),
    )
    .await
    .unwrap();
    let rest: Vec<String> = read_all(&mut again)
        .await
        .into_iter()
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(rest, ["r6", "r7", "r8", "r9"]);
}
