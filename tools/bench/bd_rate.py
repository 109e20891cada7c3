#!/usr/bin/env python3
"""Bjøntegaard delta rate from an image-rd CSV (examples/image_rd.rs writes it), standard library only.

Usage: tools/bench/bd_rate.py CSV CODEC [ANCHOR...] [--window LO,HI]

For each image and each anchor: log10(bpp) fitted as a cubic in PSNR (least squares over the
points whose bpp lies in the window, default 0.05-2.5), both fits integrated over the PSNR
range the two curves share; BD-rate = 10^(mean difference) - 1. Prints a Markdown table with
one row per image and the mean. This is the fit docs/neural-rd.md uses (its window reaches
below the 0.2 bpp where image_rd's own table starts, since fast neural points sit there).
"""
import csv
import math
import sys


def solve(a, b):
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c and m[c][c] != 0:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return [m[i][n] / m[i][i] for i in range(n)]


def cubic(xs, ys):
    """Least-squares cubic y(x); coefficients low to high."""
    a = [[sum(x ** (i + j) for x in xs) for j in range(4)] for i in range(4)]
    b = [sum(y * x ** i for x, y in zip(xs, ys)) for i in range(4)]
    return solve(a, b)


def integral(c, lo, hi):
    f = lambda x: sum(c[i] * x ** (i + 1) / (i + 1) for i in range(4))
    return f(hi) - f(lo)


def bd_rate(test, anchor):
    if len(test) < 4 or len(anchor) < 4:
        return None
    ct = cubic([p for _, p in test], [math.log10(r) for r, _ in test])
    ca = cubic([p for _, p in anchor], [math.log10(r) for r, _ in anchor])
    lo = max(min(p for _, p in test), min(p for _, p in anchor))
    hi = min(max(p for _, p in test), max(p for _, p in anchor))
    if hi <= lo:
        return None
    d = (integral(ct, lo, hi) - integral(ca, lo, hi)) / (hi - lo)
    return 10 ** d - 1


def main():
    args = sys.argv[1:]
    window = (0.05, 2.5)
    if "--window" in args:
        i = args.index("--window")
        window = tuple(float(v) for v in args[i + 1].split(","))
        del args[i : i + 2]
    path, codec, anchors = args[0], args[1], args[2:]
    pts = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            bpp = float(row["bpp"])
            if window[0] <= bpp <= window[1]:
                pts.setdefault((row["image"], row["codec"]), []).append((bpp, float(row["psnr_rgb"])))
    images = sorted({im for im, _ in pts})
    print("| image | " + " | ".join(f"{codec} vs {a}" for a in anchors) + " |")
    print("|---|" + "---:|" * len(anchors))
    sums = [[] for _ in anchors]
    for im in images:
        cells = []
        for k, a in enumerate(anchors):
            r = bd_rate(pts.get((im, codec), []), pts.get((im, a), []))
            if r is not None:
                sums[k].append(r)
            cells.append("–" if r is None else f"{100 * r:+.1f} %")
        print(f"| {im} | " + " | ".join(cells) + " |")
    means = [f"**{100 * sum(s) / len(s):+.1f} %**" if s else "–" for s in sums]
    print("| mean | " + " | ".join(means) + " |")


if __name__ == "__main__":
    main()
