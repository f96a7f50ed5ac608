// Real-client tests of sluice-kds with the AWS SDK for JavaScript v3
// (@aws-sdk/client-kinesis, which speaks HTTP/2 through its NodeHttp2Handler).
//
// Run by crates/sluice-kds/ci.sh with NODE_PATH pointing at the installed
// SDK and these variables set:
//   KDS_ENDPOINT        cleartext endpoint (h2c), http://127.0.0.1:PORT
//   KDS_TLS_ENDPOINT    the same server over TLS, https://127.0.0.1:PORT
//   KDS_TLS_CA          PEM file of the server's self-signed certificate
//   KDS_SIGV4_ENDPOINT  a second server with --auth sigv4
//   KDS_SIGV4_KEY       ACCESS_KEY_ID:SECRET that server accepts
// Prints one line per check and "N passed, M failed" last.
"use strict";

const fs = require("fs");
const assert = require("assert");
const {
  KinesisClient,
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  PutRecordsCommand,
  GetShardIteratorCommand,
  GetRecordsCommand,
  ListShardsCommand,
  ListStreamsCommand,
  RegisterStreamConsumerCommand,
  DescribeStreamConsumerCommand,
  SubscribeToShardCommand,
  waitUntilStreamExists,
} = require("@aws-sdk/client-kinesis");
const { NodeHttp2Handler } = require("@smithy/node-http-handler");

const ENDPOINT = process.env.KDS_ENDPOINT;
const TLS_ENDPOINT = process.env.KDS_TLS_ENDPOINT;
const TLS_CA = process.env.KDS_TLS_CA;
const SIGV4_ENDPOINT = process.env.KDS_SIGV4_ENDPOINT;
const SIGV4_KEY = process.env.KDS_SIGV4_KEY || ":";

function client(endpoint, opts = {}) {
  const credentials = opts.credentials || {
    accessKeyId: "AKIDSLUICETEST",
    secretAccessKey: "sluice-test-secret",
  };
  const config = { endpoint, region: "us-east-1", credentials, maxAttempts: 1 };
  if (endpoint.startsWith("https:")) {
    // Trust the test's self-signed certificate (no NODE_TLS_REJECT_UNAUTHORIZED).
    config.requestHandler = new NodeHttp2Handler({
      nodeHttp2ConnectOptions: { ca: fs.readFileSync(TLS_CA) },
    });
  }
  return new KinesisClient(config);
}

const text = (bytes) => Buffer.from(bytes).toString("utf8");
const STREAM = "js-sdk";
const PUT = Array.from({ length: 20 }, (_, i) => `js-record-${i}`);

async function subscribeAndRead(k, stream, consumerName, want) {
  const arn = (await k.send(new DescribeStreamSummaryCommand({ StreamName: stream })))
    .StreamDescriptionSummary.StreamARN;
  const consumer = (await k.send(
    new RegisterStreamConsumerCommand({ StreamARN: arn, ConsumerName: consumerName }),
  )).Consumer;
  for (let i = 0; i < 50; i++) {
    const d = await k.send(new DescribeStreamConsumerCommand({ ConsumerARN: consumer.ConsumerARN }));
    if (d.ConsumerDescription.ConsumerStatus === "ACTIVE") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const got = [];
  for (const shard of (await k.send(new ListShardsCommand({ StreamName: stream }))).Shards) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 15000);
    const out = await k.send(
      new SubscribeToShardCommand({
        ConsumerARN: consumer.ConsumerARN,
        ShardId: shard.ShardId,
        StartingPosition: { Type: "TRIM_HORIZON" },
      }),
      { abortSignal: abort.signal },
    );
    try {
      for await (const event of out.EventStream) {
        const ev = event.SubscribeToShardEvent;
        assert.ok(ev, `unexpected event ${JSON.stringify(Object.keys(event))}`);
        assert.ok(ev.ContinuationSequenceNumber, "no ContinuationSequenceNumber");
        got.push(...ev.Records.map((r) => text(r.Data)));
        // Caught up with this shard: move to the next one.
        if (ev.MillisBehindLatest === 0) break;
      }
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
  }
  assert.deepStrictEqual([...got].sort(), [...want].sort());
}

const checks = [
  ["create stream and wait ACTIVE", async () => {
    const k = client(ENDPOINT);
    await k.send(new CreateStreamCommand({ StreamName: STREAM, ShardCount: 3 }));
    await waitUntilStreamExists({ client: k, maxWaitTime: 30, minDelay: 1 }, { StreamName: STREAM });
    const s = await k.send(new DescribeStreamSummaryCommand({ StreamName: STREAM }));
    assert.strictEqual(s.StreamDescriptionSummary.StreamStatus, "ACTIVE");
    assert.strictEqual(s.StreamDescriptionSummary.OpenShardCount, 3);
  }],
  ["PutRecords then GetShardIterator + GetRecords on every shard", async () => {
    const k = client(ENDPOINT);
    const put = await k.send(new PutRecordsCommand({
      StreamName: STREAM,
      Records: PUT.map((d, i) => ({ PartitionKey: `pk-${i}`, Data: Buffer.from(d) })),
    }));
    assert.strictEqual(put.FailedRecordCount, 0);
    assert.strictEqual(put.Records.length, PUT.length);
    const got = [];
    for (const shard of (await k.send(new ListShardsCommand({ StreamName: STREAM }))).Shards) {
      const it = await k.send(new GetShardIteratorCommand({
        StreamName: STREAM, ShardId: shard.ShardId, ShardIteratorType: "TRIM_HORIZON",
      }));
      const r = await k.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator }));
      assert.ok(r.NextShardIterator, "no NextShardIterator");
      for (const rec of r.Records) {
        assert.ok(rec.ApproximateArrivalTimestamp instanceof Date, "arrival is not a Date");
        got.push(text(rec.Data));
      }
    }
    assert.deepStrictEqual(got.sort(), [...PUT].sort());
  }],
  ["ListShards paging with MaxResults and NextToken", async () => {
    const k = client(ENDPOINT);
    const seen = [];
    let page = await k.send(new ListShardsCommand({ StreamName: STREAM, MaxResults: 1 }));
    for (;;) {
      seen.push(...page.Shards.map((s) => s.ShardId));
      if (!page.NextToken) break;
      page = await k.send(new ListShardsCommand({ NextToken: page.NextToken, MaxResults: 1 }));
    }
    assert.deepStrictEqual(seen, [0, 1, 2].map((i) => `shardId-${String(i).padStart(12, "0")}`));
  }],
  ["RegisterStreamConsumer + SubscribeToShard over h2c", async () => {
    await subscribeAndRead(client(ENDPOINT), STREAM, "js-h2c", PUT);
  }],
  ["RegisterStreamConsumer + SubscribeToShard over TLS (HTTP/2 by ALPN)", async () => {
    await subscribeAndRead(client(TLS_ENDPOINT), STREAM, "js-tls", PUT);
  }],
  ["sigv4: the right secret is accepted", async () => {
    const [accessKeyId, secretAccessKey] = SIGV4_KEY.split(":");
    const k = client(SIGV4_ENDPOINT, { credentials: { accessKeyId, secretAccessKey } });
    await k.send(new CreateStreamCommand({ StreamName: "js-signed", ShardCount: 1 }));
    const l = await k.send(new ListStreamsCommand({}));
    assert.ok(l.StreamNames.includes("js-signed"), JSON.stringify(l));
  }],
  ["sigv4: a wrong secret is refused with InvalidSignatureException", async () => {
    const [accessKeyId] = SIGV4_KEY.split(":");
    const k = client(SIGV4_ENDPOINT, { credentials: { accessKeyId, secretAccessKey: "wrong" } });
    await assert.rejects(k.send(new ListStreamsCommand({})), (e) => {
      assert.strictEqual(e.name, "InvalidSignatureException");
      assert.ok(
        e.message.startsWith("The request signature we calculated does not match the signature you provided."),
        e.message,
      );
      assert.strictEqual(e.$metadata.httpStatusCode, 400);
      return true;
    });
  }],
];

(async () => {
  let passed = 0;
  let failed = 0;
  for (const [name, fn] of checks) {
    try {
      await fn();
      passed += 1;
      console.log(`ok   js: ${name}`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL js: ${name}\n${e && e.stack ? e.stack : e}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
