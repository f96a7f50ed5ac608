"""PutRecords."""

import base64
import time

import kds
from kds import eq, null_error, name_errors, max_len_error, min_len_error, pattern_error

OP = "PutRecords"

globals().update(kds.type_tests(OP, [("Records", "List"), ("Records.0", "Structure"), ("Records.0.Data", "Blob"),
                                     ("Records.0.ExplicitHashKey", "String"), ("Records.0.PartitionKey", "String"),
                                     ("StreamName", "String")]))


def S():
    return kds.shared(__name__)


def test_no_members():
    kds.expect_validation(OP, {}, [null_error("records"), null_error("streamName")])


def test_empty_records():
    kds.expect_validation(OP, {"StreamName": "", "Records": []},
                          [min_len_error("records", "[]")] + name_errors("streamName", ""))


def test_empty_record_members():
    kds.expect_validation(OP, {"StreamName": "", "Records": [{"PartitionKey": "", "Data": "", "ExplicitHashKey": ""}]},
                          [min_len_error("records.1.member.partitionKey", ""),
                           pattern_error("records.1.member.explicitHashKey", "", kds.HASH_PATTERN)]
                          + name_errors("streamName", ""))


def test_long_record_members():
    pk = "a" * 257
    data = base64.b64encode(b"\0" * 1048577).decode()
    kds.expect_validation(OP, {"StreamName": kds.LONG_NAME,
                               "Records": [{"PartitionKey": pk, "Data": data, "ExplicitHashKey": ""}]},
                          [max_len_error("records.1.member.partitionKey", pk, 256),
                           pattern_error("records.1.member.explicitHashKey", "", kds.HASH_PATTERN),
                           max_len_error("records.1.member.data",
                                         "java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]", 1048576),
                           max_len_error("streamName", kds.LONG_NAME, 128)])


def test_too_many_records():
    # AWS prints the list with Java's default toString of each entry (a
    # hash that varies), and reports at most 10 errors.
    r = kds.call(OP, {"StreamName": "", "Records": [{"PartitionKey": "", "Data": ""}] * 501})
    kds.expect(r, 400, "ValidationException")
    msg = r.body["message"]
    prefix = "10 validation errors detected: "
    kds.check(msg.startswith(prefix), f"prefix of {msg[:200]!r}")
    parts = msg[len(prefix):].split("; ")
    entry = r"com\.amazonaws\.kinesis\.v20131202\.PutRecordsRequestEntry@[0-9a-f]+"
    import re
    records_re = (r"Value '\[" + entry + r"(, " + entry + r"){500}\]' at 'records' failed to satisfy constraint: "
                  r"Member must have length less than or equal to 500")
    kds.check(any(re.fullmatch(records_re, p) for p in parts), "no 'records' length error")
    pk = [p for p in parts if not re.fullmatch(records_re, p)]
    eq(sorted(pk), sorted(min_len_error(f"records.{i}.member.partitionKey", "") for i in range(1, 10)),
       "the other 9 errors")


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_not_found(OP, {"StreamName": name, "Records": [{"PartitionKey": "a", "Data": ""}]},
                         kds.stream_not_found(name))


def test_explicit_hash_key_out_of_range():
    key = str(2**128)
    kds.expect_invalid(OP, {"StreamName": S(), "Records": [{"PartitionKey": "a", "Data": "", "ExplicitHashKey": key},
                                                           {"PartitionKey": "a", "Data": ""}]},
                       f"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {key}")


def test_large_data():
    now = time.time() * 1000
    body = kds.ok(OP, {"StreamName": S(), "Records": [{"PartitionKey": "a",
                                                       "Data": base64.b64encode(b"x" * 51200).decode()}]})
    kds.assert_sequence_number(body["Records"][0].pop("SequenceNumber"), 0, now)
    eq(body, {"FailedRecordCount": 0, "Records": [{"ShardId": "shardId-000000000000"}]}, "PutRecords answer")


def test_mixed_records():
    now = time.time() * 1000
    body = kds.ok(OP, {"StreamName": S(), "Records": kds.mixed_records()})
    shards = [0, 1, 2, 1, 2, 1, 2]
    seqs = [r.pop("SequenceNumber") for r in body["Records"]]
    for s, ix in zip(seqs, shards):
        kds.assert_sequence_number(s, ix, now)
    for group in ([2, 4, 6], [1, 3, 5]):
        idx = [kds.seq_index(seqs[i]) for i in group]
        eq([b - a for a, b in zip(idx, idx[1:])], [1, 1], f"sequence index steps of records {group} in their shard")
    eq(body, {"FailedRecordCount": 0, "Records": [{"ShardId": f"shardId-00000000000{i}"} for i in shards]},
       "PutRecords answer")


def test_boto3_put_records():
    r = kds.boto().put_records(StreamName=S(), Records=[{"PartitionKey": "a", "Data": b"x"}])
    eq(r["FailedRecordCount"], 0, "FailedRecordCount")
