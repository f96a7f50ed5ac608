"""MergeShards."""

import time

import kds
from kds import call, eq, check, null_error, name_errors, max_len_error

OP = "MergeShards"
ACCT = kds.ACCOUNT

globals().update(kds.type_tests(OP, [("AdjacentShardToMerge", "String"), ("ShardToMerge", "String"),
                                     ("StreamName", "String")]))


def S():
    return kds.shared(__name__)


def test_no_members():
    kds.expect_validation(OP, {}, [null_error("shardToMerge"), null_error("adjacentShardToMerge"), null_error("streamName")])


def test_empty_members():
    kds.expect_validation(OP, {"StreamName": "", "ShardToMerge": "", "AdjacentShardToMerge": ""},
                          name_errors("shardToMerge", "") + name_errors("adjacentShardToMerge", "")
                          + name_errors("streamName", ""))


def test_long_members():
    n = kds.LONG_NAME
    kds.expect_validation(OP, {"StreamName": n, "ShardToMerge": n, "AdjacentShardToMerge": n},
                          [max_len_error("shardToMerge", n, 128), max_len_error("adjacentShardToMerge", n, 128),
                           max_len_error("streamName", n, 128)])


PARSABLE = ["2147483647", "x-2147483647", "a-00002147483647", "-00002147483647"]
UNPARSABLE = ["2147483648", "shardId-002147483648", "ABKLFD8", "2.14E4"]


def test_unknown_stream_with_parsable_shard_ids():
    for member, other in (("ShardToMerge", "AdjacentShardToMerge"), ("AdjacentShardToMerge", "ShardToMerge")):
        for shard in PARSABLE:
            name = kds.unique_name()
            kds.expect_not_found(OP, {"StreamName": name, member: shard, other: "x-0"}, kds.stream_not_found(name))


def test_unknown_stream_with_unparsable_shard_ids():
    for member, other in (("ShardToMerge", "AdjacentShardToMerge"), ("AdjacentShardToMerge", "ShardToMerge")):
        for shard in UNPARSABLE:
            name = kds.unique_name()
            kds.expect_not_found(OP, {"StreamName": name, member: shard, other: "x-0"},
                                 f"Could not find shard {shard} in stream {name} under account {ACCT}.")


def test_known_stream_unknown_shard():
    for member, other in (("ShardToMerge", "AdjacentShardToMerge"), ("AdjacentShardToMerge", "ShardToMerge")):
        kds.expect_not_found(OP, {"StreamName": S(), member: "shardId-5", other: "x-0"},
                             f"Could not find shard shardId-000000000005 in stream {S()} under account {ACCT}.")


def test_shards_not_adjacent():
    kds.expect_invalid(OP, {"StreamName": S(), "ShardToMerge": "x-0", "AdjacentShardToMerge": "y-2"},
                       f"Shards shardId-000000000000 and shardId-000000000002 in stream {S()} under account {ACCT} "
                       "are not an adjacent pair of shards eligible for merging")


def test_adjacency_inverted():
    kds.expect_invalid(OP, {"StreamName": S(), "ShardToMerge": "x-1", "AdjacentShardToMerge": "y-0"},
                       f"Shards shardId-000000000001 and shardId-000000000000 in stream {S()} under account {ACCT} "
                       "are not an adjacent pair of shards eligible for merging")


def test_standard_merge():
    created = time.time()
    name = kds.create_and_wait(shards=3)
    try:
        kds.expect_empty_ok(call(OP, {"StreamName": name, "ShardToMerge": kds.unique_name() + "-0",
                                      "AdjacentShardToMerge": kds.unique_name() + "-1"}))
        kds.wait_active(name)
        d = kds.ok("DescribeStream", {"StreamName": name})["StreamDescription"]
        t = d.pop("StreamCreationTimestamp")
        check(created - 10 < t < created + 10, f"StreamCreationTimestamp {t}")
        ranges = [s["SequenceNumberRange"] for s in d["Shards"]]
        for i in (0, 1):
            eq(sorted(ranges[i]), ["EndingSequenceNumber", "StartingSequenceNumber"], f"parent {i}'s range keys")
            eq(kds.seq_hex(ranges[i]["EndingSequenceNumber"])[11:27], "7fffffffffffffff", f"parent {i}'s ending index")
        eq(kds.seq_time(ranges[0]["EndingSequenceNumber"]), kds.seq_time(ranges[1]["EndingSequenceNumber"]),
           "parents' ending times")
        eq(sorted(ranges[2]), ["StartingSequenceNumber"], "open shard 2's range keys")
        eq(sorted(ranges[3]), ["StartingSequenceNumber"], "child's range keys")
        kds.assert_sequence_number(ranges[3]["StartingSequenceNumber"], 3, created * 1000)
        eq(kds.seq_index(ranges[3]["StartingSequenceNumber"]), 0, "child's starting sequence index")
        d["Shards"] = kds.shards_of(d)
        want = kds.three_shards() + [{
            "ShardId": "shardId-000000000003", "ParentShardId": "shardId-000000000000",
            "AdjacentParentShardId": "shardId-000000000001", "SequenceNumberRange": {},
            "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": kds.SHARD_RANGES[1][1]}}]
        eq(d, {"StreamStatus": "ACTIVE", "StreamName": name, "StreamARN": kds.arn(name), "RetentionPeriodHours": 24,
               "EncryptionType": "NONE", "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
           "StreamModeDetails": {"StreamMode": "PROVISIONED"}, "HasMoreShards": False,
               "Shards": want}, "StreamDescription after merge")
        key = kds.SHARD_RANGES[1][0]
        deadline = time.time() + 3
        while True:
            put = kds.ok("PutRecord", {"StreamName": name, "PartitionKey": "a", "Data": "", "ExplicitHashKey": key})
            if put["ShardId"] == "shardId-000000000003" or time.time() > deadline:
                break
            time.sleep(0.1)
        eq(put["ShardId"], "shardId-000000000003", "shard of a put after the merge")
        kds.assert_sequence_number(put["SequenceNumber"], 3, created * 1000)
    finally:
        kds.delete_quietly(name)


def test_updating_state():
    ep = kds.delayed()
    name = kds.create_and_wait(shards=3, endpoint=ep)
    try:
        kds.expect_empty_ok(call(OP, {"StreamName": name, "ShardToMerge": "shard-0", "AdjacentShardToMerge": "shard-1"}, ep))
        d = kds.ok("DescribeStream", {"StreamName": name}, ep)["StreamDescription"]
        d.pop("StreamCreationTimestamp")
        d["Shards"] = kds.shards_of(d)
        eq(d, {"StreamStatus": "UPDATING", "StreamName": name, "StreamARN": kds.arn(name), "RetentionPeriodHours": 24,
               "EncryptionType": "NONE", "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
           "StreamModeDetails": {"StreamMode": "PROVISIONED"}, "HasMoreShards": False,
               "Shards": kds.three_shards()}, "StreamDescription while UPDATING")
        kds.expect_in_use(OP, {"StreamName": name, "ShardToMerge": "shard-1", "AdjacentShardToMerge": "shard-2"},
                          kds.in_state(name, "UPDATING"), ep)
        put = kds.ok("PutRecord", {"StreamName": name, "PartitionKey": "a", "Data": "",
                                   "ExplicitHashKey": kds.SHARD_RANGES[1][0]}, ep)
        eq(put["ShardId"], "shardId-000000000001", "shard of a put while UPDATING")
        kds.wait_active(name, ep)
        eq(len(kds.ok("DescribeStream", {"StreamName": name}, ep)["StreamDescription"]["Shards"]), 4, "shards after")
    finally:
        kds.delete_quietly(name, ep)
