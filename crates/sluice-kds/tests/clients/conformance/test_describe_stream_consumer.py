"""DescribeStreamConsumer: by ConsumerARN, or by StreamARN and ConsumerName.
Constraints from botocore's model. AWS's texts for a missing consumer and
for a request naming neither form are not established: those tests assert
type and status."""

import time

import kds
from kds import call, eq, null_error, name_errors, max_len_error, pattern_error

OP = "DescribeStreamConsumer"

globals().update(kds.type_tests(OP, [("StreamARN", "String"), ("ConsumerName", "String"),
                                     ("ConsumerARN", "String")]))

_consumer = {}


def SA():
    return kds.shared_arn(__name__, 1)


def C():
    """An ACTIVE consumer of the shared stream: (Consumer, registration time)."""
    if kds.shared(__name__, 1) not in _consumer:
        since = time.time()
        c = kds.register(SA())
        kds.wait_consumer(c["ConsumerARN"])
        _consumer[kds.shared(__name__, 1)] = (c, since)
    return _consumer[kds.shared(__name__, 1)]


def test_no_members():
    kds.expect_type_only(call(OP, {}), 400, "InvalidArgumentException")


def test_stream_arn_without_consumer_name():
    kds.expect_type_only(call(OP, {"StreamARN": SA()}), 400, "InvalidArgumentException")


def test_consumer_name_without_stream_arn():
    kds.expect_type_only(call(OP, {"ConsumerName": "c"}), 400, "InvalidArgumentException")


def test_empty_members():
    kds.expect_validation(OP, {"StreamARN": "", "ConsumerName": "", "ConsumerARN": ""},
                          kds.arn_errors("streamARN", "") + name_errors("consumerName", "")
                          + kds.arn_errors("consumerARN", "", kds.CONSUMER_ARN_PATTERN))


def test_long_members():
    a, n = kds.long_arn(), kds.LONG_NAME
    ca = f"{kds.arn('s')}/consumer/{'c' * 2048}:1"
    kds.expect_validation(OP, {"StreamARN": a, "ConsumerName": n, "ConsumerARN": ca},
                          [max_len_error("streamARN", a, 2048), max_len_error("consumerName", n, 128),
                           max_len_error("consumerARN", ca, 2048)])


def test_bad_consumer_arn():
    for ca in (kds.arn("s"), f"{kds.arn('s')}/consumer/c", "consumer/c:1"):
        kds.expect_validation(OP, {"ConsumerARN": ca}, [pattern_error("consumerARN", ca, kds.CONSUMER_ARN_PATTERN)])


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_type_only(call(OP, {"StreamARN": kds.arn(name), "ConsumerName": "c"}), 400, "ResourceNotFoundException")
    kds.expect_type_only(call(OP, {"ConsumerARN": f"{kds.arn(name)}/consumer/c:1"}), 400, "ResourceNotFoundException")


def test_consumer_not_found():
    kds.expect_type_only(call(OP, {"StreamARN": SA(), "ConsumerName": kds.unique_name("c-")}),
                         400, "ResourceNotFoundException")
    kds.expect_type_only(call(OP, {"ConsumerARN": f"{SA()}/consumer/{kds.unique_name('c-')}:1"}),
                         400, "ResourceNotFoundException")


def test_arn_of_another_creation_time():
    # A consumer ARN names its creation time: the same name with other
    # seconds is another (absent) consumer.
    c, _ = C()
    stem, secs = c["ConsumerARN"].rsplit(":", 1)
    kds.expect_type_only(call(OP, {"ConsumerARN": f"{stem}:{int(secs) + 1}"}), 400, "ResourceNotFoundException")


def test_describe_by_arn():
    c, since = C()
    body = kds.ok(OP, {"ConsumerARN": c["ConsumerARN"]})
    eq(list(body), ["ConsumerDescription"], "keys")
    kds.assert_consumer(body["ConsumerDescription"], SA(), c["ConsumerName"], "ACTIVE", since, with_stream=True)
    eq(body["ConsumerDescription"]["ConsumerARN"], c["ConsumerARN"], "ConsumerARN")
    eq(body["ConsumerDescription"]["ConsumerCreationTimestamp"], c["ConsumerCreationTimestamp"],
       "ConsumerCreationTimestamp")


def test_describe_by_stream_arn_and_name():
    c, since = C()
    body = kds.ok(OP, {"StreamARN": SA(), "ConsumerName": c["ConsumerName"]})
    kds.assert_consumer(body["ConsumerDescription"], SA(), c["ConsumerName"], "ACTIVE", since, with_stream=True)
    eq(body["ConsumerDescription"]["ConsumerARN"], c["ConsumerARN"], "ConsumerARN")


def test_boto3_describe():
    c, _ = C()
    d = kds.boto().describe_stream_consumer(ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]
    eq((d["ConsumerName"], d["ConsumerStatus"], d["StreamARN"]), (c["ConsumerName"], "ACTIVE", SA()), "boto3")
