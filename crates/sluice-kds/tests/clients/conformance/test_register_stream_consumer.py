"""RegisterStreamConsumer. Constraints from botocore's model; the answer's
shape (ConsumerStatus CREATING, ARN <stream ARN>/consumer/<name>:<epoch
seconds>) from the API reference. AWS's texts for a taken name and the
consumer limits are not established: those tests assert type and status."""

import time

import kds
from kds import call, eq, check, null_error, name_errors, max_len_error, min_len_error, pattern_error

OP = "RegisterStreamConsumer"

globals().update(kds.type_tests(OP, [("StreamARN", "String"), ("ConsumerName", "String"), ("Tags", "Map")]))


def SA():
    return kds.shared_arn(__name__, 1)


def test_no_members():
    kds.expect_validation(OP, {}, [null_error("streamARN"), null_error("consumerName")])


def test_empty_members():
    kds.expect_validation(OP, {"StreamARN": "", "ConsumerName": ""},
                          kds.arn_errors("streamARN", "") + name_errors("consumerName", ""))


def test_long_members():
    a, n = kds.long_arn(), kds.LONG_NAME
    kds.expect_validation(OP, {"StreamARN": a, "ConsumerName": n},
                          [max_len_error("streamARN", a, 2048), max_len_error("consumerName", n, 128)])


def test_bad_patterns():
    kds.expect_validation(OP, {"StreamARN": "stream/abc", "ConsumerName": "a/b"},
                          [pattern_error("streamARN", "stream/abc", kds.STREAM_ARN_PATTERN),
                           pattern_error("consumerName", "a/b", kds.NAME_PATTERN)])


def test_empty_tags():
    kds.expect_validation(OP, {"StreamARN": SA(), "ConsumerName": "c", "Tags": {}}, [min_len_error("tags", "{}")])


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_not_found(OP, {"StreamARN": kds.arn(name), "ConsumerName": "c"}, kds.stream_not_found(name))


def test_register_answers_creating_consumer():
    # RegisterStreamConsumer is asynchronous: the answer always says CREATING.
    name = kds.unique_name("c-")
    since = time.time()
    body = kds.ok(OP, {"StreamARN": SA(), "ConsumerName": name})
    eq(list(body), ["Consumer"], "keys")
    kds.assert_consumer(body["Consumer"], SA(), name, "CREATING", since)
    kds.wait_consumer(body["Consumer"]["ConsumerARN"])
    kds.ok("DeregisterStreamConsumer", {"ConsumerARN": body["Consumer"]["ConsumerARN"]})


def test_name_taken():
    c = kds.register(SA())
    kds.wait_consumer(c["ConsumerARN"])
    try:
        # AWS's text for a taken consumer name is not established.
        kds.expect_type_only(call(OP, {"StreamARN": SA(), "ConsumerName": c["ConsumerName"]}),
                             400, "ResourceInUseException")
    finally:
        kds.ok("DeregisterStreamConsumer", {"ConsumerARN": c["ConsumerARN"]})


def test_same_name_on_two_streams():
    other = kds.arn(kds.create_and_wait(shards=1))
    name = kds.unique_name("c-")
    try:
        a = kds.register(SA(), name)
        b = kds.register(other, name)
        check(a["ConsumerARN"] != b["ConsumerARN"], "one ARN for two streams' consumers")
        for c in (a, b):
            kds.wait_consumer(c["ConsumerARN"])
            kds.ok("DeregisterStreamConsumer", {"ConsumerARN": c["ConsumerARN"]})
    finally:
        kds.delete_quietly(other.split("/", 1)[1])


def test_twenty_consumers_a_stream():
    # "You can register up to 20 consumers per stream" (API reference), at
    # most 5 of them CREATING at once: registered 5 at a time.
    name = kds.create_and_wait(shards=1)
    sa = kds.arn(name)
    try:
        for _ in range(4):
            batch = [kds.register(sa) for _ in range(5)]
            for c in batch:
                kds.wait_consumer(c["ConsumerARN"])
        eq(kds.ok("DescribeStreamSummary", {"StreamName": name})["StreamDescriptionSummary"]["ConsumerCount"], 20,
           "ConsumerCount")
        kds.expect_type_only(call(OP, {"StreamARN": sa, "ConsumerName": kds.unique_name("c-")}),
                             400, "LimitExceededException")
    finally:
        kds.delete_quietly(name)


def test_five_creating_at_once():
    # "you cannot have more than 5 consumers in a CREATING status at the same
    # time. Registering a 6th consumer while there are 5 in a CREATING status
    # results in a LimitExceededException." (API reference)
    ep = kds.delayed()
    name = kds.create_and_wait(shards=1, endpoint=ep)
    try:
        for _ in range(5):
            kds.register(kds.arn(name), endpoint=ep)
        kds.expect_type_only(call(OP, {"StreamARN": kds.arn(name), "ConsumerName": kds.unique_name("c-")}, ep),
                             400, "LimitExceededException")
    finally:
        kds.delete_quietly(name, ep)


def test_creating_then_active():
    ep = kds.delayed()
    name = kds.create_and_wait(shards=1, endpoint=ep)
    try:
        cname = kds.unique_name("c-")
        since = time.time()
        c = kds.register(kds.arn(name), cname, ep)
        kds.assert_consumer(c, kds.arn(name), cname, "CREATING", since)
        d = kds.ok("DescribeStreamConsumer", {"ConsumerARN": c["ConsumerARN"]}, ep)["ConsumerDescription"]
        kds.assert_consumer(d, kds.arn(name), cname, "CREATING", since, with_stream=True)
        listed = kds.ok("ListStreamConsumers", {"StreamARN": kds.arn(name)}, ep)["Consumers"]
        eq([x["ConsumerStatus"] for x in listed], ["CREATING"], "listed status while CREATING")
        kds.wait_consumer(c["ConsumerARN"], endpoint=ep)
        d = kds.ok("DescribeStreamConsumer", {"ConsumerARN": c["ConsumerARN"]}, ep)["ConsumerDescription"]
        eq(d["ConsumerARN"], c["ConsumerARN"], "ConsumerARN once ACTIVE")
    finally:
        kds.delete_quietly(name, ep)


def test_stream_creating():
    # A stream that is not ACTIVE: AWS answers ResourceInUseException
    # (text not established).
    ep = kds.delayed()
    name = kds.unique_name()
    kds.ok("CreateStream", {"StreamName": name, "ShardCount": 1}, ep)
    try:
        kds.expect_type_only(call(OP, {"StreamARN": kds.arn(name), "ConsumerName": "c"}, ep),
                             400, "ResourceInUseException")
    finally:
        kds.wait_active(name, ep)
        kds.delete_quietly(name, ep)
