#!/usr/bin/env python3
"""Multi-process tests of converge-node over real sockets.

usage: transport_test.py PATH/TO/converge-node SCENARIO
scenarios: converge, partition, restart, garbage, curve, args, netns
"""

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import (SKIP, Failure, Node, check, envelope, free_ports, main_wrapper, mesh,  # noqa: E402
                     wait_converged, zmtp_dealer, zmtp_frame)

BIN = os.path.abspath(sys.argv[1])
WORK = tempfile.mkdtemp(prefix="converge-transport-")


def log(msg):
    print(msg, flush=True)


def converge_test():
    """Four nodes, concurrent writes of every kind, one converged state."""
    nodes = mesh(BIN, [1, 2, 3, 4], free_ports(4), workdir=WORK)
    # Back to back, so that most of these puts are concurrent. How many are
    # depends on gossip timing: a node that already received v1 before its
    # own put supersedes it, as a multi-value register should.
    for n in nodes:
        n.ok(f"put shared v{n.id}")
    for k, n in enumerate(nodes, start=1):
        n.ok(f"inc {k}")
        n.ok(f"add from-{n.id}")
        n.ok(f"put own-{n.id} x")
        n.ok(f"stock-add {10 * k}")
        n.ok("dec 1")
    state, took = wait_converged(nodes)
    log(f"converged in {took:.3f}s: {state}")
    check(state["counter"] == 1 + 2 + 3 + 4 - 4, "counter")
    check(state["set"] == sorted(f"from-{i}" for i in range(1, 5)), "set")
    shared = state["map"]["shared"]
    check("v4" in shared, "the last put is never superseded")
    check(set(shared) <= {f"v{i}" for i in range(1, 5)} and shared == sorted(shared),
          "only written values survive, sorted")
    check(state["stock"] == 100, "stock")
    # A later write observes the concurrent values and replaces them everywhere.
    nodes[0].ok("put shared final")
    nodes[1].ok("rm from-3")
    nodes[2].ok("sell 30")
    check(nodes[0].cmd("sell 11").startswith("error: not enough local stock rights (have 10, need 11)"), "sell")
    state, took = wait_converged(nodes)
    check(state["map"]["shared"] == ["final"] and "from-3" not in state["set"] and state["stock"] == 70, str(state))
    # Every dialed peer answers its hellos (a dial made before that peer was
    # bound is retried by ZeroMQ, so allow a few reconnect intervals).
    deadline = time.monotonic() + 5
    while True:
        peers = nodes[0].peers()
        if (len(peers) == 3 and all(p["reachable"] for p in peers)) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    check(len(peers) == 3 and all(p["reachable"] for p in peers), f"peers: {peers}")
    for n in nodes:
        check(n.quit() == 0, "quit exit status")


def partition_test():
    """SIGSTOP one node, write on both sides, SIGCONT: all converge."""
    a, b, c = mesh(BIN, [1, 2, 3], free_ports(3), workdir=WORK)
    a.ok("inc 1")
    wait_converged([a, b, c])
    c.pause()
    a.ok("add left-a")
    b.ok("put k from-b")
    c.send("add right-c")  # buffered in the pipe: runs while partitioned from the others' view
    c.send("put k from-c")
    _, took = wait_converged([a, b], pred=lambda s: "left-a" in s["set"] and "k" in s["map"])
    log(f"majority side converged in {took:.3f}s while node 3 is stopped")
    time.sleep(0.5)
    c.resume()
    check(c.read_line() == "ok" and c.read_line() == "ok", "writes on the paused node")
    state, took = wait_converged([a, b, c], pred=lambda s: "right-c" in s["set"])
    log(f"healed and converged in {took:.3f}s: {state}")
    # Node 3 ran its buffered commands on waking, possibly after it received
    # node 2's put (then its own put replaced it): either outcome is correct.
    check(state["map"]["k"] in (["from-b", "from-c"], ["from-c"]), "node 3's put survives")


def restart_test():
    """kill -9 a node, restart it empty with the same --id, write at once:
    nothing is lost or shadowed."""
    ports = free_ports(3)
    a, b, c = mesh(BIN, [1, 2, 3], ports, workdir=WORK)
    a.ok("inc 1")
    b.ok("inc 10")
    b.ok("add b-before")
    b.ok("put k b-before")
    c.ok("inc 100")
    wait_converged([a, b, c])
    b.proc.kill()
    b.proc.wait(5)
    a.ok("inc 1000")
    a.ok("add a-during")
    b.start()  # same --id, same endpoint, no data
    b.ok("inc 10000")  # at once, before any state transfer
    b.ok("add b-after")
    b.ok("put k2 b-after")
    state, took = wait_converged([a, b, c], pred=lambda s: s["counter"] == 11111)
    log(f"restarted node converged in {took:.3f}s: {state}")
    check(set(state["set"]) == {"b-before", "a-during", "b-after"}, "no element lost")
    check(state["map"] == {"k": ["b-before"], "k2": ["b-after"]}, "no register lost")
    # The restarted node's replica id is new: its updates do not shadow the old ones.
    b.ok("put k b-again")
    state, _ = wait_converged([a, b, c])
    check(state["map"]["k"] == ["b-again"], "a write after the state transfer observes the old value")


def garbage_test():
    """Random bytes, malformed envelopes, bad payloads and an oversized frame
    do not stop a node: it still answers and converges."""
    ports = free_ports(2)
    a, b = mesh(BIN, [1, 2], ports, workdir=WORK, extra=["--max-message-bytes", "65536"])
    a.ok("inc 1")
    wait_converged([a, b])
    rng = random.Random(42)
    for _ in range(20):  # not ZMTP at all
        s = socket.create_connection(("127.0.0.1", ports[0]), timeout=5)
        s.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2000))))
        s.close()
    s = zmtp_dealer(ports[0])
    s.sendall(zmtp_frame(b"not an envelope"))                        # bad envelope
    s.sendall(zmtp_frame(envelope(2, 99), more=True) + zmtp_frame(b"\x10garbage"))  # bad replicator bytes
    s.sendall(zmtp_frame(envelope(2, 98)))                           # data without payload
    for _ in range(200):
        s.sendall(zmtp_frame(envelope(2, 97), more=True) +
                  zmtp_frame(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))))
    s.sendall(zmtp_frame(envelope(2, 96), more=True) + zmtp_frame(b"\x00" * 200000))  # over MAXMSGSIZE
    time.sleep(0.5)
    s.close()
    check(a.cmd("help").startswith("commands:"), "node still answers")
    b.ok("inc 5")
    a.ok("add after-garbage")
    state, took = wait_converged([a, b], pred=lambda s: s["counter"] == 6 and s["set"] == ["after-garbage"])
    stats = a.stats()
    t = stats["transport"]
    log(f"after garbage: converged in {took:.3f}s; transport counters {t}; replicator malformed "
        f"{stats['total']['malformed_dropped']}")
    check(t["dropped_malformed"] >= 2, "malformed envelopes counted")
    check(t["handshake_failures"] >= 1, "non-ZMTP connections counted")
    check(stats["total"]["malformed_dropped"] >= 1, "bad replicator bytes counted")
    check(a.quit() == 0 and b.quit() == 0, "clean exit")


def keygen():
    out = subprocess.run([BIN, "keygen"], capture_output=True, text=True, timeout=10)
    check(out.returncode == 0, "keygen exit status")
    lines = out.stdout.split()
    check(len(lines) == 2 and all(len(x) == 40 for x in lines), f"keygen output {out.stdout!r}")
    return lines


def curve_test():
    """CURVE: allowed keys converge; an unlisted key is refused; a listed key
    claiming another node's id cannot inject."""
    ports = free_ports(4)
    eps = [f"tcp://127.0.0.1:{p}" for p in ports]
    keys = {i: keygen() for i in (1, 2, 3, 4)}
    for i, (pub, sec) in keys.items():
        with open(os.path.join(WORK, f"k{i}"), "w") as f:
            f.write(f"{pub}\n{sec}\n")
    # Nodes 1 and 2 allow each other, and key 4 bound to id 4 (never key 3).
    with open(os.path.join(WORK, "allow"), "w") as f:
        f.write(f"# cluster\n{keys[1][0]} 1 {eps[0]}\n{keys[2][0]} 2 {eps[1]}\n{keys[4][0]} 4\n")
    # The rogue nodes know the cluster's server keys, so they can try.
    with open(os.path.join(WORK, "allow-rogue"), "w") as f:
        f.write(f"{keys[1][0]} 1 {eps[0]}\n{keys[2][0]} 2 {eps[1]}\n{keys[3][0]} 3\n{keys[4][0]} 4\n")

    def curve(i, allow):
        return ["--curve-key", os.path.join(WORK, f"k{i}"), "--curve-allow", os.path.join(WORK, allow)]

    a = Node(BIN, 1, eps[0], [eps[1]], workdir=WORK, extra=curve(1, "allow"))
    b = Node(BIN, 2, eps[1], [eps[0]], workdir=WORK, extra=curve(2, "allow"))
    a.ok("add a")
    b.ok("add b")
    state, took = wait_converged([a, b], pred=lambda s: s["set"] == ["a", "b"])
    log(f"CURVE pair converged in {took:.3f}s")
    rogue = Node(BIN, 3, eps[2], [eps[0], eps[1]], workdir=WORK, extra=curve(3, "allow-rogue"), name="rogue")
    rogue.ok("add injected-by-unlisted-key")
    spoof = Node(BIN, 2, eps[3], [eps[0]], workdir=WORK, extra=curve(4, "allow-rogue"), name="spoofer")
    spoof.ok("add injected-by-spoofed-id")
    time.sleep(2.0)
    a.ok("inc 1")
    state, _ = wait_converged([a, b], pred=lambda s: s["counter"] == 1)
    check(state["set"] == ["a", "b"], f"nothing injected: {state}")
    ta, tb = a.stats()["transport"], b.stats()["transport"]
    log(f"node 1 transport counters: {ta}")
    check(ta["auth_denied"] + tb["auth_denied"] >= 1, "unlisted key refused by ZAP")
    check(ta["dropped_spoofed"] >= 1, "spoofed id dropped")
    check(rogue.state()["set"] == ["injected-by-unlisted-key"], "rogue saw nothing of the cluster")


def args_test():
    """Bad arguments: one line on stderr, exit status 2."""
    bad = [
        [], ["--id"], ["--id", "x", "--bind", "tcp://127.0.0.1:1"], ["--id", "-1", "--bind", "tcp://127.0.0.1:1"],
        ["--id", "1"], ["--id", "1", "--bind", "tcp://127.0.0.1:1", "--gossip-ms", "0"],
        ["--id", "1", "--bind", "tcp://127.0.0.1:1", "--gossip-ms", "10x"],
        ["--id", "99999999999999999999999", "--bind", "tcp://127.0.0.1:1"],
        ["--id", "1", "--bind", "tcp://127.0.0.1:1", "--frobnicate"],
        ["--id", "1", "--bind", "nonsense://x"],
        ["--id", "1", "--bind", "tcp://127.0.0.1:1", "--curve-key", "/nonexistent"],
        ["--id", "1", "--bind", "tcp://127.0.0.1:1", "--curve-key", "/nonexistent", "--curve-allow", "/nonexistent"],
        ["keygen", "extra"],
        ["signing-keygen", "--id", "1"],
        ["--id", "1", "--bind", "tcp://127.0.0.1:1", "--signing-key", "/nonexistent"],  # needs CURVE
    ]
    for args in bad:
        out = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        check(out.returncode == 2, f"{args}: exit status {out.returncode}, stderr {out.stderr!r}")
        check(out.stderr.count("\n") == 1 and out.stdout == "", f"{args}: stderr {out.stderr!r}")
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10)
    check(out.returncode == 0 and "--peer" in out.stdout, "--help")
    keygen()
    # Malformed commands answer one error line and the node keeps running.
    (port,) = free_ports(1)
    n = Node(BIN, 1, f"tcp://127.0.0.1:{port}", workdir=WORK)
    for line in ["inc -1", "inc 1x", "inc 18446744073709551616", "inc 1 2", "dec abc", "add", "put k", "del",
                 "sell", "grant 2", "grant 2 5", "frob", "", "stock-add 1.5", "sell 1"]:
        reply = n.cmd(line)
        check(reply.startswith("error: "), f"'{line}' answered '{reply}'")
    check(n.cmd("inc 18446744073709551615").startswith("error: "), "past the int64 counter: refused")
    n.ok("inc 9223372036854775807")
    check(n.cmd("inc 1").startswith("error: "), "overflow refused")
    check(n.state()["counter"] == 9223372036854775807, "the refused inc changed nothing; the node still works")
    # EOF on stdin: a clean exit.
    n.proc.stdin.close()
    check(n.proc.wait(5) == 0, "exit 0 on EOF")
    # --daemon ignores stdin and stops on SIGTERM.
    d = subprocess.Popen([BIN, "--id", "2", "--bind", f"tcp://127.0.0.1:{port}", "--daemon"],
                         stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    check(d.poll() is None, "--daemon keeps running with stdin at EOF")
    d.terminate()
    check(d.wait(5) == 0, "--daemon exits 0 on SIGTERM")


def sh(*args, check_rc=True):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=20)
    if check_rc and r.returncode != 0:
        raise Failure(f"{' '.join(args)}: {r.stderr.strip()}")
    return r


def netns_test():
    """Three nodes in their own network namespaces, joined by a bridge in a
    fourth; cutting node 3's link partitions it, restoring it heals."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("SKIP: needs root and iproute2 (ip netns)")
        return SKIP
    tag = f"cvt{os.getpid() % 100000}"
    hub = f"{tag}hub"
    spaces = [f"{tag}n{i}" for i in (1, 2, 3)]
    made = []

    def teardown():
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)

    try:
        for ns in [hub] + spaces:
            if subprocess.run(["ip", "netns", "add", ns], capture_output=True, timeout=20).returncode != 0:
                print("SKIP: cannot create network namespaces here")
                teardown()
                return SKIP
            made.append(ns)
        sh("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", hub, "link", "set", "br0", "up")
        for i, ns in enumerate(spaces, start=1):
            r = subprocess.run(["ip", "link", "add", f"{tag}v{i}", "netns", ns, "type", "veth", "peer", "name",
                                f"{tag}h{i}", "netns", hub], capture_output=True, text=True, timeout=20)
            if r.returncode != 0:
                print(f"SKIP: cannot create veth pairs: {r.stderr.strip()}")
                teardown()
                return SKIP
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "addr", "add", f"10.213.7.{i}/24", "dev", f"{tag}v{i}")
            sh("ip", "-n", ns, "link", "set", f"{tag}v{i}", "up")
            sh("ip", "-n", hub, "link", "set", f"{tag}h{i}", "master", "br0")
            sh("ip", "-n", hub, "link", "set", f"{tag}h{i}", "up")
        eps = [f"tcp://10.213.7.{i}:7400" for i in (1, 2, 3)]
        nodes = []
        for i, ns in enumerate(spaces):
            peers = [e for j, e in enumerate(eps) if j != i]
            nodes.append(Node(BIN, i + 1, eps[i], peers, workdir=WORK, prefix=["ip", "netns", "exec", ns]))
        a, b, c = nodes
        a.ok("inc 1")
        _, took = wait_converged(nodes, timeout=30)
        log(f"namespaced cluster converged in {took:.3f}s")
        sh("ip", "-n", hub, "link", "set", f"{tag}h3", "down")
        a.ok("add cut-a")
        c.ok("add cut-c")
        b.ok("put k b")
        c.ok("put k c")
        _, took = wait_converged([a, b], pred=lambda s: "cut-a" in s["set"] and "k" in s["map"])
        time.sleep(1.0)
        check("cut-a" not in c.state()["set"], "the cut node must not see the other side")
        log(f"majority converged in {took:.3f}s with node 3's link down")
        sh("ip", "-n", hub, "link", "set", f"{tag}h3", "up")
        state, took = wait_converged(nodes, timeout=30, pred=lambda s: {"cut-a", "cut-c"} <= set(s["set"]))
        log(f"link restored: converged in {took:.3f}s: {state}")
        check(state["map"]["k"] == ["b", "c"], "both sides' puts survive")
        for n in nodes:
            n.kill_hard()
    finally:
        teardown()


SCENARIOS = {
    "converge": converge_test, "partition": partition_test, "restart": restart_test, "garbage": garbage_test,
    "curve": curve_test, "args": args_test, "netns": netns_test,
}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        print(__doc__)
        sys.exit(2)
    try:
        main_wrapper(SCENARIOS[sys.argv[2]])
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
