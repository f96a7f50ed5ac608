"""Shared helpers of the Kinesis Data Streams conformance suite.

Every test states what Amazon Kinesis itself answers (status, `__type`,
message text and the exact response keys). The facts come from the
kinesalite test suite (recorded against the real service), botocore's
kinesis service model and the Kinesis API reference; see README notes in
run.py for where the sources disagree.

run.py calls configure() with the endpoints before any test runs.
"""

import base64
import datetime
import hashlib
import http.client
import json
import os
import re
import struct
import time
import urllib.parse
import uuid

ACCOUNT = os.environ.get("KDS_ACCOUNT_ID", "000000000000")
REGION = os.environ.get("KDS_REGION", "us-east-1")
SHARD_LIMIT = int(os.environ.get("KDS_SHARD_LIMIT", "500"))
VERSION = "Kinesis_20131202"
AMZ_JSON = "application/x-amz-json-1.1"
AMZ_CBOR = "application/x-amz-cbor-1.1"
ACCESS_KEY = os.environ.get("AWS_ACCESS_KEY_ID", "AKIDSLUICETEST")
SECRET_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY", "sluice-test-secret")
PREFIX = "conformance-"
UUID_RE = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")

# 2^128 split in three, as AWS splits a 3-shard stream.
HASH_MAX = 2**128 - 1
THIRD = 2**128 // 3
SHARD_RANGES = [
    ("0", "113427455640312821154458202477256070484"),
    ("113427455640312821154458202477256070485", "226854911280625642308916404954512140969"),
    ("226854911280625642308916404954512140970", "340282366920938463463374607431768211455"),
]

ENDPOINT = None
DELAYED_ENDPOINT = None


def configure(endpoint, delayed_endpoint=None):
    global ENDPOINT, DELAYED_ENDPOINT
    ENDPOINT = endpoint.rstrip("/") if endpoint else None
    DELAYED_ENDPOINT = delayed_endpoint.rstrip("/") if delayed_endpoint else None


def delayed():
    """The endpoint of the server started with 1500 ms create/delete/update delays."""
    if not DELAYED_ENDPOINT:
        raise AssertionError(
            "needs the delayed server (--delayed-endpoint / KDS_DELAYED_ENDPOINT, "
            "a server started with --create-delay-ms 1500 --delete-delay-ms 1500 --update-delay-ms 1500)")
    return DELAYED_ENDPOINT


# --------------------------------------------------------------------------
# CBOR (RFC 8949), the small subset AWS's CBOR 1.1 protocol uses.

def cbor_encode(v):
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        for add, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
            if n < 1 << (8 * struct.calcsize(fmt)):
                return bytes([major << 5 | add]) + struct.pack(fmt, n)
        raise ValueError(n)
    if v is None:
        return b"\xf6"
    if v is True:
        return b"\xf5"
    if v is False:
        return b"\xf4"
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, float):
        return b"\xfb" + struct.pack(">d", v)
    if isinstance(v, (bytes, bytearray)):
        return head(2, len(v)) + bytes(v)
    if isinstance(v, str):
        b = v.encode()
        return head(3, len(b)) + b
    if isinstance(v, (list, tuple)):
        return head(4, len(v)) + b"".join(cbor_encode(x) for x in v)
    if isinstance(v, dict):
        return head(5, len(v)) + b"".join(cbor_encode(k) + cbor_encode(x) for k, x in v.items())
    raise TypeError(type(v))


def cbor_decode(data):
    pos = 0

    def item():
        nonlocal pos
        b = data[pos]
        pos += 1
        major, add = b >> 5, b & 31
        if major == 7:
            if add == 20:
                return False
            if add == 21:
                return True
            if add in (22, 23):
                return None
            if add == 25:
                h = struct.unpack(">H", data[pos:pos + 2])[0]
                pos += 2
                return struct.unpack(">e", struct.pack(">H", h))[0]
            if add == 26:
                pos += 4
                return struct.unpack(">f", data[pos - 4:pos])[0]
            if add == 27:
                pos += 8
                return struct.unpack(">d", data[pos - 8:pos])[0]
            raise ValueError(f"CBOR simple {add}")
        if add < 24:
            n = add
        elif add == 31:
            n = None
        else:
            size = 1 << (add - 24)
            n = int.from_bytes(data[pos:pos + size], "big")
            pos += size
        if major == 0:
            return n
        if major == 1:
            return -1 - n
        if major in (2, 3):
            if n is None:
                chunks = []
                while data[pos] != 0xFF:
                    chunks.append(item())
                pos += 1
                raw = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
            else:
                raw = data[pos:pos + n]
                pos += n
            return raw if major == 2 else raw.decode()
        if major == 4:
            out = []
            while (n is None and data[pos] != 0xFF) or (n is not None and len(out) < n):
                out.append(item())
            if n is None:
                pos += 1
            return out
        if major == 5:
            out = {}
            while (n is None and data[pos] != 0xFF) or (n is not None and len(out) < n):
                k = item()
                out[k] = item()
            if n is None:
                pos += 1
            return out
        if major == 6:  # tag: the tagged item (timestamps are tag 1)
            return item()
        raise ValueError(major)

    return item()


# --------------------------------------------------------------------------
# HTTP

class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers  # lower-cased names
        self.raw = raw
        ctype = headers.get("content-type", "")
        if ctype.startswith("application/x-amz-cbor"):
            try:
                self.body = cbor_decode(raw)
            except Exception:  # noqa: BLE001
                self.body = raw
        else:
            text = raw.decode(errors="replace")
            try:
                self.body = json.loads(text)
            except ValueError:
                self.body = text

    def __repr__(self):
        body = self.body
        if isinstance(body, str) and len(body) > 300:
            body = body[:300] + "..."
        elif not isinstance(body, str):
            s = json.dumps(body, default=repr)
            body = s[:600] + ("..." if len(s) > 600 else "")
        return f"HTTP {self.status} {body!r}"


def sigv4_headers(method, url, headers, body):
    """The SigV4 headers (X-Amz-Date, Authorization) for a request."""
    u = urllib.parse.urlsplit(url)
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    signed["host"] = u.netloc
    signed["x-amz-date"] = amz_date
    names = sorted(signed)
    query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(urllib.parse.parse_qsl(u.query, keep_blank_values=True)))
    canonical = "\n".join([
        method, u.path or "/", query,
        "".join(f"{n}:{signed[n]}\n" for n in names),
        ";".join(names), hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{REGION}/kinesis/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    import hmac

    def h(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()
    key = h(h(h(h(("AWS4" + SECRET_KEY).encode(), day), REGION), "kinesis"), "aws4_request")
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "X-Amz-Date": amz_date,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
                         f"SignedHeaders={';'.join(names)}, Signature={sig}",
    }


def request(method="POST", path="/", headers=None, body=b"", sign=True, endpoint=None):
    """One raw HTTP request with exactly these headers (plus Host,
    Content-Length when there is a body, and SigV4 headers when `sign`).
    Returns a Response whose body is parsed JSON, decoded CBOR or text."""
    base = endpoint or ENDPOINT
    if isinstance(body, str):
        body = body.encode()
    headers = dict(headers or {})
    if sign:
        headers.update(sigv4_headers(method, base + path, headers, body))
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        if body or method in ("POST", "PUT"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        r = conn.getresponse()
        raw = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        return Response(r.status, hdrs, raw)
    finally:
        conn.close()


def call(op, data, endpoint=None):
    """A signed JSON 1.1 request of operation `op` with body `data` (any
    JSON value, or a str sent as is)."""
    body = data if isinstance(data, (str, bytes)) else json.dumps(data)
    return request(headers={"Content-Type": AMZ_JSON, "X-Amz-Target": f"{VERSION}.{op}"},
                   body=body, endpoint=endpoint)


def ok(op, data, endpoint=None):
    """call() that must answer 200; returns the parsed body."""
    r = call(op, data, endpoint)
    if r.status != 200:
        raise AssertionError(f"{op} {json.dumps(data)[:200]}: expected 200, got {r!r}")
    return r.body


_boto = {}


def boto(endpoint=None):
    """A boto3 kinesis client (no retries, no client-side validation)."""
    ep = endpoint or ENDPOINT
    if ep not in _boto:
        import boto3
        from botocore.config import Config
        _boto[ep] = boto3.client(
            "kinesis", endpoint_url=ep, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            config=Config(retries={"max_attempts": 1}, parameter_validation=False))
    return _boto[ep]


# --------------------------------------------------------------------------
# Assertions

def check(cond, what):
    if not cond:
        raise AssertionError(what)


def eq(actual, expected, what="value"):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def expect(r, status, type_, message=None, *, key="message", pattern=None, no_message=False):
    """The response is AWS's JSON error: `status`, body exactly
    {"__type": type_, key: message} (key "Message" for SerializationException)."""
    ctx = f"expected {status} {type_} {message!r}, got {r!r}"
    check(r.status == status, ctx)
    check(r.headers.get("content-type") == AMZ_JSON,
          f"content-type {r.headers.get('content-type')!r} != {AMZ_JSON!r}; {ctx}")
    check(isinstance(r.body, dict), ctx)
    check(r.body.get("__type") == type_, ctx)
    if no_message:
        check(set(r.body) == {"__type"}, f"expected only __type; {ctx}")
        return
    check(set(r.body) == {"__type", key}, f"expected keys __type and {key}; {ctx}")
    if pattern is not None:
        check(re.fullmatch(pattern, r.body[key]) is not None,
              f"message {r.body[key]!r} does not match {pattern!r}")
    elif message is not None:
        check(r.body[key] == message, ctx)


def expect_serialization(op, data, message):
    expect(call(op, data), 400, "SerializationException", message, key="Message")


def expect_validation(op, data, errors):
    """ValidationException listing exactly `errors` (any order) after the
    "N validation error(s) detected: " prefix, joined with "; ". An error
    may be a compiled regex (see enum_error) matched at its position."""
    r = call(op, data)
    expect(r, 400, "ValidationException")
    msg = r.body["message"]
    n = len(errors)
    prefix = f"{n} validation error{'s' if n != 1 else ''} detected: "
    check(msg.startswith(prefix), f"expected prefix {prefix!r}, got {msg!r}")
    rest = msg[len(prefix):]
    remaining = list(errors)
    while remaining:
        for i, e in enumerate(remaining):
            if isinstance(e, re.Pattern):
                m = e.match(rest)
                if m and (m.end() == len(rest) or rest[m.end():].startswith("; ")):
                    rest = rest[m.end() + 2:]
                    remaining.pop(i)
                    break
                continue
            if rest.startswith(e) and (len(rest) == len(e) or rest[len(e):].startswith("; ")):
                rest = rest[len(e) + 2:]
                remaining.pop(i)
                break
        else:
            raise AssertionError(f"could not match {rest[:400]!r} against expected {remaining!r}")
    check(rest == "", f"unexpected trailing {rest!r}")


def expect_validation_re(op, data, pattern):
    r = call(op, data)
    expect(r, 400, "ValidationException", pattern=pattern)


def expect_not_found(op, data, message):
    expect(call(op, data), 400, "ResourceNotFoundException", message)


def expect_invalid(op, data, message=None, pattern=None):
    expect(call(op, data), 400, "InvalidArgumentException", message, pattern=pattern)


def expect_in_use(op, data, message, endpoint=None):
    expect(call(op, data, endpoint), 400, "ResourceInUseException", message)


def expect_limit(op, data, message):
    expect(call(op, data), 400, "LimitExceededException", message)


def expect_empty_ok(r):
    """AWS's answer to an operation without output: 200, Content-Type
    application/x-amz-json-1.1, Content-Length 0, no body."""
    check(r.status == 200, f"expected 200, got {r!r}")
    eq(r.raw, b"", "body")
    eq(r.headers.get("content-type"), AMZ_JSON, "Content-Type")
    eq(r.headers.get("content-length"), "0", "Content-Length")


# The JVM texts AWS answers for a member of the wrong JSON type.
_BIG = "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to "
TYPE_CASES = {
    "String": [
        (True, "class java.lang.Boolean can not be converted to an String"),
        (23, _BIG + "an String"),
        (-2147483648, _BIG + "an String"),
        (2147483648, _BIG + "an String"),
        (34.56, _BIG + "an String"),
        ([], "Start of list found where not expected"),
        ({}, "Start of structure or map found where not expected."),
    ],
    "Integer": [
        ("23", "class java.lang.String can not be converted to an Integer"),
        (True, "class java.lang.Boolean can not be converted to an Integer"),
        ([], "Start of list found where not expected"),
        ({}, "Start of structure or map found where not expected."),
    ],
    "Long": [
        ("23", "class java.lang.String can not be converted to an Long"),
        (True, "class java.lang.Boolean can not be converted to an Long"),
        ([], "Start of list found where not expected"),
        ({}, "Start of structure or map found where not expected."),
    ],
    "Boolean": [
        ("23", "'23' can not be converted to an Boolean"),
        (23, _BIG + "an Boolean"),
        (-2147483648, _BIG + "an Boolean"),
        (2147483648, _BIG + "an Boolean"),
        ([], "Start of list found where not expected"),
        ({}, "Start of structure or map found where not expected."),
    ],
    "Blob": [
        (True, "class java.lang.Boolean can not be converted to a Blob"),
        (23, _BIG + "a Blob"),
        (-2147483648, _BIG + "a Blob"),
        (2147483648, _BIG + "a Blob"),
        (34.56, _BIG + "a Blob"),
        ([], "Start of list found where not expected"),
        ({}, "Start of structure or map found where not expected."),
        ("23456", "'23456' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 5"),
        ("=+/=", "'=+/=' can not be converted to a Blob: Invalid Base64 character: '='"),
        ("+/+=", "'+/+=' can not be converted to a Blob: Invalid last non-pad Base64 character dectected"),
    ],
    "Timestamp": [
        ("23", "class java.lang.String can not be converted to milliseconds since epoch"),
        (True, "class java.lang.Boolean can not be converted to milliseconds since epoch"),
        ([], "Start of list found where not expected"),
        ({}, "Start of structure or map found where not expected."),
    ],
    "List": [
        ("23", "Expected list or null"),
        (True, "Expected list or null"),
        (23, "Expected list or null"),
        (-2147483648, "Expected list or null"),
        (2147483648, "Expected list or null"),
        (34.56, "Expected list or null"),
        ({}, "Start of structure or map found where not expected."),
    ],
    "Map": [
        ("23", "Expected map or null"),
        (True, "Expected map or null"),
        (23, "Expected map or null"),
        (-2147483648, "Expected map or null"),
        (2147483648, "Expected map or null"),
        (34.56, "Expected map or null"),
        ([], "Start of list found where not expected"),
    ],
    "Structure": [
        ("23", "Expected null"),
        (True, "Expected null"),
        (23, "Expected null"),
        (-2147483648, "Expected null"),
        (2147483648, "Expected null"),
        (34.56, "Expected null"),
        ([], "Start of list found where not expected"),
    ],
}


def nest(path, value):
    """{"A": {"b": value}} for "A.b"; a "0" piece makes a one-element list."""
    pieces = path.split(".")

    def build(i):
        if i == len(pieces):
            return value
        if pieces[i] == "0":
            return [build(i + 1)]
        return {pieces[i]: build(i + 1)}
    return build(0)


def expect_type(op, path, type_):
    """Every wrong JSON type of member `path` answers AWS's SerializationException text."""
    failures = []
    for value, message in TYPE_CASES[type_]:
        r = call(op, nest(path, value))
        try:
            expect(r, 400, "SerializationException", message, key="Message")
        except AssertionError as e:
            failures.append(f"{path}={json.dumps(value)}: {e}")
    if failures:
        raise AssertionError(f"{len(failures)}/{len(TYPE_CASES[type_])} cases: " + " | ".join(failures))


def type_tests(op, members):
    """Test functions `test_serialization_<member>` for [(path, type), ...]."""
    out = {}
    for path, type_ in members:
        def t(path=path, type_=type_):
            expect_type(op, path, type_)
        out["test_serialization_" + path.replace(".", "_")] = t
    return out


# --------------------------------------------------------------------------
# Streams

def unique_name(tag=""):
    return f"{PREFIX}{tag}{uuid.uuid4().hex[:12]}"


def stream_not_found(name):
    return f"Stream {name} under account {ACCOUNT} not found."


def in_state(name, state):
    return f"Stream {name} under account {ACCOUNT} not ACTIVE, instead in state {state}"


def arn(name):
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}"


def status_of(name, endpoint=None):
    r = call("DescribeStreamSummary", {"StreamName": name}, endpoint)
    if r.status == 400 and isinstance(r.body, dict) and r.body.get("__type") == "ResourceNotFoundException":
        return None
    if r.status != 200:
        raise AssertionError(f"DescribeStreamSummary {name}: {r!r}")
    return r.body["StreamDescriptionSummary"]["StreamStatus"]


def wait_active(name, endpoint=None, timeout=15):
    deadline = time.time() + timeout
    while True:
        st = status_of(name, endpoint)
        if st == "ACTIVE":
            return
        if time.time() > deadline:
            raise AssertionError(f"stream {name} not ACTIVE after {timeout}s (status {st})")
        time.sleep(0.05)


def wait_deleted(name, endpoint=None, timeout=15):
    deadline = time.time() + timeout
    while status_of(name, endpoint) is not None:
        if time.time() > deadline:
            raise AssertionError(f"stream {name} not deleted after {timeout}s")
        time.sleep(0.05)


def create_and_wait(name=None, shards=3, endpoint=None):
    name = name or unique_name()
    r = call("CreateStream", {"StreamName": name, "ShardCount": shards}, endpoint)
    if r.status != 200:
        raise AssertionError(f"CreateStream {name}: {r!r}")
    wait_active(name, endpoint)
    return name


def delete_quietly(name, endpoint=None):
    try:
        call("DeleteStream", {"StreamName": name}, endpoint)
    except Exception:  # noqa: BLE001
        pass


_shared = {}


def shared(key, shards=3):
    """One ACTIVE `shards`-shard stream per key (a test file), created once."""
    if key not in _shared:
        _shared[key] = create_and_wait(unique_name("shared-"), shards)
    return _shared[key]


def cleanup_shared():
    for name in _shared.values():
        delete_quietly(name)
    _shared.clear()


def open_shard_total(endpoint=None):
    """Open shards over all the account's streams (AWS's "current shard count")."""
    total, start = 0, None
    while True:
        data = {"Limit": 100}
        if start:
            data["ExclusiveStartStreamName"] = start
        body = ok("ListStreams", data, endpoint)
        for n in body["StreamNames"]:
            r = call("DescribeStreamSummary", {"StreamName": n}, endpoint)
            if r.status == 200:
                total += r.body["StreamDescriptionSummary"]["OpenShardCount"]
        if not body["HasMoreStreams"] or not body["StreamNames"]:
            return total
        start = body["StreamNames"][-1]


def limit_message(current, additional):
    return (f"This request would exceed the shard limit for the account {ACCOUNT} in {REGION}. "
            f"Current shard count for the account: {current}. Limit: {SHARD_LIMIT}. "
            f"Number of additional shards that would have resulted from this request: {additional}. "
            "Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) "
            "for current limits and how to request higher limits.")


# --------------------------------------------------------------------------
# Sequence numbers and shard iterators

def seq_hex(seq):
    check(isinstance(seq, str) and re.fullmatch(r"\d{56}", seq) is not None,
          f"sequence number {seq!r} is not 56 decimal digits")
    return format(int(seq), "x")


def assert_sequence_number(seq, shard_ix, since_ms=0):
    """AWS's shape: hex `20` + 8 hex seconds (shard creation) + shard index +
    16 hex (sequence index) + `000` + 8 hex seconds (put time) + `0000000` +
    shard index + `2`."""
    h = seq_hex(seq)
    pat = f"20[0-9a-f]{{8}}{shard_ix}[0-9a-f]{{16}}000[0-9a-f]{{8}}0000000{shard_ix}2"
    check(re.fullmatch(pat, h) is not None, f"sequence number {seq} (hex {h}) does not match {pat}")
    now = time.time()
    created = int(h[2:10], 16)
    check(datetime.datetime(2015, 1, 1, tzinfo=datetime.timezone.utc).timestamp() <= created <= now + 1,
          f"shard creation seconds {created} out of range in {seq}")
    put = int(h[30:38], 16)
    check(since_ms // 1000 - 4 <= put <= now + 1, f"put seconds {put} out of range in {seq} (now {now:.0f})")


def seq_index(seq):
    return int(seq_hex(seq)[11:27], 16)


def seq_time(seq):
    return int(seq_hex(seq)[30:38], 16)


def assert_shard_iterator(it):
    """AWS's shape: canonical base64 of 152 + 16k bytes opening 0000000000000001."""
    check(isinstance(it, str), f"shard iterator {it!r} is not a string")
    try:
        raw = base64.b64decode(it, validate=True)
    except ValueError as e:
        raise AssertionError(f"shard iterator {it!r} is not base64: {e}") from None
    eq(base64.b64encode(raw).decode(), it, "shard iterator canonical base64")
    check(len(raw) >= 152 and (len(raw) - 152) % 16 == 0,
          f"shard iterator is {len(raw)} bytes, expected 152 + a multiple of 16")
    eq(raw[:8].hex(), "0000000000000001", "shard iterator's first 8 bytes")


def assert_arrival_times(records):
    check(records, "no records")
    first = records[0]["ApproximateArrivalTimestamp"]
    check(1e9 <= first <= 1e10, f"ApproximateArrivalTimestamp {first} is not epoch seconds")
    for rec in records:
        t = rec["ApproximateArrivalTimestamp"]
        check(abs(t - first) < 1, f"arrival times {first} and {t} more than 1 s apart")
        d = t - seq_time(rec["SequenceNumber"])
        check(0 <= d <= 3, f"arrival {t} vs sequence time {seq_time(rec['SequenceNumber'])}")


def strip_records(records):
    """Records without ApproximateArrivalTimestamp, for exact comparison."""
    return [{k: v for k, v in r.items() if k != "ApproximateArrivalTimestamp"} for r in records]


def check_list_streams_keys(body):
    """ListStreams answers HasMoreStreams and StreamNames (kinesalite); AWS
    has since added StreamSummaries and NextToken (botocore model)."""
    keys = set(body)
    check({"HasMoreStreams", "StreamNames"} <= keys <= {"HasMoreStreams", "StreamNames", "StreamSummaries", "NextToken"},
          f"ListStreams keys {sorted(keys)}")


def b64(data):
    return base64.b64encode(data).decode()


def mixed_records():
    """Seven records over the three shards of a 3-shard stream: shards
    0,1,2,1,2,1,2 (partition keys a, b, e, f and explicit hash keys)."""
    return [
        {"PartitionKey": "a", "Data": b64(os.urandom(10))},
        {"PartitionKey": "b", "Data": b64(os.urandom(10))},
        {"PartitionKey": "e", "Data": b64(os.urandom(10))},
        {"PartitionKey": "f", "Data": b64(os.urandom(10))},
        {"PartitionKey": "a", "Data": b64(os.urandom(10)), "ExplicitHashKey": str(HASH_MAX)},
        {"PartitionKey": "a", "Data": b64(os.urandom(10)), "ExplicitHashKey": str(THIRD * 2 - 1)},
        {"PartitionKey": "a", "Data": b64(os.urandom(10)), "ExplicitHashKey": str(THIRD * 2)},
    ]


def shards_of(description):
    """The Shards of a description with the sequence number ranges blanked."""
    out = []
    for s in description["Shards"]:
        s = dict(s)
        s["SequenceNumberRange"] = {}
        out.append(s)
    return out


def three_shards():
    return [{"ShardId": f"shardId-00000000000{i}", "SequenceNumberRange": {},
             "HashKeyRange": {"StartingHashKey": a, "EndingHashKey": b}}
            for i, (a, b) in enumerate(SHARD_RANGES)]


def name_errors(member, value):
    """The two errors AWS gives an empty name-like member."""
    return [f"Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
            f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have length greater than or equal to 1"]


def null_error(member):
    return f"Value null at '{member}' failed to satisfy constraint: Member must not be null"


def min_len_error(member, value, n=1):
    return f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have length greater than or equal to {n}"


def max_len_error(member, value, n):
    return f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have length less than or equal to {n}"


def min_value_error(member, value, n):
    return f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have value greater than or equal to {n}"


def max_value_error(member, value, n):
    return f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have value less than or equal to {n}"


def pattern_error(member, value, pattern):
    return f"Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"


HASH_PATTERN = r"0|([1-9]\d{0,38})"
SEQ_PATTERN = r"0|([1-9]\d{0,128})"
LONG_NAME = "a" * 129


# --------------------------------------------------------------------------
# Enumerations, ARNs, consumers (the operations kinesalite did not cover)

STREAM_ARN_PATTERN = r"arn:aws.*:kinesis:.*:\d{12}:stream/\S+"
CONSUMER_ARN_PATTERN = r"^(arn):aws.*:kinesis:.*:\d{12}:.*stream\/[a-zA-Z0-9_.-]+\/consumer\/[a-zA-Z0-9_.-]+:[0-9]+"
RESOURCE_ARN_PATTERN = r"arn:aws.*:kinesis:.*:\d{12}:.*(stream|channel|queue)/\S+"
NAME_PATTERN = "[a-zA-Z0-9_.-]+"
METRICS = ["IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
           "WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded", "IteratorAgeMilliseconds"]


def _value_set_re(values):
    """`[A, B, C]` with the values in any order (AWS lists an enum's values
    in its own (hash) order, which the model does not give)."""
    alt = "|".join(re.escape(v) for v in values)
    return r"\[(?:" + alt + r")(?:, (?:" + alt + r")){" + str(len(values) - 1) + r"}\]"


def enum_error(member, value, values):
    """The error of a value outside an enum, as a regex for expect_validation
    (the order of the value set is AWS's own)."""
    return re.compile(re.escape(f"Value '{value}' at '{member}' failed to satisfy constraint: "
                                "Member must satisfy enum value set: ") + _value_set_re(values))


def list_enum_error(member, items, values):
    """An element of list `member` outside its enum: AWS names the whole
    list (Java's toString) and nests the element's constraint."""
    shown = "[" + ", ".join(items) + "]"
    return re.compile(re.escape(f"Value '{shown}' at '{member}' failed to satisfy constraint: "
                                "Member must satisfy constraint: [Member must satisfy enum value set: ")
                      + _value_set_re(values) + r"\]")


def arn_errors(member, value, pattern=STREAM_ARN_PATTERN):
    """The two errors AWS gives an empty ARN member."""
    return [pattern_error(member, value, pattern), min_len_error(member, value)]


def long_arn():
    """A 2049-character stream ARN (one past the 2048 maximum)."""
    base = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/"
    return base + "a" * (2049 - len(base))


def expect_type_only(r, status, type_, why=""):
    """AWS's error type and status where its message text is not established
    (any single `message` is accepted)."""
    ctx = f"expected {status} {type_}, got {r!r}"
    check(r.status == status, ctx)
    check(r.headers.get("content-type") == AMZ_JSON, f"content-type {r.headers.get('content-type')!r}; {ctx}")
    check(isinstance(r.body, dict) and r.body.get("__type") == type_, ctx)
    check(set(r.body) <= {"__type", "message"}, f"unexpected keys; {ctx}")


def shared_arn(key, shards=3):
    return arn(shared(key, shards))


def register(stream_arn, name=None, endpoint=None):
    """RegisterStreamConsumer that must answer 200; returns its Consumer."""
    name = name or unique_name("c-")
    return ok("RegisterStreamConsumer", {"StreamARN": stream_arn, "ConsumerName": name}, endpoint)["Consumer"]


def consumer_status(consumer_arn, endpoint=None):
    r = call("DescribeStreamConsumer", {"ConsumerARN": consumer_arn}, endpoint)
    if r.status == 400 and isinstance(r.body, dict) and r.body.get("__type") == "ResourceNotFoundException":
        return None
    if r.status != 200:
        raise AssertionError(f"DescribeStreamConsumer {consumer_arn}: {r!r}")
    return r.body["ConsumerDescription"]["ConsumerStatus"]


def wait_consumer(consumer_arn, state="ACTIVE", endpoint=None, timeout=15):
    """Waits for a consumer's status (None: deregistered and gone)."""
    deadline = time.time() + timeout
    while True:
        st = consumer_status(consumer_arn, endpoint)
        if st == state:
            return
        if time.time() > deadline:
            raise AssertionError(f"consumer {consumer_arn} not {state} after {timeout}s (status {st})")
        time.sleep(0.05)


def consumer_arn_re(stream_arn, name):
    return re.escape(f"{stream_arn}/consumer/{name}:") + r"(\d+)"


def assert_consumer(c, stream_arn, name, status, since, with_stream=False):
    """A Consumer / ConsumerDescription: exact keys, its ARN is the stream's
    ARN + /consumer/<name>:<creation epoch seconds>."""
    keys = ["ConsumerARN", "ConsumerCreationTimestamp", "ConsumerName", "ConsumerStatus"]
    if with_stream:
        keys.append("StreamARN")
    eq(sorted(c), sorted(keys), "consumer keys")
    eq(c["ConsumerName"], name, "ConsumerName")
    eq(c["ConsumerStatus"], status, "ConsumerStatus")
    if with_stream:
        eq(c["StreamARN"], stream_arn, "StreamARN")
    m = re.fullmatch(consumer_arn_re(stream_arn, name), c["ConsumerARN"])
    check(m is not None, f"ConsumerARN {c['ConsumerARN']!r} is not {stream_arn}/consumer/{name}:<seconds>")
    t = c["ConsumerCreationTimestamp"]
    check(isinstance(t, (int, float)) and since - 5 <= t <= time.time() + 5,
          f"ConsumerCreationTimestamp {t!r} (request at {since:.0f})")
    eq(int(m.group(1)), int(t), "ConsumerARN's seconds vs ConsumerCreationTimestamp")


# --------------------------------------------------------------------------
# AWS event streams (application/vnd.amazon.eventstream), as SubscribeToShard answers

EVENT_STREAM = "application/vnd.amazon.eventstream"


def _header_value(buf, pos):
    t = buf[pos]
    pos += 1
    if t in (0, 1):
        return t == 0, pos
    fixed = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}
    if t in fixed:
        n = struct.calcsize(fixed[t])
        return struct.unpack(fixed[t], buf[pos:pos + n])[0], pos + n
    if t in (6, 7):
        n = struct.unpack(">H", buf[pos:pos + 2])[0]
        raw = bytes(buf[pos + 2:pos + 2 + n])
        return (raw.decode() if t == 7 else raw), pos + 2 + n
    if t == 9:
        return str(uuid.UUID(bytes=bytes(buf[pos:pos + 16]))), pos + 16
    raise AssertionError(f"event stream header value type {t}")


def decode_event_message(buf):
    """One message at the start of `buf` -> (headers, payload, length), or
    None when `buf` does not hold a whole message yet. Checks both CRCs."""
    import zlib
    if len(buf) < 12:
        return None
    total, hlen, pcrc = struct.unpack(">III", buf[:12])
    eq(zlib.crc32(bytes(buf[:8])), pcrc, "event stream prelude CRC")
    check(16 + hlen <= total, f"event stream lengths: total {total}, headers {hlen}")
    if len(buf) < total:
        return None
    mcrc = struct.unpack(">I", buf[total - 4:total])[0]
    eq(zlib.crc32(bytes(buf[:total - 4])), mcrc, "event stream message CRC")
    headers, pos = {}, 12
    while pos < 12 + hlen:
        n = buf[pos]
        name = bytes(buf[pos + 1:pos + 1 + n]).decode()
        value, pos = _header_value(buf, pos + 1 + n)
        headers[name] = value
    eq(pos, 12 + hlen, "event stream headers' end")
    return headers, bytes(buf[12 + hlen:total - 4]), total


class EventStream:
    """A SubscribeToShard answer read as it arrives: `status`, `headers`,
    and messages() / next_message() of (headers, payload)."""

    def __init__(self, conn, resp):
        self.conn, self.resp = conn, resp
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.getheaders()}
        self.buf = bytearray()
        self.ended = False

    def next_message(self, timeout=10):
        deadline = time.time() + timeout
        while True:
            got = decode_event_message(self.buf)
            if got is not None:
                headers, payload, n = got
                del self.buf[:n]
                return headers, payload
            if self.ended or time.time() > deadline:
                return None
            self.conn.sock.settimeout(max(0.05, deadline - time.time()))
            try:
                chunk = self.resp.read1(65536)
            except (TimeoutError, OSError):
                continue
            if not chunk:
                self.ended = True
            self.buf += chunk

    def events(self, want, timeout=10):
        """Messages until `want(list so far)` is true or `timeout` passes."""
        out, deadline = [], time.time() + timeout
        while not want(out):
            m = self.next_message(max(0.0, deadline - time.time()))
            if m is None:
                break
            out.append(m)
        return out

    def close(self):
        self.conn.close()


def subscribe(data, endpoint=None):
    """SubscribeToShard over raw HTTP/1.1 (JSON 1.1). Returns an EventStream
    for a 200, else a Response (the JSON error)."""
    base = endpoint or ENDPOINT
    body = json.dumps(data).encode()
    headers = {"Content-Type": AMZ_JSON, "X-Amz-Target": f"{VERSION}.SubscribeToShard"}
    headers.update(sigv4_headers("POST", base + "/", headers, body))
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.putrequest("POST", "/", skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    resp = conn.getresponse()
    if resp.status != 200:
        try:
            raw = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw)
        finally:
            conn.close()
    return EventStream(conn, resp)
