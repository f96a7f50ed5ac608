"""SubscribeToShard over raw HTTP/1.1. The answer is an AWS event stream
(application/vnd.amazon.eventstream): an `initial-response` event, then
SubscribeToShardEvent events of Records, ContinuationSequenceNumber and
MillisBehindLatest (botocore's model, API reference); kds.py decodes the
binary framing (prelude, headers, both CRCs). A second subscription of the
same consumer and shard within 5 seconds is a ResourceInUseException (API
reference). AWS's texts for an unknown consumer or shard and for a consumer
that is not ACTIVE are not established: type and status only."""

import base64
import json
import os
import time

import kds
from kds import call, eq, check, null_error, name_errors, max_len_error, min_len_error, pattern_error

OP = "SubscribeToShard"
TYPES = ["AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]

_state = {}


def setup():
    """A 1-shard stream with an ACTIVE consumer: (stream, consumer ARN)."""
    if "s" not in _state:
        name = kds.shared(__name__, 1)
        c = kds.register(kds.arn(name))
        kds.wait_consumer(c["ConsumerARN"])
        _state["s"] = (name, c["ConsumerARN"])
    return _state["s"]


def fresh_consumer():
    """Another ACTIVE consumer of the shared stream (a subscription holds its
    consumer and shard for a while)."""
    name, _ = setup()
    c = kds.register(kds.arn(name))
    kds.wait_consumer(c["ConsumerARN"])
    return c["ConsumerARN"]


def test_no_members():
    kds.expect_validation(OP, {}, [null_error("consumerARN"), null_error("shardId"), null_error("startingPosition")])


def test_empty_members():
    kds.expect_validation(OP, {"ConsumerARN": "", "ShardId": "", "StartingPosition": {}},
                          kds.arn_errors("consumerARN", "", kds.CONSUMER_ARN_PATTERN) + name_errors("shardId", "")
                          + [null_error("startingPosition.type")])


def test_long_members_and_bad_type():
    ca = f"{kds.arn('s')}/consumer/{'c' * 2048}:1"
    n = kds.LONG_NAME
    kds.expect_validation(OP, {"ConsumerARN": ca, "ShardId": n, "StartingPosition": {"Type": "FOO"}},
                          [max_len_error("consumerARN", ca, 2048), max_len_error("shardId", n, 128),
                           kds.enum_error("startingPosition.type", "FOO", TYPES)])


def test_bad_consumer_arn_and_sequence_number():
    ca = kds.arn("s")
    kds.expect_validation(OP, {"ConsumerARN": ca, "ShardId": "shardId-0",
                               "StartingPosition": {"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": "x"}},
                          [pattern_error("consumerARN", ca, kds.CONSUMER_ARN_PATTERN),
                           pattern_error("startingPosition.sequenceNumber", "x", kds.SEQ_PATTERN)])


def test_unknown_consumer():
    name, _ = setup()
    r = kds.subscribe({"ConsumerARN": f"{kds.arn(name)}/consumer/{kds.unique_name('c-')}:1",
                       "ShardId": "shardId-000000000000", "StartingPosition": {"Type": "LATEST"}})
    check(isinstance(r, kds.Response), f"expected an error, got an event stream ({r.status})")
    kds.expect_type_only(r, 400, "ResourceNotFoundException")


def test_unknown_stream():
    name = kds.unique_name()
    r = kds.subscribe({"ConsumerARN": f"{kds.arn(name)}/consumer/c:1",
                       "ShardId": "shardId-000000000000", "StartingPosition": {"Type": "LATEST"}})
    check(isinstance(r, kds.Response), f"expected an error, got an event stream ({r.status})")
    kds.expect_type_only(r, 400, "ResourceNotFoundException")


def test_unknown_shard():
    _, ca = setup()
    r = kds.subscribe({"ConsumerARN": ca, "ShardId": "shardId-000000000005", "StartingPosition": {"Type": "LATEST"}})
    check(isinstance(r, kds.Response), f"expected an error, got an event stream ({r.status})")
    kds.expect_type_only(r, 400, "ResourceNotFoundException")


def events_until(es, pred, timeout=10):
    """SubscribeToShardEvent payloads (decoded) until pred(all records so far)."""
    got, recs = [], []
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = es.next_message(max(0.0, deadline - time.time()))
        if m is None:
            break
        headers, payload = m
        eq(headers.get(":message-type"), "event", f"message type ({headers}, {payload[:300]!r})")
        eq(headers.get(":event-type"), "SubscribeToShardEvent", "event type")
        check(":content-type" in headers, f"no :content-type in {headers}")
        ev = json.loads(payload)
        got.append(ev)
        recs.extend(ev["Records"])
        if pred(recs):
            break
    return got, recs


def open_stream(ca, position, endpoint=None):
    es = kds.subscribe({"ConsumerARN": ca, "ShardId": "shardId-000000000000", "StartingPosition": position}, endpoint)
    check(isinstance(es, kds.EventStream), f"SubscribeToShard: {es!r}")
    eq(es.status, 200, "status")
    eq(es.headers.get("content-type"), kds.EVENT_STREAM, "Content-Type")
    first = es.next_message()
    check(first is not None, "no initial-response event")
    headers, payload = first
    eq((headers.get(":message-type"), headers.get(":event-type")), ("event", "initial-response"),
       f"first event's headers ({headers})")
    eq(json.loads(payload or b"{}"), {}, "initial-response payload")
    return es


def check_event(ev):
    keys = sorted(ev)
    check(keys in (["ContinuationSequenceNumber", "MillisBehindLatest", "Records"],
                   ["ChildShards", "ContinuationSequenceNumber", "MillisBehindLatest", "Records"]),
          f"SubscribeToShardEvent keys {keys}")
    kds.seq_hex(ev["ContinuationSequenceNumber"])
    check(isinstance(ev["MillisBehindLatest"], int) and ev["MillisBehindLatest"] >= 0,
          f"MillisBehindLatest {ev['MillisBehindLatest']!r}")
    for r in ev["Records"]:
        eq(sorted(r), ["ApproximateArrivalTimestamp", "Data", "PartitionKey", "SequenceNumber"], "record keys")
    if ev["Records"]:
        check(int(ev["ContinuationSequenceNumber"]) >= int(ev["Records"][-1]["SequenceNumber"]),
              "ContinuationSequenceNumber before the event's last record")


def put_some(name, n=3):
    out = []
    for i in range(n):
        data = os.urandom(8)
        p = kds.ok("PutRecord", {"StreamName": name, "PartitionKey": f"k{i}", "Data": kds.b64(data)})
        out.append({"SequenceNumber": p["SequenceNumber"], "PartitionKey": f"k{i}", "Data": kds.b64(data)})
    return out


def test_trim_horizon_delivers_records():
    name, _ = setup()
    ca = fresh_consumer()
    put = put_some(name)
    es = open_stream(ca, {"Type": "TRIM_HORIZON"})
    try:
        wanted = {p["SequenceNumber"] for p in put}
        evs, recs = events_until(es, lambda rs: wanted <= {r["SequenceNumber"] for r in rs})
        check(evs, "no SubscribeToShardEvent")
        for ev in evs:
            check_event(ev)
        got = [r for r in kds.strip_records(recs) if r["SequenceNumber"] in wanted]
        eq(got, put, "records of a TRIM_HORIZON subscription")
        kds.assert_arrival_times([r for r in recs if r["SequenceNumber"] in wanted])
    finally:
        es.close()


def test_latest_then_put():
    name, _ = setup()
    ca = fresh_consumer()
    es = open_stream(ca, {"Type": "LATEST"})
    try:
        put = put_some(name, 2)
        wanted = {p["SequenceNumber"] for p in put}
        evs, recs = events_until(es, lambda rs: wanted <= {r["SequenceNumber"] for r in rs})
        for ev in evs:
            check_event(ev)
        eq(kds.strip_records(recs), put, "records of a LATEST subscription")
    finally:
        es.close()


def test_at_and_after_sequence_number():
    name, _ = setup()
    put = put_some(name, 3)
    for kind, start in (("AT_SEQUENCE_NUMBER", 1), ("AFTER_SEQUENCE_NUMBER", 2)):
        ca = fresh_consumer()
        es = open_stream(ca, {"Type": kind, "SequenceNumber": put[1]["SequenceNumber"]})
        try:
            wanted = {p["SequenceNumber"] for p in put[start:]}
            _, recs = events_until(es, lambda rs: wanted <= {r["SequenceNumber"] for r in rs})
            eq(kds.strip_records(recs)[:len(put) - start], put[start:], f"records from {kind}")
        finally:
            es.close()


def test_event_without_records_still_arrives():
    # With nothing to read AWS still sends events (about every 5 s at most).
    ca = fresh_consumer()
    es = open_stream(ca, {"Type": "LATEST"})
    try:
        m = es.next_message(timeout=8)
        check(m is not None, "no SubscribeToShardEvent within 8 s of an idle subscription")
        ev = json.loads(m[1])
        check_event(ev)
        eq(ev["Records"], [], "Records of an idle subscription")
    finally:
        es.close()


def test_second_subscription_is_in_use():
    ca = fresh_consumer()
    es = open_stream(ca, {"Type": "LATEST"})
    try:
        r = kds.subscribe({"ConsumerARN": ca, "ShardId": "shardId-000000000000", "StartingPosition": {"Type": "LATEST"}})
        check(isinstance(r, kds.Response), f"a second subscription within 5 s got an event stream ({r.status})")
        kds.expect_type_only(r, 400, "ResourceInUseException")
    finally:
        es.close()


def test_consumer_creating():
    ep = kds.delayed()
    name = kds.create_and_wait(shards=1, endpoint=ep)
    try:
        c = kds.register(kds.arn(name), endpoint=ep)
        eq(kds.consumer_status(c["ConsumerARN"], ep), "CREATING", "consumer status")
        r = kds.subscribe({"ConsumerARN": c["ConsumerARN"], "ShardId": "shardId-000000000000",
                           "StartingPosition": {"Type": "LATEST"}}, ep)
        check(isinstance(r, kds.Response), f"a CREATING consumer got an event stream ({r.status})")
        kds.expect_type_only(r, 400, "ResourceInUseException")
    finally:
        kds.delete_quietly(name, ep)


def test_event_stream_decoder():
    """The decoder against a message framed here from the format's definition."""
    import struct
    import zlib

    def hdr(name, value):
        v = value.encode()
        return bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(v)) + v
    headers = hdr(":message-type", "event") + hdr(":event-type", "initial-response")
    payload = b"{}"
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers))
    msg = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + payload
    msg += struct.pack(">I", zlib.crc32(msg))
    h, p, n = kds.decode_event_message(bytearray(msg))
    eq((h, p, n), ({":message-type": "event", ":event-type": "initial-response"}, b"{}", total), "decoded")
    bad = bytearray(msg)
    bad[-5] ^= 1
    try:
        kds.decode_event_message(bad)
    except AssertionError:
        pass
    else:
        raise AssertionError("a bad message CRC was not caught")
