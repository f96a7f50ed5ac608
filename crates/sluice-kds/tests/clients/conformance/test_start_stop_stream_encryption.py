"""StartStreamEncryption / StopStreamEncryption. Constraints from botocore's
model. Server-side encryption as the API reference describes it: the stream
goes UPDATING, DescribeStream then names EncryptionType KMS and the KeyId;
records written while it is on carry EncryptionType KMS in GetRecords (and
PutRecord / PutRecords answer it), records written before do not."""

import os

import kds
from kds import call, eq, check, null_error, name_errors, max_len_error, min_len_error

START, STOP = "StartStreamEncryption", "StopStreamEncryption"
KEY = "alias/aws/kinesis"
TYPES = ["NONE", "KMS"]

for _op in (START, STOP):
    globals().update({f"{k}_{_op}": v for k, v in kds.type_tests(_op, [
        ("StreamName", "String"), ("EncryptionType", "String"), ("KeyId", "String"), ("StreamARN", "String")]).items()})


def test_no_members():
    for op in (START, STOP):
        kds.expect_validation(op, {}, [null_error("encryptionType"), null_error("keyId"), null_error("streamName")])


def test_empty_members():
    for op in (START, STOP):
        kds.expect_validation(op, {"StreamName": "", "EncryptionType": "", "KeyId": ""},
                              name_errors("streamName", "") + [kds.enum_error("encryptionType", "", TYPES),
                                                               min_len_error("keyId", "")])


def test_long_members():
    n, k = kds.LONG_NAME, "k" * 2049
    for op in (START, STOP):
        kds.expect_validation(op, {"StreamName": n, "EncryptionType": "KMS", "KeyId": k},
                              [max_len_error("streamName", n, 128), max_len_error("keyId", k, 2048)])


def test_bad_encryption_type():
    for op in (START, STOP):
        kds.expect_validation(op, {"StreamName": "s", "EncryptionType": "AES", "KeyId": KEY},
                              [kds.enum_error("encryptionType", "AES", TYPES)])


def test_stream_not_found():
    for op in (START, STOP):
        name = kds.unique_name()
        kds.expect_not_found(op, {"StreamName": name, "EncryptionType": "KMS", "KeyId": KEY},
                             kds.stream_not_found(name))


def describe(name, endpoint=None):
    return kds.ok("DescribeStream", {"StreamName": name}, endpoint)["StreamDescription"]


def records(name):
    it = kds.ok("GetShardIterator", {"StreamName": name, "ShardId": "shardId-000000000000",
                                     "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"]
    return kds.ok("GetRecords", {"ShardIterator": it})["Records"]


def put(name):
    return kds.ok("PutRecord", {"StreamName": name, "PartitionKey": "a", "Data": kds.b64(os.urandom(4))})


def test_start_and_stop():
    name = kds.create_and_wait(shards=1)
    try:
        p0 = put(name)
        eq(sorted(p0), ["SequenceNumber", "ShardId"], "PutRecord keys of an unencrypted stream")
        kds.expect_empty_ok(call(START, {"StreamName": name, "EncryptionType": "KMS", "KeyId": KEY}))
        kds.wait_active(name)
        d = describe(name)
        eq((d["EncryptionType"], d.get("KeyId")), ("KMS", KEY), "EncryptionType and KeyId after start")
        s = kds.ok("DescribeStreamSummary", {"StreamName": name})["StreamDescriptionSummary"]
        eq((s["EncryptionType"], s.get("KeyId")), ("KMS", KEY), "summary's EncryptionType and KeyId")
        p1 = put(name)
        eq(sorted(p1), ["EncryptionType", "SequenceNumber", "ShardId"], "PutRecord keys of an encrypted stream")
        eq(p1["EncryptionType"], "KMS", "PutRecord EncryptionType")
        pr = kds.ok("PutRecords", {"StreamName": name, "Records": [{"PartitionKey": "a", "Data": ""}]})
        eq(sorted(pr), ["EncryptionType", "FailedRecordCount", "Records"], "PutRecords keys of an encrypted stream")
        eq(pr["EncryptionType"], "KMS", "PutRecords EncryptionType")
        kds.expect_empty_ok(call(STOP, {"StreamName": name, "EncryptionType": "KMS", "KeyId": KEY}))
        kds.wait_active(name)
        d = describe(name)
        eq(d["EncryptionType"], "NONE", "EncryptionType after stop")
        check("KeyId" not in d, f"KeyId {d.get('KeyId')!r} after stop")
        p2 = put(name)
        eq(sorted(p2), ["SequenceNumber", "ShardId"], "PutRecord keys after stop")
        recs = {r["SequenceNumber"]: r for r in records(name)}
        eq(recs[p0["SequenceNumber"]].get("EncryptionType"), None, "EncryptionType of a record written before")
        eq(recs[p1["SequenceNumber"]].get("EncryptionType"), "KMS", "EncryptionType of a record written encrypted")
        eq(sorted(recs[p1["SequenceNumber"]]),
           ["ApproximateArrivalTimestamp", "Data", "EncryptionType", "PartitionKey", "SequenceNumber"],
           "keys of an encrypted record")
        eq(recs[pr["Records"][0]["SequenceNumber"]].get("EncryptionType"), "KMS", "PutRecords' record")
        eq(recs[p2["SequenceNumber"]].get("EncryptionType"), None, "EncryptionType of a record written after stop")
    finally:
        kds.delete_quietly(name)


def test_start_by_stream_arn():
    name = kds.create_and_wait(shards=1)
    try:
        kds.expect_empty_ok(call(START, {"StreamARN": kds.arn(name), "EncryptionType": "KMS", "KeyId": KEY}))
        kds.wait_active(name)
        eq(describe(name)["EncryptionType"], "KMS", "EncryptionType")
    finally:
        kds.delete_quietly(name)


def test_updating_state():
    ep = kds.delayed()
    name = kds.create_and_wait(shards=1, endpoint=ep)
    try:
        kds.expect_empty_ok(call(START, {"StreamName": name, "EncryptionType": "KMS", "KeyId": KEY}, ep))
        eq(kds.status_of(name, ep), "UPDATING", "status right after StartStreamEncryption")
        kds.expect_in_use(START, {"StreamName": name, "EncryptionType": "KMS", "KeyId": KEY},
                          kds.in_state(name, "UPDATING"), ep)
        kds.wait_active(name, ep)
        eq(describe(name, ep)["EncryptionType"], "KMS", "EncryptionType once ACTIVE")
        kds.expect_empty_ok(call(STOP, {"StreamName": name, "EncryptionType": "KMS", "KeyId": KEY}, ep))
        eq(kds.status_of(name, ep), "UPDATING", "status right after StopStreamEncryption")
        kds.wait_active(name, ep)
        eq(describe(name, ep)["EncryptionType"], "NONE", "EncryptionType once ACTIVE")
    finally:
        kds.delete_quietly(name, ep)


def test_boto3_encryption():
    name = kds.create_and_wait(shards=1)
    try:
        kds.boto().start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=KEY)
        kds.wait_active(name)
        r = kds.boto().put_record(StreamName=name, PartitionKey="a", Data=b"x")
        eq(r.get("EncryptionType"), "KMS", "boto3 PutRecord EncryptionType")
    finally:
        kds.delete_quietly(name)
