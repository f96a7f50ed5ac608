//! Stream settings beyond the shard log itself: enhanced (shard-level)
//! monitoring and the capacity mode, as EnableEnhancedMonitoring,
//! DisableEnhancedMonitoring and UpdateStreamMode change them.
//!
//! Sluice keeps no CloudWatch metrics; what it keeps is the setting, which
//! DescribeStream and DescribeStreamSummary report as AWS does.

use crate::error::{KdsError, Result};
use crate::kds::Kds;

/// The shard-level metrics AWS knows, in the order it lists them.
pub const SHARD_LEVEL_METRICS: [&str; 7] = [
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
];

/// `names` with `ALL` spelled out, in [`SHARD_LEVEL_METRICS`]' order.
fn expand(names: &[String]) -> Vec<&'static str> {
    SHARD_LEVEL_METRICS
        .into_iter()
        .filter(|m| names.iter().any(|n| n == m || n == "ALL"))
        .collect()
}

impl Kds {
    /// Turns shard-level metrics on (`enable`) or off; returns the metrics
    /// enabled before and after, as EnhancedMonitoringOutput names them.
    pub fn set_enhanced_monitoring(
        &self,
        name: &str,
        metrics: &[String],
        enable: bool,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let asked = expand(metrics);
        self.update_stream(name, |meta, _| {
            let current = meta.shard_level_metrics.clone();
            let desired: Vec<String> = SHARD_LEVEL_METRICS
                .into_iter()
                .filter(|m| {
                    let on = current.iter().any(|c| c == m);
                    let named = asked.contains(m);
                    if enable { on || named } else { on && !named }
                })
                .map(str::to_owned)
                .collect();
            meta.shard_level_metrics = desired.clone();
            Ok((current, desired))
        })
    }

    /// Switches the capacity mode (`PROVISIONED` or `ON_DEMAND`; the mode
    /// it has already changes nothing). The open shards stay as they are;
    /// the stream is UPDATING for
    /// [`crate::KdsOptions::update_delay_ms`].
    pub fn set_stream_mode(&self, name: &str, mode: &str) -> Result<()> {
        let now = self.clock().now_ms();
        self.update_stream(name, |meta, _| {
            let status = self.status_of(meta);
            if status != "ACTIVE" {
                return Err(KdsError::StreamNotActive {
                    stream: name.to_owned(),
                    account: self.account(),
                    status: status.to_owned(),
                });
            }
            if meta.mode == mode {
                return Ok(());
            }
            meta.mode = mode.to_owned();
            meta.updated_ms = Some(now);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_every_metric_in_order() {
        let all = expand(&["ALL".to_owned()]);
        assert_eq!(all, SHARD_LEVEL_METRICS);
        let two = expand(&["OutgoingBytes".to_owned(), "IncomingBytes".to_owned()]);
        assert_eq!(two, ["IncomingBytes", "OutgoingBytes"]);
    }
}
