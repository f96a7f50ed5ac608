//! `Kds::put_records_async` against `Kds::put_records`: the same routing,
//! sequence numbers and errors, every acknowledged record readable, with
//! many tasks appending at once on a small runtime.

use std::sync::Arc;

use sluice_kds::{IteratorStart, Kds, KdsError, KdsOptions, ManualClock, PutEntry};

const T0: i64 = 1_700_000_000_000;

fn entry(i: usize) -> PutEntry {
    PutEntry {
        partition_key: format!("key-{i}"),
        explicit_hash_key: None,
        data: format!("record-{i}").into_bytes(),
    }
}

fn all_records(kds: &Kds, stream: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for shard in kds.describe_stream(stream).unwrap().shards {
        let it = kds
            .get_shard_iterator(stream, &shard.shard_id, &IteratorStart::TrimHorizon)
            .unwrap();
        let got = kds.get_records(&it, 10_000).unwrap();
        out.extend(got.records.into_iter().map(|r| (r.sequence_number, r.data)));
    }
    out
}

#[test]
fn async_puts_route_and_number_records_as_blocking_puts_do() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let kds = Kds::open(dir.path(), KdsOptions::default(), Arc::new(clock.clone())).unwrap();
    kds.create_stream("blocking", Some(4)).unwrap();
    kds.create_stream("async", Some(4)).unwrap();
    clock.advance(60_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // One request of 50 records over four shards, both ways.
    let blocking = kds
        .put_records("blocking", (0..50).map(entry).collect())
        .unwrap();
    let asynchronous = runtime
        .block_on(kds.put_records_async("async", (0..50).map(entry).collect()))
        .unwrap();
    assert_eq!(blocking.len(), 50);
    for (b, a) in blocking.iter().zip(&asynchronous) {
        let (b, a) = (b.as_ref().unwrap(), a.as_ref().unwrap());
        assert_eq!(a.shard_id, b.shard_id);
        // Same shard, same position, same arrival: the same number.
        assert_eq!(a.sequence_number, b.sequence_number);
    }

    // 64 tasks appending one record at a time on two worker threads.
    let kds2 = kds.clone();
    let acknowledged: Vec<String> = runtime.block_on(async move {
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let kds = kds2.clone();
                tokio::spawn(async move {
                    let mut seqs = Vec::new();
                    for i in 0..20 {
                        let out = kds
                            .put_record_async("async", entry(1000 + t * 100 + i))
                            .await
                            .unwrap();
                        seqs.push(out.sequence_number);
                    }
                    seqs
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let stored = all_records(&kds, "async");
    assert_eq!(stored.len(), 50 + 64 * 20);
    let stored_seqs: std::collections::HashSet<&String> = stored.iter().map(|r| &r.0).collect();
    for s in &acknowledged {
        assert!(
            stored_seqs.contains(s),
            "acknowledged {s} is not in the log"
        );
    }

    // Errors are the blocking put's.
    let missing = runtime
        .block_on(kds.put_records_async("nope", vec![entry(0)]))
        .unwrap_err();
    let blocking_missing = kds.put_records("nope", vec![entry(0)]).unwrap_err();
    assert!(
        matches!(missing, KdsError::StreamNotFound { .. }),
        "{missing}"
    );
    assert_eq!(missing.to_string(), blocking_missing.to_string());
}
