#!/usr/bin/env python3
"""Latency of `local` against `majority` writes on five durable converge-node
processes on loopback (each with --data-dir, --sync write), against the
target p99(majority write) <= 2 round trips + one fsync + 1 ms.

usage: quorum_latency.py PATH/TO/converge-node [--writes N] [--gossip-ms MS]

Each command goes to node 1 on its stdin and is timed until its answer line.
Measured, N of each, interleaved so noise hits both alike:
  pipe      `rights` (no write): the stdin/stdout round trip alone;
  local     `add X local`: one fsync, answered once on disk;
  majority  `add X majority`: answered once 3 of 5 hold it on disk;
  read      `state majority` of a small state: one round trip to the others
            (nothing unsynced, so no fsync on the way; "nothing newer"
            answers are not paced, so this is the round trip alone).
Derived: fsync = p50(local) - p50(pipe), rtt = p50(read) - p50(pipe), and
the target 2 rtt + fsync + 1 ms against p99(majority) - p50(pipe).
Prints one JSON line per measurement, one for the target, and node 1's
flights_extended / retransmissions.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "transport"))
from cluster import Node, check, free_ports  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def timed(node, line):
    start = time.perf_counter()
    reply = node.cmd(line)
    took = time.perf_counter() - start
    check(reply.startswith("ok"), f"'{line}' answered '{reply}'")
    return took * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--writes", type=int, default=500)
    ap.add_argument("--gossip-ms", type=int, default=50)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="converge-bench-quorum-")
    eps = [f"tcp://127.0.0.1:{p}" for p in free_ports(5)]
    nodes = [Node(os.path.abspath(a.binary), i + 1, eps[i], [e for j, e in enumerate(eps) if j != i],
                  gossip_ms=a.gossip_ms, heartbeat_ms=200, workdir=work,
                  extra=["--quiet", "--timeout-ms", "5000", "--data-dir", os.path.join(work, f"n{i + 1}")])
             for i in range(5)]
    n1 = nodes[0]
    # Wait until every node sees the others up (quorums count up members).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if all(sum(1 for m in json.loads(x.cmd("members")) if m["status"] == "up") == 5 for x in nodes):
            break
        time.sleep(0.05)
    for k in range(20):  # warm-up: links, first state transfers
        n1.cmd(f"add warm{k} majority")
    times = {"pipe": [], "local": [], "majority": [], "read": []}
    for k in range(a.writes):
        times["pipe"].append(timed_answer(n1, "rights"))
        times["local"].append(timed(n1, f"add l{k} local"))
        times["majority"].append(timed(n1, f"add m{k} majority"))
        if k % 5 == 0:
            times["read"].append(timed_answer(n1, "state majority"))
    for name, xs in times.items():
        print(json.dumps({"bench": "quorum_latency", "case": name, "n": len(xs),
                          "p50_ms": round(statistics.median(xs), 3), "p99_ms": round(pct(xs, 99), 3),
                          "max_ms": round(max(xs), 3)}), flush=True)
    pipe = statistics.median(times["pipe"])
    fsync = max(0.0, statistics.median(times["local"]) - pipe)
    rtt = max(0.0, statistics.median(times["read"]) - pipe)
    target = 2 * rtt + fsync + 1.0
    measured = pct(times["majority"], 99) - pipe
    print(json.dumps({"bench": "quorum_latency", "case": "target", "rtt_ms": round(rtt, 3),
                      "fsync_ms": round(fsync, 3), "target_ms": round(target, 3),
                      "majority_p99_net_ms": round(measured, 3), "pass": measured <= target}), flush=True)
    total = json.loads(n1.cmd("stats"))["total"]
    print(json.dumps({"bench": "quorum_latency", "case": "node1_replication",
                      **{k: total[k] for k in ("flights_extended", "retransmissions", "delta_messages_out")}}),
          flush=True)
    for x in nodes:
        x.quit()


def timed_answer(node, line):
    start = time.perf_counter()
    reply = node.cmd(line)
    took = time.perf_counter() - start
    check(not reply.startswith("error"), f"'{line}' answered '{reply}'")
    return took * 1000


if __name__ == "__main__":
    main()
