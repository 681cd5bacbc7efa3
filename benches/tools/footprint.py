#!/usr/bin/env python3
"""Code footprint per request: the instruction-cache lines a request runs, from a callgrind dump.

Each request of the overhead bench runs between stretches of other work, so the telemetry's code
comes back from the outer caches every time: its cost follows the number of distinct 64-byte
code lines a request runs (its footprint) as much as its instruction count. This counts the
lines that run in (nearly) every request of a dump taken with instruction-level detail:

    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file=cg.full \
        --toggle-collect='overhead::requests*' target/release/deps/overhead-<hash> --profile full 200 0
    python3 benches/tools/footprint.py cg.full 200 [top]

A line counts when one of its instructions ran at least 0.9 x <requests> times; `top` lists the
functions owning the most such lines. Lines run once (start-up, first-request paths) do not
count. Pure Python 3, standard library only.
"""

import collections
import re
import sys


def footprint(path, requests):
    names = {}
    fn = None
    addr = 0
    after_calls = False
    count = collections.defaultdict(int)  # line -> most runs of one of its instructions
    owner = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for ln in f:
            ln = ln.rstrip("\n")
            if ln.startswith(("fn=", "cfn=")):
                m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", ln)
                if m and m.group(2):
                    names[m.group(1)] = m.group(2)
                if ln.startswith("fn=") and m:
                    fn = names.get(m.group(1), m.group(1))
                continue
            if ln.startswith("calls="):
                after_calls = True
                continue
            if not ln or not (ln[0].isdigit() or ln[0] in "+-*"):
                continue
            fields = ln.split()
            a = fields[0]
            if a.startswith("0x"):
                addr = int(a, 16)
            elif a[0] in "+-":
                step = int(a[1:], 0)
                addr += step if a[0] == "+" else -step
            if after_calls:
                # The inclusive cost of a call, not a count of runs.
                after_calls = False
                continue
            runs = int(fields[2]) if len(fields) > 2 else 0
            line = addr >> 6
            if runs > count[line]:
                count[line] = runs
                owner[line] = fn
    hot = [line for line, runs in count.items() if runs >= 0.9 * requests]
    return hot, owner


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    hot, owner = footprint(sys.argv[1], int(sys.argv[2]))
    print(f"code lines run in (nearly) every request: {len(hot)} = {len(hot) * 64 / 1024:.1f} KiB")
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    for name, n in collections.Counter(owner[line] for line in hot).most_common(top):
        print(f"{n * 64 / 1024:6.1f} KiB  {name}")


if __name__ == "__main__":
    main()
