"""GetShardIterator."""

import time

import kds
from kds import eq, null_error, name_errors, max_len_error, pattern_error

OP = "GetShardIterator"
ACCT = kds.ACCOUNT

globals().update(kds.type_tests(OP, [("ShardId", "String"), ("ShardIteratorType", "String"),
                                     ("StartingSequenceNumber", "String"), ("StreamName", "String"),
                                     ("Timestamp", "Timestamp")]))


def S():
    return kds.shared(__name__)


def test_no_members():
    kds.expect_validation(OP, {}, [null_error("shardId"), null_error("shardIteratorType"), null_error("streamName")])


def test_empty_members():
    kds.expect_validation(OP, {"StreamName": "", "ShardIteratorType": "", "ShardId": "", "StartingSequenceNumber": ""},
                          name_errors("shardId", "") + [
                              "Value '' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum "
                              "value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]",
                              pattern_error("startingSequenceNumber", "", kds.SEQ_PATTERN)]
                          + name_errors("streamName", ""))


def test_long_members():
    n = kds.LONG_NAME
    kds.expect_validation(OP, {"StreamName": n, "ShardId": n, "ShardIteratorType": "LATEST"},
                          [max_len_error("shardId", n, 128), max_len_error("streamName", n, 128)])


def test_unknown_stream_with_parsable_shard_ids():
    # AWS reads the digits after the last '-' (or the whole id) as the shard index.
    for shard in ["2147483647", kds.unique_name() + "-2147483647", "a-00002147483647", "-00002147483647"]:
        name = kds.unique_name()
        kds.expect_not_found(OP, {"StreamName": name, "ShardId": shard, "ShardIteratorType": "LATEST"},
                             f"Shard shardId-002147483647 in stream {name} under account {ACCT} does not exist")


def test_unknown_stream_with_unparsable_shard_ids():
    for shard in ["2147483648", "shardId-002147483648", "ABKLFD8", "2.14E4"]:
        name = kds.unique_name()
        kds.expect_not_found(OP, {"StreamName": name, "ShardId": shard, "ShardIteratorType": "LATEST"},
                             f"Could not find shard {shard} in stream {name} under account {ACCT}.")


def test_known_stream_unknown_shard():
    kds.expect_not_found(OP, {"StreamName": S(), "ShardId": "shardId-5", "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                              "StartingSequenceNumber": "5"},
                         f"Shard shardId-000000000005 in stream {S()} under account {ACCT} does not exist")


MUST = ("Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or "
        "(2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified ")


def test_iterator_type_and_starting_sequence_number_mismatch():
    for kind, seq, tail in [("AT_SEQUENCE_NUMBER", None, "AT_SEQUENCE_NUMBER and no StartingSequenceNumber."),
                            ("AFTER_SEQUENCE_NUMBER", None, "AFTER_SEQUENCE_NUMBER and no StartingSequenceNumber."),
                            ("LATEST", "5", "LATEST and also a StartingSequenceNumber."),
                            ("TRIM_HORIZON", "5", "TRIM_HORIZON and also a StartingSequenceNumber.")]:
        data = {"StreamName": S(), "ShardId": "shardId-0", "ShardIteratorType": kind}
        if seq:
            data["StartingSequenceNumber"] = seq
        kds.expect_invalid(OP, data, MUST + tail)


def test_sequence_number_of_another_shard():
    kds.expect_invalid(OP, {"StreamName": S(), "ShardId": "shardId-0", "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                            "StartingSequenceNumber": "5"},
                       "Invalid StartingSequenceNumber. It encodes shardId-000000000005, "
                       "while it was used in a call to a shard with shardId-000000000000")


def test_small_sequence_number_is_internal_failure():
    r = kds.call(OP, {"StreamName": S(), "ShardId": "shardId-0", "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                      "StartingSequenceNumber": "0"})
    eq((r.status, r.body), (500, {"__type": "InternalFailure"}), "answer")


def test_invalid_sequence_numbers():
    for h in ["13bb2cc3d80000000000000000000000", "20000000000800000000000000000000000000000000002"]:
        seq = str(int(h, 16))
        kds.expect_invalid(OP, {"StreamName": S(), "ShardId": "shardId-0", "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                                "StartingSequenceNumber": seq},
                           f"StartingSequenceNumber {seq} used in GetShardIterator on shard shardId-000000000000 "
                           f"in stream {S()} under account {ACCT} is invalid.")


def test_sequence_number_with_8_near_end():
    seq = str(int("20000000000000000000000000000000000000800000002", 16))
    kds.expect_invalid(OP, {"StreamName": S(), "ShardId": "shardId-0", "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                            "StartingSequenceNumber": seq},
                       "Invalid StartingSequenceNumber. It encodes shardId--02147483648, "
                       "while it was used in a call to a shard with shardId-000000000000")


def test_at_timestamp_without_timestamp():
    kds.expect_invalid(OP, {"StreamName": S(), "ShardId": "shardId-0", "ShardIteratorType": "AT_TIMESTAMP"},
                       "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. "
                       "Current request has no timestamp parameter.")


def test_timestamp_in_the_future():
    future = int(time.time()) + 5
    kds.expect_invalid(OP, {"StreamName": S(), "ShardId": "shardId-0", "ShardIteratorType": "AT_TIMESTAMP",
                            "Timestamp": future},
                       pattern=r"The timestampInMillis parameter cannot be greater than the currentTimestampInMillis\. "
                               rf"timestampInMillis: {future * 1000}, currentTimestampInMillis: \d+")


def test_iterators_for_any_shard_id_with_index_suffix():
    for kind in ["LATEST", "TRIM_HORIZON"]:
        body = kds.ok(OP, {"StreamName": S(), "ShardId": kds.unique_name() + "-0", "ShardIteratorType": kind})
        eq(list(body), ["ShardIterator"], "keys")
        kds.assert_shard_iterator(body["ShardIterator"])


def test_iterators_for_different_name_lengths():
    for length in (29, 30, 64, 128):
        name = (kds.unique_name() + "0" * 128)[:length]
        kds.create_and_wait(name, shards=1)
        try:
            body = kds.ok(OP, {"StreamName": name, "ShardId": "shard-0", "ShardIteratorType": "LATEST"})
            eq(list(body), ["ShardIterator"], "keys")
            kds.assert_shard_iterator(body["ShardIterator"])
        finally:
            kds.delete_quietly(name)


def test_at_sequence_number_and_at_timestamp_iterators():
    put = kds.ok("PutRecord", {"StreamName": S(), "PartitionKey": "a", "Data": ""})
    for kind in ["AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"]:
        body = kds.ok(OP, {"StreamName": S(), "ShardId": put["ShardId"], "ShardIteratorType": kind,
                           "StartingSequenceNumber": put["SequenceNumber"]})
        kds.assert_shard_iterator(body["ShardIterator"])
    body = kds.ok(OP, {"StreamName": S(), "ShardId": "shardId-0", "ShardIteratorType": "AT_TIMESTAMP",
                       "Timestamp": time.time() - 60})
    kds.assert_shard_iterator(body["ShardIterator"])
