"""boto3 `firehose` against the sluice-firehose example server.

Objects are read back from the local bucket directory and compared byte for
byte with what was put. Ends with the line "N passed, M failed".
"""

import gzip
import io
import os
import shlex
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import zipfile

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["FIREHOSE_ENDPOINT"]
BUCKET_DIR = os.environ["FIREHOSE_BUCKET_DIR"]
# The server command (`sluice serve`); Firehose keeps its state under
# DATA_DIR/firehose.
SERVE_CMD = shlex.split(os.environ["FIREHOSE_SERVE_CMD"])
WORK = os.environ["FIREHOSE_WORK"]
S3_FIREHOSE_ENDPOINT = os.environ["FIREHOSE_S3_ENDPOINT"]
MOTO_ENDPOINT = os.environ["MOTO_ENDPOINT"]
ROLE = "arn:aws:iam::123456789012:role/firehose"


def client(endpoint=ENDPOINT, attempts=1):
    return boto3.client(
        "firehose",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(retries={"max_attempts": attempts, "mode": "standard"}),
    )


FH = client()


def objects(bucket, root=BUCKET_DIR):
    base = os.path.join(root, bucket)
    out = {}
    for d, _, files in os.walk(base):
        for f in files:
            # object_store's local store writes `<key>#<n>` and renames it to
            # `<key>` when complete: a staged file is not an object yet.
            if re.search(r"#\d+$", f):
                continue
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, base)] = fh.read()
    return out


def wait_objects(bucket, n, root=BUCKET_DIR, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        objs = objects(bucket, root)
        if len(objs) >= n:
            return objs
        time.sleep(0.05)
    raise AssertionError(f"expected {n} objects in {bucket}, found {len(objects(bucket, root))}")


def create(name, bucket, **dest):
    cfg = {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}",
           "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}
    cfg.update(dest)
    return FH.create_delivery_stream(DeliveryStreamName=name, DeliveryStreamType="DirectPut",
                                     ExtendedS3DestinationConfiguration=cfg)


def key_re(prefix, name, version, ext):
    return re.compile(
        "^" + prefix + r"\d{4}/\d{2}/\d{2}/\d{2}/" + re.escape(name) + f"-{version}-"
        + r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        + re.escape(ext) + "$")


def expect_error(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        return e
    raise AssertionError(f"expected {code}, call succeeded")


def test_gzip_batch_byte_for_byte():
    create("gz-stream", "b-gz", Prefix="gz/", CompressionFormat="GZIP")
    records = [f'{{"n":{i},"pad":"{"x" * (i % 50)}"}}'.encode() for i in range(300)]
    resp = FH.put_record_batch(DeliveryStreamName="gz-stream", Records=[{"Data": r} for r in records])
    assert resp["FailedPutCount"] == 0
    assert len(resp["RequestResponses"]) == 300
    assert all("RecordId" in r for r in resp["RequestResponses"])
    objs = wait_objects("b-gz", 1)
    assert len(objs) == 1, objs.keys()
    key, body = next(iter(objs.items()))
    assert key_re("gz/", "gz-stream", 1, ".gz").match(key), key
    assert gzip.decompress(body) == b"".join(records)


def test_uncompressed_with_newline_delimiter():
    create("nl-stream", "b-nl", ProcessingConfiguration={
        "Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord", "Parameters": []}]})
    FH.put_record(DeliveryStreamName="nl-stream", Record={"Data": b"first"})
    objs = wait_objects("b-nl", 1)
    key, body = next(iter(objs.items()))
    assert key_re("", "nl-stream", 1, "").match(key), key
    assert body == b"first\n"


def test_zip_and_file_extension():
    create("zip-stream", "b-zip", CompressionFormat="ZIP", FileExtension=".json.zip",
           Prefix="z/!{timestamp:yyyy}/!{firehose:random-string}/",
           ErrorOutputPrefix="err/!{firehose:error-output-type}/")
    FH.put_record_batch(DeliveryStreamName="zip-stream", Records=[{"Data": b"a"}, {"Data": b"b"}])
    objs = wait_objects("b-zip", 1)
    key, body = next(iter(objs.items()))
    assert re.match(r"^z/\d{4}/[0-9a-f]{11}/zip-stream-1-.*\.json\.zip$", key), key
    zf = zipfile.ZipFile(io.BytesIO(body))
    assert len(zf.namelist()) == 1
    assert zf.read(zf.namelist()[0]) == b"ab"


def test_describe_list_tags_delete():
    create("meta-stream", "b-meta", Prefix="m/")
    d = FH.describe_delivery_stream(DeliveryStreamName="meta-stream")["DeliveryStreamDescription"]
    assert d["DeliveryStreamStatus"] == "ACTIVE"
    assert d["VersionId"] == "1"
    assert d["DeliveryStreamARN"] == "arn:aws:firehose:us-east-1:123456789012:deliverystream/meta-stream"
    ext = d["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert ext["Prefix"] == "m/"
    assert ext["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 0}
    assert "meta-stream" in FH.list_delivery_streams()["DeliveryStreamNames"]
    FH.tag_delivery_stream(DeliveryStreamName="meta-stream", Tags=[{"Key": "team", "Value": "data"}])
    tags = FH.list_tags_for_delivery_stream(DeliveryStreamName="meta-stream")
    assert tags["Tags"] == [{"Key": "team", "Value": "data"}] and not tags["HasMoreTags"]
    FH.delete_delivery_stream(DeliveryStreamName="meta-stream")
    expect_error("ResourceNotFoundException", FH.describe_delivery_stream, DeliveryStreamName="meta-stream")


def test_update_destination_versions():
    create("upd-stream", "b-upd")
    FH.update_destination(DeliveryStreamName="upd-stream", CurrentDeliveryStreamVersionId="1",
                          DestinationId="destinationId-000000000001",
                          ExtendedS3DestinationUpdate={"CompressionFormat": "GZIP", "Prefix": "v2/"})
    expect_error("ConcurrentModificationException", FH.update_destination,
                 DeliveryStreamName="upd-stream", CurrentDeliveryStreamVersionId="1",
                 DestinationId="destinationId-000000000001", ExtendedS3DestinationUpdate={})
    FH.put_record(DeliveryStreamName="upd-stream", Record={"Data": b"after"})
    objs = wait_objects("b-upd", 1)
    key, body = next(iter(objs.items()))
    assert key_re("v2/", "upd-stream", 2, ".gz").match(key), key
    assert gzip.decompress(body) == b"after"


def test_errors():
    expect_error("ResourceNotFoundException", FH.put_record, DeliveryStreamName="missing", Record={"Data": b"x"})
    expect_error("ResourceInUseException", create, "gz-stream", "b-gz")
    e = expect_error("InvalidArgumentException", create, "bad-prefix", "b-bad", Prefix="p/!{timestamp:yyyy}/")
    assert "ErrorOutputPrefix" in e.response["Error"]["Message"]
    expect_error("InvalidArgumentException", create, "bad-prefix", "b-bad", Prefix="p/!{firehose:error-output-type}/",
                 ErrorOutputPrefix="e/!{firehose:error-output-type}/")
    expect_error("InvalidArgumentException", FH.put_record_batch, DeliveryStreamName="gz-stream",
                 Records=[{"Data": b"x" * 1_000_000}] * 5)


def test_oversize_record_fails_the_whole_batch():
    # AWS checks the request against its model first: a record over 1,000 KiB
    # fails the whole PutRecordBatch (every such record named) and the good
    # records beside it are not taken.
    create("big-stream", "b-big")
    over = b"x" * 1_024_001
    e = expect_error("ValidationException", FH.put_record_batch, DeliveryStreamName="big-stream",
                     Records=[{"Data": b"good-1\n"}, {"Data": over}, {"Data": b"good-2\n"}, {"Data": over}])
    msg = e.response["Error"]["Message"]
    assert msg.startswith("2 validation errors detected: "), msg
    assert "at 'records.2.member.data'" in msg and "at 'records.4.member.data'" in msg, msg
    assert "Member must have length less than or equal to 1024000" in msg, msg
    expect_error("ValidationException", FH.put_record, DeliveryStreamName="big-stream", Record={"Data": over})
    resp = FH.put_record_batch(DeliveryStreamName="big-stream",
                               Records=[{"Data": b"ok\n"}, {"Data": over[:1_024_000]}])
    assert resp["FailedPutCount"] == 0, resp
    assert all("RecordId" in r for r in resp["RequestResponses"]), resp
    wait_objects("b-big", 1)
    time.sleep(0.3)
    objs = objects("b-big")
    assert list(objs.values()) == [b"ok\n" + over[:1_024_000]], list(objs)


def test_dynamic_partitioning_with_jq():
    create("dp-stream", "b-dp", Prefix="customer=!{partitionKeyFromQuery:customer}/y=!{timestamp:yyyy}/",
           ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
           BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 1},
           DynamicPartitioningConfiguration={"Enabled": True},
           ProcessingConfiguration={"Enabled": True, "Processors": [
               {"Type": "MetadataExtraction", "Parameters": [
                   {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{customer:.customer_id}"},
                   {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]},
               {"Type": "AppendDelimiterToRecord", "Parameters": []}]})
    recs = [b'{"customer_id":"a","v":1}', b'{"customer_id":"b","v":2}', b'{"v":3}', b'{"customer_id":"a","v":4}']
    FH.put_record_batch(DeliveryStreamName="dp-stream", Records=[{"Data": r} for r in recs])
    objs = wait_objects("b-dp", 3)
    by_dir = {k.split("/")[0]: (k, v) for k, v in objs.items()}
    assert by_dir["customer=a"][1] == recs[0] + b"\n" + recs[3] + b"\n", by_dir
    assert by_dir["customer=b"][1] == recs[1] + b"\n"
    assert re.match(r"^customer=a/y=\d{4}/dp-stream-1-", by_dir["customer=a"][0]), by_dir["customer=a"][0]
    ek, ev = by_dir["errors"]
    assert ek.startswith("errors/partitioning-failed/"), ek
    import base64, json
    err = json.loads(ev)
    assert base64.b64decode(err["rawData"]) == recs[2]
    assert err["errorCode"] == "DynamicPartitioning.MetadataExtractionFailed"


def test_parquet_conversion_read_back_with_pyarrow():
    import base64, json
    import pyarrow.parquet as pq
    # boto3 validates SchemaConfiguration against AWS's model, so the columns
    # come from sluice's stand-in for the Glue Data Catalog.
    glue = os.path.join(WORK, "data", "firehose", "glue", "db")
    os.makedirs(glue, exist_ok=True)
    with open(os.path.join(glue, "events.json"), "w") as fh:
        json.dump({"Table": {"Name": "events", "StorageDescriptor": {"Columns": [
            {"Name": "id", "Type": "bigint"}, {"Name": "customer", "Type": "string"},
            {"Name": "amount", "Type": "double"}, {"Name": "ts", "Type": "timestamp"}]}}}, fh)
    create("pq-stream", "b-pq", Prefix="pq/", ErrorOutputPrefix="pq-err/!{firehose:error-output-type}/",
           DataFormatConversionConfiguration={
               "Enabled": True,
               "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
               "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}},
               "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": "db", "TableName": "events"}})
    good = [json.dumps({"id": i, "customer": f"c{i % 3}", "amount": i * 1.5,
                        "ts": "2024-05-01 10:00:00"}).encode() for i in range(50)]
    bad = b'{"id": "not a number"}'
    FH.put_record_batch(DeliveryStreamName="pq-stream", Records=[{"Data": r} for r in good + [bad]])
    objs = wait_objects("b-pq", 2)
    pq_keys = [k for k in objs if k.startswith("pq/")]
    assert len(pq_keys) == 1, objs.keys()
    assert key_re("pq/", "pq-stream", 1, ".parquet").match(pq_keys[0]), pq_keys[0]
    table = pq.read_table(io.BytesIO(objs[pq_keys[0]]))
    assert table.column_names == ["id", "customer", "amount", "ts"], table.schema
    assert table.column("id").to_pylist() == list(range(50))
    assert table.column("customer").to_pylist()[:3] == ["c0", "c1", "c2"]
    assert table.column("amount").to_pylist()[3] == 4.5
    meta = pq.ParquetFile(io.BytesIO(objs[pq_keys[0]])).metadata
    assert meta.row_group(0).column(0).compression == "SNAPPY"
    err_keys = [k for k in objs if k.startswith("pq-err/format-conversion-failed/")]
    assert len(err_keys) == 1, objs.keys()
    err = json.loads(objs[err_keys[0]])
    assert base64.b64decode(err["rawData"]) == bad
    assert err["ErrorCode"] == "DataFormatConversion.ParseError"
    assert err["dataCatalogTable"]["tableName"] == "events"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(data, buckets):
    port = free_port()
    log = open(os.path.join(WORK, f"crash-{port}.log"), "w")
    p = subprocess.Popen([*SERVE_CMD, "--listen", f"127.0.0.1:{port}", "--data-dir", data, "--bucket-dir", buckets],
                         stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return p, url
        except OSError:
            time.sleep(0.05)
    raise AssertionError("server did not start")


def test_sigkill_during_load_loses_no_acknowledged_record():
    data = os.path.join(WORK, "crash-data")
    buckets = os.path.join(WORK, "crash-buckets")
    p, url = start_server(data, buckets)
    fh = client(url)
    fh.create_delivery_stream(DeliveryStreamName="crash", ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::crash",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
        "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}})
    acked = []
    stop = threading.Event()

    def load():
        n = 0
        while not stop.is_set():
            batch = [f"rec-{n + i:08d}-{'y' * 200}".encode() for i in range(100)]
            try:
                r = fh.put_record_batch(DeliveryStreamName="crash", Records=[{"Data": b} for b in batch])
            except Exception:
                return
            for rec, res in zip(batch, r["RequestResponses"]):
                if "RecordId" in res:
                    acked.append(rec)
            n += 100

    t = threading.Thread(target=load)
    t.start()
    time.sleep(1.5)
    p.send_signal(signal.SIGKILL)
    p.wait()
    stop.set()
    t.join()
    assert len(acked) > 0, "no record acknowledged before the kill"
    p, url = start_server(data, buckets)
    try:
        # the 60 s interval is not up: the restart delivers recovered buffers
        # at once, then SIGTERM flushes the rest
        time.sleep(0.5)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    delivered = []
    for body in objects("crash", buckets).values():
        delivered.extend(body.split(b"\n")[:-1])
    seen = set(delivered)
    missing = [r for r in acked if r not in seen]
    dups = len(delivered) - len(seen)
    print(f"  crash test: {len(acked)} acknowledged, {len(delivered)} delivered, "
          f"{len(missing)} missing, {dups} duplicates")
    assert not missing, f"{len(missing)} acknowledged records lost"


def s3_client():
    return boto3.client("s3", endpoint_url=MOTO_ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def s3_objects(s3, bucket, n, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        if len(listed) >= n:
            return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}
        time.sleep(0.1)
    raise AssertionError(f"expected {n} objects in s3://{bucket}")


def test_s3_delivery_to_moto_byte_for_byte():
    s3 = s3_client()
    s3.create_bucket(Bucket="moto-bucket")
    fh = client(S3_FIREHOSE_ENDPOINT)
    fh.create_delivery_stream(DeliveryStreamName="to-s3", ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::moto-bucket", "Prefix": "events/dt=!{timestamp:yyyy-MM-dd}/",
        "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/", "CompressionFormat": "GZIP",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
    records = [f"line {i}\n".encode() for i in range(200)]
    fh.put_record_batch(DeliveryStreamName="to-s3", Records=[{"Data": r} for r in records])
    objs = s3_objects(s3, "moto-bucket", 1)
    key, body = next(iter(objs.items()))
    assert re.match(r"^events/dt=\d{4}-\d{2}-\d{2}/to-s3-1-\d{4}(-\d{2}){5}-[0-9a-f-]{36}\.gz$", key), key
    assert gzip.decompress(body) == b"".join(records)


def s3_stream(name, bucket, **dest):
    """A DirectPut stream of the S3-delivering server into a new moto bucket."""
    s3 = s3_client()
    s3.create_bucket(Bucket=bucket)
    cfg = {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}",
           "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}
    cfg.update(dest)
    fh = client(S3_FIREHOSE_ENDPOINT)
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=cfg)
    return s3, fh


def test_s3_zip_read_back_from_moto():
    s3, fh = s3_stream("s3-zip", "moto-zip", CompressionFormat="ZIP", Prefix="z/")
    fh.put_record_batch(DeliveryStreamName="s3-zip", Records=[{"Data": b"a\n"}, {"Data": b"b\n"}])
    key, body = next(iter(s3_objects(s3, "moto-zip", 1).items()))
    assert key.startswith("z/") and key.endswith(".zip"), key
    zf = zipfile.ZipFile(io.BytesIO(body))
    assert zf.read(zf.namelist()[0]) == b"a\nb\n"


def test_s3_dynamic_partitioning_read_back_from_moto():
    import base64, json
    s3, fh = s3_stream(
        "s3-dp", "moto-dp", Prefix="customer=!{partitionKeyFromQuery:customer}/",
        ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 1},
        DynamicPartitioningConfiguration={"Enabled": True},
        ProcessingConfiguration={"Enabled": True, "Processors": [
            {"Type": "MetadataExtraction", "Parameters": [
                {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{customer:.customer_id}"},
                {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]},
            {"Type": "AppendDelimiterToRecord", "Parameters": []}]})
    recs = [b'{"customer_id":"a","v":1}', b'{"customer_id":"b","v":2}', b'{"v":3}']
    fh.put_record_batch(DeliveryStreamName="s3-dp", Records=[{"Data": r} for r in recs])
    objs = s3_objects(s3, "moto-dp", 3)
    by_dir = {k.split("/")[0]: v for k, v in objs.items()}
    assert by_dir["customer=a"] == recs[0] + b"\n", by_dir
    assert by_dir["customer=b"] == recs[1] + b"\n", by_dir
    err = json.loads(by_dir["errors"])
    assert base64.b64decode(err["rawData"]) == recs[2]
    assert err["errorCode"] == "DynamicPartitioning.MetadataExtractionFailed"


def test_s3_parquet_read_back_from_moto():
    import json
    import pyarrow.parquet as pq
    glue = os.path.join(WORK, "data-s3", "firehose", "glue", "db")
    os.makedirs(glue, exist_ok=True)
    with open(os.path.join(glue, "orders.json"), "w") as fh:
        json.dump({"Table": {"Name": "orders", "StorageDescriptor": {"Columns": [
            {"Name": "id", "Type": "bigint"}, {"Name": "amount", "Type": "double"}]}}}, fh)
    s3, fh = s3_stream(
        "s3-pq", "moto-pq", Prefix="pq/",
        DataFormatConversionConfiguration={
            "Enabled": True,
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}},
            "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": "db", "TableName": "orders"}})
    rows = [json.dumps({"id": i, "amount": i / 2}).encode() for i in range(20)]
    fh.put_record_batch(DeliveryStreamName="s3-pq", Records=[{"Data": r} for r in rows])
    key, body = next(iter(s3_objects(s3, "moto-pq", 1).items()))
    assert key.startswith("pq/") and key.endswith(".parquet"), key
    table = pq.read_table(io.BytesIO(body))
    assert table.column("id").to_pylist() == list(range(20))
    assert table.column("amount").to_pylist()[3] == 1.5


def test_s3_unreachable_bucket_waits_then_delivers():
    s3 = s3_client()
    fh = client(S3_FIREHOSE_ENDPOINT)
    fh.create_delivery_stream(DeliveryStreamName="late-bucket", ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::late-bucket",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
    fh.put_record(DeliveryStreamName="late-bucket", Record={"Data": b"waited"})
    time.sleep(1.0)  # the first attempts fail: the bucket does not exist yet
    s3.create_bucket(Bucket="late-bucket")
    objs = s3_objects(s3, "late-bucket", 1, timeout=60)
    assert list(objs.values()) == [b"waited"]


def main():
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
            passed += 1
            print(f"ok   {name}")
        except Exception:
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
