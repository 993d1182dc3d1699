#!/usr/bin/python3
"""Held-out perplexity of test language models pruned by magnitude and by Wanda.

    prune_perplexity.py KILN MODEL.onnx... WORKDIR [--outliers also|only] [--shuffled]
                        [--windows N] [--calib C] [--patterns LIST] [--check]

Writes C (default 32) 64-token windows spread over the *training* text as
a calibration folder (WORKDIR/calib/NNN.npy, [1, 64] int64, as
quant_ppl.py does), then for each model, each pattern (50% unstructured,
2:4, 4:8; --patterns 50%,2:4 picks some) and each scoring (magnitude,
wanda on that folder) compiles the model with `--prune ...` and measures
perplexity on the first N (default: all 370) held-out windows
(perplexity.py).  The embedding and the head are Gather / MatMul too;
--prune-keep-ends leaves the first and last pruned layers dense in every
row.  Prints a markdown table.

--outliers also measures each MODEL's outlier version (outliers.py, made
in WORKDIR: the same function, but its linear layers read a few large
channels, as in LLMs) after it; --outliers only measures the outlier
versions alone.  --shuffled adds each outlier version with its residual
stream's channels shuffled (outliers.py --shuffle 0): the same loud
channels, no longer adjacent, so no N:M group holds several of them.

--check (the meson test models_prune_lm) asserts, on every outlier model
and pattern measured, that Wanda's perplexity is below magnitude's: a line
"PASS/FAIL ..." each, then "N passed, M failed", and exits 1 on a failure.
Wanda's premise is input channels of very different size; the plain
models lack them (docs/sparsity.md has the table and which patterns win).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import outliers  # noqa: E402
from perplexity import perplexity  # noqa: E402
from quant_ppl import calib_dir  # noqa: E402

PATTERNS = [("50% unstructured", ["--sparsity", "0.5"]),
            ("2:4", ["--pattern", "2:4"]),
            ("4:8", ["--pattern", "4:8"])]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kiln")
    ap.add_argument("models", nargs="+", metavar="MODEL.onnx")
    ap.add_argument("work", metavar="WORKDIR")
    ap.add_argument("--outliers", choices=["also", "only"])
    ap.add_argument("--shuffled", action="store_true")
    ap.add_argument("--windows", type=int)
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--patterns", help="comma-separated: 50%%, 2:4, 4:8 (default: all)")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    patterns = PATTERNS
    if a.patterns:
        want = a.patterns.split(",")
        patterns = [p for p in PATTERNS if p[0].split()[0] in want]
        if len(patterns) != len(want):
            ap.error(f"--patterns {a.patterns}: each must be one of 50%, 2:4, 4:8")
    runs = []  # (row name, model path, is an outlier model)
    for m in a.models:
        name = os.path.basename(m).replace(".onnx", "")
        if a.outliers != "only":
            runs.append((name, m, False))
        if a.outliers:
            runs.append((name + " outlier", outliers.made(m, a.work), True))
            if a.shuffled:
                runs.append((name + " outlier shuffled", outliers.made(m, a.work, 0), True))
    if (a.check or a.shuffled) and not a.outliers:
        ap.error("--check and --shuffled are about outlier models: give --outliers also|only")
    calib = calib_dir(a.work, a.calib)

    table = []
    for name, path, outlier in runs:
        dense, nw = perplexity(a.kiln, path, [], a.windows)
        table.append((name, "dense", dense, dense, outlier))
        for pname, opts in patterns:
            mag, _ = perplexity(a.kiln, path, ["--prune", "magnitude", "--prune-keep-ends", *opts],
                                a.windows)
            wan, _ = perplexity(a.kiln, path, ["--prune", "wanda", "--data", calib,
                                               "--prune-keep-ends", *opts], a.windows)
            table.append((name, pname, mag, wan, outlier))
            print(f"     {name} {pname}: magnitude {mag:.3f}, wanda {wan:.3f}", flush=True)
    print(f"\n{nw} held-out windows, Wanda's norms on {a.calib} training windows, "
          "first and last pruned layers dense\n")
    print("| model | pattern | magnitude perplexity | wanda perplexity | wanda vs magnitude |")
    print("|---|---|---|---|---|")
    for name, pname, mag, wan, _ in table:
        vs = "" if pname == "dense" else f"{100 * (wan - mag) / mag:+.1f}%"
        print(f"| {name} | {pname} | {mag:.3f} | {wan:.3f} | {vs} |")
    if not a.check:
        return
    passed = failed = 0
    for name, pname, mag, wan, outlier in table:
        if not outlier or pname == "dense":
            continue
        ok = wan < mag
        print(("PASS " if ok else "FAIL ") +
              f"{name} {pname}: wanda {wan:.4f} below magnitude {mag:.4f}", flush=True)
        passed += ok
        failed += not ok
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
