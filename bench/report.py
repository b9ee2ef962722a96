#!/usr/bin/env python3
"""Turns the raw outputs of the benchmark programs into bench/results/:
results.json (everything, compact), summary.md (targets with PASS/FAIL,
then the broader tables) and SVG plots drawn by gnuplot.

usage: report.py RAW_DIR RESULTS_DIR [--quick]

RAW_DIR holds what bench/run wrote: types.json and node.json (Google
Benchmark), memory.json, sim.json, cluster.jsonl, and meta.json. Missing inputs are
reported as "not measured", never as a pass.
"""

import json
import math
import os
import shutil
import subprocess
import sys

GOSSIP_INTERVAL = 50  # converge-sim's default virtual time between sends: one "round"


def load(path, default=None):
    try:
        with open(path) as f:
            if path.endswith(".jsonl"):
                return [json.loads(l) for l in f if l.strip().startswith("{")]
            return json.load(f)
    except (OSError, ValueError):
        return default


def bench_index(types):
    """name (without /iterations:…/manual_time) -> benchmark entry."""
    out = {}
    for b in (types or {}).get("benchmarks", []):
        name = b["name"].split("/iterations:")[0]
        out[name] = b
    return out


def fmt(x, digits=2):
    if x is None:
        return "—"
    if isinstance(x, float):
        if x != 0 and (abs(x) >= 1e5 or abs(x) < 10 ** -digits):
            return f"{x:.3g}"
        return f"{x:.{digits}f}"
    return str(x)


def target_rows(b, memory, cluster, sim, scale):
    rows = []

    def add(name, value, unit, op, bound, detail):
        if value is None:
            rows.append({"target": name, "value": None, "unit": unit, "bound": f"{op} {bound}",
                         "status": "NOT MEASURED", "detail": detail})
            return
        ok = value <= bound if op == "≤" else value >= bound
        rows.append({"target": name, "value": value, "unit": unit, "bound": f"{op} {bound}",
                     "status": "PASS" if ok else "FAIL", "detail": detail})

    j = b.get("join/or_set_u64/1000000")
    add("or_set<uint64_t> join, two 1M states (half shared), vs unordered_set union",
        j["ratio"] if j else None, "×", "≤", 1.5,
        f"{fmt(j['subject_ns'] / 1e6, 1)} ms vs {fmt(j['baseline_ns'] / 1e6, 1)} ms (median of {j['iterations']})" if j else "")
    a = b.get("apply/or_set_u64/1000000")
    add("1M single-insert deltas joined into a 1M or_set, vs 1M unordered_set inserts",
        a["ratio"] if a else None, "×", "≤", 3.0,
        f"{fmt(a['ns_per_item'], 0)} ns vs {fmt(a['baseline_ns_per_item'], 0)} ns per delta" if a else "")
    # The worse of a single writer's state (records in dot order, no dot
    # index) and a state written by three replicas in turn (dot index kept).
    cands = [s for s in (memory or []) if s["name"] in ("or_set_u64", "or_set_u64_three_writers")]
    m = max(cands, key=lambda s: max(s["new_bytes_per_element"], s["malloc_bytes_per_element"])) if cands else None
    if m:
        per = max(m["new_bytes_per_element"], m["malloc_bytes_per_element"])
        add("heap per element, 1M-element or_set<uint64_t> (worse of one and three writers)", per, "B", "≤", 48,
            f"{m['name']}: operator new {fmt(m['new_bytes_per_element'])} B, mallinfo2 (arena + mmap) {fmt(m['malloc_bytes_per_element'])} B")
    else:
        add("heap per element, 1M-element or_set<uint64_t>", None, "B", "≤", 48, "")
    # The node's own cost over the state it holds (bench/memory_bench.cpp, bench/node_bench.cpp).
    bare = next((s for s in memory if s["name"] == "or_set_u64"), None)
    nd = next((s for s in memory if s["name"] == "zmq_node_or_set_u64_subscribed"), None)
    if bare and nd:
        ratio = max(nd["new_bytes"] / bare["new_bytes"], nd["malloc_bytes"] / bare["malloc_bytes"])
        add("heap of a poll-driven zmq_node<or_set<uint64_t>> holding 1M elements with a subscriber, vs the bare state",
            ratio, "×", "≤", 1.3,
            f"operator new {fmt(nd['new_bytes'] / 1e6, 1)} MB vs {fmt(bare['new_bytes'] / 1e6, 1)} MB, "
            f"mallinfo2 {fmt(nd['malloc_bytes'] / 1e6, 1)} MB vs {fmt(bare['malloc_bytes'] / 1e6, 1)} MB "
            "(context and sockets included)")
    else:
        add("heap of a zmq_node holding 1M elements with a subscriber, vs the bare state", None, "×", "≤", 1.3,
            "converge-bench-memory built without the transport")
    r = b.get("node_receive/or_set_u64/1000000")
    add("1-element delta received by a zmq_node holding 1M elements (subscriber), vs the same join, per delta",
        r and r["ratio_total"], "×", "≤", 3.0,
        (f"total time over {r['iterations']} deltas: {fmt(r['ratio_total'])}× (mean {fmt(r['real_time'] / 1e3, 2)} µs "
         f"per delta, receive to subscriber); median delta {fmt(r['subject_ns'] / 1e3, 2)} µs vs "
         f"{fmt(r['baseline_ns'])} ns join, median ratio {fmt(r['ratio'], 1)}× (the join is cheap but for its "
         "occasional rebuilds; the node's fixed cost per message is what the median shows)") if r else "")
    rb = b.get("node_receive_batch/or_set_u64/1000000/64")
    add("… per delta of a received batch of 64 (one wake-up and one ack per batch), vs the same joins",
        rb and rb["ratio_total"], "×", "≤", 3.0,
        (f"total time over {int(rb['changes'])} deltas: {fmt(rb['ratio_total'])}×; median batch "
         f"{fmt(rb['subject_ns'] / 1e3, 2)} µs per delta vs {fmt(rb['baseline_ns'])} ns per join, "
         f"median ratio {fmt(rb['ratio'], 1)}×") if rb else "")
    g = b.get("delta_bytes/gcounter.increment")
    add("encoded gcounter increment delta (replica_id{1})", g and g["first_small_id"], "B", "≤", 12,
        f"{int(g['steady_small_id'])} B at the 1001st increment" if g else "")
    add("… with a replica_id::from_name id", g and g["first_named_id"], "B", "≤", 12,
        f"{int(g['steady_named_id'])} B at the 1001st increment" if g else "")
    o = b.get("delta_bytes/or_set_u64.insert")
    add("encoded or_set<uint64_t> insert delta (replica_id{1}, element 42)", o and o["first_small_id"], "B", "≤", 24,
        f"{int(o['steady_small_id'])} B for a random 64-bit element at the 1001st insert" if o else "")
    add("… with a replica_id::from_name id", o and o["first_named_id"], "B", "≤", 24,
        f"{int(o['steady_named_id'])} B for a random 64-bit element at the 1001st insert" if o else "")
    t = next((c for c in (cluster or []) if c.get("measure") == "throughput"), None)
    add("3-node loopback cluster, applied updates/s per node (batched)",
        t["applied_per_node_per_second"] if t else None, "/s", "≥", 1_000_000,
        (f"{t['updates']} updates in batches of {t['batch']}, gossip {t['gossip_ms']} ms; "
         f"{fmt(t['cpu_us_per_applied'], 3)} CPU µs per applied update; {t['hardware_threads']} hardware threads "
         "for 3 nodes + 3 producers") if t else "")
    lags = [c for c in (cluster or []) if c.get("measure") == "lag"]
    for i, l in enumerate(lags):
        detail = f"median {fmt(l['median_ms'])} ms, max {fmt(l['max_ms'])} ms, {l['samples']} samples, {l['missing']} missing"
        name = f"p99 convergence lag at {fmt(l['rate'], 0)} updates/s (gossip {l['gossip_ms']} ms)"
        if i == 0:
            add(name, l["p99_ms"], "ms", "≤", 50, detail)
        else:  # a longer gossip interval bounds the lag from below: shown, not judged
            rows.append({"target": name, "value": l["p99_ms"], "unit": "ms", "bound": "—", "status": "INFO",
                         "detail": detail + "; lag includes up to one gossip interval"})
    if not lags:
        add("p99 convergence lag at 10k updates/s", None, "ms", "≤", 50, "")
    at64 = {r["optimized"]: r for r in (sim or []) if r["replicas"] == 64}
    o, p = at64.get(True), at64.get(False)
    add("simulator, 64 replicas random:4 gset: bytes sent vs lower bound (BP+RR)",
        o["bytes_sent"] / o["bytes_lower_bound"] if o else None, "×", "≤", 2.5, o["command"] if o else "")
    add("simulator, 64 replicas: bytes with --no-bp --no-rr / bytes with BP+RR",
        p["bytes_sent"] / o["bytes_sent"] if o and p else None, "×", "≥", 5.0, p["command"] if p else "")
    add("simulator, 1,000 replicas × 100,000 gset ops, wall time on one core",
        scale["wall_seconds"] if scale else None, "s", "≤", 60,
        (f"{scale['command']}; converged {str(scale['converged']).lower()}, peak RSS {fmt(scale['max_rss_mb'], 0)} MB")
        if scale else "not run (bench/run --quick skips it)")
    return rows


def broader_tables(b):
    out = []
    groups = [("Join of two states (half shared)", "join/"), ("n single-operation deltas joined into an n-element state", "apply/"),
              ("Local mutators", "insert/"), ("", "erase/")]
    out.append("| case | n | time | per item | baseline per item | ratio |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for title, prefix in groups:
        for name, e in b.items():
            if not name.startswith(prefix):
                continue
            kind, typ, n = name.split("/")
            out.append(f"| {kind} {typ} | {int(n):,} | {fmt(e['subject_ns'] / 1e6, 3)} ms | {fmt(e['ns_per_item'], 1)} ns | "
                       f"{fmt(e['baseline_ns_per_item'], 1)} ns | {fmt(e['ratio'])}× |")
    ref = [(n, e) for n, e in b.items() if n.startswith("reference/")]
    if ref:
        out.append("")
        out.append("Reference workloads of delta-enabled-crdts (bench/README.md; that library reports 313 µs per add at "
                   "100k and 409 µs per joined delta at 30k):")
        out.append("")
        out.append("| workload | n | µs per operation | unordered_set insert µs | ratio |")
        out.append("| --- | ---: | ---: | ---: | ---: |")
        for n, e in ref:
            _, w, size = n.split("/")
            out.append(f"| {w} | {int(size):,} | {fmt(e['ns_per_item'] / 1e3, 3)} | {fmt(e['baseline_ns_per_item'] / 1e3, 3)} | "
                       f"{fmt(e['ratio'])}× |")
    out.append("")
    out.append("Baselines: `std::unordered_set` (sets), `std::unordered_map` (or_map; counters, max per replica), "
               "same keys, same process, interleaved iteration by iteration; ratio = median of subject/baseline.")
    out.append("")
    out.append("### Wire: encode / decode throughput (vs memcpy of the same bytes)")
    out.append("")
    out.append("| type | what | bytes | encode MB/s | decode MB/s | memcpy MB/s | encode ×memcpy | decode ×memcpy |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, e in b.items():
        if not name.startswith("wire_encode/"):
            continue
        _, what, typ, n = name.split("/")
        d = b.get(name.replace("wire_encode", "wire_decode"))
        label = f"state of {int(n):,}" if what == "state" and int(n) > 1 else ("state" if what == "state" else f"{int(n):,} deltas")
        out.append(f"| {typ} | {label} | {int(e['bytes']):,} | {fmt(e['MB_per_s'], 0)} | {fmt(d['MB_per_s'], 0) if d else '—'} | "
                   f"{fmt(e['memcpy_MB_per_s'], 0)} | {fmt(e['ratio'], 0)} | {fmt(d['ratio'], 0) if d else '—'} |")
    out.append("")
    out.append("### Encoded bytes of one delta")
    out.append("")
    out.append("| mutator | first op, `replica_id{1}` | first op, `from_name` id | 1001st op, `replica_id{1}` | 1001st op, `from_name` id |")
    out.append("| --- | ---: | ---: | ---: | ---: |")
    for name, e in b.items():
        if name.startswith("delta_bytes/"):
            out.append(f"| `{name.split('/', 1)[1]}` | {int(e['first_small_id'])} | {int(e['first_named_id'])} | "
                       f"{int(e['steady_small_id'])} | {int(e['steady_named_id'])} |")
    out.append("")
    out.append("First op: a fresh replica, element/value 42. 1001st op: after 1000 operations by the same replica, "
               "a random 64-bit element (so counters and elements take several varint bytes).")
    return out


def memory_table(memory):
    out = ["| structure | n | operator new B/element | mallinfo2 B/element | heap blocks |", "| --- | ---: | ---: | ---: | ---: |"]
    for s in memory or []:
        out.append(f"| {s['name']} | {s['n']:,} | {fmt(s['new_bytes_per_element'])} | {fmt(s['malloc_bytes_per_element'])} | {s['blocks']:,} |")
    out.append("")
    out.append("operator new: live `malloc_usable_size` of blocks from a counting global operator new/delete. "
               "mallinfo2: change of `uordblks + hblkhd` (arena chunks with their headers, plus mmap'd blocks).")
    return out


def sim_table(sim):
    out = ["| replicas | BP+RR bytes | ×lower bound | plain bytes | ×lower bound | BP+RR saves | rounds BP+RR | rounds plain | messages BP+RR |",
           "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    by = {}
    for r in sim or []:
        by.setdefault(r["replicas"], {})["opt" if r["optimized"] else "plain"] = r
    for n in sorted(by):
        o, p = by[n].get("opt"), by[n].get("plain")
        if not o or not p:
            continue
        lb = o["bytes_lower_bound"] or 1
        out.append(f"| {n:,} | {o['bytes_sent']:,} | {o['bytes_sent'] / lb:.2f} | {p['bytes_sent']:,} | {p['bytes_sent'] / lb:.2f} | "
                   f"{(1 - o['bytes_sent'] / p['bytes_sent']) * 100:.0f}% | {o['ticks_to_converge'] / GOSSIP_INTERVAL:.1f} | "
                   f"{p['ticks_to_converge'] / GOSSIP_INTERVAL:.1f} | {o['messages_sent']:,} |")
    if sim:
        s = sim[0]
        out.append("")
        out.append(f"`converge-sim --topology {s['topology']} --workload {s['workload']} --ops {s['ops']} --seed {s['seed']} "
                   f"--json [--no-bp --no-rr]`; a round is one gossip interval ({GOSSIP_INTERVAL} ticks), counted "
                   "from the last operation to convergence.")
    return out


def gnuplot(script, out_svg, raw_dir):
    if not shutil.which("gnuplot"):
        print("report: gnuplot not found; no plot " + out_svg, file=sys.stderr)
        return False
    path = os.path.join(raw_dir, os.path.basename(out_svg) + ".gp")
    with open(path, "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", path], capture_output=True, text=True)
    if r.returncode != 0:
        print("report: gnuplot failed for " + out_svg + ": " + r.stderr, file=sys.stderr)
        return False
    return True


SVG_HEAD = "set terminal svg size 640,400 dynamic font 'Helvetica,11' background '#ffffff'\n"


def plots(b, sim, raw, res):
    made = []
    # Join time vs n, log-log.
    series = [("or_set_u64", "or_set<uint64_t> (flat)"), ("node_or_set_u64", "node-based or_set (unordered_map)"),
              ("hopscotch_or_set_u64", "node-based or_set (hopscotch_map)"), ("gcounter", "gcounter (n replicas)"),
              ("or_map_u64_mv_register", "or_map<uint64_t, mv_register>")]
    blocks = []
    for key, title in series + [("baseline", "unordered_set union (baseline)")]:
        pts = []
        for name, e in b.items():
            parts = name.split("/")
            if parts[0] != "join":
                continue
            if key == "baseline" and parts[1] == "or_set_u64":
                pts.append((int(parts[2]), e["baseline_ns"] / 1e6))
            elif parts[1] == key:
                pts.append((int(parts[2]), e["subject_ns"] / 1e6))
        if pts:
            blocks.append((title, sorted(pts)))
    if blocks:
        dat = os.path.join(raw, "join.dat")
        with open(dat, "w") as f:
            for title, pts in blocks:
                f.write(f'"{title}"\n' + "".join(f"{n} {t}\n" for n, t in pts) + "\n\n")
        plot = ", ".join(f"'{dat}' index {i} using 1:2 with linespoints title columnheader(1)" for i in range(len(blocks)))
        svg = os.path.join(res, "join_time.svg")
        if gnuplot(SVG_HEAD + f"set output '{svg}'\nset logscale xy\nset grid\nset key top left\n"
                   "set xlabel 'elements per state (n)'\nset ylabel 'join time (ms)'\n"
                   "set title 'Join of two n-element states, half shared'\n" + f"plot {plot}\n", svg, raw):
            made.append("join_time.svg")
    # Bytes per delta by type.
    rows = [(n.split("/", 1)[1], e) for n, e in b.items() if n.startswith("delta_bytes/")]
    if rows:
        dat = os.path.join(raw, "delta_bytes.dat")
        with open(dat, "w") as f:
            f.write("mutator small named steady_small steady_named\n")
            for name, e in rows:
                f.write(f'"{name}" {int(e["first_small_id"])} {int(e["first_named_id"])} '
                        f'{int(e["steady_small_id"])} {int(e["steady_named_id"])}\n')
        svg = os.path.join(res, "delta_bytes.svg")
        if gnuplot(SVG_HEAD.replace("640,400", "760,420") + f"set output '{svg}'\nset style data histograms\n"
                   "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\nset boxwidth 0.9\n"
                   "set xtics rotate by -40 scale 0 font ',9'\nset grid ytics\nset key top left\nset yrange [0:*]\n"
                   "set ylabel 'encoded bytes'\nset title 'Encoded bytes of one delta (converge::encode)'\n"
                   f"plot '{dat}' using 2:xtic(1) title 'first op, replica\\_id\\{{1\\}}', '' using 3 title 'first op, from\\_name id', "
                   "'' using 4 title '1001st op, id 1, random element', '' using 5 title '1001st op, from\\_name id'\n", svg, raw):
            made.append("delta_bytes.svg")
    # Simulator: bytes and rounds vs replicas.
    if sim:
        dat = os.path.join(raw, "sim.dat")
        by = {}
        for r in sim:
            by.setdefault(r["replicas"], {})["opt" if r["optimized"] else "plain"] = r
        with open(dat, "w") as f:
            for n in sorted(by):
                o, p = by[n].get("opt"), by[n].get("plain")
                if o and p:
                    f.write(f"{n} {o['bytes_sent']} {p['bytes_sent']} {o['bytes_lower_bound']} "
                            f"{o['ticks_to_converge'] / GOSSIP_INTERVAL} {p['ticks_to_converge'] / GOSSIP_INTERVAL}\n")
        svg = os.path.join(res, "sim_replicas.svg")
        if gnuplot(SVG_HEAD.replace("640,400", "900,380") + f"set output '{svg}'\nset multiplot layout 1,2\n"
                   "set logscale xy\nset grid\nset key top left font ',9'\nset xlabel 'replicas'\nset ylabel 'bytes sent'\n"
                   "set title 'Bytes sent to converge (random:4, gset)'\n"
                   f"plot '{dat}' using 1:2 with linespoints title 'BP+RR', '' using 1:3 with linespoints title 'no BP, no RR', "
                   "'' using 1:4 with lines dashtype 2 title 'lower bound'\n"
                   "unset logscale y\nset ylabel 'gossip rounds'\nset yrange [0:*]\n"
                   "set title 'Rounds from the last update to convergence'\n"
                   f"plot '{dat}' using 1:5 with linespoints title 'BP+RR', '' using 1:6 with linespoints title 'no BP, no RR'\n"
                   "unset multiplot\n", svg, raw):
            made.append("sim_replicas.svg")
    return made


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    raw, res = sys.argv[1], sys.argv[2]
    os.makedirs(res, exist_ok=True)
    types = load(os.path.join(raw, "types.json"), {})
    memory = load(os.path.join(raw, "memory.json"), [])
    sim = load(os.path.join(raw, "sim.json"), [])
    cluster = load(os.path.join(raw, "cluster.jsonl"), [])
    meta = load(os.path.join(raw, "meta.json"), {})
    b = bench_index(types)
    b.update(bench_index(load(os.path.join(raw, "node.json"), {})))
    scale = load(os.path.join(raw, "sim_scale.json"), None)
    rows = target_rows(b, memory, cluster, sim, scale)
    made = plots(b, sim, raw, res)

    keep = ["subject_ns", "baseline_ns", "ratio", "ratio_total", "ns_per_item", "baseline_ns_per_item", "items",
            "MB_per_s", "memcpy_MB_per_s", "bytes", "values", "first_small_id", "first_named_id", "steady_small_id",
            "steady_named_id", "iterations", "real_time"]
    compact = {n: {k: e[k] for k in keep if k in e} for n, e in b.items()}
    # The benchmark library records the absolute path of its binary; keep only
    # the name, so the committed results hold nothing machine-specific.
    context = dict(types.get("context", {}))
    if "executable" in context:
        context["executable"] = os.path.basename(context["executable"])
    with open(os.path.join(res, "results.json"), "w") as f:
        json.dump({"meta": meta, "context": context, "targets": rows, "types": compact,
                   "memory": memory, "sim": sim, "cluster": cluster}, f, indent=1, sort_keys=True)

    md = ["# converge benchmark results", ""]
    md.append(f"Measured {meta.get('date', '?')} on {meta.get('host', '?')} "
              f"({types.get('context', {}).get('num_cpus', '?')} CPUs, load average at start {meta.get('load', '?')}), "
              f"`bench/run{' --quick' if meta.get('quick') else ''}`, g++ release build. Every time is a ratio "
              "against a baseline measured in the same process.")
    md.append("")
    md.append("## Targets")
    md.append("")
    md.append("| target | measured | bound | result | detail |")
    md.append("| --- | ---: | ---: | --- | --- |")
    for r in rows:
        v = "—" if r["value"] is None else (f"{r['value']:,.0f}" if r["unit"] == "/s" else fmt(float(r["value"])))
        md.append(f"| {r['target']} | {v} {r['unit']} | {r['bound']} {r['unit']} | **{r['status']}** | {r['detail']} |")
    md.append("")
    md.append("## Time (ratios to std::unordered_* in the same run)")
    md.append("")
    md += broader_tables(b)
    md.append("")
    md.append("## Memory")
    md.append("")
    md += memory_table(memory)
    md.append("")
    md.append("## Replication (deterministic simulator)")
    md.append("")
    md += sim_table(sim) if sim else ["not measured (converge-sim not built)"]
    md.append("")
    md.append("## Three-node ZeroMQ cluster on loopback")
    md.append("")
    if cluster:
        for c in cluster:
            md.append("- `" + json.dumps(c) + "`")
    else:
        md.append("not measured (transport not built)")
    md.append("")
    if made:
        md.append("## Plots")
        md.append("")
        md += [f"![{m}]({m})" for m in made]
        md.append("")
    with open(os.path.join(res, "summary.md"), "w") as f:
        f.write("\n".join(md))

    width = max(len(r["target"]) for r in rows)
    for r in rows:
        v = "—" if r["value"] is None else (f"{r['value']:,.0f}" if r["unit"] == "/s" else fmt(float(r["value"])))
        print(f"{r['status']:>12}  {r['target']:<{width}}  {v} {r['unit']} ({r['bound']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
