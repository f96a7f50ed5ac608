"""AddTagsToStream. Counts follow today's AWS (botocore model / API
reference): at most 200 tags a request, 50 a stream; kinesalite recorded
the older 10."""

import kds
from kds import call, eq, check, null_error, name_errors, max_len_error, min_len_error

OP = "AddTagsToStream"
INVALID = "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @."

globals().update(kds.type_tests(OP, [("Tags", "Map"), ("Tags.a", "String"), ("StreamName", "String")]))


def S():
    return kds.shared(__name__)


def tags_of(name):
    body = kds.ok("ListTagsForStream", {"StreamName": name})
    return {t["Key"]: t["Value"] for t in body["Tags"]}


def test_no_members():
    kds.expect_validation(OP, {}, [null_error("tags"), null_error("streamName")])


def test_empty_members():
    kds.expect_validation(OP, {"StreamName": "", "Tags": {}}, [min_len_error("tags", "{}")] + name_errors("streamName", ""))


def test_long_stream_name():
    kds.expect_validation(OP, {"StreamName": kds.LONG_NAME, "Tags": {"a;b": "b"}},
                          [max_len_error("streamName", kds.LONG_NAME, 128)])


def test_long_tag_key():
    n = "a" * 129
    kds.expect_validation_re(OP, {"StreamName": kds.unique_name(), "Tags": {"a": "1", "b": "2", n: "3"}},
                             r"1 validation error detected: Value '\{[ab12, =]*" + n + r"=3[ab12, =]*\}' at 'tags' "
                             r"failed to satisfy constraint: Map keys must satisfy constraint: \[Member must have length "
                             r"less than or equal to 128, Member must have length greater than or equal to 1\]")


def test_long_tag_value():
    v = "a" * 257
    kds.expect_validation_re(OP, {"StreamName": kds.unique_name(), "Tags": {"a": "1", "b": "2", "c": v}},
                             r"1 validation error detected: Value '\{[ab12, =]*c=" + v + r"[ab12, =]*\}' at 'tags' "
                             r"failed to satisfy constraint: Map value must satisfy constraint: \[Member must have length "
                             r"less than or equal to 256, Member must have length greater than or equal to 0\]")


def test_too_many_tags_in_a_request():
    tags = {f"k{i}": "v" for i in range(201)}
    kds.expect_validation_re(OP, {"StreamName": kds.unique_name(), "Tags": tags},
                             r"1 validation error detected: Value '\{[k0-9v, =]+\}' at 'tags' failed to satisfy "
                             r"constraint: Member must have length less than or equal to 200")


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_not_found(OP, {"StreamName": name, "Tags": {"a": "b"}}, kds.stream_not_found(name))


def test_invalid_characters():
    for k, v in [("abc;def", "1"), ("abc\tdef", "1"), ("abc\ndef", "1"), ("abc,def", "1"),
                 ("a", "abc;def"), ("a", "abc\tdef"), ("a", "abc\ndef"), ("a", "abc,def")]:
        kds.expect_invalid(OP, {"StreamName": S(), "Tags": {k: v}}, INVALID)


def test_percent_in_tags():
    msg = (f"Failed to add tags to stream {S()} under account {kds.ACCOUNT} because some tags contained illegal "
           "characters. The allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'.")
    kds.expect_invalid(OP, {"StreamName": S(), "Tags": {"abc%def": "1"}}, msg)
    kds.expect_invalid(OP, {"StreamName": S(), "Tags": {"a": "abc%def"}}, msg)


def test_add_overwrite_and_stream_limit():
    name = kds.create_and_wait(shards=1)
    try:
        first = {"a": "a", "ü0 _.": "a", "/=+-@": "a", "b": "ü0 _./=+-@", "c": ""}
        kds.expect_empty_ok(call(OP, {"StreamName": name, "Tags": first}))
        for i in range(0, 45, 15):
            kds.expect_empty_ok(call(OP, {"StreamName": name, "Tags": {str(i + j): "a" for j in range(15)}}))
        eq(len(tags_of(name)), 50, "tag count")
        kds.expect_invalid(OP, {"StreamName": name, "Tags": {"new": "x"}},
                           f"Failed to add tags to stream {name} under account {kds.ACCOUNT} because a given stream "
                           "cannot have more than 50 tags associated with it.")
        kds.expect_empty_ok(call(OP, {"StreamName": name, "Tags": {"a": "b"}}))
        tags = tags_of(name)
        eq({k: tags[k] for k in first}, {**first, "a": "b"}, "tags after overwriting a")
    finally:
        kds.delete_quietly(name)
