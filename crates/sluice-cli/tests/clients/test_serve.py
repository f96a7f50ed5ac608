"""boto3 against `sluice serve`: Kinesis Data Streams, Firehose and Kinesis
Video Streams on one endpoint, with authentication off and with sigv4.
Starts its own servers on 127.0.0.1. Ends with "N passed, M failed"."""

import json
import os
import re
import subprocess
import sys
import time

from botocore.exceptions import ClientError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sluice_server import BIN, Server, scratch, summary, test  # noqa: E402


def bucket_objects(server, bucket):
    """The objects delivered to `bucket` under the server's data directory,
    by path (object_store stages `<key>#<n>` and renames it when complete)."""
    out = {}
    for d, _, files in os.walk(os.path.join(server.dir, "buckets", bucket)):
        for f in files:
            if not re.search(r"#\d+$", f):
                with open(os.path.join(d, f), "rb") as fh:
                    out[os.path.join(d, f)] = fh.read()
    return out


def error_code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"].get("Message", "")
    raise AssertionError("the call succeeded")


def one_port_serves_kinesis_firehose_and_video():
    s = Server()
    try:
        kinesis = s.client("kinesis")
        kinesis.create_stream(StreamName="events", ShardCount=2)
        kinesis.get_waiter("stream_exists").wait(
            StreamName="events", WaiterConfig={"Delay": 1, "MaxAttempts": 10}
        )
        put = kinesis.put_records(
            StreamName="events",
            Records=[{"Data": f"e{i}".encode(), "PartitionKey": f"k{i}"} for i in range(20)],
        )
        assert put["FailedRecordCount"] == 0, put
        got = []
        for shard in kinesis.list_shards(StreamName="events")["Shards"]:
            it = kinesis.get_shard_iterator(
                StreamName="events", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            got += [r["Data"] for r in kinesis.get_records(ShardIterator=it)["Records"]]
        assert sorted(got) == sorted(f"e{i}".encode() for i in range(20)), got

        firehose = s.client("firehose")
        firehose.create_delivery_stream(
            DeliveryStreamName="to-bucket",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": "arn:aws:s3:::out",
                "BufferingHints": {"IntervalInSeconds": 900, "SizeInMBs": 128},
            },
        )
        r = firehose.put_record_batch(
            DeliveryStreamName="to-bucket",
            Records=[{"Data": f"r{i}\n".encode()} for i in range(5)],
        )
        assert r["FailedPutCount"] == 0, r
        names = firehose.list_delivery_streams()["DeliveryStreamNames"]
        assert names == ["to-bucket"], names

        video = s.client("kinesisvideo")
        arn = video.create_stream(StreamName="cam", DataRetentionInHours=1)["StreamARN"]
        d = video.describe_stream(StreamName="cam")["StreamInfo"]
        assert d["StreamARN"] == arn and d["Status"] in ("CREATING", "ACTIVE"), d
        ep = video.get_data_endpoint(StreamName="cam", APIName="PUT_MEDIA")["DataEndpoint"]
        assert ep.rstrip("/") == s.endpoint, ep

        # An unknown target still gets Kinesis's error, and the server goes on.
        code, _ = error_code(lambda: kinesis.describe_stream(StreamName="missing"))
        assert code == "ResourceNotFoundException", code
    finally:
        s.stop()
    # SIGTERM delivered what Firehose buffered.
    found = bucket_objects(s, "out")
    assert len(found) == 1, found
    [(path, body)] = found.items()
    assert os.path.basename(path).startswith("to-bucket-1-"), found
    assert body == b"".join(f"r{i}\n".encode() for i in range(5))


def sigv4_guards_every_service():
    s = Server("--auth", "sigv4", "--access-key", "AKIDSLUICE:right-secret")
    try:
        good = {"key": "AKIDSLUICE", "secret": "right-secret"}
        s.client("kinesis", **good).list_streams()
        s.client("firehose", **good).list_delivery_streams()
        s.client("kinesisvideo", **good).list_streams()

        wrong = {"key": "AKIDSLUICE", "secret": "wrong"}
        for service, call in [
            ("kinesis", lambda c: c.list_streams()),
            ("firehose", lambda c: c.list_delivery_streams()),
            ("kinesisvideo", lambda c: c.list_streams()),
        ]:
            code, _ = error_code(lambda: call(s.client(service, **wrong)))
            assert code == "InvalidSignatureException", (service, code)
        unknown = {"key": "AKIDOTHER", "secret": "x"}
        code, _ = error_code(lambda: s.client("firehose", **unknown).list_delivery_streams())
        assert code == "UnrecognizedClientException", code
    finally:
        s.stop()


def kda_application_runs_from_its_describe_application_output():
    # The getting-started app as KDA printed it, imported and served; boto3
    # is the producer and the Firehose destination's reader.
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
    migration = os.path.join(root, "sql-examples", "kda-migration")
    app = scratch("sluice-kda-app-")
    subprocess.run(
        [
            BIN, "import", os.path.join(migration, "describe-application.json"),
            "--arn-map", os.path.join(migration, "arn-map.toml"), "--out", app,
        ],
        check=True,
        capture_output=True,
    )
    with open(os.path.join(root, "sql-examples", "local-kinesis", "input.jsonl")) as f:
        records = [json.loads(line)["data"] for line in f if line.strip()]
    s = Server("--apps", app)
    try:
        firehose = s.client("firehose")
        firehose.create_delivery_stream(
            DeliveryStreamName="example-big-changes",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": "arn:aws:s3:::changes",
                "BufferingHints": {"IntervalInSeconds": 900, "SizeInMBs": 128},
            },
        )
        kinesis = s.client("kinesis")
        # The app created its streams; it reads from NOW, so wait for it.
        kinesis.get_waiter("stream_exists").wait(
            StreamName="ExampleInputStream", WaiterConfig={"Delay": 1, "MaxAttempts": 10}
        )
        time.sleep(1)
        put = kinesis.put_records(
            StreamName="ExampleInputStream",
            Records=[
                {"Data": json.dumps(r).encode(), "PartitionKey": r["ticker_symbol"]}
                for r in records
            ],
        )
        assert put["FailedRecordCount"] == 0, put
        # DESTINATION_SQL_STREAM: 10-second windows close on the wall clock.
        deadline = time.time() + 40
        trades = 0
        while time.time() < deadline and trades < len(records):
            trades = 0
            for shard in kinesis.list_shards(StreamName="ExampleOutputStream")["Shards"]:
                it = kinesis.get_shard_iterator(
                    StreamName="ExampleOutputStream",
                    ShardId=shard["ShardId"],
                    ShardIteratorType="TRIM_HORIZON",
                )["ShardIterator"]
                for r in kinesis.get_records(ShardIterator=it)["Records"]:
                    trades += json.loads(r["Data"])["TRADES"]
            time.sleep(1)
        assert trades == len(records), (trades, len(records))
    finally:
        s.stop()
    # SIGTERM delivered what Firehose buffered: BIG_CHANGES as CSV lines.
    found = bucket_objects(s, "changes")
    assert len(found) == 1, found
    lines = next(iter(found.values())).decode().splitlines()
    want = [
        f"{r['ticker_symbol']},{json.dumps(r['price'])},{json.dumps(r['change'])}"
        for r in records
        if abs(r["change"]) > 1
    ]
    assert sorted(lines) == sorted(want), (lines, want)


def firehose_transform_named_by_lambda_arn_runs_through_the_arn_map():
    # boto3 creates a delivery stream whose processor names a Lambda by
    # ARN, as on AWS; `--arn-map` maps that ARN to a local command.
    conf = scratch("sluice-arn-map-")
    script = os.path.join(conf, "reverse.py")
    with open(script, "w") as f:
        f.write(
            "import base64, json, sys\n"
            "event = json.load(sys.stdin)\n"
            "out = []\n"
            "for r in event['records']:\n"
            "    line = base64.b64decode(r['data']).decode().rstrip('\\n')\n"
            "    if line == 'drop':\n"
            "        out.append({'recordId': r['recordId'], 'result': 'Dropped'})\n"
            "        continue\n"
            "    data = base64.b64encode((line[::-1] + '\\n').encode()).decode()\n"
            "    out.append({'recordId': r['recordId'], 'result': 'Ok', 'data': data})\n"
            "print(json.dumps({'records': out}))\n"
        )
    arn = "arn:aws:lambda:us-east-1:123456789012:function:reverse"
    arn_map = os.path.join(conf, "arn-map.toml")
    with open(arn_map, "w") as f:
        f.write(f'[lambdas]\n"{arn}" = "command:{sys.executable} {script}"\n')
    s = Server("--arn-map", arn_map)
    try:
        firehose = s.client("firehose")
        firehose.create_delivery_stream(
            DeliveryStreamName="reversed",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": "arn:aws:s3:::reversed",
                "BufferingHints": {"IntervalInSeconds": 900, "SizeInMBs": 128},
                "ProcessingConfiguration": {
                    "Enabled": True,
                    "Processors": [{
                        "Type": "Lambda",
                        "Parameters": [{"ParameterName": "LambdaArn", "ParameterValue": arn}],
                    }],
                },
            },
        )
        r = firehose.put_record_batch(
            DeliveryStreamName="reversed",
            Records=[{"Data": d} for d in (b"abc\n", b"drop\n", b"xyz\n")],
        )
        assert r["FailedPutCount"] == 0, r
    finally:
        s.stop()
    found = bucket_objects(s, "reversed")
    assert len(found) == 1, found
    assert next(iter(found.values())) == b"cba\nzyx\n"


def firehose_reads_a_kinesis_stream_as_its_source():
    # DeliveryStreamType KinesisStreamAsSource: the delivery stream reads
    # the server's own Kinesis stream and delivers what boto3 puts there.
    s = Server()
    try:
        kinesis = s.client("kinesis")
        kinesis.create_stream(StreamName="clicks", ShardCount=2)
        kinesis.get_waiter("stream_exists").wait(
            StreamName="clicks", WaiterConfig={"Delay": 1, "MaxAttempts": 10}
        )
        arn = kinesis.describe_stream_summary(StreamName="clicks")["StreamDescriptionSummary"]["StreamARN"]
        firehose = s.client("firehose")
        firehose.create_delivery_stream(
            DeliveryStreamName="clicks-to-bucket",
            DeliveryStreamType="KinesisStreamAsSource",
            KinesisStreamSourceConfiguration={
                "KinesisStreamARN": arn,
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            },
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": "arn:aws:s3:::clicks",
                "BufferingHints": {"IntervalInSeconds": 900, "SizeInMBs": 128},
            },
        )
        d = firehose.describe_delivery_stream(DeliveryStreamName="clicks-to-bucket")
        assert d["DeliveryStreamDescription"]["DeliveryStreamType"] == "KinesisStreamAsSource", d
        put = kinesis.put_records(
            StreamName="clicks",
            Records=[{"Data": f"c{i}\n".encode(), "PartitionKey": f"k{i}"} for i in range(20)],
        )
        assert put["FailedRecordCount"] == 0, put
        # The source polls every half second; give it time to buffer them.
        time.sleep(3)
    finally:
        s.stop()
    # SIGTERM delivered what the delivery stream buffered from the source.
    found = bucket_objects(s, "clicks")
    got = [line for body in found.values() for line in body.splitlines()]
    assert sorted(got) == sorted(f"c{i}".encode() for i in range(20)), (found, got)


def firehose_reads_a_remote_kinesis_stream_by_endpoint():
    # --firehose-source-endpoint: KinesisStreamAsSource streams read another
    # Kinesis endpoint (here a second sluice serve).
    source = Server()
    try:
        kinesis = source.client("kinesis")
        kinesis.create_stream(StreamName="remote-clicks", ShardCount=1)
        arn = kinesis.describe_stream_summary(StreamName="remote-clicks")[
            "StreamDescriptionSummary"]["StreamARN"]
        s = Server("--firehose-source-endpoint", source.endpoint)
        try:
            s.client("firehose").create_delivery_stream(
                DeliveryStreamName="from-remote",
                DeliveryStreamType="KinesisStreamAsSource",
                KinesisStreamSourceConfiguration={
                    "KinesisStreamARN": arn,
                    "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                },
                ExtendedS3DestinationConfiguration={
                    "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                    "BucketARN": "arn:aws:s3:::remote",
                    "BufferingHints": {"IntervalInSeconds": 900, "SizeInMBs": 128},
                },
            )
            put = kinesis.put_records(
                StreamName="remote-clicks",
                Records=[{"Data": f"r{i}\n".encode(), "PartitionKey": "k"} for i in range(10)],
            )
            assert put["FailedRecordCount"] == 0, put
            time.sleep(3)
        finally:
            s.stop()
    finally:
        source.stop()
    got = [line for body in bucket_objects(s, "remote").values() for line in body.splitlines()]
    assert got == [f"r{i}".encode() for i in range(10)], got


test(one_port_serves_kinesis_firehose_and_video)
test(firehose_reads_a_remote_kinesis_stream_by_endpoint)
test(firehose_reads_a_kinesis_stream_as_its_source)
test(firehose_transform_named_by_lambda_arn_runs_through_the_arn_map)
test(kda_application_runs_from_its_describe_application_output)
test(sigv4_guards_every_service)
summary()
