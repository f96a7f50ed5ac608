"""DescribeStream."""

import time

import kds
from kds import eq, check, null_error, name_errors, max_len_error, min_value_error, max_value_error

OP = "DescribeStream"

globals().update(kds.type_tests(OP, [("StreamName", "String"), ("Limit", "Integer"),
                                     ("ExclusiveStartShardId", "String")]))


def test_no_stream_name():
    kds.expect_validation(OP, {}, [null_error("streamName")])


def test_empty_members():
    kds.expect_validation(OP, {"StreamName": "", "Limit": 0, "ExclusiveStartShardId": ""},
                          [min_value_error("limit", 0, 1)] + name_errors("exclusiveStartShardId", "")
                          + name_errors("streamName", ""))


def test_long_members():
    n = kds.LONG_NAME
    kds.expect_validation(OP, {"StreamName": n, "Limit": 100000, "ExclusiveStartShardId": n},
                          [max_value_error("limit", 100000, 10000), max_len_error("exclusiveStartShardId", n, 128),
                           max_len_error("streamName", n, 128)])


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_not_found(OP, {"StreamName": name}, kds.stream_not_found(name))


def test_describes_stream():
    name = kds.shared(__name__)
    d = kds.ok(OP, {"StreamName": name})
    eq(list(d), ["StreamDescription"], "keys")
    d = d["StreamDescription"]
    t = d.pop("StreamCreationTimestamp")
    check(1514764800 < t < time.time() + 1, f"StreamCreationTimestamp {t}")
    for s in d["Shards"]:
        kds.seq_hex(s["SequenceNumberRange"]["StartingSequenceNumber"])
    d["Shards"] = kds.shards_of(d)
    eq(d, {"StreamStatus": "ACTIVE", "StreamName": name, "StreamARN": kds.arn(name),
           "RetentionPeriodHours": 24, "EncryptionType": "NONE",
           "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
           "StreamModeDetails": {"StreamMode": "PROVISIONED"}, "HasMoreShards": False,
           "Shards": kds.three_shards()}, "StreamDescription")


def test_limit_and_exclusive_start_shard_id():
    name = kds.shared(__name__)
    d = kds.ok(OP, {"StreamName": name, "Limit": 1})["StreamDescription"]
    eq([s["ShardId"] for s in d["Shards"]], ["shardId-000000000000"], "shards with Limit 1")
    eq(d["HasMoreShards"], True, "HasMoreShards")
    d = kds.ok(OP, {"StreamName": name, "ExclusiveStartShardId": "shardId-000000000001"})["StreamDescription"]
    eq([s["ShardId"] for s in d["Shards"]], ["shardId-000000000002"], "shards after shardId-000000000001")
    eq(d["HasMoreShards"], False, "HasMoreShards")


def test_boto3_describe_by_arn():
    name = kds.shared(__name__)
    d = kds.boto().describe_stream(StreamARN=kds.arn(name))["StreamDescription"]
    eq(d["StreamName"], name, "StreamName")
