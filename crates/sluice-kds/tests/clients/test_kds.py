"""Real-client tests of sluice-kds with boto3 and the AWS CLI.

Run by crates/sluice-kds/ci.sh, which starts the server and sets
KDS_ENDPOINT. Prints one line per test and "N passed, M failed" last.
"""

import base64
import datetime
import json
import os
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

ENDPOINT = os.environ["KDS_ENDPOINT"]
CFG = Config(retries={"max_attempts": 1}, parameter_validation=False)


def client():
    return boto3.client("kinesis", endpoint_url=ENDPOINT, region_name="us-east-1", config=CFG)


def aws(*args):
    out = subprocess.run(
        ["aws", "kinesis", "--endpoint-url", ENDPOINT, "--output", "json", *args],
        capture_output=True, text=True, timeout=60,
    )
    if out.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed: {out.stderr}")
    return json.loads(out.stdout) if out.stdout.strip() else {}


def raw(target, body, content_type="application/x-amz-json-1.1", method="POST"):
    req = urllib.request.Request(ENDPOINT + "/", data=body, method=method)
    if target is not None:
        req.add_header("X-Amz-Target", target)
    req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def expect_error(fn, code, message=None):
    try:
        fn()
    except client().exceptions.ClientError as e:
        err = e.response["Error"]
        assert err["Code"] == code, f"expected {code}, got {err}"
        if message is not None:
            assert err["Message"] == message, f"message {err['Message']!r} != {message!r}"
        return err
    raise AssertionError(f"expected {code}, got success")


def read_all(k, stream, shard, itype="TRIM_HORIZON", **kw):
    it = k.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType=itype, **kw)["ShardIterator"]
    r = k.get_records(ShardIterator=it)
    return r


def test_cli_create_describe_list():
    aws("create-stream", "--stream-name", "cli-stream", "--shard-count", "2")
    aws("wait", "stream-exists", "--stream-name", "cli-stream")
    d = aws("describe-stream-summary", "--stream-name", "cli-stream")["StreamDescriptionSummary"]
    assert d["StreamStatus"] == "ACTIVE" and d["OpenShardCount"] == 2, d
    assert "cli-stream" in aws("list-streams")["StreamNames"]
    put = aws("put-record", "--stream-name", "cli-stream", "--partition-key", "pk",
              "--data", base64.b64encode(b"from-cli").decode())
    assert put["SequenceNumber"].isdigit(), put
    it = aws("get-shard-iterator", "--stream-name", "cli-stream", "--shard-id", put["ShardId"],
             "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]
    recs = aws("get-records", "--shard-iterator", it)["Records"]
    assert [base64.b64decode(r["Data"]) for r in recs] == [b"from-cli"], recs
    aws("delete-stream", "--stream-name", "cli-stream")


def test_boto3_every_iterator_type():
    k = client()
    k.create_stream(StreamName="iter", ShardCount=1)
    k.get_waiter("stream_exists").wait(StreamName="iter", WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    first = k.put_record(StreamName="iter", PartitionKey="a", Data=b"r0")
    time.sleep(0.05)
    between = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.05)
    res = k.put_records(StreamName="iter", Records=[
        {"PartitionKey": "a", "Data": b"r1"}, {"PartitionKey": "b", "Data": b"r2"}])
    assert res["FailedRecordCount"] == 0, res
    seq1 = res["Records"][0]["SequenceNumber"]
    shard = first["ShardId"]
    data = lambda r: [x["Data"] for x in r["Records"]]
    th = read_all(k, "iter", shard)
    assert data(th) == [b"r0", b"r1", b"r2"], th
    assert isinstance(th["Records"][0]["ApproximateArrivalTimestamp"], datetime.datetime)
    assert th["MillisBehindLatest"] == 0
    assert data(read_all(k, "iter", shard, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=seq1)) == [b"r1", b"r2"]
    assert data(read_all(k, "iter", shard, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seq1)) == [b"r2"]
    assert data(read_all(k, "iter", shard, "AT_TIMESTAMP", Timestamp=between)) == [b"r1", b"r2"]
    latest = k.get_shard_iterator(StreamName="iter", ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    r = k.get_records(ShardIterator=latest)
    assert r["Records"] == [], r
    k.put_record(StreamName="iter", PartitionKey="c", Data=b"r3")
    r = k.get_records(ShardIterator=r["NextShardIterator"], Limit=10)
    assert data(r) == [b"r3"], r
    r = k.get_records(ShardIterator=th["NextShardIterator"], Limit=1)
    assert data(r) == [b"r3"], r


def test_list_shards_paging():
    k = client()
    k.create_stream(StreamName="paging", ShardCount=5)
    seen, page = [], k.list_shards(StreamName="paging", MaxResults=2)
    while True:
        seen += [s["ShardId"] for s in page["Shards"]]
        if "NextToken" not in page:
            break
        page = k.list_shards(NextToken=page["NextToken"], MaxResults=2)
    assert seen == [f"shardId-{i:012d}" for i in range(5)], seen
    after = k.list_shards(StreamName="paging", ExclusiveStartShardId="shardId-000000000003")
    assert [s["ShardId"] for s in after["Shards"]] == ["shardId-000000000004"]
    expect_error(lambda: k.list_shards(StreamName="paging", NextToken="abc"), "InvalidArgumentException",
                 "NextToken and StreamName cannot be provided together.")
    # The AWS CLI pages by itself.
    cli = aws("list-shards", "--stream-name", "paging", "--max-results", "2")
    assert len(cli["Shards"]) >= 2


def test_split_merge_child_shards():
    k = client()
    k.create_stream(StreamName="reshard", ShardCount=1)
    k.put_record(StreamName="reshard", PartitionKey="a", Data=b"before")
    it = k.get_shard_iterator(StreamName="reshard", ShardId="shardId-000000000000",
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    k.split_shard(StreamName="reshard", ShardToSplit="shardId-000000000000",
                  NewStartingHashKey=str(2 ** 127))
    shards = k.list_shards(StreamName="reshard")["Shards"]
    assert len(shards) == 3 and "EndingSequenceNumber" in shards[0]["SequenceNumberRange"], shards
    r = k.get_records(ShardIterator=it)
    assert [x["Data"] for x in r["Records"]] == [b"before"]
    assert "NextShardIterator" not in r, r
    assert sorted(c["ShardId"] for c in r["ChildShards"]) == ["shardId-000000000001", "shardId-000000000002"]
    k.merge_shards(StreamName="reshard", ShardToMerge="shardId-000000000001",
                   AdjacentShardToMerge="shardId-000000000002")
    open_ = k.list_shards(StreamName="reshard", ShardFilter={"Type": "AT_LATEST"})["Shards"]
    assert [s["ShardId"] for s in open_] == ["shardId-000000000003"], open_
    u = k.update_shard_count(StreamName="reshard", TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    assert u["CurrentShardCount"] == 1 and u["TargetShardCount"] == 2, u


def test_aws_errors():
    k = client()
    expect_error(lambda: k.describe_stream(StreamName="nope"), "ResourceNotFoundException",
                 "Stream nope under account 000000000000 not found.")
    k.create_stream(StreamName="dup", ShardCount=1)
    expect_error(lambda: k.create_stream(StreamName="dup", ShardCount=1), "ResourceInUseException",
                 "Stream dup under account 000000000000 already exists.")
    expect_error(lambda: k.create_stream(StreamName="bad/name", ShardCount=1), "ValidationException",
                 "1 validation error detected: Value 'bad/name' at 'streamName' failed to satisfy "
                 "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
    expect_error(lambda: k.get_records(ShardIterator="AAAA"), "InvalidArgumentException", "Invalid ShardIterator.")
    expect_error(lambda: k.increase_stream_retention_period(StreamName="dup", RetentionPeriodHours=9000),
                 "ValidationException")
    k.increase_stream_retention_period(StreamName="dup", RetentionPeriodHours=48)
    expect_error(lambda: k.increase_stream_retention_period(StreamName="dup", RetentionPeriodHours=24),
                 "InvalidArgumentException")
    k.decrease_stream_retention_period(StreamName="dup", RetentionPeriodHours=24)
    k.add_tags_to_stream(StreamName="dup", Tags={"team": "sluice"})
    assert k.list_tags_for_stream(StreamName="dup")["Tags"] == [{"Key": "team", "Value": "sluice"}]
    lim = k.describe_limits()
    assert lim["ShardLimit"] == 500 and lim["OpenShardCount"] >= 1, lim


def test_bad_requests_keep_server_going():
    s, b = raw("Kinesis_20131202.ListStreams", b"{not json")
    assert s == 400 and json.loads(b)["__type"] == "SerializationException", (s, b)
    s, b = raw("Kinesis_20131202.Frobnicate", b"{}")
    assert s == 400 and json.loads(b)["__type"] == "UnknownOperationException", (s, b)
    s, b = raw(None, b"{}")
    assert s == 400 and json.loads(b)["__type"] == "UnknownOperationException", (s, b)
    s, b = raw("Kinesis_20131202.CreateStream", b'{"StreamName": ["x"], "ShardCount": 1}')
    assert s == 400 and json.loads(b)["__type"] == "SerializationException", (s, b)
    s, b = raw("Kinesis_20131202.CreateStream", b'{"StreamName": "x", "ShardCount": "one"}')
    body = json.loads(b)
    assert s == 400 and body["__type"] == "SerializationException", (s, b)
    assert body["message"] == "class java.lang.String can not be converted to an Integer", body
    s, b = raw("Kinesis_20131202.ListStreams", b"x" * (8 << 20))
    assert s == 413, s
    s, b = raw("Kinesis_20131202.ListStreams", b"", method="GET")
    assert s == 403, (s, b)
    # Boto3 with client-side validation off: wrong types reach the server.
    expect_error(lambda: client().create_stream(StreamName="t", ShardCount="x"), "SerializationException")
    s, b = raw("Kinesis_20131202.ListStreams", b"{}")
    assert s == 200, (s, b)


def test_timestamps_are_plain_epoch_seconds():
    k = client()
    k.create_stream(StreamName="ts", ShardCount=1)
    s, b = raw("Kinesis_20131202.DescribeStreamSummary", b'{"StreamName": "ts"}')
    text = b.split('"StreamCreationTimestamp":')[1].split(",")[0].split("}")[0]
    assert "e" not in text.lower() and abs(float(text) - time.time()) < 600, text


def test_persisted_across_restart_data_dir_layout():
    # Stream names never become file names.
    k = client()
    k.create_stream(StreamName="..", ShardCount=1)
    k.put_record(StreamName="..", PartitionKey="p", Data=b"dots")
    names = set()
    for _, dirs, files in os.walk(os.environ["KDS_DATA_DIR"]):
        names.update(dirs)
        names.update(files)
    assert ".." not in names and "ts" not in names and "dup" not in names, names
    assert read_all(k, "..", "shardId-000000000000")["Records"][0]["Data"] == b"dots"


def main():
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
            passed += 1
            print(f"ok   {name}", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {name}", flush=True)
            traceback.print_exc(file=sys.stdout)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
