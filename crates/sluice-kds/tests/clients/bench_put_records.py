"""Benchmark (a) of sluice-kds: one boto3 client sending PutRecords of
500 x 100-byte records to a stream for a fixed time; prints records/s.

Started by `sluice bench --mode kds` (sluice_kds::bench), which
runs the server and creates the stream:
    bench_put_records.py ENDPOINT STREAM SECONDS
Prints one line: "<records> records in <seconds> s: <rate> records/s".
"""

import os
import sys
import time

import boto3
from botocore.config import Config


def main():
    endpoint, stream, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    k = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="AKIDBENCH", aws_secret_access_key="bench",
                     config=Config(retries={"max_attempts": 1}))
    payload = os.urandom(50).hex().encode()  # 100 bytes
    batches = [[{"Data": payload, "PartitionKey": f"pk-{b}-{i}"} for i in range(500)] for b in range(8)]
    # Warm up the connection and botocore's caches.
    k.put_records(StreamName=stream, Records=batches[0])
    sent = failed = 0
    start = time.perf_counter()
    end = start + seconds
    b = 0
    while time.perf_counter() < end:
        r = k.put_records(StreamName=stream, Records=batches[b % len(batches)])
        failed += r["FailedRecordCount"]
        sent += 500
        b += 1
    took = time.perf_counter() - start
    if failed:
        print(f"{failed} of {sent} records failed", file=sys.stderr)
        sys.exit(1)
    print(f"{sent} records in {took:.1f} s: {sent / took:.0f} records/s")


if __name__ == "__main__":
    main()
