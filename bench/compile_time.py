#!/usr/bin/env python3
"""Compile-time benchmark: what a translation unit pays for including converge.

Compiles (to an object file, at -O2 by default) one tiny translation unit per
subject and reports each as a ratio to a TU that holds only
`#include <boost/hana.hpp>`, compiled in the same run. Subjects:

- every public header alone (the list tests/ checks: tools/list_headers.py),
- `<converge/converge.hpp>`,
- examples/quickstart.cpp (a real user TU: types, composition, wire, JSON).

The machine is shared and noisy, so no absolute time is the result: rounds
are interleaved (one compile of every subject per round), each subject's time
is the median of its rounds, and the time is the compiler's CPU time (user +
system, from wait4), which load on other cores disturbs less than wall time.

    bench/compile_time.py                      # g++, -O2, 3 rounds
    bench/compile_time.py --cxx clang++-14 --rounds 5 --json out.json
    bench/compile_time.py --only or_set.hpp --only converge.hpp
    bench/compile_time.py --before /tmp/main   # also times another tree (e.g. a
                                               # clone of main), same run: before/after

Prints a Markdown table, then one JSON document (also written to --json).
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
INCLUDE = ROOT / "include"


def public_headers():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "list_headers.py"), str(INCLUDE)],
                         check=True, capture_output=True, text=True).stdout
    return [line for line in out.split() if line]


def compile_once(cxx, flags, source, obj):
    """Returns the compiler's CPU seconds (user + sys) and wall seconds."""
    start = time.monotonic()
    proc = subprocess.Popen([cxx, *flags, "-c", str(source), "-o", str(obj)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cxx} failed on {source}:\n{err}")
    return usage.ru_utime + usage.ru_stime, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    ap.add_argument("--opt", default="-O2", help="optimization flag (default -O2)")
    ap.add_argument("--rounds", type=int, default=3, help="compiles per subject; the median is reported")
    ap.add_argument("--only", action="append", default=[],
                    help="measure only these headers (relative to include/converge/, or 'quickstart'); repeatable")
    ap.add_argument("--json", help="also write the JSON document to this file")
    ap.add_argument("--before", help="another source tree (e.g. a clone of main): its headers and quickstart "
                    "are timed in the same rounds, and each row gets its ratio to them")
    args = ap.parse_args()

    subjects = []  # (name, source text or path)
    subjects.append(("<boost/hana.hpp>", "#include <boost/hana.hpp>\n"))
    headers = public_headers()
    if "converge/converge.hpp" in headers:  # listed first, after the baseline
        headers.remove("converge/converge.hpp")
        headers.insert(0, "converge/converge.hpp")
    for h in headers:
        subjects.append((f"<{h}>", f"#include <{h}>\n"))
    subjects.append(("examples/quickstart.cpp", ROOT / "examples" / "quickstart.cpp"))
    if args.only:
        wanted = set(args.only)

        def keep(name):
            return any(w in name for w in wanted)
        subjects = [subjects[0]] + [s for s in subjects[1:] if keep(s[0])]

    flags = ["-std=c++20", args.opt, "-I", str(INCLUDE)]
    trees = [("", flags, ROOT)]
    if args.before:
        before = pathlib.Path(args.before).resolve()
        trees.append(("before:", ["-std=c++20", args.opt, "-I", str(before / "include")], before))
    cpu = {t + name: [] for t, _, _ in trees for name, _ in subjects}
    wall = {t + name: [] for t, _, _ in trees for name, _ in subjects}
    with tempfile.TemporaryDirectory(prefix="converge-ct-") as tmp:
        tmp = pathlib.Path(tmp)
        sources = {}
        for i, (name, src) in enumerate(subjects):
            if isinstance(src, pathlib.Path):
                sources[name] = src
                if args.before:
                    sources["before:" + name] = pathlib.Path(args.before).resolve() / src.relative_to(ROOT)
            else:
                path = tmp / f"tu{i}.cpp"
                path.write_text(src)
                sources[name] = path
        obj = tmp / "tu.o"
        for r in range(args.rounds):
            for name, _ in subjects:
                for tree, tree_flags, _ in trees:
                    if tree and name == subjects[0][0]:
                        continue  # one baseline
                    src = sources.get(tree + name, sources[name])
                    header = name[1:-1] if name.startswith("<converge/") else None
                    if tree and (not pathlib.Path(src).exists() or
                                 (header and not (pathlib.Path(args.before) / "include" / header).exists())):
                        continue  # a file the other tree lacks
                    c, w = compile_once(args.cxx, tree_flags, src, obj)
                    cpu[tree + name].append(c)
                    wall[tree + name].append(w)
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    base = statistics.median(cpu[subjects[0][0]])
    rows = []
    for name, _ in subjects:
        med = statistics.median(cpu[name])
        row = {"subject": name, "cpu_s": round(med, 3), "wall_s": round(statistics.median(wall[name]), 3),
               "ratio": round(med / base, 2), "runs_cpu_s": [round(x, 3) for x in cpu[name]]}
        if args.before and name != subjects[0][0] and cpu["before:" + name]:
            old = statistics.median(cpu["before:" + name])
            row.update({"before_cpu_s": round(old, 3), "before_ratio": round(old / base, 2),
                        "after_over_before": round(med / old, 2)})
        rows.append(row)

    version = subprocess.run([args.cxx, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"compile time, {version}, -std=c++20 {args.opt} -c, median of {args.rounds} (CPU s)\n")
    if args.before:
        print("| TU | before CPU s | before × hana | CPU s | × hana.hpp | after / before |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for row in rows:
            if "before_cpu_s" in row:
                print(f"| `{row['subject']}` | {row['before_cpu_s']:.2f} | {row['before_ratio']:.2f} | "
                      f"{row['cpu_s']:.2f} | {row['ratio']:.2f} | {row['after_over_before']:.2f} |")
            else:
                print(f"| `{row['subject']}` | | | {row['cpu_s']:.2f} | {row['ratio']:.2f} | |")
    else:
        print("| TU | CPU s | × hana.hpp |")
        print("| --- | ---: | ---: |")
        for row in rows:
            print(f"| `{row['subject']}` | {row['cpu_s']:.2f} | {row['ratio']:.2f} |")
    doc = {"compiler": version, "before_tree": args.before, "flags": flags[:2] + ["-c"], "rounds": args.rounds,
           "baseline": subjects[0][0], "baseline_cpu_s": round(base, 3), "results": rows}
    text = json.dumps(doc, indent=2)
    print()
    print(text)
    if args.json:
        pathlib.Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
