"""Drives converge-node processes for the transport tests and the benchmark.

Standard library only. Every wait is bounded; every process started is
killed at exit (atexit), whatever happens.
"""

import atexit
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SKIP = 77  # meson's "skipped" exit status

_live = []


def _cleanup():
    for p in list(_live):
        p.kill_hard()


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def free_ports(n, host="127.0.0.1"):
    """n distinct tcp ports free right now on host."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind((host, 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Node:
    """One converge-node process with its stdin and stdout as pipes."""

    def __init__(self, binary, node_id, bind, peers=(), gossip_ms=20, heartbeat_ms=200, extra=(), prefix=(),
                 workdir=None, name=None):
        self.id = node_id
        self.bind = bind
        self.name = name or f"n{node_id}"
        self.args = list(prefix) + [binary, "--id", str(node_id), "--bind", bind,
                                    "--gossip-ms", str(gossip_ms), "--heartbeat-ms", str(heartbeat_ms)]
        for p in peers:
            self.args += ["--peer", p]
        self.args += list(extra)
        self.workdir = workdir or tempfile.gettempdir()
        self.proc = None
        self.stopped = False
        self.start()

    def start(self):
        self.stderr_path = os.path.join(self.workdir, f"{self.name}.{time.monotonic_ns()}.stderr")
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     bufsize=0)
        self.buf = b""
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.stopped = False
        _live.append(self)

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")

    def read_line(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"{self.name}: no answer within {timeout}s (stderr: {self.stderr_tail()})")
            if not self.sel.select(left):
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise Failure(f"{self.name}: exited (status {self.proc.poll()}); stderr: {self.stderr_tail()}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def cmd(self, line, timeout=10.0):
        self.send(line)
        return self.read_line(timeout)

    def ok(self, line):
        reply = self.cmd(line)
        check(reply == "ok", f"{self.name}: '{line}' answered '{reply}'")

    def state(self):
        return json.loads(self.cmd("state"))

    def stats(self):
        return json.loads(self.cmd("stats"))

    def peers(self):
        return json.loads(self.cmd("peers"))

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def kill_hard(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self in _live:
            _live.remove(self)

    def quit(self, timeout=5.0):
        """Asks the node to quit; returns its exit status."""
        reply = self.cmd("quit")
        check(reply == "ok", f"{self.name}: quit answered {reply}")
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure(f"{self.name}: did not exit within {timeout}s of quit")
        if self in _live:
            _live.remove(self)
        return rc

    def stderr_tail(self, n=600):
        try:
            with open(self.stderr_path, "rb") as f:
                data = f.read()
            return data[-n:].decode(errors="replace")
        except OSError:
            return "?"


def wait_converged(nodes, timeout=20.0, pred=None):
    """Polls `state` on every node until all are equal (and pred(state) holds);
    returns (state, seconds)."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        states = [n.state() for n in nodes]
        last = states
        if all(s == states[0] for s in states) and (pred is None or pred(states[0])):
            return states[0], time.monotonic() - start
        time.sleep(0.01)
    raise Failure(f"no convergence within {timeout}s: " + "; ".join(
        f"{n.name}={json.dumps(s)}" for n, s in zip(nodes, last or [])))


def mesh(binary, ids, ports, host="127.0.0.1", workdir=None, **kw):
    """Nodes with ids, each bound to its port and peering with every other."""
    eps = [f"tcp://{host}:{p}" for p in ports]
    nodes = []
    for i, node_id in enumerate(ids):
        peers = [e for j, e in enumerate(eps) if j != i]
        nodes.append(Node(binary, node_id, eps[i], peers, workdir=workdir, **kw))
    return nodes


def main_wrapper(fn):
    try:
        rc = fn()
        sys.exit(0 if rc is None else rc)
    except Failure as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)


def zmtp_frame(body, more=False, command=False):
    """One ZMTP 3 frame (or command) carrying `body`."""
    flags = (1 if more else 0) | (4 if command else 0)
    if len(body) > 255:
        return bytes([flags | 2]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


# A ZMTP 3.0 greeting for the NULL mechanism (as client), and a DEALER's READY.
ZMTP_NULL_GREETING = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL" + b"\x00" * 16 + b"\x00" + b"\x00" * 31
ZMTP_DEALER_READY = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", 6) + b"DEALER"


def recv_exactly(s, n):
    """n bytes from socket s (raises on EOF or its timeout)."""
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(out)} of {n} bytes")
        out += chunk
    return out


def zmtp_dealer(port):
    """A hand-made ZMTP 3.0 NULL DEALER connection to 127.0.0.1:port, returned
    once the handshake is complete: the node's greeting and its READY read.
    (libzmq holds its READY until the node's ZAP handler has answered, and a
    message frame that arrives before then is a protocol error to it, which
    closes the connection: on a loaded machine, sending at once lost them.)"""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(ZMTP_NULL_GREETING + zmtp_frame(ZMTP_DEALER_READY, command=True))
    recv_exactly(s, 64)  # the node's greeting
    flags = recv_exactly(s, 1)[0]
    size = struct.unpack(">Q", recv_exactly(s, 8))[0] if flags & 2 else recv_exactly(s, 1)[0]
    body = recv_exactly(s, size)
    if not (flags & 4 and body.startswith(b"\x05READY")):
        raise ConnectionError(f"expected the node's READY, got flags {flags:#x} and {body[:16]!r}")
    return s


def envelope(kind, sender, replica=7):
    """The transport envelope (detail/envelope.hpp): kind, sender id, replica id."""
    return b"CV\x01" + bytes([kind]) + struct.pack("<QQ", sender, replica)
