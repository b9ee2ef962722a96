#!/usr/bin/env python3
"""Prints the public headers under include/ (relative paths), one per line, sorted."""
import pathlib
import sys

root = pathlib.Path(sys.argv[1])
for path in sorted(root.rglob("*.hpp")):
    rel = path.relative_to(root).as_posix()
    if "/detail/" not in rel:
        print(rel)
