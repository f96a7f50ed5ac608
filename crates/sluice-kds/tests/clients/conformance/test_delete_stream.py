"""DeleteStream."""

import time

import kds
from kds import call, eq, check, null_error, name_errors, max_len_error

OP = "DeleteStream"

globals().update(kds.type_tests(OP, [("StreamName", "String"), ("EnforceConsumerDeletion", "Boolean")]))


def test_no_stream_name():
    kds.expect_validation(OP, {}, [null_error("streamName")])


def test_empty_stream_name():
    kds.expect_validation(OP, {"StreamName": ""}, name_errors("streamName", ""))


def test_long_stream_name():
    kds.expect_validation(OP, {"StreamName": kds.LONG_NAME}, [max_len_error("streamName", kds.LONG_NAME, 128)])


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_not_found(OP, {"StreamName": name}, kds.stream_not_found(name))


def test_delete_answers_empty_body():
    name = kds.create_and_wait(shards=1)
    kds.expect_empty_ok(call(OP, {"StreamName": name}))
    kds.wait_deleted(name)
    kds.expect_not_found("DescribeStream", {"StreamName": name}, kds.stream_not_found(name))


def test_delete_while_creating_shows_deleting():
    ep = kds.delayed()
    name = kds.unique_name()
    created = time.time()
    kds.expect_empty_ok(call("CreateStream", {"StreamName": name, "ShardCount": 1}, ep))
    eq(kds.ok("DescribeStream", {"StreamName": name}, ep)["StreamDescription"]["StreamStatus"], "CREATING", "status")
    kds.expect_empty_ok(call(OP, {"StreamName": name}, ep))
    d = kds.ok("DescribeStream", {"StreamName": name}, ep)["StreamDescription"]
    t = d.pop("StreamCreationTimestamp")
    check(created - 10 < t < created + 10, f"StreamCreationTimestamp {t}")
    eq(d, {"StreamStatus": "DELETING", "StreamName": name, "StreamARN": kds.arn(name),
           "RetentionPeriodHours": 24, "EncryptionType": "NONE",
           "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
           "StreamModeDetails": {"StreamMode": "PROVISIONED"}, "HasMoreShards": False, "Shards": []},
       "StreamDescription while DELETING")
    kds.wait_deleted(name, ep)
    kds.expect(call("DescribeStream", {"StreamName": name}, ep), 400, "ResourceNotFoundException",
               kds.stream_not_found(name))
