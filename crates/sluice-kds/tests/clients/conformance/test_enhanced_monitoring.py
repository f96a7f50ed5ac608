"""EnableEnhancedMonitoring / DisableEnhancedMonitoring. Constraints from
botocore's model (1 to 7 metric names, "ALL" for every metric); both answer
StreamName, StreamARN, CurrentShardLevelMetrics (before) and
DesiredShardLevelMetrics (after), and DescribeStream's EnhancedMonitoring
shows the metrics afterwards (API reference)."""

import kds
from kds import call, eq, null_error, name_errors, max_len_error

ENABLE, DISABLE = "EnableEnhancedMonitoring", "DisableEnhancedMonitoring"
NAMES = kds.METRICS + ["ALL"]

for _op in (ENABLE, DISABLE):
    globals().update({f"{k}_{_op}": v for k, v in kds.type_tests(_op, [
        ("StreamName", "String"), ("ShardLevelMetrics", "List"), ("ShardLevelMetrics.0", "String"),
        ("StreamARN", "String")]).items()})


def test_no_members():
    for op in (ENABLE, DISABLE):
        kds.expect_validation(op, {}, [null_error("shardLevelMetrics"), null_error("streamName")])


def test_empty_members():
    for op in (ENABLE, DISABLE):
        kds.expect_validation(op, {"StreamName": "", "ShardLevelMetrics": []},
                              name_errors("streamName", "")
                              + ["Value '[]' at 'shardLevelMetrics' failed to satisfy constraint: "
                                 "Member must have length greater than or equal to 1"])


def test_long_members():
    n = kds.LONG_NAME
    eight = kds.METRICS + ["ALL"]
    for op in (ENABLE, DISABLE):
        kds.expect_validation(op, {"StreamName": n, "ShardLevelMetrics": eight},
                              [max_len_error("streamName", n, 128),
                               f"Value '[{', '.join(eight)}]' at 'shardLevelMetrics' failed to satisfy constraint: "
                               "Member must have length less than or equal to 7"])


def test_bad_metric_name():
    for op in (ENABLE, DISABLE):
        kds.expect_validation(op, {"StreamName": "s", "ShardLevelMetrics": ["IncomingBytes", "Foo"]},
                              [kds.list_enum_error("shardLevelMetrics", ["IncomingBytes", "Foo"], NAMES)])


def test_stream_not_found():
    for op in (ENABLE, DISABLE):
        name = kds.unique_name()
        kds.expect_not_found(op, {"StreamName": name, "ShardLevelMetrics": ["ALL"]}, kds.stream_not_found(name))


def monitoring(name):
    em = kds.ok("DescribeStream", {"StreamName": name})["StreamDescription"]["EnhancedMonitoring"]
    eq(len(em), 1, f"EnhancedMonitoring {em}")
    eq(list(em[0]), ["ShardLevelMetrics"], "EnhancedMonitoring keys")
    return sorted(em[0]["ShardLevelMetrics"])


def answer(op, name, metrics, current, desired, by_arn=False):
    data = {"ShardLevelMetrics": metrics}
    data.update({"StreamARN": kds.arn(name)} if by_arn else {"StreamName": name})
    body = kds.ok(op, data)
    eq(sorted(body), ["CurrentShardLevelMetrics", "DesiredShardLevelMetrics", "StreamARN", "StreamName"],
       f"{op} keys")
    eq((body["StreamName"], body["StreamARN"]), (name, kds.arn(name)), f"{op} StreamName and StreamARN")
    eq(sorted(body["CurrentShardLevelMetrics"]), sorted(current), f"{op} CurrentShardLevelMetrics")
    eq(sorted(body["DesiredShardLevelMetrics"]), sorted(desired), f"{op} DesiredShardLevelMetrics")
    kds.wait_active(name)
    eq(monitoring(name), sorted(desired), f"DescribeStream's ShardLevelMetrics after {op}")


def test_enable_and_disable():
    name = kds.create_and_wait(shards=1)
    try:
        eq(monitoring(name), [], "ShardLevelMetrics of a new stream")
        answer(ENABLE, name, ["IncomingBytes", "OutgoingBytes"], [], ["IncomingBytes", "OutgoingBytes"])
        answer(ENABLE, name, ["IncomingBytes", "IncomingRecords"], ["IncomingBytes", "OutgoingBytes"],
               ["IncomingBytes", "IncomingRecords", "OutgoingBytes"])
        answer(DISABLE, name, ["IncomingBytes"], ["IncomingBytes", "IncomingRecords", "OutgoingBytes"],
               ["IncomingRecords", "OutgoingBytes"])
        answer(DISABLE, name, ["IteratorAgeMilliseconds"], ["IncomingRecords", "OutgoingBytes"],
               ["IncomingRecords", "OutgoingBytes"])
        s = kds.ok("DescribeStreamSummary", {"StreamName": name})["StreamDescriptionSummary"]
        eq(sorted(s["EnhancedMonitoring"][0]["ShardLevelMetrics"]), ["IncomingRecords", "OutgoingBytes"],
           "DescribeStreamSummary's ShardLevelMetrics")
    finally:
        kds.delete_quietly(name)


def test_all_enables_and_disables_every_metric():
    # "ALL" stands for the seven metrics, which AWS then lists by name.
    name = kds.create_and_wait(shards=1)
    try:
        answer(ENABLE, name, ["ALL"], [], kds.METRICS, by_arn=True)
        answer(DISABLE, name, ["ALL"], kds.METRICS, [], by_arn=True)
    finally:
        kds.delete_quietly(name)


def test_boto3_enhanced_monitoring():
    name = kds.create_and_wait(shards=1)
    try:
        r = kds.boto().enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["IncomingBytes"])
        eq((r["StreamName"], r["DesiredShardLevelMetrics"]), (name, ["IncomingBytes"]), "boto3 answer")
    finally:
        kds.delete_quietly(name)
