"""SplitShard."""

import time

import kds
from kds import call, eq, check, null_error, name_errors, max_len_error, pattern_error

OP = "SplitShard"
ACCT = kds.ACCOUNT
FULL = "340282366920938463463374607431768211455"

globals().update(kds.type_tests(OP, [("NewStartingHashKey", "String"), ("ShardToSplit", "String"),
                                     ("StreamName", "String")]))


def S():
    return kds.shared(__name__)


def test_no_members():
    kds.expect_validation(OP, {}, [null_error("newStartingHashKey"), null_error("streamName"), null_error("shardToSplit")])


def test_empty_members():
    kds.expect_validation(OP, {"StreamName": "", "ShardToSplit": "", "NewStartingHashKey": ""},
                          [pattern_error("newStartingHashKey", "", kds.HASH_PATTERN)] + name_errors("streamName", "")
                          + name_errors("shardToSplit", ""))


def test_long_members():
    n = kds.LONG_NAME
    kds.expect_validation(OP, {"StreamName": n, "ShardToSplit": n, "NewStartingHashKey": "0"},
                          [max_len_error("streamName", n, 128), max_len_error("shardToSplit", n, 128)])


def test_unknown_stream_with_parsable_shard_ids():
    for shard in ["2147483647", kds.unique_name() + "-2147483647", "a-00002147483647", "-00002147483647"]:
        name = kds.unique_name()
        kds.expect_not_found(OP, {"StreamName": name, "ShardToSplit": shard, "NewStartingHashKey": "0"},
                             kds.stream_not_found(name))


def test_unknown_stream_with_unparsable_shard_ids():
    for shard in ["2147483648", "shardId-002147483648", "ABKLFD8", "2.14E4"]:
        name = kds.unique_name()
        kds.expect_not_found(OP, {"StreamName": name, "ShardToSplit": shard, "NewStartingHashKey": "0"},
                             f"Could not find shard {shard} in stream {name} under account {ACCT}.")


def test_known_stream_unknown_shard():
    kds.expect_not_found(OP, {"StreamName": S(), "ShardToSplit": "shardId-5", "NewStartingHashKey": "0"},
                         f"Could not find shard shardId-000000000005 in stream {S()} under account {ACCT}.")


def bad_hash(key, shard, ix):
    start, end = kds.SHARD_RANGES[ix]
    kds.expect_invalid(OP, {"StreamName": S(), "NewStartingHashKey": key, "ShardToSplit": shard},
                       f"NewStartingHashKey {key} used in SplitShard() on shard shardId-00000000000{ix} in stream {S()} "
                       f"under account {ACCT} is not both greater than one plus the shard's StartingHashKey {start} "
                       f"and less than the shard's EndingHashKey {end}.")


def test_hash_key_too_small():
    bad_hash("1", "shard-0", 0)


def test_hash_key_too_big():
    bad_hash("113427455640312821154458202477256070484", "shard-0", 0)


def test_hash_key_much_too_big():
    bad_hash("999999999999999999999999999999999999999", "shard-2", 2)


def test_split_over_shard_limit():
    current = kds.open_shard_total()
    check(current < kds.SHARD_LIMIT, f"{current} open shards already")
    name = kds.create_and_wait(shards=kds.SHARD_LIMIT - current)
    try:
        kds.expect_limit(OP, {"StreamName": name, "NewStartingHashKey": "2", "ShardToSplit": "shard-0"},
                         kds.limit_message(kds.SHARD_LIMIT, 1))
    finally:
        kds.delete_quietly(name)
        kds.wait_deleted(name)


def split_result(name, created):
    d = kds.ok("DescribeStream", {"StreamName": name})["StreamDescription"]
    t = d.pop("StreamCreationTimestamp")
    check(created - 10 < t < created + 10, f"StreamCreationTimestamp {t}")
    return d


def test_split_with_minimum_hash():
    created = time.time()
    name = kds.create_and_wait(shards=1)
    try:
        kds.expect_empty_ok(call(OP, {"StreamName": name, "NewStartingHashKey": "2",
                                      "ShardToSplit": kds.unique_name() + "-0"}))
        kds.wait_active(name)
        d = split_result(name, created)
        ranges = [s["SequenceNumberRange"] for s in d["Shards"]]
        eq(sorted(ranges[0]), ["EndingSequenceNumber", "StartingSequenceNumber"], "parent's SequenceNumberRange keys")
        eq(kds.seq_hex(ranges[0]["EndingSequenceNumber"])[11:27], "7fffffffffffffff", "parent's ending sequence index")
        for i in (1, 2):
            eq(sorted(ranges[i]), ["StartingSequenceNumber"], f"child {i}'s SequenceNumberRange keys")
            kds.assert_sequence_number(ranges[i]["StartingSequenceNumber"], i, created * 1000)
            eq(kds.seq_index(ranges[i]["StartingSequenceNumber"]), 0, f"child {i}'s starting sequence index")
        d["Shards"] = kds.shards_of(d)
        eq(d, {"StreamStatus": "ACTIVE", "StreamName": name, "StreamARN": kds.arn(name), "RetentionPeriodHours": 24,
               "EncryptionType": "NONE", "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
           "StreamModeDetails": {"StreamMode": "PROVISIONED"}, "HasMoreShards": False,
               "Shards": [
                   {"ShardId": "shardId-000000000000", "SequenceNumberRange": {},
                    "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": FULL}},
                   {"ShardId": "shardId-000000000001", "ParentShardId": "shardId-000000000000", "SequenceNumberRange": {},
                    "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "1"}},
                   {"ShardId": "shardId-000000000002", "ParentShardId": "shardId-000000000000", "SequenceNumberRange": {},
                    "HashKeyRange": {"StartingHashKey": "2", "EndingHashKey": FULL}}]}, "StreamDescription after split")
        deadline = time.time() + 3
        while True:
            put = kds.ok("PutRecord", {"StreamName": name, "PartitionKey": "a", "Data": "", "ExplicitHashKey": "1"})
            if put["ShardId"] == "shardId-000000000001" or time.time() > deadline:
                break
            time.sleep(0.1)
        eq(put["ShardId"], "shardId-000000000001", "shard of hash key 1 after the split")
        kds.assert_sequence_number(put["SequenceNumber"], 1, created * 1000)
    finally:
        kds.delete_quietly(name)


def test_closed_shard_reads_to_its_end():
    name = kds.create_and_wait(shards=1)
    try:
        kds.ok("PutRecord", {"StreamName": name, "PartitionKey": "a", "Data": "", "ExplicitHashKey": "1"})
        kds.ok(OP, {"StreamName": name, "NewStartingHashKey": "2", "ShardToSplit": "shardId-0"})
        kds.wait_active(name)
        it = kds.ok("GetShardIterator", {"StreamName": name, "ShardId": "shardId-000000000000",
                                         "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"]
        kds.assert_shard_iterator(it)
        body = kds.ok("GetRecords", {"ShardIterator": it})
        check(body["Records"], "no records in the closed shard")
        for _ in range(10):
            it = kds.ok("GetShardIterator", {"StreamName": name, "ShardId": "shardId-000000000000",
                                             "ShardIteratorType": "LATEST"})["ShardIterator"]
            body = kds.ok("GetRecords", {"ShardIterator": it})
            if "NextShardIterator" not in body:
                break
        # Since 2020 AWS also names the children at the end of a closed shard.
        eq(sorted(body), ["ChildShards", "MillisBehindLatest", "Records"], "keys at the end of a closed shard")
        eq(body["Records"], [], "Records at the end of a closed shard")
        eq(sorted(c["ShardId"] for c in body["ChildShards"]),
           ["shardId-000000000001", "shardId-000000000002"], "ChildShards")
    finally:
        kds.delete_quietly(name)


def test_updating_state():
    ep = kds.delayed()
    name = kds.create_and_wait(shards=1, endpoint=ep)
    try:
        kds.expect_empty_ok(call(OP, {"StreamName": name, "NewStartingHashKey": "2", "ShardToSplit": "shard-0"}, ep))
        d = kds.ok("DescribeStream", {"StreamName": name}, ep)["StreamDescription"]
        d.pop("StreamCreationTimestamp")
        d["Shards"] = kds.shards_of(d)
        eq(d, {"StreamStatus": "UPDATING", "StreamName": name, "StreamARN": kds.arn(name), "RetentionPeriodHours": 24,
               "EncryptionType": "NONE", "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
           "StreamModeDetails": {"StreamMode": "PROVISIONED"}, "HasMoreShards": False,
               "Shards": [{"ShardId": "shardId-000000000000", "SequenceNumberRange": {},
                           "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": FULL}}]},
           "StreamDescription while UPDATING")
        kds.expect_in_use(OP, {"StreamName": name, "NewStartingHashKey": "2", "ShardToSplit": "shard-0"},
                          kds.in_state(name, "UPDATING"), ep)
        put = kds.ok("PutRecord", {"StreamName": name, "PartitionKey": "a", "Data": "", "ExplicitHashKey": "1"}, ep)
        eq(put["ShardId"], "shardId-000000000000", "shard of a put while UPDATING")
        kds.wait_active(name, ep)
        eq(len(kds.ok("DescribeStream", {"StreamName": name}, ep)["StreamDescription"]["Shards"]), 3, "shards after")
    finally:
        kds.delete_quietly(name, ep)
