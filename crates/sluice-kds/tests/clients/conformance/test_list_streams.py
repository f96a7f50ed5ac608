"""ListStreams."""

import kds
from kds import eq, check, name_errors, max_len_error, min_value_error, max_value_error

OP = "ListStreams"

globals().update(kds.type_tests(OP, [("Limit", "Integer"), ("ExclusiveStartStreamName", "String"),
                                     ("NextToken", "String")]))


def test_empty_members():
    kds.expect_validation(OP, {"ExclusiveStartStreamName": "", "Limit": 0},
                          [min_value_error("limit", 0, 1)] + name_errors("exclusiveStartStreamName", ""))


def test_long_members():
    n = kds.LONG_NAME
    kds.expect_validation(OP, {"ExclusiveStartStreamName": n, "Limit": 1000000},
                          [max_value_error("limit", 1000000, 10000), max_len_error("exclusiveStartStreamName", n, 128)])


def test_lists_all_streams():
    name = kds.shared(__name__)
    body = kds.ok(OP, {})
    kds.check_list_streams_keys(body)
    eq(body["HasMoreStreams"], False, "HasMoreStreams")
    check(name in body["StreamNames"], f"{name} not in {body['StreamNames']}")
    eq(body["StreamNames"], sorted(body["StreamNames"]), "StreamNames in order")


def test_exclusive_start_stream_name_and_limit():
    name = kds.shared(__name__)
    body = kds.ok(OP, {"ExclusiveStartStreamName": name[:-1], "Limit": 1})
    kds.check_list_streams_keys(body)
    eq(body["StreamNames"], [name], "StreamNames")
