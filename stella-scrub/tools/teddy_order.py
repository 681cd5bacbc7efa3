#!/usr/bin/env python3
"""Searches the fixed pattern order of the four-byte-plus packed searchers (`FOUR_BYTE_ORDER`
in `src/detect/mod.rs`) again, after anchors were added to or removed from the catalogue.

    python3 stella-scrub/tools/teddy_order.py [--iterations 1500] [--seed 7] [--dry-run]

Run it from the workspace root. It reads the anchors from `src/detect/tokens.rs` in catalogue
order, cuts the four-byte-plus ones into searchers as `Engine::build` does (the fewest of at
most 55, `CHUNK` in `src/detect/mod.rs`, of even size), starts from the current order (unlisted anchors last), and improves
each searcher's order by simulated annealing over swaps. The cost it minimises models slim
Teddy: pattern `k` goes to bucket `7 - k % 8` (a pattern whose first four low nibbles repeat an
earlier one's joins that one's bucket); a position of a line costs a verification for every
bucket whose nibble masks its bytes pass, weighted by the bucket's size. Positions come from
the scrub bench's clean and secret lines (weight 4) and every line of `tests/data` (weight 1),
including the first three positions of a haystack and the three before Teddy's overlapping
last 32-byte chunk, which it checks on fewer than four bytes. Swaps that would turn a prefix
pair round are refused, so the matches reported never change. Then it rewrites
`FOUR_BYTE_ORDER`; measure the result (`valgrind --tool=callgrind` over the bench lines) before
keeping it: the model is an estimate.
"""

import argparse
import glob
import math
import random
import re

CRATE = "stella-scrub"
CHUNK = 55
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


def current_order(mod_rs):
    body = mod_rs[mod_rs.index("static FOUR_BYTE_ORDER"):]
    body = body[:body.index("];")]
    return [unescape(a) for a in re.findall(r'"((?:[^"\\]|\\.)*)"', body)]


def records(lines, weight):
    """(four bytes, mask of the bytes Teddy checks) -> weight, over every position Teddy checks."""
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


def cost(order, recs):
    total = 0
    for bucket in buckets_of(order):
        if not bucket:
            continue
        lo = [0] * L
        hi = [0] * L
        for p in bucket:
            for k in range(L):
                lo[k] |= 1 << (p[k] & 15)
                hi[k] |= 1 << (p[k] >> 4)
        n = 0
        for (g, m), cnt in recs:
            if all(not (m >> k & 1) or ((lo[k] >> (g[k] & 15)) & 1 and (hi[k] >> (g[k] >> 4)) & 1)
                   for k in range(L)):
                n += cnt
        total += n * (10 + 12 * len(bucket))
    return total


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
    ap.add_argument("--iterations", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    random.seed(args.seed)

    four = [a for a in anchors_in_catalogue_order() if len(a) >= L]
    n = max(1, -(-len(four) // CHUNK))
    size = max(1, -(-len(four) // n))
    chunks = [four[i:i + size] for i in range(0, len(four), size)]

    mod_path = f"{CRATE}/src/detect/mod.rs"
    mod_rs = open(mod_path, encoding="utf-8").read()
    rank = {a: i for i, a in enumerate(current_order(mod_rs))}

    lines = bench_lines()
    data = []
    for f in sorted(glob.glob(f"{CRATE}/tests/data/*")):
        data += [l for l in open(f, "rb").read().split(b"\n") if l]
    recs = records(lines, 4) + records(data, 1)

    result = []
    for ci, chunk in enumerate(chunks):
        base = sorted(chunk, key=lambda a: rank.get(a, len(rank)))
        if not keeps_prefix_pairs(base, chunk):
            base = list(chunk)
        cur, cur_cost = list(base), cost(base, recs)
        best, best_cost = list(cur), cur_cost
        start = cur_cost
        temp = cur_cost * 0.02 + 1
        for _ in range(args.iterations):
            i, j = random.sample(range(len(cur)), 2)
            cand = list(cur)
            cand[i], cand[j] = cand[j], cand[i]
            if not keeps_prefix_pairs(cand, chunk):
                continue
            c = cost(cand, recs)
            if c < cur_cost or random.random() < math.exp(-(c - cur_cost) / temp):
                cur, cur_cost = cand, c
                if c < best_cost:
                    best, best_cost = list(cand), c
            temp *= 0.997
        print(f"searcher {ci + 1}: {len(chunk)} anchors, modelled cost {start} -> {best_cost}")
        result.append(best)

    def lit(p):
        s = p.decode("latin1")
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    body = "static FOUR_BYTE_ORDER: &[&str] = &[\n"
    for ci, order in enumerate(result):
        body += f"    // searcher {ci + 1}\n"
        body += "".join(f"    {lit(p)},\n" for p in order)
    body += "];"
    start = mod_rs.index("static FOUR_BYTE_ORDER: &[&str] = &[")
    end = mod_rs.index("];", start) + 2
    if args.dry_run:
        print(body)
    else:
        with open(mod_path, "w", encoding="utf-8") as f:
            f.write(mod_rs[:start] + body + mod_rs[end:])
        print(f"rewrote FOUR_BYTE_ORDER in {mod_path}")


if __name__ == "__main__":
    main()
