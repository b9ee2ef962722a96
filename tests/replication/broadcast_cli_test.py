#!/usr/bin/env python3
"""converge-sim --broadcast (path in argv[1]): gossip and tree on the same seeds.

Both converge, the tree sends fewer bytes than gossip and says what it did
(prunes, digests, eager links), gossip reports no tree activity, and a bad
--broadcast value is refused with one line on stderr and exit status 2.
"""
import json
import subprocess
import sys

sim = sys.argv[1]
failures = []


def run(args):
    return subprocess.run([sim] + args, capture_output=True, text=True, timeout=100)


def json_of(args):
    r = run(args + ["--json"])
    if r.returncode != 0:
        failures.append(f"{args}: exit {r.returncode}\n{r.stdout[-2000:]}{r.stderr}")
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


for seed in ("1", "2"):
    base = ["--replicas", "100", "--topology", "random:4", "--workload", "gset", "--ops", "3000", "--seed", seed]
    g = json_of(base)  # the default is gossip
    t = json_of(base + ["--broadcast", "tree"])
    if g is None or t is None:
        continue
    if g.get("broadcast") != "gossip" or t.get("broadcast") != "tree":
        failures.append(f"seed {seed}: broadcast not reported: {g.get('broadcast')} {t.get('broadcast')}")
    for name, j in (("gossip", g), ("tree", t)):
        if j.get("converged") is not True:
            failures.append(f"seed {seed}: {name} did not converge: {j.get('failure')}")
        for key in ("tree_prunes", "tree_grafts", "tree_digests", "tree_eager_links", "tree_lazy_repairs",
                    "p99_propagation_intervals"):
            if key not in j:
                failures.append(f"seed {seed}: {name} json lacks {key}")
    if g.get("ops") != t.get("ops") or g.get("bytes_lower_bound") != t.get("bytes_lower_bound"):
        failures.append(f"seed {seed}: not the same workload: {g.get('bytes_lower_bound')} {t.get('bytes_lower_bound')}")
    if not t["bytes_sent"] < g["bytes_sent"]:
        failures.append(f"seed {seed}: tree bytes {t['bytes_sent']} not below gossip {g['bytes_sent']}")
    if g["tree_prunes"] != 0 or g["tree_digests"] != 0:
        failures.append(f"seed {seed}: gossip did tree work: {g}")
    if t["tree_prunes"] == 0 or t["tree_digests"] == 0 or not t["tree_eager_links"] < g["tree_eager_links"]:
        failures.append(f"seed {seed}: the tree did nothing: {t}")
    print(f"seed {seed}: gossip {g['bytes_sent'] / g['bytes_lower_bound']:.3f}x, "
          f"tree {t['bytes_sent'] / t['bytes_lower_bound']:.3f}x of the lower bound")

# With faults the tree still converges (anti-entropy underneath).
j = json_of(["--replicas", "30", "--topology", "random:4", "--workload", "or_set", "--ops", "400", "--loss", "0.1",
             "--crash", "0.02", "--partitions", "--seed", "5", "--broadcast", "tree"])
if j is not None and j.get("converged") is not True:
    failures.append(f"tree with faults did not converge: {j.get('failure')}")

for bad in ("Tree", "plumtree", ""):
    r = run(["--replicas", "3", "--topology", "mesh", "--workload", "gset", "--seed", "1", "--broadcast", bad])
    if r.returncode != 2 or r.stdout != "" or r.stderr.count("\n") != 1 or "--broadcast" not in r.stderr:
        failures.append(f"--broadcast {bad!r}: exit {r.returncode}, {r.stderr!r}")
r = run(["--replicas", "5", "--topology", "ring", "--workload", "gset", "--ops", "20", "--seed", "3", "--broadcast", "tree"])
if "--broadcast tree" not in (r.stdout.splitlines() or [""])[0]:
    failures.append(f"the printed command line lacks --broadcast tree: {r.stdout[:200]!r}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
