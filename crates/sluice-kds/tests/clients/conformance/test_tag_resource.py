"""TagResource / UntagResource / ListTagsForResource on a stream ARN.
Constraints from botocore's model (1 to 200 tags a request, 1 to 50
TagKeys, keys 1 to 128 and values 0 to 256 characters); the tags are the
stream's tags, shared with AddTagsToStream / ListTagsForStream, at most 50
a stream. AWS's texts for a missing stream named by ARN, for bad tag
characters and for the 50-tag limit through TagResource are not
established: type and status only (the limit's type as AddTagsToStream's)."""

import kds
from kds import call, eq, null_error, min_len_error

TAG, UNTAG, LIST = "TagResource", "UntagResource", "ListTagsForResource"

globals().update({f"{k}_{TAG}": v for k, v in kds.type_tests(TAG, [
    ("ResourceARN", "String"), ("Tags", "Map"), ("Tags.a", "String")]).items()})
globals().update({f"{k}_{UNTAG}": v for k, v in kds.type_tests(UNTAG, [
    ("ResourceARN", "String"), ("TagKeys", "List"), ("TagKeys.0", "String")]).items()})
globals().update({f"{k}_{LIST}": v for k, v in kds.type_tests(LIST, [("ResourceARN", "String")]).items()})


def RA():
    return kds.shared_arn(__name__, 1)


def tags_of(resource_arn):
    body = kds.ok(LIST, {"ResourceARN": resource_arn})
    eq(list(body), ["Tags"], "ListTagsForResource keys")
    for t in body["Tags"]:
        eq(sorted(t), ["Key", "Value"], "tag keys")
    return {t["Key"]: t["Value"] for t in body["Tags"]}


def test_no_members():
    kds.expect_validation(TAG, {}, [null_error("tags"), null_error("resourceARN")])
    kds.expect_validation(UNTAG, {}, [null_error("tagKeys"), null_error("resourceARN")])
    kds.expect_validation(LIST, {}, [null_error("resourceARN")])


def test_empty_members():
    ra = kds.arn_errors("resourceARN", "", kds.RESOURCE_ARN_PATTERN)
    kds.expect_validation(TAG, {"ResourceARN": "", "Tags": {}}, ra + [min_len_error("tags", "{}")])
    kds.expect_validation(UNTAG, {"ResourceARN": "", "TagKeys": []},
                          ra + ["Value '[]' at 'tagKeys' failed to satisfy constraint: "
                                "Member must have length greater than or equal to 1"])
    kds.expect_validation(LIST, {"ResourceARN": ""}, ra)


def test_long_and_bad_arns():
    a = kds.long_arn()
    kds.expect_validation(LIST, {"ResourceARN": a}, [kds.max_len_error("resourceARN", a, 2048)])
    for bad in ("stream/a", f"arn:aws:kinesis:{kds.REGION}:1:stream/a", f"arn:aws:s3:::bucket/a"):
        kds.expect_validation(LIST, {"ResourceARN": bad},
                              [kds.pattern_error("resourceARN", bad, kds.RESOURCE_ARN_PATTERN)])


def test_long_tag_key():
    n = "a" * 129
    kds.expect_validation_re(TAG, {"ResourceARN": RA(), "Tags": {n: "3"}},
                             r"1 validation error detected: Value '\{" + n + r"=3\}' at 'tags' "
                             r"failed to satisfy constraint: Map keys must satisfy constraint: \[Member must have length "
                             r"less than or equal to 128, Member must have length greater than or equal to 1\]")


def test_long_tag_value():
    v = "a" * 257
    kds.expect_validation_re(TAG, {"ResourceARN": RA(), "Tags": {"c": v}},
                             r"1 validation error detected: Value '\{c=" + v + r"\}' at 'tags' "
                             r"failed to satisfy constraint: Map value must satisfy constraint: \[Member must have length "
                             r"less than or equal to 256, Member must have length greater than or equal to 0\]")


def test_too_many_tags_in_a_request():
    tags = {f"k{i}": "v" for i in range(201)}
    kds.expect_validation_re(TAG, {"ResourceARN": RA(), "Tags": tags},
                             r"1 validation error detected: Value '\{[k0-9v, =]+\}' at 'tags' failed to satisfy "
                             r"constraint: Member must have length less than or equal to 200")


def test_too_many_tag_keys():
    keys = [f"k{i}" for i in range(51)]
    kds.expect_validation(UNTAG, {"ResourceARN": RA(), "TagKeys": keys},
                          [f"Value '[{', '.join(keys)}]' at 'tagKeys' failed to satisfy constraint: "
                           "Member must have length less than or equal to 50"])


def test_stream_not_found():
    ra = kds.arn(kds.unique_name())
    kds.expect_type_only(call(TAG, {"ResourceARN": ra, "Tags": {"a": "b"}}), 400, "ResourceNotFoundException")
    kds.expect_type_only(call(UNTAG, {"ResourceARN": ra, "TagKeys": ["a"]}), 400, "ResourceNotFoundException")
    kds.expect_type_only(call(LIST, {"ResourceARN": ra}), 400, "ResourceNotFoundException")


def test_invalid_characters():
    for k, v in [("abc;def", "1"), ("a", "abc,def")]:
        kds.expect_type_only(call(TAG, {"ResourceARN": RA(), "Tags": {k: v}}), 400, "InvalidArgumentException")


def test_tag_list_untag():
    name = kds.create_and_wait(shards=1)
    ra = kds.arn(name)
    try:
        eq(kds.ok(LIST, {"ResourceARN": ra}), {"Tags": []}, "ListTagsForResource of an untagged stream")
        kds.expect_empty_ok(call(TAG, {"ResourceARN": ra, "Tags": {"a": "1", "b": "", "ü0 _.": "x"}}))
        eq(tags_of(ra), {"a": "1", "b": "", "ü0 _.": "x"}, "tags")
        kds.expect_empty_ok(call(TAG, {"ResourceARN": ra, "Tags": {"a": "2"}}))
        eq(tags_of(ra)["a"], "2", "overwritten tag")
        stream_tags = {t["Key"]: t["Value"] for t in kds.ok("ListTagsForStream", {"StreamName": name})["Tags"]}
        eq(stream_tags, {"a": "2", "b": "", "ü0 _.": "x"}, "ListTagsForStream sees TagResource's tags")
        kds.ok("AddTagsToStream", {"StreamName": name, "Tags": {"c": "3"}})
        kds.expect_empty_ok(call(UNTAG, {"ResourceARN": ra, "TagKeys": ["a", "ü0 _.", "absent"]}))
        eq(tags_of(ra), {"b": "", "c": "3"}, "tags after UntagResource")
    finally:
        kds.delete_quietly(name)


def test_fifty_tags_a_stream():
    name = kds.create_and_wait(shards=1)
    ra = kds.arn(name)
    try:
        kds.expect_empty_ok(call(TAG, {"ResourceARN": ra, "Tags": {f"k{i}": "v" for i in range(50)}}))
        eq(len(tags_of(ra)), 50, "tag count")
        kds.expect_type_only(call(TAG, {"ResourceARN": ra, "Tags": {"new": "x"}}), 400, "InvalidArgumentException")
        kds.expect_empty_ok(call(TAG, {"ResourceARN": ra, "Tags": {"k0": "overwrite"}}))
    finally:
        kds.delete_quietly(name)


def test_boto3_tags():
    name = kds.create_and_wait(shards=1)
    ra = kds.arn(name)
    try:
        kds.boto().tag_resource(ResourceARN=ra, Tags={"x": "y"})
        eq(kds.boto().list_tags_for_resource(ResourceARN=ra)["Tags"], [{"Key": "x", "Value": "y"}], "boto3 tags")
        kds.boto().untag_resource(ResourceARN=ra, TagKeys=["x"])
        eq(kds.boto().list_tags_for_resource(ResourceARN=ra)["Tags"], [], "boto3 tags after untag")
    finally:
        kds.delete_quietly(name)
