//! Stream settings and resource tags: EnableEnhancedMonitoring,
//! DisableEnhancedMonitoring, UpdateStreamMode, and TagResource,
//! UntagResource and ListTagsForResource on a stream's ARN.

use super::input::Input;
use super::*;
use crate::settings::SHARD_LEVEL_METRICS;

const RESOURCE_ARN_PATTERN: &str = "arn:aws.*:kinesis:.*:\\d{12}:.*(stream|channel|queue)/\\S+";

/// `arn:aws.*:kinesis:.*:\d{12}:.*(stream|channel|queue)/\S+`.
fn is_resource_arn(s: &str) -> bool {
    let Some(tail) = after_account(s) else {
        return false;
    };
    ["stream/", "channel/", "queue/"].iter().any(|kind| {
        tail.match_indices(kind).any(|(i, _)| {
            let rest = &tail[i + kind.len()..];
            !rest.is_empty() && !rest.chars().any(char::is_whitespace)
        })
    })
}

impl KdsApi {
    pub(super) fn enhanced_monitoring(&self, input: &mut Input<'_>, enable: bool) -> ApiResult {
        let metrics = input.list("ShardLevelMetrics")?;
        let mut names = Vec::new();
        for m in metrics.into_iter().flatten() {
            match m {
                Value::String(s) => names.push(s.clone()),
                other => return Err(type_error("String", other)),
            }
        }
        let shown = || Some(format!("[{}]", names.join(", ")));
        match metrics {
            None => input.fail("ShardLevelMetrics", None, "Member must not be null"),
            Some(m) if m.is_empty() => input.fail(
                "ShardLevelMetrics",
                shown(),
                "Member must have length greater than or equal to 1",
            ),
            Some(m) if m.len() > 7 => input.fail(
                "ShardLevelMetrics",
                shown(),
                "Member must have length less than or equal to 7",
            ),
            _ => {}
        }
        let known = |n: &String| n == "ALL" || SHARD_LEVEL_METRICS.contains(&n.as_str());
        if !names.iter().all(known) {
            let set: Vec<&str> = SHARD_LEVEL_METRICS.into_iter().chain(["ALL"]).collect();
            input.fail(
                "ShardLevelMetrics",
                shown(),
                &format!(
                    "Member must satisfy constraint: [Member must satisfy enum value set: [{}]]",
                    set.join(", ")
                ),
            );
        }
        let name = self.need_stream(input)?;
        let (current, desired) = self.kds.set_enhanced_monitoring(&name, &names, enable)?;
        Ok(json!({
            "StreamName": name,
            "StreamARN": self.kds.stream_arn(&name),
            "CurrentShardLevelMetrics": current,
            "DesiredShardLevelMetrics": desired,
        }))
    }

    pub(super) fn update_stream_mode(&self, input: &mut Input<'_>) -> ApiResult {
        let stream = self.stream_arn_member(input, true)?;
        let mode = match input.structure("StreamModeDetails")? {
            Some(m) => {
                let mut sub = Input::nested(m, "streamModeDetails.".into());
                let mode = sub.string("StreamMode")?;
                sub.required("StreamMode", mode);
                sub.enumeration("StreamMode", mode, &["PROVISIONED", "ON_DEMAND"]);
                input.errors.extend(sub.take_errors());
                mode
            }
            None => {
                input.fail("StreamModeDetails", None, "Member must not be null");
                None
            }
        };
        input.finish()?;
        self.kds
            .set_stream_mode(&stream.unwrap_or_default(), mode.unwrap_or_default())?;
        Ok(NO_CONTENT)
    }

    /// The required ResourceARN member: a stream or one of its consumers.
    fn resource(&self, input: &mut Input<'_>) -> ApiResult<Resource> {
        let arn = input.string("ResourceARN")?;
        input.required("ResourceARN", arn);
        input.length("ResourceARN", arn, 1, 2048);
        input.pattern("ResourceARN", arn, is_resource_arn, RESOURCE_ARN_PATTERN);
        input.finish()?;
        let arn = arn.unwrap_or_default();
        if arn.contains("/consumer/") {
            let (stream, name, secs) = self.consumer_arn(arn)?;
            return Ok(Resource::Consumer(stream, name, secs));
        }
        self.kds
            .name_from_arn(arn)
            .map(|n| Resource::Stream(n.to_owned()))
            .ok_or_else(|| {
                ApiError::new(
                    "ResourceNotFoundException",
                    format!("Resource {arn} not found."),
                )
            })
    }

    /// Changes a resource's tags; returns them.
    fn retag(
        &self,
        resource: Resource,
        add: BTreeMap<String, String>,
        remove: &[String],
    ) -> ApiResult<BTreeMap<String, String>> {
        Ok(match resource {
            Resource::Stream(name) => {
                if !add.is_empty() {
                    self.kds.add_tags(&name, add)?;
                }
                if !remove.is_empty() {
                    self.kds.remove_tags(&name, remove)?;
                }
                self.kds.describe_stream(&name)?.tags
            }
            Resource::Consumer(stream, name, secs) => {
                self.kds.tag_consumer(&stream, &name, secs, add, remove)?
            }
        })
    }

    pub(super) fn tag_resource(&self, input: &mut Input<'_>) -> ApiResult {
        let tags = self.tags_member(input)?;
        let resource = self.resource(input)?;
        self.retag(resource, tags, &[])?;
        Ok(NO_CONTENT)
    }

    pub(super) fn untag_resource(&self, input: &mut Input<'_>) -> ApiResult {
        let keys = self.tag_keys_member(input)?;
        let resource = self.resource(input)?;
        self.retag(resource, BTreeMap::new(), &keys)?;
        Ok(NO_CONTENT)
    }

    pub(super) fn list_tags_for_resource(&self, input: &mut Input<'_>) -> ApiResult {
        let resource = self.resource(input)?;
        let tags: Vec<Value> = self
            .retag(resource, BTreeMap::new(), &[])?
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        Ok(json!({ "Tags": tags }))
    }
}

/// What a ResourceARN names.
enum Resource {
    Stream(String),
    /// Stream, consumer name, registration seconds.
    Consumer(String, String, i64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_arn_pattern() {
        assert!(is_resource_arn(
            "arn:aws:kinesis:us-east-1:123456789012:stream/s"
        ));
        assert!(is_resource_arn(
            "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1"
        ));
        assert!(!is_resource_arn("arn:aws:kinesis:us-east-1:1234:stream/s"));
        assert!(!is_resource_arn(
            "arn:aws:kinesis:us-east-1:123456789012:bucket/s"
        ));
        assert!(!is_resource_arn(
            "arn:aws:kinesis:us-east-1:123456789012:stream/"
        ));
    }
}
