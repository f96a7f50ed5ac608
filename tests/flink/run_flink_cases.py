"""Runs golden cases translated to Flink SQL on a local Apache Flink and
compares Flink's rows with each case's expected rows.

This is the proof behind `sluice translate --to flink` (issue 23): a
translation is right when Flink, given the case's records with their arrival
times, emits the rows the case expects. For each case the runner

1. writes each `[[input]]` of case.toml to `WORK/<case>/src/<STREAM>.jsonl`
   (json: each record with a top-level `"_arrival_ms"`, its arrival time in
   epoch milliseconds, and `"_partition_key"` / `"_sequence_number"` when
   the envelope gives them) or `src/<STREAM>.csv` (csv: each row of the record
   with the arrival time as the last field), records in arrival order, and
   copies each `[[reference]]` table to `src/<TABLE>.<csv|json>` (CSV
   headers dropped);
2. runs `sluice translate --to flink --case CASE --source-dir SRC --sink-dir
   SINK` (or takes `SCRIPT_DIR/<case>.sql` with `--script-dir`); a non-zero
   exit means the case is refused;
3. runs every translated script in one JVM (PyFlink, streaming mode, a fresh
   TableEnvironment per script), then reads the JSON-lines part files under
   `SINK/<STREAM>/` and compares them with `expected/<STREAM>.jsonl` as a
   multiset: the keys the expected rows name (ROWTIME only when present),
   timestamps parsed, floats within the case's `float_tolerance`.
   `error_stream` is not compared (Flink has none).

It prints `IDENTICAL`, `DIFFERENT`, `REFUSED` or `FAILED` per case, then
`N cases: T translated (P% of cases), I identical, D different (K known),
F failed, R refused`, and exits 1 when a translated case is FAILED, or
DIFFERENT without being a known difference (`--report`: always 0). A known
difference is a case listed with its reason in
tests/flink/known-differences.txt (a difference of meaning the translation
says in a `-- note:`), or a case with `end = "stop"` (a bounded Flink run
closes every window at the end of its input; KDA keeps the last one open).
A listed case that comes out IDENTICAL fails the run, so the list stays
true. See tests/flink/NOTES.md for what a script must look
like.

    python tests/flink/run_flink_cases.py [CASE_OR_DIR...] [--sluice BIN]
        [--script-dir DIR] [--work-dir DIR] [--timeout SECS] [--report]

With no CASE_OR_DIR it takes every case under tests/golden and sql-examples
that has app.sql, case.toml (or app.toml) and expected/, and no `error =`.
The binary is --sluice, else $SLUICE_BIN, else
$CARGO_TARGET_DIR/debug/sluice. A script under --script-dir (hand-written,
or a translation edited by hand) may write `${SRC}` and `${SINK}` for the
case's source and sink directories: `sluice translate --to flink --case CASE
--source-dir '${SRC}' --sink-dir '${SINK}'` makes one.
Needs Python 3.11+ with apache-flink (.ci/setup's $SLUICE_FLINK_VENV) and
Java 11+.
"""

import argparse
import base64
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ROOTS = [REPO / "tests" / "golden", REPO / "sql-examples"]
NOT_COMPARED = {"error_stream"}
KNOWN_DIFFERENCES = REPO / "tests" / "flink" / "known-differences.txt"
END_STOP = ("end = stop: a bounded Flink run closes every window at the end "
            "of its input, a live KDA app keeps its last window open")


def known_differences():
    """Case name -> why its rows differ on Flink, from
    known-differences.txt (`name  reason` per line, `#` comments)."""
    known = {}
    for line in KNOWN_DIFFERENCES.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, why = line.partition(" ")
            known[name] = why.strip()
    return known
TIMESTAMP_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]00:?00)?$")


# ---------------------------------------------------------------- cases

def case_config_path(case_dir):
    """The case's config file (case.toml, else app.toml), or None."""
    for name in ("case.toml", "app.toml"):
        if (case_dir / name).is_file():
            return case_dir / name
    return None


def is_runnable_case(case_dir):
    """A directory with app.sql, a config, expected rows, and no `error =`
    (a case whose app must be rejected has no rows to compare)."""
    config = case_config_path(case_dir)
    if not (case_dir / "app.sql").is_file() or config is None:
        return False
    if not (case_dir / "expected").is_dir():
        return False
    return "error" not in load_toml(config).get("expect", {})


def find_cases(paths):
    """Case directories under the given paths (a path may be a case itself),
    sorted, each once."""
    found = []
    for path in paths:
        path = Path(path).resolve()
        if not path.is_dir():
            continue
        candidates = [path] + sorted(p.parent for p in path.rglob("app.sql"))
        found += [c for c in candidates if is_runnable_case(c)]
    return sorted(set(found))


def case_name(case_dir):
    """How a case is named in the output: its path from the repository root
    when it is inside it, else its directory name."""
    try:
        return str(case_dir.relative_to(REPO / "tests" / "golden"))
    except ValueError:
        try:
            return str(case_dir.relative_to(REPO))
        except ValueError:
            return case_dir.name


def load_toml(path):
    with open(path, "rb") as f:
        return tomllib.load(f)


# ---------------------------------------------------------------- sources

def parse_instant_ms(value):
    """Epoch milliseconds of an ISO-8601 instant (`2024-01-01T10:00:00Z`)
    or of epoch seconds given as a number (KDS' ApproximateArrivalTimestamp)."""
    if isinstance(value, (int, float)):
        return round(value * 1000)
    text = value.strip().replace("Z", "+00:00")
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return round(moment.timestamp() * 1000)


def read_envelope(case_dir, spec):
    """The records of one `[[input]]` as (arrival_ms, record, metadata) in
    file order; a record is a JSON value (json) or text (csv), metadata the
    envelope's Kinesis fields for JSON records (`_partition_key`,
    `_sequence_number`; only those the envelope gives)."""
    path = case_dir / spec["file"]
    envelope = spec.get("envelope", "none")
    is_csv = spec.get("format", "json") == "csv"
    if envelope == "none":
        lines = path.read_text().splitlines()
        if is_csv and spec.get("header", False):
            lines = lines[1:]
        lines = [line for line in lines if line.strip()]
        start = parse_instant_ms(spec.get("start", "1970-01-01T00:00:00Z"))
        step = spec.get("step_ms", 1000)
        return [(start + i * step, line if is_csv else parse_json_or_text(line), {})
                for i, line in enumerate(lines)]
    if envelope == "arrival":
        out = []
        for line in path.read_text().splitlines():
            if line.strip():
                wrapper = json.loads(line)
                metadata = {"_partition_key": wrapper.get("partition_key")}
                out.append((parse_instant_ms(wrapper["arrival"]), wrapper["data"],
                            metadata))
        return out
    if envelope == "kds":
        return [(parse_instant_ms(r["ApproximateArrivalTimestamp"]),
                 decode_kds_data(r["Data"], is_csv),
                 {"_partition_key": r.get("PartitionKey"),
                  "_sequence_number": r.get("SequenceNumber")})
                for r in read_kds_records(path)]
    raise ValueError(f"unknown envelope {envelope!r}")


def parse_json_or_text(line):
    """A JSON line's value, or the line itself when it is not JSON (the app
    sees a bad record; the translation decides what Flink does with it)."""
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return line


def read_kds_records(path):
    """KDS records from `aws kinesis get-records` output or JSON lines."""
    text = path.read_text()
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict) and "Records" in whole:
        return whole["Records"]
    if isinstance(whole, list):
        return whole
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def decode_kds_data(data, is_csv):
    text = base64.b64decode(data).decode("utf-8").rstrip("\r\n")
    return text if is_csv else parse_json_or_text(text)


def source_lines(record, arrival_ms, metadata, spec):
    """The lines of a source file for one record: a JSON object with
    `_arrival_ms` and the envelope's metadata that is not null added as
    top-level keys, or each CSV row of the record (split at `row_delimiter`)
    with the arrival time as its last field."""
    if spec.get("format", "json") == "csv":
        text = record if isinstance(record, str) else json.dumps(record)
        delimiter = spec.get("delimiter", ",")
        rows = text.split(spec.get("row_delimiter", "\n"))
        return [f"{row}{delimiter}{arrival_ms}" for row in rows if row.strip()]
    if isinstance(record, dict):
        known = {k: v for k, v in metadata.items() if v is not None}
        return [json.dumps({**record, "_arrival_ms": arrival_ms, **known})]
    return [record if isinstance(record, str) else json.dumps(record)]


def write_sources(case_dir, config, src_dir):
    """Writes the case's inputs and reference tables under src_dir."""
    for spec in config.get("input", []):
        extension = "csv" if spec.get("format", "json") == "csv" else "jsonl"
        records = sorted(read_envelope(case_dir, spec), key=lambda r: r[0])
        with open(src_dir / f"{spec['stream']}.{extension}", "w") as out:
            for arrival_ms, record, metadata in records:
                out.writelines(line + "\n" for line in
                               source_lines(record, arrival_ms, metadata, spec))
    for spec in config.get("reference", []):
        fmt = spec.get("format", "csv")
        source = resolve_reference(case_dir, spec["file"])
        lines = source.read_text().splitlines()
        if fmt == "csv" and spec.get("header", False):
            lines = lines[1:]
        target = src_dir / f"{spec['table']}.{fmt}"
        target.write_text("".join(line + "\n" for line in lines if line.strip()))


def resolve_reference(case_dir, file):
    """The local file behind a reference table's `file` (a path in the case
    or a file:// URL); other object_store URLs are not supported here."""
    if file.startswith("file://"):
        return Path(file[len("file://"):])
    if "://" in file:
        raise ValueError(f"reference table at {file}: only local files are supported")
    return case_dir / file


# ---------------------------------------------------------------- scripts

def translate(sluice, case_dir, src_dir, sink_dir):
    """`sluice translate`'s script, or (None, reasons) when it refuses."""
    proc = subprocess.run(
        [sluice, "translate", "--to", "flink", "--case", str(case_dir),
         "--source-dir", str(src_dir), "--sink-dir", str(sink_dir)],
        capture_output=True, text=True)
    if proc.returncode != 0:
        reasons = " | ".join(l.strip() for l in proc.stderr.splitlines() if l.strip())
        return None, reasons or f"exit status {proc.returncode}"
    return proc.stdout, None


def hand_written_script(script_dir, case_dir, src_dir, sink_dir):
    """`SCRIPT_DIR/<case>.sql` with ${SRC} and ${SINK} filled in, or
    (None, reason) when there is none."""
    path = Path(script_dir) / f"{case_dir.name}.sql"
    if not path.is_file():
        return None, f"no {path}"
    text = path.read_text()
    return text.replace("${SRC}", str(src_dir)).replace("${SINK}", str(sink_dir)), None


def split_statements(script):
    """The script's statements, split at `;` that ends a line outside quotes
    and comments; an `EXECUTE STATEMENT SET BEGIN ... END` block stays one
    statement. Statements that are only comments are dropped."""
    pieces, current, i, n = [], [], 0, len(script)
    while i < n:
        c = script[i]
        if c in "'`\"":
            end = i + 1
            while end < n:
                if script[end] == c:
                    if end + 1 < n and script[end + 1] == c:
                        end += 2
                        continue
                    break
                end += 1
            current.append(script[i:end + 1])
            i = end + 1
        elif script.startswith("--", i):
            end = script.find("\n", i)
            end = n if end < 0 else end
            current.append(script[i:end])
            i = end
        elif script.startswith("/*", i):
            end = script.find("*/", i + 2)
            end = n if end < 0 else end + 2
            current.append(script[i:end])
            i = end
        elif c == ";" and ends_line(script, i + 1):
            pieces.append("".join(current))
            current, i = [], i + 1
        else:
            current.append(c)
            i += 1
    pieces.append("".join(current))
    statements, block = [], None
    for piece in (p.strip() for p in pieces):
        if not strip_comments(piece):
            continue
        if block is not None:
            block += ";\n" + piece
            if re.fullmatch(r"END", strip_comments(piece), re.I):
                statements.append(block)
                block = None
        elif re.match(r"(EXECUTE\s+)?STATEMENT\s+SET|BEGIN\s+STATEMENT\s+SET",
                      strip_comments(piece), re.I) and not re.search(
                          r"\bEND$", strip_comments(piece), re.I):
            block = piece
        else:
            statements.append(piece)
    if block is not None:
        statements.append(block)
    return statements


def ends_line(text, i):
    """True when only spaces, tabs or a `--` comment follow position i on its line."""
    rest = text[i:].split("\n", 1)[0].strip()
    return rest == "" or rest.startswith("--")


def strip_comments(statement):
    """The statement without `--` line comments and surrounding space (for
    classifying it; quotes are not considered, comments inside string
    literals are rare enough in a header)."""
    lines = [l for l in statement.splitlines() if not l.strip().startswith("--")]
    return "\n".join(lines).strip()


# ---------------------------------------------------------------- Flink

class FlinkSession:
    """One JVM (the PyFlink gateway) holding one local Flink mini-cluster;
    each script runs in a fresh streaming TableEnvironment whose jobs go to
    that cluster (a mini-cluster per job would cost about a second more per
    case)."""

    def __init__(self, timeout_s):
        from pyflink.common import Configuration
        from pyflink.java_gateway import get_gateway
        from pyflink.table import EnvironmentSettings, TableEnvironment
        jvm = get_gateway().jvm
        cluster_config = jvm.org.apache.flink.configuration.Configuration()
        cluster_config.setString("rest.port", "0")
        minicluster = jvm.org.apache.flink.runtime.minicluster
        self._cluster = minicluster.MiniCluster(
            minicluster.MiniClusterConfiguration.Builder()
            .setConfiguration(cluster_config)
            .setNumTaskManagers(1)
            .setNumSlotsPerTaskManager(4)
            .build())
        self._cluster.start()
        rest = self._cluster.getRestAddress().get()
        self._client_config = Configuration()
        self._client_config.set_string("execution.target", "remote")
        self._client_config.set_string("rest.address", rest.getHost())
        self._client_config.set_string("rest.port", str(rest.getPort()))
        self._settings = EnvironmentSettings.new_instance().in_streaming_mode()
        self._create = TableEnvironment.create
        self.timeout_ms = int(timeout_s * 1000)

    def close(self):
        self._cluster.close()

    def run(self, script):
        """Runs the script's statements in order; returns None, or the
        Flink error's first lines and the statement that raised it."""
        table_env = self._create(
            self._settings.with_configuration(self._client_config).build())
        config = table_env.get_config()
        config.set("parallelism.default", "1")
        # A failing job fails at once (with checkpointing on, Flink would
        # otherwise restart it forever).
        config.set("restart-strategy.type", "none")
        for number, statement in enumerate(split_statements(script), 1):
            try:
                self._execute(table_env, statement)
            except Exception as error:  # Py4J errors carry the Java exception text
                first_line = strip_comments(statement).splitlines()[0][:80]
                return f"statement {number} ({first_line}): {describe_error(error)}"
        return None

    def _execute(self, table_env, statement):
        body = strip_comments(statement)
        setting = re.fullmatch(r"SET\s+'([^']*)'\s*=\s*'([^']*)'", body, re.I | re.S)
        if setting:
            table_env.get_config().set(setting.group(1), setting.group(2))
            return
        result = table_env.execute_sql(statement)
        if result.get_job_client() is not None:
            try:
                result.wait(self.timeout_ms)
            except Exception:
                result.get_job_client().cancel()
                raise


def describe_error(error):
    """The first line of a (Java) error and its deepest `Caused by:`."""
    lines = [l.strip().removeprefix(": ") for l in str(error).splitlines() if l.strip()]
    lines = [l for l in lines if not l.startswith("at ")]
    causes = [l for l in lines if l.startswith("Caused by:")]
    head = next((l for l in lines if not l.startswith(("An error occurred",
                                                        "Traceback"))), "")
    parts = [head] + ([causes[-1]] if causes and causes[-1] != head else [])
    return " | ".join(p[:400] for p in parts if p) or type(error).__name__


# ---------------------------------------------------------------- comparison

def read_rows(path):
    """The JSON objects of a JSON-lines file."""
    return [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]


def read_sink(sink_dir, stream):
    """The rows Flink committed for a stream: every visible part file under
    SINK/<STREAM>/ (in-progress files start with a dot and are skipped)."""
    rows = []
    stream_dir = sink_dir / stream
    if stream_dir.is_dir():
        for part in sorted(stream_dir.rglob("*")):
            if part.is_file() and not part.name.startswith((".", "_")):
                rows += read_rows(part)
    return rows


def parse_timestamp(value):
    """A datetime for a timestamp string in KDA's or ISO form, else None."""
    if isinstance(value, str) and TIMESTAMP_RE.match(value.strip()):
        text = re.sub(r"(Z|[+-]00:?00)$", "", value.strip()).replace("T", " ")
        if len(text) == 16:
            text += ":00"
        return datetime.datetime.fromisoformat(text)
    return None


def values_equal(expected, actual, tolerance):
    """KDA-expected value against Flink's: timestamps parsed, numbers with a
    relative tolerance, anything else exactly."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        if isinstance(expected, int) and isinstance(actual, int):
            return expected == actual
        return math.isclose(expected, actual, rel_tol=tolerance, abs_tol=tolerance)
    expected_time, actual_time = parse_timestamp(expected), parse_timestamp(actual)
    if expected_time is not None and actual_time is not None:
        return expected_time == actual_time
    return expected == actual


def rows_equal(expected, actual, tolerance):
    """Equal on every key the expected row names."""
    return all(key in actual and values_equal(value, actual[key], tolerance)
               for key, value in expected.items())


def compare_stream(expected_rows, actual_rows, tolerance):
    """None when the rows match as a multiset, else a message naming the
    first expected row without a match and the first unmatched actual row."""
    unmatched = list(actual_rows)
    missing = []
    for row in expected_rows:
        hit = next((i for i, got in enumerate(unmatched)
                    if rows_equal(row, got, tolerance)), None)
        if hit is None:
            missing.append(row)
        else:
            unmatched.pop(hit)
    if not missing and not unmatched:
        return None
    keys = list(expected_rows[0]) if expected_rows else None
    extra = ({k: unmatched[0].get(k) for k in keys} if unmatched and keys
             else unmatched[0] if unmatched else None)
    return (f"{len(expected_rows)} rows expected, {len(actual_rows)} emitted; "
            f"expected {json.dumps(missing[0]) if missing else 'nothing more'} "
            f"vs actual {json.dumps(extra) if extra is not None else 'nothing'}")


def compare_case(case_dir, config, sink_dir):
    """None when every expected stream (but error_stream) matches, else
    `STREAM: message` for the first that does not."""
    tolerance = config.get("expect", {}).get("float_tolerance", 1e-9)
    for expected_file in sorted((case_dir / "expected").glob("*.jsonl")):
        stream = expected_file.stem
        if stream in NOT_COMPARED:
            continue
        problem = compare_stream(read_rows(expected_file),
                                 read_sink(sink_dir, stream), tolerance)
        if problem:
            return f"{stream}: {problem}"
    return None


# ---------------------------------------------------------------- main

def prepare(case_dir, work_dir, args):
    """Writes the case's sources and gets its script: (script, config,
    sink_dir, refusal)."""
    case_work = work_dir / case_name(case_dir).replace("/", "__")
    shutil.rmtree(case_work, ignore_errors=True)
    src_dir, sink_dir = case_work / "src", case_work / "sink"
    src_dir.mkdir(parents=True)
    sink_dir.mkdir()
    config = load_toml(case_config_path(case_dir))
    write_sources(case_dir, config, src_dir)
    if args.script_dir:
        script, refusal = hand_written_script(args.script_dir, case_dir, src_dir, sink_dir)
    else:
        script, refusal = translate(args.sluice, case_dir, src_dir, sink_dir)
    if script is not None:
        (case_work / "flink.sql").write_text(script)
    return script, config, sink_dir, refusal


def default_sluice():
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
    return os.environ.get("SLUICE_BIN", str(Path(target) / "debug" / "sluice"))


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Run golden cases translated to Flink SQL on a local Flink "
                    "and compare the rows.")
    parser.add_argument("cases", nargs="*", type=Path,
                        help="case directories or directories holding cases "
                             "(default: tests/golden and sql-examples)")
    parser.add_argument("--sluice", default=default_sluice(),
                        help="the sluice binary (default: $SLUICE_BIN, else "
                             "$CARGO_TARGET_DIR/debug/sluice)")
    parser.add_argument("--script-dir", type=Path,
                        help="take DIR/<case>.sql instead of running sluice translate")
    parser.add_argument("--work-dir", type=Path,
                        help="where sources, sinks and scripts go (default: a "
                             "temporary directory, removed at the end)")
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds one Flink job may run (default 120)")
    parser.add_argument("--report", action="store_true",
                        help="exit 0 even when a case differs or fails")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    cases = find_cases(args.cases or DEFAULT_ROOTS)
    if not cases:
        print("no cases found", file=sys.stderr)
        return 2
    temporary = None
    if args.work_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="sluice-flink-")
        args.work_dir = Path(temporary.name)
    args.work_dir = args.work_dir.resolve()
    counts = {"IDENTICAL": 0, "DIFFERENT": 0, "FAILED": 0, "REFUSED": 0}
    known = known_differences()
    known_seen = 0
    listed_identical = []
    session = None
    for case_dir in cases:
        name = case_name(case_dir)
        try:
            script, config, sink_dir, refusal = prepare(case_dir, args.work_dir, args)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
            verdict, detail = "FAILED", f"preparing the sources: {error!r}"
        else:
            if script is None:
                verdict, detail = "REFUSED", refusal
            else:
                session = session or FlinkSession(args.timeout)
                error = session.run(script)
                if error:
                    verdict, detail = "FAILED", error
                else:
                    detail = compare_case(case_dir, config, sink_dir)
                    verdict = "DIFFERENT" if detail else "IDENTICAL"
                    why = known.get(case_dir.name)
                    if why is None and config.get("expect", {}).get("end") == "stop":
                        why = END_STOP
                    if verdict == "DIFFERENT" and why:
                        known_seen += 1
                        detail = f"known difference: {why}; {detail}"
                    elif verdict == "IDENTICAL" and case_dir.name in known:
                        listed_identical.append(name)
                        detail = "listed in known-differences.txt: remove it"
        counts[verdict] += 1
        print(f"{verdict} {name}" + (f": {detail}" if detail else ""), flush=True)
    total = len(cases)
    translated = total - counts["REFUSED"]
    print(f"{total} cases: {translated} translated "
          f"({100 * translated / total:.0f}% of cases), "
          f"{counts['IDENTICAL']} identical, {counts['DIFFERENT']} different "
          f"({known_seen} known), "
          f"{counts['FAILED']} failed, {counts['REFUSED']} refused")
    if session is not None:
        session.close()
    if temporary is not None:
        temporary.cleanup()
    if args.report:
        return 0
    unknown = counts["DIFFERENT"] - known_seen
    return 1 if unknown or counts["FAILED"] or listed_identical else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
