"""CreateStream."""

import time

import kds
from kds import call, eq, check, null_error, name_errors, max_len_error, min_value_error, max_value_error

OP = "CreateStream"

globals().update(kds.type_tests(OP, [("StreamName", "String"), ("ShardCount", "Integer"),
                                     ("Tags", "Map"), ("StreamModeDetails", "Structure")]))


def test_no_stream_name():
    # ShardCount is optional since on-demand streams (botocore model);
    # kinesalite (2019) also listed 'shardCount' here.
    kds.expect_validation(OP, {}, [null_error("streamName")])


def test_empty_stream_name_and_zero_shards():
    kds.expect_validation(OP, {"StreamName": "", "ShardCount": 0},
                          [min_value_error("shardCount", 0, 1)] + name_errors("streamName", ""))


def test_long_stream_name_and_too_many_shards():
    # A JSON number past 2^31-1 is truncated to Integer.MAX_VALUE first.
    kds.expect_validation(OP, {"StreamName": kds.LONG_NAME, "ShardCount": 100000000000},
                          [max_value_error("shardCount", 2147483647, 100000),
                           max_len_error("streamName", kds.LONG_NAME, 128)])


def test_bad_characters_in_stream_name():
    kds.expect_validation(OP, {"StreamName": "a/b", "ShardCount": 1},
                          [kds.pattern_error("streamName", "a/b", "[a-zA-Z0-9_.-]+")])


def test_shard_limit_exceeded():
    current = kds.open_shard_total()
    extra = kds.SHARD_LIMIT - current + 1
    kds.expect_limit(OP, {"StreamName": kds.unique_name(), "ShardCount": extra},
                     kds.limit_message(current, extra))


def test_stream_already_exists():
    name = kds.shared(__name__)
    kds.expect_in_use(OP, {"StreamName": name, "ShardCount": 1},
                      f"Stream {name} under account {kds.ACCOUNT} already exists.")


def test_create_answers_empty_body_and_describes_three_shards():
    name = kds.unique_name()
    before = time.time()
    kds.expect_empty_ok(call(OP, {"StreamName": name, "ShardCount": 3}))
    try:
        kds.wait_active(name)
        d = kds.ok("DescribeStream", {"StreamName": name})["StreamDescription"]
        t = d.pop("StreamCreationTimestamp")
        check(before - 10 < t < time.time() + 10, f"StreamCreationTimestamp {t}")
        starts = [s["SequenceNumberRange"]["StartingSequenceNumber"] for s in d["Shards"]]
        for s in starts:
            kds.seq_hex(s)
        # Shard starting sequence numbers are 2^144 + ... apart: the shard index digit.
        eq(int(starts[1]) - int(starts[0]), 22300745198530623141535718272648361505980432, "shard 1 - shard 0 start")
        eq(int(starts[2]) - int(starts[1]), 22300745198530623141535718272648361505980432, "shard 2 - shard 1 start")
        d["Shards"] = kds.shards_of(d)
        eq(d, {"StreamStatus": "ACTIVE", "StreamName": name, "StreamARN": kds.arn(name),
               "RetentionPeriodHours": 24, "EncryptionType": "NONE",
               "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
           "StreamModeDetails": {"StreamMode": "PROVISIONED"}, "HasMoreShards": False,
               "Shards": kds.three_shards()}, "StreamDescription")
        r = kds.ok("ListStreams", {"Limit": 1})
        eq(len(r["StreamNames"]), 1, "StreamNames with Limit 1")
        eq(r["HasMoreStreams"], True, "HasMoreStreams")
    finally:
        kds.delete_quietly(name)


def test_creating_state():
    ep = kds.delayed()
    name = kds.unique_name()
    kds.expect_empty_ok(call(OP, {"StreamName": name, "ShardCount": 3}, ep))
    try:
        d = kds.ok("DescribeStream", {"StreamName": name}, ep)["StreamDescription"]
        d.pop("StreamCreationTimestamp")
        eq(d, {"StreamStatus": "CREATING", "StreamName": name, "StreamARN": kds.arn(name),
               "RetentionPeriodHours": 24, "EncryptionType": "NONE",
               "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
           "StreamModeDetails": {"StreamMode": "PROVISIONED"}, "HasMoreShards": False,
               "Shards": []}, "StreamDescription while CREATING")
        acct = kds.ACCOUNT
        kds.expect(call("GetShardIterator", {"StreamName": name, "ShardId": "shardId-0", "ShardIteratorType": "LATEST"}, ep),
                   400, "ResourceNotFoundException",
                   f"Shard shardId-000000000000 in stream {name} under account {acct} does not exist")
        kds.expect_in_use("MergeShards", {"StreamName": name, "ShardToMerge": "shardId-0",
                                          "AdjacentShardToMerge": "shardId-1"}, kds.in_state(name, "CREATING"), ep)
        kds.expect(call("PutRecord", {"StreamName": name, "PartitionKey": "a", "Data": ""}, ep),
                   400, "ResourceNotFoundException", kds.stream_not_found(name))
        kds.expect(call("PutRecords", {"StreamName": name, "Records": [{"PartitionKey": "a", "Data": ""}]}, ep),
                   400, "ResourceNotFoundException", kds.stream_not_found(name))
        kds.expect_in_use("SplitShard", {"StreamName": name, "ShardToSplit": "shardId-0",
                                         "NewStartingHashKey": "2"}, kds.in_state(name, "CREATING"), ep)
        kds.wait_active(name, ep)
    finally:
        kds.delete_quietly(name, ep)


def test_boto3_create_on_demand():
    k = kds.boto()
    name = kds.unique_name()
    k.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    try:
        kds.wait_active(name)
        s = k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        eq(s["StreamModeDetails"], {"StreamMode": "ON_DEMAND"}, "StreamModeDetails")
        eq(s["OpenShardCount"], 4, "OpenShardCount of a new on-demand stream")
    finally:
        kds.delete_quietly(name)
