//! Enhanced fan-out consumers: registration (CREATING, then ACTIVE after
//! [`KdsOptions::create_delay_ms`]), deregistration (DELETING for
//! [`KdsOptions::delete_delay_ms`]), and their ARNs, which name the
//! registration time so an ARN of an earlier consumer of the same name is
//! not taken for the current one.

use super::*;

/// Consumers a stream may have.
const MAX_CONSUMERS: usize = 20;
/// Consumers that may be CREATING at once on a stream.
const MAX_CREATING: usize = 5;

impl Kds {
    fn consumer_status(&self, c: &ConsumerMeta, now: i64) -> &'static str {
        if c.deleted_ms.is_some() {
            "DELETING"
        } else if now < c.created_ms + self.inner.options.create_delay_ms {
            "CREATING"
        } else {
            "ACTIVE"
        }
    }

    /// True once a deregistered consumer's DELETING time is over.
    fn consumer_gone(&self, c: &ConsumerMeta, now: i64) -> bool {
        c.deleted_ms
            .is_some_and(|d| now >= d + self.inner.options.delete_delay_ms)
    }

    fn consumer_description(
        &self,
        stream: &str,
        c: &ConsumerMeta,
        now: i64,
    ) -> ConsumerDescription {
        let stream_arn = self.stream_arn(stream);
        ConsumerDescription {
            name: c.name.clone(),
            arn: format!("{stream_arn}/consumer/{}:{}", c.name, c.created_ms / 1000),
            created_ms: c.created_ms,
            stream_arn,
            status: self.consumer_status(c, now),
        }
    }

    /// (stream name, consumer name, registration epoch seconds) of a consumer ARN.
    pub fn parse_consumer_arn<'a>(&self, arn: &'a str) -> Option<(&'a str, &'a str, i64)> {
        let rest = self.name_from_arn(arn)?;
        let (stream, consumer) = rest.split_once("/consumer/")?;
        let (name, secs) = consumer.rsplit_once(':')?;
        Some((stream, name, secs.parse().ok()?))
    }

    fn consumer_not_found(&self, stream: &str, name: &str) -> KdsError {
        KdsError::ConsumerNotFound {
            consumer: name.to_owned(),
            stream: stream.to_owned(),
            account: self.account(),
        }
    }

    /// Registers an enhanced fan-out consumer: at most 20 per stream, at
    /// most 5 CREATING at once, on an ACTIVE stream. Answered CREATING,
    /// as AWS answers.
    pub fn register_consumer(
        &self,
        stream: &str,
        name: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<ConsumerDescription> {
        let now = self.now();
        let meta = self.update_stream(stream, |meta, _| {
            let status = self.status_at(meta, now);
            if status != "ACTIVE" && status != "UPDATING" {
                return Err(KdsError::StreamNotActive {
                    stream: stream.to_owned(),
                    account: self.account(),
                    status: status.to_owned(),
                });
            }
            meta.consumers.retain(|c| !self.consumer_gone(c, now));
            if meta.consumers.iter().any(|c| c.name == name) {
                return Err(KdsError::ConsumerExists {
                    consumer: name.to_owned(),
                    stream: stream.to_owned(),
                    account: self.account(),
                });
            }
            if meta.consumers.len() >= MAX_CONSUMERS {
                return Err(KdsError::LimitExceeded {
                    message: format!(
                        "Consumer limit of {MAX_CONSUMERS} for stream {stream} under account {} exceeded.",
                        self.account()
                    ),
                });
            }
            let creating = meta
                .consumers
                .iter()
                .filter(|c| self.consumer_status(c, now) == "CREATING")
                .count();
            if creating >= MAX_CREATING {
                return Err(KdsError::LimitExceeded {
                    message: format!(
                        "Only {MAX_CREATING} consumers of stream {stream} under account {} can be CREATING at a time.",
                        self.account()
                    ),
                });
            }
            let c = ConsumerMeta {
                name: name.to_owned(),
                created_ms: now,
                deleted_ms: None,
                tags,
            };
            meta.consumers.push(c.clone());
            Ok(c)
        })?;
        let mut d = self.consumer_description(stream, &meta, now);
        d.status = "CREATING";
        Ok(d)
    }

    /// Deregisters a consumer, given by name or by name and the
    /// registration seconds its ARN carries; it is DELETING for
    /// [`KdsOptions::delete_delay_ms`], then gone.
    pub fn deregister_consumer(
        &self,
        stream: &str,
        name: &str,
        created_secs: Option<i64>,
    ) -> Result<()> {
        let now = self.now();
        let delay = self.inner.options.delete_delay_ms;
        self.update_stream(stream, |meta, _| {
            meta.consumers.retain(|c| !self.consumer_gone(c, now));
            let c = meta
                .consumers
                .iter_mut()
                .find(|c| {
                    c.name == name
                        && c.deleted_ms.is_none()
                        && created_secs.is_none_or(|s| s == c.created_ms / 1000)
                })
                .ok_or_else(|| self.consumer_not_found(stream, name))?;
            if delay > 0 {
                c.deleted_ms = Some(now);
            } else {
                meta.consumers.retain(|c| c.name != name);
            }
            Ok(())
        })
    }

    /// Describes a consumer (by name, or by name and its ARN's seconds).
    pub fn describe_consumer(
        &self,
        stream: &str,
        name: &str,
        created_secs: Option<i64>,
    ) -> Result<ConsumerDescription> {
        let now = self.now();
        let st = self.inner.state.read();
        let meta = st
            .catalog
            .stream(stream)
            .ok_or_else(|| self.not_found(stream))?;
        let c = meta
            .consumers
            .iter()
            .find(|c| {
                c.name == name
                    && !self.consumer_gone(c, now)
                    && created_secs.is_none_or(|s| s == c.created_ms / 1000)
            })
            .ok_or_else(|| self.consumer_not_found(stream, name))?;
        Ok(self.consumer_description(stream, c, now))
    }

    /// All consumers of a stream, in registration order.
    pub fn list_consumers(&self, stream: &str) -> Result<Vec<ConsumerDescription>> {
        let now = self.now();
        let st = self.inner.state.read();
        let meta = st
            .catalog
            .stream(stream)
            .ok_or_else(|| self.not_found(stream))?;
        Ok(meta
            .consumers
            .iter()
            .filter(|c| !self.consumer_gone(c, now))
            .map(|c| self.consumer_description(stream, c, now))
            .collect())
    }

    /// Changes a consumer's tags: adds `add`, then removes `remove`.
    /// Returns the tags it has then.
    pub fn tag_consumer(
        &self,
        stream: &str,
        name: &str,
        created_secs: i64,
        add: BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<BTreeMap<String, String>> {
        let now = self.now();
        self.update_stream(stream, |meta, _| {
            let c = meta
                .consumers
                .iter_mut()
                .find(|c| {
                    c.name == name
                        && !self.consumer_gone(c, now)
                        && c.created_ms / 1000 == created_secs
                })
                .ok_or_else(|| self.consumer_not_found(stream, name))?;
            let mut tags = c.tags.clone();
            tags.extend(add);
            for k in remove {
                tags.remove(k);
            }
            if tags.len() > MAX_TAGS {
                return Err(KdsError::invalid(format!(
                    "Failed to add tags to consumer {name} of stream {stream} under account {} because a given consumer cannot have more than {MAX_TAGS} tags associated with it.",
                    self.account()
                )));
            }
            c.tags = tags.clone();
            Ok(tags)
        })
    }
}
