"""Runs the Kinesis Data Streams conformance suite against `sluice kds serve`.

    run.py --endpoint http://127.0.0.1:PORT --delayed-endpoint http://127.0.0.1:PORT2 [-k SUBSTRING]

(or KDS_ENDPOINT / KDS_DELAYED_ENDPOINT). The delayed endpoint is a server
started with --create-delay-ms 1500 --delete-delay-ms 1500 --update-delay-ms
1500, for the tests that watch CREATING / DELETING / UPDATING (long enough
that a loaded machine still makes its checks inside the state); without it
those tests fail (nothing is skipped).

Imports every test_*.py beside this file and runs each test_* function,
printing "PASS file::name" or "FAIL file::name: reason", then
"N passed, M failed" last. Exit status 0 only when all pass.

Sources of what the tests assert, and where they disagree:
- kinesalite's test suite (recorded against Amazon Kinesis) for the error
  types, texts, the JVM serialization messages and the sequence number and
  shard iterator shapes;
- botocore's kinesis model for the member constraints. Where AWS has since
  changed a constraint that sluice implements in its newer form, the tests
  follow the model and the API reference: CreateStream without ShardCount
  (on-demand), retention up to 8760 hours, 50 tags a stream / 200 a
  request, 50 TagKeys, ListTagsForStream Limit up to 50. Elsewhere
  (a missing StreamName, the 1 MiB Data limit) they follow kinesalite.
- for the operations kinesalite did not cover (consumers, SubscribeToShard,
  UpdateShardCount, DescribeLimits, encryption, enhanced monitoring,
  UpdateStreamMode, TagResource / UntagResource / ListTagsForResource):
  botocore's model for the constraints and the API reference for the
  behaviour. Where AWS's message text is not established those tests
  assert the error type and status only (kds.expect_type_only), and an
  enum's value set is matched in any order (kds.enum_error). The delayed
  server's delays are taken to apply to consumers too (CREATING /
  DELETING), as AWS's consumers take time to register and deregister.
"""

import argparse
import importlib
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import kds  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", default=os.environ.get("KDS_ENDPOINT"))
    ap.add_argument("--delayed-endpoint", default=os.environ.get("KDS_DELAYED_ENDPOINT"))
    ap.add_argument("-k", dest="select", default=None, help="run tests whose name contains this")
    ap.add_argument("-v", dest="verbose", action="store_true", help="print tracebacks of failures")
    args = ap.parse_args()
    if not args.endpoint:
        print("FAIL run: no --endpoint / KDS_ENDPOINT")
        print("0 passed, 1 failed")
        return 1
    kds.configure(args.endpoint, args.delayed_endpoint)

    files = sorted(f[:-3] for f in os.listdir(HERE) if f.startswith("test_") and f.endswith(".py"))
    passed = failed = 0
    started = time.time()
    for modname in files:
        try:
            mod = importlib.import_module(modname)
        except Exception as e:  # noqa: BLE001
            print(f"FAIL {modname}: import failed: {type(e).__name__}: {e}")
            failed += 1
            continue
        tests = [(n, f) for n, f in vars(mod).items() if n.startswith("test_") and callable(f)]
        for name, fn in tests:
            full = f"{modname}::{name}"
            if args.select and args.select not in full:
                continue
            t0 = time.time()
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                failed += 1
                reason = f"{type(e).__name__}: {e}" if not isinstance(e, AssertionError) else str(e)
                print(f"FAIL {full}: {' '.join(reason.split())[:1500]}", flush=True)
                if args.verbose:
                    traceback.print_exc()
            else:
                passed += 1
                dt = time.time() - t0
                print(f"PASS {full}" + (f" ({dt:.1f}s)" if dt >= 1 else ""), flush=True)
        kds.cleanup_shared()
    print(f"# {time.time() - started:.1f}s", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
