"""DescribeLimits: ShardLimit, OpenShardCount, OnDemandStreamCount,
OnDemandStreamCountLimit (API reference; the model's newer ChannelCount
members are for another resource and not answered for streams). AWS's
default on-demand stream limit is 50 a Region."""

import kds
from kds import eq, check

OP = "DescribeLimits"
KEYS = ["OnDemandStreamCount", "OnDemandStreamCountLimit", "OpenShardCount", "ShardLimit"]


def test_keys_and_limits():
    body = kds.ok(OP, {})
    eq(sorted(body), KEYS, "DescribeLimits keys")
    eq(body["ShardLimit"], kds.SHARD_LIMIT, "ShardLimit")
    eq(body["OnDemandStreamCountLimit"], 50, "OnDemandStreamCountLimit")
    for k in KEYS:
        check(isinstance(body[k], int) and body[k] >= 0, f"{k} {body[k]!r}")


def test_open_shard_count_is_the_accounts():
    eq(kds.ok(OP, {})["OpenShardCount"], kds.open_shard_total(), "OpenShardCount")


def test_open_shard_count_follows_streams():
    before = kds.ok(OP, {})["OpenShardCount"]
    name = kds.create_and_wait(shards=2)
    try:
        eq(kds.ok(OP, {})["OpenShardCount"], before + 2, "OpenShardCount after a 2-shard stream")
        kds.ok("SplitShard", {"StreamName": name, "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "2"})
        kds.wait_active(name)
        eq(kds.ok(OP, {})["OpenShardCount"], before + 3, "OpenShardCount after a split (closed parent not counted)")
    finally:
        kds.delete_quietly(name)
        kds.wait_deleted(name)
    eq(kds.ok(OP, {})["OpenShardCount"], before, "OpenShardCount after deleting it")


def test_on_demand_stream_count():
    before = kds.ok(OP, {})["OnDemandStreamCount"]
    name = kds.unique_name()
    kds.ok("CreateStream", {"StreamName": name, "StreamModeDetails": {"StreamMode": "ON_DEMAND"}})
    try:
        kds.wait_active(name)
        eq(kds.ok(OP, {})["OnDemandStreamCount"], before + 1, "OnDemandStreamCount after an on-demand stream")
    finally:
        kds.delete_quietly(name)
        kds.wait_deleted(name)
    eq(kds.ok(OP, {})["OnDemandStreamCount"], before, "OnDemandStreamCount after deleting it")


def test_boto3_describe_limits():
    r = kds.boto().describe_limits()
    eq(r["ShardLimit"], kds.SHARD_LIMIT, "boto3 ShardLimit")
