//! `sluice serve` and apps connected to Kinesis, end to end through the
//! binary: one port for Kinesis Data Streams and Firehose, apps reading and
//! writing its streams, checkpoints surviving restarts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use sluice_engine::clock::{Clock, SystemClock};

use super::{repo, sluice, temp_dir};

/// A `sluice serve` child process, stopped with SIGTERM when dropped.
struct Server {
    child: Child,
    addr: String,
    /// What the server writes to stderr after its address line, whole once
    /// it exits (the thread echoes it to the test's stderr too).
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Server {
    fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let mut child = sluice()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut addr = None;
        let mut seen = String::new();
        for _ in 0..50 {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                break;
            }
            seen.push_str(&line);
            if let Some(rest) = line.split("http://").nth(1) {
                addr = Some(rest.split([',', ' ', '\n']).next().unwrap().to_string());
                break;
            }
        }
        let addr = addr.unwrap_or_else(|| panic!("no address in: {seen}"));
        // Keep draining stderr so the server never blocks on it.
        let stderr = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stderr.read_to_string(&mut rest);
            eprint!("{rest}");
            seen + &rest
        });
        Server {
            child,
            addr,
            stderr: Some(stderr),
        }
    }

    /// One HTTP/1.1 request (`headers`: lines ending in CRLF, besides
    /// Host, Content-Length and Connection); the status and the body.
    fn http(&self, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
    }

    /// One AWS JSON 1.1 call; returns the status and the JSON answer.
    fn call(&self, target: &str, body: &Value) -> (u16, Value) {
        let headers = format!(
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0\r\nX-Amz-Date: 20260101T000000Z\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: {target}\r\n"
        );
        let (status, body) = self.http("POST", "/", &headers, &body.to_string());
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
        };
        (status, json)
    }

    fn kinesis(&self, op: &str, body: Value) -> Value {
        let (status, v) = self.call(&format!("Kinesis_20131202.{op}"), &body);
        assert_eq!(status, 200, "{op}: {v}");
        v
    }

    fn put(&self, stream: &str, records: &[Value]) {
        let entries: Vec<Value> = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                json!({
                    "Data": base64::engine::general_purpose::STANDARD.encode(r.to_string()),
                    "PartitionKey": format!("k{i}"),
                })
            })
            .collect();
        let v = self.kinesis(
            "PutRecords",
            json!({ "StreamName": stream, "Records": entries }),
        );
        assert_eq!(v["FailedRecordCount"], 0, "{v}");
    }

    /// Every record's data in a one-shard stream, from the oldest.
    fn read_all(&self, stream: &str) -> Vec<String> {
        let shards = self.kinesis("ListShards", json!({ "StreamName": stream }));
        let mut out = Vec::new();
        for shard in shards["Shards"].as_array().unwrap() {
            let it = self.kinesis(
                "GetShardIterator",
                json!({
                    "StreamName": stream,
                    "ShardId": shard["ShardId"],
                    "ShardIteratorType": "TRIM_HORIZON",
                }),
            );
            let got = self.kinesis(
                "GetRecords",
                json!({ "ShardIterator": it["ShardIterator"] }),
            );
            for r in got["Records"].as_array().unwrap() {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(r["Data"].as_str().unwrap())
                    .unwrap();
                out.push(String::from_utf8(data).unwrap());
            }
        }
        out
    }

    /// SIGTERM, then the exit status must be success.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        let stderr = self
            .stderr
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        assert!(
            status.success(),
            "sluice serve exited with {status}; its stderr:\n{stderr}"
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn example_records() -> Vec<Value> {
    let text =
        std::fs::read_to_string(repo().join("sql-examples/local-kinesis/input.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["data"].clone())
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else if !p.to_string_lossy().contains('#') {
                // object_store stages `<key>#<n>` before renaming it to `<key>`.
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Runs the getting-started app of `app` (sql-examples/local-kinesis, or
/// the same app imported from its KDA configuration) under `sluice serve`
/// in `d`: records put to ExampleInputStream come out as window rows in
/// ExampleOutputStream and, once the server stops, as CSV lines of the big
/// changes in the Firehose bucket. Returns the window rows.
fn ticker_app_between_kinesis_and_firehose(d: &Path, app: &Path) -> Vec<String> {
    let server = Server::start(d, &["--apps", app.to_str().unwrap()]);
    // The app created its streams; its delivery stream is ours to create,
    // through the same port.
    let (status, v) = server.call(
        "Firehose_20150804.CreateDeliveryStream",
        &json!({
            "DeliveryStreamName": "example-big-changes",
            "ExtendedS3DestinationConfiguration": {
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": "arn:aws:s3:::changes",
                "BufferingHints": { "IntervalInSeconds": 900, "SizeInMBs": 128 },
            },
        }),
    );
    assert_eq!(status, 200, "{v}");
    let records = example_records();
    server.put("ExampleInputStream", &records);

    // DESTINATION_SQL_STREAM: 10-second windows close on the wall clock.
    let out = wait_for("window rows in ExampleOutputStream", || {
        let rows = server.read_all("ExampleOutputStream");
        let trades: i64 = rows
            .iter()
            .map(|r| {
                serde_json::from_str::<Value>(r).unwrap()["TRADES"]
                    .as_i64()
                    .unwrap()
            })
            .sum();
        (trades == records.len() as i64).then_some(rows)
    });
    for row in &out {
        let v: Value = serde_json::from_str(row).unwrap();
        assert!(
            v["TICKER_SYMBOL"].is_string() && v["AVG_PRICE"].is_number(),
            "{row}"
        );
    }
    // SIGTERM delivers what Firehose buffers: BIG_CHANGES as CSV lines.
    server.stop();
    let expected: Vec<String> = records
        .iter()
        .filter(|r| r["change"].as_f64().unwrap().abs() > 1.0)
        .map(|r| {
            format!(
                "{},{},{}",
                r["ticker_symbol"].as_str().unwrap(),
                r["price"],
                r["change"]
            )
        })
        .collect();
    let objects = files_under(&d.join("buckets/changes"));
    assert_eq!(objects.len(), 1, "{objects:?}");
    let name = objects[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("example-big-changes-1-"), "{name}");
    let delivered = std::fs::read_to_string(&objects[0]).unwrap();
    assert_eq!(delivered.lines().collect::<Vec<_>>(), expected);
    out
}

#[test]
fn serve_runs_an_app_between_kinesis_and_firehose() {
    let d = temp_dir("serve-app");
    let out =
        ticker_app_between_kinesis_and_firehose(&d, &repo().join("sql-examples/local-kinesis"));

    // Restarted, the app resumes at its checkpoint: nothing is read twice.
    let server = Server::start(
        &d,
        &[
            "--apps",
            repo().join("sql-examples/local-kinesis").to_str().unwrap(),
        ],
    );
    server.put(
        "ExampleInputStream",
        &[json!({"ticker_symbol": "AMZN", "sector": "TECHNOLOGY", "change": 5.5, "price": 183.5})],
    );
    wait_for("the new window row", || {
        let rows = server.read_all("ExampleOutputStream");
        (rows.len() > out.len()).then_some(())
    });
    server.stop();
    let objects = files_under(&d.join("buckets/changes"));
    assert_eq!(objects.len(), 2, "{objects:?}");
    let second = std::fs::read_to_string(&objects[1]).unwrap();
    assert_eq!(second, "AMZN,183.5,5.5\n");
}

#[test]
fn serve_runs_a_kda_application_imported_from_describe_application() {
    // The same app as its KDA owners have it: describe-application output.
    let d = temp_dir("serve-kda");
    let app = temp_dir("serve-kda-app");
    let migration = repo().join("sql-examples/kda-migration");
    let status = sluice()
        .arg("import")
        .arg(migration.join("describe-application.json"))
        .arg("--arn-map")
        .arg(migration.join("arn-map.toml"))
        .arg("--out")
        .arg(&app)
        .status()
        .unwrap();
    assert!(status.success());
    ticker_app_between_kinesis_and_firehose(&d, &app);
}

#[test]
fn run_reads_a_kinesis_stream_and_resumes_from_its_checkpoint() {
    let d = temp_dir("run-kinesis");
    let data = d.join("data");
    let app = d.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("app.sql"),
        "CREATE STREAM \"OUT\" (N INTEGER, TWICE INTEGER, PK VARCHAR(256), SHARD VARCHAR(128), SEQ VARCHAR(128));\n\
         CREATE PUMP \"P\" AS INSERT INTO \"OUT\" SELECT STREAM N, N * 2, \"PARTITION_KEY\", SHARD_ID, SEQUENCE_NUMBER FROM \"SOURCE_SQL_STREAM_001\";\n",
    )
    .unwrap();
    std::fs::write(
        app.join("app.toml"),
        "[[input]]\nstream = \"SOURCE_SQL_STREAM_001\"\nkinesis_stream = \"numbers\"\n\
         columns = [{ name = \"N\", type = \"INTEGER\", mapping = \"$.n\" }]\n\
         [[output]]\nstream = \"OUT\"\nfile = \"out.jsonl\"\n",
    )
    .unwrap();
    let put = |from: i64, to: i64| {
        let server = Server::start(&data, &[]);
        if from == 0 {
            server.kinesis(
                "CreateStream",
                json!({ "StreamName": "numbers", "ShardCount": 3 }),
            );
        }
        let records: Vec<Value> = (from..to).map(|n| json!({ "n": n })).collect();
        server.put("numbers", &records);
        server.stop();
    };
    let run = || {
        let out = sluice()
            .arg("run")
            .arg(&app)
            .arg("--data-dir")
            .arg(&data)
            .arg("--drain")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(app.join("out.jsonl")).unwrap();
        let mut rows: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect();
        rows.sort_by_key(|r| r["N"].as_i64().unwrap());
        rows
    };
    let ns =
        |rows: &[Value]| -> Vec<i64> { rows.iter().map(|r| r["N"].as_i64().unwrap()).collect() };
    put(0, 40);
    let rows = run();
    assert_eq!(ns(&rows), (0..40).collect::<Vec<_>>());
    // Each row carries its record's Kinesis metadata: the partition key it
    // was put with (`k<n>`), the shard it was read from, its sequence number.
    let mut seen = std::collections::HashSet::new();
    for r in &rows {
        assert_eq!(r["PK"], format!("k{}", r["N"]), "{r}");
        let shard = r["SHARD"].as_str().unwrap();
        assert!(shard.starts_with("shardId-"), "{r}");
        let seq = r["SEQ"].as_str().unwrap();
        assert!(
            !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()),
            "{r}"
        );
        assert!(seen.insert((shard.to_string(), seq.to_string())), "{r}");
    }
    assert!(
        seen.iter()
            .map(|(s, _)| s)
            .collect::<std::collections::HashSet<_>>()
            .len()
            > 1
    );
    put(40, 55);
    assert_eq!(
        ns(&run()),
        (0..55).collect::<Vec<_>>(),
        "a record read twice or lost"
    );
    // A second process on the same data directory is refused, not corrupting it.
    let server = Server::start(&data, &[]);
    let out = sluice()
        .arg("run")
        .arg(&app)
        .arg("--data-dir")
        .arg(&data)
        .arg("--drain")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use by another sluice process"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop();
}

/// `sluice run ARGS --data-dir DATA --drain`, which must succeed.
fn run_drained(args: &[&std::ffi::OsStr], data: &Path) {
    let out = sluice()
        .arg("run")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--drain")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a KDA application from its describe-application output
/// `describe` (and ARN map `map`) with `sluice run --kda-config --drain`
/// on data directory `data`, after creating `streams` (name, shards) and
/// putting `records` into the first one.
fn run_kda(
    d: &Path,
    data: &Path,
    describe: &Value,
    map: Option<&str>,
    streams: &[(&str, u32)],
    records: &[Value],
) {
    std::fs::write(d.join("describe.json"), describe.to_string()).unwrap();
    let server = Server::start(data, &[]);
    for (name, shards) in streams {
        server.kinesis(
            "CreateStream",
            json!({ "StreamName": name, "ShardCount": shards }),
        );
    }
    server.put(streams[0].0, records);
    server.stop();
    let describe = d.join("describe.json");
    let map_file = d.join("map.toml");
    let mut args = vec![std::ffi::OsStr::new("--kda-config"), describe.as_os_str()];
    if let Some(map) = map {
        std::fs::write(&map_file, map).unwrap();
        args.extend([std::ffi::OsStr::new("--arn-map"), map_file.as_os_str()]);
    }
    run_drained(&args, data);
}

/// A describe-application Input of Kinesis stream `stream`, one INTEGER
/// column N mapped from `$.n`, with `extra` keys.
fn kda_numbers_input(stream: &str, extra: Value) -> Value {
    let mut input = json!({
        "NamePrefix": "SOURCE_SQL_STREAM",
        "KinesisStreamsInputDescription": {
            "ResourceARN": format!("arn:aws:kinesis:us-east-1:123456789012:stream/{stream}") },
        "InputSchema": {
            "RecordFormat": { "RecordFormatType": "JSON",
                "MappingParameters": { "JSONMappingParameters": { "RecordRowPath": "$" } } },
            "RecordEncoding": "UTF-8",
            "RecordColumns": [{ "Name": "N", "SqlType": "INTEGER", "Mapping": "$.n" }] } });
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    input
}

#[test]
fn kda_input_parallelism_divides_the_shards_among_in_application_streams() {
    // KDA's InputParallelism 3 over a 6-shard stream: SOURCE_SQL_STREAM_001
    // .. _003, each fed the records of two shards (shardId-n: n mod 3).
    let d = temp_dir("kda-parallel");
    let data = d.join("data");
    let sql = (1..=3)
        .map(|k| {
            format!(
                "CREATE OR REPLACE PUMP \"P{k}\" AS INSERT INTO \"OUT\" SELECT STREAM {k}, N, SHARD_ID FROM \"SOURCE_SQL_STREAM_00{k}\";\n"
            )
        })
        .collect::<String>();
    let code = format!(
        "CREATE OR REPLACE STREAM \"OUT\" (SRC INTEGER, N INTEGER, SHARD VARCHAR(64));\n{sql}"
    );
    let describe = json!({ "ApplicationDetail": {
        "ApplicationName": "parallel",
        "ApplicationCode": code,
        "InputDescriptions": [kda_numbers_input("numbers", json!({
            "InputParallelism": { "Count": 3 },
            "InputStartingPositionConfiguration": { "InputStartingPosition": "TRIM_HORIZON" } }))],
        "OutputDescriptions": [{
            "Name": "OUT",
            "KinesisStreamsOutputDescription": {
                "ResourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/out" },
            "DestinationSchema": { "RecordFormatType": "JSON" } }] } });
    let records: Vec<Value> = (0..60).map(|n| json!({ "n": n })).collect();
    run_kda(
        &d,
        &data,
        &describe,
        None,
        &[("numbers", 6), ("out", 1)],
        &records,
    );
    let server = Server::start(&data, &[]);
    let rows: Vec<Value> = server
        .read_all("out")
        .iter()
        .map(|r| serde_json::from_str(r).unwrap())
        .collect();
    server.stop();
    let mut ns: Vec<i64> = rows.iter().map(|r| r["N"].as_i64().unwrap()).collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..60).collect::<Vec<_>>(), "each record once");
    let mut shards_of =
        std::collections::BTreeMap::<i64, std::collections::BTreeSet<String>>::new();
    for r in &rows {
        let shard = r["SHARD"].as_str().unwrap();
        let n: i64 = shard.rsplit('-').next().unwrap().parse().unwrap();
        assert_eq!(r["SRC"].as_i64().unwrap(), n % 3 + 1, "{r}");
        shards_of
            .entry(r["SRC"].as_i64().unwrap())
            .or_default()
            .insert(shard.to_string());
    }
    // The 60 keys reach every shard: each in-application stream read two.
    assert!(shards_of.values().all(|s| s.len() == 2), "{shards_of:?}");
}

/// A function behind KDA's Lambda contracts, on 127.0.0.1: preprocessing
/// (events with a `streamArn`) drops `{"n"}` records with n divisible by 5,
/// fails those divisible by 7 and makes the rest `{"n": n * 10}`; output
/// keeps each delivered record's data, answering the first record of the
/// first delivery DeliveryFailed (so it comes again, with a retryHint).
fn lambda_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}/", listener.local_addr().unwrap());
    let delivered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = std::sync::Arc::clone(&delivered);
    std::thread::spawn(move || {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut first_delivery = true;
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let event: Value = serde_json::from_slice(&body).unwrap();
            let records = event["records"].as_array().unwrap();
            let answers: Vec<Value> = if event.get("streamArn").is_some() {
                records
                    .iter()
                    .map(|r| {
                        let data: Value = serde_json::from_slice(
                            &b64.decode(r["data"].as_str().unwrap()).unwrap(),
                        )
                        .unwrap();
                        let n = data["n"].as_i64().unwrap();
                        let id = &r["recordId"];
                        if n % 5 == 0 {
                            json!({ "recordId": id, "result": "Dropped" })
                        } else if n % 7 == 0 {
                            json!({ "recordId": id, "result": "ProcessingFailed" })
                        } else {
                            let out = json!({ "n": n * 10 }).to_string();
                            json!({ "recordId": id, "result": "Ok", "data": b64.encode(out) })
                        }
                    })
                    .collect()
            } else {
                records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let id = &r["recordId"];
                        if first_delivery && i == 0 {
                            return json!({ "recordId": id, "result": "DeliveryFailed" });
                        }
                        let data = b64.decode(r["data"].as_str().unwrap()).unwrap();
                        let mut row: Value = serde_json::from_slice(&data).unwrap();
                        row["retryHint"] = r["lambdaDeliveryRecordMetadata"]["retryHint"].clone();
                        kept.lock().unwrap().push(row);
                        json!({ "recordId": id, "result": "Ok" })
                    })
                    .collect()
            };
            if event.get("streamArn").is_none() {
                first_delivery = false;
            }
            let answer = json!({ "records": answers }).to_string();
            write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            )
            .unwrap();
        }
    });
    (addr, delivered)
}

#[test]
fn kda_preprocessing_and_output_lambdas_follow_the_record_contracts() {
    let d = temp_dir("kda-lambdas");
    let data = d.join("data");
    let (url, delivered) = lambda_server();
    let role = "arn:aws:iam::123456789012:role/kda";
    let describe = json!({ "ApplicationDetail": {
        "ApplicationName": "lambdas",
        "ApplicationCode": "CREATE OR REPLACE STREAM \"OUT\" (N INTEGER);\nCREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"OUT\" SELECT STREAM N FROM \"SOURCE_SQL_STREAM_001\";\n",
        "InputDescriptions": [kda_numbers_input("numbers", json!({
            "InputProcessingConfigurationDescription": { "InputLambdaProcessorDescription": {
                "ResourceARN": "arn:aws:lambda:us-east-1:123456789012:function:pre", "RoleARN": role } } }))],
        "OutputDescriptions": [
            { "Name": "OUT",
              "LambdaOutputDescription": {
                  "ResourceARN": "arn:aws:lambda:us-east-1:123456789012:function:out", "RoleARN": role },
              "DestinationSchema": { "RecordFormatType": "JSON" } },
            { "Name": "error_stream",
              "KinesisStreamsOutputDescription": {
                  "ResourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/errors" },
              "DestinationSchema": { "RecordFormatType": "JSON" } }] } });
    let map = format!(
        "[lambdas]\n\"arn:aws:lambda:us-east-1:123456789012:function:pre\" = \"{url}\"\n\
         \"arn:aws:lambda:us-east-1:123456789012:function:out\" = \"{url}\"\n"
    );
    let records: Vec<Value> = (0..30).map(|n| json!({ "n": n })).collect();
    run_kda(
        &d,
        &data,
        &describe,
        Some(&map),
        &[("numbers", 1), ("errors", 1)],
        &records,
    );
    // Delivered: n not divisible by 5 or 7, times 10, each once; the first
    // one after a DeliveryFailed, with retryHint 1.
    let rows = delivered.lock().unwrap().clone();
    let mut ns: Vec<i64> = rows.iter().map(|r| r["N"].as_i64().unwrap()).collect();
    ns.sort_unstable();
    let want: Vec<i64> = (0..30)
        .filter(|n| n % 5 != 0 && n % 7 != 0)
        .map(|n| n * 10)
        .collect();
    assert_eq!(ns, want);
    assert_eq!(
        rows.iter().filter(|r| r["retryHint"] == 1).count(),
        1,
        "{rows:?}"
    );
    // ProcessingFailed records (7, 14, 21, 28) are in error_stream.
    let server = Server::start(&data, &[]);
    let errors: Vec<Value> = server
        .read_all("errors")
        .iter()
        .map(|r| serde_json::from_str(r).unwrap())
        .collect();
    server.stop();
    assert_eq!(errors.len(), 4, "{errors:?}");
    for e in &errors {
        assert_eq!(e["ERROR_NAME"], "Lambda preprocessing", "{e}");
        assert!(
            e["MESSAGE"].as_str().unwrap().contains("ProcessingFailed"),
            "{e}"
        );
    }
}

#[test]
fn kda_reference_data_source_is_read_from_the_mapped_bucket() {
    // A ReferenceDataSource's bucket mapped to a file:// URL: its FileKey is
    // read there, and the app joins the stream to it.
    let d = temp_dir("kda-reference");
    let data = d.join("data");
    let bucket = d.join("bucket");
    std::fs::create_dir_all(bucket.join("ref")).unwrap();
    std::fs::write(
        bucket.join("ref/company.csv"),
        "AMZN,Amazon\nMSFT,Microsoft\n",
    )
    .unwrap();
    let describe = json!({ "ApplicationDetail": {
        "ApplicationName": "enrich",
        "ApplicationCode": "CREATE OR REPLACE STREAM \"OUT\" (T VARCHAR(4), NAME VARCHAR(16));\nCREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"OUT\" SELECT STREAM S.T, C.NAME FROM \"SOURCE_SQL_STREAM_001\" AS S LEFT JOIN \"COMPANY\" AS C ON S.T = C.T;\n",
        "InputDescriptions": [{
            "NamePrefix": "SOURCE_SQL_STREAM",
            "KinesisStreamsInputDescription": {
                "ResourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/ticks" },
            "InputSchema": {
                "RecordFormat": { "RecordFormatType": "JSON",
                    "MappingParameters": { "JSONMappingParameters": { "RecordRowPath": "$" } } },
                "RecordEncoding": "UTF-8",
                "RecordColumns": [{ "Name": "T", "SqlType": "VARCHAR(4)", "Mapping": "$.t" }] } }],
        "OutputDescriptions": [{
            "Name": "OUT",
            "KinesisStreamsOutputDescription": {
                "ResourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/enriched" },
            "DestinationSchema": { "RecordFormatType": "CSV" } }],
        "ReferenceDataSourceDescriptions": [{
            "TableName": "COMPANY",
            "S3ReferenceDataSourceDescription": {
                "BucketARN": "arn:aws:s3:::company-data", "FileKey": "ref/company.csv" },
            "ReferenceSchema": {
                "RecordFormat": { "RecordFormatType": "CSV", "MappingParameters": {
                    "CSVMappingParameters": { "RecordRowDelimiter": "\n", "RecordColumnDelimiter": "," } } },
                "RecordEncoding": "UTF-8",
                "RecordColumns": [{ "Name": "T", "SqlType": "VARCHAR(4)" },
                                  { "Name": "NAME", "SqlType": "VARCHAR(16)" }] } }] } });
    let map = format!(
        "[buckets.\"arn:aws:s3:::company-data\"]\nurl = \"file://{}\"\n",
        bucket.display()
    );
    run_kda(
        &d,
        &data,
        &describe,
        Some(&map),
        &[("ticks", 1), ("enriched", 1)],
        &[
            json!({"t": "AMZN"}),
            json!({"t": "IBM"}),
            json!({"t": "MSFT"}),
        ],
    );
    let server = Server::start(&data, &[]);
    let rows = server.read_all("enriched");
    server.stop();
    // DestinationSchema CSV: one line per row, the unmatched ticker's NAME empty.
    assert_eq!(rows, ["AMZN,Amazon\n", "IBM,\n", "MSFT,Microsoft\n"]);
}

#[test]
fn serve_feeds_an_app_the_records_entering_a_delivery_stream() {
    // KDA's KinesisFirehoseInput: the app reads what enters the delivery
    // stream, which still delivers it to its bucket.
    let d = temp_dir("firehose-input");
    let app = temp_dir("firehose-input-app");
    std::fs::write(
        app.join("app.sql"),
        "CREATE STREAM \"OUT\" (N INTEGER, TWICE INTEGER);\n\
         CREATE PUMP \"P\" AS INSERT INTO \"OUT\" SELECT STREAM N, N * 2 FROM \"SOURCE_SQL_STREAM_001\";\n",
    )
    .unwrap();
    std::fs::write(
        app.join("app.toml"),
        "[[input]]\nstream = \"SOURCE_SQL_STREAM_001\"\ndelivery_stream = \"clicks\"\n\
         columns = [{ name = \"N\", type = \"INTEGER\", mapping = \"$.n\" }]\n\
         [[output]]\nstream = \"OUT\"\nkinesis_stream = \"doubled\"\n",
    )
    .unwrap();
    let server = Server::start(&d, &["--apps", app.to_str().unwrap()]);
    let (status, v) = server.call(
        "Firehose_20150804.CreateDeliveryStream",
        &json!({
            "DeliveryStreamName": "clicks",
            "ExtendedS3DestinationConfiguration": {
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": "arn:aws:s3:::clicks",
                "BufferingHints": { "IntervalInSeconds": 900, "SizeInMBs": 128 },
            },
        }),
    );
    assert_eq!(status, 200, "{v}");
    let records: Vec<Value> = (1..=5)
        .map(|n| {
            json!({ "Data": base64::engine::general_purpose::STANDARD.encode(json!({ "n": n }).to_string()) })
        })
        .collect();
    let (status, v) = server.call(
        "Firehose_20150804.PutRecordBatch",
        &json!({ "DeliveryStreamName": "clicks", "Records": records }),
    );
    assert_eq!(status, 200, "{v}");
    let rows = wait_for("the app's rows in doubled", || {
        let rows = server.read_all("doubled");
        (rows.len() == 5).then_some(rows)
    });
    let twice: Vec<i64> = rows
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(r).unwrap()["TWICE"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(twice, [2, 4, 6, 8, 10]);
    server.stop();
    // The delivery stream delivered them too.
    assert_eq!(files_under(&d.join("buckets/clicks")).len(), 1);
}

#[test]
fn run_writes_an_output_to_a_remote_kinesis_endpoint() {
    // The input in this process's shard log, the output on another
    // endpoint (a second sluice serve standing in for Amazon Kinesis).
    let d = temp_dir("remote-output");
    let data = d.join("data");
    let app = d.join("app");
    std::fs::create_dir_all(&app).unwrap();
    let remote = Server::start(&d.join("remote"), &[]);
    remote.kinesis(
        "CreateStream",
        json!({ "StreamName": "far", "ShardCount": 1 }),
    );
    std::fs::write(
        app.join("app.sql"),
        "CREATE STREAM \"OUT\" (N INTEGER);\n\
         CREATE PUMP \"P\" AS INSERT INTO \"OUT\" SELECT STREAM N + 100 FROM \"SOURCE_SQL_STREAM_001\";\n",
    )
    .unwrap();
    std::fs::write(
        app.join("app.toml"),
        format!(
            "[[input]]\nstream = \"SOURCE_SQL_STREAM_001\"\nkinesis_stream = \"near\"\n\
             columns = [{{ name = \"N\", type = \"INTEGER\", mapping = \"$.n\" }}]\n\
             [[output]]\nstream = \"OUT\"\nkinesis_stream = \"far\"\nendpoint = \"http://{}\"\n",
            remote.addr
        ),
    )
    .unwrap();
    let local = Server::start(&data, &[]);
    local.kinesis(
        "CreateStream",
        json!({ "StreamName": "near", "ShardCount": 1 }),
    );
    let records: Vec<Value> = (0..700).map(|n| json!({ "n": n })).collect();
    local.put("near", &records[..500]);
    local.put("near", &records[500..]);
    local.stop();
    run_drained(&[app.as_os_str()], &data);
    let mut ns: Vec<i64> = remote
        .read_all("far")
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(r).unwrap()["N"]
                .as_i64()
                .unwrap()
        })
        .collect();
    remote.stop();
    ns.sort_unstable();
    assert_eq!(ns, (100..800).collect::<Vec<_>>());
}

/// A Kinesis Video control-plane call (rest-json: POST to the operation's path).
fn video_call(server: &Server, path: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let mut s = TcpStream::connect(&server.addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.addr,
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, json)
}

#[test]
fn serve_feeds_put_media_fragments_to_a_video_fragments_app() {
    use sluice_video::mkv::testing::{cluster_of, header_with};

    let d = temp_dir("serve-video");
    let server = Server::start(
        &d,
        &[
            "--apps",
            repo()
                .join("sql-examples/video-fragment-stats")
                .to_str()
                .unwrap(),
        ],
    );
    let (status, v) = video_call(
        &server,
        "/createStream",
        &json!({ "StreamName": "lobby-cam", "DataRetentionInHours": 1 }),
    );
    assert_eq!(status, 200, "{v}");

    // Three 2-second fragments of 30 fps 1280x720 video, RELATIVE
    // timecodes: 0 and 2000 back to back, then one at 9000 (a 5-second gap),
    // then one at 1000 that goes back in time (4004).
    let mut media = header_with(&[1], 33_333_333, Some((1280, 720)));
    for tc in [0u64, 2000, 9000, 1000] {
        media.extend(cluster_of(tc, 60, 33, |i| vec![i as u8; 2000]));
    }
    // The server stamps fragments with the system clock: start from it.
    let start = SystemClock.now_ms() as f64 / 1000.0;
    let mut put = sluice()
        .args([
            "video",
            "put",
            "-",
            "--stream-name",
            "lobby-cam",
            "--endpoint",
        ])
        .arg(format!("http://{}", server.addr))
        .args(["--relative", &format!("{start:.3}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    put.stdin.take().unwrap().write_all(&media).unwrap();
    let out = put.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A rejected fragment makes the upload fail.
    assert!(!out.status.success(), "{stdout}{stderr}");
    let acks: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let of = |kind: &str| acks.iter().filter(|a| a["EventType"] == kind).count();
    assert_eq!(of("PERSISTED"), 3, "{stdout}");
    assert_eq!(of("ERROR"), 1, "{stdout}");
    let error = acks.iter().find(|a| a["EventType"] == "ERROR").unwrap();
    assert_eq!(error["ErrorId"], 4004, "{error}");
    assert!(stderr.contains("3 PERSISTED, 1 ERROR"), "{stderr}");

    // The app's continuous filter sees the gap and the rejected fragment.
    let alerts = wait_for("two rows in VideoAlerts", || {
        let rows = server.read_all("VideoAlerts");
        (rows.len() >= 2).then_some(rows)
    });
    let alerts: Vec<Value> = alerts
        .iter()
        .map(|r| serde_json::from_str(r).unwrap())
        .collect();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[0]["STREAM_NAME"], "lobby-cam");
    assert_eq!(alerts[0]["ALERT"], "GAP");
    let gap = alerts[0]["GAP_MS"].as_i64().unwrap();
    assert!((4900..=5100).contains(&gap), "{gap}");
    assert_eq!(alerts[1]["ALERT"], "REJECTED");
    assert_eq!(alerts[1]["ERROR_ID"], 4004);
    server.stop();
}

/// `sluice video put -` of `media` to `stream` at `server`, RELATIVE
/// timecodes from `start` (epoch seconds); its ACK lines.
fn video_put(server: &Server, stream: &str, media: &[u8], start: f64) -> Vec<Value> {
    let mut put = sluice()
        .args(["video", "put", "-", "--stream-name", stream, "--endpoint"])
        .arg(format!("http://{}", server.addr))
        .args(["--relative", &format!("{start:.3}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    put.stdin.take().unwrap().write_all(media).unwrap();
    let out = put.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn run_reads_a_video_stream_through_get_media_and_resumes_from_its_checkpoint() {
    use sluice_video::mkv::testing::{cluster_of, header_with};

    let d = temp_dir("run-video-remote");
    let server = Server::start(&d.join("serve"), &[]);
    let (status, v) = video_call(
        &server,
        "/createStream",
        &json!({ "StreamName": "lobby-cam", "DataRetentionInHours": 1 }),
    );
    assert_eq!(status, 200, "{v}");
    // Three 2-second fragments: 0 and 2000 back to back, then 9000 (a
    // 5-second gap).
    let start = SystemClock.now_ms() as f64 / 1000.0;
    let mut media = header_with(&[1], 33_333_333, Some((1280, 720)));
    for tc in [0u64, 2000, 9000] {
        media.extend(cluster_of(tc, 60, 33, |i| vec![i as u8; 2000]));
    }
    let acks = video_put(&server, "lobby-cam", &media, start);
    assert_eq!(
        acks.iter()
            .filter(|a| a["EventType"] == "PERSISTED")
            .count(),
        3
    );

    // The example app, its input read from that server.
    let app = d.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::copy(
        repo().join("sql-examples/video-fragment-stats/app.sql"),
        app.join("app.sql"),
    )
    .unwrap();
    std::fs::write(
        app.join("app.toml"),
        format!(
            r#"[[input]]
stream       = "SOURCE_SQL_STREAM_001"
video_stream = "lobby-cam"
endpoint     = "http://{}"

[[output]]
stream = "VIDEO_ALERTS"
file   = "alerts.jsonl"

[[output]]
stream = "VIDEO_HEALTH"
file   = "health.jsonl"
"#,
            server.addr
        ),
    )
    .unwrap();
    let data = d.join("run");
    let read = |name: &str| -> Vec<Value> {
        std::fs::read_to_string(app.join(name))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    run_drained(&[app.as_os_str()], &data);
    let alerts = read("alerts.jsonl");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["STREAM_NAME"], "lobby-cam");
    assert_eq!(alerts[0]["ALERT"], "GAP");
    let gap = alerts[0]["GAP_MS"].as_i64().unwrap();
    assert!((4900..=5100).contains(&gap), "{gap}");
    let fragments =
        |rows: &[Value]| -> i64 { rows.iter().map(|r| r["FRAGMENTS"].as_i64().unwrap()).sum() };
    let health = read("health.jsonl");
    assert_eq!(fragments(&health), 3, "{health:?}");
    // Read back through GetMedia: no ingest latency, nothing rejected.
    assert!(
        health.iter().all(|r| r["MAX_LATENCY_MS"].is_null()),
        "{health:?}"
    );
    let fps = health[0]["FRAMES_PER_SECOND"].as_f64().unwrap();
    assert!((29.0..=31.0).contains(&fps), "{fps}");

    // One more fragment 20 s on; the next run starts after the last one
    // read (LAST_STOPPED_POINT), and its GAP_MS counts from that one's end.
    let mut more = header_with(&[1], 33_333_333, Some((1280, 720)));
    more.extend(cluster_of(31_000, 60, 33, |i| vec![i as u8; 2000]));
    video_put(&server, "lobby-cam", &more, start);
    run_drained(&[app.as_os_str()], &data);
    let alerts = read("alerts.jsonl");
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    let gap = alerts[1]["GAP_MS"].as_i64().unwrap();
    assert!((19_900..=20_100).contains(&gap), "{gap}");
    let health = read("health.jsonl");
    assert_eq!(fragments(&health), 4, "{health:?}");

    // A run started at NOW that reads nothing (drained at once), then one
    // more fragment: the next LAST_STOPPED_POINT run reads that fragment
    // alone, from where the NOW run started, not the stream from its
    // oldest fragment.
    let toml = std::fs::read_to_string(app.join("app.toml")).unwrap();
    std::fs::write(
        app.join("app.toml"),
        toml.replace("endpoint", "starting_position = \"NOW\"\nendpoint"),
    )
    .unwrap();
    run_drained(&[app.as_os_str()], &data);
    assert_eq!(fragments(&read("health.jsonl")), 4);
    let mut later = header_with(&[1], 33_333_333, Some((1280, 720)));
    later.extend(cluster_of(40_000, 60, 33, |i| vec![i as u8; 2000]));
    video_put(&server, "lobby-cam", &later, start);
    std::fs::write(app.join("app.toml"), &toml).unwrap();
    run_drained(&[app.as_os_str()], &data);
    let health = read("health.jsonl");
    assert_eq!(fragments(&health), 5, "{health:?}");

    // A stream that is not there: a --drain run fails with AWS's error.
    let toml = std::fs::read_to_string(app.join("app.toml"))
        .unwrap()
        .replace("\"lobby-cam\"", "\"no-such-cam\"");
    std::fs::write(app.join("app.toml"), toml).unwrap();
    let out = sluice()
        .arg("run")
        .arg(&app)
        .arg("--data-dir")
        .arg(&data)
        .arg("--drain")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("ResourceNotFoundException"), "{stderr}");
    assert!(stderr.contains("no-such-cam"), "{stderr}");

    // Without an endpoint, sluice run says where such an input runs.
    std::fs::write(
        app.join("app.toml"),
        "[[input]]\nstream = \"SOURCE_SQL_STREAM_001\"\nvideo_stream = \"*\"\n",
    )
    .unwrap();
    let out = sluice().arg("run").arg(&app).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("sluice serve --apps, or give the input an endpoint"),
        "{stderr}"
    );
    server.stop();
}

#[test]
fn discover_samples_a_stream_through_an_endpoint() {
    let d = temp_dir("discover-kds");
    let server = Server::start(&d, &[]);
    server.kinesis(
        "CreateStream",
        json!({ "StreamName": "ticks", "ShardCount": 2 }),
    );
    wait_for("ticks active", || {
        let v = server.kinesis("DescribeStreamSummary", json!({ "StreamName": "ticks" }));
        (v["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE").then_some(())
    });
    server.put(
        "ticks",
        &[
            json!({ "TICKER": "AMZN", "QUOTE": { "PRICE": 12.5 } }),
            json!({ "TICKER": "MSFT", "QUOTE": { "PRICE": 13 } }),
            json!({ "TICKER": "AAPL", "QUOTE": { "PRICE": 14 } }),
        ],
    );
    let out = sluice()
        .args(["discover", "--kds", "ticks", "--endpoint"])
        .arg(format!("http://{}", server.addr))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("# discovered from 3 row(s)"), "{stdout}");
    assert!(stdout.contains("kinesis_stream = \"ticks\"\n"), "{stdout}");
    assert!(
        stdout.contains(r#"{ name = "QUOTE_PRICE", type = "DOUBLE", mapping = "$.QUOTE.PRICE" },"#),
        "{stdout}"
    );
    // Without an endpoint there is nothing to read from.
    let out = sluice()
        .args(["discover", "--kds", "ticks"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    server.stop();
}

#[test]
fn serve_defines_delivery_streams_from_a_firehose_file() {
    // `--firehose FILE`: AWS's CreateDeliveryStream request, as
    // `aws firehose create-delivery-stream --cli-input-json` takes it.
    let d = temp_dir("firehose-file");
    let conf = temp_dir("firehose-file-conf");
    let file = conf.join("streams.json");
    std::fs::write(
        &file,
        json!([{
            "DeliveryStreamName": "orders",
            "DeliveryStreamType": "DirectPut",
            "ExtendedS3DestinationConfiguration": {
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": "arn:aws:s3:::orders",
                "Prefix": "in/",
                "BufferingHints": { "IntervalInSeconds": 900, "SizeInMBs": 128 },
            },
        }])
        .to_string(),
    )
    .unwrap();
    let server = Server::start(&d, &["--firehose", file.to_str().unwrap()]);
    let (status, v) = server.call(
        "Firehose_20150804.DescribeDeliveryStream",
        &json!({ "DeliveryStreamName": "orders" }),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["DeliveryStreamDescription"]["DeliveryStreamStatus"],
        "ACTIVE"
    );
    let (status, v) = server.call(
        "Firehose_20150804.PutRecord",
        &json!({ "DeliveryStreamName": "orders", "Record": { "Data": "b3JkZXIgMQo=" } }),
    );
    assert_eq!(status, 200, "{v}");
    server.stop();
    // Stopping delivers what was buffered, under the file's prefix.
    let delivered = files_under(&d.join("buckets/orders/in"));
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(std::fs::read(&delivered[0]).unwrap(), b"order 1\n");
    // A restart with the same file keeps the stream that exists.
    let server = Server::start(&d, &["--firehose", file.to_str().unwrap()]);
    let (status, v) = server.call("Firehose_20150804.ListDeliveryStreams", &json!({}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["DeliveryStreamNames"], json!(["orders"]));
    server.stop();
    // A definition AWS refuses stops the start with AWS's error.
    std::fs::write(
        &file,
        json!({ "DeliveryStreamName": "bad name!", "S3DestinationConfiguration": {} }).to_string(),
    )
    .unwrap();
    let bad = temp_dir("firehose-file-bad");
    let out = sluice()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&bad)
        .args(["--firehose", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CreateDeliveryStream bad name!: ValidationException"),
        "{err}"
    );
}

#[test]
fn serve_runs_a_delivery_streams_lambda_named_by_arn_through_the_arn_map() {
    // A processing configuration names its function by ARN, as on AWS;
    // `--arn-map` says where that function runs here.
    let d = temp_dir("firehose-lambda-arn");
    let conf = temp_dir("firehose-lambda-arn-conf");
    let script = conf.join("upper.py");
    std::fs::write(
        &script,
        "import base64, json, sys\n\
         event = json.load(sys.stdin)\n\
         out = [{'recordId': r['recordId'], 'result': 'Ok',\n\
                 'data': base64.b64encode(base64.b64decode(r['data']).upper()).decode()}\n\
                for r in event['records']]\n\
         print(json.dumps({'records': out}))\n",
    )
    .unwrap();
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:upper";
    let map = conf.join("arn-map.toml");
    std::fs::write(
        &map,
        format!(
            "[lambdas]\n\"{arn}\" = \"command:python3 {}\"\n",
            script.display()
        ),
    )
    .unwrap();
    let file = conf.join("streams.json");
    std::fs::write(
        &file,
        json!({
            "DeliveryStreamName": "shout",
            "ExtendedS3DestinationConfiguration": {
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": "arn:aws:s3:::shout",
                "BufferingHints": { "IntervalInSeconds": 900, "SizeInMBs": 128 },
                "ProcessingConfiguration": {
                    "Enabled": true,
                    "Processors": [{
                        "Type": "Lambda",
                        "Parameters": [{ "ParameterName": "LambdaArn", "ParameterValue": arn }],
                    }],
                },
            },
        })
        .to_string(),
    )
    .unwrap();
    let server = Server::start(
        &d,
        &[
            "--firehose",
            file.to_str().unwrap(),
            "--arn-map",
            map.to_str().unwrap(),
        ],
    );
    let (status, v) = server.call(
        "Firehose_20150804.PutRecord",
        &json!({ "DeliveryStreamName": "shout", "Record": { "Data": "aGVsbG8K" } }),
    );
    assert_eq!(status, 200, "{v}");
    server.stop();
    let delivered = files_under(&d.join("buckets/shout"));
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(std::fs::read(&delivered[0]).unwrap(), b"HELLO\n");
}

impl Server {
    /// One console API call (plain HTTP, unsigned unless `sign` has keys):
    /// the status and the JSON answer.
    fn console(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.console_signed(method, path, body, None)
    }

    fn console_signed(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        sign: Option<(&str, &str)>,
    ) -> (u16, Value) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut headers = String::from("Content-Type: application/json\r\n");
        if let Some((id, secret)) = sign {
            let signer =
                sluice_kds::sigv4::SigV4Signer::new(id, secret, None, "us-east-1", "kinesis");
            let (path, query) = path.split_once('?').unwrap_or((path, ""));
            for (k, v) in signer.sign(
                method,
                path,
                query,
                &[("host", &self.addr)],
                body.as_bytes(),
                SystemClock.now_ms(),
            ) {
                headers.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        let (status, body) = self.http(method, path, &headers, &body);
        let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
        (status, json)
    }

    /// Reads the live rows of `stream` of `app` until `enough` says the
    /// text received so far is enough; returns that text.
    fn console_rows(&self, app: &str, stream: &str, enough: impl Fn(&str) -> bool) -> String {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            s,
            "GET /console/api/apps/{app}/streams/{stream}/rows HTTP/1.1\r\nHost: {}\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while !enough(&seen) {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "the rows stream ended: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        seen
    }
}

/// The continuous-filter template reading `stream`: (SQL, app.toml).
fn filter_template(server: &Server, stream: &str) -> (String, String) {
    let (status, v) = server.console("GET", "/console/api/templates", None);
    assert_eq!(status, 200, "{v}");
    let t = v["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "continuous-filter")
        .unwrap();
    (
        t["sql"].as_str().unwrap().to_string(),
        t["config"].as_str().unwrap().replace("{{stream}}", stream),
    )
}

#[test]
fn console_api_runs_an_app_from_the_editor_and_streams_its_rows() {
    let d = temp_dir("console");
    let data = d.join("data");
    let server = Server::start(&data, &[]);
    let (status, page) = server.console("GET", "/", None);
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap().contains("<"), "{page}");

    let create = json!({"name": "ticks", "shards": 2});
    assert_eq!(
        server
            .console("POST", "/console/api/streams", Some(&create))
            .0,
        200
    );
    let (status, v) = server.console("POST", "/console/api/streams", Some(&create));
    assert_eq!(
        (status, v["error"]["type"].as_str()),
        (409, Some("Conflict"))
    );

    // The editor's check: a misspelt column, at its line.
    let (sql, config) = filter_template(&server, "ticks");
    let bad = sql.replace("ABS(change)", "ABS(chnage)");
    let bad_line = bad.lines().position(|l| l.contains("chnage")).unwrap() + 1;
    let (status, v) = server.console(
        "POST",
        "/console/api/check",
        Some(&json!({"sql": bad, "config": config})),
    );
    assert_eq!(status, 200);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["problems"][0]["line"], bad_line, "{v}");
    assert_eq!(v["problems"][0]["in"], "sql", "{v}");
    // Saving it changes nothing.
    let (status, v) = server.console(
        "PUT",
        "/console/api/apps/filter",
        Some(&json!({"sql": bad, "config": config})),
    );
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["problems"][0]["line"], bad_line, "{v}");
    assert_eq!(
        server.console("GET", "/console/api/apps/filter", None).0,
        404
    );

    // Save & run, then watch its output stream while records arrive.
    let (status, v) = server.console(
        "PUT",
        "/console/api/apps/filter",
        Some(&json!({"sql": sql, "config": config, "start": "TRIM_HORIZON"})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "RUNNING", "{v}");
    assert!(
        v["graph"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "pump" && n["label"] == "STREAM_PUMP"),
        "{v}"
    );
    let records: Vec<Value> = [(5.0, 100.0), (-3.0, 100.0), (0.1, 100.0), (0.2, 50.0)]
        .iter()
        .map(|(change, price)| {
            json!({"TICKER_SYMBOL": "AMZN", "SECTOR": "TECH", "CHANGE": change, "PRICE": price})
        })
        .collect();
    let rows = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            server.console_rows("filter", "DESTINATION_SQL_STREAM", |seen| {
                seen.matches("\"DIRECTION\"").count() >= 2
            })
        });
        std::thread::sleep(Duration::from_millis(300));
        server.put("ticks", &records);
        reader.join().unwrap()
    });
    assert!(rows.contains("event: schema"), "{rows}");
    assert!(rows.contains("\"DIRECTION\": \"UP\""), "{rows}");
    assert!(rows.contains("\"DIRECTION\": \"DOWN\""), "{rows}");
    assert!(rows.contains("\"ROWTIME\""), "{rows}");

    let overview = wait_for("the overview's counts", || {
        let (_, v) = server.console("GET", "/console/api/overview", None);
        let pumps = &v["apps"][0]["pumps"][0];
        (v["streams"][0]["records_in"] == 4 && pumps["rows"] == 2).then_some(v)
    });
    assert_eq!(overview["apps"][0]["name"], "filter", "{overview}");
    assert_eq!(overview["streams"][0]["shards"], 2, "{overview}");

    // Stop, start from NOW.
    let (_, v) = server.console("POST", "/console/api/apps/filter/stop", None);
    assert_eq!(v["status"], "STOPPED", "{v}");
    let (_, v) = server.console(
        "POST",
        "/console/api/apps/filter/start",
        Some(&json!({"position": "NOW"})),
    );
    assert_eq!(v["status"], "RUNNING", "{v}");
    let (status, v) = server.console(
        "POST",
        "/console/api/apps/filter/start",
        Some(&json!({"position": "SOON"})),
    );
    assert_eq!(status, 400, "{v}");

    // The schema of the stream, inferred from its records.
    let (status, v) = server.console("GET", "/console/api/streams/ticks/schema", None);
    assert_eq!(status, 200, "{v}");
    let names: Vec<&str> = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["TICKER_SYMBOL", "SECTOR", "CHANGE", "PRICE"], "{v}");
    assert!(
        v["input_toml"]
            .as_str()
            .unwrap()
            .contains("kinesis_stream = \"ticks\"")
    );
    server.stop();

    // The app made in the console starts with the server.
    let server = Server::start(&data, &[]);
    let (_, v) = server.console("GET", "/console/api/apps", None);
    assert_eq!(v["apps"][0]["name"], "filter", "{v}");
    assert_eq!(v["apps"][0]["status"], "RUNNING", "{v}");
    // It resumes where its last run (started from NOW) stopped: one new
    // record gives one row, nothing older is read again.
    let one = json!({"TICKER_SYMBOL": "AMZN", "SECTOR": "TECH", "CHANGE": 9.0, "PRICE": 100.0});
    server.put("ticks", &[one]);
    let pump_rows = || {
        let (_, v) = server.console("GET", "/console/api/apps", None);
        v["apps"][0]["pumps"][0]["rows"].as_u64()
    };
    wait_for("the new record's row", || pump_rows().filter(|r| *r >= 1));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pump_rows(), Some(1), "no row twice after the restart");
    server.stop();

    // --console off: the console's paths are not served.
    let server = Server::start(&d.join("off"), &["--console", "off"]);
    assert_ne!(server.console("GET", "/console/api/overview", None).0, 200);
    server.stop();
}

#[test]
fn sigterm_right_after_the_address_line_stops_the_server_cleanly() {
    // The signal handlers are in place before the address is printed; a
    // SIGTERM before them ended the process with the signal's default.
    let d = temp_dir("sigterm-at-start");
    for i in 0..5 {
        Server::start(&d.join(format!("data-{i}")), &[]).stop();
    }
}

#[test]
fn console_api_calls_are_signed_under_sigv4() {
    let d = temp_dir("console-sigv4");
    let server = Server::start(
        &d,
        &[
            "--auth",
            "sigv4",
            "--access-key",
            "AKIDCONSOLE:consolesecret",
        ],
    );
    // The page and its config are public; the API is not.
    let (status, v) = server.console("GET", "/console/config", None);
    assert_eq!((status, v["auth"].as_str()), (200, Some("sigv4")));
    assert_eq!(server.console("GET", "/", None).0, 200);
    let (status, _) = server.console("GET", "/console/api/overview", None);
    assert_eq!(status, 403);
    let keys = Some(("AKIDCONSOLE", "consolesecret"));
    let (status, v) = server.console_signed("GET", "/console/api/overview", None, keys);
    assert_eq!(status, 200, "{v}");
    let create = json!({"name": "signed"});
    let (status, v) = server.console_signed("POST", "/console/api/streams", Some(&create), keys);
    assert_eq!(status, 200, "{v}");
    let wrong = Some(("AKIDCONSOLE", "not-the-secret"));
    let (status, v) = server.console_signed("GET", "/console/api/overview", None, wrong);
    assert_eq!(status, 403, "{v}");
    server.stop();
}
