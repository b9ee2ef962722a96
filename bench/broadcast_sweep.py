#!/usr/bin/env python3
"""Gossip against the broadcast tree, replicas from 64 up, on the same seeds.

usage: broadcast_sweep.py PATH/TO/converge-sim OUT_DIR [--replicas 64,256,1000] [--ops-per-replica 20]
                          [--max-ops N] [--seeds 1] [--topology random:4] [--workload gset]

Runs `converge-sim --replicas N --topology T --workload W --ops N*K --seed S
--broadcast B --json` for B in gossip and tree (one process at a time, one
core), and writes OUT_DIR/broadcast.json (one row per run: bytes over the
lower bound, rounds to converge, p99 propagation delay in gossip intervals,
the tree counters, wall seconds and peak RSS) and OUT_DIR/broadcast.svg
(bytes / lower bound and rounds to converge against replicas, the median
over seeds). `--max-ops` caps one run's operations, so that 10,000 replicas
fit in memory (bench/run: 20,000, which leaves 1,000 replicas at 20 each).
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time


def run(sim, n, ops, seed, broadcast, topology, workload):
    cmd = [sim, "--replicas", str(n), "--topology", topology, "--workload", workload, "--ops", str(ops),
           "--seed", str(seed), "--broadcast", broadcast, "--json"]
    # GNU time reports each run's own peak RSS (getrusage of children keeps the largest so far).
    timer = ["/usr/bin/time", "-f", "maxrss_kb=%M"] if os.path.exists("/usr/bin/time") else []
    t0 = time.monotonic()
    p = subprocess.run(timer + cmd, capture_output=True, text=True, timeout=3600)
    wall = time.monotonic() - t0
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError(f"no JSON from {' '.join(cmd)} (exit {p.returncode}): {p.stderr[-500:]}")
    j = json.loads(lines[-1])
    rss = [int(l.split("=")[1]) for l in p.stderr.splitlines() if l.startswith("maxrss_kb=")]
    return {
        "command": " ".join(["converge-sim"] + cmd[1:]),
        "replicas": n, "ops": ops, "seed": seed, "broadcast": broadcast, "converged": j["converged"],
        "bytes_ratio": j["bytes_sent"] / j["bytes_lower_bound"] if j["bytes_lower_bound"] else 0,
        "bytes_sent": j["bytes_sent"], "bytes_lower_bound": j["bytes_lower_bound"],
        "rounds_to_converge": j["ticks_to_converge"] / 50,
        "p99_propagation_intervals": j["p99_propagation_intervals"],
        "log2_bound": math.ceil(math.log2(n)) + 2,
        "tree_prunes": j["tree_prunes"], "tree_grafts": j["tree_grafts"], "tree_digests": j["tree_digests"],
        "tree_eager_links": j["tree_eager_links"], "tree_lazy_repairs": j["tree_lazy_repairs"],
        "wall_seconds": round(wall, 2),
        "max_rss_mb": round(rss[-1] / 1024) if rss else None,
    }


def svg(rows, out):
    """Two panels: bytes / lower bound, and rounds to converge, against log replicas."""
    w, h, pad = 420, 260, 50
    xs = sorted({r["replicas"] for r in rows})
    lx = [math.log10(x) for x in xs]
    x0, x1 = min(lx), max(lx) if max(lx) > min(lx) else min(lx) + 1
    colours = {"gossip": "#c0392b", "tree": "#2471a3"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{h}" font-family="sans-serif" '
             f'font-size="11">']
    for k, (key, title) in enumerate((("bytes_ratio", "bytes sent / lower bound"),
                                      ("rounds_to_converge", "gossip intervals to converge"))):
        ox = k * w
        top = max(r[key] for r in rows) * 1.1 or 1
        px = lambda v: ox + pad + (math.log10(v) - x0) / (x1 - x0) * (w - 2 * pad)
        py = lambda v: h - pad + 10 - v / top * (h - 2 * pad)
        parts.append(f'<text x="{ox + w / 2}" y="16" text-anchor="middle">{title}</text>')
        parts.append(f'<line x1="{ox + pad}" y1="{h - pad + 10}" x2="{ox + w - pad}" y2="{h - pad + 10}" '
                     f'stroke="black"/><line x1="{ox + pad}" y1="{h - pad + 10}" x2="{ox + pad}" y2="30" '
                     f'stroke="black"/>')
        for x in xs:
            parts.append(f'<text x="{px(x)}" y="{h - pad + 24}" text-anchor="middle">{x}</text>')
        for t in range(5):
            v = top * t / 4
            parts.append(f'<text x="{ox + pad - 4}" y="{py(v) + 4}" text-anchor="end">{v:.2f}</text>')
        for b, colour in colours.items():
            # The median over seeds at each replica count.
            pts = [(x, statistics.median(r[key] for r in rows if r["broadcast"] == b and r["replicas"] == x))
                   for x in xs if any(r["broadcast"] == b and r["replicas"] == x for r in rows)]
            if not pts:
                continue
            path = " ".join(f"{px(x):.1f},{py(v):.1f}" for x, v in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            parts.append(f'<text x="{px(pts[-1][0]) - 4}" y="{py(pts[-1][1]) - 6}" text-anchor="end" '
                         f'fill="{colour}">{b}</text>')
        parts.append(f'<text x="{ox + w / 2}" y="{h - 6}" text-anchor="middle">replicas</text>')
    parts.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("sim")
    ap.add_argument("out_dir")
    ap.add_argument("--replicas", default="64,256,1000")
    ap.add_argument("--ops-per-replica", type=int, default=20)
    ap.add_argument("--max-ops", type=int, default=0, help="cap on the operations of one run (0: none)")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--topology", default="random:4")
    ap.add_argument("--workload", default="gset")
    a = ap.parse_args()
    rows = []
    for n in (int(x) for x in a.replicas.split(",")):
        for seed in (int(s) for s in a.seeds.split(",")):
            for b in ("gossip", "tree"):
                ops = n * a.ops_per_replica if a.max_ops == 0 else min(n * a.ops_per_replica, a.max_ops)
                r = run(a.sim, n, ops, seed, b, a.topology, a.workload)
                rows.append(r)
                print(f"  {r['command']}: converged {r['converged']}, {r['bytes_ratio']:.3f}x lower bound, "
                      f"{r['rounds_to_converge']:.1f} rounds, p99 {r['p99_propagation_intervals']:.2f} intervals, "
                      f"{r['wall_seconds']} s, {r['max_rss_mb']} MB", flush=True)
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "broadcast.json"), "w") as f:
        json.dump(rows, f, indent=1)
    svg(rows, os.path.join(a.out_dir, "broadcast.svg"))
    return 0 if all(r["converged"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
