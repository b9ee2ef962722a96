"""converge-node --data-dir with real processes: kill -9 under write load
loses no write answered ok, a restart keeps the identity (no new replica ids),
all nodes killed and restarted keep everything, stock rights survive a
restart, and a bad or foreign data directory is refused with a clear error
(--fresh sets it aside).

usage: durable_test.py CONVERGE_NODE SCENARIO [KILLS]
scenarios: kills, all, rights, corrupt
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Failure, Node, check, free_ports, main_wrapper, wait_converged  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
SEED = int(os.environ.get("CONVERGE_TEST_SEED", "0")) or random.SystemRandom().randrange(1, 2**31)
rng = random.Random(SEED)
WORK = tempfile.mkdtemp(prefix="converge-durable-")


def log(msg):
    print(msg, flush=True)


def durable_cluster(n, extra=()):
    ports = free_ports(n)
    eps = [f"tcp://127.0.0.1:{p}" for p in ports]
    nodes = []
    for i in range(n):
        data = os.path.join(WORK, f"n{i + 1}")
        peers = [e for j, e in enumerate(eps) if j != i]
        nodes.append(Node(BIN, i + 1, eps[i], peers, workdir=WORK,
                          extra=["--data-dir", data, "--quiet"] + list(extra)))
    return nodes


def restart(node):
    node.kill_hard()
    node.start()


def kills_test():
    kills = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    nodes = durable_cluster(3)
    victim = nodes[0]
    acked = []
    counter_acked = 0
    first_replica = victim.stats()["replica"]
    for k in range(kills):
        # A burst of writes; the kill lands 0-2 ms after the last ok.
        for _ in range(rng.randrange(1, 6)):
            elem = f"k{k}-{len(acked)}"
            victim.ok(f"add {elem}")
            acked.append(elem)
            victim.ok("inc")
            counter_acked += 1
        victim.send(f"add unacked{k}")  # in flight when the kill comes: may or may not survive
        time.sleep(rng.uniform(0, 0.002))
        restart(victim)
        state = victim.state()
        missing = [e for e in acked if e not in state["set"]]
        check(not missing, f"kill {k}: acknowledged writes lost: {missing[:5]} (seed {SEED})")
        check(state["counter"] == counter_acked,
              f"kill {k}: counter {state['counter']}, {counter_acked} increments acknowledged (seed {SEED})")
        # The same identity on every restart: no new replica id enters any metadata.
        check(victim.stats()["replica"] == first_replica, f"kill {k}: the replica id changed")
    _, secs = wait_converged(nodes, timeout=30, pred=lambda s: all(e in s["set"] for e in acked))
    log(f"{kills} kill -9s 0-2 ms after an ok: 0 of {len(acked)} acknowledged adds lost, "
        f"{counter_acked} increments kept, one replica id throughout; converged in {secs:.2f}s (seed {SEED})")


def all_test():
    nodes = durable_cluster(3)
    for i, n in enumerate(nodes):
        n.ok(f"add from{i}")
        n.ok(f"put k{i} v{i}")
        n.ok("inc 2")
    before, _ = wait_converged(nodes, pred=lambda s: len(s["set"]) == 3)
    for n in nodes:
        n.kill_hard()
    for n in nodes:
        n.start()
    # Each node has everything at once, from its own disk, before any gossip.
    for n in nodes:
        check(n.state() == before, f"{n.name} restarted with {n.state()}, not {before}")
    nodes[1].ok("rm from0")  # a restarted node removes what it held before the crash
    after, _ = wait_converged(nodes, pred=lambda s: "from0" not in s["set"])
    check(sorted(after["set"]) == ["from1", "from2"], f"unexpected set {after['set']}")
    log("all three nodes killed and restarted: every write kept, and a remove right after works")


def rights_test():
    nodes = durable_cluster(2)
    a, b = nodes
    a.ok("stock-add 90")
    wait_converged(nodes, pred=lambda s: json.dumps(s).find("90") >= 0)
    # Rights go only to a member that is up in this node's member list.
    deadline = time.monotonic() + 10
    while not any(m["id"] == 2 and m["status"] == "up" for m in json.loads(a.cmd("members"))):
        check(time.monotonic() < deadline, f"node 2 never up in node 1's members: {a.cmd('members')}")
        time.sleep(0.02)
    a.ok("grant 2 30")
    deadline = time.monotonic() + 10
    while b.cmd("rights") != "30":
        check(time.monotonic() < deadline, f"node 2 never got its rights: {b.cmd('rights')}")
        time.sleep(0.02)
    for n in (a, b):
        restart(n)
    check(b.cmd("rights") == "30", f"node 2 lost its rights in the restart: {b.cmd('rights')}")
    check(a.cmd("rights") == "60", f"node 1 lost its rights in the restart: {a.cmd('rights')}")
    b.ok("sell 30")
    a.ok("sell 60")
    reply = a.cmd("sell 1")
    check(reply.startswith("error"), f"sold more than the stock: {reply}")
    log("90 units, 30 granted: after both nodes restarted, all 90 were sold and not one more")


def expect_refusal(args, *words):
    r = subprocess.run([BIN] + args, input=b"quit\n", capture_output=True, timeout=60)
    err = r.stderr.decode(errors="replace")
    check(r.returncode == 2, f"{args}: exit status {r.returncode}, stderr {err!r}")
    for w in words:
        check(w in err, f"{args}: the error does not mention {w!r}: {err!r}")
    check(err.count("\n") <= 2, f"{args}: more than a short error: {err!r}")
    return err


def corrupt_test():
    port = free_ports(1)[0]
    data = os.path.join(WORK, "c1")
    n = Node(BIN, 1, f"tcp://127.0.0.1:{port}", workdir=WORK, extra=["--data-dir", data, "--quiet"])
    for i in range(200):
        n.ok(f"add e{i}")
    replica = n.stats()["replica"]
    check(n.quit() == 0, "quit failed")
    base = ["--id", "1", "--bind", f"tcp://127.0.0.1:{port}", "--data-dir", data, "--quiet"]
    # Another node's directory.
    expect_refusal(["--id", "2", "--bind", f"tcp://127.0.0.1:{port}", "--data-dir", data], "node 1", "--id 2")
    # Damage: flipped bytes, truncation, garbage. Every one refused, naming the file, never a crash.
    mdb = os.path.join(data, "data.mdb")
    pristine = open(mdb, "rb").read()
    refused = 0
    for trial in range(12):
        damaged = bytearray(pristine)
        how = trial % 3
        if how == 0:
            for _ in range(rng.randrange(1, 16)):
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        elif how == 1:
            damaged = damaged[:rng.randrange(len(damaged))]
        else:
            start = rng.randrange(len(damaged))
            damaged[start:start + 4096] = os.urandom(min(4096, len(damaged) - start))
        with open(mdb, "wb") as f:
            f.write(damaged)
        r = subprocess.run([BIN] + base, input=b"state\nquit\n", capture_output=True, timeout=120)
        check(r.returncode in (0, 2), f"damage {trial}: exit status {r.returncode} (a crash?): {r.stderr!r}")
        if r.returncode == 2:
            refused += 1
            check(b"data.mdb" in r.stderr or data.encode() in r.stderr, f"damage {trial}: {r.stderr!r}")
        else:
            # Damage LMDB never reads (free pages): the state must be whole.
            state = json.loads(r.stdout.decode().splitlines()[0])
            check(len(state["set"]) == 200, f"damage {trial}: started with {len(state['set'])} of 200 elements")
    check(refused > 0, "no damage was detected at all")
    # --fresh sets the directory aside and starts a new replica.
    with open(mdb, "wb") as f:
        f.write(b"garbage" * 1000)
    expect_refusal(base, "data.mdb", "--fresh")
    fresh = Node(BIN, 1, f"tcp://127.0.0.1:{port}", workdir=WORK, extra=["--data-dir", data, "--fresh", "--quiet"])
    check(fresh.stats()["replica"] != replica, "--fresh kept the old identity")
    check(fresh.state()["set"] == [], "--fresh did not start empty")
    fresh.ok("add again")
    check(fresh.quit() == 0, "quit failed")
    aside = [d for d in os.listdir(WORK) if d.startswith("c1.damaged-")]
    check(len(aside) == 1, f"the unreadable directory was not set aside: {os.listdir(WORK)}")
    # A second node on a directory in use is refused, and does not disturb it.
    a = Node(BIN, 1, f"tcp://127.0.0.1:{port}", workdir=WORK, extra=["--data-dir", data, "--quiet"])
    check("again" in a.state()["set"], "the fresh replica's write was lost")  # a holds the directory now
    expect_refusal(["--id", "1", "--bind", f"tcp://127.0.0.1:{free_ports(1)[0]}", "--data-dir", data], "in use")
    check("again" in a.state()["set"], "the directory in use lost its data")
    check(a.quit() == 0, "quit failed")
    # Bad arguments.
    expect_refusal(["--id", "1", "--bind", f"tcp://127.0.0.1:{port}", "--sync", "write"], "--data-dir")
    expect_refusal(base + ["--sync", "often"], "--sync")
    log(f"{refused} of 12 damaged files refused with the file named, the rest read whole; --fresh, "
        "foreign and in-use directories handled")


SCENARIOS = {"kills": kills_test, "all": all_test, "rights": rights_test, "corrupt": corrupt_test}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[2] not in SCENARIOS:
        print(__doc__)
        sys.exit(2)
    try:
        main_wrapper(SCENARIOS[sys.argv[2]])
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
