#!/usr/bin/python3
"""Accuracy of the digits CNN pruned by magnitude and by Wanda (docs/sparsity.md).

For each pattern (50% unstructured, 2:4, 4:8) and each scoring (magnitude,
wanda on the first 297 training images): `kiln run --prune ...` on the 297
held-out images, compared with the dense fp32 run: accuracy against the
labels and top-1 agreement with dense.  The first layer (one input
channel, which no N:M group fits) and the classifier stay dense
(--prune-keep-ends) in every row, so the rows compare like with like.
Prints a markdown table.

Wanda's norms come from one sample holding the first 297 training images
as a batch: the model is run on the held-out set as one [297,1,8,8] batch,
and the prune pass runs the graph at that shape.

Usage: /usr/bin/python3 prune_accuracy.py KILN WORKDIR
"""
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import heldout as heldout_data  # noqa: E402
PATTERNS = [("50% unstructured", ["--sparsity", "0.5"]),
            ("70% unstructured", ["--sparsity", "0.7"]),
            ("2:4", ["--pattern", "2:4"]),
            ("4:8", ["--pattern", "4:8"]),
            ("1:4", ["--pattern", "1:4"])]


def main():
    kiln, work = sys.argv[1:3]
    model, heldout, labels = heldout_data.prepare(work, 297)
    calib = os.path.join(work, "calib_batch")
    os.makedirs(calib, exist_ok=True)
    train = [np.load(os.path.join(work, "calib", "%03d.npy" % i)) for i in range(len(labels))]
    np.save(os.path.join(calib, "000.npy"), np.concatenate(train))

    def run(out, *opts):
        subprocess.run([kiln, "run", model, "--input", heldout, "--output-dir", out, *opts],
                       check=True)
        return np.load(os.path.join(out, "logits.npy"))

    ref = run(os.path.join(work, "dense"))
    print("| pattern | magnitude accuracy | wanda accuracy | magnitude / wanda top-1 agreement with dense |")
    print("|---|---|---|---|")
    print("| dense | %.4f | %.4f | 1 / 1 |" % ((ref.argmax(1) == labels).mean(),
                                              (ref.argmax(1) == labels).mean()))
    for name, opts in PATTERNS:
        res = {}
        for method in ["magnitude", "wanda"]:
            extra = ["--data", calib] if method == "wanda" else []
            out = run(os.path.join(work, method + name.replace(" ", "_").replace("%", "")),
                      "--prune", method, "--prune-keep-ends", *opts, *extra)
            res[method] = ((out.argmax(1) == labels).mean(), (out.argmax(1) == ref.argmax(1)).mean())
        print("| %s | %.4f | %.4f | %.4f / %.4f |" % (name, res["magnitude"][0], res["wanda"][0],
                                                     res["magnitude"][1], res["wanda"][1]))


if __name__ == "__main__":
    main()
