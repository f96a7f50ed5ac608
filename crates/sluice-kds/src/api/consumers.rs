//! Enhanced fan-out: the consumer operations and SubscribeToShard as an
//! AWS event stream (JSON or CBOR payloads).

use super::input::Input;
use super::records::records_output_json;
use super::*;

/// How long after a SubscribeToShard the same consumer may subscribe to the same shard again, ms.
const RESUBSCRIBE_MS: i64 = 5_000;

/// How long one SubscribeToShard call lasts, ms.
pub(super) const SUBSCRIPTION_MS: i64 = 5 * 60 * 1000;

impl KdsApi {
    /// Checks a SubscribeToShard request (JSON, or CBOR when `is_cbor`)
    /// and finds where it starts.
    pub(super) fn subscribe_start(&self, body: &[u8], is_cbor: bool) -> ApiResult<ShardIterator> {
        let parsed: Value = if is_cbor {
            cbor::decode(body).ok_or_else(|| ApiError::bare("SerializationException"))?
        } else {
            serde_json::from_slice(body).map_err(|_| ApiError::bare("SerializationException"))?
        };
        let Value::Object(obj) = parsed else {
            return Err(ApiError::bare("SerializationException"));
        };
        let input = &mut Input::new(&obj);
        let carn = input.string("ConsumerARN")?;
        let shard = input.string("ShardId")?;
        input.required("ConsumerARN", carn);
        input.length("ConsumerARN", carn, 1, 2048);
        input.pattern("ConsumerARN", carn, is_consumer_arn, CONSUMER_ARN_PATTERN);
        input.required("ShardId", shard);
        input.length("ShardId", shard, 1, 128);
        input.pattern("ShardId", shard, is_name, STREAM_NAME_PATTERN);
        let start = match input.structure("StartingPosition")? {
            Some(m) => {
                let mut sub = Input::nested(m, "startingPosition.".into());
                let kind = sub.string("Type")?;
                let seq = sub.string("SequenceNumber")?;
                let ts = sub.timestamp("Timestamp")?;
                sub.required("Type", kind);
                sub.enumeration(
                    "Type",
                    kind,
                    &[
                        "AT_SEQUENCE_NUMBER",
                        "AFTER_SEQUENCE_NUMBER",
                        "TRIM_HORIZON",
                        "LATEST",
                        "AT_TIMESTAMP",
                    ],
                );
                sub.pattern(
                    "SequenceNumber",
                    seq,
                    |s| is_decimal(s, 129),
                    SEQUENCE_PATTERN,
                );
                input.errors.extend(sub.take_errors());
                Some((kind.unwrap_or_default(), seq, ts))
            }
            None => {
                input.fail("StartingPosition", None, "Member must not be null");
                None
            }
        };
        input.finish()?;
        let carn = carn.unwrap_or_default();
        let (stream, consumer, secs) = self.consumer_arn(carn)?;
        let c = self.kds.describe_consumer(&stream, &consumer, Some(secs))?;
        if c.status != "ACTIVE" {
            return Err(ApiError::new(
                "ResourceInUseException",
                format!(
                    "Consumer {carn} is not ACTIVE, instead in state {}.",
                    c.status
                ),
            ));
        }
        let stream = stream.as_str();
        let shard_index = crate::ids::parse_shard_id(shard.unwrap_or_default());
        if let Some(index) = shard_index {
            let now = self.kds.clock().now_ms();
            let mut subs = self.subscriptions.lock();
            subs.retain(|_, started| now - *started < RESUBSCRIBE_MS);
            let key = (carn.to_owned(), index);
            if subs.contains_key(&key) {
                return Err(ApiError::new(
                    "ResourceInUseException",
                    format!(
                        "Another active subscription exists for consumer {carn} on shard {}. Subscribe again at least 5 seconds after the last subscription started.",
                        crate::ids::shard_id(index)
                    ),
                ));
            }
            subs.insert(key, now);
        }
        let start = match start {
            Some(("TRIM_HORIZON", _, _)) => IteratorStart::TrimHorizon,
            Some(("LATEST", _, _)) => IteratorStart::Latest,
            Some(("AT_SEQUENCE_NUMBER", Some(s), _)) => IteratorStart::AtSequenceNumber(s.into()),
            Some(("AFTER_SEQUENCE_NUMBER", Some(s), _)) => {
                IteratorStart::AfterSequenceNumber(s.into())
            }
            Some(("AT_TIMESTAMP", _, Some(t))) => IteratorStart::AtTimestamp(t),
            Some((kind, _, _)) => {
                return Err(ApiError::invalid(format!(
                    "StartingPosition of type {kind} needs a SequenceNumber or Timestamp."
                )));
            }
            None => return Err(ApiError::invalid("StartingPosition is required.")),
        };
        Ok(self
            .kds
            .get_shard_iterator(stream, shard.unwrap_or_default(), &start)?)
    }

    /// SubscribeToShard: an event stream of SubscribeToShardEvent for five
    /// minutes (by the log's clock), or until the end of a closed shard.
    ///
    /// As AWS: the stream opens with an `initial-response` event; each
    /// SubscribeToShardEvent carries Records, MillisBehindLatest and
    /// ContinuationSequenceNumber, except the last one of a closed shard,
    /// which carries ChildShards and no ContinuationSequenceNumber (how the
    /// KCL and Flink tell the shard's end). Event payloads are in the
    /// request's protocol: JSON, or CBOR for `application/x-amz-cbor-1.1`
    /// (the Java SDK's), with `:content-type` to match.
    pub(super) async fn subscribe(&self, body: Bytes, is_cbor: bool) -> Response<ApiBody> {
        let content_type = if is_cbor {
            cbor::CONTENT_TYPE
        } else {
            front::JSON_CONTENT_TYPE
        };
        let encode = move |v: &Value| -> Vec<u8> {
            if is_cbor {
                cbor::encode(v)
            } else {
                v.to_string().into_bytes()
            }
        };
        let api = self.clone();
        let started =
            tokio::task::spawn_blocking(move || api.subscribe_start(&body, is_cbor)).await;
        let mut it = match started {
            Ok(Ok(it)) => it,
            Ok(Err(e)) => return self.response(e.status, Some(content_type), encode(&e.body())),
            Err(_) => {
                let e = ApiError {
                    kind: "InternalFailure",
                    message: None,
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                };
                return self.response(e.status, Some(content_type), encode(&e.body()));
            }
        };
        let (tx, body) = ChannelBody::new(8);
        let kds = self.kds.clone();
        tokio::spawn(async move {
            let initial = eventstream::event("initial-response", content_type, &encode(&json!({})));
            if tx.send(Bytes::from(initial)).await.is_err() {
                return;
            }
            let begin = kds.clock().now_ms();
            let mut last_sent = tokio::time::Instant::now();
            loop {
                let now = kds.clock().now_ms();
                if now - begin >= SUBSCRIPTION_MS {
                    break;
                }
                it.issued_ms = now;
                let (k, cur) = (kds.clone(), it.clone());
                let read = tokio::task::spawn_blocking(move || k.get_records(&cur, 10_000)).await;
                let out = match read {
                    Ok(Ok(out)) => out,
                    Ok(Err(e)) => {
                        let payload = encode(&json!({ "message": e.to_string() }));
                        let msg = eventstream::exception(e.aws_type(), content_type, &payload);
                        let _ = tx.send(Bytes::from(msg)).await;
                        break;
                    }
                    Err(_) => break,
                };
                let done = out.next_shard_iterator.is_none();
                let heartbeat = last_sent.elapsed() >= std::time::Duration::from_secs(1);
                if !out.records.is_empty() || done || heartbeat {
                    let mut payload = records_output_json(&out);
                    if let Value::Object(m) = &mut payload {
                        m.remove("NextShardIterator");
                        if !done {
                            let position = out
                                .next_shard_iterator
                                .as_ref()
                                .map_or(it.position, |n| n.position);
                            let continuation = out.records.last().map_or_else(
                                || kds.sequence_number_at(&it, position.saturating_sub(1)),
                                |r| r.sequence_number.clone(),
                            );
                            m.insert("ContinuationSequenceNumber".into(), json!(continuation));
                        }
                    }
                    let event = eventstream::event(
                        "SubscribeToShardEvent",
                        content_type,
                        &encode(&payload),
                    );
                    if tx.send(Bytes::from(event)).await.is_err() {
                        return;
                    }
                    last_sent = tokio::time::Instant::now();
                }
                if done {
                    break;
                }
                let idle = out.records.is_empty();
                if let Some(n) = out.next_shard_iterator {
                    it = n;
                }
                if idle {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        });
        let mut resp = self.response(StatusCode::OK, None, Vec::new());
        *resp.body_mut() = body.boxed();
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(eventstream::CONTENT_TYPE),
        );
        resp
    }
}

pub(super) fn consumer_json(c: &ConsumerDescription, with_stream: bool) -> Value {
    let mut v = json!({
        "ConsumerName": c.name,
        "ConsumerARN": c.arn,
        "ConsumerStatus": c.status,
        "ConsumerCreationTimestamp": epoch_seconds(c.created_ms),
    });
    if with_stream {
        v["StreamARN"] = json!(c.stream_arn);
    }
    v
}

impl KdsApi {
    /// StreamARN for the consumer operations (required), checked.
    pub(super) fn stream_arn_member(
        &self,
        input: &mut Input<'_>,
        required: bool,
    ) -> ApiResult<Option<String>> {
        let arn = input.string("StreamARN")?;
        if required {
            input.required("StreamARN", arn);
        }
        input.length("StreamARN", arn, 1, 2048);
        input.pattern("StreamARN", arn, is_stream_arn, STREAM_ARN_PATTERN);
        Ok(arn.map(|a| {
            self.kds
                .name_from_arn(a)
                .map_or_else(|| a.to_owned(), str::to_owned)
        }))
    }

    /// (stream, consumer, registration seconds from its ARN) from
    /// StreamARN + ConsumerName or ConsumerARN.
    pub(super) fn consumer_ref(
        &self,
        input: &mut Input<'_>,
    ) -> ApiResult<(String, String, Option<i64>)> {
        let stream = self.stream_arn_member(input, false)?;
        let name = input.string("ConsumerName")?;
        let arn = input.string("ConsumerARN")?;
        input.length("ConsumerName", name, 1, 128);
        input.pattern("ConsumerName", name, is_name, STREAM_NAME_PATTERN);
        input.length("ConsumerARN", arn, 1, 2048);
        input.pattern("ConsumerARN", arn, is_consumer_arn, CONSUMER_ARN_PATTERN);
        input.finish()?;
        if let Some(arn) = arn {
            let (s, c, secs) = self.consumer_arn(arn)?;
            return Ok((s, c, Some(secs)));
        }
        match (stream, name) {
            (Some(s), Some(n)) => Ok((s, n.to_owned(), None)),
            _ => Err(ApiError::invalid(
                "Either ConsumerARN or both StreamARN and ConsumerName must be provided.",
            )),
        }
    }

    /// A consumer ARN of this server's account and region, as (stream,
    /// consumer, registration seconds); ResourceNotFoundException for any other.
    pub(super) fn consumer_arn(&self, arn: &str) -> ApiResult<(String, String, i64)> {
        let (s, c, secs) = self.kds.parse_consumer_arn(arn).ok_or_else(|| {
            ApiError::new(
                "ResourceNotFoundException",
                format!("Consumer {arn} not found."),
            )
        })?;
        Ok((s.to_owned(), c.to_owned(), secs))
    }

    pub(super) fn register_consumer(&self, input: &mut Input<'_>) -> ApiResult {
        let stream = self.stream_arn_member(input, true)?;
        let name = input.string("ConsumerName")?;
        input.required("ConsumerName", name);
        input.length("ConsumerName", name, 1, 128);
        input.pattern("ConsumerName", name, is_name, STREAM_NAME_PATTERN);
        let tags = self.tag_map(input)?;
        if tags.as_ref().is_some_and(BTreeMap::is_empty) {
            input.fail(
                "Tags",
                Some("{}".into()),
                "Member must have length greater than or equal to 1",
            );
        }
        input.finish()?;
        let c = self.kds.register_consumer(
            &stream.unwrap_or_default(),
            name.unwrap_or_default(),
            tags.unwrap_or_default(),
        )?;
        Ok(json!({ "Consumer": consumer_json(&c, false) }))
    }

    pub(super) fn deregister_consumer(&self, input: &mut Input<'_>) -> ApiResult {
        let (stream, name, secs) = self.consumer_ref(input)?;
        self.kds.deregister_consumer(&stream, &name, secs)?;
        Ok(NO_CONTENT)
    }

    pub(super) fn describe_consumer(&self, input: &mut Input<'_>) -> ApiResult {
        let (stream, name, secs) = self.consumer_ref(input)?;
        let c = self.kds.describe_consumer(&stream, &name, secs)?;
        Ok(json!({ "ConsumerDescription": consumer_json(&c, true) }))
    }

    pub(super) fn list_consumers(&self, input: &mut Input<'_>) -> ApiResult {
        let stream = self.stream_arn_member(input, true)?;
        let token = input.string("NextToken")?;
        let max = input.int("MaxResults")?;
        input.timestamp("StreamCreationTimestamp")?;
        input.range("MaxResults", max, 1, 10_000);
        input.length("NextToken", token, 1, 1048576);
        input.finish()?;
        let stream = stream.unwrap_or_default();
        let now = self.kds.clock().now_ms();
        let after = token
            .map(|t| decode_token(t, "consumers", now))
            .transpose()?;
        let all = self.kds.list_consumers(&stream)?;
        let rest: Vec<&ConsumerDescription> = all
            .iter()
            .skip_while(|c| after.as_deref().is_some_and(|a| c.name != a))
            .skip(usize::from(after.is_some()))
            .collect();
        let limit = max.unwrap_or(100) as usize;
        let page: Vec<Value> = rest
            .iter()
            .take(limit)
            .map(|c| consumer_json(c, false))
            .collect();
        let mut out = json!({ "Consumers": page });
        if rest.len() > limit
            && let Some(last) = rest.get(limit - 1)
        {
            out["NextToken"] = json!(encode_token("consumers", now, &last.name));
        }
        Ok(out)
    }
}
