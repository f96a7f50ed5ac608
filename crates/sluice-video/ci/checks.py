"""Real-client checks against a running sluice-video server (see ../ci.sh).

Usage: checks.py ENDPOINT WORKDIR SAMPLES_DIR. Prints PASS/FAIL lines.
"""
import hashlib
import json
import os
import subprocess
import sys
import traceback

import boto3

ENDPOINT, WORK, SAMPLES = sys.argv[1], sys.argv[2], sys.argv[3]
AWS_TAG_NAMES = ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", "AWS_KINESISVIDEO_SERVER_TIMESTAMP",
                 "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", "Cluster",
                 "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "AWS_KINESISVIDEO_CONTINUATION_TOKEN")
SEGMENT_CHILDREN = {0x1F43B675, 0x114D9B74, 0x1549A966, 0x1654AE6B, 0x1C53BB6B, 0x1043A770,
                    0x1941A469, 0x1254C367}


def vint(data, p, keep_marker):
    b = data[p]
    n = 1
    mask = 0x80
    while n <= 8 and not b & mask:
        n += 1
        mask >>= 1
    v = b if keep_marker else b & (mask - 1)
    all_ones = (b & (mask - 1)) == mask - 1
    for i in range(1, n):
        v = (v << 8) | data[p + i]
        all_ones = all_ones and data[p + i] == 0xFF
    return v, n, all_ones


def header(data, p):
    eid, il, _ = vint(data, p, True)
    size, sl, unknown = vint(data, p + il, False)
    return eid, (None if unknown else size), il + sl


def simple_tags(data):
    """(name, value) pairs anywhere under a Tags element's data."""
    out, p = [], 0
    while p < len(data):
        eid, size, hl = header(data, p)
        body = data[p + hl:p + hl + size]
        if eid in (0x7373, 0x67C8):
            if eid == 0x67C8:
                name = value = ""
                q = 0
                while q < len(body):
                    cid, cs, chl = header(body, q)
                    if cid == 0x45A3:
                        name = body[q + chl:q + chl + cs].decode()
                    elif cid == 0x4487:
                        value = body[q + chl:q + chl + cs].decode(errors="replace")
                    q += chl + cs
                out.append((name, value))
            else:
                out.extend(simple_tags(body))
        p += hl + size
    return out


def chunks(data):
    """Split GetMedia output into chunks: items (names), clusters, tags."""
    out, p = [], 0
    while p < len(data):
        eid, size, hl = header(data, p)
        if eid == 0x1A45DFA3:
            out.append({"items": [], "clusters": [], "tags": {}, "segment_unknown_8": False})
            p += hl + size
        elif eid == 0x18538067:
            out[-1]["segment_unknown_8"] = size is None and hl == 12
            p += hl
        elif eid == 0x1F43B675:
            if size is not None:
                end = p + hl + size
            else:
                end = p + hl
                while end < len(data):
                    cid, cs, chl = header(data, end)
                    if cid in SEGMENT_CHILDREN or cid == 0x1A45DFA3:
                        break
                    end += chl + cs
            out[-1]["items"].append("Cluster")
            out[-1]["clusters"].append(data[p:end])
            p = end
        elif eid == 0x1254C367:
            pairs = simple_tags(data[p + hl:p + hl + size])
            if any(n.startswith("AWS_KINESISVIDEO") for n, _ in pairs):
                out[-1]["items"].extend(n for n, _ in pairs)
                out[-1]["tags"].update(pairs)
            p += hl + size
        else:
            p += hl + size
    return out


def input_clusters(path):
    """sha256 of every Cluster element in an MKV file, in order."""
    data = open(path, "rb").read()
    hashes = []
    for c in chunks(data):
        hashes.extend(hashlib.sha256(x).hexdigest() for x in c["clusters"])
    return hashes


RESULTS = []


def check(name):
    def wrap(fn):
        try:
            fn()
            print(f"PASS {name}", flush=True)
        except Exception:  # noqa: BLE001 - every failure is a FAIL line
            print(f"FAIL {name}", flush=True)
            traceback.print_exc(file=sys.stdout)
        return fn
    return wrap


kv = boto3.client("kinesisvideo", endpoint_url=ENDPOINT)


def media_client(stream, api):
    ep = kv.get_data_endpoint(StreamName=stream, APIName=api)["DataEndpoint"]
    service = "kinesis-video-media" if api == "GET_MEDIA" else "kinesis-video-archived-media"
    return boto3.client(service, endpoint_url=ep)


def put_media(stream, path, extra=()):
    """PutMedia with curl (chunked, SigV4-signed); returns the ACK objects."""
    cmd = ["curl", "-sS", "--fail-with-body", "-X", "POST",
           "--aws-sigv4", "aws:amz:us-east-1:kinesisvideo", "--user", "test:test",
           "-H", "Transfer-Encoding: chunked",
           "-H", f"x-amzn-stream-name: {stream}",
           "-H", "x-amzn-fragment-timecode-type: RELATIVE",
           "-H", "x-amzn-producer-start-timestamp: 1700000000.000",
           "--data-binary", f"@{path}", *extra, f"{ENDPOINT}/putMedia"]
    out = subprocess.run(cmd, check=True, capture_output=True).stdout.decode()
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@check("control plane: create/describe/list/tags/retention/endpoint (boto3 kinesisvideo)")
def _():
    arn = kv.create_stream(StreamName="ci-video", DataRetentionInHours=24, MediaType="video/h264",
                           Tags={"suite": "ci"})["StreamARN"]
    info = kv.describe_stream(StreamName="ci-video")["StreamInfo"]
    assert info["StreamARN"] == arn and info["Status"] == "ACTIVE", info
    kv.update_data_retention(StreamName="ci-video", CurrentVersion=info["Version"],
                             Operation="INCREASE_DATA_RETENTION", DataRetentionChangeInHours=1)
    assert kv.describe_stream(StreamARN=arn)["StreamInfo"]["DataRetentionInHours"] == 25
    kv.tag_stream(StreamName="ci-video", Tags={"k": "v"})
    assert kv.list_tags_for_stream(StreamName="ci-video")["Tags"] == {"suite": "ci", "k": "v"}
    names = [s["StreamName"] for s in kv.list_streams()["StreamInfoList"]]
    assert "ci-video" in names, names
    assert kv.get_data_endpoint(StreamName="ci-video", APIName="PUT_MEDIA")["DataEndpoint"] == ENDPOINT
    try:
        kv.describe_stream(StreamName="no-such-stream")
        raise AssertionError("no error")
    except kv.exceptions.ResourceNotFoundException:
        pass


VIDEO = os.path.join(WORK, "video.mkv")
STATE = {}


@check("PutMedia (curl, chunked): one PERSISTED per cluster, no ERROR")
def _():
    acks = put_media("ci-video", VIDEO)
    kinds = [a["EventType"] for a in acks]
    clusters = input_clusters(VIDEO)
    assert "ERROR" not in kinds, acks
    assert kinds.count("PERSISTED") == len(clusters) == 5, (kinds, len(clusters))
    STATE["numbers"] = [a["FragmentNumber"] for a in acks if a["EventType"] == "PERSISTED"]


@check("GetMedia EARLIEST (boto3 kinesis-video-media): clusters sha256-identical, AWS layout")
def _():
    gm = media_client("ci-video", "GET_MEDIA")
    resp = gm.get_media(StreamName="ci-video", StartSelector={"StartSelectorType": "EARLIEST"})
    data = resp["Payload"].read()
    got = chunks(data)
    hashes = [hashlib.sha256(c).hexdigest() for ch in got for c in ch["clusters"]]
    assert hashes == input_clusters(VIDEO), "cluster bytes differ"
    for ch, number in zip(got, STATE["numbers"]):
        assert ch["segment_unknown_8"]
        assert ch["tags"]["AWS_KINESISVIDEO_FRAGMENT_NUMBER"] == number
        assert ch["tags"]["AWS_KINESISVIDEO_CONTINUATION_TOKEN"] == number
        assert tuple(ch["items"]) == AWS_TAG_NAMES, ch["items"]


@check("GetMedia output laid out like the real service's sample")
def _():
    sample = os.path.join(SAMPLES, "output_get_media.mkv")
    if not os.path.exists(sample):
        print("note: no kvs-samples, skipped")
        return
    theirs = chunks(open(sample, "rb").read())
    assert len(theirs) == 5
    for ch in theirs:
        assert ch["segment_unknown_8"] and tuple(ch["items"]) == AWS_TAG_NAMES, ch["items"]


@check("ListFragments + GetMediaForFragmentList (boto3 kinesis-video-archived-media)")
def _():
    am = media_client("ci-video", "LIST_FRAGMENTS")
    frags = []
    kwargs = {"StreamName": "ci-video", "MaxResults": 2}
    while True:
        page = am.list_fragments(**kwargs)
        frags.extend(page["Fragments"])
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    numbers = [f["FragmentNumber"] for f in frags]
    assert numbers == STATE["numbers"], numbers
    assert all(abs(f["FragmentLengthInMilliseconds"] - 2000) <= 40 for f in frags[:-1]), frags
    ranged = am.list_fragments(StreamName="ci-video", FragmentSelector={
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": 1700000001, "EndTimestamp": 1700000005}})["Fragments"]
    assert len(ranged) == 2, ranged
    out = am.get_media_for_fragment_list(StreamName="ci-video", Fragments=numbers[::-1])
    got = chunks(out["Payload"].read())
    hashes = [hashlib.sha256(c).hexdigest() for ch in got for c in ch["clusters"]]
    assert hashes == input_clusters(VIDEO)[::-1]


@check("UpdateStream (boto3): DeviceName and MediaType under its version; a stale version refused")
def _():
    kv.create_stream(StreamName="ci-upd", DataRetentionInHours=1, MediaType="video/h264",
                     DeviceName="cam-1")
    before = kv.describe_stream(StreamName="ci-upd")["StreamInfo"]
    kv.update_stream(StreamName="ci-upd", CurrentVersion=before["Version"], DeviceName="cam-2",
                     MediaType="video/h265")
    after = kv.describe_stream(StreamName="ci-upd")["StreamInfo"]
    assert after["DeviceName"] == "cam-2" and after["MediaType"] == "video/h265", after
    assert after["Version"] != before["Version"], (before, after)
    try:
        kv.update_stream(StreamName="ci-upd", CurrentVersion=before["Version"], DeviceName="cam-3")
        raise AssertionError("a stale version was accepted")
    except kv.exceptions.VersionMismatchException:
        pass
    assert kv.describe_stream(StreamName="ci-upd")["StreamInfo"]["DeviceName"] == "cam-2"


@check("SERVER_TIMESTAMP selectors (boto3): ListFragments by arrival time, GetMedia from a time")
def _():
    am = media_client("ci-video", "LIST_FRAGMENTS")
    frags = sorted(am.list_fragments(StreamName="ci-video")["Fragments"],
                   key=lambda f: int(f["FragmentNumber"]))
    times = [f["ServerTimestamp"] for f in frags]
    start, end = times[2], times[-1]
    ranged = am.list_fragments(StreamName="ci-video", FragmentSelector={
        "FragmentSelectorType": "SERVER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": start, "EndTimestamp": end}})["Fragments"]
    want = [f["FragmentNumber"] for f in frags if start <= f["ServerTimestamp"] <= end]
    assert sorted(f["FragmentNumber"] for f in ranged) == sorted(want), (ranged, want)
    gm = media_client("ci-video", "GET_MEDIA")
    data = gm.get_media(StreamName="ci-video", StartSelector={
        "StartSelectorType": "SERVER_TIMESTAMP",
        "StartTimestamp": times[0].timestamp() - 3600})["Payload"].read()
    hashes = [hashlib.sha256(c).hexdigest() for ch in chunks(data) for c in ch["clusters"]]
    assert hashes == input_clusters(VIDEO), "GetMedia from before the first fragment"


@check("audio+video: PutMedia and GetMedia round trip")
def _():
    kv.create_stream(StreamName="ci-av", DataRetentionInHours=1)
    av = os.path.join(WORK, "av.mkv")
    acks = put_media("ci-av", av)
    kinds = [a["EventType"] for a in acks]
    assert "ERROR" not in kinds and kinds.count("PERSISTED") == len(input_clusters(av)), acks
    gm = media_client("ci-av", "GET_MEDIA")
    data = gm.get_media(StreamName="ci-av", StartSelector={"StartSelectorType": "EARLIEST"})["Payload"].read()
    hashes = [hashlib.sha256(c).hexdigest() for ch in chunks(data) for c in ch["clusters"]]
    assert hashes == input_clusters(av)


@check("bad input: garbage gets ERROR 4006, earlier fragments intact")
def _():
    garbage = os.path.join(WORK, "garbage.bin")
    with open(garbage, "wb") as f:
        f.write(os.urandom(4096))
    acks = put_media("ci-video", garbage)
    assert acks and acks[-1]["EventType"] == "ERROR" and acks[-1]["ErrorId"] == 4006, acks
    am = media_client("ci-video", "LIST_FRAGMENTS")
    assert len(am.list_fragments(StreamName="ci-video")["Fragments"]) == 5


@check("bad input: truncated MKV gets ERROR 4006 for the cut fragment only")
def _():
    kv.create_stream(StreamName="ci-trunc", DataRetentionInHours=1)
    data = open(VIDEO, "rb").read()
    cut = os.path.join(WORK, "cut.mkv")
    with open(cut, "wb") as f:
        f.write(data[: len(data) * 3 // 4])
    acks = put_media("ci-trunc", cut)
    kinds = [a["EventType"] for a in acks]
    errors = [a for a in acks if a["EventType"] == "ERROR"]
    assert len(errors) == 1 and errors[0]["ErrorId"] == 4006, acks
    assert kinds.count("PERSISTED") >= 2, kinds


def run_video_app(stream, endpoint, name, env=None):
    """`sluice run --drain` of sql-examples/video-fragment-stats with its
    input read from `stream` at `endpoint` (GetMedia, from the earliest
    fragment); its VIDEO_HEALTH and VIDEO_ALERTS rows."""
    app = os.path.join(WORK, name)
    os.makedirs(app, exist_ok=True)
    sql = os.path.join(os.environ["SLUICE_REPO"], "sql-examples/video-fragment-stats/app.sql")
    with open(sql) as src, open(os.path.join(app, "app.sql"), "w") as dst:
        dst.write(src.read())
    with open(os.path.join(app, "app.toml"), "w") as f:
        f.write(f"""[[input]]
stream = "SOURCE_SQL_STREAM_001"
video_stream = "{stream}"
endpoint = "{endpoint}"
starting_position = "TRIM_HORIZON"

[[output]]
stream = "VIDEO_HEALTH"
file = "health.jsonl"

[[output]]
stream = "VIDEO_ALERTS"
file = "alerts.jsonl"
""")
    subprocess.run([os.environ["SLUICE_BIN"], "run", app, "--data-dir",
                    os.path.join(WORK, name + "-data"), "--drain"],
                   check=True, capture_output=True, timeout=120,
                   env={**os.environ, **(env or {})})

    def rows(file):
        path = os.path.join(app, file)
        if not os.path.exists(path):
            return []
        return [json.loads(line) for line in open(path) if line.strip()]
    return rows("health.jsonl"), rows("alerts.jsonl")


def assert_health(health, alerts, fragments):
    assert sum(r["FRAGMENTS"] for r in health) == fragments, health
    for r in health:
        assert 29.0 <= r["FRAMES_PER_SECOND"] <= 31.0, r
        assert r["MBIT_PER_SECOND"] > 0 and r["REJECTED"] == 0, r
        assert r["MAX_LATENCY_MS"] is None, r
    assert alerts == [], alerts


@check("sluice run: a VIDEO_FRAGMENTS app reads ffmpeg media back through signed GetMedia, a row per fragment")
def _():
    put = os.environ["SLUICE_VIDEO_PUT"].split()
    kv.create_stream(StreamName="ci-run", DataRetentionInHours=1)
    video = os.path.join(WORK, "video.mkv")
    with open(video, "rb") as f:
        subprocess.run([*put, "-", "--endpoint", ENDPOINT, "--stream", "ci-run",
                        "--relative", "1700000000"], stdin=f, check=True, capture_output=True)
    health, alerts = run_video_app("ci-run", ENDPOINT, "run-app")
    assert_health(health, alerts, len(input_clusters(video)))


@check("HTTPS: sluice video put, boto3 and a sluice run app over TLS; GetDataEndpoint answers https")
def _():
    tls, ca = os.environ["SLUICE_VIDEO_TLS_ENDPOINT"], os.environ["SLUICE_VIDEO_TLS_CA"]
    put = os.environ["SLUICE_VIDEO_PUT"].split()
    kvs = boto3.client("kinesisvideo", endpoint_url=tls, verify=ca)
    kvs.create_stream(StreamName="ci-tls", DataRetentionInHours=1)
    ep = kvs.get_data_endpoint(StreamName="ci-tls", APIName="GET_MEDIA")["DataEndpoint"]
    assert ep == tls, ep
    video = os.path.join(WORK, "video.mkv")
    env = {**os.environ, "SSL_CERT_FILE": ca}
    with open(video, "rb") as f:
        out = subprocess.run([*put, "-", "--endpoint", tls, "--stream", "ci-tls",
                              "--relative", "1700000000"], stdin=f, check=True,
                             capture_output=True, env=env)
    acks = [json.loads(line) for line in out.stdout.decode().splitlines() if line.strip()]
    clusters = input_clusters(video)
    assert [a["EventType"] for a in acks].count("PERSISTED") == len(clusters), acks
    gm = boto3.client("kinesis-video-media", endpoint_url=ep, verify=ca)
    data = gm.get_media(StreamName="ci-tls",
                        StartSelector={"StartSelectorType": "EARLIEST"})["Payload"].read()
    hashes = [hashlib.sha256(c).hexdigest() for ch in chunks(data) for c in ch["clusters"]]
    assert hashes == clusters, "cluster bytes differ"
    health, alerts = run_video_app("ci-tls", tls, "tls-app", {"SSL_CERT_FILE": ca})
    assert_health(health, alerts, len(clusters))


@check("DeleteStream (boto3)")
def _():
    arn = kv.describe_stream(StreamName="ci-trunc")["StreamInfo"]["StreamARN"]
    kv.delete_stream(StreamARN=arn)
    try:
        kv.describe_stream(StreamName="ci-trunc")
        raise AssertionError("still there")
    except kv.exceptions.ResourceNotFoundException:
        pass


@check("Sluice PutMedia client (sluice video put, signed, stdin, audio+video): ACK lines, GetMedia sha256-identical")
def _():
    put = os.environ["SLUICE_VIDEO_PUT"].split()
    kv.create_stream(StreamName="ci-client", DataRetentionInHours=1)
    av = os.path.join(WORK, "av.mkv")
    with open(av, "rb") as f:
        out = subprocess.run([*put, "-", "--endpoint", ENDPOINT, "--stream", "ci-client",
                              "--relative", "1700000000"], stdin=f, check=True,
                             capture_output=True)
    acks = [json.loads(line) for line in out.stdout.decode().splitlines() if line.strip()]
    kinds = [a["EventType"] for a in acks]
    clusters = input_clusters(av)
    assert "ERROR" not in kinds and kinds.count("PERSISTED") == len(clusters), kinds
    gm = media_client("ci-client", "GET_MEDIA")
    data = gm.get_media(StreamName="ci-client",
                        StartSelector={"StartSelectorType": "EARLIEST"})["Payload"].read()
    hashes = [hashlib.sha256(c).hexdigest() for ch in chunks(data) for c in ch["clusters"]]
    assert hashes == clusters, "cluster bytes differ"


@check("auth on: PutMedia signed with a wrong secret is refused, nothing stored")
def _():
    put = os.environ["SLUICE_VIDEO_PUT"].split()
    kv.create_stream(StreamName="ci-badsig", DataRetentionInHours=1)
    with open(os.path.join(WORK, "video.mkv"), "rb") as f:
        out = subprocess.run([*put, "-", "--endpoint", ENDPOINT, "--stream", "ci-badsig",
                              "--access-key", "test:wrong", "--max-attempts", "1"],
                             stdin=f, capture_output=True)
    assert out.returncode != 0, out
    err = out.stderr.decode() + out.stdout.decode()
    assert "InvalidSignatureException" in err or "signature" in err.lower(), err
    am = media_client("ci-badsig", "LIST_FRAGMENTS")
    frags = am.list_fragments(StreamName="ci-badsig")["Fragments"]
    assert frags == [], frags


@check("GetClip (boto3 kinesis-video-archived-media): ffprobe reads the MP4, 4 s, 120 frames")
def _():
    am = media_client("ci-video", "GET_CLIP")
    out = am.get_clip(StreamName="ci-video", ClipFragmentSelector={
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": 1700000002, "EndTimestamp": 1700000005}})
    assert out["ContentType"] == "video/mp4", out["ContentType"]
    clip = os.path.join(WORK, "clip.mp4")
    with open(clip, "wb") as f:
        f.write(out["Payload"].read())
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                            "-show_entries", "stream=codec_name,nb_read_frames,duration",
                            "-of", "json", clip], check=True, capture_output=True)
    stream = json.loads(probe.stdout)["streams"][0]
    assert stream["codec_name"] == "h264", stream
    assert int(stream["nb_read_frames"]) == 120, stream
    assert abs(float(stream["duration"]) - 4.0) < 0.05, stream


@check("GetClip exceptions (boto3): NoDataRetention, InvalidArgument, ResourceNotFound")
def _():
    kv.create_stream(StreamName="ci-noretain", DataRetentionInHours=0)
    am = media_client("ci-video", "GET_CLIP")

    def code(stream, kind, start, end):
        try:
            am.get_clip(StreamName=stream, ClipFragmentSelector={
                "FragmentSelectorType": kind,
                "TimestampRange": {"StartTimestamp": start, "EndTimestamp": end}})
        except am.exceptions.ClientError as e:
            return e.response["Error"]["Code"]
        return "no error"

    assert code("ci-noretain", "PRODUCER_TIMESTAMP", 1700000000, 1700000005) \
        == "NoDataRetentionException"
    assert code("ci-video", "PRODUCER_TIMESTAMP", 1700000005, 1700000002) \
        == "InvalidArgumentException"
    assert code("ci-video", "PRODUCER_TIMESTAMP", 1600000000, 1600000005) \
        == "ResourceNotFoundException"


def make_av(name, video, audio):
    """4 s of testsrc (320x240, 30 fps) + a 440 Hz sine in Matroska, a
    keyframe (so a cluster, so a fragment) every second, no B-frames."""
    path = os.path.join(WORK, name)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc=duration=4:size=320x240:rate=30",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
                    *video, *audio, "-cluster_time_limit", "10000", "-f", "matroska", path],
                   check=True, capture_output=True)
    return path


def probe_streams(path):
    """ffprobe's view of every stream, frames counted."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                            "stream=codec_type,codec_name,codec_tag_string,nb_read_frames,"
                            "duration,sample_rate,channels,width,height",
                            "-of", "json", path], check=True, capture_output=True)
    return {s["codec_type"]: s for s in json.loads(probe.stdout)["streams"]}


def clip_of(stream, path, mp4_name):
    """PutMedia `path` (producer start 1700000000), GetClip all of it with
    boto3; returns the MP4's path. Every cluster must be PERSISTED."""
    kv.create_stream(StreamName=stream, DataRetentionInHours=1)
    acks = put_media(stream, path)
    kinds = [a["EventType"] for a in acks]
    clusters = input_clusters(path)
    assert "ERROR" not in kinds and kinds.count("PERSISTED") == len(clusters) == 4, (kinds, len(clusters))
    am = media_client(stream, "GET_CLIP")
    out = am.get_clip(StreamName=stream, ClipFragmentSelector={
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": 1700000000, "EndTimestamp": 1700000010}})
    assert out["ContentType"] == "video/mp4", out["ContentType"]
    clip = os.path.join(WORK, mp4_name)
    with open(clip, "wb") as f:
        f.write(out["Payload"].read())
    # ffmpeg decodes every frame of both tracks without a complaint.
    dec = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", clip, "-f", "null", "-"],
                         capture_output=True)
    assert dec.returncode == 0 and not dec.stderr.strip(), dec.stderr.decode()
    return clip


def check_av_clip(clip, vcodec, vtag, acodec, rate, channels):
    got = probe_streams(clip)
    v, a = got["video"], got.get("audio")
    print(f"  ffprobe {os.path.basename(clip)}: video {v['codec_name']}/{v['codec_tag_string']} "
          f"{v['width']}x{v['height']} {v['nb_read_frames']} frames {v['duration']} s; audio "
          + (f"{a['codec_name']} {a['sample_rate']} Hz x{a['channels']} {a['nb_read_frames']} "
             f"frames {a['duration']} s" if a else "none"), flush=True)
    assert (v["codec_name"], v["codec_tag_string"]) == (vcodec, vtag), v
    assert (v["width"], v["height"]) == (320, 240), v
    assert int(v["nb_read_frames"]) == 120, v
    assert abs(float(v["duration"]) - 4.0) < 0.05, v
    assert a is not None, got
    assert a["codec_name"] == acodec, a
    assert (int(a["sample_rate"]), int(a["channels"])) == (rate, channels), a
    assert abs(float(a["duration"]) - 4.0) < 0.1, a
    assert int(a["nb_read_frames"]) > 0, a


# H.264 with a keyframe (so a fragment) every 30 frames, no B-frames.
X264_KEY_EVERY_30 = ["-c:v", "libx264", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0",
                     "-bf", "0"]


@check("GetClip H.265 + AAC (ffmpeg libx265/aac, boto3): ffprobe reads hevc + aac, 4 s, 120 frames")
def _():
    mkv = make_av("hevc_aac.mkv",
                  ["-c:v", "libx265", "-x265-params",
                   "log-level=error:keyint=30:min-keyint=30:scenecut=0:bframes=0"],
                  ["-c:a", "aac"])
    clip = clip_of("ci-hevc-aac", mkv, "hevc_aac.mp4")
    check_av_clip(clip, "hevc", "hvc1", "aac", 44100, 1)


@check("GetClip H.264 + AAC (ffmpeg libx264/aac, boto3): ffprobe reads h264 + aac, 4 s, 120 frames")
def _():
    mkv = make_av("avc_aac.mkv",
                  X264_KEY_EVERY_30,
                  ["-c:a", "aac", "-ac", "2", "-ar", "48000"])
    clip = clip_of("ci-avc-aac", mkv, "avc_aac.mp4")
    check_av_clip(clip, "h264", "avc1", "aac", 48000, 2)


@check("GetClip H.264 + G.711 A-law (A_MS/ACM, boto3): ffprobe reads h264 + pcm_alaw, 4 s")
def _():
    mkv = make_av("avc_alaw.mkv",
                  X264_KEY_EVERY_30,
                  ["-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1"])
    clip = clip_of("ci-avc-alaw", mkv, "avc_alaw.mp4")
    check_av_clip(clip, "h264", "avc1", "pcm_alaw", 8000, 1)


@check("GetClip refuses G.711 µ-law (AWS: A-law only): UnsupportedStreamMediaTypeException")
def _():
    mkv = make_av("avc_mulaw.mkv",
                  X264_KEY_EVERY_30,
                  ["-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"])
    kv.create_stream(StreamName="ci-avc-mulaw", DataRetentionInHours=1)
    acks = put_media("ci-avc-mulaw", mkv)
    assert "ERROR" not in [a["EventType"] for a in acks], acks
    am = media_client("ci-avc-mulaw", "GET_CLIP")
    try:
        am.get_clip(StreamName="ci-avc-mulaw", ClipFragmentSelector={
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": 1700000000, "EndTimestamp": 1700000010}})
        raise AssertionError("no error")
    except am.exceptions.UnsupportedStreamMediaTypeException:
        pass
