"""UpdateStreamMode, by StreamARN. Constraints from botocore's model. The
stream goes UPDATING and then answers the new StreamModeDetails (API
reference). AWS's text for a missing stream named by ARN only is not
established: type and status only."""

import kds
from kds import call, eq, check, null_error, max_len_error

OP = "UpdateStreamMode"
MODES = ["PROVISIONED", "ON_DEMAND"]

globals().update(kds.type_tests(OP, [("StreamARN", "String"), ("StreamModeDetails", "Structure"),
                                     ("StreamModeDetails.StreamMode", "String")]))


def test_no_members():
    kds.expect_validation(OP, {}, [null_error("streamARN"), null_error("streamModeDetails")])


def test_empty_members():
    kds.expect_validation(OP, {"StreamARN": "", "StreamModeDetails": {}},
                          kds.arn_errors("streamARN", "") + [null_error("streamModeDetails.streamMode")])


def test_long_arn_and_bad_mode():
    a = kds.long_arn()
    kds.expect_validation(OP, {"StreamARN": a, "StreamModeDetails": {"StreamMode": "FAST"}},
                          [max_len_error("streamARN", a, 2048),
                           kds.enum_error("streamModeDetails.streamMode", "FAST", MODES)])


def test_bad_stream_arn():
    kds.expect_validation(OP, {"StreamARN": "stream/a", "StreamModeDetails": {"StreamMode": "ON_DEMAND"}},
                          [kds.pattern_error("streamARN", "stream/a", kds.STREAM_ARN_PATTERN)])


def test_stream_not_found():
    kds.expect_type_only(call(OP, {"StreamARN": kds.arn(kds.unique_name()),
                                   "StreamModeDetails": {"StreamMode": "ON_DEMAND"}}),
                         400, "ResourceNotFoundException")


def mode(name, endpoint=None):
    s = kds.ok("DescribeStreamSummary", {"StreamName": name}, endpoint)["StreamDescriptionSummary"]
    return s["StreamModeDetails"]


def test_provisioned_to_on_demand_and_back():
    name = kds.create_and_wait(shards=2)
    try:
        eq(mode(name), {"StreamMode": "PROVISIONED"}, "StreamModeDetails of a new stream")
        kds.expect_empty_ok(call(OP, {"StreamARN": kds.arn(name), "StreamModeDetails": {"StreamMode": "ON_DEMAND"}}))
        kds.wait_active(name)
        eq(mode(name), {"StreamMode": "ON_DEMAND"}, "StreamModeDetails after switching to ON_DEMAND")
        d = kds.ok("DescribeStream", {"StreamName": name})["StreamDescription"]
        eq(d["StreamModeDetails"], {"StreamMode": "ON_DEMAND"}, "DescribeStream's StreamModeDetails")
        kds.ok("PutRecord", {"StreamName": name, "PartitionKey": "a", "Data": ""})
        kds.expect_empty_ok(call(OP, {"StreamARN": kds.arn(name), "StreamModeDetails": {"StreamMode": "PROVISIONED"}}))
        kds.wait_active(name)
        eq(mode(name), {"StreamMode": "PROVISIONED"}, "StreamModeDetails after switching back")
    finally:
        kds.delete_quietly(name)


def test_on_demand_counts_in_describe_limits():
    name = kds.create_and_wait(shards=1)
    try:
        before = kds.ok("DescribeLimits", {})["OnDemandStreamCount"]
        kds.ok(OP, {"StreamARN": kds.arn(name), "StreamModeDetails": {"StreamMode": "ON_DEMAND"}})
        kds.wait_active(name)
        eq(kds.ok("DescribeLimits", {})["OnDemandStreamCount"], before + 1, "OnDemandStreamCount")
    finally:
        kds.delete_quietly(name)


def test_updating_state():
    ep = kds.delayed()
    name = kds.create_and_wait(shards=1, endpoint=ep)
    try:
        kds.expect_empty_ok(call(OP, {"StreamARN": kds.arn(name), "StreamModeDetails": {"StreamMode": "ON_DEMAND"}}, ep))
        eq(kds.status_of(name, ep), "UPDATING", "status right after UpdateStreamMode")
        kds.expect_type_only(call(OP, {"StreamARN": kds.arn(name), "StreamModeDetails": {"StreamMode": "PROVISIONED"}}, ep),
                             400, "ResourceInUseException")
        kds.wait_active(name, ep)
        eq(mode(name, ep), {"StreamMode": "ON_DEMAND"}, "StreamModeDetails once ACTIVE")
    finally:
        kds.delete_quietly(name, ep)


def test_boto3_update_stream_mode():
    name = kds.create_and_wait(shards=1)
    try:
        kds.boto().update_stream_mode(StreamARN=kds.arn(name), StreamModeDetails={"StreamMode": "ON_DEMAND"})
        kds.wait_active(name)
        eq(mode(name), {"StreamMode": "ON_DEMAND"}, "StreamModeDetails")
    finally:
        kds.delete_quietly(name)
