"""RemoveTagsFromStream (at most 50 TagKeys a request, per today's
botocore model; kinesalite recorded the older 10)."""

import kds
from kds import call, eq, check, null_error, name_errors, max_len_error, min_len_error

OP = "RemoveTagsFromStream"
INVALID = "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @."

globals().update(kds.type_tests(OP, [("TagKeys", "List"), ("TagKeys.0", "String"), ("StreamName", "String")]))


def S():
    return kds.shared(__name__)


def test_no_members():
    kds.expect_validation(OP, {}, [null_error("tagKeys"), null_error("streamName")])


def test_empty_members():
    kds.expect_validation(OP, {"StreamName": "", "TagKeys": []}, [min_len_error("tagKeys", "[]")] + name_errors("streamName", ""))


def test_long_stream_name():
    kds.expect_validation(OP, {"StreamName": kds.LONG_NAME, "TagKeys": ["a"]},
                          [max_len_error("streamName", kds.LONG_NAME, 128)])


def test_long_tag_key():
    n = "a" * 129
    kds.expect_validation(OP, {"StreamName": kds.unique_name(), "TagKeys": ["a", n, "b"]},
                          [f"Value '[a, {n}, b]' at 'tagKeys' failed to satisfy constraint: Member must satisfy "
                           "constraint: [Member must have length less than or equal to 128, Member must have length "
                           "greater than or equal to 1]"])


def test_too_many_tag_keys():
    keys = [str(i) for i in range(1, 52)]
    kds.expect_validation(OP, {"StreamName": kds.unique_name(), "TagKeys": keys},
                          [max_len_error("tagKeys", "[" + ", ".join(keys) + "]", 50)])


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_not_found(OP, {"StreamName": name, "TagKeys": [";"]}, kds.stream_not_found(name))


def test_invalid_characters():
    for k in ["abc;def", "abc\tdef", "abc\ndef", "abc,def"]:
        kds.expect_invalid(OP, {"StreamName": S(), "TagKeys": [k]}, INVALID)


def test_percent_in_tag_keys():
    kds.expect_invalid(OP, {"StreamName": S(), "TagKeys": ["abc%def"]},
                       f"Failed to remove tags from stream {S()} under account {kds.ACCOUNT} because some tags "
                       "contained illegal characters. The allowed characters are Unicode letters, white-spaces, "
                       "'_',',','/','=','+','-','@'.")


def test_removing_absent_keys_succeeds():
    kds.expect_empty_ok(call(OP, {"StreamName": S(), "TagKeys": ["ü0 _.", "/=+-@"]}))


def test_add_and_remove():
    kds.expect_empty_ok(call("AddTagsToStream", {"StreamName": S(), "Tags": {"a": "a", "ü0 _.": "a", "/=+-@": "a"}}))
    kds.expect_empty_ok(call(OP, {"StreamName": S(), "TagKeys": ["ü0 _.", "/=+-@", "b", "c"]}))
    eq(kds.ok("ListTagsForStream", {"StreamName": S()}),
       {"Tags": [{"Key": "a", "Value": "a"}], "HasMoreTags": False}, "tags left")
    kds.expect_empty_ok(call(OP, {"StreamName": S(), "TagKeys": ["a"]}))
