#!/usr/bin/env python3
"""Runs converge-bench-peers (with the arguments given after the binary) and
checks that it exits 0, prints one valid JSON object, and that every case in
it passed its checks. The meson test 'bench peers converge' runs it with
--small; it needs neither npm nor the peers."""
import json
import subprocess
import sys

EXPECTED = {"bytes_per_element", "set_adds", "map_writes", "pipeline", "delta_at_n",
            "map_concurrent", "counters"}


def main():
    if len(sys.argv) < 2:
        print("usage: check.py CONVERGE_BENCH_PEERS [ARGS...]", file=sys.stderr)
        return 2
    run = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=600)
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        print(f"check.py: exit status {run.returncode}", file=sys.stderr)
        return 1
    try:
        out = json.loads(run.stdout)
    except json.JSONDecodeError as e:
        print(f"check.py: output is not JSON: {e}\n{run.stdout[:2000]}", file=sys.stderr)
        return 1
    cases = out.get("cases", {})
    missing = EXPECTED - set(cases)
    if not any(name.startswith("merge_") for name in cases):
        missing.add("merge_N")
    failed = [name for name, c in cases.items() if c.get("ok") is not True]
    if out.get("side") != "converge" or out.get("ok") is not True or missing or failed:
        print(f"check.py: side={out.get('side')} ok={out.get('ok')} missing={sorted(missing)} "
              f"failed={failed}", file=sys.stderr)
        return 1
    print(f"check.py: {len(cases)} cases, all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
