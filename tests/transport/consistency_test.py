"""converge-node consistency levels with real processes on loopback: five
durable nodes; a majority write and an `all` write answer ok and a majority
read on another node sees them; a wrong level word or --timeout-ms is refused
and changes nothing; with 3 of 5 nodes killed a majority write times out
cleanly with the count (and still converges once they are back); a sell that
needs another node's stock rights succeeds, and fails cleanly after the
timeout while that node is stopped.

usage: consistency_test.py CONVERGE_NODE
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Failure, Node, check, free_ports, main_wrapper, wait_converged  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
WORK = tempfile.mkdtemp(prefix="converge-consistency-")
TIMEOUT_MS = 1500


def log(msg):
    print(msg, flush=True)


def cluster(n):
    ports = free_ports(n)
    eps = [f"tcp://127.0.0.1:{p}" for p in ports]
    nodes = []
    for i in range(n):
        peers = [e for j, e in enumerate(eps) if j != i]
        nodes.append(Node(BIN, i + 1, eps[i], peers, workdir=WORK,
                          extra=["--data-dir", os.path.join(WORK, f"n{i + 1}"), "--quiet",
                                 "--timeout-ms", str(TIMEOUT_MS)]))
    return nodes


def wait_members_up(nodes, count, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ups = [sum(1 for m in json.loads(x.cmd("members")) if m["status"] == "up") for x in nodes]
        if all(u == count for u in ups):
            return
        time.sleep(0.05)
    raise Failure(f"not every node sees {count} members up: {ups}")


def timed(node, line, timeout=10.0):
    start = time.monotonic()
    reply = node.cmd(line, timeout)
    return reply, time.monotonic() - start


def bad_arguments():
    for bad in ["0", "600001", "x", "-5"]:
        r = subprocess.run([BIN, "--id", "1", "--bind", "tcp://127.0.0.1:0", "--timeout-ms", bad],
                           capture_output=True, text=True, timeout=10)
        check(r.returncode == 2, f"--timeout-ms {bad}: exit {r.returncode}")
        check("--timeout-ms" in r.stderr, f"--timeout-ms {bad}: stderr '{r.stderr.strip()}'")


def run():
    bad_arguments()
    nodes = cluster(5)
    wait_members_up(nodes, 5)
    a, b = nodes[0], nodes[1]

    # Levels: a majority write, an `all` write, a majority read elsewhere.
    reply, took = timed(a, "add x majority")
    check(reply == "ok", f"add x majority answered '{reply}'")
    log(f"add x majority: ok in {took * 1000:.1f} ms")
    check(a.cmd("inc 3 all") == "ok", "inc 3 all")
    check(a.cmd("rm never-added majority") == "ok (no change)", "a majority rm of nothing changes nothing")
    s = json.loads(nodes[4].cmd("state majority"))
    check("x" in s["set"] and s["counter"] == 3, f"state majority on n5 missed the writes: {s}")
    check(a.cmd("add y local") == "ok", "add y local")
    check("y" in a.state()["set"], "add y local: no y")

    # Wrong level words and arguments: a clear error, nothing changed.
    before = a.state()
    for line in ["inc 3 majorty", "state quorum", "sell 1 most", "del k everyone", "rights majority",
                 "inc majority all"]:
        reply = a.cmd(line)
        check(reply.startswith("error: ") and ("level" in reply or "must be" in reply),
              f"'{line}' answered '{reply}'")
    check(a.state() == before, "a refused command changed the state")
    check("majority" in a.cmd("help"), "help does not mention the levels")

    # Rights on demand: node 2 holds all the stock; node 1 sells with them.
    check(b.cmd("stock-add 10") == "ok", "stock-add 10")
    wait_converged(nodes, pred=lambda st: st["stock"] == 10)
    check(a.cmd("rights") == "0", "node 1 has rights of its own")
    check(a.cmd("sell 4") .startswith("error: not enough local stock rights"), "plain sell stays local")
    reply, took = timed(a, "sell 4 majority")
    check(reply == "ok", f"sell 4 majority answered '{reply}'")
    log(f"sell 4 majority with node 2's rights: ok in {took * 1000:.1f} ms")
    wait_converged(nodes, pred=lambda st: st["stock"] == 6)

    # The holder stopped: the sale fails cleanly after the timeout, nothing sold.
    held = int(a.cmd("rights"))
    b.pause()
    try:
        reply, took = timed(a, f"sell {held + 5} majority")
    finally:
        b.resume()
    check(reply.startswith("error: not enough stock rights") and "nothing sold" in reply,
          f"sell with the holder stopped answered '{reply}'")
    check(TIMEOUT_MS / 1000 * 0.9 <= took <= TIMEOUT_MS / 1000 + 2.0, f"the failed sell took {took:.2f} s")
    log(f"sell with the holder stopped: '{reply}' after {took:.2f} s")
    wait_converged(nodes, pred=lambda st: st["stock"] == 6)

    # 3 of 5 killed: a majority write times out with the count.
    for x in nodes[2:]:
        x.kill_hard()
    reply, took = timed(a, "add z majority")
    m = re.fullmatch(r"error: timed out: (\d+) of (\d+) members acknowledged.*", reply)
    check(m is not None, f"add z majority with 3 of 5 down answered '{reply}'")
    check(int(m.group(1)) == 2 and int(m.group(2)) == 3, f"counts in '{reply}'")
    check(took >= TIMEOUT_MS / 1000 * 0.9, f"timed out after {took:.2f} s")
    log(f"add z majority with 3 of 5 killed: '{reply}' after {took:.2f} s")
    check("z" in a.state()["set"], "the timed-out write was rolled back")
    # Back with their data: the timed-out write reaches everyone.
    for x in nodes[2:]:
        x.start()
    wait_converged(nodes, timeout=30, pred=lambda st: "z" in st["set"])
    for x in nodes:
        x.quit()


main_wrapper(run)
