#!/usr/bin/env python3
"""The simulator at scale: one converge-sim run, its wall time and peak memory.

usage: sim_scale.py PATH/TO/converge-sim OUT.json [--replicas 1000] [--ops 100000]
                    [--workload gset] [--topology random:4] [--seed 1]

Runs `converge-sim --replicas N --topology T --workload W --ops N --seed S --json`
(one process, one core: the simulator is single-threaded) and writes its JSON
line plus `wall_seconds`, `max_rss_mb` and `command` to OUT.json. The issue's
target: 1,000 replicas x 100,000 operations in under a minute.
"""
import argparse
import json
import resource
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("sim")
    ap.add_argument("out")
    ap.add_argument("--replicas", type=int, default=1000)
    ap.add_argument("--ops", type=int, default=100000)
    ap.add_argument("--workload", default="gset")
    ap.add_argument("--topology", default="random:4")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    cmd = [a.sim, "--replicas", str(a.replicas), "--topology", a.topology, "--workload", a.workload,
           "--ops", str(a.ops), "--seed", str(a.seed), "--json"]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    wall = time.monotonic() - t0
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        print(f"sim_scale: no JSON from {' '.join(cmd)} (exit {p.returncode}): {p.stderr[-500:]}", file=sys.stderr)
        return 1
    r = json.loads(lines[-1])
    r["wall_seconds"] = round(wall, 2)
    r["max_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB
    r["command"] = " ".join(["converge-sim"] + cmd[1:])
    with open(a.out, "w") as f:
        json.dump(r, f)
    print(f"  {r['command']}: {wall:.1f} s, peak RSS {r['max_rss_mb']:.0f} MB, converged {r['converged']}, "
          f"{r['bytes_sent'] / r['bytes_lower_bound']:.2f}x lower bound")
    return 0


if __name__ == "__main__":
    sys.exit(main())
