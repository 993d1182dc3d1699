#!/usr/bin/python3
"""Held-out perplexity of a test language model pruned by magnitude and by Wanda.

    prune_perplexity.py KILN MODEL.onnx WORKDIR [--windows N] [--calib C]

Writes the first C (default 32) 64-token windows of the *training* text as
a calibration folder (WORKDIR/calib/NNN.npy, [1, 64] int64), then for each
pattern (50% unstructured, 2:4, 4:8) and each scoring (magnitude, wanda on
that folder) compiles the model with `--prune ...` and measures perplexity
on the first N held-out windows (perplexity.py).  The embedding and the
head are Gather / MatMul too; --prune-keep-ends leaves the first and last
pruned layers dense in every row.  Prints a markdown table.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lm  # noqa: E402
from perplexity import perplexity  # noqa: E402

PATTERNS = [("50% unstructured", ["--sparsity", "0.5"]),
            ("2:4", ["--pattern", "2:4"]),
            ("4:8", ["--pattern", "4:8"])]


def main():
    args = sys.argv[1:]
    if len(args) < 3:
        raise SystemExit(__doc__)
    kiln, model, work = args[:3]
    rest = args[3:]
    windows = int(rest[rest.index("--windows") + 1]) if "--windows" in rest else None
    ncal = int(rest[rest.index("--calib") + 1]) if "--calib" in rest else 32
    calib = os.path.join(work, "calib")
    os.makedirs(calib, exist_ok=True)
    x, _ = lm.windows(lm.load_text()[0])
    for i in range(ncal):
        np.save(os.path.join(calib, "%03d.npy" % i), x[i][None])
    dense, nw = perplexity(kiln, model, [], windows)
    print("%s, %d held-out windows, Wanda on %d training windows\n" % (os.path.basename(model), nw, ncal))
    print("| pattern | magnitude perplexity | wanda perplexity |")
    print("|---|---|---|")
    print("| dense | %.3f | %.3f |" % (dense, dense))
    for name, opts in PATTERNS:
        mag, _ = perplexity(kiln, model, ["--prune", "magnitude", "--prune-keep-ends", *opts], windows)
        wan, _ = perplexity(kiln, model, ["--prune", "wanda", "--data", calib, "--prune-keep-ends",
                                          *opts], windows)
        print("| %s | %.3f | %.3f |" % (name, mag, wan), flush=True)


if __name__ == "__main__":
    main()
