"""DeregisterStreamConsumer: by ConsumerARN, or by StreamARN and
ConsumerName. Constraints from botocore's model; DELETING while it goes
(API reference). AWS's texts for a missing consumer and for a request
naming neither form are not established: those tests assert type and status."""

import kds
from kds import call, eq, null_error, name_errors, max_len_error, pattern_error

OP = "DeregisterStreamConsumer"

globals().update(kds.type_tests(OP, [("StreamARN", "String"), ("ConsumerName", "String"),
                                     ("ConsumerARN", "String")]))


def SA():
    return kds.shared_arn(__name__, 1)


def test_no_members():
    kds.expect_type_only(call(OP, {}), 400, "InvalidArgumentException")


def test_stream_arn_without_consumer_name():
    kds.expect_type_only(call(OP, {"StreamARN": SA()}), 400, "InvalidArgumentException")


def test_empty_members():
    kds.expect_validation(OP, {"StreamARN": "", "ConsumerName": "", "ConsumerARN": ""},
                          kds.arn_errors("streamARN", "") + name_errors("consumerName", "")
                          + kds.arn_errors("consumerARN", "", kds.CONSUMER_ARN_PATTERN))


def test_long_members():
    a, n = kds.long_arn(), kds.LONG_NAME
    kds.expect_validation(OP, {"StreamARN": a, "ConsumerName": n},
                          [max_len_error("streamARN", a, 2048), max_len_error("consumerName", n, 128)])


def test_bad_consumer_arn():
    ca = kds.arn("s") + "/consumer/c"
    kds.expect_validation(OP, {"ConsumerARN": ca}, [pattern_error("consumerARN", ca, kds.CONSUMER_ARN_PATTERN)])


def test_stream_not_found():
    name = kds.unique_name()
    kds.expect_type_only(call(OP, {"StreamARN": kds.arn(name), "ConsumerName": "c"}), 400, "ResourceNotFoundException")


def test_consumer_not_found():
    kds.expect_type_only(call(OP, {"StreamARN": SA(), "ConsumerName": kds.unique_name("c-")}),
                         400, "ResourceNotFoundException")
    kds.expect_type_only(call(OP, {"ConsumerARN": f"{SA()}/consumer/{kds.unique_name('c-')}:1"}),
                         400, "ResourceNotFoundException")


def test_deregister_by_arn():
    c = kds.register(SA())
    kds.wait_consumer(c["ConsumerARN"])
    kds.expect_empty_ok(call(OP, {"ConsumerARN": c["ConsumerARN"]}))
    kds.wait_consumer(c["ConsumerARN"], None)
    names = [x["ConsumerName"] for x in kds.ok("ListStreamConsumers", {"StreamARN": SA()})["Consumers"]]
    eq(c["ConsumerName"] in names, False, "deregistered consumer still listed")


def test_deregister_by_stream_arn_and_name():
    c = kds.register(SA())
    kds.wait_consumer(c["ConsumerARN"])
    kds.expect_empty_ok(call(OP, {"StreamARN": SA(), "ConsumerName": c["ConsumerName"]}))
    kds.wait_consumer(c["ConsumerARN"], None)


def test_name_reused_after_deregistration_gets_a_new_arn():
    c = kds.register(SA())
    kds.wait_consumer(c["ConsumerARN"])
    kds.ok(OP, {"ConsumerARN": c["ConsumerARN"]})
    kds.wait_consumer(c["ConsumerARN"], None)
    import time
    time.sleep(1.1)  # ARNs carry creation seconds
    d = kds.register(SA(), c["ConsumerName"])
    try:
        eq(d["ConsumerARN"] != c["ConsumerARN"], True, "new ARN for a re-registered name")
        kds.expect_type_only(call("DescribeStreamConsumer", {"ConsumerARN": c["ConsumerARN"]}),
                             400, "ResourceNotFoundException")
    finally:
        kds.wait_consumer(d["ConsumerARN"])
        kds.ok(OP, {"ConsumerARN": d["ConsumerARN"]})


def test_deleting_then_gone():
    ep = kds.delayed()
    name = kds.create_and_wait(shards=1, endpoint=ep)
    try:
        c = kds.register(kds.arn(name), endpoint=ep)
        kds.wait_consumer(c["ConsumerARN"], endpoint=ep)
        kds.expect_empty_ok(call(OP, {"ConsumerARN": c["ConsumerARN"]}, ep))
        eq(kds.consumer_status(c["ConsumerARN"], ep), "DELETING", "status right after DeregisterStreamConsumer")
        listed = kds.ok("ListStreamConsumers", {"StreamARN": kds.arn(name)}, ep)["Consumers"]
        eq([x["ConsumerStatus"] for x in listed], ["DELETING"], "listed status while DELETING")
        kds.wait_consumer(c["ConsumerARN"], None, ep)
        eq(kds.ok("ListStreamConsumers", {"StreamARN": kds.arn(name)}, ep)["Consumers"], [], "consumers after")
    finally:
        kds.delete_quietly(name, ep)


def test_deleting_the_stream_deletes_its_consumers():
    name = kds.create_and_wait(shards=1)
    c = kds.register(kds.arn(name))
    kds.wait_consumer(c["ConsumerARN"])
    kds.ok("DeleteStream", {"StreamName": name, "EnforceConsumerDeletion": True})
    kds.wait_deleted(name)
    kds.create_and_wait(name, shards=1)
    try:
        eq(kds.ok("ListStreamConsumers", {"StreamARN": kds.arn(name)})["Consumers"], [], "consumers of a new stream")
    finally:
        kds.delete_quietly(name)
