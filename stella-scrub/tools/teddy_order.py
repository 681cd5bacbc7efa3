#!/usr/bin/env python3
"""Searches the members and the pattern order of the four-byte-plus packed searchers
(`FOUR_BYTE_SEARCHERS` in `src/detect/mod.rs`) again, after anchors were added to or removed
from the catalogue.

    python3 stella-scrub/tools/teddy_order.py [--iterations 300000] [--seed 11] [--searchers N] [--dry-run]

Run it from the workspace root. It reads the anchors from `src/detect/tokens.rs` in catalogue
order and starts from the current lists (anchors no list names go to the last; with
`--searchers N`, from N runs of the catalogue of even size instead), then improves which
anchors each searcher takes and in which order by simulated annealing over swaps of two
anchors, within a searcher or across two (so the searchers keep their sizes). The cost it
minimises models slim Teddy: pattern `k` goes to bucket `7 - k % 8` (a pattern whose first
four low nibbles repeat an earlier one's joins that one's bucket); a position of a line costs
a verification for every bucket whose nibble masks its bytes pass, weighted by the bucket's
size. Positions come from the scrub bench's clean and secret lines (weight 4) and every line of
`tests/data` (weight 1), including the first three positions of a haystack and the three
before Teddy's overlapping last 32-byte chunk, which it checks on fewer than four bytes. Swaps
that would turn a prefix pair round, or put two anchors of which one is a prefix of the other
into one searcher while they belong to different report runs (`REPORT_CHUNK`, see
`LongAnchors`), are refused, so the matches reported never change. Then it rewrites
`FOUR_BYTE_SEARCHERS`; measure the result (`valgrind --tool=callgrind` over the bench lines)
before keeping it: the model is an estimate.
"""

import argparse
import glob
import math
import random
import re

CRATE = "stella-scrub"
REPORT_CHUNK = 48
SHORT_VALUE = 256
L = 4

def bench_lines():
    """The scrub bench's clean and secret lines, built as `line()` in `benches/scrub.rs` builds
    them, from the `FIELDS`, `MESSAGES` and `SECRETS` tables read out of that file."""
    src = open(f"{CRATE}/benches/scrub.rs", encoding="utf-8").read()

    def table(name):
        body = src[src.index(f"const {name}:"):]
        return body[body.index("= &[") + 4:body.index("];")]

    def strings(text):
        return [a.encode().decode("unicode_escape") for a in re.findall(r'"((?:[^"\\]|\\.)*)"', text)]

    pairs = re.findall(r"\(\s*(\"(?:[^\"\\]|\\.)*\")\s*,\s*(\"(?:[^\"\\]|\\.)*\")\s*,?\s*\)",
                       table("FIELDS"))
    fields = [(strings(k)[0], strings(v)[0]) for k, v in pairs]
    out = []
    for i, msg in enumerate(strings(table("MESSAGES")) + strings(table("SECRETS"))):
        i %= 8
        s = '{"ts":"2026-11-28T10:%02d:18.%03dZ","level":"info"' % (i % 60, i * 7 % 1000)
        for k, v in fields:
            s += ',"%s":"%s"' % (k, v)
        s += ',"duration_ms":%d,"components":%d,"msg":"%s"' % (12 + i, 4000 + i * 13, msg)
        while len(s) < 1020:
            s += ',"pad":"ok"'
        out.append((s + "}").encode())
    return out


def unescape(lit):
    return lit.encode().decode("unicode_escape").encode("latin1")


def anchors_in_catalogue_order():
    src = open(f"{CRATE}/src/detect/tokens.rs", encoding="utf-8").read()
    specs = src[src.index("pub(crate) static TOKEN_SPECS"):src.index("pub(crate) static SPECIAL_ANCHORS")]
    special = src[src.index("pub(crate) static SPECIAL_ANCHORS"):]
    special = special[:special.index("];")]
    out = []
    for m in re.finditer(r"spec(?:_subs)?\(\s*&\[(.*?)\]", specs, re.S):
        out += [unescape(a) for a in re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))]
    out += [unescape(a) for a in re.findall(r'\(\s*"((?:[^"\\]|\\.)*)",\s*Special', special)]
    return out


def current_lists(mod_rs):
    body = mod_rs[mod_rs.index("static FOUR_BYTE_SEARCHERS"):]
    body = body[body.index("= &[") + 4:body.index("\n];")]
    return [[unescape(a) for a in re.findall(r'"((?:[^"\\]|\\.)*)"', part)]
            for part in body.split("&[")[1:]]


def current_order(mod_rs):
    return [a for lst in current_lists(mod_rs) for a in lst]


def records(lines, weight):
    """(four bytes, mask of the bytes Teddy checks) -> weight, over every position Teddy checks.
    A line longer than `SHORT_VALUE` is searched in a padded copy (`pad_into`), where every
    position is checked on all four bytes; a shorter one as it is, where Teddy checks the first
    three positions and the three before an overlapping last step on fewer."""
    c = {}
    for line in lines:
        n = len(line)
        if n < 32 + L - 1:
            continue
        def add(s, m):
            key = (line[s:s + L], m)
            c[key] = c.get(key, 0) + weight
        for s in range(n - L + 1):
            add(s, (1 << L) - 1)
        if n > SHORT_VALUE:
            continue
        for s in range(L - 1):
            add(s, sum(1 << k for k in range(L) if s + k >= L - 1))
        if (n - (L - 1)) % 32 != 0:
            e = n - 32
            for j in range(L - 1):
                s = e - (L - 1) + j
                add(s, sum(1 << k for k in range(L) if s + k >= e))
    return list(c.items())


def buckets_of(order):
    buckets = [[] for _ in range(8)]
    seen = {}
    for i, p in enumerate(order):
        key = tuple(b & 15 for b in p[:L])
        b = seen.setdefault(key, 7 - i % 8)
        buckets[b].append(p)
    return buckets


class Model:
    """The cost of a bucket, from bit sets over the position records: for each byte of the
    fingerprint and each nibble value, the records whose byte has it (or that do not check that
    byte); a bucket passes the records in the AND over its bytes of the ORs over its nibbles."""

    def __init__(self, recs):
        self.lo = [[0] * 16 for _ in range(L)]
        self.hi = [[0] * 16 for _ in range(L)]
        nb = max(c for _, c in recs).bit_length()
        self.weights = [0] * nb
        for r, ((g, m), c) in enumerate(recs):
            bit = 1 << r
            for k in range(L):
                if not (m >> k & 1):
                    for v in range(16):
                        self.lo[k][v] |= bit
                        self.hi[k][v] |= bit
                else:
                    self.lo[k][g[k] & 15] |= bit
                    self.hi[k][g[k] >> 4] |= bit
            for b in range(nb):
                if c >> b & 1:
                    self.weights[b] |= bit
        self.memo = {}

    def bucket(self, members):
        key = tuple(sorted(members))
        if key not in self.memo:
            passing = -1
            for k in range(L):
                lo = hi = 0
                for v in {p[k] & 15 for p in members}:
                    lo |= self.lo[k][v]
                for v in {p[k] >> 4 for p in members}:
                    hi |= self.hi[k][v]
                passing &= lo & hi
            n = sum((passing & w).bit_count() << b for b, w in enumerate(self.weights))
            self.memo[key] = n * (10 + 12 * len(members)) if members else 0
        return self.memo[key]

    def searcher(self, order):
        return sum(self.bucket(b) for b in buckets_of(order))


def cost(order, recs):
    return Model(recs).searcher(order)


def keeps_prefix_pairs(order, base):
    pos = {p: i for i, p in enumerate(order)}
    bpos = {p: i for i, p in enumerate(base)}
    for a in base:
        for b in base:
            if a != b and b.startswith(a) and (pos[a] < pos[b]) != (bpos[a] < bpos[b]):
                return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=300000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--searchers", type=int, default=0)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    random.seed(args.seed)

    four = [a for a in anchors_in_catalogue_order() if len(a) >= L]
    cat = {a: i for i, a in enumerate(four)}
    runs = max(1, -(-len(four) // REPORT_CHUNK))
    report = max(1, -(-len(four) // runs))

    mod_path = f"{CRATE}/src/detect/mod.rs"
    mod_rs = open(mod_path, encoding="utf-8").read()
    lists = current_lists(mod_rs)
    rank = {a: i for i, a in enumerate(a for lst in lists for a in lst)}
    if args.searchers:
        size = -(-len(four) // args.searchers)
        state = [four[i:i + size] for i in range(0, len(four), size)]
    else:
        listed = set(rank)
        state = [[a for a in lst if a in cat] for lst in lists]
        state[-1] += [a for a in four if a not in listed]
    state = [sorted(s, key=lambda a: rank.get(a, len(rank))) for s in state if s]

    def ok(order):
        pos = {p: i for i, p in enumerate(order)}
        for a in order:
            for b in order:
                if a != b and b.startswith(a):
                    if cat[a] // report != cat[b] // report:
                        return False
                    if (pos[a] < pos[b]) != (cat[a] < cat[b]):
                        return False
        return True

    for i, s in enumerate(state):
        if not ok(s):
            # put prefix pairs in catalogue order; a pair across report runs must be split
            # by hand (move one of them to another list)
            state[i] = sorted(s, key=lambda a: cat[a])
            assert ok(state[i]), f"searcher {i + 1} holds a prefix pair of two report runs"

    lines = bench_lines()
    data = []
    for f in sorted(glob.glob(f"{CRATE}/tests/data/*")):
        data += [l for l in open(f, "rb").read().split(b"\n") if l]
    model = Model(records(lines, 4) + records(data, 1))

    costs = [model.searcher(s) for s in state]
    start = best_cost = cur_cost = sum(costs)
    best = [list(s) for s in state]
    temp = start * 0.01 + 1
    cool = 0.01 ** (1.0 / max(1, args.iterations))
    for _ in range(args.iterations):
        s1, s2 = random.randrange(len(state)), random.randrange(len(state))
        i1, i2 = random.randrange(len(state[s1])), random.randrange(len(state[s2]))
        temp *= cool
        if s1 == s2 and i1 == i2:
            continue
        n1 = list(state[s1])
        n2 = n1 if s1 == s2 else list(state[s2])
        n1[i1], n2[i2] = n2[i2], n1[i1]
        if not ok(n1) or (s1 != s2 and not ok(n2)):
            continue
        c1 = model.searcher(n1)
        c2 = c1 if s1 == s2 else model.searcher(n2)
        delta = c1 - costs[s1] if s1 == s2 else c1 + c2 - costs[s1] - costs[s2]
        if delta < 0 or random.random() < math.exp(-delta / temp):
            state[s1], costs[s1] = n1, c1
            state[s2], costs[s2] = n2, c2
            cur_cost += delta
            if cur_cost < best_cost:
                best_cost, best = cur_cost, [list(s) for s in state]
    print(f"{len(best)} searchers of {[len(s) for s in best]} anchors, modelled cost "
          f"{start} -> {best_cost}")

    def lit(p):
        s = p.decode("latin1")
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    body = "static FOUR_BYTE_SEARCHERS: &[&[&str]] = &[\n"
    for order in best:
        body += "    &[\n" + "".join(f"        {lit(p)},\n" for p in order) + "    ],\n"
    body += "];"
    start = mod_rs.index("static FOUR_BYTE_SEARCHERS: &[&[&str]] = &[")
    end = mod_rs.index("\n];", start) + 3
    if args.dry_run:
        print(body)
    else:
        with open(mod_path, "w", encoding="utf-8") as f:
            f.write(mod_rs[:start] + body + mod_rs[end:])
        print(f"rewrote FOUR_BYTE_SEARCHERS in {mod_path}")

if __name__ == "__main__":
    main()
