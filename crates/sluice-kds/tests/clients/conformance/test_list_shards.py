"""ListShards."""

import kds
from kds import eq, name_errors, max_len_error, min_value_error, max_value_error, min_len_error

OP = "ListShards"

globals().update(kds.type_tests(OP, [("StreamName", "String"), ("MaxResults", "Integer"),
                                     ("ExclusiveStartShardId", "String"), ("NextToken", "String"),
                                     ("StreamCreationTimestamp", "Timestamp"), ("ShardFilter", "Structure")]))


def test_no_stream_name_or_next_token():
    kds.expect_invalid(OP, {}, "Either NextToken or StreamName should be provided.")


def test_empty_members():
    kds.expect_validation(OP, {"StreamName": "", "NextToken": "", "MaxResults": 0, "ExclusiveStartShardId": ""},
                          [min_value_error("maxResults", 0, 1)] + name_errors("exclusiveStartShardId", "")
                          + name_errors("streamName", "") + [min_len_error("nextToken", "")])


def test_long_members():
    n = kds.LONG_NAME
    kds.expect_validation(OP, {"StreamName": n, "MaxResults": 100000, "ExclusiveStartShardId": n},
                          [max_value_error("maxResults", 100000, 10000), max_len_error("exclusiveStartShardId", n, 128),
                           max_len_error("streamName", n, 128)])


def test_stream_name_and_next_token_together():
    name = kds.unique_name()
    kds.expect_invalid(OP, {"StreamName": name, "NextToken": name},
                       "NextToken and StreamName cannot be provided together.")


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_not_found(OP, {"StreamName": name}, kds.stream_not_found(name))


def test_lists_shards():
    name = kds.shared(__name__)
    body = kds.ok(OP, {"StreamName": name})
    for s in body["Shards"]:
        kds.seq_hex(s["SequenceNumberRange"]["StartingSequenceNumber"])
    body["Shards"] = kds.shards_of(body)
    eq(body, {"Shards": kds.three_shards()}, "ListShards")


def test_exclusive_start_shard_id():
    name = kds.shared(__name__)
    body = kds.ok(OP, {"StreamName": name, "ExclusiveStartShardId": "shardId-000000000001"})
    body["Shards"] = kds.shards_of(body)
    eq(body, {"Shards": kds.three_shards()[2:]}, "ListShards after shardId-000000000001")


def test_max_results_pages_with_next_token():
    name = kds.shared(__name__)
    body = kds.ok(OP, {"StreamName": name, "MaxResults": 2})
    eq(sorted(body), ["NextToken", "Shards"], "keys of a first page")
    eq([s["ShardId"] for s in body["Shards"]], ["shardId-000000000000", "shardId-000000000001"], "first page")
    body = kds.ok(OP, {"NextToken": body["NextToken"]})
    eq([s["ShardId"] for s in body["Shards"]], ["shardId-000000000002"], "second page")
    eq(sorted(body), ["Shards"], "keys of the last page")
