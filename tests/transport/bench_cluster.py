#!/usr/bin/env python3
"""Throughput and convergence lag of a three-node converge-node cluster on
loopback.

usage: bench_cluster.py PATH/TO/converge-node [--updates N] [--trials K] [--gossip-ms MS]

Throughput: N `inc` commands, a third to each node, written as fast as the
nodes take them; the clock stops when every node's counter reads N.
Lag: K single `inc`s, one node at a time; the time from the node's `ok` to
the moment both other nodes show it (polled with `state`).
Prints one JSON line per measurement.
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import check, free_ports, mesh  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--updates", type=int, default=30000)
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--gossip-ms", type=int, default=50)
    a = ap.parse_args()
    nodes = mesh(os.path.abspath(a.binary), [1, 2, 3], free_ports(3), gossip_ms=a.gossip_ms, heartbeat_ms=200,
                 extra=["--quiet"])
    check(nodes[0].cmd("inc 0") == "ok (no change)", "the first command")
    for n in nodes:  # wait until the mesh is up
        deadline = time.monotonic() + 10
        while not all(p["reachable"] for p in n.peers()) and time.monotonic() < deadline:
            time.sleep(0.02)

    per = a.updates // 3
    total = per * 3

    def writer(n):
        n.proc.stdin.write(b"inc\n" * per)

    t0 = time.monotonic()
    threads = [threading.Thread(target=writer, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for n in nodes:
        for _ in range(per):
            n.read_line(30)
    for t in threads:
        t.join()
    t_local = time.monotonic() - t0
    while True:
        if all(n.state()["counter"] == total for n in nodes):
            break
        if time.monotonic() - t0 > 120:
            raise SystemExit("throughput run did not converge")
        time.sleep(0.002)
    t_all = time.monotonic() - t0
    print(json.dumps({"measure": "throughput", "nodes": 3, "gossip_ms": a.gossip_ms, "updates": total,
                      "local_seconds": round(t_local, 3), "converged_seconds": round(t_all, 3),
                      "updates_per_second": round(total / t_all)}), flush=True)

    lags = []
    expected = total
    for k in range(a.trials):
        src = nodes[k % 3]
        others = [n for n in nodes if n is not src]
        src.ok("inc")
        t0 = time.monotonic()
        expected += 1
        pending = list(others)
        while pending:
            pending = [n for n in pending if n.state()["counter"] != expected]
            if time.monotonic() - t0 > 10:
                raise SystemExit("lag run did not converge")
        lags.append((time.monotonic() - t0) * 1000)
    lags.sort()
    p99 = lags[min(len(lags) - 1, int(round(0.99 * (len(lags) - 1))))]
    print(json.dumps({"measure": "convergence_lag_ms", "nodes": 3, "gossip_ms": a.gossip_ms, "trials": len(lags),
                      "median": round(statistics.median(lags), 2), "p99": round(p99, 2),
                      "max": round(lags[-1], 2)}), flush=True)
    for n in nodes:
        n.quit()


if __name__ == "__main__":
    main()
