"""DescribeStreamSummary."""

import time

import kds
from kds import eq, check, null_error, name_errors, max_len_error

OP = "DescribeStreamSummary"

globals().update(kds.type_tests(OP, [("StreamName", "String")]))


def test_no_stream_name():
    kds.expect_validation(OP, {}, [null_error("streamName")])


def test_empty_stream_name():
    kds.expect_validation(OP, {"StreamName": ""}, name_errors("streamName", ""))


def test_long_stream_name():
    kds.expect_validation(OP, {"StreamName": kds.LONG_NAME}, [max_len_error("streamName", kds.LONG_NAME, 128)])


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_not_found(OP, {"StreamName": name}, kds.stream_not_found(name))


def test_describes_summary():
    name = kds.shared(__name__)
    body = kds.ok(OP, {"StreamName": name})
    eq(list(body), ["StreamDescriptionSummary"], "keys")
    s = body["StreamDescriptionSummary"]
    t = s.pop("StreamCreationTimestamp")
    check(0 < t < time.time() + 1, f"StreamCreationTimestamp {t}")
    # AWS now also answers StreamModeDetails (botocore model); kinesalite predates it.
    mode = s.pop("StreamModeDetails", None)
    check(mode in (None, {"StreamMode": "PROVISIONED"}), f"StreamModeDetails {mode!r}")
    eq(s, {"StreamStatus": "ACTIVE", "StreamName": name, "StreamARN": kds.arn(name),
           "RetentionPeriodHours": 24, "EncryptionType": "NONE",
           "EnhancedMonitoring": [{"ShardLevelMetrics": []}], "OpenShardCount": 3, "ConsumerCount": 0},
       "StreamDescriptionSummary")
