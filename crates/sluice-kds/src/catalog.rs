//! The catalog: which streams exist, under which internal ids, with their
//! shards (hash-key ranges, lineage, closing positions), retention and tags.
//!
//! Stored as `DATA_DIR/catalog.json`, replaced atomically (write a temporary
//! file, fsync it, rename it over the old one, fsync the directory), so a
//! crash leaves either the old or the new catalog.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{KdsError, Result};
use crate::shard::sync_dir;

/// Name of the catalog file in the data directory.
pub const CATALOG_FILE: &str = "catalog.json";

/// Everything the log knows about its streams.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalog {
    /// Format version, 1.
    pub version: u32,
    /// Internal id the next stream gets.
    pub next_stream_id: u64,
    /// Streams, in creation order.
    pub streams: Vec<StreamMeta>,
}

/// One stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamMeta {
    /// Internal id: the stream's directory name and part of its sequence numbers.
    pub id: u64,
    /// The name clients use.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Retention in hours (24..=8760).
    pub retention_hours: u32,
    /// `PROVISIONED` or `ON_DEMAND`.
    pub mode: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// KMS key id when server-side encryption is on.
    pub encryption_key: Option<String>,
    /// Every shard ever created, open and closed, by index.
    pub shards: Vec<ShardMeta>,
    /// Registered enhanced fan-out consumers.
    #[serde(default)]
    pub consumers: Vec<ConsumerMeta>,
    /// Shard-level metrics enabled (EnableEnhancedMonitoring), in AWS's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shard_level_metrics: Vec<String>,
    /// Each time server-side encryption was turned on or off, oldest first:
    /// a record is encrypted as the stream was when it was written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encryption_changes: Vec<EncryptionChange>,
    /// When the last change that makes a stream UPDATING (resharding,
    /// retention, encryption) was made, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_ms: Option<i64>,
}

/// An enhanced fan-out consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerMeta {
    /// Its name.
    pub name: String,
    /// Registration time, ms since the epoch.
    pub created_ms: i64,
    /// When it was deregistered, while it is still DELETING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_ms: Option<i64>,
    /// Its tags (RegisterStreamConsumer's Tags, TagResource on its ARN).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// One shard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardMeta {
    /// Index: the number in the shard id.
    pub index: u32,
    /// Parent shard (split or merge).
    pub parent: Option<u32>,
    /// The other parent of a merge.
    pub adjacent_parent: Option<u32>,
    /// First hash key, decimal.
    #[serde(with = "u128_text")]
    pub start_hash: u128,
    /// Last hash key, decimal.
    #[serde(with = "u128_text")]
    pub end_hash: u128,
    /// Position after the last record, once the shard is closed by resharding.
    pub closed_at: Option<u64>,
    /// When it was closed, ms since the epoch.
    pub closed_ms: Option<i64>,
    /// When it was created, ms since the epoch (its sequence numbers carry
    /// it). Catalogs from before this field use the stream's creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_ms: Option<i64>,
}

/// Server-side encryption turned on or off, from given positions on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionChange {
    /// On (true) or off.
    pub on: bool,
    /// The position of each shard's next record at the change; records at
    /// or past it were written as `on` says. Shards not listed were created
    /// later, wholly after the change.
    pub from: Vec<(u32, u64)>,
}

impl StreamMeta {
    /// Whether the record at `position` of shard `shard` was written encrypted.
    pub fn encrypted_at(&self, shard: u32, position: u64) -> bool {
        if self.encryption_changes.is_empty() {
            return self.encryption_key.is_some();
        }
        self.encryption_changes
            .iter()
            .rev()
            .find(|c| {
                c.from
                    .iter()
                    .find(|(s, _)| *s == shard)
                    .is_none_or(|(_, p)| *p <= position)
            })
            .is_some_and(|c| c.on)
    }
}

impl ShardMeta {
    /// True while the shard takes writes.
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

mod u128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Catalog {
    /// Reads the catalog, or an empty one if the directory has none yet.
    pub fn load(dir: &Path) -> Result<Catalog> {
        let path = dir.join(CATALOG_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| KdsError::Catalog {
                path: path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Catalog {
                version: 1,
                next_stream_id: 1,
                streams: Vec::new(),
            }),
            Err(e) => Err(KdsError::Io { path, source: e }),
        }
    }

    /// Replaces the catalog on disk atomically and durably.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(CATALOG_FILE);
        let tmp = dir.join(format!("{CATALOG_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(self).map_err(|source| KdsError::Catalog {
            path: path.clone(),
            source,
        })?;
        let mut f = std::fs::File::create(&tmp).map_err(KdsError::io(&tmp))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(KdsError::io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(KdsError::io(&path))?;
        sync_dir(dir)
    }

    /// The stream called `name`.
    pub fn stream(&self, name: &str) -> Option<&StreamMeta> {
        self.streams.iter().find(|s| s.name == name)
    }

    /// The stream called `name`, mutable.
    pub fn stream_mut(&mut self, name: &str) -> Option<&mut StreamMeta> {
        self.streams.iter_mut().find(|s| s.name == name)
    }
}
