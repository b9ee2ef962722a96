#!/usr/bin/env python3
"""Runs converge-sim over a range of replica counts, with and without the
avoid-back-propagation (BP) and remove-redundant (RR) optimizations, and
writes the parsed JSON lines as one JSON list.

usage: sim_sweep.py PATH/TO/converge-sim OUT.json [--quick] [--replicas 16,64,...]
                    [--ops N] [--workload gset] [--topology random:4] [--seed S]

Every run is `converge-sim --replicas N --topology T --workload W --ops N
--seed S --json [--no-bp --no-rr]`; the last line of its output is the JSON
object this script keeps (plus "optimized": true/false and the wall time).
"""

import argparse
import json
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sim")
    ap.add_argument("out")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--replicas", default=None)
    ap.add_argument("--ops", type=int, default=1000)
    ap.add_argument("--workload", default="gset")
    ap.add_argument("--topology", default="random:4")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.replicas:
        replicas = [int(x) for x in a.replicas.split(",")]
    else:
        replicas = [16, 64, 250, 1000] if a.quick else [16, 32, 64, 125, 250, 500, 1000]
    runs = []
    for n in replicas:
        for optimized in (True, False):
            cmd = [a.sim, "--replicas", str(n), "--topology", a.topology, "--workload", a.workload,
                   "--ops", str(a.ops), "--seed", str(a.seed), "--json"]
            if not optimized:
                cmd += ["--no-bp", "--no-rr"]
            t0 = time.monotonic()
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            wall = time.monotonic() - t0
            lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
            if not lines:
                print(f"sim_sweep: no JSON from {' '.join(cmd)} (exit {p.returncode}): {p.stderr[-500:]}",
                      file=sys.stderr)
                continue
            r = json.loads(lines[-1])
            r["optimized"] = optimized
            r["wall_seconds"] = round(wall, 3)
            r["command"] = " ".join(["converge-sim"] + cmd[1:])
            runs.append(r)
            lb = r.get("bytes_lower_bound") or 0
            print(f"  sim replicas={n:5d} {'BP+RR' if optimized else 'plain'}: "
                  f"bytes {r['bytes_sent']} ({r['bytes_sent'] / lb if lb else float('nan'):.2f}x lower bound), "
                  f"ticks to converge {r['ticks_to_converge']}, converged {r['converged']}, {wall:.1f} s",
                  flush=True)
    with open(a.out, "w") as f:
        json.dump(runs, f)


if __name__ == "__main__":
    main()
