"""converge-node membership with real processes on loopback.

usage: membership_test.py CONVERGE_NODE SCENARIO
scenarios:
  join     16 nodes, each started with --join at one seed only: every member
           list has all 16 up (the time is measured and printed; target 3 s)
  crash    kill -9 of a member: down in every list within the suspicion
           timeout + 2 s; a member SIGSTOPped for less than that is never
           marked down
  blackout every node loses every link (the node command `isolate MS`, a
           fault injection: it drops all traffic in and out and reports
           every link lost to the views), then the links come back: one
           island again (every list all up, the active views connected)
           within 10 s
  leave    `leave`: the others show the node leaving, then removed, never
           down; its stock rights go to a survivor; it exits 0
  restart  a durable node killed and restarted keeps its replica and comes
           back up at a higher incarnation; a plain one comes back as a new replica
  curve    members join over CURVE (records carry the public keys; the
           allow-list stays static); a key not in it never joins
  retire   4 nodes (--retire-down-ms 5000) count on a counter, a stock and a
           set; one leaves, one is killed -9: both are retired (their ids
           leave every node's metadata) while every value stays the same at
           every sample; the killed node restarted with its old --data-dir
           finds its replica retired, sets the directory aside and comes back
           as a new replica, changing no value; a durable survivor restarted
           alone keeps the values and its record of retired replicas
  seeds    a node alone lists only itself; --join to an unreachable seed keeps
           retrying (rate-limited lines on stderr) and joins once the seed
           runs; DNS names and --seed-command; bad values are usage errors;
           garbage membership messages change nothing

Timeouts: every node runs with the default --heartbeat-ms 500, so T (the
probe period) is 500 ms and the suspicion timeout for 16 members, once two others confirm,
is 4 x log10(16) x T = 2.41 s (see converge-node --help).

Every wait polls with a deadline; nothing asserts on a fixed sleep.
"""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import (Failure, Node, check, envelope, free_ports, main_wrapper, zmtp_dealer,  # noqa: E402
                     zmtp_frame)

BIN = os.path.abspath(sys.argv[1])
WORK = tempfile.mkdtemp(prefix="converge-membership-")
HEARTBEAT_MS = 500  # the default
T = HEARTBEAT_MS / 1000.0  # the probe period, seconds


def log(msg):
    print(msg, flush=True)


def suspicion_timeout(n):
    """The documented suspicion timeout once confirmed (seconds)."""
    return 4 * max(1.0, math.log10(n)) * T


def members(node):
    return {m["id"]: m for m in json.loads(node.cmd("members"))}


def statuses(node):
    return {i: m["status"] for i, m in members(node).items()}


def start(node_id, port, join=(), extra=()):
    args = []
    for j in join:
        args += ["--join", j]
    return Node(BIN, node_id, f"tcp://127.0.0.1:{port}", heartbeat_ms=HEARTBEAT_MS, workdir=WORK,
                extra=args + list(extra))


def poll(what, timeout, pred, every=0.02):
    """Polls pred() until it returns a true value; returns (value, seconds)."""
    begin = time.monotonic()
    last = None
    while True:
        last = pred()
        if last:
            return last, time.monotonic() - begin
        if time.monotonic() - begin > timeout:
            raise Failure(f"{what}: not within {timeout:.1f}s")
        time.sleep(every)


def cluster(n):
    """n nodes, the first alone, every other started with --join at it only.
    Returns (nodes, seconds from the last start until every list had all up)."""
    ports = free_ports(n)
    seed = f"tcp://127.0.0.1:{ports[0]}"
    first = time.monotonic()
    nodes = [start(1, ports[0])]
    for i in range(1, n):
        nodes.append(start(i + 1, ports[i], join=[seed]))
    started = time.monotonic()
    ids = set(range(1, n + 1))

    def all_up():
        for node in nodes:
            s = statuses(node)
            if set(s) != ids or any(v != "up" for v in s.values()):
                return False
        return True

    try:
        poll(f"all {n} up in every member list", 30, all_up)
    except Failure:
        raise Failure("not all up: " + "; ".join(f"{x.name}: {statuses(x)}" for x in nodes))
    cluster.since_first = time.monotonic() - first
    return nodes, time.monotonic() - started


def stop_all(nodes):
    for node in nodes:
        node.kill_hard()


def join_test():
    nodes, took = cluster(16)
    links = [sum(1 for m in members(x).values() if m["active"]) for x in nodes]
    log(f"16 nodes joined through one seed: all 16 up in every member list {took:.2f}s after the last "
        f"start, {cluster.since_first:.2f}s after the first (target 3 s); active view sizes "
        f"{min(links)}-{max(links)}")
    check(cluster.since_first <= 3.0, f"took {cluster.since_first:.2f}s from the first start, more than 3 s")
    check(max(links) <= 16, "at most 16 links")
    stop_all(nodes)


def down_everywhere(nodes, victim_id):
    return all(statuses(x).get(victim_id) == "down" for x in nodes)


def crash_test():
    nodes, _ = cluster(16)
    bound = suspicion_timeout(16) + 2.0
    # A pause well within the timeout: no member may mark it down, ever.
    paused = nodes[5]
    downs_before = {x.id: x.stats()["transport"]["members_down"] for x in nodes}
    pause_for = suspicion_timeout(16) - T - 0.4
    paused.pause()
    time.sleep(pause_for)  # the fault itself, not an assertion
    paused.resume()
    # Watch for a full suspicion cycle after the resume: a false down would show up as a count.
    end = time.monotonic() + bound
    while time.monotonic() < end:
        for x in nodes:
            check(statuses(x).get(paused.id) != "down", f"{x.name} marked the paused node down")
        time.sleep(0.1)
    downs_after = {x.id: x.stats()["transport"]["members_down"] for x in nodes}
    check(downs_after == downs_before, f"down verdicts during the pause: {downs_before} -> {downs_after}")
    log(f"SIGSTOP for {pause_for:.2f}s (the suspicion timeout is {suspicion_timeout(16):.2f}s): never marked "
        f"down by any of 15 members")

    victim = nodes[7]
    survivors = [x for x in nodes if x is not victim]
    degree = sum(1 for x in survivors if members(x)[victim.id]["active"])
    awareness = [x.stats()["membership"]["awareness"] for x in survivors]
    os.kill(victim.proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    victim.proc.wait(5)
    # When each survivor was first seen to hold it down (each is asked in
    # turn; one that holds it down is not asked again, so the figure is not
    # a whole round of questions late).
    first_down = {}

    def all_down():
        for x in survivors:
            if x.id not in first_down and statuses(x).get(victim.id) == "down":
                first_down[x.id] = time.monotonic() - killed
        return len(first_down) == len(survivors)

    # Not faster: on a loaded 2-core machine the questions take CPU from the nodes.
    poll("the killed node down everywhere", 30, all_down, every=0.1)
    took = max(first_down.values())
    firsts = sorted(first_down.values())
    log(f"kill -9 of a node with {degree} links: down in all 15 member lists {took:.2f}s after the kill "
        f"(first {firsts[0]:.2f}s, median {firsts[len(firsts) // 2]:.2f}s; bound: suspicion timeout "
        f"{suspicion_timeout(16):.2f}s + 2 s = {bound:.2f}s); awareness at the kill {awareness}")
    check(took <= bound, f"down everywhere after {took:.2f}s, more than {bound:.2f}s")
    for x in survivors:
        active = [m["id"] for m in members(x).values() if m["active"]]
        check(victim.id not in active, f"{x.name} still links to the crashed node")
    stop_all(nodes)


def connected(nodes):
    """True when every list has everyone up and the active views connect everyone."""
    ids = {x.id for x in nodes}
    adj = {i: set() for i in ids}
    for x in nodes:
        ms = members(x)
        if set(ms) != ids or any(m["status"] != "up" for m in ms.values()):
            return False
        for i, m in ms.items():
            if m["active"] and i in ids:
                adj[x.id].add(i)
                adj[i].add(x.id)
    seen, stack = {nodes[0].id}, [nodes[0].id]
    while stack:
        for j in adj[stack.pop()]:
            if j not in seen:
                seen.add(j)
                stack.append(j)
    return seen == ids


def blackout_test():
    nodes, _ = cluster(16)
    # 1. Every link lost, reported by the transport (the views drop every
    # link at once), for longer than the suspicion timeout.
    isolate_ms = 4000
    for x in nodes:
        check(x.cmd(f"isolate {isolate_ms}") == "ok", "isolate answered ok")
    back = time.monotonic() + isolate_ms / 1000.0  # the last node's links return then
    alone = [x for x in nodes if not any(m["active"] for m in members(x).values())]
    check(len(alone) == len(nodes), f"every link lost: {len(nodes) - len(alone)} nodes still had links")
    while time.monotonic() < back:
        time.sleep(0.05)
    _, took = poll("one island again", 30, lambda: connected(nodes), every=0.05)
    log(f"every node lost every link for {isolate_ms / 1000:.1f}s (reported): one island again (all up "
        f"everywhere, active views connected) {took:.2f}s after the links returned (target 10 s)")
    check(took <= 10.0, f"re-merged after {took:.2f}s")
    # 2. Every link silently lost for longer than the longest suspicion
    # (6 x the timeout: no member can confirm another's suspicion): every
    # node declares its neighbours down and ends up an island.
    downs_before = sum(x.stats()["transport"]["members_down"] for x in nodes)
    isolate_ms = int((6 * suspicion_timeout(16) + 3) * 1000)
    for x in nodes:
        check(x.cmd(f"isolate {isolate_ms} silent") == "ok", "isolate silent answered ok")
    back = time.monotonic() + isolate_ms / 1000.0
    while time.monotonic() < back:
        time.sleep(0.05)
    downs = sum(x.stats()["transport"]["members_down"] for x in nodes) - downs_before
    alone = sum(1 for x in nodes if not any(m["active"] for m in members(x).values()))
    check(downs >= len(nodes), f"islands: only {downs} down verdicts during the silent loss")
    _, took = poll("one island again after the silent loss", 30, lambda: connected(nodes), every=0.05)
    log(f"every link silently lost for {isolate_ms / 1000:.1f}s ({downs} down verdicts, {alone} nodes without "
        f"a link): one island again {took:.2f}s after the links returned (target 10 s)")
    check(took <= 10.0, f"re-merged after {took:.2f}s")
    stop_all(nodes)


def leave_test():
    nodes, _ = cluster(6)
    leaver = nodes[3]
    leaver.ok("stock-add 10")
    others = [x for x in nodes if x is not leaver]
    poll("the stock everywhere", 10, lambda: all(x.state()["stock"] == 10 for x in others))
    check(leaver.cmd("leave") == "ok", "leave answered ok")
    check(leaver.proc.wait(15) == 0, "leave exits 0")
    seen = {x.id: set() for x in others}

    def removed_everywhere():
        for x in others:
            s = statuses(x).get(leaver.id)
            seen[x.id].add(s)
            check(s != "down", f"{x.name} shows the leaving node down")
        return all(statuses(x).get(leaver.id) == "removed" for x in others)

    _, took = poll("removed everywhere", 15, removed_everywhere, every=0.05)
    # Its rights are a survivor's now: all ten units can still be sold.
    rights, _ = poll("the rights handed over", 10,
                     lambda: (lambda r: r if sum(r) == 10 else None)([int(x.cmd("rights")) for x in others]))
    log(f"leave: exit 0, removed (never down) in all 5 lists {took:.2f}s after it exited; statuses seen "
        f"{sorted(set().union(*seen.values()))}; its 10 stock rights now held by a survivor {rights}")
    stop_all(nodes)


def restart_test():
    ports = free_ports(4)
    seed = f"tcp://127.0.0.1:{ports[0]}"
    data = os.path.join(WORK, "n3")
    nodes = [start(1, ports[0]), start(2, ports[1], join=[seed]),
             start(3, ports[2], join=[seed], extra=["--data-dir", data]), start(4, ports[3], join=[seed])]
    ids = {1, 2, 3, 4}
    poll("all up", 15, lambda: all(set(statuses(x)) == ids and set(statuses(x).values()) == {"up"} for x in nodes))
    durable = nodes[2]
    before = members(nodes[0])[3]
    os.kill(durable.proc.pid, signal.SIGKILL)
    durable.proc.wait(5)
    others = [x for x in nodes if x is not durable]
    poll("the durable node down", 60, lambda: all(statuses(x).get(3) == "down" for x in others), every=0.05)
    durable.start()  # the same --data-dir: the same replica, a higher incarnation
    _, took = poll("the restarted node up again", 15,
                   lambda: all(members(x)[3]["status"] == "up" and members(x)[3]["incarnation"] >
                               before["incarnation"] for x in nodes))
    after = members(nodes[0])[3]
    check(after["replica"] == before["replica"], f"a durable restart changed the replica: {before} -> {after}")
    log(f"durable restart after kill -9: same replica {after['replica']}, incarnation {before['incarnation']} -> "
        f"{after['incarnation']}, up everywhere {took:.2f}s after the restart")
    # Without --data-dir a restart is a new replica (new dots), under the same node id.
    plain = nodes[3]
    old = members(nodes[0])[4]
    plain.kill_hard()
    plain.start()
    poll("the plain node back with a new replica", 15,
         lambda: all(members(x)[4]["status"] == "up" and members(x)[4]["replica"] != old["replica"]
                     for x in nodes))
    log("a restart without --data-dir: a new replica id under the same node id, up everywhere")
    stop_all(nodes)


def keygen():
    out = subprocess.run([BIN, "keygen"], capture_output=True, text=True, timeout=10)
    check(out.returncode == 0, "keygen")
    return out.stdout.split()


def curve_test():
    ports = free_ports(4)
    keys = {i: keygen() for i in (1, 2, 3, 4)}
    for i, (pub, sec) in keys.items():
        with open(os.path.join(WORK, f"k{i}"), "w") as f:
            f.write(f"{pub}\n{sec}\n")
    with open(os.path.join(WORK, "allow"), "w") as f:  # node 4's key is not allowed
        for i in (1, 2, 3):
            f.write(f"{keys[i][0]} {i} tcp://127.0.0.1:{ports[i - 1]}\n")
    seed = f"tcp://127.0.0.1:{ports[0]}"

    def curve(i):
        return ["--curve-key", os.path.join(WORK, f"k{i}"), "--curve-allow", os.path.join(WORK, "allow")]

    nodes = [start(1, ports[0], extra=curve(1)), start(2, ports[1], join=[seed], extra=curve(2)),
             start(3, ports[2], join=[seed], extra=curve(3))]
    intruder = start(4, ports[3], join=[seed], extra=curve(4))
    poll("CURVE members up", 15,
         lambda: all(set(statuses(x)) == {1, 2, 3} and set(statuses(x).values()) == {"up"} for x in nodes))
    for x in nodes:
        ms = members(x)
        for i in (1, 2, 3):
            check(ms[i]["curve_public_key"] == keys[i][0], f"{x.name}: member {i} lacks its CURVE key")
    nodes[1].ok("add over-curve")
    poll("replicated over CURVE", 10, lambda: all("over-curve" in x.state()["set"] for x in nodes))
    check(set(statuses(intruder)) == {4}, f"an unlisted key joined: {statuses(intruder)}")
    log("CURVE: 3 members joined through one seed, each record with its public key; an unlisted key never joins")
    stop_all(nodes + [intruder])


def seeds_test():
    # Bad values are usage errors (one line, exit 2).
    for args in (["--id", "1", "--bind", "tcp://127.0.0.1:0", "--join", "nonsense"],
                 ["--id", "1", "--bind", "tcp://127.0.0.1:0", "--join", "tcp://*:5"],
                 ["--id", "1", "--bind", "tcp://127.0.0.1:0", "--seed-command", " "],
                 ["--id", "1", "--peer", "tcp://127.0.0.1:5", "--join", "tcp://127.0.0.1:6"],
                 ["--id", "1", "--bind", "tcp://127.0.0.1:0", "--advertise", "tcp://h"],
                 ["--id", "1", "--bind", "tcp://127.0.0.1:0", "--join", "tcp://127.0.0.1:6",
                  "--join", "tcp://127.0.0.1:6"]):
        out = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        check(out.returncode == 2 and out.stderr.count("\n") == 1, f"{args}: {out.returncode} {out.stderr!r}")

    # A wildcard bind advertises the loopback address; --advertise overrides it.
    (wild,) = free_ports(1)
    w = Node(BIN, 7, f"tcp://*:{wild}", heartbeat_ms=HEARTBEAT_MS, workdir=WORK)
    check(members(w)[7]["endpoints"] == [f"tcp://127.0.0.1:{wild}"], f"wildcard bind advertises {members(w)}")
    w.kill_hard()
    w = Node(BIN, 7, f"tcp://0.0.0.0:{wild}", heartbeat_ms=HEARTBEAT_MS, workdir=WORK,
             extra=["--advertise", f"tcp://localhost:{wild}"])
    check(members(w)[7]["endpoints"] == [f"tcp://localhost:{wild}"], f"--advertise: {members(w)}")
    w.kill_hard()

    ports = free_ports(5)
    # Alone: only itself, up.
    a = start(1, ports[0])
    s = statuses(a)
    check(s == {1: "up"}, f"a node alone lists {s}")
    # An unreachable seed: it keeps trying, says so (rate-limited), lists only itself, joining.
    b = start(2, ports[1], join=[f"tcp://127.0.0.1:{ports[2]}"])
    began = time.monotonic()
    poll("the retry message", 10, lambda: "no member reached yet" in b.stderr_tail(4000))
    time.sleep(3)  # lets it retry a few times (what is checked is the count of lines, below)
    lines = b.stderr_tail(100000).count("no member reached yet")
    elapsed = time.monotonic() - began
    check(b.proc.poll() is None, "the joining node keeps running")
    check(1 <= lines <= elapsed / (2 * T) + 2, f"{lines} retry lines in {elapsed:.1f}s: not rate-limited")
    check(statuses(b) == {2: "joining"}, f"unreachable seed: {statuses(b)}")
    # The seed comes up: the next attempt joins.
    c = start(3, ports[2], join=[f"tcp://127.0.0.1:{ports[0]}"])
    _, took = poll("the late seed joined", 15,
                   lambda: all(set(statuses(x)) == {1, 2, 3} and set(statuses(x).values()) == {"up"}
                               for x in (a, b, c)))
    log(f"--join to an unreachable seed: {lines} rate-limited retry lines in {elapsed:.1f}s, still running; "
        f"joined {took:.2f}s after the seed started")
    # A DNS name (resolved by ZeroMQ at every connect) and a seed command.
    d = start(4, ports[3], join=[f"tcp://localhost:{ports[0]}"])
    e = start(5, ports[4], extra=["--seed-command", f"echo '# seeds'; echo tcp://127.0.0.1:{ports[2]}"])
    everyone = (a, b, c, d, e)
    poll("joined by name and by command", 15,
         lambda: all(set(statuses(x)) == {1, 2, 3, 4, 5} and set(statuses(x).values()) == {"up"}
                     for x in everyone))
    log("joined through tcp://localhost:PORT and through --seed-command")
    # Garbage in membership envelopes (kinds 3, 4 and 5): dropped, counted, nothing changes.
    before = members(a)
    malformed = a.stats()["transport"]["dropped_malformed"]
    sock = zmtp_dealer(ports[0])
    for k, body in ((3, b"\x00garbage"), (4, b"\xff" * 40), (3, b""), (4, b"\x01\x02")):
        sock.sendall(zmtp_frame(envelope(k, 99), more=True) + zmtp_frame(body))
    sock.sendall(zmtp_frame(envelope(3, 98)))  # a membership envelope without its payload
    # The members record's kind (5), from a node that is no replication peer: dropped, nothing changes.
    sock.sendall(zmtp_frame(envelope(5, 97), more=True) + zmtp_frame(b"\x01garbage"))
    poll("garbage counted", 10, lambda: a.stats()["transport"]["dropped_malformed"] >= malformed + 5)
    sock.close()
    after = members(a)
    check(set(after) == set(before) and all(after[i]["status"] == "up" for i in after),
          f"garbage changed the member list: {before} -> {after}")
    check(a.cmd("grant 99 1").startswith("error: "), "grant to a non-member is refused")
    log("garbage membership messages: dropped and counted, the member list unchanged")
    # grant to a member that is not up is refused.
    a.ok("stock-add 5")
    os.kill(d.proc.pid, signal.SIGKILL)
    d.proc.wait(5)
    poll("node 4 down", 30, lambda: statuses(a).get(4) == "down", every=0.05)
    reply = a.cmd("grant 4 1")
    check(reply.startswith("error: ") and "down" in reply, f"grant to a down member: {reply}")
    check(a.cmd("grant 5 1") == "ok", "grant to an up member")
    log(f"grant to a down member: '{reply}'")
    stop_all(everyone)


def retire_test():
    ports = free_ports(4)
    seed = f"tcp://127.0.0.1:{ports[0]}"
    data = os.path.join(WORK, "retire-n3")
    fast = ["--retire-down-ms", "5000"]

    def node(i, extra=()):
        return Node(BIN, i, f"tcp://127.0.0.1:{ports[i - 1]}", heartbeat_ms=200, workdir=WORK,
                    extra=([] if i == 1 else ["--join", seed]) + fast + list(extra))

    kept = os.path.join(WORK, "retire-n2")
    nodes = [node(1), node(2, ["--data-dir", kept]), node(3, ["--data-dir", data]), node(4)]
    ids = {1, 2, 3, 4}
    poll("all up", 10, lambda: all(set(statuses(x)) == ids and set(statuses(x).values()) == {"up"} for x in nodes))
    for i, x in enumerate(nodes, 1):
        x.ok(f"inc {10 * i}")
        x.ok(f"stock-add {i}")
        x.ok(f"add e{i}")
    want = {"counter": 100, "stock": 10, "set": sorted(f"e{i}" for i in ids)}

    def values(x):
        s = x.state()
        return {"counter": s["counter"], "stock": s["stock"], "set": sorted(s["set"])}

    poll("the values everywhere", 10, lambda: all(values(x) == want for x in nodes))
    replicas = {i: members(nodes[0])[i]["replica"] for i in ids}
    before = [x.stats()["metadata_replica_ids"] for x in nodes]
    check(all(b == 4 for b in before), f"4 replica ids in every state's metadata, not {before}")
    leaver, victim = nodes[3], nodes[2]
    survivors = nodes[:2]
    check(leaver.cmd("leave") == "ok", "leave answered ok")
    os.kill(victim.proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    victim.proc.wait(5)
    check(leaver.proc.wait(10) == 0, "leave exits 0")

    def retired_everywhere():
        for x in survivors:  # every sample: never a value counted twice or lost
            v = values(x)
            check(v == want, f"{x.name}: values {v} during retirement, expected {want}")
        st = [x.stats() for x in survivors]
        return all(s["retired_replicas"] == 2 and s["metadata_replica_ids"] == 2 for s in st) and st

    st, _ = poll("both departed replicas retired", 14, retired_everywhere, every=0.1)
    took = time.monotonic() - killed
    # The leaver's 4 units went to the survivor; the crashed node's 3 are stranded with it.
    rights = [int(x.cmd("rights")) for x in survivors]
    check(sum(rights) == 1 + 2 + 4, f"rights after retirement {rights}: the leaver's are handed over")
    check(survivors[0].cmd(f"sell {rights[0]}") == "ok", "the survivor sells all its rights")
    want["stock"] -= rights[0]
    poll("the sale everywhere", 5, lambda: all(values(x) == want for x in survivors))
    log(f"retire: leaver and kill -9 retired {took:.2f}s after the kill (--retire-down-ms 5000); metadata "
        f"replica ids 4 -> {[s['metadata_replica_ids'] for s in st]}, retired_replicas "
        f"{[s['retired_replicas'] for s in st]}; values unchanged at every sample; rights {rights}")

    victim.start()  # its old --data-dir: the old replica, which was retired
    _, back = poll("the killed node back as a new replica", 10,
                   lambda: members(survivors[0]).get(3, {}).get("replica") not in (None, replicas[3]) and
                   members(survivors[0])[3]["status"] == "up")
    new_replica = members(survivors[0])[3]["replica"]
    aside = [d for d in os.listdir(WORK) if d.startswith("retire-n3.retired-")]
    check(len(aside) == 1, f"the old data directory set aside as retire-n3.retired-TIME: {os.listdir(WORK)}")
    check("was retired by the cluster" in open(victim.stderr_path).read(), "the restart says why")
    everyone = survivors + [victim]
    poll("the values unchanged everywhere", 10, lambda: all(values(x) == want for x in everyone))
    for x in everyone:
        s = x.stats()
        check(s["retired_replicas"] == 2, f"{x.name}: retired_replicas {s['retired_replicas']}")
        check(s["metadata_replica_ids"] <= 3, f"{x.name}: metadata_replica_ids {s['metadata_replica_ids']}")
    log(f"the killed node restarted with its old data: replica {replicas[3]} -> {new_replica} "
        f"{back:.2f}s after the start, directory set aside, values unchanged")
    # Every node gone at once; the durable survivor alone, from its journal
    # and its record of retired replicas: the same values, nothing counted twice.
    stop_all(everyone)
    check(os.path.exists(os.path.join(kept, "retired-record")), "the record of retired replicas is on disk")
    alone = survivors[1]
    alone.start()
    check(values(alone) == want, f"restarted alone: {values(alone)}, expected {want}")
    check(alone.stats()["retired_replicas"] == 2, "the restarted node keeps its record of retired replicas")
    log("a durable survivor restarted alone: values unchanged, its record of retired replicas kept")
    stop_all([alone])


SCENARIOS = {"join": join_test, "crash": crash_test, "blackout": blackout_test, "leave": leave_test,
             "seeds": seeds_test, "restart": restart_test, "curve": curve_test, "retire": retire_test}

if __name__ == "__main__":
    try:
        main_wrapper(SCENARIOS[sys.argv[2]])
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
