//! The console's overview: every Kinesis data stream, delivery stream,
//! video stream and app of the server with its figures, and the rates
//! behind them.
//!
//! Rates come from counters sampled once a second ([`Rates::sample`]): a
//! rate is the last second's increase, so every viewer sees the same
//! figure however often it asks.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};
use sluice_firehose::Firehose;
use sluice_kds::Kds;
use sluice_video::VideoApi;

use super::apps::{AppRegistry, app_key};

/// Per-second rates of named counters; see the module docs.
#[derive(Default)]
pub struct Rates {
    inner: Mutex<Sampled>,
}

#[derive(Default)]
struct Sampled {
    at_ms: Option<i64>,
    counters: HashMap<String, u64>,
    rates: HashMap<String, f64>,
}

impl Rates {
    /// Takes a sample of `counters` at `now_ms`: each rate becomes the
    /// counter's increase since the last sample, per second.
    pub fn sample(&self, now_ms: i64, counters: Vec<(String, u64)>) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let secs = s
            .at_ms
            .map(|at| (now_ms - at) as f64 / 1000.0)
            .filter(|d| *d > 0.0);
        let mut rates = HashMap::new();
        let mut next = HashMap::new();
        for (key, value) in counters {
            if let (Some(secs), Some(before)) = (secs, s.counters.get(&key)) {
                rates.insert(key.clone(), value.saturating_sub(*before) as f64 / secs);
            }
            next.insert(key, value);
        }
        s.at_ms = Some(now_ms);
        s.counters = next;
        s.rates = rates;
    }

    /// The rate of counter `key` per second (0 before two samples).
    pub fn rate(&self, key: &str) -> f64 {
        let s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.rates.get(key).copied().unwrap_or(0.0)
    }
}

/// The counters the rates are made from.
pub fn counters(kds: &Kds, video: &VideoApi, apps: &AppRegistry) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for name in kds.list_streams() {
        if let Some(t) = kds.traffic(&name) {
            out.push((format!("kds-in:{name}"), t.records_in));
            out.push((format!("kds-out:{name}"), t.records_out));
        }
    }
    for s in video.store().streams() {
        out.push((format!("video:{}", s.name()), s.head_seq()));
    }
    for (app, monitor) in apps.monitors() {
        for (id, rows) in monitor.counters() {
            out.push((app_key(&app, &id), rows));
        }
    }
    out
}

/// The overview's JSON.
pub fn overview(
    kds: &Kds,
    firehose: &Firehose,
    video: &VideoApi,
    apps: &AppRegistry,
    rates: &Rates,
    now_ms: i64,
) -> Value {
    let streams: Vec<Value> = kds
        .list_streams()
        .into_iter()
        .filter_map(|name| {
            let d = kds.describe_stream(&name).ok()?;
            let t = kds.traffic(&name).unwrap_or_default();
            Some(json!({
                "name": name,
                "status": d.status,
                "shards": d.open_shard_count,
                "retention_hours": d.retention_hours,
                "records_in": t.records_in,
                "records_out": t.records_out,
                "records_in_per_s": rates.rate(&format!("kds-in:{name}")),
                "records_out_per_s": rates.rate(&format!("kds-out:{name}")),
            }))
        })
        .collect();
    let delivery: Vec<Value> = firehose
        .names()
        .into_iter()
        .filter_map(|name| {
            let s = firehose.stream(&name).ok()?;
            let stats = s.stats();
            Some(json!({
                "name": name,
                "status": "ACTIVE",
                "buffered_records": s.pending_records(),
                "buffered_bytes": s.pending_bytes(),
                "objects": stats.objects,
                "records_delivered": stats.records,
                "last_delivery_ms": stats.last_delivery_ms,
                "failed_attempts": stats.failed_attempts,
            }))
        })
        .collect();
    let videos: Vec<Value> = video
        .store()
        .streams()
        .into_iter()
        .filter(|s| !s.is_deleted())
        .map(|s| {
            let name = s.name();
            json!({
                "name": name,
                "status": "ACTIVE",
                "fragments": s.head_seq(),
                "fragments_per_s": rates.rate(&format!("video:{name}")),
                "last_fragment_ms": s.last().map(|f| f.server_ms),
            })
        })
        .collect();
    json!({
        "now_ms": now_ms,
        "streams": streams,
        "delivery_streams": delivery,
        "video_streams": videos,
        "apps": apps.summaries(rates),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_the_last_seconds_increase() {
        let r = Rates::default();
        r.sample(1_000, vec![("a".into(), 10)]);
        assert_eq!(r.rate("a"), 0.0);
        r.sample(3_000, vec![("a".into(), 50), ("b".into(), 7)]);
        assert_eq!(r.rate("a"), 20.0);
        assert_eq!(r.rate("b"), 0.0);
        r.sample(4_000, vec![("a".into(), 50), ("b".into(), 9)]);
        assert_eq!(r.rate("a"), 0.0);
        assert_eq!(r.rate("b"), 2.0);
    }
}
