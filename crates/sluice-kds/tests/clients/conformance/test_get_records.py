"""GetRecords."""

import base64
import os
import time

import kds
from kds import eq, check, null_error, max_len_error, min_len_error, min_value_error, max_value_error

OP = "GetRecords"

globals().update(kds.type_tests(OP, [("Limit", "Integer"), ("ShardIterator", "String")]))


def S():
    return kds.shared(__name__)


def iterator(stream, shard, kind, **extra):
    return kds.ok("GetShardIterator", {"StreamName": stream, "ShardId": shard, "ShardIteratorType": kind,
                                       **extra})["ShardIterator"]


def get(it, limit=None, expect_next=True):
    """GetRecords; checks the answer's keys and shapes, returns (records
    without arrival times, NextShardIterator)."""
    data = {"ShardIterator": it}
    if limit is not None:
        data["Limit"] = limit
    body = kds.ok(OP, data)
    keys = ["MillisBehindLatest", "NextShardIterator", "Records"] if expect_next else ["MillisBehindLatest", "Records"]
    eq(sorted(body), keys, "GetRecords keys")
    check(0 <= body["MillisBehindLatest"] <= 5000, f"MillisBehindLatest {body['MillisBehindLatest']}")
    if body["Records"]:
        kds.assert_arrival_times(body["Records"])
    for r in body["Records"]:
        eq(sorted(r), ["ApproximateArrivalTimestamp", "Data", "PartitionKey", "SequenceNumber"], "record keys")
    nxt = body.get("NextShardIterator")
    if nxt is not None:
        kds.assert_shard_iterator(nxt)
    return kds.strip_records(body["Records"]), nxt


def expected(records, put, indexes):
    return [{"PartitionKey": records[i]["PartitionKey"], "Data": records[i]["Data"],
             "SequenceNumber": put[i]["SequenceNumber"]} for i in indexes]


def test_no_shard_iterator():
    kds.expect_validation(OP, {}, [null_error("shardIterator")])


def test_empty_members():
    kds.expect_validation(OP, {"ShardIterator": "", "Limit": 0},
                          [min_value_error("limit", 0, 1), min_len_error("shardIterator", "")])


def test_long_members():
    it = "a" * 513
    kds.expect_validation(OP, {"ShardIterator": it, "Limit": 100000},
                          [max_value_error("limit", 100000, 10000), max_len_error("shardIterator", it, 512)])


def test_malformed_shard_iterator():
    kds.expect_invalid(OP, {"ShardIterator": kds.unique_name()}, "Invalid ShardIterator.")


def test_iterators_of_deleted_stream_and_shards():
    name = kds.create_and_wait(shards=2)
    it0 = iterator(name, "shardId-0", "LATEST")
    it1 = iterator(name, "shardId-1", "LATEST")
    kds.ok("DeleteStream", {"StreamName": name})
    kds.wait_deleted(name)
    acct = kds.ACCOUNT
    kds.expect_not_found(OP, {"ShardIterator": it0},
                         f"Shard shardId-000000000000 in stream {name} under account {acct} does not exist")
    kds.expect_not_found(OP, {"ShardIterator": it1},
                         f"Shard shardId-000000000001 in stream {name} under account {acct} does not exist")
    kds.create_and_wait(name, shards=1)
    try:
        kds.expect_not_found(OP, {"ShardIterator": it1},
                             f"Shard shardId-000000000001 in stream {name} under account {acct} does not exist")
    finally:
        kds.delete_quietly(name)


def test_at_and_after_sequence_number():
    records = kds.mixed_records()
    put = kds.ok("PutRecords", {"StreamName": S(), "Records": records})["Records"]
    got, _ = get(iterator(S(), "shardId-1", "AT_SEQUENCE_NUMBER", StartingSequenceNumber=put[1]["SequenceNumber"]))
    eq(got, expected(records, put, [1, 3, 5]), "records AT_SEQUENCE_NUMBER")
    got, _ = get(iterator(S(), "shardId-1", "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=put[1]["SequenceNumber"]))
    eq(got, expected(records, put, [3, 5]), "records AFTER_SEQUENCE_NUMBER")


def test_at_timestamp():
    kds.ok("PutRecords", {"StreamName": S(), "Records": kds.mixed_records()})
    time.sleep(0.01)
    at = time.time()
    records = kds.mixed_records()
    put = kds.ok("PutRecords", {"StreamName": S(), "Records": records})["Records"]
    got, _ = get(iterator(S(), "shardId-1", "AT_TIMESTAMP", Timestamp=at))
    eq(got, expected(records, put, [1, 3, 5]), "records AT_TIMESTAMP")


def test_latest():
    it = iterator(S(), "shardId-2", "LATEST")
    got, nxt = get(it)
    eq(got, [], "records of a new LATEST iterator")
    records = kds.mixed_records()
    put = kds.ok("PutRecords", {"StreamName": S(), "Records": records})["Records"]
    got, _ = get(it)
    eq(got, expected(records, put, [2, 4, 6]), "records read again from the LATEST iterator")
    got, _ = get(nxt)
    eq(got, expected(records, put, [2, 4, 6]), "records from the NextShardIterator of the empty read")


def test_trim_horizon():
    name = kds.create_and_wait(shards=1)
    try:
        it = iterator(name, "shardId-0", "TRIM_HORIZON")
        got, nxt = get(it)
        eq(got, [], "records of an empty shard")
        data = base64.b64encode(os.urandom(10)).decode()
        seq = kds.ok("PutRecord", {"StreamName": name, "PartitionKey": "a", "Data": data,
                                   "ExplicitHashKey": "0"})["SequenceNumber"]
        want = [{"PartitionKey": "a", "Data": data, "SequenceNumber": seq}]
        eq(get(it)[0], want, "records from the first iterator")
        eq(get(nxt)[0], want, "records from the NextShardIterator")
        got, nxt = get(iterator(name, "shardId-0", "TRIM_HORIZON"))
        eq(got, want, "records from a new TRIM_HORIZON iterator")
        eq(get(nxt)[0], [], "records after the last")
    finally:
        kds.delete_quietly(name)


def test_limit():
    records = [{"PartitionKey": pk, "Data": base64.b64encode(os.urandom(10)).decode(), "ExplicitHashKey": "0"}
               for pk in "abcde"]
    put = kds.ok("PutRecords", {"StreamName": S(), "Records": records})["Records"]
    got, nxt = get(iterator(S(), "shardId-0", "AT_SEQUENCE_NUMBER", StartingSequenceNumber=put[1]["SequenceNumber"]), 2)
    eq(got, expected(records, put, [1, 2]), "Limit 2")
    eq(get(nxt, 3)[0], expected(records, put, [3, 4]), "Limit 3 from the next iterator")
    eq(get(nxt, 1)[0], expected(records, put, [3]), "Limit 1 from the same iterator")
    eq(get(nxt)[0], expected(records, put, [3, 4]), "no Limit from the same iterator")


def test_boto3_round_trip():
    k = kds.boto()
    put = k.put_record(StreamName=S(), PartitionKey="p", Data=b"\x00\xffbytes", ExplicitHashKey="0")
    it = k.get_shard_iterator(StreamName=S(), ShardId="shardId-000000000000", ShardIteratorType="AT_SEQUENCE_NUMBER",
                              StartingSequenceNumber=put["SequenceNumber"])["ShardIterator"]
    r = k.get_records(ShardIterator=it, Limit=1)
    eq(r["Records"][0]["Data"], b"\x00\xffbytes", "Data")
    eq(r["Records"][0]["SequenceNumber"], put["SequenceNumber"], "SequenceNumber")
