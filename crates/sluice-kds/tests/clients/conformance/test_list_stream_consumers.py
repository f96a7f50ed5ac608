"""ListStreamConsumers. Constraints from botocore's model (MaxResults 1 to
10000); paging with NextToken and StreamARN. AWS's text for a bad NextToken
is not established: that test asserts type and status."""

import time

import kds
from kds import call, eq, check, null_error, max_len_error, min_len_error, min_value_error, max_value_error

OP = "ListStreamConsumers"

globals().update(kds.type_tests(OP, [("StreamARN", "String"), ("NextToken", "String"), ("MaxResults", "Integer"),
                                     ("StreamCreationTimestamp", "Timestamp")]))

_three = {}


def three():
    """A stream with three ACTIVE consumers: (stream ARN, {name: Consumer}, time)."""
    if "s" not in _three:
        since = time.time()
        sa = kds.shared_arn(__name__, 1)
        cs = [kds.register(sa) for _ in range(3)]
        for c in cs:
            kds.wait_consumer(c["ConsumerARN"])
        _three["s"] = (sa, {c["ConsumerName"]: c for c in cs}, since)
    return _three["s"]


def test_no_members():
    kds.expect_validation(OP, {}, [null_error("streamARN")])


def test_empty_members():
    kds.expect_validation(OP, {"StreamARN": "", "NextToken": "", "MaxResults": 0},
                          kds.arn_errors("streamARN", "") + [min_len_error("nextToken", ""),
                                                             min_value_error("maxResults", 0, 1)])


def test_long_members():
    a = kds.long_arn()
    kds.expect_validation(OP, {"StreamARN": a, "MaxResults": 10001},
                          [max_len_error("streamARN", a, 2048), max_value_error("maxResults", 10001, 10000)])


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_not_found(OP, {"StreamARN": kds.arn(name)}, kds.stream_not_found(name))


def test_no_consumers():
    name = kds.create_and_wait(shards=1)
    try:
        eq(kds.ok(OP, {"StreamARN": kds.arn(name)}), {"Consumers": []}, "ListStreamConsumers of a new stream")
    finally:
        kds.delete_quietly(name)


def test_lists_consumers():
    sa, cs, since = three()
    body = kds.ok(OP, {"StreamARN": sa})
    eq(list(body), ["Consumers"], "keys")
    eq(sorted(c["ConsumerName"] for c in body["Consumers"]), sorted(cs), "consumer names")
    for c in body["Consumers"]:
        kds.assert_consumer(c, sa, c["ConsumerName"], "ACTIVE", since)
        eq(c["ConsumerARN"], cs[c["ConsumerName"]]["ConsumerARN"], "ConsumerARN")
    eq(kds.ok("DescribeStreamSummary", {"StreamARN": sa})["StreamDescriptionSummary"]["ConsumerCount"], 3,
       "ConsumerCount")


def test_max_results_pages_with_next_token():
    sa, cs, _ = three()
    first = kds.ok(OP, {"StreamARN": sa, "MaxResults": 2})
    eq(sorted(first), ["Consumers", "NextToken"], "keys of a first page")
    eq(len(first["Consumers"]), 2, "consumers on the first page")
    second = kds.ok(OP, {"StreamARN": sa, "NextToken": first["NextToken"], "MaxResults": 2})
    eq(sorted(second), ["Consumers"], "keys of the last page")
    names = [c["ConsumerName"] for c in first["Consumers"] + second["Consumers"]]
    eq(sorted(names), sorted(cs), "consumers over both pages")


def test_max_results_equal_to_count_has_no_next_token():
    sa, cs, _ = three()
    body = kds.ok(OP, {"StreamARN": sa, "MaxResults": 3})
    eq(sorted(body), ["Consumers"], "keys when MaxResults is the count")
    eq(len(body["Consumers"]), 3, "consumers")


def test_bad_next_token():
    sa, _, _ = three()
    kds.expect_type_only(call(OP, {"StreamARN": sa, "NextToken": "not-a-token"}), 400, "InvalidArgumentException")


def test_boto3_paginator():
    sa, cs, _ = three()
    pages = kds.boto().get_paginator("list_stream_consumers").paginate(StreamARN=sa, MaxResults=1)
    names = [c["ConsumerName"] for p in pages for c in p["Consumers"]]
    check(len(names) == 3, f"{len(names)} consumers over 1-consumer pages")
    eq(sorted(names), sorted(cs), "consumers")
