"""ListTagsForStream (Limit up to 50 per today's botocore model;
kinesalite recorded the older 10)."""

import kds
from kds import eq, null_error, name_errors, max_len_error, min_len_error, min_value_error, max_value_error

OP = "ListTagsForStream"

globals().update(kds.type_tests(OP, [("Limit", "Integer"), ("ExclusiveStartTagKey", "String"), ("StreamName", "String")]))


def S():
    return kds.shared(__name__)


def test_no_stream_name():
    kds.expect_validation(OP, {}, [null_error("streamName")])


def test_empty_members():
    kds.expect_validation(OP, {"StreamName": "", "ExclusiveStartTagKey": "", "Limit": 0},
                          [min_value_error("limit", 0, 1), min_len_error("exclusiveStartTagKey", "")]
                          + name_errors("streamName", ""))


def test_long_members():
    n = kds.LONG_NAME
    kds.expect_validation(OP, {"StreamName": n, "ExclusiveStartTagKey": n, "Limit": 100},
                          [max_value_error("limit", 100, 50), max_len_error("exclusiveStartTagKey", n, 128),
                           max_len_error("streamName", n, 128)])


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_not_found(OP, {"StreamName": name, "ExclusiveStartTagKey": "a", "Limit": 1}, kds.stream_not_found(name))


def test_empty_by_default():
    eq(kds.ok(OP, {"StreamName": S()}), {"Tags": [], "HasMoreTags": False}, "answer")
    eq(kds.ok(OP, {"StreamName": S(), "ExclusiveStartTagKey": "a", "Limit": 1}), {"Tags": [], "HasMoreTags": False},
       "answer with Limit and ExclusiveStartTagKey")


def test_lists_in_code_point_order():
    tags = {"a": "b", " ": "a", "ÿ": "a", "_": "a", "/": "a", "=": "a", "+": "a", "Zb": "z", "0": "a", "@": "a"}
    kds.ok("AddTagsToStream", {"StreamName": S(), "Tags": tags})
    try:
        order = [" ", "+", "/", "0", "=", "@", "Zb", "_", "a", "ÿ"]
        want = [{"Key": k, "Value": tags[k]} for k in order]
        eq(kds.ok(OP, {"StreamName": S()}), {"Tags": want, "HasMoreTags": False}, "all tags")
        eq(kds.ok(OP, {"StreamName": S(), "ExclusiveStartTagKey": "@", "Limit": 2}),
           {"Tags": want[6:8], "HasMoreTags": True}, "after '@', Limit 2")
        eq(kds.ok(OP, {"StreamName": S(), "ExclusiveStartTagKey": "$Z%*(*&@,,.,,ZAC"}),
           {"Tags": want[1:], "HasMoreTags": False}, "after an absent key")
        eq(kds.ok(OP, {"StreamName": S(), "ExclusiveStartTagKey": "Za$Z%*(*&@,,.,,"}),
           {"Tags": want[6:], "HasMoreTags": False}, "after another absent key")
    finally:
        kds.ok("RemoveTagsFromStream", {"StreamName": S(), "TagKeys": list(tags)})
