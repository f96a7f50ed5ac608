"""UpdateShardCount. Constraints from botocore's model; the answer's keys
(StreamName, CurrentShardCount, TargetShardCount, StreamARN) from the model
and the API reference. The scale-up text is AWS's as quoted by AWS's own
CDK; the scale-down text is not established (type and status only)."""

import kds
from kds import call, eq, check, null_error, name_errors, max_len_error, min_value_error

OP = "UpdateShardCount"
ACCT = kds.ACCOUNT
SCALING = ["UNIFORM_SCALING"]

globals().update(kds.type_tests(OP, [("StreamName", "String"), ("TargetShardCount", "Integer"),
                                     ("ScalingType", "String"), ("StreamARN", "String")]))


def test_no_members():
    kds.expect_validation(OP, {}, [null_error("targetShardCount"), null_error("scalingType"), null_error("streamName")])


def test_empty_members():
    kds.expect_validation(OP, {"StreamName": "", "TargetShardCount": 0, "ScalingType": ""},
                          name_errors("streamName", "") + [min_value_error("targetShardCount", 0, 1),
                                                           kds.enum_error("scalingType", "", SCALING)])


def test_long_stream_name_and_bad_scaling_type():
    n = kds.LONG_NAME
    kds.expect_validation(OP, {"StreamName": n, "TargetShardCount": 1, "ScalingType": "FOO"},
                          [max_len_error("streamName", n, 128), kds.enum_error("scalingType", "FOO", SCALING)])


def test_bad_stream_arn():
    kds.expect_validation(OP, {"StreamARN": "abc", "TargetShardCount": 1, "ScalingType": "UNIFORM_SCALING"},
                          [kds.pattern_error("streamARN", "abc", kds.STREAM_ARN_PATTERN)])


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_not_found(OP, {"StreamName": name, "TargetShardCount": 1, "ScalingType": "UNIFORM_SCALING"},
                         kds.stream_not_found(name))


def test_scale_up_over_double():
    name = kds.create_and_wait(shards=1)
    try:
        kds.expect_invalid(OP, {"StreamName": name, "TargetShardCount": 3, "ScalingType": "UNIFORM_SCALING"},
                           "UpdateShardCount cannot scale up over double your current open shard count. "
                           "Current open shard count: 1 Target shard count: 3")
    finally:
        kds.delete_quietly(name)


def test_scale_down_below_half():
    name = kds.create_and_wait(shards=3)
    try:
        kds.expect_type_only(call(OP, {"StreamName": name, "TargetShardCount": 1, "ScalingType": "UNIFORM_SCALING"}),
                             400, "InvalidArgumentException")
    finally:
        kds.delete_quietly(name)


def open_shards(name, endpoint=None):
    shards = kds.ok("DescribeStream", {"StreamName": name}, endpoint)["StreamDescription"]["Shards"]
    return [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]


def check_cover(shards):
    """The open shards cover the hash key range once, without gaps."""
    ranges = sorted((int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
                    for s in shards)
    eq(ranges[0][0], 0, "first open shard's StartingHashKey")
    eq(ranges[-1][1], kds.HASH_MAX, "last open shard's EndingHashKey")
    for (a, b), (c, d) in zip(ranges, ranges[1:]):
        eq(c, b + 1, "adjacent open shards' hash key ranges")


def scale(name, frm, to, by_arn=False):
    data = {"TargetShardCount": to, "ScalingType": "UNIFORM_SCALING"}
    data.update({"StreamARN": kds.arn(name)} if by_arn else {"StreamName": name})
    body = kds.ok(OP, data)
    eq(body, {"StreamName": name, "StreamARN": kds.arn(name), "CurrentShardCount": frm, "TargetShardCount": to},
       "UpdateShardCount answer")
    kds.wait_active(name)
    shards = open_shards(name)
    eq(len(shards), to, "open shards after UpdateShardCount")
    check_cover(shards)
    eq(kds.ok("DescribeStreamSummary", {"StreamName": name})["StreamDescriptionSummary"]["OpenShardCount"], to,
       "OpenShardCount")


def test_scale_up_to_double():
    name = kds.create_and_wait(shards=3)
    try:
        scale(name, 3, 6)
    finally:
        kds.delete_quietly(name)


def test_scale_down_to_half_by_arn():
    name = kds.create_and_wait(shards=4)
    try:
        scale(name, 4, 2, by_arn=True)
    finally:
        kds.delete_quietly(name)


def test_scale_up_and_back():
    name = kds.create_and_wait(shards=2)
    try:
        scale(name, 2, 3)
        scale(name, 3, 2)
        put = kds.ok("PutRecord", {"StreamName": name, "PartitionKey": "a", "Data": ""})
        check(put["ShardId"] in [s["ShardId"] for s in open_shards(name)], f"put went to {put['ShardId']}, not an open shard")
    finally:
        kds.delete_quietly(name)


def test_updating_state():
    ep = kds.delayed()
    name = kds.create_and_wait(shards=2, endpoint=ep)
    try:
        body = kds.ok(OP, {"StreamName": name, "TargetShardCount": 4, "ScalingType": "UNIFORM_SCALING"}, ep)
        eq(body, {"StreamName": name, "StreamARN": kds.arn(name), "CurrentShardCount": 2, "TargetShardCount": 4},
           "UpdateShardCount answer")
        eq(kds.status_of(name, ep), "UPDATING", "status right after UpdateShardCount")
        eq(len(open_shards(name, ep)), 2, "open shards while UPDATING")
        kds.expect_in_use(OP, {"StreamName": name, "TargetShardCount": 3, "ScalingType": "UNIFORM_SCALING"},
                          kds.in_state(name, "UPDATING"), ep)
        put = kds.ok("PutRecord", {"StreamName": name, "PartitionKey": "a", "Data": ""}, ep)
        check(put["ShardId"] in ("shardId-000000000000", "shardId-000000000001"), f"put while UPDATING: {put}")
        kds.wait_active(name, ep)
        shards = open_shards(name, ep)
        eq(len(shards), 4, "open shards once ACTIVE")
        check_cover(shards)
    finally:
        kds.delete_quietly(name, ep)


def test_boto3_update_shard_count():
    name = kds.create_and_wait(shards=1)
    try:
        r = kds.boto().update_shard_count(StreamName=name, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
        eq((r["CurrentShardCount"], r["TargetShardCount"], r["StreamName"]), (1, 2, name), "boto3 answer")
    finally:
        kds.delete_quietly(name)
