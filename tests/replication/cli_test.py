#!/usr/bin/env python3
"""Runs converge-sim (path in argv[1]) and checks its exit statuses and JSON.

Bad arguments: exactly one line on stderr ('converge-sim: error: ...'),
nothing on stdout, exit status 2. Good runs exit 0 and reproduce exactly.
"""
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


RUN = ["--replicas", "3", "--topology", "mesh", "--workload", "gset", "--ops", "5", "--seed", "1"]


def refused(args, mentions=None):
    """args must exit 2 with one line on stderr, 'converge-sim: error: ...'."""
    r = expect(args, 2)
    line = r.stderr.rstrip("\n")
    if r.returncode != 2:
        return
    if r.stderr.count("\n") != 1 or r.stdout != "":
        failures.append(f"{args}: not one line on stderr and nothing on stdout: {r.stderr!r} {r.stdout!r}")
    elif not line.startswith("converge-sim: error: "):
        failures.append(f"{args}: stderr does not start with 'converge-sim: error: ': {line!r}")
    elif mentions is not None and mentions not in line:
        failures.append(f"{args}: the error does not mention {mentions!r}: {line!r}")


def with_(flag, value):
    """RUN with flag set to value (replaced when RUN has it)."""
    args = list(RUN)
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    return args


refused([], "--seed")
refused(["--bogus"], "--bogus")
refused(RUN + ["--bogus"], "--bogus")
refused(RUN + ["extra"], "extra")
refused(RUN + ["--", "extra"])
refused(["--replicas", "x", "--seed", "1"], "--replicas")
# Required options, and the ones that only mean something together.
refused(RUN[:-2], "--seed")
refused(["--replicas", "3", "--workload", "gset", "--seed", "1"], "--topology")
refused(["--replicas", "3", "--topology", "mesh", "--seed", "1"], "--workload")
refused(["--topology", "mesh", "--workload", "gset", "--seed", "1"], "--replicas")
# Every number in its range, decimal.
for flag, values in [("--replicas", ["0", "100001", "-1", "3.0", "0x3", ""]),
                     ("--ops", ["x", "-1", "1000000001", "5e3"]),
                     ("--ops-per-tick", ["0", "1000000001", "x"]),
                     ("--gossip-interval", ["0", "1000001", "x"]),
                     ("--seed", ["-1", "18446744073709551616", "x", "1.0"])]:
    for v in values:
        refused(with_(flag, v), flag)
for flag in ["--loss", "--duplicate", "--crash"]:
    for v in ["2", "-0.1", "1.0001", "nan", "inf", "abc", "", "0.5x", " 0.5"]:
        refused(with_(flag, v), flag)
# Topology and workload syntax.
for t in ["star", "random", "random:", "random:0", "random:x", "random:-1", "random:2:3", "Mesh", ""]:
    refused(with_("--topology", t), "--topology")
refused(["--replicas", "5", "--topology", "random:3", "--workload", "gset", "--ops", "5", "--seed", "1"],
        "--topology")  # K * replicas odd
refused(["--replicas", "4", "--topology", "random:4", "--workload", "gset", "--ops", "5", "--seed", "1"],
        "--topology")  # K not below replicas
for w in ["nope", "GSET", ""]:
    refused(with_("--workload", w), "--workload")
# Single-valued options once; flags take no value; every option needs its value.
for flag, v in [("--seed", "1"), ("--replicas", "3"), ("--topology", "mesh"), ("--workload", "gset"),
                ("--ops", "5"), ("--loss", "0.1"), ("--gossip-interval", "50"), ("--ops-per-tick", "2")]:
    refused(with_(flag, v) + [flag, v], flag)
for flag in ["--json", "--reorder", "--partitions", "--no-bp", "--no-rr"]:
    refused(RUN + [flag + "=1"], flag)
for flag in ["--replicas", "--topology", "--workload", "--ops", "--loss", "--duplicate", "--crash",
             "--ops-per-tick", "--gossip-interval", "--seed", "--swarm"]:
    refused(RUN + [flag], flag)
refused(["--replicas", "--seed", "1"], "--replicas")
# --swarm draws its own configurations: only --seed and --json go with it.
refused(["--swarm", "0", "--seed", "1"], "--swarm")
refused(["--swarm", "2"], "--seed")
refused(["--swarm", "2", "--seed", "1", "--replicas", "3"], "--replicas")
refused(["--swarm", "2", "--seed", "1", "--reorder"], "--reorder")

for flag in ["--help", "-h"]:
    r = expect([flag], 0)
    for word in ["--replicas", "--topology", "random:K", "--workload", "--ops", "--loss", "--duplicate", "--reorder",
                 "--partitions", "--crash", "--no-bp", "--no-rr", "--ops-per-tick", "--gossip-interval", "--seed",
                 "--json", "--swarm", "--durable", "Exit status"]:
        if word not in r.stdout:
            failures.append(f"{flag}: the help does not mention {word}")
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
expect(["--swarm=2", "--seed=11", "--json"], 0)
# --durable: journals, crashes that lose unsynced records; its JSON says what happened.
r = expect(["--replicas", "6", "--topology", "ring", "--workload", "or_set", "--ops", "400", "--crash", "0.1",
            "--loss", "0.2", "--durable", "--seed", "4", "--json"], 0)
try:
    j = json.loads(r.stdout.strip().splitlines()[-1])
    if j.get("durable") is not True or j.get("reissued") != 0 or j.get("wipes") != 0 or j.get("crashes", 0) == 0:
        failures.append(f"unexpected durable json {j}")
    for key in ("syncs", "lost_unsynced", "torn_records"):
        if key not in j:
            failures.append(f"durable json lacks {key}")
except Exception as e:  # noqa: BLE001
    failures.append(f"bad durable json: {e}: {r.stdout!r}")
r = expect(["--swarm", "20", "--seed", "3", "--durable", "--json"], 0)
if '"durable":true' not in r.stdout.splitlines()[-1]:
    failures.append(f"a durable swarm does not say so: {r.stdout.splitlines()[-1]!r}")
# Both spellings of a value; the ends of every range.
expect(["--replicas=3", "--topology=random:2", "--workload=gcounter", "--ops=30", "--loss=0", "--duplicate=1",
        "--crash=0", "--ops-per-tick=1", "--gossip-interval=1", "--seed=0"], 0)
expect(["--replicas", "1", "--topology", "mesh", "--workload", "or_map", "--seed", "18446744073709551615"], 0)


def json_of(r):
    j = json.loads(r.stdout.strip().splitlines()[-1])
    j.pop("wall_seconds", None)
    return j


# The printed command line reproduces the run exactly, probabilities too.
r = expect(["--replicas", "5", "--topology", "ring", "--workload", "or_set", "--ops", "40", "--loss", "0.123456789",
            "--duplicate", "0.05", "--reorder", "--no-rr", "--seed", "5"], 0)
first = r.stdout.splitlines()[0] if r.stdout else ""
if "--loss 0.123456789" not in first or "--duplicate 0.05" not in first:
    failures.append(f"the command line is not exact: {first!r}")
elif first.startswith("converge-sim "):
    again = expect(first.split()[1:] + ["--json"], 0)
    once = expect(["--replicas", "5", "--topology", "ring", "--workload", "or_set", "--ops", "40", "--loss",
                   "0.123456789", "--duplicate", "0.05", "--reorder", "--no-rr", "--seed", "5", "--json"], 0)
    if again.returncode == 0 and once.returncode == 0 and json_of(again) != json_of(once):
        failures.append("the printed command line ran differently")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
