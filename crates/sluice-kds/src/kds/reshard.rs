//! Resharding: SplitShard, MergeShards and UpdateShardCount, each checked
//! as AWS checks it (the shard id read first, then the stream, which must
//! be ACTIVE, then the shards), and, with
//! [`KdsOptions::update_delay_ms`], applied after the delay as AWS does.

use super::*;

/// Whether a resharding call is the client's request or its deferred
/// application (with [`KdsOptions::update_delay_ms`], AWS answers at once,
/// keeps the stream UPDATING with its old shards, then applies the change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Request,
    Apply,
}

impl Kds {
    /// The common end of a split, merge or scaling: saves the catalog and
    /// opens the new shards. The request (not its deferred application)
    /// marks the stream UPDATING.
    fn finish_reshard(
        &self,
        st: &mut State,
        mut catalog: Catalog,
        id: u64,
        new: Vec<(u32, Arc<ShardLog>)>,
        phase: Phase,
        now: i64,
    ) -> Result<()> {
        if phase == Phase::Request
            && let Some(m) = catalog.streams.iter_mut().find(|s| s.id == id)
        {
            m.updated_ms = Some(now);
        }
        catalog.save(&self.inner.dir)?;
        st.catalog = catalog;
        for (index, log) in new {
            st.shards.insert((id, index), ShardHandle::Open(log));
        }
        Ok(())
    }

    pub(super) fn open_child(
        &self,
        meta: &StreamMeta,
        index: u32,
        new: &mut Vec<(u32, Arc<ShardLog>)>,
    ) -> Result<()> {
        let log = ShardLog::open(
            &shard_dir(&self.inner.dir, meta.id, index),
            self.inner.options.segment_bytes,
        )?;
        new.push((index, Arc::new(log)));
        Ok(())
    }

    pub(super) fn close_shard(
        &self,
        st_shards: &HashMap<(u64, u32), ShardHandle>,
        meta: &mut StreamMeta,
        index: u32,
        now: i64,
    ) {
        let end = match st_shards.get(&(meta.id, index)) {
            // Commit what was handed in before the close, so the parent's
            // ending sequence number covers every record it acknowledges.
            Some(ShardHandle::Open(log)) => log.flush().unwrap_or_else(|_| log.durable_end()),
            _ => 0,
        };
        if let Some(sh) = meta.shards.iter_mut().find(|s| s.index == index) {
            sh.closed_at = Some(end);
            sh.closed_ms = Some(now);
        }
    }

    /// Reads a shard id as AWS does before it looks for the stream:
    /// `Could not find shard <id> ..` when it is not one.
    pub(super) fn resolve_shard_id(&self, name: &str, shard_id: &str) -> Result<u32> {
        ids::parse_shard_id(shard_id).ok_or_else(|| KdsError::ShardIdNotFound {
            shard: shard_id.to_owned(),
            stream: name.to_owned(),
            account: self.account(),
        })
    }

    /// The stream, ACTIVE, for a resharding call (any status when the
    /// deferred change is applied).
    pub(super) fn active_stream<'a>(
        &self,
        catalog: &'a mut Catalog,
        name: &str,
        phase: Phase,
    ) -> Result<&'a mut StreamMeta> {
        let meta = catalog
            .stream_mut(name)
            .ok_or_else(|| self.not_found(name))?;
        let status = self.status_of(meta);
        if status != "ACTIVE" && phase == Phase::Request {
            return Err(KdsError::StreamNotActive {
                stream: name.to_owned(),
                account: self.account(),
                status: status.to_owned(),
            });
        }
        Ok(meta)
    }

    pub(super) fn find_open_shard(&self, meta: &StreamMeta, index: u32) -> Result<ShardMeta> {
        let sh = meta
            .shards
            .iter()
            .find(|s| s.index == index)
            .cloned()
            .ok_or_else(|| KdsError::ShardIdNotFound {
                shard: ids::shard_id(index),
                stream: meta.name.clone(),
                account: self.account(),
            })?;
        if !sh.is_open() {
            return Err(KdsError::ShardClosed {
                shard: ids::shard_id(sh.index),
                stream: meta.name.clone(),
                account: self.account(),
            });
        }
        Ok(sh)
    }

    /// With [`KdsOptions::update_delay_ms`] set and `phase` the request:
    /// marks the stream UPDATING and applies `change` after the delay on a
    /// thread of its own, returning true (the caller stops there). The
    /// change is checked again when applied; if the stream is gone by then
    /// there is nothing to apply.
    pub(super) fn defer(
        &self,
        phase: Phase,
        st: &mut State,
        mut catalog: Catalog,
        name: &str,
        change: impl FnOnce(&Kds) -> Result<()> + Send + 'static,
    ) -> Result<bool> {
        let delay = self.inner.options.update_delay_ms;
        if phase == Phase::Apply || delay <= 0 {
            return Ok(false);
        }
        let now = self.now();
        let meta = catalog
            .stream_mut(name)
            .ok_or_else(|| self.not_found(name))?;
        meta.updated_ms = Some(now);
        let id = meta.id;
        catalog.save(&self.inner.dir)?;
        st.catalog = catalog;
        self.inner.pending.lock().insert(id);
        let kds = self.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(delay.unsigned_abs()));
            // A stream deleted meanwhile has no change left to make.
            let _ = change(&kds);
            kds.inner.pending.lock().remove(&id);
        });
        Ok(true)
    }

    /// Splits an open shard at `new_starting_hash_key` into two children.
    pub fn split_shard(
        &self,
        name: &str,
        shard_id: &str,
        new_starting_hash_key: u128,
    ) -> Result<()> {
        self.split_shard_at(name, shard_id, &new_starting_hash_key.to_string())
    }

    /// [`Kds::split_shard`] with the hash key as the request gave it: a
    /// decimal past 2^128 - 1 is out of the shard's range like any other.
    pub fn split_shard_at(
        &self,
        name: &str,
        shard_id: &str,
        new_starting_hash_key: &str,
    ) -> Result<()> {
        let index = self.resolve_shard_id(name, shard_id)?;
        self.split(name, index, new_starting_hash_key, Phase::Request)
    }

    pub(super) fn split(
        &self,
        name: &str,
        index: u32,
        new_starting_hash_key: &str,
        phase: Phase,
    ) -> Result<()> {
        let now = self.now();
        let mut st = self.inner.state.write();
        let mut catalog = st.catalog.clone();
        let meta = self.active_stream(&mut catalog, name, phase)?;
        let parent = self.find_open_shard(meta, index)?;
        let key = ids::parse_hash_key(new_starting_hash_key)
            .filter(|k| *k > parent.start_hash.saturating_add(1) && *k < parent.end_hash);
        let Some(new_starting_hash_key) = key else {
            return Err(KdsError::invalid(format!(
                "NewStartingHashKey {new_starting_hash_key} used in SplitShard() on shard {} in stream {name} under account {} is not both greater than one plus the shard's StartingHashKey {} and less than the shard's EndingHashKey {}.",
                ids::shard_id(parent.index),
                self.account(),
                parent.start_hash,
                parent.end_hash
            )));
        };
        self.check_shard_limit(&st.catalog, 1)?;
        let (stream, key) = (name.to_owned(), new_starting_hash_key.to_string());
        if self.defer(phase, &mut st, catalog.clone(), name, move |kds| {
            kds.split(&stream, index, &key, Phase::Apply)
        })? {
            return Ok(());
        }
        let meta = self.active_stream(&mut catalog, name, phase)?;
        let next = meta.shards.iter().map(|s| s.index + 1).max().unwrap_or(0);
        let mut new = Vec::new();
        for (i, (start, end)) in [
            (parent.start_hash, new_starting_hash_key - 1),
            (new_starting_hash_key, parent.end_hash),
        ]
        .into_iter()
        .enumerate()
        {
            let index = next + i as u32;
            self.open_child(meta, index, &mut new)?;
            meta.shards.push(ShardMeta {
                index,
                parent: Some(parent.index),
                adjacent_parent: None,
                start_hash: start,
                end_hash: end,
                closed_at: None,
                closed_ms: None,
                created_ms: Some(now),
            });
        }
        self.close_shard(&st.shards, meta, parent.index, now);
        let id = meta.id;
        self.finish_reshard(&mut st, catalog, id, new, phase, now)
    }

    /// Merges two open shards with adjacent hash-key ranges into one child.
    pub fn merge_shards(&self, name: &str, shard_id: &str, adjacent_shard_id: &str) -> Result<()> {
        let ia = self.resolve_shard_id(name, shard_id)?;
        let ib = self.resolve_shard_id(name, adjacent_shard_id)?;
        self.merge(name, ia, ib, Phase::Request)
    }

    pub(super) fn merge(&self, name: &str, ia: u32, ib: u32, phase: Phase) -> Result<()> {
        let now = self.now();
        let mut st = self.inner.state.write();
        let mut catalog = st.catalog.clone();
        let meta = self.active_stream(&mut catalog, name, phase)?;
        let a = self.find_open_shard(meta, ia)?;
        let b = self.find_open_shard(meta, ib)?;
        // The adjacent shard's range must follow the first one's.
        if a.end_hash.checked_add(1) != Some(b.start_hash) {
            return Err(KdsError::invalid(format!(
                "Shards {} and {} in stream {name} under account {} are not an adjacent pair of shards eligible for merging",
                ids::shard_id(a.index),
                ids::shard_id(b.index),
                self.account()
            )));
        }
        let stream = name.to_owned();
        if self.defer(phase, &mut st, catalog.clone(), name, move |kds| {
            kds.merge(&stream, ia, ib, Phase::Apply)
        })? {
            return Ok(());
        }
        let meta = self.active_stream(&mut catalog, name, phase)?;
        let index = meta.shards.iter().map(|s| s.index + 1).max().unwrap_or(0);
        let mut new = Vec::new();
        self.open_child(meta, index, &mut new)?;
        meta.shards.push(ShardMeta {
            index,
            parent: Some(a.index),
            adjacent_parent: Some(b.index),
            start_hash: a.start_hash.min(b.start_hash),
            end_hash: a.end_hash.max(b.end_hash),
            closed_at: None,
            closed_ms: None,
            created_ms: Some(now),
        });
        self.close_shard(&st.shards, meta, a.index, now);
        self.close_shard(&st.shards, meta, b.index, now);
        let id = meta.id;
        self.finish_reshard(&mut st, catalog, id, new, phase, now)
    }

    /// Replaces all open shards with `target` uniform shards (UNIFORM_SCALING).
    ///
    /// Each new shard names as parent the old shard holding its first hash
    /// key, and as adjacent parent the old shard holding its last, if different.
    /// Returns the open shard count before.
    pub fn update_shard_count(&self, name: &str, target: u32) -> Result<u32> {
        self.scale(name, target, Phase::Request)
    }

    pub(super) fn scale(&self, name: &str, target: u32, phase: Phase) -> Result<u32> {
        let now = self.now();
        let mut st = self.inner.state.write();
        let mut catalog = st.catalog.clone();
        let current = {
            let meta = self.active_stream(&mut catalog, name, phase)?;
            meta.shards.iter().filter(|s| s.is_open()).count() as u32
        };
        let account = self.account();
        if target > current * 2 {
            return Err(KdsError::invalid(format!(
                "UpdateShardCount cannot scale up over double your current open shard count. Current open shard count: {current} Target shard count: {target}"
            )));
        }
        if target * 2 < current {
            return Err(KdsError::invalid(format!(
                "UpdateShardCount cannot scale down below half your current open shard count. Current open shard count: {current} Target shard count: {target}"
            )));
        }
        self.check_shard_limit(&catalog, target.saturating_sub(current))?;
        let _ = account;
        if target == current {
            return Ok(current);
        }
        let stream = name.to_owned();
        if self.defer(phase, &mut st, catalog.clone(), name, move |kds| {
            kds.scale(&stream, target, Phase::Apply).map(|_| ())
        })? {
            return Ok(current);
        }
        let meta = catalog
            .stream_mut(name)
            .ok_or_else(|| self.not_found(name))?;
        let old: Vec<ShardMeta> = meta
            .shards
            .iter()
            .filter(|s| s.is_open())
            .cloned()
            .collect();
        let holder = |key: u128| {
            old.iter()
                .find(|s| s.start_hash <= key && key <= s.end_hash)
                .map(|s| s.index)
        };
        let first = meta.shards.iter().map(|s| s.index + 1).max().unwrap_or(0);
        let mut new = Vec::new();
        for (index, (start, end)) in (first..).zip(ids::uniform_ranges(target)) {
            let parent = holder(start);
            let last = holder(end);
            self.open_child(meta, index, &mut new)?;
            meta.shards.push(ShardMeta {
                index,
                parent,
                adjacent_parent: last.filter(|l| Some(*l) != parent),
                start_hash: start,
                end_hash: end,
                closed_at: None,
                closed_ms: None,
                created_ms: Some(now),
            });
        }
        for s in &old {
            self.close_shard(&st.shards, meta, s.index, now);
        }
        let id = meta.id;
        self.finish_reshard(&mut st, catalog, id, new, phase, now)?;
        Ok(current)
    }
}
