#!/usr/bin/env python3
"""converge-node's command line and its standard input, checked from outside.

usage: node_cli_test.py PATH/TO/converge-node

Bad arguments: exactly one line on stderr, nothing on stdout, exit status 2.
Good ones start a node. The stdin line limit is exact (65536 bytes, the
newline not counted), and a last line without a newline still runs and its
write still reaches a peer, even when the input ends before the node has
heard from that peer. Counter arithmetic that would overflow answers
`error: ...` and changes nothing; a mutation that changes nothing answers
`ok (no change)`.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Failure, Node, check, free_ports, main_wrapper  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
WORK = tempfile.mkdtemp(prefix="converge-node-cli-")
MAX_LINE = 64 * 1024
failures = []


def run(args, stdin=subprocess.DEVNULL, timeout=10):
    return subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout, stdin=stdin)


def expect_refused(args, mentions=None):
    """args must exit 2 with one line on stderr (mentioning `mentions`)."""
    try:
        r = run(args)
    except subprocess.TimeoutExpired:
        failures.append(f"{args}: still running after 10 s, expected exit status 2")
        return
    line = r.stderr.rstrip("\n")
    if r.returncode != 2:
        failures.append(f"{args}: exit status {r.returncode}, expected 2; stderr {r.stderr!r}")
    elif r.stderr.count("\n") != 1 or r.stdout != "":
        failures.append(f"{args}: not one line on stderr and nothing on stdout: {r.stderr!r} {r.stdout!r}")
    elif not line.startswith("converge-node: error: "):
        failures.append(f"{args}: stderr does not start with 'converge-node: error: ': {line!r}")
    elif mentions is not None and mentions not in line:
        failures.append(f"{args}: the error does not mention {mentions!r}: {line!r}")


def bound_endpoints(node):
    """The endpoints the node logged as bound (its first stderr line)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(node.stderr_path) as f:
            for line in f:
                if ": replica " in line and ", bound" in line:
                    words = line.split(", bound", 1)[1].split(",", 1)[0].split()
                    return words
        time.sleep(0.02)
    raise Failure(f"{node.name}: no 'bound' line on stderr: {node.stderr_tail()}")


def refused_arguments():
    ep = "tcp://127.0.0.1:7001"
    base = ["--id", "1", "--bind", ep]
    # Ports: 1 to 65535; 0 only on --bind (any free port).
    for port in ["99999", "65536", "abc", "-1", "", "1.5", "0x10", " 80"]:
        expect_refused(["--id", "1", "--bind", f"tcp://127.0.0.1:{port}"], "--bind")
        expect_refused(base + ["--peer", f"tcp://127.0.0.1:{port}"], "--peer")
    expect_refused(base + ["--peer", "tcp://127.0.0.1:0"], "port")
    expect_refused(base + ["--peer", "tcp://127.0.0.1:*"], "port")
    expect_refused(base + ["--peer", "tcp://*:7002"], "--peer")
    # Endpoints: a known scheme and a non-empty address.
    for e in ["nonsense://x", "127.0.0.1:7001", "tcp://", "tcp://:7001", "tcp://127.0.0.1", "ipc://",
              "inproc://", "tcp://[::1]", "ipc:///" + "x" * 120, "TCP://127.0.0.1:7001"]:
        expect_refused(["--id", "1", "--bind", e], "--bind")
    expect_refused(base + ["--peer", "tcp://h:7002", "--peer", "tcp://h:7002"], "twice")
    # --id: exactly once, from 1 to 2^40-1, decimal.
    expect_refused([], "--id")
    expect_refused(["--bind", ep], "--id is required")
    for v in ["0", "x", "-1", "+1", "1e3", str(1 << 40), "99999999999999999999999"]:
        expect_refused(["--id", v, "--bind", ep], "--id")
    expect_refused(["--id", "1", "--id", "2", "--bind", ep], "--id")
    expect_refused(["--id=1", "--bind", ep, "--id=1"], "--id")
    expect_refused(["--id", "1"], "--bind")
    # Every other number in its range; single-valued options once.
    for flag, bad in [("--gossip-ms", ["0", "600001", "10x", "1.5", ""]),
                      ("--heartbeat-ms", ["9", "600001", "x"]),
                      ("--max-message-bytes", ["1023", str((1 << 30) + 1), "1k"])]:
        for v in bad:
            expect_refused(base + [flag, v], flag)
        expect_refused(base + [flag, "100", flag, "100"], flag)
    expect_refused(base + ["--curve-key", "/k", "--curve-key", "/k", "--curve-allow", "/a"], "--curve-key")
    expect_refused(base + ["--curve-key", "/nonexistent"], "--curve-allow")
    expect_refused(base + ["--curve-allow", "/nonexistent"], "--curve-key")
    # Unknown options, extra positional arguments, missing values.
    expect_refused(base + ["--frobnicate"], "--frobnicate")
    expect_refused(base + ["-x"], "-x")
    expect_refused(base + ["--peers", "tcp://h:1"], "--peers")
    expect_refused(base + ["extra"], "extra")
    expect_refused(base + ["--", "extra"])
    for flag in ["--id", "--bind", "--peer", "--gossip-ms", "--heartbeat-ms", "--curve-key", "--curve-allow",
                 "--max-message-bytes"]:
        expect_refused(base + [flag], flag)
    expect_refused(["--id", "--bind", ep], "--id")
    expect_refused(base + ["--peer="], "--peer")
    # Flags take no value.
    expect_refused(base + ["--quiet=1"], "--quiet")
    expect_refused(base + ["--daemon=yes"], "--daemon")
    # keygen stands alone.
    expect_refused(["keygen", "extra"], "extra")
    expect_refused(["--id", "1", "keygen"], "keygen")


def help_and_keygen():
    for flag in ["--help", "-h"]:
        r = run([flag])
        check(r.returncode == 0, f"{flag}: exit status {r.returncode}")
        for word in ["--id", "--bind", "--peer", "--gossip-ms", "--heartbeat-ms", "--curve-key", "--curve-allow",
                     "--max-message-bytes", "--daemon", "--quiet", "keygen", "65535", "any free port"]:
            check(word in r.stdout, f"{flag}: the help does not mention {word}: {r.stdout!r}")
        check(r.stderr == "", f"{flag}: stderr {r.stderr!r}")
    r = run(["--id", "1", "--bind", "tcp://127.0.0.1:99999", "--help"])
    check(r.returncode == 2, "--help does not excuse a bad value")
    r = run(["keygen"])
    check(r.returncode == 0, f"keygen: exit status {r.returncode}, stderr {r.stderr!r}")
    keys = r.stdout.split("\n")
    check(len(keys) == 3 and keys[2] == "" and all(len(k) == 40 for k in keys[:2]) and keys[0] != keys[1],
          f"keygen: {r.stdout!r}")
    check(run(["keygen"]).stdout != r.stdout, "keygen: a new key pair every time")


def accepted_arguments():
    # Both spellings of a value, and port 65535 (as a peer: nothing needs to
    # listen there), start a node that answers.
    (port,) = free_ports(1)
    n = Node(BIN, 1, f"tcp://127.0.0.1:{port}", workdir=WORK, heartbeat_ms=10,
             extra=["--peer=tcp://127.0.0.1:65535", "--max-message-bytes=65536", "--quiet"])
    check(n.cmd("help").startswith("commands:"), "a node with --flag=value options answers")
    n.proc.stdin.close()
    check(n.proc.wait(5) == 0, "exit 0 at the end of input")
    # Port 65535 as a bind, when it is free here.
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 65535))
        free = True
    except OSError:
        free = False
    finally:
        s.close()
    if free:
        n = Node(BIN, 2, "tcp://127.0.0.1:65535", workdir=WORK)
        check(n.cmd("help").startswith("commands:"), "--bind tcp://127.0.0.1:65535")
        check(bound_endpoints(n) == ["tcp://127.0.0.1:65535"], "bound to 65535")
        n.kill_hard()
    # Port 0 and * on --bind: any free port, which the node logs.
    for spec in ["0", "*"]:
        n = Node(BIN, 3, f"tcp://127.0.0.1:{spec}", workdir=WORK)
        check(n.cmd("help").startswith("commands:"), f"--bind tcp://127.0.0.1:{spec}")
        (ep,) = bound_endpoints(n)
        got = int(ep.rsplit(":", 1)[1])
        check(ep.startswith("tcp://127.0.0.1:") and 0 < got < 65536, f"bound {ep} for port {spec}")
        n.kill_hard()


def exact_line_limit():
    (port,) = free_ports(1)
    n = Node(BIN, 1, f"tcp://127.0.0.1:{port}", workdir=WORK)
    longest = "add " + "x" * (MAX_LINE - 4)  # exactly MAX_LINE bytes
    check(n.cmd(longest) == "ok", "a line of exactly 65536 bytes is accepted")
    one_more = "add " + "y" * (MAX_LINE - 3)
    reply = n.cmd(one_more)
    check(reply.startswith("error: ") and "65536" in reply, f"a line of 65537 bytes: '{reply[:80]}'")
    check(n.cmd("inc 1") == "ok", "the node answers the line after a refused one")
    # Far longer than any read: still one answer, then the next line runs.
    reply = n.cmd("add " + "z" * (5 * MAX_LINE + 123))
    check(reply.startswith("error: "), f"a 320 KiB line: '{reply[:80]}'")
    check(n.cmd("inc 1") == "ok", "the node still answers")
    # Lines that end across writes are still measured exactly.
    n.proc.stdin.write(b"add " + b"w" * 1000)
    time.sleep(0.1)
    n.proc.stdin.write(b"w" * (MAX_LINE - 1004) + b"\n")
    check(n.read_line() == "ok", "a 65536-byte line in two writes")
    n.proc.stdin.write(b"add " + b"v" * (MAX_LINE - 4))
    time.sleep(0.1)
    n.proc.stdin.write(b"v\ninc 1\n")
    check(n.read_line().startswith("error: "), "a 65537-byte line in two writes")
    check(n.read_line() == "ok", "and the line after it")
    state = n.state()
    check(state["counter"] == 3, f"counter {state['counter']}")
    check(sorted(len(e) for e in state["set"]) == [MAX_LINE - 4, MAX_LINE - 4], "only the accepted lines ran")
    check(n.quit() == 0, "quit")


def last_line_without_newline():
    # Alone: the last line runs and is answered.
    (port,) = free_ports(1)
    n = Node(BIN, 1, f"tcp://127.0.0.1:{port}", workdir=WORK)
    n.proc.stdin.write(b"inc 5\nstate")
    n.proc.stdin.close()
    check(n.read_line() == "ok", "inc 5")
    state = n.read_line()
    check('"counter":5' in state.replace(" ", ""), f"the last line 'state' without a newline: {state!r}")
    check(n.proc.wait(5) == 0, "exit 0 at the end of input")
    # With a peer: the write of the last line reaches it before the node exits.
    pa, pb = free_ports(2)
    ea, eb = f"tcp://127.0.0.1:{pa}", f"tcp://127.0.0.1:{pb}"
    b = Node(BIN, 2, eb, [ea], workdir=WORK)
    a = Node(BIN, 1, ea, [eb], workdir=WORK, gossip_ms=200)
    deadline = time.monotonic() + 10
    while not all(p["reachable"] for p in a.peers() + b.peers()):
        check(time.monotonic() < deadline, "the two nodes never saw each other")
        time.sleep(0.05)
    a.ok("add first")  # starts a gossip interval: the next delta must wait for it
    a.proc.stdin.write(b"add z")
    a.proc.stdin.close()
    check(a.read_line() == "ok", "'add z' without a newline is answered")
    check(a.proc.wait(10) == 0, "exit 0 at the end of input")
    deadline = time.monotonic() + 5
    while "z" not in b.state()["set"]:
        check(time.monotonic() < deadline, f"the peer never got z: {b.state()}")
        time.sleep(0.05)
    check(b.quit() == 0, "quit")


def input_ending_before_peers_are_heard():
    # The whole input is written and closed at once: the node reaches the end
    # of its input before its first heartbeat to the peer was answered.
    pa, pb = free_ports(2)
    ea, eb = f"tcp://127.0.0.1:{pa}", f"tcp://127.0.0.1:{pb}"
    b = Node(BIN, 2, eb, [ea], workdir=WORK)
    a = Node(BIN, 1, ea, [eb], workdir=WORK)
    a.proc.stdin.write(b"inc 3\nadd z")
    a.proc.stdin.close()
    check(a.read_line() == "ok", "inc 3")
    check(a.read_line() == "ok", "'add z' without a newline")
    check(a.proc.wait(15) == 0, "exit 0 at the end of input")
    deadline = time.monotonic() + 5
    while True:
        st = b.state()
        if "z" in st["set"] and st["counter"] == 3:
            break
        check(time.monotonic() < deadline, f"the peer never got the writes of input that ended at once: {st}")
        time.sleep(0.05)
    check(b.quit() == 0, "quit")


def overflow_and_no_change():
    (port,) = free_ports(1)
    n = Node(BIN, 1, f"tcp://127.0.0.1:{port}", workdir=WORK)
    imax, umax = (1 << 63) - 1, (1 << 64) - 1

    def refused(line, what):
        reply = n.cmd(line)
        check(reply.startswith("error: ") and "overflow" in reply, f"{what}: '{line}' answered {reply!r}")

    check(n.cmd(f"inc {imax}") == "ok", "inc INT64_MAX")
    refused("inc 1", "the counter at INT64_MAX")
    refused(f"inc {umax}", "the counter at INT64_MAX")
    check(n.state()["counter"] == imax, "an overflowing inc changed nothing")
    check(n.cmd(f"dec {imax}") == "ok", "dec back to 0")
    check(n.cmd(f"dec {imax}") == "ok", "dec to -INT64_MAX")
    check(n.cmd("dec 1") == "ok", "dec to INT64_MIN")
    refused("dec 1", "the counter at INT64_MIN")
    check(n.state()["counter"] == -imax - 1, f"an overflowing dec changed nothing: {n.state()['counter']}")
    check(n.cmd(f"stock-add {umax}") == "ok", "stock-add UINT64_MAX")
    refused("stock-add 1", "the stock at UINT64_MAX")
    st = n.state()
    check(st["stock"] == umax and n.cmd("rights") == str(umax), f"an overflowing stock-add changed nothing: {st}")
    reply = n.cmd(f"sell {umax}")
    check(reply == "ok", f"sell everything: {reply!r}")
    reply = n.cmd("sell 1")
    check(reply.startswith("error: not enough"), f"sell past the rights: {reply!r}")
    check(n.state()["stock"] == 0, "a refused sell changed nothing")
    # Mutations that change nothing say so.
    for line in ["rm never-seen", "del no-such-key", "inc 0", "dec 0", "stock-add 0", "sell 0"]:
        reply = n.cmd(line)
        check(reply == "ok (no change)", f"'{line}' answered {reply!r}, expected 'ok (no change)'")
    check(n.cmd("add x") == "ok" and n.cmd("rm x") == "ok", "add and rm of a present element: ok")
    check(n.cmd("rm x") == "ok (no change)", "rm of an element already removed")
    check("ok (no change)" in n.cmd("help"), "help documents 'ok (no change)'")
    check(n.quit() == 0, "quit")


def main():
    refused_arguments()
    for section in (help_and_keygen, accepted_arguments, exact_line_limit, last_line_without_newline,
                    input_ending_before_peers_are_heard, overflow_and_no_change):
        try:
            section()
        except Failure as e:
            failures.append(f"{section.__name__}: {e}")
    if failures:
        raise Failure(f"{len(failures)} failure(s):\n" + "\n".join(failures))
    print("ok")


if __name__ == "__main__":
    main_wrapper(main)
