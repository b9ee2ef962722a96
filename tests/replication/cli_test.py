#!/usr/bin/env python3
"""Runs converge-sim (path in argv[1]) and checks its exit statuses and JSON."""
import json
import subprocess
import sys

sim = sys.argv[1]
failures = []


def run(args):
    return subprocess.run([sim] + args, capture_output=True, text=True, timeout=100)


def expect(args, status):
    r = run(args)
    if r.returncode != status:
        failures.append(f"{args}: exit {r.returncode}, expected {status}\n{r.stdout}{r.stderr}")
    return r


for bad in ([], ["--bogus"], ["--replicas", "x", "--seed", "1"], ["--replicas", "3", "--topology", "star",
            "--workload", "gset", "--ops", "5", "--seed", "1"],
            ["--replicas", "3", "--topology", "mesh", "--workload", "nope", "--ops", "5", "--seed", "1"],
            ["--replicas", "3", "--topology", "mesh", "--workload", "gset", "--ops", "5"],
            ["--replicas", "3", "--topology", "mesh", "--workload", "gset", "--ops", "5", "--seed", "1", "--loss", "2"],
            ["--replicas", "5", "--topology", "random:3", "--workload", "gset", "--ops", "5", "--seed", "1"]):
    r = expect(bad, 2)
    if r.returncode == 2 and len(r.stderr.strip().splitlines()) != 1:
        failures.append(f"{bad}: error is not one line: {r.stderr!r}")

expect(["--help"], 0)
r = expect(["--replicas", "8", "--topology", "random:3", "--workload", "mixed", "--ops", "200", "--loss", "0.3",
            "--duplicate", "0.2", "--reorder", "--partitions", "--crash", "0.01", "--seed", "3", "--json"], 0)
try:
    j = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("converged", "ticks_to_converge", "messages_sent", "bytes_sent", "bytes_lower_bound",
                "state_transfers", "max_buffer_bytes", "seed"):
        if key not in j:
            failures.append(f"json lacks {key}")
    if j.get("converged") is not True or j.get("seed") != 3:
        failures.append(f"unexpected json {j}")
except Exception as e:  # noqa: BLE001
    failures.append(f"bad json: {e}: {r.stdout!r}")
expect(["--replicas", "4", "--topology", "ring", "--workload", "or_set", "--ops", "50", "--seed", "9"], 0)
expect(["--swarm", "5", "--seed", "11"], 0)

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
