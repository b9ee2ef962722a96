#!/usr/bin/env python3
"""A hostile peer against a real converge-node, over a hand-made ZMTP 3.0
NULL connection (no pyzmq needed).

usage: hostile_test.py PATH/TO/converge-node amplification|guard|memory

amplification: acks carrying fresh sessions, deltas announcing fresh
sessions, acks naming huge `to` or parts never sent, and garbage. Before
the fix, 100 acks with fresh sessions (3.3 KB) earned 2.18 MB. Now what the
node sends back obeys the bound of "Amplification" in replicator.hpp:
out <= 4 x in + (1 + T / I) x W, where W is one state transfer and I the
node's state-transfer interval (1 s); and a burst shorter than I earns no
state transfer at all beyond the one the peer was owed on arrival.
"""

import os
import random
import select
import subprocess
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import (ZMTP_DEALER_READY, ZMTP_NULL_GREETING, Failure, Node, check, envelope,  # noqa: E402
                     free_ports, main_wrapper, zmtp_frame)

BIN = os.path.abspath(sys.argv[1])
WORK = tempfile.mkdtemp(prefix="converge-hostile-")
SEED = int(os.environ.get("CONVERGE_SEED", "20261201"), 0)


def log(msg):
    print(msg, flush=True)


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(b, pos):
    v, shift = 0, 0
    while True:
        c = b[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, pos


def ack(session, acked_session, to, whole=False, part=None):
    b0 = 0x10 | 2 | (0x04 if whole else 0) | (0x08 if part is not None else 0)
    out = bytes([b0]) + varint(session) + varint(acked_session) + varint(to)
    return out + (varint(part) if part is not None else b"")


def delta(session, to, payload, whole=False):
    return bytes([0x10 | 1 | (0x04 if whole else 0)]) + varint(session) + varint(to) + payload


class Peer:
    """A ZMTP NULL DEALER that counts every byte each way and parses the
    node's frames, to learn its session and interval ends."""

    def __init__(self, port, sender):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sender = sender
        self.sent = 0
        self.received = 0
        self.buf = b""
        self.greeted = False
        self.frames = []
        self.session = None
        self.last_to = 0
        self.whole_frames = 0  # data frames carrying (part of) a state transfer
        self.small_payload = None
        self.ready = False
        self._send(ZMTP_NULL_GREETING + zmtp_frame(ZMTP_DEALER_READY, command=True))
        # libzmq fails the handshake of a peer that sends messages before the
        # node's greeting and READY arrived.
        deadline = time.monotonic() + 5
        while not self.ready:
            check(time.monotonic() < deadline, "no READY from the node")
            self.pump(0.05)

    def _send(self, data):
        self.s.sendall(data)
        self.sent += len(data)

    def send_message(self, body):
        self._send(zmtp_frame(envelope(2, self.sender), more=True) + zmtp_frame(body))

    def hello(self):
        self._send(zmtp_frame(envelope(0, self.sender)))

    def pump(self, seconds):
        """Reads for `seconds`, parsing what arrives."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                continue
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise Failure("the node closed the connection")
            self.received += len(chunk)
            self.buf += chunk
            self._parse()

    def _parse(self):
        if not self.greeted:
            if len(self.buf) < 64:
                return
            self.buf = self.buf[64:]
            self.greeted = True
        while len(self.buf) >= 2:
            flags = self.buf[0]
            if flags & 2:
                if len(self.buf) < 9:
                    return
                size, head = struct.unpack(">Q", self.buf[1:9])[0], 9
            else:
                size, head = self.buf[1], 2
            if len(self.buf) < head + size:
                return
            body, self.buf = self.buf[head:head + size], self.buf[head + size:]
            if flags & 4:
                if body.startswith(b"\x05READY"):
                    self.ready = True
                if body.startswith(b"\x04PING"):  # ZMTP heartbeat: answer, or the node hangs up
                    self._send(zmtp_frame(b"\x04PONG" + body[7:], command=True))
                continue  # a command (READY, PING)
            self.frames.append(body)
            if not flags & 1:
                self._message(self.frames)
                self.frames = []

    def _message(self, frames):
        if len(frames) != 2 or len(frames[0]) != 20 or frames[0][3] != 2:
            return  # hello_ack, or not data
        m = frames[1]
        session, pos = read_varint(m, 1)
        self.session = session
        if m[0] & 0x03 == 1:  # a delta: remember its end
            self.last_to, pos = read_varint(m, pos)
            if m[0] & 0x04:
                self.whole_frames += 1
            elif not m[0] & 0x08:
                self.small_payload = m[pos:]  # a valid delta of the node's state, to replay


def node_stats(n, peer):
    st = n.stats()
    return st["peers"].get(str(peer), {}), st


def amplification():
    rng = random.Random(SEED)
    log(f"seed {SEED} (CONVERGE_SEED reproduces it)")
    (port,) = free_ports(1)
    n = Node(BIN, 1, f"tcp://127.0.0.1:{port}", workdir=WORK, gossip_ms=20)
    for i in range(400):
        n.send(f"add element-{i:05d}-{'x' * 24}")
    for i in range(400):
        check(n.read_line() == "ok", "add")
    interval = 1.0  # the node's default state-transfer interval
    p = Peer(port, 50)
    p.hello()
    p.pump(1.5)  # admission: the node owes the new peer its state
    check(p.session is not None and p.whole_frames >= 1, "the new peer got a state transfer")
    w = p.received
    log(f"state transfer to a new peer: {w} bytes (greeting included)")
    # The peer acknowledges it properly, then attacks.
    p.send_message(ack(5, p.session, p.last_to, whole=True))
    p.pump(0.2)
    n.ok("inc 1")  # a small delta interval: its payload, replayed, decodes
    p.pump(0.3)
    check(p.small_payload is not None, "the peer got the delta of 'inc 1'")
    p.send_message(ack(5, p.session, p.last_to))
    p.pump(0.1)
    payload = p.small_payload
    in0, out0, t0 = p.sent, p.received, time.monotonic()
    bursts = 0
    for rnd in range(6):
        for i in range(100):
            k = rng.randrange(6)
            if k == 0:  # an ack with a fresh session, echoing the node's
                p.send_message(ack(rng.getrandbits(60), p.session, p.last_to, whole=True))
            elif k == 1:  # an ack with a fresh session, of another life
                p.send_message(ack(rng.getrandbits(60), rng.getrandbits(64), p.last_to, whole=True))
            elif k == 2:  # an ack naming a huge `to`, or a part never sent
                p.send_message(ack(5, p.session, rng.getrandbits(63), part=rng.getrandbits(20)))
            elif k == 3:  # a delta announcing a fresh session
                p.send_message(delta(rng.getrandbits(60), rng.getrandbits(10), payload, whole=rng.random() < 0.5))
            elif k == 4:  # garbage in a data frame
                p.send_message(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40))))
            else:  # a multipart delta part with a fresh session
                body = bytes([0x10 | 1 | 0x08]) + varint(rng.getrandbits(60)) + varint(3) + varint(
                    rng.randrange(4)) + varint(4) + payload
                p.send_message(body)
        bursts += 1
        p.pump(0.3 if rnd < 5 else 2.5)  # the last pause lets one deferred transfer go
    elapsed = time.monotonic() - t0
    din, dout = p.sent - in0, p.received - out0
    bound = 4 * din + (1 + elapsed / interval) * w
    peer, st = node_stats(n, 50)
    log(f"hostile: {din} bytes in, {dout} out ({dout / din:.2f}x) over {elapsed:.2f} s; bound {bound:.0f}; "
        f"state transfers sent {peer.get('state_transfers_sent')}, deferred {peer.get('state_transfers_deferred')}, "
        f"session resets {peer.get('session_resets')}, stale {peer.get('stale_dropped')}, "
        f"malformed {peer.get('malformed_dropped')}")
    check(dout <= bound, f"bytes out {dout} exceed 4 x in + (1 + T/I) x W = {bound:.0f}")
    check(peer.get("state_transfers_sent", 0) <= 2 + elapsed / interval + 1,
          f"more than one state transfer per interval: {peer}")
    check(peer.get("state_transfers_deferred", 0) >= 1, f"nothing deferred: {peer}")
    # The same attack with only acks of fresh sessions, in a burst shorter
    # than the interval right after a transfer: at most 4x, nothing else.
    p.pump(interval + 0.2)
    p.send_message(ack(5, p.session, p.last_to, whole=True))
    p.pump(0.1)
    in1, out1 = p.sent, p.received
    for _ in range(100):
        p.send_message(ack(rng.getrandbits(60), rng.getrandbits(64), p.last_to, whole=True))
    p.pump(0.5)
    din, dout = p.sent - in1, p.received - out1
    log(f"100 acks of another life with fresh sessions: {din} bytes in, {dout} out")
    check(dout <= 4 * din, f"100 stale acks earned {dout} bytes for {din}")
    check(n.cmd("help").startswith("commands:"), "the node still answers")
    p.s.close()
    check(n.quit() == 0, "clean exit")


def memory():
    """Not a test: floods a node with what libzmq buffers before the node can
    see it (see "Memory" in zmq_node.hpp) and prints the node's RSS."""
    client = os.path.join(os.path.dirname(BIN), "..", "tests", "transport", "converge-hostile-client")
    check(os.path.exists(client), f"no {client}: build the target converge-hostile-client")
    for extra in (["frames", "--frames", "1000", "--frame-bytes", str(1 << 20), "--seconds", "5"],
                  ["half", "--connections", "10000", "--frames", "1", "--frame-bytes", "4096"],
                  ["half", "--connections", "100", "--frames", "2", "--frame-bytes", str(1 << 20)],
                  ["half", "--connections", "1000", "--frames", "1", "--frame-bytes", str(1 << 20)]):
        (port,) = free_ports(1)  # a fresh node each time: freed memory stays in the allocator
        n = Node(BIN, 1, f"tcp://127.0.0.1:{port}", workdir=WORK)
        time.sleep(0.3)
        args = [extra[0], f"tcp://127.0.0.1:{port}", "--pid", str(n.proc.pid)] + extra[1:]
        r = subprocess.run([client] + args, capture_output=True, text=True, timeout=120)
        peak = max((int(line.split('"node_rss_kib":')[1].split(",")[0]) for line in r.stdout.splitlines()
                    if "node_rss_kib" in line), default=0)
        log(f"{' '.join(extra)}: node peak RSS {peak} KiB; last report {r.stdout.strip().splitlines()[-1:]}")
        check(n.cmd("help").startswith("commands:"), "the node still answers")
        n.kill_hard()


def guard():
    """The inbound guard bounds what a connection can make the node hold:
    a flood of 1000-frame messages of 1 MiB each gets its connection closed
    at the third frame, and the node's RSS stays within one connection's
    bound ((receive_hwm + 1) x message + buffers, about 18 MB; before the
    guard, the same flood took the node to 1 GB); connections beyond 256
    are refused."""
    client = os.path.join(os.path.dirname(BIN), "..", "tests", "transport", "converge-hostile-client")
    check(os.path.exists(client), f"no {client}: build the target converge-hostile-client")
    (port,) = free_ports(1)
    n = Node(BIN, 1, f"tcp://127.0.0.1:{port}", workdir=WORK)
    time.sleep(0.3)
    base = int(open(f"/proc/{n.proc.pid}/status").read().split("VmRSS:")[1].split()[0])
    r = subprocess.run([client, "frames", f"tcp://127.0.0.1:{port}", "--pid", str(n.proc.pid), "--frames", "1000",
                        "--frame-bytes", str(1 << 20), "--seconds", "4"], capture_output=True, text=True, timeout=60)
    peak = max((int(line.split('"node_rss_kib":')[1].split(",")[0]) for line in r.stdout.splitlines()
                if "node_rss_kib" in line), default=0)
    t = n.stats()["transport"]
    log(f"1000-frame messages of 1 MiB: node RSS {base} KiB before, peak {peak} KiB; guard closed {t['guard_closed']}")
    check(t["guard_closed"] >= 1, f"the guard closed nothing: {t}")
    check(peak - base < 40 * 1024, f"the node grew by {peak - base} KiB")
    r = subprocess.run([client, "half", f"tcp://127.0.0.1:{port}", "--pid", str(n.proc.pid), "--connections", "300",
                        "--frames", "1", "--frame-bytes", "4096"], capture_output=True, text=True, timeout=60)
    t = n.stats()["transport"]
    log(f"300 half-finished messages: {r.stdout.strip().splitlines()[-1:]}; refused {t['guard_connections_refused']}")
    check(t["guard_connections_refused"] >= 40, f"connections beyond 256 were not refused: {t}")
    check(n.cmd("help").startswith("commands:"), "the node still answers")
    check(n.quit() == 0, "clean exit")


SCENARIOS = {"amplification": amplification, "memory": memory, "guard": guard}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        print(__doc__)
        sys.exit(2)
    main_wrapper(SCENARIOS[sys.argv[2]])
