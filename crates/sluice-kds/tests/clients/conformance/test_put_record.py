"""PutRecord."""

import base64
import time

import kds
from kds import call, eq, check, null_error, name_errors, max_len_error, min_len_error, pattern_error

OP = "PutRecord"

globals().update(kds.type_tests(OP, [("Data", "Blob"), ("ExplicitHashKey", "String"), ("PartitionKey", "String"),
                                     ("SequenceNumberForOrdering", "String"), ("StreamName", "String")]))


def S():
    return kds.shared(__name__)


def test_no_members():
    kds.expect_validation(OP, {}, [null_error("partitionKey"), null_error("data"), null_error("streamName")])


def test_empty_members():
    kds.expect_validation(OP, {"StreamName": "", "PartitionKey": "", "Data": "", "ExplicitHashKey": "",
                               "SequenceNumberForOrdering": ""},
                          [pattern_error("sequenceNumberForOrdering", "", kds.SEQ_PATTERN),
                           min_len_error("partitionKey", ""),
                           pattern_error("explicitHashKey", "", kds.HASH_PATTERN)] + name_errors("streamName", ""))


def test_long_members():
    pk = "a" * 257
    data = base64.b64encode(b"\0" * 1048577).decode()
    kds.expect_validation(OP, {"StreamName": kds.LONG_NAME, "PartitionKey": pk, "Data": data, "ExplicitHashKey": ""},
                          [max_len_error("partitionKey", pk, 256),
                           pattern_error("explicitHashKey", "", kds.HASH_PATTERN),
                           max_len_error("data", "java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]", 1048576),
                           max_len_error("streamName", kds.LONG_NAME, 128)])


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_not_found(OP, {"StreamName": name, "PartitionKey": "a", "Data": ""}, kds.stream_not_found(name))


def test_explicit_hash_key_out_of_range():
    key = str(2**128)
    kds.expect_invalid(OP, {"StreamName": S(), "PartitionKey": "a", "Data": "", "ExplicitHashKey": key},
                       f"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {key}")


INVALID_ORDERING = [
    "20000000000000000000000000000000000000000000000",  # version 0
    "20000000000000000000000000000000000000000000004",  # version 4
    "20000000000000000000000000000000000000000000003",  # version 3
    "30000000000000000000000000000000000000000000001",  # leading 3
    "1ffffffffff7fffffffffffffff000000000007fffffff2",  # leading 1
    "20000000000800000000000000000000000000000000002",  # 8 in the shard index
    "13bb2cc3d80000000000000000000000",                 # a date too large
    "2ffffffffff7fffffffffffffff000000000007fffffff2",  # all f
]


def test_invalid_sequence_number_for_ordering():
    name = S()
    for h in INVALID_ORDERING:
        seq = str(int(h, 16))
        kds.expect_invalid(OP, {"StreamName": name, "PartitionKey": "a", "Data": "", "SequenceNumberForOrdering": seq},
                           f"ExclusiveMinimumSequenceNumber {seq} used in PutRecord on stream {name} "
                           f"under account {kds.ACCOUNT} is invalid.")


def put(data, ix, **extra):
    now = time.time() * 1000
    body = kds.ok(OP, {"StreamName": S(), "PartitionKey": "a", "Data": data, **extra})
    kds.assert_sequence_number(body.pop("SequenceNumber", None), ix, now)
    eq(body, {"ShardId": f"shardId-00000000000{ix}"}, "PutRecord answer without SequenceNumber")


def test_empty_data():
    put("", 0)


def test_large_data():
    put(base64.b64encode(b"x" * 51200).decode(), 0)


def test_final_explicit_hash_key():
    put("", 2, ExplicitHashKey=str(kds.HASH_MAX))


def test_explicit_hash_key_just_below_range():
    put("", 1, ExplicitHashKey=str(kds.THIRD * 2 - 1))


def test_explicit_hash_key_just_above_range():
    put("", 2, ExplicitHashKey=str(kds.THIRD * 2))


def test_valid_sequence_number_for_ordering():
    for h in ["20000000000000000000000000000000000000000000002", "20000000000000000000000000000000000000000000001",
              "20000000000000000000000000000000000000800000002"]:
        put("", 0, SequenceNumberForOrdering=str(int(h, 16)))


def test_sequential_puts_increase_sequence_index():
    idx = []
    for i in range(20):
        now = time.time() * 1000
        for pk, ix in (("a", 0), ("b", 1)):
            body = kds.ok(OP, {"StreamName": S(), "PartitionKey": pk, "Data": ""})
            eq(body["ShardId"], f"shardId-00000000000{ix}", f"shard of partition key {pk}")
            kds.assert_sequence_number(body["SequenceNumber"], ix, now)
            idx.append(int(body["SequenceNumber"]))
    check(idx[0::2] == sorted(idx[0::2]) and idx[1::2] == sorted(idx[1::2]), "sequence numbers not increasing per shard")


def test_boto3_put_record():
    r = kds.boto().put_record(StreamName=S(), PartitionKey="b", Data=b"hello")
    eq(r["ShardId"], "shardId-000000000001", "ShardId")
    kds.assert_sequence_number(r["SequenceNumber"], 1, 0)
