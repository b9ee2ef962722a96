#!/usr/bin/env python3
"""converge-sim --churn (path in argv[1]): departed replicas are retired.

Small churn runs of every workload with replica metadata must converge,
agree on the members, match the stripped oracle, keep at most 2 x replicas
distinct replica ids in any replica's metadata, and end no larger than 1.25x
the churn-free run of the same operations; the printed command line
reproduces a run; bad combinations exit 2 with one line on stderr.
"""
import json
import subprocess
import sys

sim = sys.argv[1]
failures = []


def run(args):
    return subprocess.run([sim] + args, capture_output=True, text=True, timeout=300)


def expect(args, status):
    r = run(args)
    if r.returncode != status:
        failures.append(f"{args}: exit {r.returncode}, expected {status}\n{r.stdout}{r.stderr}")
    return r


def refused(args, mentions):
    r = expect(args, 2)
    if r.returncode == 2 and (r.stderr.count("\n") != 1 or mentions not in r.stderr or r.stdout):
        failures.append(f"{args}: expected one line on stderr mentioning {mentions!r}: {r.stderr!r} {r.stdout!r}")


def json_of(r):
    j = json.loads(r.stdout.strip().splitlines()[-1])
    j.pop("wall_seconds", None)
    return j


BASE = ["--replicas", "6", "--topology", "mesh", "--workload", "gcounter", "--ops", "300", "--seed", "1"]
refused(BASE + ["--churn", "0"], "--churn")
refused(BASE + ["--churn", "x"], "--churn")
refused(BASE + ["--churn", "5", "--durable"], "--churn")
refused(BASE + ["--churn", "5", "--crash", "0.1"], "--crash")
refused(["--replicas", "1", "--topology", "mesh", "--workload", "gcounter", "--churn", "3", "--seed", "1"],
        "--churn")
if "--churn" not in expect(["--help"], 0).stdout:
    failures.append("--help does not mention --churn")

RUNS = [
    ["--replicas", "8", "--topology", "mesh", "--workload", "gcounter", "--ops", "800", "--churn", "80"],
    ["--replicas", "8", "--topology", "random:3", "--workload", "or_set", "--ops", "800", "--churn", "80",
     "--loss", "0.1", "--reorder"],
    ["--replicas", "6", "--topology", "ring", "--workload", "or_map", "--ops", "600", "--churn", "60",
     "--duplicate", "0.2", "--partitions"],
    ["--replicas", "8", "--topology", "random:4", "--workload", "mixed", "--ops", "800", "--churn", "80",
     "--loss", "0.2"],
]
for args in RUNS:
    for seed in ["1", "2"]:
        r = expect(args + ["--seed", seed, "--json"], 0)
        if r.returncode != 0:
            continue
        j = json_of(r)
        replicas = int(args[args.index("--replicas") + 1])
        churn = int(args[args.index("--churn") + 1])
        for key, want in [("converged", True), ("members_converged", True), ("values_match_oracle", True),
                          ("fold_value_changes", 0), ("folds", churn), ("churn", churn),
                          ("incarnations", replicas + churn), ("retired", churn)]:
            if j.get(key) != want:
                failures.append(f"{args} seed {seed}: {key} is {j.get(key)!r}, expected {want!r}")
        if not 0 < j.get("max_replica_ids", 0) <= 2 * replicas:
            failures.append(f"{args} seed {seed}: max_replica_ids {j.get('max_replica_ids')} above {2 * replicas}")
        if not j.get("state_ratio", 99) <= 1.25:
            failures.append(f"{args} seed {seed}: final state {j.get('state_ratio')} x the churn-free run")
        # The whole replicated state (members record included) is reported beside the user state.
        whole, free = j.get("whole_state_bytes", 0), j.get("churn_free_whole_state_bytes", 0)
        if not (whole >= j.get("final_state_bytes", 1) and free > 0 and
                abs(j.get("whole_state_ratio", -1) - whole / free) < 1e-3):
            failures.append(f"{args} seed {seed}: whole state {whole} B, churn-free {free} B, "
                            f"ratio {j.get('whole_state_ratio')}")

# The printed command line reproduces a churn run exactly.
r = expect(RUNS[1] + ["--seed", "7"], 0)
first = r.stdout.splitlines()[0] if r.stdout else ""
if "--churn 80" not in first or not first.startswith("converge-sim "):
    failures.append(f"the command line does not carry --churn: {first!r}")
else:
    again = expect(first.split()[1:] + ["--json"], 0)
    once = expect(RUNS[1] + ["--seed", "7", "--json"], 0)
    if again.returncode == 0 and once.returncode == 0 and json_of(again) != json_of(once):
        failures.append("the printed churn command line ran differently")

# A swarm of churn runs: every drawn configuration with 20 departures.
r = expect(["--swarm", "4", "--churn", "20", "--seed", "5"], 0)
if r.stdout.count("--churn 20") < 4:
    failures.append(f"the swarm's runs do not carry --churn: {r.stdout!r}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
