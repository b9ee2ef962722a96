#!/usr/bin/env python3
"""The layers of converge/testing, checked on the includes.

The law checker, the entropy, the operation catalog, the shared struct and
the network need only the lattice types: none of them may reach the
replication layer, the wire layer, or cereal. Only cluster.hpp, simulator.hpp
and workloads.hpp bring replication.

usage: check_layers.py INCLUDE_DIR COMPILER [ARGS...]
"""
import subprocess
import sys

TYPES_ONLY = ['entropy', 'laws', 'operations', 'shop', 'network']
FORBIDDEN = ['converge/replication/', 'converge/wire/', 'cereal/']


def main():
    include, compiler = sys.argv[1], sys.argv[2:]
    failed = False
    for name in TYPES_ONLY:
        header = f'{include}/converge/testing/{name}.hpp'
        out = subprocess.run(compiler + ['-std=c++20', '-I', include, '-M', '-x', 'c++', header],
                             check=True, capture_output=True, text=True).stdout
        bad = sorted({d for d in out.split() for f in FORBIDDEN if f in d})
        if bad:
            failed = True
            print(f'converge/testing/{name}.hpp reaches a layer it must not:\n  ' + '\n  '.join(bad))
        else:
            print(f'converge/testing/{name}.hpp: types only')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
