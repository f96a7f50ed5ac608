"""IncreaseStreamRetentionPeriod. The maximum is 8760 hours today (API
reference); kinesalite recorded the older 168-hour validation limit."""

import kds
from kds import call, eq, null_error, name_errors, max_len_error, min_value_error

OP = "IncreaseStreamRetentionPeriod"

globals().update(kds.type_tests(OP, [("StreamName", "String"), ("RetentionPeriodHours", "Integer")]))


def S():
    return kds.shared(__name__)


def retention(name, endpoint=None):
    return kds.ok("DescribeStreamSummary", {"StreamName": name}, endpoint)["StreamDescriptionSummary"]["RetentionPeriodHours"]


def test_no_members():
    kds.expect_validation(OP, {}, [null_error("retentionPeriodHours"), null_error("streamName")])


def test_empty_members():
    kds.expect_validation(OP, {"StreamName": "", "RetentionPeriodHours": -1},
                          [min_value_error("retentionPeriodHours", -1, 1)] + name_errors("streamName", ""))


def test_long_stream_name():
    kds.expect_validation(OP, {"StreamName": kds.LONG_NAME, "RetentionPeriodHours": 24},
                          [max_len_error("streamName", kds.LONG_NAME, 128)])


def test_less_than_24_hours():
    kds.expect_invalid(OP, {"StreamName": S(), "RetentionPeriodHours": 23},
                       "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short.")


def test_more_than_8760_hours():
    kds.expect_invalid(OP, {"StreamName": S(), "RetentionPeriodHours": 8761},
                       "Maximum allowed retention period is 8760 hours. Requested retention period (8761 hours) is too long.")


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_not_found(OP, {"StreamName": name, "RetentionPeriodHours": 25}, kds.stream_not_found(name))


def test_increase():
    kds.expect_empty_ok(call(OP, {"StreamName": S(), "RetentionPeriodHours": 25}))
    kds.wait_active(S())
    eq(retention(S()), 25, "RetentionPeriodHours")
    kds.expect_empty_ok(call(OP, {"StreamName": S(), "RetentionPeriodHours": 25}))
    kds.expect_invalid(OP, {"StreamName": S(), "RetentionPeriodHours": 24},
                       f"Requested retention period (24 hours) for stream {S()} can not be shorter than existing "
                       "retention period (25 hours). Use DecreaseRetentionPeriod API.")
    kds.expect_empty_ok(call("DecreaseStreamRetentionPeriod", {"StreamName": S(), "RetentionPeriodHours": 24}))
    kds.wait_active(S())
    eq(retention(S()), 24, "RetentionPeriodHours")


def test_increase_to_8760_hours():
    name = kds.create_and_wait(shards=1)
    try:
        kds.expect_empty_ok(call(OP, {"StreamName": name, "RetentionPeriodHours": 8760}))
        kds.wait_active(name)
        eq(retention(name), 8760, "RetentionPeriodHours")
    finally:
        kds.delete_quietly(name)


def test_updating_state():
    ep = kds.delayed()
    name = kds.create_and_wait(shards=1, endpoint=ep)
    try:
        kds.expect_empty_ok(call(OP, {"StreamName": name, "RetentionPeriodHours": 48}, ep))
        s = kds.ok("DescribeStreamSummary", {"StreamName": name}, ep)["StreamDescriptionSummary"]
        eq(s["StreamStatus"], "UPDATING", "StreamStatus right after IncreaseStreamRetentionPeriod")
        kds.wait_active(name, ep)
        eq(retention(name, ep), 48, "RetentionPeriodHours")
    finally:
        kds.delete_quietly(name, ep)
